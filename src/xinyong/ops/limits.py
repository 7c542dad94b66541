"""Request body limits, applied before a byte is stored: an upload that declares (Content-Length)
or turns out (chunked) larger than its route allows is answered 413 at once. The reverse proxy
has its own, larger limit (``client_max_body_size`` in deploy/nginx); this one holds without it."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xinyong.config import get_settings

_MULTIPART_OVERHEAD = 64 * 1024
MESSAGE = "上传内容过大：超出该接口允许的大小。数据文件请拆分后分批报送，附件请压缩后上传。"


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail=MESSAGE)


def body_limit(path: str, content_type: str) -> int:
    """The largest body the route accepts."""
    general = get_settings().max_request_bytes
    if content_type.startswith("multipart/form-data"):
        if path.startswith("/api/v1/intake/"):
            from xinyong.intake.api import MAX_UPLOAD_BYTES

            return MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD
        if path.startswith("/console/upload"):
            from xinyong.portal.console import MAX_UPLOAD_BYTES as CONSOLE_MAX

            return CONSOLE_MAX + _MULTIPART_OVERHEAD
    return general


async def _refuse(send: Send) -> None:
    body = json.dumps({"error": {"code": "payload_too_large", "message": MESSAGE}}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = body_limit(scope.get("path", ""), ctype)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await _refuse(send)
                    return
            except ValueError:
                pass
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send)
