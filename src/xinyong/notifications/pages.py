"""Inbox pages: the subject's (and every signed-in user's) /me/inbox and the staff console's
/console/inbox, which adds the open cases with overdue ones in red."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xinyong.accounts.access import current_actor
from xinyong.portal.templating import templates
from xinyong.db.engine import session_scope
from xinyong.web.security import form_csrf_token

from . import service

router = APIRouter(include_in_schema=False)


def _render(request: Request, heading: str, page: int, read_all_action: str, with_cases: bool) -> Response:
    actor = current_actor(request)
    with session_scope() as s:
        box = service.inbox(s, actor, page=max(page, 1), size=20)
        cases = _open_cases(s, actor) if with_cases else []
    response = templates.TemplateResponse(request, "workflows/inbox.html", {
        "heading": heading, "inbox": box, "cases": cases, "read_all_action": read_all_action,
        "csrf_token": form_csrf_token(request)[0]})
    response.headers["Cache-Control"] = "no-store"
    return response


def _open_cases(s, actor) -> list[dict]:
    from xinyong.workflows import objections, repair

    out = []
    for kind, mod, items in (("异议", objections, objections.list_objections(s, actor, state="submitted", size=100)),
                             ("信用修复", repair, repair.list_repairs(s, actor, state="submitted", size=100))):
        for c in items["items"]:
            out.append({"kind": kind, **c})
    return sorted(out, key=lambda c: (not c["overdue"], c["due_on"]))


@router.get("/me/inbox", response_class=HTMLResponse, name="me_inbox", summary="我的消息")
def me_inbox(request: Request, page: int = 1) -> Response:
    return _render(request, "我的消息", page, "/me/inbox/read-all", with_cases=False)


@router.post("/me/inbox/read-all", summary="全部标为已读")
def me_inbox_read_all(request: Request) -> Response:
    with session_scope() as s:
        service.mark_all_read(s, current_actor(request))
    return RedirectResponse("/me/inbox", status_code=303)


@router.get("/console/inbox", response_class=HTMLResponse, name="console_inbox", summary="工作台：待办与消息")
def console_inbox(request: Request, page: int = 1) -> Response:
    return _render(request, "待办与消息", page, "/console/inbox/read-all", with_cases=True)


@router.post("/console/inbox/read-all", summary="全部标为已读")
def console_inbox_read_all(request: Request) -> Response:
    with session_scope() as s:
        service.mark_all_read(s, current_actor(request))
    return RedirectResponse("/console/inbox", status_code=303)
