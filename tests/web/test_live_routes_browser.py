"""The live command map in a real headless Chromium: clicking an open incident draws the road
routes of the units the recommender would send, in the colour of the ring each meets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, activate_street_grid, running_server
from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.core import auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.db import utcnow
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service
from fangkong.dispatch.models import Priority, Source, UnitType

pytestmark = pytest.mark.browser
ACTOR = Actor(user_id=None, username="seed", client="test")


@pytest.fixture(scope="module")
def routes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server("sqlite", tmp_path_factory.mktemp("live-routes"), "_routes") as server:
        activate_street_grid(server)
        with Session(server.engine) as session:
            auth.create(
                session,
                username="commander",
                display_name="指挥长",
                password=TEST_PASSWORD,
                role=Role.COMMANDER,
                area_codes=["T"],
                actor=SYSTEM,
            )
            auth.create(
                session,
                username="watcher",
                display_name="值班员",
                password=TEST_PASSWORD,
                role=Role.VIEWER,
                area_codes=["T"],
                actor=SYSTEM,
            )
            session.commit()
        yield server


def _seed(server: LiveServer) -> tuple[int, float, float]:
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    with Session(server.engine) as session:
        station = session.scalars(select(Area).where(Area.code == "T-D1-S1")).one()
        for n, (dx, dy, kind) in enumerate(
            [
                (0.003, 0.0, UnitType.CAR),
                (-0.01, 0.006, UnitType.MOTORCYCLE),
                (0.002, -0.002, UnitType.FOOT),
            ]
        ):
            unit = service.create_unit(
                session, call_sign=f"RT{n}", unit_type=kind, home_area=station, actor=ACTOR
            )
            service.report_position(session, unit=unit, lon=lon + dx, lat=lat + dy, now=utcnow())
        incident, _ = service.create(
            session,
            key="routes-1",
            data=service.IncidentIn(
                category="public_order",
                subtype="fight",
                priority=Priority.P1,
                source=Source.CALL,
                lon=lon,
                lat=lat,
            ),
            actor=ACTOR,
            now=utcnow(),
            cipher=FieldCipher("k" * 40),
        )
        session.commit()
        return incident.id, lon, lat


def _open_map(browser: object, server: LiveServer, username: str) -> object:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_context(locale="zh-CN").new_page()
    server.log_in(page, username)
    the_map = page.locator("#map")
    expect(the_map).to_have_attribute("data-live", "connected", timeout=30_000)
    expect(the_map).to_have_attribute("data-ready", "true", timeout=30_000)
    return page


def _click_at(page: object, lon: float, lat: float) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.evaluate(f"window.fangkongMap.jumpTo({{center: [{lon}, {lat}], zoom: 15}})")
    page.wait_for_function("() => window.fangkongMap.loaded() && !window.fangkongMap.isMoving()")
    # wait until the incident is drawn where it will be clicked
    page.wait_for_function(f"""() => window.fangkongMap.queryRenderedFeatures(
        window.fangkongMap.project([{lon}, {lat}]), {{layers: ['incidents']}}).length > 0""")
    point = page.evaluate(f"window.fangkongMap.project([{lon}, {lat}])")
    box = page.locator("#map canvas").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def test_clicking_an_incident_draws_the_suggested_units_routes(
    routes_server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Page, expect

    incident_id, lon, lat = _seed(routes_server)
    page = _open_map(browser, routes_server, "commander")
    assert isinstance(page, Page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _click_at(page, lon, lat)
    the_map = page.locator("#map")
    expect(the_map).to_have_attribute("data-routes", "3", timeout=15_000)
    drawn = page.evaluate("""async () => (await window.fangkongMap.getSource('routes')
        .getData()).features.map((f) => [f.properties.rank, f.properties.call_sign,
                                         f.properties.ring, f.geometry.coordinates.length])""")
    assert [d[0] for d in sorted(drawn)] == [1, 2, 3]
    assert {d[1] for d in drawn} == {"RT0", "RT1", "RT2"}
    assert all(d[2] in ("1min", "3min", "5min", "beyond") and d[3] >= 2 for d in drawn)
    # the same ranking as the API: the car next door first, the foot patrol walks
    with routes_server.client(routes_server.admin_token()) as api:
        ranked = api.get(
            f"/api/v1/incidents/{incident_id}/recommendation", params={"limit": 3}
        ).json()["candidates"]
    assert [(c["rank"], c["call_sign"]) for c in ranked] == sorted((d[0], d[1]) for d in drawn)
    popup = page.locator(".maplibregl-popup")
    expect(popup).to_contain_text("建议出警力量")
    expect(popup).to_contain_text(ranked[0]["call_sign"])
    assert errors == []


def test_a_viewer_sees_the_incident_without_routes(
    routes_server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Page, expect

    lon, lat = grid_centre("T-D1-S1-B1-G1")
    page = _open_map(browser, routes_server, "watcher")
    assert isinstance(page, Page)
    _click_at(page, lon, lat)
    expect(page.locator("#map")).to_have_attribute("data-routes", "0", timeout=15_000)
    expect(page.locator(".maplibregl-popup")).to_contain_text("P1")
