"""Central access control: who is calling, may this role call this route, and — for
non-public information — is the purpose declared and the read audited.

- ``enforce_policy``: an application-wide dependency (``FastAPI(dependencies=...)``). It
  authenticates (session cookie, ``Authorization: Bearer xy_…`` or ``X-API-Key``), applies
  the API-client rate limit, checks ``ROUTE_POLICY`` and CSRF on unsafe methods.
- ``require_access(...)``: what a route serving non-public information adds, e.g.
  ``actor: Annotated[Actor, Depends(require_access(resource="admin_penalty"))]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from xinyong.accounts.actor import Actor
from xinyong.accounts.clients import enforce_rate_limit, key_cache
from xinyong.accounts.policy import Rule, rule_for
from xinyong.accounts.purposes import SELF_QUERY, Purpose, parse_purpose
from xinyong.accounts.roles import DISCLOSURE_READERS
from xinyong.errors import (
    Forbidden,
    InvalidInput,
    TooManyRequests,
    Unauthorized,
    XinyongError,
)
from xinyong.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    RequestIdMiddleware,
    csrf_valid,
    request_id,
)

log = logging.getLogger("xinyong.access")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Content types a cross-site HTML form can send without a CORS preflight.
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""})


def route_template(request: Request) -> str | None:
    """The matched route's full path template (with every router prefix)."""
    route = request.scope.get("route")
    if route is None:
        return None
    contexts = _route_contexts(request.app, route)
    if len(contexts) == 1:
        return contexts[0].path
    scope = {**request.scope, "path": request.scope.get("path", "")}
    for ctx in contexts:
        if ctx.matches(scope)[0] == Match.FULL:
            return ctx.path
    return getattr(route, "path", None)


def _route_contexts(app: Any, route: Any) -> tuple:
    """The contexts (one per router prefix it is included under) of a route, indexed once per
    application: walking every route on every request cost a millisecond of each page."""
    index = getattr(app.state, "route_contexts", None)
    hit = index.get(id(route)) if index is not None else None
    if hit is None or hit[0] is not route:
        index = {}
        for ctx in iter_route_contexts(app.routes):  # routes are unhashable: keyed by identity
            index.setdefault(id(ctx.original_route), (ctx.original_route, []))[1].append(ctx)
        app.state.route_contexts = index
        hit = index.get(id(route), (route, []))
    return tuple(hit[1])


