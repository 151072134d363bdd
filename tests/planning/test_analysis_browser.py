"""The Planning II page in a real headless Chromium: beats drawn on the map with their table,
hotspots and deployment computed; no script error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, activate_street_grid, running_server
from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.dispatch import units as dispatch_units
from fangkong.dispatch.models import PostKind, UnitType
from planning.planning_two_helpers import add_incidents

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: adopting the beats rewrites its area tree (issue 21)."""
    if backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    with running_server(backend, tmp_path_factory.mktemp("p2-browser"), "_p2_browser") as live:
        activate_street_grid(live)
        rng = np.random.default_rng(5)
        start = datetime.now(UTC) - timedelta(days=60)
        with Session(live.engine) as session:
            add_incidents(
                session, rng.uniform(120.003, 120.157, 200), rng.uniform(30.003, 30.077, 200),
                [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 56, 200)],
            )  # fmt: skip
            # one station with a post and a unit: its deployment has a heat table
            beat = session.scalars(select(Area).where(Area.code == "T-D2-S1-B2")).one()
            lon, lat = grid_centre("T-D2-S1-B2-G1")
            post = dispatch_units.create_post(
                session, code="P2B1", name="p", kind=PostKind.POLICE_POST, lon=lon, lat=lat,
                actor=SYSTEM,
            )  # fmt: skip
            dispatch_units.create_unit(
                session, call_sign="P2B-U1", unit_type=UnitType.CAR, home_area=beat,
                actor=SYSTEM, home_post=post,
            )  # fmt: skip
            session.commit()
        yield live


def test_analysis_page(live_server: LiveServer, browser: object) -> None:
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
    # stations, then districts (drawn, not adopted), each under its level's heading
    expect(page.locator("#beats-form optgroup[label=区县] option[value=T-D1]")).to_have_count(1)
    page.select_option("#beats-form select[name=area_code]", "T-D1-S2")
    page.click("#beats-form button[type=submit]")
    expect(page.locator("#planning2-detail tbody tr")).to_have_count(2, timeout=60_000)
    expect(page.locator("#planning2-status")).to_have_text("完成")
    page.wait_for_function("() => window.fangkongMap.getSource('p2-beats') !== undefined")
    assert page.evaluate("window.fangkongMap.getLayer('p2-beats') !== undefined")
    expect(page.locator("#planning2-adopt")).to_be_visible()
    page.click("#planning2-adopt")
    # the beats are written into the tree, and the status says what moved
    expect(page.locator("#planning2-status")).to_contain_text(
        "已采纳：新建巡区 2 个", timeout=30_000
    )
    expect(page.locator("#planning2-status")).to_contain_text("调整网格 4 个")
    page.click("[data-tab=hotspots]")
    page.click("#hotspots-form button[type=submit]")
    expect(page.locator("#planning2-status")).to_have_text("完成", timeout=120_000)
    expect(page.locator("#planning2-summary strong").first).to_be_visible()
    # Gi* over road segments: its figures, its table and the segments drawn as lines by class
    expect(page.locator("#planning2-summary")).to_contain_text("冷点路段")
    expect(page.locator("#planning2-detail h2").first).to_contain_text("热点路段")
    page.wait_for_function("() => window.fangkongMap.getLayer('p2-segments') !== undefined")
    assert page.evaluate("window.fangkongMap.getLayer('p2-segments').type") == "line"
    assert (
        page.evaluate(
            "JSON.stringify(window.fangkongMap.getPaintProperty('p2-segments', 'line-color'))"
        ).count('"class"')
        == 2
    )
    # the density bands are a layer of their own
    assert page.evaluate("window.fangkongMap.getLayer('p2-density').type") == "fill"
    page.click("[data-tab=deployment]")
    page.click("#deployment-form button[type=submit]")
    expect(page.locator("#planning2-status")).to_have_text("完成", timeout=120_000)
    # a week x hour heat table per station, and the stations' precincts on the map
    expect(page.locator(".planning2-heat").first).to_be_visible()
    expect(page.locator(".planning2-heat").first.locator("tbody tr")).to_have_count(7)
    page.wait_for_function("() => window.fangkongMap.getLayer('p2-stations') !== undefined")
    assert page.evaluate("window.fangkongMap.getLayer('p2-segments') === undefined")
    expect(page.locator("#planning2-exports")).to_be_visible()
    assert errors == []
    context.close()
