"""The API's error answers, one shape for all: ``{"error", "message", "field", "detail"}``.

``message`` is English and ``code`` stable, for programs; a request from the console (a logged-in
browser session or one with a language chosen) also gets ``text``, the message in its reader's
language, so that the console's scripts never show an English sentence on a Chinese page.

The app's exception handlers answer with them, and so does the intake's fast path
(:class:`fangkong.dispatch.fastpath.IntakeFastPath`), which runs outside the framework's handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from fangkong.core.errors import FangkongError, Unauthorized
from fangkong.core.i18n import translate
from fangkong.http.forms import fault_text


class ErrorOut(BaseModel):
    """What every refusal answers: the kind of error, its message (English), the field at
    fault; a domain error's stable code and values; the faults of a request's shape."""

    error: str = Field(description="The kind: invalid_input, not_found, forbidden, ...")
    message: str
    code: str | None = Field(default=None, description="A stable code of the message")
    params: dict[str, Any] | None = Field(default=None, description="The message's values")
    field: str | None = Field(default=None, description="The field at fault (dotted path)")
    detail: dict[str, Any] | None = None
    text: str | None = Field(
        default=None, description="The message in the console reader's language (console only)"
    )


#: The refusals every operation may answer (the app's ``responses``): any 4xx (unknown or
#: refused credential, a role without the permission, a record not found or out of your
#: areas, a conflict, a body past its limit, invalid input), and 503 (overloaded, or a
#: writer restarting: send again, after ``Retry-After``), all as :class:`ErrorOut`.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "Refused: the error and its reason"},
    503: {
        "model": ErrorOut,
        "description": "Overloaded or restarting: send again after Retry-After seconds",
    },
}


def domain_error(exc: FangkongError, *, language: str | None = None) -> JSONResponse:
    """A domain error's answer (with its ``text`` in ``language`` when given); an
    unauthenticated one names the scheme to use, one to be sent again later says when
    (``Retry-After``, seconds)."""
    body = exc.to_dict()
    if language is not None:
        body["text"] = exc.text(language)
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=exc.status_code, headers=headers or None)


def invalid_request(exc: RequestValidationError, *, language: str | None = None) -> JSONResponse:
    """A 422 naming every fault (field by its dotted path) and, in the message, the first
    (in ``text`` too, in ``language`` when given)."""
    errors = list(exc.errors())
    faults = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
        for err in errors
    ]
    first = faults[0] if faults else {"field": None, "message": "invalid request"}
    body: dict[str, Any] = {
        "error": "invalid_input",
        "message": f"{first['field']}: {first['message']}",
        "field": first["field"],
        "detail": {"faults": faults},
    }
    if language is not None:
        fault = (
            fault_text(errors[0], language) if errors else translate("error.form.invalid", language)
        )
        body["text"] = f"{first['field']}: {fault}" if first["field"] else fault
    return JSONResponse(body, status_code=422)
