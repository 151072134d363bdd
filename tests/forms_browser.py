"""Shared steps of the browser tests of the console's record forms (facilities, devices,
holders and sites): a user of a role in an area, a page in a language at a viewport, a
fault read beside its field, and the page checked for sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
#: Each language and viewport a form is tried at.
RUNS = (("zh-CN", PHONE), ("en", PHONE), ("zh-CN", DESKTOP), ("en", DESKTOP))


def ensure_user(server: LiveServer, username: str, role: Role, area: str) -> None:
    with Session(server.engine) as session:
        if auth.get_by_username(session, username=username) is None:
            auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=role,
                area_codes=[area],
                actor=SYSTEM,
            )
            session.commit()


@contextmanager
def console_page(
    browser: Any, server: LiveServer, username: str, language: str, viewport: dict[str, int]
) -> Iterator[Any]:
    """A logged-in page in ``language`` at ``viewport``; no script error may happen on it."""
    context = browser.new_context(locale=language, viewport=viewport)
    context.add_cookies([{"name": "fangkong_lang", "value": language, "url": server.base_url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        server.log_in(page, username)
        yield page
        assert errors == [], errors
    finally:
        context.close()


def fault_of(page: Any, name: str) -> Any:
    """The fault shown beside the field ``name`` (a locator)."""
    return page.locator(f'[data-field="{name}"] [data-error-for="{name}"]')


def no_sideways_scroll(page: Any, what: str) -> None:
    wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
    assert not wide, f"{what}: the page scrolls sideways"
