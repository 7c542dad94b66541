"""Assemble the FastAPI application from the feature routers."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from xinyong import __version__
from xinyong.accounts.access import enforce_policy, install_access_control
from xinyong.accounts.api import router as accounts_api_router
from xinyong.accounts.pages import router as accounts_pages_router
from xinyong.catalogue.api import router as catalogue_router
from xinyong.config import get_settings
from xinyong.departments.api import router as departments_router
from xinyong.intake.api import router as intake_router
from xinyong.subjects.api import router as subjects_router
from xinyong.subjects.models import Subject
from xinyong.web.deps import get_session
from xinyong.web.errors import install_error_handlers


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title=f"{settings.site_name} · 公共信用信息平台 API",
        version=__version__,
        description="信用信息目录、数据来源单位与信用主体查询接口。所有错误均返回 "
                    "`{\"error\": {\"code\", \"message\"}}`，message 为中文说明。",
        # Every route passes the central access policy (xinyong.accounts.policy).
        dependencies=[Depends(enforce_policy)],
    )
    install_error_handlers(app)
    install_access_control(app)
    app.include_router(catalogue_router)
    app.include_router(departments_router)
    app.include_router(subjects_router)
    app.include_router(intake_router)
    app.include_router(accounts_api_router)
    app.include_router(accounts_pages_router)

    @app.get("/healthz", tags=["运维"], summary="健康检查")
    def healthz(session: Annotated[Session, Depends(get_session)]) -> JSONResponse:
        """Liveness and database reachability."""
        session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": __version__,
                             "database": session.get_bind().dialect.name})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(session: Annotated[Session, Depends(get_session)]) -> str:
        from xinyong.catalogue import load_catalogue

        n_subjects = session.scalar(select(func.count()).select_from(Subject).where(
            Subject.kind != "natural_person")) or 0
        n_resources = len(load_catalogue().resources)
        name = escape(settings.site_name)
        return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{name}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:48rem;margin:2rem auto;
padding:0 1rem;color:#1f2933}}h1{{color:#b91c1c}}a{{color:#1d4ed8}}li{{margin:.4rem 0}}</style></head>
<body><h1>{name}</h1><p>公共信用信息平台（版本 {__version__}）。网站门户正在建设中，当前可通过接口浏览：</p>
<ul><li>已登记信用主体：{n_subjects:,} 个 — <a href="/api/v1/subjects">/api/v1/subjects</a></li>
<li>信用信息目录：{n_resources} 类信息资源 — <a href="/api/v1/catalogue">/api/v1/catalogue</a></li>
<li>数据来源单位 — <a href="/api/v1/departments">/api/v1/departments</a></li>
<li>接口文档 — <a href="/docs">/docs</a></li></ul></body></html>"""

    return app
