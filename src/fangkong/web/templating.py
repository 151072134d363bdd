"""Jinja2 templates with the i18n function, the CSRF token and the navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from fangkong import __version__, cases, dispatch
from fangkong.core import auth
from fangkong.core.i18n import translate
from fangkong.core.models import User

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

# (permission needed or None, translation key, path); later domains append their pages here.
NAVIGATION: list[tuple[str | None, str, str]] = [
    (None, "nav.map", "/"),
    (auth.READ_AREAS, "nav.areas", "/areas"),
    (auth.READ_AREAS, "nav.fusion", "/areas/fusion"),
    (auth.READ_AREAS, "nav.addresses", "/addresses"),
    (auth.READ_AUDIT, "nav.audit", "/audit"),
]
NAVIGATION[-1:-1] = cases.NAV  # the case pages before the audit log
NAVIGATION[-1:-1] = dispatch.NAV  # the incident board before the audit log

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["version"] = __version__


def render(
    request: Request,
    name: str,
    *,
    language: str,
    user: User | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    from fangkong.web.deps import csrf_token

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    nav = [
        (t(key), path)
        for permission, key, path in NAVIGATION
        if user is not None and (permission is None or auth.can(user, permission))
    ]
    return templates.TemplateResponse(
        request,
        name,
        {
            "t": t,
            "lang": language,
            "user": user,
            "nav": nav,
            "csrf_token": csrf_token(request),
            "zone": request.app.state.settings.zone,
            **context,
        },
        status_code=status_code,
    )
