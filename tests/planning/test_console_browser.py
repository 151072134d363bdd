"""The coverage page in a real headless Chromium at desktop width: compute, read the per-area
table, toggle a ring on the map."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.areas.models import StandardAddress
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.core.scoping import Scope
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import PostKind

pytestmark = pytest.mark.browser


def test_coverage_page_at_desktop_width(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="planner_cmd") is None:
            auth.create(
                session,
                username="planner_cmd",
                display_name="规划员",
                password=TEST_PASSWORD,
                role=Role.COMMANDER,
                area_codes=["T"],
                actor=SYSTEM,
            )
        if not dispatch_service.get_posts(session, scope=Scope(paths=("/",))):
            lon, lat = grid_centre("T-D1-S1-B1-G1")
            dispatch_service.create_post(
                session, code="BRP1", name="BRP1", kind=PostKind.STREET_POST, lon=lon, lat=lat,
                actor=SYSTEM,
            )  # fmt: skip
        if (
            session.scalar(select(StandardAddress.id).where(StandardAddress.code == "BR000"))
            is None
        ):
            area_service.import_addresses(
                session,
                rows=[
                    area_service.AddressRow(f"BR{i:03d}", f"浏览器路{i}号", "", *grid_centre(g))
                    for i, g in enumerate(["T-D1-S1-B1-G2", "T-D1-S2-B1-G1", "T-D2-S1-B2-G2"])
                ],
                actor=SYSTEM,
            )
        session.commit()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    live_server.log_in(page, "planner_cmd")
    page.click("nav.nav >> text=规划")
    expect(page.locator("h1")).to_have_text("警务站覆盖分析")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.click("#coverage-form button[type=submit]")
    expect(page.locator("#coverage-table tbody tr").first).to_be_visible(timeout=30_000)
    expect(page.locator("#map")).to_have_attribute("data-planning", "ready", timeout=30_000)
    # the county's row first, with a share for each ring
    first = page.locator("#coverage-table tbody tr").first
    expect(first).to_have_attribute("data-code", "T")
    assert first.locator("td").count() == 5
    demand = page.evaluate("window.fangkongMap.querySourceFeatures('pl-demand').length")
    assert demand > 0
    page.uncheck("input[data-ring='beyond']")
    shown = page.evaluate("JSON.stringify(window.fangkongMap.getFilter('pl-demand'))")
    assert "beyond" not in shown
    # the side column and the map sit side by side at desktop width
    side = page.locator("#planning").bounding_box()
    canvas = page.locator("#map canvas").bounding_box()
    assert side is not None and canvas is not None
    assert canvas["x"] >= side["x"] + side["width"] - 1 and canvas["width"] > 700
    if os.environ.get("FANGKONG_SCREENSHOTS"):
        page.screenshot(path=os.environ["FANGKONG_SCREENSHOTS"].replace(".png", "-coverage.png"))
    assert errors == []
    context.close()
