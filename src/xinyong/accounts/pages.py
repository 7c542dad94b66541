"""Minimal server-rendered account pages: /login, /logout, /me (the portal styles them later)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyong.accounts import service
from xinyong.accounts.access import current_actor
from xinyong.accounts.settings import get_account_settings
from xinyong.errors import TooManyRequests
from xinyong.portal.templating import templates
from xinyong.subjects.models import Subject
from xinyong.web.deps import get_session
from xinyong.web.security import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    form_csrf_token,
    request_id,
    set_cookie,
)

router = APIRouter(tags=["账户"], include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only same-site paths: never an open redirect to another host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return "/me"
    return value


def _login_page(request: Request, *, status: int = 200, error: str | None = None, notice: str | None = None,
                username: str = "", next_url: str = "/me", need_totp: bool = False,
                headers: dict[str, str] | None = None) -> Response:
    token, new_cookie = form_csrf_token(request)
    s = get_account_settings()
    response = templates.TemplateResponse(request, "login.html", {
        "csrf_token": token, "error": error, "notice": notice, "username": username,
        "next": safe_next(next_url), "need_totp": need_totp,
        "lockout_threshold": s.lockout_threshold, "lockout_minutes": s.lockout_minutes,
    }, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    if new_cookie:
        set_cookie(response, request, PRELOGIN_COOKIE, new_cookie, max_age=3600 * 12)
    return response


@router.get("/login", response_class=HTMLResponse, summary="登录页面")
def login_form(request: Request, next: str | None = None, logged_out: int = 0) -> Response:
    if not current_actor(request).is_anonymous and request.state.auth_via == "session":
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=next or "/me", notice="您已安全退出。" if logged_out else None)


@router.post("/login", response_class=HTMLResponse, summary="登录")
def login_submit(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    totp: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=500)] = "/me",
) -> Response:
    result = service.login(session, username, password, totp or None, request_id=request_id(request))
    if not result.ok:
        err = result.error
        headers = {"Retry-After": str(err.retry_after)} if isinstance(err, TooManyRequests) and err.retry_after else None
        return _login_page(request, status=err.status_code, error=err.message, username=username.strip()[:64],
                           next_url=next, need_totp=result.need_totp, headers=headers)
    response = RedirectResponse(safe_next(next), status_code=303)
    s = get_account_settings()
    set_cookie(response, request, SESSION_COOKIE, result.token, max_age=int(s.session_hours * 3600))
    clear_cookie(response, request, PRELOGIN_COOKIE)
    return response


@router.post("/logout", summary="退出登录")
def logout(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    service.logout(session, current_actor(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login?logged_out=1", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


@router.get("/me", response_class=HTMLResponse, summary="我的账户")
def me(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    actor = current_actor(request)
    subject_name = None
    if actor.is_subject and actor.subject_id:
        subject_name = session.get(Subject, actor.subject_id).name
    response = templates.TemplateResponse(request, "me.html", {
        "actor": actor, "subject_name": subject_name,
        "csrf_token": form_csrf_token(request)[0] if request.state.auth_via == "session" else "",
    })
    response.headers["Cache-Control"] = "no-store"
    return response
