"""Pages rendered with the i18n function, the CSRF token and the navigation.

The kit knows no template folder and no page: the app's wiring (``fangkong.web.app``) puts the
Jinja2 environment in ``app.state.templates`` and the navigation, gathered from the domains, in
``app.state.navigation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from fangkong.core import auth
from fangkong.core.i18n import translate
from fangkong.core.models import User
from fangkong.http.dates import Style, format_moment
from fangkong.http.deps import csrf_token, session_clock

#: A navigation entry: the permission needed (None: every user), its translation key, its path.
NavEntry = tuple[str | None, str, str]


def render(
    request: Request,
    name: str,
    *,
    language: str,
    user: User | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The template ``name`` as a page in ``language``, with the user's navigation.

    Templates translate with ``t(key, **values)`` and show every date and time with
    ``when(moment, style)`` (:func:`fangkong.http.dates.format_moment`: the reader's
    language, the configured zone).
    """
    zone = request.app.state.settings.zone

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    def when(moment: datetime | date | str | None, style: Style = "datetime") -> str:
        return format_moment(moment, language=language, zone=zone, style=style)

    templates: Jinja2Templates = request.app.state.templates
    navigation: Sequence[NavEntry] = request.app.state.navigation
    nav = [
        (t(key), path)
        for permission, key, path in navigation
        if user is not None and (permission is None or auth.can(user, permission))
    ]
    return templates.TemplateResponse(
        request,
        name,
        {
            "t": t,
            "when": when,
            "lang": language,
            "user": user,
            "nav": nav,
            "csrf_token": csrf_token(request),
            "zone": zone,
            "session_clock": session_clock(request) if user is not None else None,
            **context,
        },
        status_code=status_code,
    )
