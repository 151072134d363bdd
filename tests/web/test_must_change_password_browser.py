"""The first login of a user whose password an administrator gave, in a real headless Chromium
at phone width in Chinese: the login lands on the change of password, another page leads back
there, a wrong current password is refused in Chinese, and the change opens the console."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from conftest import LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

pytestmark = pytest.mark.browser
GIVEN = "Given-By-Admin-Phone"
CHOSEN = "Chosen-On-My-Phone-1"


def _fits(page: object) -> bool:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_the_first_login_changes_the_password_at_phone_width(
    live_server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Browser, ViewportSize, expect

    assert isinstance(browser, Browser)
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the HTTP test covers PostgreSQL")
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="mcp_phone") is None:
            auth.create(
                session,
                username="mcp_phone",
                display_name="手机用户",
                password=GIVEN,
                role=Role.STATION_OFFICER,
                area_codes=["T-D1-S1"],
                actor=SYSTEM,
                must_change_password=True,
            )
            session.commit()
    base = live_server.base_url
    context = browser.new_context(locale="zh-CN", viewport=ViewportSize(width=390, height=844))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "mcp_phone")
    page.fill("input[name=password]", GIVEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/account/password")
    expect(page.locator("#password-change h1")).to_have_text("修改密码")
    expect(page.locator("#password-change .hint").first).to_contain_text("管理员")
    assert _fits(page)

    page.goto(f"{base}/facilities")
    expect(page).to_have_url(f"{base}/account/password")

    page.fill("input[name=current_password]", "not-the-one")
    page.fill("input[name=new_password]", CHOSEN)
    page.click("#password-change button[type=submit]")
    expect(page.locator("#password-change .error")).to_contain_text("当前密码")
    assert _fits(page)

    page.fill("input[name=current_password]", GIVEN)
    page.fill("input[name=new_password]", CHOSEN)
    page.click("#password-change button[type=submit]")
    expect(page).to_have_url(f"{base}/")
    page.goto(f"{base}/facilities")
    expect(page).to_have_url(f"{base}/facilities")
    assert errors == []
    context.close()
