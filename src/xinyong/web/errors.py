"""One JSON error shape for every failure: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyong.errors import XinyongError

log = logging.getLogger("xinyong.web")

_STATUS_MESSAGES = {
    400: ("bad_request", "请求格式不正确。"),
    401: ("unauthorized", "需要登录或提供有效的凭据。"),
    403: ("forbidden", "无权访问该资源。"),
    404: ("not_found", "未找到请求的地址。请检查网址是否正确。"),
    405: ("method_not_allowed", "该地址不支持此请求方法。"),
    413: ("payload_too_large", "上传内容过大。"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试。"),
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: object | None = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx response of the API has this body."""

    error: ErrorBody


ERROR_RESPONSES = {
    404: {"model": ErrorResponse, "description": "未找到"},
    422: {"model": ErrorResponse, "description": "参数不合法"},
}


def _validation_details(exc: RequestValidationError) -> list[dict]:
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # its loc holds a character offset, not a field
            pos = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
            where = f"第 {pos + 1} 个字符附近" if pos is not None else "格式"
            out.append({"field": "", "type": "json_invalid", "detail": f"请求体不是合法的 JSON：{where}出错"})
            continue
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        out.append({"field": loc, "type": err.get("type"), "detail": err.get("msg")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(XinyongError)
    async def _domain(_: Request, exc: XinyongError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        fields = "、".join(d["field"] for d in details if d["field"]) or "请求"
        message = f"请求参数不合法：{fields}。请对照接口文档 /docs 修改后重试。"
        broken = next((d for d in details if d["type"] == "json_invalid"), None)
        if broken is not None:
            message = f"{broken['detail']}。请检查引号、逗号和括号是否成对、文本是否完整后重试。"
        body = {"error": {"code": "invalid_request", "message": message, "details": details}}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _STATUS_MESSAGES.get(exc.status_code, ("http_error", "请求失败。"))
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": {"code": "internal_error",
                                       "message": "服务器内部错误，请稍后重试；如持续出现请联系平台管理员。"}},
                            status_code=500)
