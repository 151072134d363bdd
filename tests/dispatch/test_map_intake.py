"""Intake from the command map (issue 18): a dispatcher clicks the map, the form opens at
that point with the nearest standard address offered, a pinyin prefix finds the address,
the pick fills its code and point, and the incident is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.dispatch.models import Incident

pytestmark = pytest.mark.browser


#: The layers of the map that are not points: a click on them still offers an intake there.
AREA_LAYERS = frozenset({"roads", "district", "station", "beat", "grid", "scope"})


def test_click_the_map_type_pinyin_pick_and_record(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    # off the grid's centre, where other tests on this server put their addresses and incidents
    centre_lon, centre_lat = grid_centre("T-D1-S1-B1-G1")
    lon, lat = centre_lon + 0.0011, centre_lat - 0.0007
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="map_intake") is None:
            auth.create(
                session,
                username="map_intake",
                display_name="接警员",
                password=TEST_PASSWORD,
                role=Role.STATION_OFFICER,
                area_codes=["T-D1-S1"],
                actor=SYSTEM,
            )
            area_service.create_address(
                session,
                code="MI-ZS-8",
                text_zh="中山路8号",
                text_en="8 Zhōngshān Road",
                lon=lon + 2e-4,
                lat=lat,
                actor=SYSTEM,
            )
            session.commit()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    live_server.log_in(page, "map_intake")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    at = page.evaluate(
        "([lon, lat]) => { const p = window.fangkongMap.project([lon, lat]);"
        " return { x: p.x, y: p.y }; }",
        [lon, lat],
    )
    # other tests on the shared server leave incidents and units at this grid's centre: hide
    # the point layers so the click lands on the map itself, as a dispatcher would
    # (every layer of points, those other domains add included: only the roads and the areas stay)
    boxes = page.locator("#layers input[type=checkbox]")
    for index in range(boxes.count()):
        box = boxes.nth(index)
        if box.get_attribute("data-layer") in AREA_LAYERS or not box.is_checked():
            continue
        box.uncheck()
    page.locator("#map canvas").click(position=at)
    link = page.locator(".maplibregl-popup a.intake-here")
    expect(link).to_be_visible(timeout=10_000)
    link.click()
    page.wait_for_url("**/incidents?lon=*")
    expect(page.locator("#intake")).to_have_attribute("open", "")
    picked_lon = float(page.input_value("#intake-form input[name=lon]"))
    picked_lat = float(page.input_value("#intake-form input[name=lat]"))
    assert abs(picked_lon - lon) < 1e-3 and abs(picked_lat - lat) < 1e-3
    expect(page.locator("#nearest-address")).to_contain_text("MI-ZS-8")

    page.fill("#address-search", "zhongs")
    choice = page.locator("#address-suggestions button[data-code='MI-ZS-8']")
    expect(choice).to_be_visible(timeout=10_000)
    choice.click()
    expect(page.locator("#intake-form input[name=address_code]")).to_have_value("MI-ZS-8")
    expect(page.locator("#address-search")).to_have_value("中山路8号")
    page.fill("#intake-form textarea[name=description]", "地图接警测试")
    page.click("#intake-form button[type=submit]")
    page.wait_for_url("**/incidents?created=*")
    with Session(live_server.engine) as session:
        incident = session.scalars(
            select(Incident).where(Incident.description == "地图接警测试")
        ).one()
        assert incident.lon == pytest.approx(lon + 2e-4, abs=1e-6)
        assert incident.area_path is not None
    assert errors == []
    context.close()
