"""Server-rendered account pages: /login, /logout, /me, and the self-service forms
/me/password (change one's password) and /me/totp (staff: bind, replace or turn off TOTP).

The rules live in ``xinyong.accounts.service``; these routes only translate HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyong.accounts import service
from xinyong.accounts.access import current_actor
from xinyong.accounts.passwords import POLICY_TEXT
from xinyong.accounts.settings import get_account_settings
from xinyong.errors import TooManyRequests
from xinyong.portal.templating import page, templates
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
from xinyong.web.qr import qr_svg

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
        "actor": actor, "subject_name": subject_name, "via_session": request.state.auth_via == "session",
        "csrf_token": form_csrf_token(request)[0] if request.state.auth_via == "session" else "",
    })
    response.headers["Cache-Control"] = "no-store"
    return response


# -- self-service ---------------------------------------------------------------------------------


def _private_page(request: Request, name: str, context: dict, *, status: int = 200) -> Response:
    """A signed-in form page: never cached (it may show a TOTP secret), session-bound CSRF token."""
    headers = None
    error = context.get("error")
    if isinstance(error, TooManyRequests) and error.retry_after:
        headers = {"Retry-After": str(error.retry_after)}
    response = templates.TemplateResponse(request, name, {
        "actor": current_actor(request), "csrf_token": form_csrf_token(request)[0],
        "fields": {}, "error": None, "notice": None, **context,
    }, status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/me/password", response_class=HTMLResponse, summary="修改密码")
@page
def password_form(request: Request, session: Annotated[Session, Depends(get_session)],
                  done: int = 0) -> Response:
    service.session_user(session, current_actor(request))  # API keys get a clear refusal
    return _private_page(request, "me_password.html", {
        "policy_text": POLICY_TEXT, "notice": "密码已修改，其他设备上的登录已全部退出。" if done else None})


@router.post("/me/password", response_class=HTMLResponse, summary="修改密码")
@page
def password_submit(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    repeat_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    result = service.change_password(session, current_actor(request), current_password, new_password,
                                     repeat_password)
    if result.ok:
        return RedirectResponse("/me/password?done=1", status_code=303)
    # Nothing typed is echoed back: every password field renders empty.
    return _private_page(request, "me_password.html", {
        "policy_text": POLICY_TEXT, "fields": result.fields, "error": result.error}, status=result.status_code)


def _totp_page(request: Request, session: Session, *, setup: bool, pending: str | None = None,
               result: service.FormResult | None = None, failed: str | None = None,
               notice: str | None = None) -> Response:
    actor = current_actor(request)
    user = service.session_user(session, actor, staff=True)
    enrolment = None
    if setup or not user.totp_enabled:
        enrolment = service.totp_enrolment(session, actor, pending)
    return _private_page(request, "me_totp.html", {
        "totp_enabled": user.totp_enabled, "enrolment": enrolment,
        "qr": qr_svg(enrolment.uri) if enrolment else None,
        "secret_groups": " ".join(enrolment.secret[i:i + 4] for i in range(0, len(enrolment.secret), 4))
        if enrolment else "",
        "pending_minutes": service.TOTP_PENDING_MINUTES,
        "fields": result.fields if result else {}, "error": result.error if result else None,
        "failed_form": failed,  # which form the problems belong to
        "notice": notice,
    }, status=result.status_code if result else 200)


@router.get("/me/totp", response_class=HTMLResponse, summary="动态验证码")
@page
def totp_form(request: Request, session: Annotated[Session, Depends(get_session)],
              setup: int = 0, done: str | None = None) -> Response:
    notice = {"enabled": "动态验证码已启用：以后登录需输入验证器中的 6 位数字；其他设备上的登录已全部退出。",
              "disabled": "动态验证码已关闭：以后登录只需密码。"}.get(done or "")
    return _totp_page(request, session, setup=bool(setup), notice=notice)


@router.post("/me/totp", response_class=HTMLResponse, summary="绑定动态验证码")
@page
def totp_enable(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    pending: Annotated[str, Form(max_length=400)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
    current_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    result = service.enable_own_totp(session, current_actor(request), pending, code, current_password)
    if result.ok:
        return RedirectResponse("/me/totp?done=enabled", status_code=303)
    return _totp_page(request, session, setup=True, pending=pending, result=result, failed="setup")


@router.post("/me/totp/disable", response_class=HTMLResponse, summary="关闭动态验证码")
@page
def totp_disable(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    code: Annotated[str, Form(max_length=16)] = "",
    current_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    result = service.disable_own_totp(session, current_actor(request), current_password, code)
    if result.ok:
        return RedirectResponse("/me/totp?done=disabled", status_code=303)
    return _totp_page(request, session, setup=False, result=result, failed="disable")
