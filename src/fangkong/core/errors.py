"""The domain errors every service raises; mapped once to HTTP status codes and console messages."""

from __future__ import annotations

from typing import Any


class FangkongError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.detail:
            body["detail"] = self.detail
        return body


class InvalidInput(FangkongError):
    status_code = 422
    code = "invalid_input"


class NotFound(FangkongError):
    status_code = 404
    code = "not_found"


class Forbidden(FangkongError):
    status_code = 403
    code = "forbidden"


class Unauthorized(FangkongError):
    status_code = 401
    code = "unauthorized"


class Conflict(FangkongError):
    status_code = 409
    code = "conflict"


class MethodNotAllowed(FangkongError):
    status_code = 405
    code = "method_not_allowed"


class Unavailable(FangkongError):
    """A service the request needs stopped; sending it again may succeed."""

    status_code = 503
    code = "unavailable"
