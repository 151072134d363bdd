"""An administrator resets a user's password in the console, in a real headless Chromium at
desktop width in Chinese: the form on the user's page, a password the policy refuses shown
beside it, the reset shown as "must change", and the user's login with the temporary password
landing on the change of password."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer
from fangkong.core.models import Role

pytestmark = pytest.mark.browser
TEMPORARY = "Temporary-Desk-2026"


def test_an_admin_resets_a_password_at_desktop_width(
    live_server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Browser, ViewportSize, expect

    assert isinstance(browser, Browser)
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the HTTP test covers PostgreSQL")
    with Session(live_server.engine) as session:
        add_user(session, username="rsb_admin", role=Role.ADMIN, area_code="T-D1")
        target = add_user(session, username="rsb_target", role=Role.VIEWER, area_code="T-D1-S1")
        session.commit()
        target_id = target.id
    base = live_server.base_url
    context = browser.new_context(locale="zh-CN", viewport=ViewportSize(width=1280, height=800))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    live_server.log_in(page, "rsb_admin")
    page.goto(f"{base}/users/{target_id}")
    expect(page.locator("#user-must-change")).to_have_text("否")
    form = page.locator("#password-form")
    expect(form).to_contain_text("重置密码")
    form.locator("input[name=password]").fill("short")
    form.locator("button[type=submit]").click()
    expect(page.locator("#password-form .error")).to_contain_text("密码")
    expect(page.locator("#user-must-change")).to_have_text("否")
    page.locator("#password-form input[name=password]").fill(TEMPORARY)
    page.locator("#password-form button[type=submit]").click()
    expect(page).to_have_url(f"{base}/users/{target_id}")
    expect(page.locator("#user-must-change")).to_have_text("是")
    assert errors == []
    context.close()

    other = browser.new_context(locale="zh-CN", viewport=ViewportSize(width=1280, height=800))
    login = other.new_page()
    login.goto(f"{base}/login")
    login.fill("input[name=username]", "rsb_target")
    login.fill("input[name=password]", TEMPORARY)
    login.click("button[type=submit]")
    expect(login).to_have_url(f"{base}/account/password")
    other.close()
