"""Console pages of the shell: language switch, the command map, the audit log (the login's
steps and accounts: :mod:`fangkong.web.account_pages`)."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fangkong.core import audit, auth, permissions
from fangkong.core.config import LANGUAGES
from fangkong.dispatch import pages as dispatch_pages
from fangkong.dispatch import permissions as dispatch_perms
from fangkong.http.deps import (
    LANGUAGE_COOKIE,
    CurrentUser,
    DbSession,
    Language,
    UserScope,
    requires,
)
from fangkong.http.templating import render

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
def switch_language(code: str, request: Request) -> Response:
    target = _safe_next(
        request.headers.get("referer") and urlparse(request.headers["referer"]).path
    )
    response = RedirectResponse(target, status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax")
    return response


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
    )


@router.get("/audit", response_class=HTMLResponse, dependencies=[requires(permissions.READ_AUDIT)])
def audit_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    action: str | None = None,
) -> Response:
    events = audit.get_all(db, scope=scope, reader_id=user.id, action=action or None, limit=300)
    return render(
        request, "audit.html", language=language, user=user, events=events, action=action or ""
    )
