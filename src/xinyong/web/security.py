"""Web security plumbing: cookies, CSRF tokens and request ids."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinyong.accounts.settings import get_account_settings
from xinyong.identity.crypto import get_keyring

SESSION_COOKIE = "xy_session"
#: Random value that anonymous forms (the login form) bind their CSRF token to.
PRELOGIN_COOKIE = "xy_prelogin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_SCOPE_KEY = "xinyong.request_id"


def _csrf_key() -> bytes:
    # A purpose-bound subkey of the platform secret (HMAC as a PRF): a CSRF token never
    # reveals, and is never usable as, a personal-data lookup hash.
    return hmac.new(get_keyring().hash_key, b"xinyong/web/csrf/v1", hashlib.sha256).digest()


def csrf_token_for(binding: str) -> str:
    """The CSRF token for a session token (or the pre-login cookie value)."""
    return hmac.new(_csrf_key(), binding.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_valid(binding: str | None, token: str | None) -> bool:
    if not binding or not token or len(token) > 128:
        return False
    return hmac.compare_digest(csrf_token_for(binding), token)


def new_prelogin_value() -> str:
    return secrets.token_urlsafe(24)


def form_csrf_token(request: Request) -> tuple[str, str | None]:
    """The CSRF token a rendered form must carry, and a pre-login cookie value to set first
    (None when the existing cookie will do). Signed in, the token is bound to the session."""
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token and getattr(request.state, "auth_via", None) == "session":
        return csrf_token_for(session_token), None
    prelogin = request.cookies.get(PRELOGIN_COOKIE)
    if prelogin and len(prelogin) <= 64:
        return csrf_token_for(prelogin), None
    prelogin = new_prelogin_value()
    return csrf_token_for(prelogin), prelogin


def cookie_secure(request: Request) -> bool:
    override = get_account_settings().cookie_secure
    return override if override is not None else request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, *,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        secure=cookie_secure(request), samesite="lax")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, secure=cookie_secure(request), samesite="lax")


def request_id(request: Request) -> str:
    rid = request.scope.get(_SCOPE_KEY)
    if rid is None:
        rid = _pick_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.scope[_SCOPE_KEY] = rid
    return rid


def _pick_request_id(header: str | None) -> str:
    # A caller's id is kept when it is harmless, so a department can correlate its own logs.
    return header if header and _SAFE_ID.match(header) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Give every request an id (kept in the scope and the audit log) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for k, v in scope.get("headers", []):
            if k == b"x-request-id":
                header = v.decode("latin-1")
                break
        rid = _pick_request_id(header)
        scope[_SCOPE_KEY] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
