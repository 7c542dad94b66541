"""A leaner request handler for the API's busiest JSON route.

``LeanJSONRoute`` is an ``APIRoute`` like any other — path, body model, OpenAPI operation,
access policy, error rendering — whose handler skips FastAPI's generic machinery (content
negotiation through ``email.message``, dependency solving, telemetry hooks). For
``POST /api/v1/checks`` that machinery cost ~0.2 ms of CPU a request beside a check of ~1 ms,
and the HTTP p99 moved with it (bench/checks.py). It serves one shape of endpoint only,
``async def endpoint(body: <pydantic model>, actor: Annotated[Actor, Depends(request_actor)])``,
and refuses any other when the route is declared. ``LeanDispatch`` takes requests for such a
route past FastAPI's router (``install_lean_dispatch``).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from xinyong.accounts.access import enforce_policy, request_actor


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_json_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request's body as ``model``, or the ``RequestValidationError`` FastAPI raises for it
    (``web.errors`` answers 422 in Chinese, naming the fields)."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    value: Any = raw  # a body that is not JSON is refused by the model, as FastAPI does
    if _is_json(request.headers.get("content-type", "")):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from None
        except ValueError:  # not UTF-8: unreadable, not invalid
            raise HTTPException(status_code=400) from None
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None


def _body_model(endpoint: Callable[..., Any]) -> type[BaseModel]:
    """The endpoint's body model, after checking it has the one shape this route serves."""
    params = list(inspect.signature(endpoint).parameters)
    hints = typing.get_type_hints(endpoint, include_extras=True)
    if not inspect.iscoroutinefunction(endpoint) or len(params) != 2:
        raise TypeError(f"{endpoint.__name__}: a lean route's endpoint is async (body, actor)")
    body, actor = hints.get(params[0]), hints.get(params[1])
    if not (isinstance(body, type) and issubclass(body, BaseModel)):
        raise TypeError(f"{endpoint.__name__}: the first parameter must be a pydantic model (the body)")
    if not any(getattr(m, "dependency", None) is request_actor for m in typing.get_args(actor)[1:]):
        raise TypeError(f"{endpoint.__name__}: the second parameter must be Depends(request_actor)")
    return body


class LeanJSONRoute(APIRoute):
    """Declare with ``router.add_api_route(..., route_class_override=LeanJSONRoute)``. The
    application-wide dependency ``enforce_policy`` (authentication, rate limit, role, CSRF) is
    the one the handler runs; a route-level dependency would be skipped, so none is accepted
    (nor do ``app.dependency_overrides`` reach it)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        if self.dependencies:
            raise TypeError(f"{self.path}: a lean route takes no route-level dependencies")
        endpoint = self.endpoint
        model = _body_model(endpoint)

        async def handler(request: Request) -> Response:
            # The policy first: a caller it refuses is not told what is wrong with the body.
            actor = await enforce_policy(request)
            return await endpoint(await read_json_body(request, model), actor)

        return handler


class LeanDispatch:
    """In front of the application's router: a request for a lean route's exact path, with one
    of its methods, goes straight to the route. FastAPI's router otherwise tries its routes in
    order, through every included router, and that cost 0.34 million instructions of a check's
    3.59 (callgrind). Anything else goes to the router: other paths and methods, and every
    request when FastAPI's own telemetry is on (it records the route while routing). A path is
    taken here only if the router would pick the same route for it (no route before it
    matches the path and method)."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app, self.fastapi_app = app, fastapi_app
        self.table: dict[tuple[str, str], LeanJSONRoute] | None = None

    def _build(self) -> dict[tuple[str, str], LeanJSONRoute]:
        table: dict[tuple[str, str], LeanJSONRoute] = {}
        contexts = list(iter_route_contexts(self.fastapi_app.routes))
        for i, ctx in enumerate(contexts):
            route = ctx.original_route
            if not isinstance(route, LeanJSONRoute) or not ctx.path or "{" in ctx.path:
                continue
            for method in ctx.methods or ():
                scope = {"type": "http", "method": method, "path": ctx.path, "root_path": ""}
                first = next((c for c in contexts[:i + 1] if c.matches(dict(scope))[0] == Match.FULL), None)
                if first is ctx:
                    table.setdefault((method, ctx.path), route)
        return table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "fastapi.telemetry" not in scope:
            if self.table is None:
                self.table = self._build()
            route = self.table.get((scope["method"], get_route_path(scope)))
            if route is not None:
                scope.update(route=route, endpoint=route.endpoint, path_params={})
                scope.setdefault("router", self.fastapi_app.router)
                await route.app(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_lean_dispatch(app: FastAPI) -> None:
    """Put ``LeanDispatch`` in front of ``app``'s router (inside the application's middleware
    and exception handlers, which see the request as before)."""
    app.router.middleware_stack = LeanDispatch(app.router.middleware_stack, app)
