"""The dispatch console in a real headless Chromium: record an incident with the form and
dispatch a unit; the live command map with 500 open incidents and 300 units, updated by
Server-Sent Events without a reload."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, activate_street_grid, running_server
from factories import EAST, NORTH, SOUTH, WEST, grid_centre
from fangkong.areas.models import Area
from fangkong.core import auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.db import utcnow
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service
from fangkong.dispatch.models import PostKind, Priority, Source, UnitType

pytestmark = pytest.mark.browser
ACTOR = Actor(user_id=None, username="seed", client="test")


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Its own county and street grid: what these tests add stays out of the shared server."""
    with running_server("sqlite", tmp_path_factory.mktemp("console-live"), "_live") as server:
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
            session.commit()
        yield server


def test_record_an_incident_and_dispatch_a_unit(
    console_server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    with Session(console_server.engine) as session:
        beat = session.scalars(select(Area).where(Area.code == "T-D1-S1-B1")).one()
        unit = service.create_unit(
            session, call_sign="巡01", unit_type=UnitType.CAR, home_area=beat, actor=ACTOR
        )
        service.report_position(session, unit=unit, lon=lon + 0.004, lat=lat, now=utcnow())
        session.commit()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    console_server.log_in(page, "commander")
    page.goto(f"{console_server.base_url}/incidents")
    page.click("text=接警登记")
    page.select_option("select[name=kind]", "public_order/fight")
    page.select_option("select[name=priority]", "P1")
    page.fill("input[name=lon]", "not a number")
    page.fill("input[name=lat]", str(lat))
    page.click("#intake-form button[type=submit]")
    # The fault named in the reader's language, what was typed kept.
    expect(page.locator("#intake-form .error")).to_contain_text("经纬度")
    expect(page.locator("#intake-form .error")).to_contain_text("not a number")
    page.fill("input[name=lon]", str(lon))
    page.fill("textarea[name=description]", "两人在路口打架")
    page.click("#intake-form button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("已登记警情")
    row = page.locator("#incident-rows tr[data-incident]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("P1")
    page.reload()  # the form was answered with a redirect: a reload records nothing twice
    expect(page.locator("#incident-rows tr[data-incident]")).to_have_count(1)

    row.locator("button").click()
    panel = page.locator("#recommendation")
    expect(panel.locator("#candidates")).to_contain_text("巡01")
    panel.locator("button[type=submit]").click()
    expect(panel.locator("#dispatched")).to_contain_text("巡01")
    expect(page.locator("#incident-rows tr[data-incident]")).to_contain_text(
        "已派警", timeout=10_000
    )
    # The detail page: the unit arrives, the incident is cleared and closed.
    row.locator("a").click()
    expect(page.locator("#assignments")).to_contain_text("巡01")
    page.click("#assignments button")
    expect(page.locator("#incident-status")).to_have_text("到场")
    page.click("#move-form button[value=cleared]")
    expect(page.locator("#incident-status")).to_have_text("处置完毕")
    page.click("#move-form button[value=closed]")
    expect(page.locator("#incident-status")).to_have_text("已结案")
    expect(page.locator("#timeline li")).to_have_count(5)
    with Session(console_server.engine) as session:
        incidents = service.get_all(session, scope=_everything(session))[1]
        assert len(incidents) == 1
        assert [a.unit.call_sign for a in incidents[0].assignments] == ["巡01"]
        assert incidents[0].assignments[0].arrived_at is not None
    assert errors == []
    context.close()


def _everything(session: Session) -> object:
    from fangkong.core.scoping import Scope

    return Scope(paths=(session.scalars(select(Area.path).where(Area.code == "T")).one(),))


def _seed(server: LiveServer, *, incidents: int, units: int, posts: int) -> None:
    rng = random.Random(7)
    now = utcnow()
    categories = [
        ("criminal", "theft"),
        ("public_order", "noise"),
        ("traffic", "collision"),
        ("dispute", "neighbour"),
    ]

    def point() -> tuple[float, float]:
        return (rng.uniform(WEST + 0.002, EAST - 0.002), rng.uniform(SOUTH + 0.002, NORTH - 0.002))

    with Session(server.engine) as session:
        station = session.scalars(select(Area).where(Area.code == "T-D1-S1")).one()
        for n in range(posts):
            lon, lat = point()
            service.create_post(
                session,
                code=f"PP-{n:02d}",
                name=f"警务站{n}",
                kind=PostKind.STREET_POST,
                lon=lon,
                lat=lat,
                actor=ACTOR,
            )
        for n in range(units):
            unit = service.create_unit(
                session,
                call_sign=f"U{n:03d}",
                unit_type=UnitType.CAR,
                home_area=station,
                actor=ACTOR,
            )
            lon, lat = point()
            service.report_position(session, unit=unit, lon=lon, lat=lat, now=now)
        cipher = FieldCipher("k" * 40)
        for n in range(incidents):
            lon, lat = point()
            category, subtype = categories[n % len(categories)]
            data = service.IncidentIn(
                category=category,
                subtype=subtype,
                priority=Priority(f"P{n % 4 + 1}"),
                source=Source.CALL,
                lon=lon,
                lat=lat,
            )
            # Received over the last hour: some P1/P2 have passed their rings.
            service.create(
                session,
                key=f"seed-{n}",
                data=data,
                actor=ACTOR,
                now=now - timedelta(seconds=rng.uniform(0, 3600)),
                cipher=cipher,
            )
        session.commit()


def test_live_map_with_500_incidents_and_300_units(
    console_server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(console_server.engine) as session:
        already = len(
            service.get_all(
                session,
                scope=_everything(session),
                filters=service.IncidentFilter(open=True),
                limit=10_000,
            )[1]
        )
        units_before = len(service.get_units(session, scope=_everything(session)))
    _seed(console_server, incidents=500, units=300, posts=12)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    console_server.log_in(page, "commander")
    the_map = page.locator("#map")
    expect(the_map).to_have_attribute("data-live", "connected", timeout=30_000)
    expect(the_map).to_have_attribute("data-live-incidents", str(500 + already), timeout=30_000)
    expect(the_map).to_have_attribute("data-live-units", str(300 + units_before))
    expect(the_map).to_have_attribute("data-live-posts", "12")
    expect(page.locator("#live-board li")).to_have_count(500 + already)
    # P1/P2 incidents received up to an hour ago, none on scene: some stand in breach, and a
    # few pass their first ring while the test runs, so the count and the board are read in
    # one evaluation (both change in the same redraw).
    page.wait_for_function(
        """() => {
            const alerts = Number(document.querySelector('#map').dataset.liveAlerts || 0);
            return alerts > 0
                && document.querySelectorAll('#live-board li.breach').length === alerts;
        }""",
        timeout=15_000,
    )
    expect(the_map).to_have_attribute("data-ready", "true", timeout=30_000)
    drawn = page.evaluate("""async () => ({
        incidents: (await window.fangkongMap.getSource('incidents').getData()).features.length,
        units: (await window.fangkongMap.getSource('units').getData()).features.length,
    })""")
    assert drawn == {"incidents": 500 + already, "units": 300 + units_before}

    # A new incident, recorded elsewhere, appears without a reload.
    lon, lat = grid_centre("T-D2-S2-B2-G2")
    with console_server.client(console_server.admin_token()) as api:
        answer = api.post(
            "/api/v1/incidents",
            headers={"Idempotency-Key": "live-map-1"},
            json={
                "category": "fire",
                "subtype": "building",
                "priority": "P1",
                "source": "call",
                "lon": lon,
                "lat": lat,
            },
        )
        assert answer.status_code == 201, answer.text
        new_id = answer.json()["id"]
        expect(the_map).to_have_attribute("data-live-incidents", str(501 + already), timeout=15_000)
        expect(page.locator(f"#live-board li[data-incident='{new_id}']")).to_contain_text("火灾")
        # ... and leaves when it is cancelled.
        gone = api.post(f"/api/v1/incidents/{new_id}/transitions", json={"to": "cancelled"})
        assert gone.status_code == 200, gone.text
        expect(the_map).to_have_attribute("data-live-incidents", str(500 + already), timeout=15_000)
        # A unit's new position moves its marker.
        unit_id = api.get("/api/v1/units").json()[0]["id"]
        moved = api.post(f"/api/v1/units/{unit_id}/position", json={"lon": lon, "lat": lat})
        assert moved.status_code == 200, moved.text
    page.wait_for_function(
        """async ([id, lon]) => {
            const data = await window.fangkongMap.getSource('units').getData();
            const u = data.features.find((f) => f.id === id);
            return !!u && Math.abs(u.geometry.coordinates[0] - lon) < 1e-9;
        }""",
        arg=[unit_id, lon],
        timeout=15_000,
    )
    assert errors == []
    context.close()
