"""Pages rendered with the i18n function, the CSRF token and the navigation.

The kit knows no template folder and no page: the app's wiring (``fangkong.web.app``) puts the
Jinja2 environment in ``app.state.templates`` and the navigation, gathered from the domains, in
``app.state.navigation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from fangkong.core import auth
from fangkong.core.i18n import translate
from fangkong.core.models import User
from fangkong.http.deps import csrf_token

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
    """The template ``name`` as a page in ``language``, with the user's navigation."""

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

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
            "lang": language,
            "user": user,
            "nav": nav,
            "csrf_token": csrf_token(request),
            "zone": request.app.state.settings.zone,
            **context,
        },
        status_code=status_code,
    )
