"""Domain errors: a stable code, an HTTP status and a Chinese message a user can act on."""

from __future__ import annotations

from typing import Any


class XinyongError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": {"code": self.code, "message": self.message}}
        if self.details is not None:
            body["error"]["details"] = self.details
        return body


class NotFound(XinyongError):
    status_code = 404
    code = "not_found"


class InvalidInput(XinyongError):
    status_code = 422
    code = "invalid_input"


class Conflict(XinyongError):
    status_code = 409
    code = "conflict"


class ConfigurationError(XinyongError):
    status_code = 500
    code = "configuration_error"


class Unauthorized(XinyongError):
    status_code = 401
    code = "unauthorized"


class Forbidden(XinyongError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(XinyongError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
