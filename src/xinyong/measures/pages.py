"""Console pages for joint rewards and punishments: check form and result, the department's
checks with overdue feedback, feedback form, batch upload with progress, feedback rates. The
rules live in ``measures.service``; these pages collect forms and show results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from xinyong.accounts.access import current_actor
from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.departments.models import Department
from xinyong.errors import Forbidden, XinyongError
from xinyong.portal.templating import page, render
from xinyong.web.security import form_csrf_token

from . import batch as batches
from . import service
from .loader import load_measures

router = APIRouter(prefix="/console", include_in_schema=False)


def _ctx(request: Request, actor: Actor, **extra: Any) -> dict[str, Any]:
    return {"actor": actor, "csrf_token": form_csrf_token(request)[0], "can_submit": actor.role in ("admin",
                                                                                                   "dept_submitter"),
            "is_admin": actor.role == "admin", "can_check": actor.role in ("admin", "reviewer", "dept_querier"),
            "can_feedback": actor.role in ("admin", "dept_querier", "dept_submitter"), **extra}


def _form_choices() -> dict[str, Any]:
    with session_scope() as s:
        depts = [{"code": d.code, "name": d.name} for d in s.scalars(select(Department).order_by(Department.id))]
    return {"scenarios": list(load_measures().scenarios.values()), "departments": depts}


@router.get("/checks", name="measures_checks")
@page
def checks_page(request: Request, view: str = "pending", page: int = 1) -> Response:
    actor = current_actor(request)
    view = view if view in ("pending", "overdue", "all") else "pending"
    with session_scope() as s:
        data = service.list_checks(s, actor, overdue=view == "overdue", pending=view == "pending",
                                   page=max(1, page), size=20)
        overdue = service.overdue_count(s, actor.department_id if actor.is_department else None)
    return render(request, "measures/checks.html", _ctx(request, actor, data=data, view=view, overdue=overdue,
                                                        pages=max(1, -(-data["total"] // 20))), private=True)


@router.get("/checks/new", name="measures_check_form")
@page
def check_form(request: Request, subject: str = "", scenario: str = "") -> Response:
    actor = current_actor(request)
    return render(request, "measures/check_form.html", _ctx(request, actor, error=None, result=None,
                                                            form={"subject": subject, "scenario": scenario,
                                                                  "department": ""}, **_form_choices()), private=True)


@router.post("/checks/new", name="measures_check_submit")
@page
def check_submit(request: Request, subject: Annotated[str, Form(max_length=64)] = "",
                 scenario: Annotated[str, Form(max_length=64)] = "",
                 department: Annotated[str, Form(max_length=64)] = "") -> Response:
    actor = current_actor(request)
    form = {"subject": subject, "scenario": scenario, "department": department}
    try:
        with session_scope() as s:
            result = service.check_subject(s, actor, subject, scenario, department or None)
    except XinyongError as exc:
        if isinstance(exc, Forbidden):
            raise
        return render(request, "measures/check_form.html", _ctx(request, actor, error=exc.message, result=None,
                                                                form=form, **_form_choices()),
                      status=404 if exc.status_code == 404 else 400, private=True)
    return render(request, "measures/check_form.html", _ctx(request, actor, error=None, result=result, form=form,
                                                            **_form_choices()), private=True)


@router.get("/checks/{check_id}", name="measures_check")
@page
def check_page(request: Request, check_id: int, saved: int = 0) -> Response:
    actor = current_actor(request)
    with session_scope() as s:
        result = service.get_check(s, actor, check_id)
    return render(request, "measures/check.html", _ctx(request, actor, result=result, saved=saved, error=None),
                  private=True)


@router.post("/checks/{check_id}/feedback", name="measures_check_feedback")
async def check_feedback(request: Request, check_id: int) -> Response:
    form = await request.form()  # read here (async); the work runs in a worker thread
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_save_feedback, request, check_id, form)


@page
def _save_feedback(request: Request, check_id: int, form: Any) -> Response:
    actor = current_actor(request)
    entries = []
    for key, value in form.multi_items():
        if key.startswith("outcome__") and value:
            code = key.removeprefix("outcome__")
            entries.append({"measure": code, "outcome": str(value), "reason": str(form.get(f"reason__{code}") or "")})
    try:
        with session_scope() as s:
            service.record_feedback(s, actor, check_id, entries)
    except XinyongError as exc:
        if isinstance(exc, Forbidden):
            raise
        with session_scope() as s:
            result = service.get_check(s, actor, check_id)
        return render(request, "measures/check.html", _ctx(request, actor, result=result, saved=0, error=exc.message),
                      status=400, private=True)
    return RedirectResponse(f"/console/checks/{check_id}?saved=1", status_code=303)


@router.get("/check-batches/new", name="measures_batch_form")
@page
def batch_form(request: Request) -> Response:
    actor = current_actor(request)
    return render(request, "measures/batch_form.html", _ctx(request, actor, error=None, form={}, **_form_choices()),
                  private=True)


@router.post("/check-batches/new", name="measures_batch_submit")
@page
def batch_submit(request: Request, background: BackgroundTasks, file: Annotated[UploadFile, File()],
                 scenario: Annotated[str, Form(max_length=64)] = "",
                 department: Annotated[str, Form(max_length=64)] = "") -> Response:
    from .api import save_upload, start_batch

    actor = current_actor(request)
    try:
        path, name = save_upload(file)
        out = start_batch(actor, path, name, scenario, department or None, background)
    except XinyongError as exc:
        if isinstance(exc, Forbidden):
            raise
        return render(request, "measures/batch_form.html", _ctx(request, actor, error=exc.message,
                                                                form={"scenario": scenario, "department": department},
                                                                **_form_choices()), status=400, private=True)
    return RedirectResponse(f"/console/check-batches/{out['batch_id']}", status_code=303)


@router.get("/check-batches/{batch_id}", name="measures_batch")
@page
def batch_page(request: Request, batch_id: int) -> Response:
    actor = current_actor(request)
    with session_scope() as s:
        b = batches.batch_to_dict(batches.get_batch(s, actor, batch_id), s)
    return render(request, "measures/batch.html", _ctx(request, actor, batch=b), private=True)


@router.get("/measures/feedback-rates", name="measures_feedback_rates")
@page
def rates_page(request: Request) -> Response:
    actor = current_actor(request)
    dept = actor.department_code if actor.is_department else None
    with session_scope() as s:
        by_dept = service.feedback_rates(s, by="department", department=dept)
        by_measure = service.feedback_rates(s, by="measure", department=dept)
    return render(request, "measures/rates.html", _ctx(request, actor, by_dept=by_dept, by_measure=by_measure),
                  private=True)
