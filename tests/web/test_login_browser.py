"""The login's security in a real headless Chromium (issue 16): the lockout's message in both
languages, the one-time code step, the enrolment of a second factor at the first login, and the
account pages at phone width."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, running_server
from fangkong.core import auth, login, totp
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    with running_server(
        backend,
        tmp_path_factory.mktemp("login-browser"),
        "_login_browser",
        intake_writer="thread",
        second_factor_roles=["admin", "commander"],
    ) as live:
        yield live


def _user(server: LiveServer, username: str, role: Role, *, enrolled: bool = False) -> str | None:
    """Create ``username``; with ``enrolled``, a second factor too (its secret)."""
    with Session(server.engine) as session:
        user = auth.create(
            session,
            username=username,
            display_name=username,
            password=TEST_PASSWORD,
            role=role,
            area_codes=["T"],
            actor=SYSTEM,
        )
        secret = None
        if enrolled:
            cipher = FieldCipher(server.settings.ensure_secret_key())
            enrolment = login.begin_enrolment(session, user=user, cipher=cipher)
            secret = enrolment.secret
            code = totp.totp(totp.key_of(secret), time.time() - 30)  # the step before
            login.confirm_enrolment(session, user=user, code=code, cipher=cipher, actor=SYSTEM)
        session.commit()
    return secret


def _fits(page: object) -> bool:
    """Nothing wider than the window: no sideways scrolling at phone width."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _password_step(page: object, server: LiveServer, username: str, password: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{server.base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_the_lockout_message_in_both_languages(server: LiveServer, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    _user(server, "b_locked", Role.STATION_OFFICER)
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    for _ in range(5):
        _password_step(page, server, "b_locked", "wrong password")
        expect(page.locator(".error")).to_have_text("用户名或密码错误")
    _password_step(page, server, "b_locked", TEST_PASSWORD)
    expect(page.locator(".error")).to_contain_text("登录失败次数过多")
    expect(page.locator(".error")).to_contain_text("管理员解锁")
    assert _fits(page)
    page.click("#lang-switch")
    _password_step(page, server, "b_locked", TEST_PASSWORD)
    expect(page.locator(".error")).to_contain_text("too many failed logins for this username")
    assert page.url.endswith("/login")
    context.close()


def test_the_one_time_code_step(server: LiveServer, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    secret = _user(server, "b_boss", Role.ADMIN, enrolled=True)
    assert secret is not None
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _password_step(page, server, "b_boss", TEST_PASSWORD)
    expect(page).to_have_url(f"{server.base_url}/login/code")
    expect(page.locator("h1")).to_have_text("动态验证码")
    assert _fits(page)
    page.fill("input[name=code]", "000000")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("动态验证码")
    page.fill("input[name=code]", totp.totp(totp.key_of(secret), time.time()))
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.base_url}/")
    expect(page.locator(".nav")).to_contain_text("用户管理")

    # The account and the users' pages fit a phone, in both languages.
    for language, heading in (("zh-CN", "我的账号"), ("en", "My account")):
        if language == "en":
            page.click("#lang-switch")
        page.goto(f"{server.base_url}/account")
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator("#second-factor")).to_contain_text(
            "已绑定" if language == "zh-CN" else "Enrolled"
        )
        assert _fits(page), language
        page.goto(f"{server.base_url}/users")
        expect(page.locator("tr[data-user=b_boss]")).to_be_visible()
        assert _fits(page), language
    assert errors == []
    context.close()


def test_an_admin_enrols_at_the_first_login(server: LiveServer, browser: object) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    _user(server, "b_newboss", Role.COMMANDER)
    context = browser.new_context(locale="en", viewport=PHONE)
    page = context.new_page()
    page.goto(f"{server.base_url}/lang/en")
    _password_step(page, server, "b_newboss", TEST_PASSWORD)
    expect(page).to_have_url(f"{server.base_url}/login/enrol")
    expect(page.locator("h1")).to_have_text("Set up a second factor")
    secret = page.locator("code.secret").get_attribute("data-secret")
    assert secret
    assert (page.locator("a.otpauth").get_attribute("href") or "").startswith("otpauth://totp/")
    assert _fits(page)
    page.fill("input[name=code]", totp.totp(totp.key_of(secret), time.time()))
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.base_url}/")
    page.goto(f"{server.base_url}/account")
    expect(page.locator("#second-factor")).to_contain_text("Enrolled")
    context.close()
