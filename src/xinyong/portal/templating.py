"""Templates, page errors and small helpers shared by the portal's routers."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from xinyong.accounts.access import current_actor
from xinyong.config import get_settings
from xinyong.errors import XinyongError

WEB = Path(__file__).resolve().parent.parent / "web"
STATIC = WEB / "static"


@functools.lru_cache(maxsize=64)
def _asset_version(name: str) -> str:
    path = STATIC / name
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.exists() else "0"


def static_url(name: str) -> str:
    """Versioned asset URL: browsers may cache it for a year."""
    return f"/static/{name}?v={_asset_version(name)}"


def has_route(request: Request, name: str) -> bool:
    """Whether the application has a route of that name (buttons for features that may not be
    installed yet are hidden, never dead)."""
    app = request.app
    names = getattr(app.state, "route_names", None)
    if names is None:
        # Every route, also those of included routers (nested, not flattened, in this FastAPI).
        from fastapi.routing import iter_route_contexts

        names = frozenset(getattr(ctx.original_route, "name", None) for ctx in iter_route_contexts(app.routes))
        app.state.route_names = names
    return name in names


def route_path(app: Any, name: str) -> str:
    """``app.url_path_for(name)`` for a route without parameters, remembered per application:
    the lookup walks every route, and a profile page asked for it twice per record."""
    paths = getattr(app.state, "route_paths", None)
    if paths is None:
        paths = app.state.route_paths = {}
    path = paths.get(name)
    if path is None:
        path = paths[name] = str(app.url_path_for(name))
    return path


def url_with(request: Request, **changes: Any) -> str:
    """The current URL with some query parameters changed (paging links keep the filters)."""
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = str(v)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def _context(request: Request) -> dict[str, Any]:
    actor = current_actor(request)
    return {"site_name": get_settings().site_name, "actor": actor, "static_url": static_url,
            "has_route": lambda name: has_route(request, name), "url_with": lambda **kw: url_with(request, **kw)}


# Templates ship inside the package and change only with a new release (and a restart): Jinja's
# default checked each template file's time on disk for every page rendered (5% of a profile page).
templates = Jinja2Templates(directory=str(WEB / "templates"), context_processors=[_context])
templates.env.auto_reload = False
templates.env.globals["static_url"] = static_url
templates.env.globals["route_path"] = route_path


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200,
           headers: dict[str, str] | None = None, private: bool = False) -> Response:
    response = templates.TemplateResponse(request, name, context or {}, status_code=status, headers=headers)
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, exc: XinyongError) -> Response:
    status = exc.status_code
    titles = {400: "请求有误", 404: "未找到", 403: "无权访问", 409: "无法办理", 422: "请求有误"}
    return render(request, "portal/error.html", {"status": status, "title": titles.get(status, "出错了"),
                                                 "message": exc.message, "code": exc.code}, status=status)


def page(func: Callable[..., Response]) -> Callable[..., Response]:
    """Route decorator for HTML pages: domain errors become Chinese error pages with their
    status (404 for an unknown subject, 400 for a malformed query) instead of JSON."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return func(*args, **kwargs)
        except XinyongError as exc:
            request = kwargs.get("request") or next(a for a in args if isinstance(a, Request))
            if exc.status_code in (401, 403, 429):
                raise  # the access layer renders these (login redirect, role pages)
            if exc.status_code == 422:
                exc.status_code = 400
            return error_page(request, exc)

    return wrapper


__all__ = [
    "STATIC",
    "HTMLResponse",
    "error_page",
    "has_route",
    "page",
    "render",
    "static_url",
    "templates",
    "url_with",
]
