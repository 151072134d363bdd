"""The API's error answers, one shape for all: ``{"error", "message", "field", "detail"}``.

The app's exception handlers answer with them, and so does the intake's fast path
(:class:`fangkong.dispatch.fastpath.IntakeFastPath`), which runs outside the framework's handlers.
"""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fangkong.core.errors import FangkongError, Unauthorized


def domain_error(exc: FangkongError) -> JSONResponse:
    """A domain error's answer; an unauthenticated one names the scheme to use."""
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=headers)


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
