"""Indicator pages and API: the credit office's dashboard, the public statistics page, exports.

Thin: every figure comes from ``service`` (the latest snapshot); exports from ``exports``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.audit.service import record_event
from xinyong.errors import Conflict, NotFound
from xinyong.web.deps import get_session
from xinyong.web.security import form_csrf_token

from . import exports, service
from .measures import DIMENSIONS

STATIC_DIR = Path(__file__).parent / "static"
#: The only files served from STATIC_DIR (no path from the URL ever reaches the filesystem).
STATIC_FILES = {
    "echarts-6.1.0.min.js": "text/javascript; charset=utf-8",
    "indicators.js": "text/javascript; charset=utf-8",
    "indicators.css": "text/css; charset=utf-8",
    "echarts-LICENSE.md": "text/plain; charset=utf-8",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(tags=["统计监测"])


def _templates():
    from xinyong.portal.templating import templates

    return templates


def _xlsx(content: bytes, filename: str) -> Response:
    return Response(content, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"indicators.xlsx\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


def audit_export(session: Session, actor, action: str, details: dict) -> None:
    # Aggregates only (no personal data), but who exported which figures is still on record.
    record_event(session, action, actor=actor, details=details)


def _json_for_page(data: object) -> str:
    # Embedded in <script type="application/json">: "</" must not close the element.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _require_snapshot(data: dict) -> None:
    if data["snapshot"] is None:
        raise Conflict("指标尚未计算：请管理员在统计监测页面点击“刷新指标”，或运行 `xinyong indicators refresh`。",
                       code="indicators_not_computed")


@router.get("/indicators/static/{name}", include_in_schema=False)
def static_file(name: str) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise NotFound("没有这个文件。", code="static_not_found")
    return FileResponse(STATIC_DIR / name, media_type=media,
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/indicators", include_in_schema=False, summary="统计监测仪表盘")
def dashboard_page(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    data = service.dashboard(session)
    actor = current_actor(request)
    csrf = form_csrf_token(request)[0] if getattr(request.state, "auth_via", None) == "session" else ""
    charts = {code: {"unit": c["unit"], "target": c["target"], "trend": c["trend"]}
              for code, c in data["indicators"].items() if c["available"]}
    months = sorted({it["key"] for c in data["indicators"].values() for it in c["trend"]}, reverse=True)
    response = _templates().TemplateResponse(request, "indicators/dashboard.html", {
        "data": data, "chart_json": _json_for_page(charts), "is_admin": actor.role == "admin", "csrf_token": csrf,
        "months": months, "refresh_running": service.refresh_job.running_seconds(),
        "refresh_error": service.refresh_job.error, "refresh_outcome": request.query_params.get("refresh")})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/indicators/refresh", include_in_schema=False, summary="刷新指标")
def refresh_page(request: Request) -> Response:
    # Its own thread and transaction: a small city is done before the redirect; at millions of
    # records the dashboard says the computation is running and the page can simply be reloaded.
    outcome = service.refresh_job.start(wait=20.0)
    return RedirectResponse(f"/indicators?refresh={outcome}", status_code=303)


@router.get("/indicators/report.xlsx", include_in_schema=False, summary="统计监测月报（XLSX）")
def monthly_report(request: Request, session: Annotated[Session, Depends(get_session)],
                   month: Annotated[str | None, Query(max_length=7)] = None) -> Response:
    data = service.dashboard(session)
    _require_snapshot(data)
    month = service.parse_month(month) if month else data["snapshot"]["as_of"][:7]
    content = exports.monthly_report(data, month)
    audit_export(session, current_actor(request), "indicators.report", {"month": month})
    return _xlsx(content, f"统计监测月报-{month}.xlsx")


@router.get("/indicators/league/export.xlsx", include_in_schema=False, summary="部门数据质量排行榜（XLSX）")
def league_export(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    data = service.dashboard(session)
    _require_snapshot(data)
    audit_export(session, current_actor(request), "indicators.league", {})
    return _xlsx(exports.league_workbook(data), f"部门数据质量排行榜-{data['snapshot']['as_of']}.xlsx")


@router.get("/indicators/{code}", include_in_schema=False, summary="指标详情与下钻")
def detail_page(code: str, request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    data = service.dashboard(session)
    _require_snapshot(data)
    detail = service.indicator_detail(session, code)
    card = detail["indicator"]
    charts = {"unit": card["unit"], "target": card["target"], "trend": card["trend"],
              "breakdowns": {k: v for k, v in card["breakdowns"].items() if k != "month"}}
    response = _templates().TemplateResponse(request, "indicators/detail.html", {
        "snapshot": detail["snapshot"], "card": card, "dims": DIMENSIONS, "chart_json": _json_for_page(charts)})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/indicators/{code}/export.xlsx", include_in_schema=False, summary="指标明细（XLSX）")
def indicator_export(code: str, request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    data = service.dashboard(session)
    _require_snapshot(data)
    detail = service.indicator_detail(session, code)
    audit_export(session, current_actor(request), "indicators.export", {"indicator": code})
    return _xlsx(exports.indicator_workbook(detail), f"{detail['indicator']['name']}-{data['snapshot']['as_of']}.xlsx")


@router.get("/api/v1/indicators", summary="全部指标的当前值、目标与状态")
def api_indicators(session: Annotated[Session, Depends(get_session)]) -> JSONResponse:
    """Each indicator: `code`, `name`, `value` (0–1 for rates), `target`, `status`
    (green 达标 / amber 接近目标 / red 未达标 / no_target / no_data / unavailable 未接入, with `reason`)."""
    data = service.dashboard(session)
    _require_snapshot(data)
    return JSONResponse({"snapshot": data["snapshot"], "indicators": service.summary(session)})


@router.get("/api/v1/indicators/{code}", summary="一个指标的明细：按部门、领域、地区、月份")
def api_indicator(code: str, session: Annotated[Session, Depends(get_session)]) -> JSONResponse:
    _require_snapshot(service.dashboard(session))
    return JSONResponse(service.indicator_detail(session, code))


@router.get("/statistics", include_in_schema=False, summary="公开统计")
def statistics_page(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    data = service.dashboard(session, public_only=True)
    charts = {code: {"unit": c["unit"], "target": c["target"], "trend": c["trend"]}
              for code, c in data["indicators"].items() if c["available"]}
    return _templates().TemplateResponse(request, "indicators/statistics.html", {
        "data": data, "chart_json": _json_for_page(charts)})


@router.get("/api/v1/statistics", summary="公开统计指标")
def api_statistics(session: Annotated[Session, Depends(get_session)]) -> JSONResponse:
    """The indicators the deployment marks public (`public: true` in the definitions)."""
    data = service.dashboard(session, public_only=True)
    snap = data["snapshot"]
    return JSONResponse({"snapshot": {"as_of": snap["as_of"]} if snap else None,
                         "indicators": service.summary(session, public_only=True) if snap else []})
