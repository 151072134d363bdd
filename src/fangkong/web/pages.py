"""Console pages of the shell: language switch, the command map, the audit log (the login's
steps and accounts: :mod:`fangkong.web.account_pages`)."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from fangkong.cases import permissions as case_perms
from fangkong.core import auth, permissions
from fangkong.core.bounds import Text
from fangkong.core.config import LANGUAGES
from fangkong.core.errors import Unauthorized
from fangkong.core.i18n import translate
from fangkong.devices import permissions as device_perms
from fangkong.dispatch import pages as dispatch_pages
from fangkong.dispatch import permissions as dispatch_perms
from fangkong.events import permissions as event_perms
from fangkong.facilities import permissions as facility_perms
from fangkong.http import tables
from fangkong.http.deps import (
    LANGUAGE_COOKIE,
    CurrentUser,
    DbSession,
    Language,
    UserScope,
    requires,
    session_clock,
)
from fangkong.http.templating import render
from fangkong.materials import permissions as material_perms
from fangkong.web import audit_list

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not send the user to another host."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/lang/{code}")
def switch_language(code: Text, request: Request) -> Response:
    target = _safe_next(
        request.headers.get("referer") and urlparse(request.headers["referer"]).path
    )
    response = RedirectResponse(target, status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


def _session_answer(request: Request) -> JSONResponse:
    clock = session_clock(request)
    if clock is None:  # a bearer token's request: it has no console session
        raise Unauthorized(key="error.login.first")
    return JSONResponse(
        {"idle_left_s": clock.idle_left_s, "left_s": clock.left_s, "warn_s": clock.warn_s},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/session")
def session_state(request: Request, user: CurrentUser) -> Response:
    """How long the console session has left before its idle timeout and its absolute end
    (seconds). Asked with ``X-Fangkong-Background`` by the expiry warning, it keeps nothing
    alive; an ended session is sent to the login like any page."""
    return _session_answer(request)


@router.post("/session/refresh")
def session_refresh(request: Request, user: CurrentUser) -> Response:
    """Stay signed in: a request of the user's own, which restarts the idle timeout (the
    absolute end stays where the login put it)."""
    return _session_answer(request)


@router.get("/", response_class=HTMLResponse)
def command_map(request: Request, user: CurrentUser, language: Language) -> Response:
    # The live layer (incidents, units, posts) is for those who may read dispatch.
    live = auth.can(user, dispatch_perms.READ)
    return render(
        request,
        "map.html",
        language=language,
        user=user,
        live=live,
        live_labels=dispatch_pages.live_labels(language) if live else {},
        intake=auth.can(user, dispatch_perms.INTAKE),
        cases=auth.can(user, case_perms.READ),
        registers={
            "facilities": auth.can(user, facility_perms.READ),
            "devices": auth.can(user, device_perms.READ),
            "materials": auth.can(user, material_perms.READ),
            "events": auth.can(user, event_perms.READ),
        },
    )


@router.get("/audit", response_class=HTMLResponse, dependencies=[requires(permissions.READ_AUDIT)])
def audit_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """审计日志: the events you may see (your areas', your own, and to readers of the whole tree
    those of no area), filtered by action, record, user and days, sorted, in pages; with
    ``export=csv|xlsx`` the whole view as a file."""
    result = tables.view(
        request,
        db,
        audit_list.table(language),
        audit_list.base_select(db, scope=scope, reader_id=user.id),
        user=user,
        scope=scope,
        language=language,
        title=translate("audit.title", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "audit.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        readable=audit_list.readable,
    )
