"""The domain errors every service raises; mapped once to HTTP status codes and console messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fangkong.core.i18n import translate

# The language of the API's messages and of logs; people read ``text(their language)``.
API_LANGUAGE = "en"


class FangkongError(Exception):
    """Base of every error a service raises on purpose.

    An error a user may see carries ``key`` and ``params``: the console shows the catalogue's
    text for the reader's language (``<domain>/locales``); the API's message is the English
    text. A value in ``params`` may itself be an error (the fault of a row, the cause of a
    failed import): it is rendered in the same language.
    """

    status_code = 400
    code = "error"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
        **detail: Any,
    ) -> None:
        self.key = key
        self.params: dict[str, Any] = dict(params or {})
        if message is None:
            if key is None:
                raise TypeError("an error needs a message or a catalogue key")
            message = translate(key, API_LANGUAGE, **_rendered(self.params, API_LANGUAGE))
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def text(self, language: str) -> str:
        """The message in ``language`` (its catalogue text when the error has a key)."""
        if self.key is None:
            return self.message
        return translate(self.key, language, **_rendered(self.params, language))

    def to_dict(self) -> dict[str, Any]:
        """The API's answer: the kind of error, its stable code and values, the English text."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.key is not None:
            body["code"] = self.key.removeprefix("error.")
            body["params"] = {name: _json_value(v) for name, v in self.params.items()}
        if self.field is not None:
            body["field"] = self.field
        if self.detail:
            body["detail"] = self.detail
        return body


def _rendered(params: Mapping[str, Any], language: str) -> dict[str, Any]:
    """The values to format a text with: an error among them (a row's fault, the cause of a
    failed import) is its own text in ``language``."""
    return {
        name: value.text(language) if isinstance(value, FangkongError) else value
        for name, value in params.items()
    }


def _json_value(value: object) -> object:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


class InvalidInput(FangkongError):
    status_code = 422
    code = "invalid_input"


class NotFound(FangkongError):
    status_code = 404
    code = "not_found"


class Forbidden(FangkongError):
    status_code = 403
    code = "forbidden"


class PasswordChangeRequired(Forbidden):
    """The user must change the password an administrator gave them first: a console page
    leads to the change of password, an API request (a token) is refused."""

    code = "password_change_required"


class Unauthorized(FangkongError):
    status_code = 401
    code = "unauthorized"


class Conflict(FangkongError):
    status_code = 409
    code = "conflict"


class MethodNotAllowed(FangkongError):
    status_code = 405
    code = "method_not_allowed"


class Throttled(FangkongError):
    """Too many attempts: refused until ``retry_after_s`` seconds have passed (None: until an
    administrator lifts it)."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, *, retry_after_s: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(FangkongError):
    """A request body past its route's limit (refused while it was read)."""

    status_code = 413
    code = "payload_too_large"


class Unavailable(FangkongError):
    """A service the request needs stopped; sending it again may succeed."""

    status_code = 503
    code = "unavailable"


class Overloaded(Unavailable):
    """More work in flight than the server takes: refused at once, before any of its work;
    the same request may be sent again after ``retry_after_s`` seconds."""

    code = "overloaded"

    def __init__(self, *, retry_after_s: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_after_s = retry_after_s
