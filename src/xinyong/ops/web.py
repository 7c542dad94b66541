"""Wire the operations pieces into the application (one call from ``create_app``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

log = logging.getLogger("xinyong.ops")
_OUT_OF_RANGE = {"error": {"code": "value_out_of_range",
                           "message": "请求参数超出允许的范围（如编号过大或文本过长），请检查后重试。"}}


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    # An id beyond the database's integer range (SQLite raises OverflowError while binding,
    # PostgreSQL a DataError) is bad input, not a server fault.
    log.warning("value out of range on %s %s (%s)", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(_OUT_OF_RANGE, status_code=422)


def install_ops(app: FastAPI) -> None:
    from xinyong.ops.observability import install_observability

    install_observability(app)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
