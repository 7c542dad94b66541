"""Assemble the FastAPI application from the feature routers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from xinyong import __version__
from xinyong.accounts.access import enforce_policy, install_access_control
from xinyong.accounts.api import router as accounts_api_router
from xinyong.accounts.pages import router as accounts_pages_router
from xinyong.catalogue.api import router as catalogue_router
from xinyong.config import get_settings
from xinyong.departments.api import router as departments_router
from xinyong.exchange.api import router as exchange_router
from xinyong.exchange.pages import router as exchange_pages_router
from xinyong.indicators.api import router as indicators_router
from xinyong.intake.api import router as intake_router
from xinyong.measures.api import router as measures_api_router
from xinyong.measures.pages import router as measures_pages_router
from xinyong.notifications.api import router as inbox_api_router
from xinyong.notifications.pages import router as inbox_pages_router
from xinyong.portal.api import router as portal_api_router
from xinyong.portal.console import router as portal_console_router
from xinyong.portal.me import router as portal_me_router
from xinyong.portal.pages import router as portal_pages_router
from xinyong.rating.api import router as rating_router
from xinyong.reports.api import router as reports_router
from xinyong.subjects.api import router as subjects_router
from xinyong.web.deps import get_session
from xinyong.web.errors import install_error_handlers
from xinyong.workflows.api import router as workflows_api_router
from xinyong.workflows.pages import router as workflows_pages_router


log = logging.getLogger(__name__)
#: After how many requests a process freezes its heap again (see ``SettleAfterWarmup``).
WARM_REQUESTS = (300, 3000)


def settle_heap() -> None:
    """Load the long-lived data (the catalogues and models), then freeze the heap: the
    collector's full passes stop walking it (on a large process they paused requests for
    ~100 ms; see bench/feed.py)."""
    from xinyong.accounts.purposes import load_purposes
    from xinyong.catalogue import load_catalogue
    from xinyong.measures.loader import load_measures
    from xinyong.rating.scorecard import load_model
    from xinyong.workflows.policy import load_policy

    load_catalogue()
    for loader in (load_measures, load_policy, load_model, load_purposes):
        try:
            loader()
        except Exception as exc:  # noqa: BLE001 - reported again, in Chinese, where it is used
            log.warning("startup: %s not loaded: %s", loader.__name__, exc)
    gc.collect()
    gc.freeze()


class SettleAfterWarmup:
    """Freeze the heap again after the process's first requests (``WARM_REQUESTS``): what they
    built to keep (compiled statements, evaluators, templates) then leaves the collector's full
    passes too, which otherwise walked it for 20-50 ms at a time (0.6-1 ms after)."""

    def __init__(self, app: ASGIApp, at: tuple[int, ...] = WARM_REQUESTS) -> None:
        self.app, self.at, self.served = app, set(at), 0
        self.last = max(at, default=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if self.served < self.last and scope["type"] == "http":
            self.served += 1
            if self.served in self.at:
                settle_heap()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settle_heap()
    yield


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title=f"{settings.site_name} · 公共信用信息平台 API",
        version=__version__,
        description="信用信息目录、数据来源单位与信用主体查询接口。所有错误均返回 "
                    "`{\"error\": {\"code\", \"message\"}}`，message 为中文说明。",
        # Every route passes the central access policy (xinyong.accounts.policy).
        dependencies=[Depends(enforce_policy)],
        lifespan=_lifespan,
    )
    install_error_handlers(app)
    install_access_control(app)
    from xinyong.ops.web import install_ops  # issue #12: /metrics, /readyz, access log, body limits

    install_ops(app)
    app.add_middleware(SettleAfterWarmup)
    # The public website's pages first: routing tries the routers in order, and these are most
    # of the traffic (no other route's path overlaps theirs: the order changes nothing else).
    app.include_router(portal_pages_router)
    # Then the joint-measures API: departments' checks are the bulk of the API's traffic, and
    # routing tries every route of every router before it (a check once matched ~95 routes).
    app.include_router(measures_api_router)
    app.include_router(catalogue_router)
    app.include_router(departments_router)
    app.include_router(subjects_router)
    app.include_router(intake_router)
    app.include_router(accounts_api_router)
    app.include_router(accounts_pages_router)
    app.include_router(reports_router)
    app.include_router(workflows_api_router)
    app.include_router(workflows_pages_router)
    app.include_router(inbox_api_router)
    app.include_router(inbox_pages_router)
    app.include_router(indicators_router)
    app.include_router(measures_pages_router)
    app.include_router(rating_router)
    # The portal's API, console and /me pages (its public pages are included first, above).
    app.include_router(portal_api_router)
    app.include_router(portal_console_router)
    app.include_router(portal_me_router)
    app.include_router(exchange_router)
    app.include_router(exchange_pages_router)

    from xinyong.web.lean import install_lean_dispatch

    install_lean_dispatch(app)  # POST /api/v1/checks straight to its route

    @app.get("/healthz", tags=["运维"], summary="健康检查")
    def healthz(session: Annotated[Session, Depends(get_session)]) -> JSONResponse:
        """Liveness and database reachability."""
        session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": __version__,
                             "database": session.get_bind().dialect.name})

    return app
