"""The Planning II page in a real headless Chromium: beats drawn on the map with their table,
hotspots and deployment computed; no script error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

pytestmark = pytest.mark.browser


def test_analysis_page(live_server: LiveServer, live_network: Path, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="planner_two") is None:
            auth.create(
                session, username="planner_two", display_name="规划员二", password=TEST_PASSWORD,
                role=Role.COMMANDER, area_codes=["T"], actor=SYSTEM,
            )  # fmt: skip
        session.commit()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    live_server.log_in(page, "planner_two")
    page.goto(live_server.base_url + "/planning/analysis")
    expect(page.locator("h1")).to_have_text("警情热点、潮汐用警与巡区划分")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.click("[data-tab=beats]")
    expect(page.locator("#beats-form")).to_be_visible()
    page.select_option("#beats-form select[name=area_code]", "T-D1-S2")
    page.click("#beats-form button[type=submit]")
    expect(page.locator("#planning2-detail tbody tr")).to_have_count(2, timeout=60_000)
    expect(page.locator("#planning2-status")).to_have_text("完成")
    page.wait_for_function("window.fangkongMap.getSource('p2-beats') !== undefined")
    assert page.evaluate("window.fangkongMap.getLayer('p2-beats') !== undefined")
    expect(page.locator("#planning2-adopt")).to_be_visible()
    page.click("#planning2-adopt")
    expect(page.locator("#planning2-status")).to_have_text("已采纳", timeout=30_000)
    page.click("[data-tab=hotspots]")
    page.click("#hotspots-form button[type=submit]")
    expect(page.locator("#planning2-status")).to_have_text("完成", timeout=120_000)
    expect(page.locator("#planning2-summary strong").first).to_be_visible()
    page.click("[data-tab=deployment]")
    page.click("#deployment-form button[type=submit]")
    expect(page.locator("#planning2-status")).to_have_text("完成", timeout=120_000)
    expect(page.locator("#planning2-exports")).to_be_visible()
    assert errors == []
    context.close()
