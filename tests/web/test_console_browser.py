"""The console in a real headless Chromium: log in, switch language, see the county on the map."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

pytestmark = pytest.mark.browser


def test_login_switch_language_and_see_areas(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="console_station") is None:
            auth.create(
                session,
                username="console_station",
                display_name="派出所民警甲",
                password=TEST_PASSWORD,
                role=Role.STATION_OFFICER,
                area_codes=["T-D1-S1"],
                actor=SYSTEM,
            )
            session.commit()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.base_url}/")
    expect(page).to_have_url(f"{live_server.base_url}/login?next=/")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("input[name=username]", "console_station")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_have_text("用户名或密码错误")
    page.fill("input[name=username]", "console_station")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")

    expect(page.locator(".nav")).to_contain_text("实战地图")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    # A station officer of T-D1-S1 sees their station, 2 beats and 4 grids: 7 areas.
    expect(page.locator("#map")).to_have_attribute("data-areas", "7")
    drawn = page.evaluate("""() => {
        const map = window.fangkongMap;
        return {
            station: map.querySourceFeatures('station').length > 0,
            beat: map.querySourceFeatures('beat').length > 0,
            scope: document.getElementById('map').dataset.scope,
            canvas: !!document.querySelector('#map canvas'),
        };
    }""")
    assert drawn == {"station": True, "beat": True, "scope": "T-D1-S1", "canvas": True}

    # Double-click the map: the 1/3/5-minute rings of that point by road.
    page.locator("#map canvas").dblclick()
    expect(page.locator("#map")).to_have_attribute("data-rings", "300,180,60", timeout=30_000)

    page.click("#lang-switch")
    expect(page.locator(".nav")).to_contain_text("Command map")
    expect(page.locator("#layers h2")).to_have_text("Layers")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.uncheck("input[data-layer=beat]")
    assert page.evaluate("window.fangkongMap.getLayoutProperty('beat', 'visibility')") == "none"

    page.click("text=Areas and grids")
    expect(page.locator("h1")).to_have_text("Areas and grids")
    expect(page.locator("table tbody tr")).to_have_count(7)
    # The entries that do not fit on the bar's one line are in its "more" menu.
    docs = page.locator("#main-nav a[href='/docs']")
    if not docs.is_visible():
        page.click(".nav-more summary")
    docs.click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("fangkong", timeout=30_000)
    if os.environ.get("FANGKONG_SCREENSHOTS"):
        page.goto(f"{live_server.base_url}/")
        expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
        page.screenshot(path=os.environ["FANGKONG_SCREENSHOTS"])
    assert errors == []
    context.close()