def _credentials(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return "api_key", auth[7:].strip()
    if key := request.headers.get("x-api-key"):
        return "api_key", key.strip()
    if token := request.cookies.get(SESSION_COOKIE):
        return "session", token
    return None


def _authenticate(kind: str, value: str, rid: str) -> tuple[Actor | None, tuple[int, str, int] | None]:
    """Runs in a worker thread; its own short transaction (rejections are audited). A valid API
    key is read first without one: one statement, no BEGIN/COMMIT round trips per request."""
    from xinyong.accounts import clients, service
    from xinyong.db.engine import read_scope, session_scope

    if kind == "api_key":
        with read_scope() as session:
            try:
                actor, client = clients.authenticate_key(session, value, request_id=rid, audit=False)
                clients.key_cache.remember(actor, client)
                return actor, (client.id, client.key_hash, client.rate_limit)
            except Unauthorized:
                pass  # again below, in a transaction that records the rejection
    error: XinyongError | None = None
    with session_scope() as session:
        try:
            if kind == "session":
                return service.actor_for_session(session, value, request_id=rid), None
            actor, client = clients.authenticate_key(session, value, request_id=rid)
            return actor, (client.id, client.key_hash, client.rate_limit)
        except XinyongError as exc:
            error = exc  # commit the audit event of the rejection, then refuse
    raise error


async def enforce_policy(request: Request) -> Actor:
    """Authenticate and authorise every request against ``ROUTE_POLICY`` (deny by default)."""
    rid = request_id(request)
    path = route_template(request)
    rule: Rule | None = rule_for(request.method, path) if path else None
    request.state.page = bool(rule and rule.page)
    if rule is None:
        log.error("no access policy for %s %s: refused", request.method, path)
        raise Forbidden("该接口尚未声明访问策略，已拒绝访问。请联系平台管理员。", code="route_policy_missing")
    creds = _credentials(request)
    actor, limit = None, None
    if creds is not None:
        hit = key_cache.get(creds[1]) if creds[0] == "api_key" else None
        if hit is not None:  # accepted moments ago: no database read, no worker thread
            actor, limit = hit[0].with_(request_id=rid), hit[1]
        else:
            actor, limit = await run_in_threadpool(_authenticate, creds[0], creds[1], rid)
    via = creds[0] if actor is not None and creds else None
    actor = actor or Actor.anonymous(rid)
    request.state.actor = actor
    request.state.auth_via = via
    if limit is not None:
        enforce_rate_limit(*limit)
    if not rule.allows(actor.role):
        if actor.is_anonymous:
            raise Unauthorized("请先登录，或在请求头 Authorization: Bearer 中提供接口密钥。", code="auth_required")
        raise Forbidden(f"{actor.role_label}无权访问该功能。", code="role_forbidden")
    if request.method.upper() not in SAFE_METHODS and via != "api_key":
        await _check_csrf(request, request.cookies.get(SESSION_COOKIE) if via == "session" else None)
    return actor


async def _check_csrf(request: Request, session_token: str | None) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    binding = session_token
    if binding is None:
        if ctype not in _FORM_TYPES:
            return  # anonymous JSON: nothing ambient to abuse, and browsers preflight it
        binding = request.cookies.get(PRELOGIN_COOKIE)
    token = request.headers.get(CSRF_HEADER)
    if not token and ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()  # cached on the request: the endpoint reads the same form
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not csrf_valid(binding, token):
        raise Forbidden("页面已过期或请求来源无法确认（CSRF 校验失败），请刷新页面后重新提交。",
                        code="csrf_failed")


def current_actor(request: Request) -> Actor:
    """The actor ``enforce_policy`` established (anonymous if none)."""
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else Actor.anonymous(request_id(request))


async def request_actor(request: Request) -> Actor:
    """``current_actor`` as a route dependency (``Depends(request_actor)``). Async, so FastAPI
    calls it on the event loop: a sync dependency is sent to a worker thread, and that hop
    cost far more than the lookup."""
    return current_actor(request)


def purpose_from_request(request: Request, actor: Actor) -> Purpose:
    """The declared purpose: headers X-Purpose / X-Purpose-Text, else query purpose / purpose_text."""
    code = request.headers.get("x-purpose")
    if code is not None:
        return parse_purpose(code, request.headers.get("x-purpose-text"), role=actor.role, from_header=True)
    code = request.query_params.get("purpose")
    if code is None and actor.is_subject:
        code = SELF_QUERY  # a subject reading its own file need not say why
    return parse_purpose(code, request.query_params.get("purpose_text"), role=actor.role)


def require_access(*, resource: str | None = None, resource_param: str | None = None,
                   disclosure: str | None = None, purpose_required: bool = True,
                   subject_param: str | None = None, action: str | None = None) -> Callable[..., Actor]:
    """A dependency for routes that serve catalogue information beyond the public.

    - ``resource`` (or the path parameter named ``resource_param``): the catalogue resource code;
      ``disclosure`` defaults to that resource's class in the catalogue (else ``government``).
    - Checks the role may read that class, an API client's scopes, and a declared purpose.
    - ``subject_param``: path parameter holding the subject's code; a subject account may only
      read its own file.
    - Records ``<resource>.read`` (or ``action``) with the purpose in the audit log, committed
      before the endpoint runs: no audit, no data.

    Returns the ``Actor`` (with ``purpose``); ``request.state.subject_id`` is the resolved subject.
    """
    if disclosure is not None and disclosure not in DISCLOSURE_READERS:
        raise ValueError(f"unknown disclosure class {disclosure!r}")

    def dependency(request: Request) -> Actor:
        from xinyong.audit.service import record_event
        from xinyong.db.engine import session_scope
        from xinyong.subjects.service import resolve_subject

        actor = current_actor(request)
        res = resource or (request.path_params.get(resource_param) if resource_param else None)
        klass = disclosure or _catalogue_disclosure(res)
        if klass != "public" and actor.is_anonymous:
            raise Unauthorized("查看该信息需要登录或提供接口密钥。", code="auth_required")
        actor.ensure_can_read(res, klass)
        if klass == "public":
            return actor
        purpose = purpose_from_request(request, actor) if purpose_required else None
        subject_id = actor.subject_id if actor.is_subject else None
        code = request.path_params.get(subject_param) if subject_param else None
        with session_scope() as session:
            if code:
                subject_id = resolve_subject(session, code).id
                actor.ensure_subject(subject_id)
            actor = actor.with_(purpose=purpose)
            record_event(session, action or f"{res or 'subject'}.read", actor=actor,
                         subject_id=subject_id, resources=[res] if res else [])
        request.state.actor = actor
        request.state.subject_id = subject_id
        return actor

    return dependency


def _catalogue_disclosure(resource: str | None) -> str:
    if not resource:
        return "government"
    from xinyong.catalogue import load_catalogue

    catalogue = load_catalogue()
    if resource not in catalogue:
        raise InvalidInput(f"信用信息目录中没有资源 {resource}。", code="unknown_resource")
    return catalogue.get(resource).disclosure


# -- responses ------------------------------------------------------------------------------------


def _error_headers(exc: XinyongError) -> dict[str, str]:
    headers = {}
    if isinstance(exc, TooManyRequests) and exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="xinyong"'
    return headers


def _is_page(request: Request) -> bool:
    return bool(getattr(request.state, "page", False))


def render_error_page(request: Request, status: int, message: str, headers: dict[str, str] | None = None,
                      code: str | None = None):
    from xinyong.portal.templating import templates

    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message, "code": code},
                                      status_code=status, headers=headers)


async def _access_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, XinyongError)
    headers = _error_headers(exc)
    if _is_page(request):
        if isinstance(exc, Unauthorized) and exc.code == "auth_required" and request.method in SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return render_error_page(request, exc.status_code, exc.message, headers, exc.code)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers or None)


def install_access_control(app: FastAPI) -> None:
    """Error rendering for access failures and request ids; the policy dependency itself is
    passed to ``FastAPI(dependencies=[Depends(enforce_policy)])`` so every route gets it."""
    for cls in (Unauthorized, Forbidden, TooManyRequests):
        app.add_exception_handler(cls, _access_error)
    app.add_middleware(RequestIdMiddleware)


__all__ = ["Actor", "current_actor", "enforce_policy", "install_access_control",
           "purpose_from_request", "render_error_page", "request_actor", "require_access", "route_template"]
