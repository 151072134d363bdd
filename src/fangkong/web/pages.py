"""Console pages of the shell: login, logout, language switch, the command map, the audit log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fangkong.core import audit, auth, permissions
from fangkong.core.config import LANGUAGES
from fangkong.core.errors import Unauthorized
from fangkong.dispatch import pages as dispatch_pages
from fangkong.dispatch import permissions as dispatch_perms
from fangkong.http.deps import (
    LANGUAGE_COOKIE,
    CurrentUser,
    DbSession,
    Language,
    UserScope,
    check_csrf,
    client_address,
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


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, language: Language, next: str | None = None) -> Response:
    return render(request, "login.html", language=language, next=_safe_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    db: DbSession,
    language: Language,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    await check_csrf(request)
    try:
        user = auth.authenticate(
            db, username=username, password=password, client=client_address(request)
        )
    except Unauthorized:
        # Returning (not raising) lets the request's transaction keep the failed-login audit row.
        return render(
            request,
            "login.html",
            language=language,
            next=_safe_next(next),
            failed=True,
            status_code=401,
        )
    csrf = request.session.get("csrf_token")
    request.session.clear()
    request.session["user_id"] = user.id
    if csrf:
        request.session["csrf_token"] = csrf
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
async def logout(request: Request, user: CurrentUser) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


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
