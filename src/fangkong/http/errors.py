"""The API's error answers, one shape for all: ``{"error", "message", "field", "detail"}``.

The app's exception handlers answer with them, and so does the intake's fast path
(:class:`fangkong.dispatch.fastpath.IntakeFastPath`), which runs outside the framework's handlers.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fangkong.core.errors import FangkongError, Unauthorized


def domain_error(exc: FangkongError) -> JSONResponse:
    """A domain error's answer; an unauthenticated one names the scheme to use, one to be
    sent again later says when (``Retry-After``, seconds)."""
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers or None)


def invalid_request(exc: RequestValidationError) -> JSONResponse:
    """A 422 naming every fault (field by its dotted path) and, in the message, the first."""
    faults = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
        for err in exc.errors()
    ]
    first = faults[0] if faults else {"field": None, "message": "invalid request"}
    return JSONResponse(
        {
            "error": "invalid_input",
            "message": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "detail": {"faults": faults},
        },
        status_code=422,
    )
