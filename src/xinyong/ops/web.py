"""Wire the operations pieces into the application (one call from ``create_app``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError

log = logging.getLogger("xinyong.ops")
_OUT_OF_RANGE = {"error": {"code": "value_out_of_range",
                           "message": "请求参数超出允许的范围（如编号过大或文本过长），请检查后重试。"}}


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # An id beyond the database's integer range (SQLite raises OverflowError while binding,
    # PostgreSQL a DataError) is bad input, not a server fault.
    log.warning("value out of range on %s %s (%s)", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(_OUT_OF_RANGE, status_code=422)


_UNAVAILABLE = {"error": {"code": "database_unavailable",
                          "message": "数据库连接中断，本次请求未完成、未保存任何内容，请稍后重试。"}}


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The connection was lost (database restarted, backend terminated, network): the unit of
    # work rolled back, so the caller may retry; the pool's pre-ping reconnects the next request.
    log.warning("database unavailable on %s %s (%s)", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(_UNAVAILABLE, status_code=503, headers={"Retry-After": "5"})


def install_ops(app: FastAPI) -> None:
    from xinyong.ops.observability import install_observability

    install_observability(app)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(OperationalError, _database_unavailable)
