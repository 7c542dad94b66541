"""Rating and inspection routes: JSON API and pages (thin; the rules live in ``service`` and
``draw``).

Public: the scorecard model (/rating/model), published inspection draws (/inspections/draws).
Subject: its grade appeal (the objection workflow, target "grade").
Authorised departments and the credit office: a subject's explanation (audited), the model report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor, purpose_from_request
from xinyong.audit.service import record_event
from xinyong.errors import NotFound
from xinyong.portal.templating import page, render
from xinyong.web.deps import get_session
from xinyong.web.security import form_csrf_token

from . import draw as draws
from . import service
from .scorecard import load_model

router = APIRouter(tags=["信用评价与分级分类监管"])
DbSession = Annotated[Session, Depends(get_session)]
STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"rating.js": "text/javascript; charset=utf-8"}


def _json_for_page(data: object) -> str:
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


# --- public ---------------------------------------------------------------------------------------


@router.get("/api/v1/rating/model", summary="公共信用综合评价模型（公开）")
def model_api() -> JSONResponse:
    """The scorecard model in force: dimensions, points, caps, grade thresholds, version."""
    return JSONResponse(load_model().describe())


@router.get("/rating/model", include_in_schema=False, name="rating_model")
@page
def model_page(request: Request) -> Response:
    model = load_model()
    return render(request, "rating/model.html", {"m": model.describe(), "text": model.text})


@router.get("/rating/static/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise NotFound("没有这个文件。", code="static_not_found")
    return FileResponse(STATIC_DIR / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/api/v1/inspections/draws", summary="双随机抽查结果列表（公开）")
def draws_api(session: DbSession, page_no: Annotated[int, Query(alias="page", ge=1)] = 1) -> JSONResponse:
    return JSONResponse(draws.list_draws(session, page=page_no))


@router.get("/api/v1/inspections/draws/{draw_id}", summary="一次双随机抽查：种子、承诺值、抽中名单（公开）")
def draw_api(draw_id: int, session: DbSession) -> JSONResponse:
    """Everything needed to re-run the draw: date, department, population commitment, seed,
    ratios, roster, algorithm; and the drawn subjects with their inspectors."""
    return JSONResponse(draws.get_draw(session, draw_id))


@router.get("/inspections/draws", include_in_schema=False, name="inspection_draws")
@page
def draws_page(request: Request, session: DbSession, page_no: Annotated[int, Query(alias="page", ge=1)] = 1
               ) -> Response:
    return render(request, "rating/draws.html", {"result": draws.list_draws(session, page=page_no)})


@router.get("/inspections/draws/{draw_id}", include_in_schema=False, name="inspection_draw")
@page
def draw_page(request: Request, draw_id: int, session: DbSession) -> Response:
    return render(request, "rating/draw.html", {"d": draws.get_draw(session, draw_id), "algorithm": draws.__doc__})


# --- the subject: appeal --------------------------------------------------------------------------


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=4000)
    requested_change: str | None = Field(default=None, max_length=4000)
    contact_email: str | None = Field(default=None, max_length=254)


def _appeal(session: Session, request: Request, reason: str, requested_change: str | None,
            contact_email: str | None) -> dict[str, Any]:
    from xinyong.workflows.objections import file_objection

    actor = current_actor(request)
    if not actor.is_subject or actor.subject_id is None:
        raise NotFound("您的账户尚未关联已登记的信用主体。", code="subject_not_linked")
    return file_objection(session, actor, subject_id=actor.subject_id, target_kind="grade", reason=reason,
                          requested_change=requested_change, contact_email=contact_email)


@router.post("/api/v1/rating/appeals", summary="对本主体的信用评价等级提出异议", status_code=201)
def appeal_api(body: AppealIn, request: Request, session: DbSession) -> JSONResponse:
    """Files an objection of target ``grade`` (the objection workflow: the credit office answers
    within the policy's deadline; an upheld appeal recomputes the grade)."""
    out = _appeal(session, request, body.reason, body.requested_change, body.contact_email)
    session.commit()
    return JSONResponse(out, status_code=200 if out.get("duplicate") else 201)


@router.post("/me/rating/appeal", include_in_schema=False, name="me_rating_appeal")
@page
def appeal_page(request: Request, session: DbSession, reason: Annotated[str, Form(max_length=4000)] = "",
                requested_change: Annotated[str, Form(max_length=4000)] = "") -> Response:
    out = _appeal(session, request, reason, requested_change or None, None)
    session.commit()
    return RedirectResponse(out["link"], status_code=303)


# --- departments and the credit office ------------------------------------------------------------


def _authorised_read(session: Session, request: Request, key: str) -> dict[str, Any]:
    """A department's or the credit office's reading of one subject's evaluation: government
    information, so it needs a declared purpose (查询事由) and is recorded, before any data is
    returned, in the audit log and the subject's access history (``rating.read``)."""
    actor = current_actor(request)
    actor.ensure_can_read(None, "government")
    actor = actor.with_(purpose=purpose_from_request(request, actor))
    s = service.find_subject(session, key)
    record_event(session, "rating.read", actor=actor, subject_id=s.id)
    session.commit()  # no audit, no data
    return service.explain(session, s.id)


@router.get("/api/v1/rating/subjects/{subject}", summary="主体的评价得分与逐项解释（授权部门）")
def explain_api(subject: str, request: Request, session: DbSession) -> JSONResponse:
    """``subject``: id or any of the subject's codes. Declare the purpose with the ``X-Purpose``
    header (as for every non-public read); each access is in the subject's access history."""
    return JSONResponse(_authorised_read(session, request, subject))


@router.get("/api/v1/rating/report", summary="评价模型报告：等级分布、稳定性、各维度影响（信用办）")
def report_api(session: DbSession) -> JSONResponse:
    return JSONResponse(service.model_report(session))


@router.get("/console/rating", include_in_schema=False, name="console_rating")
@page
def console_page(request: Request, session: DbSession, subject: Annotated[str | None, Query(max_length=32)] = None
                 ) -> Response:
    from xinyong.accounts.purposes import load_purposes

    actor = current_actor(request)
    data = _authorised_read(session, request, subject) if subject else None
    purposes = [p for p in load_purposes().values() if actor.role in p.roles]
    return render(request, "rating/console.html", {
        "q": subject or "", "e": data, "runs": service.runs(session, 10), "purposes": purposes,
        "purpose": request.query_params.get("purpose", ""),
        "purpose_text": request.query_params.get("purpose_text", "")},
        private=True)


@router.get("/rating/report", include_in_schema=False, name="rating_report")
@page
def report_page(request: Request, session: DbSession) -> Response:
    data = service.model_report(session)
    charts = {"distribution": data["distribution"], "effects": data["effects"], "stability": data["stability"],
              "histogram": data["histogram"]}
    return render(request, "rating/report.html", {"r": data, "chart_json": _json_for_page(charts)}, private=True)


def me_rating_context(session: Session, request: Request, subject_id: int) -> dict[str, Any]:
    """What /me/file shows about the subject's own evaluation (explanation + appeal form)."""
    token = form_csrf_token(request)[0]
    try:
        return {"rating": service.explain(session, subject_id), "rating_csrf": token}
    except Exception:  # noqa: BLE001 — the file must show even if the model cannot load
        return {}
