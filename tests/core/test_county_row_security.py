"""Three counties in one PostgreSQL (issue 23): a user of one county reads nothing of the
others -- through the services, the HTTP API (lists, reads, the live map's feed, the audit
log) and raw SQL under their scope, where only the second wall (row-level security by county
and area path) stands; a user of the city reads all three; the system reads everything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, running_server
from dispatch.dispatch_helpers import incident_in, new_incident
from factories import feature, rectangle
from fangkong.areas.models import Area
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.county import NO_COUNTY, county_of
from fangkong.core.db_postgresql import set_scope
from fangkong.core.models import Role
from fangkong.core.scoping import SYSTEM_SCOPE, bind_scope, counties_of, scope_for
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import Incident, Priority

COUNTIES = ("K-A", "K-B", "K-C")
#: The incident of every county: a fight, without a caller's number.
FIGHT: dict[str, Any] = {
    "category": "public_order",
    "subtype": "fight",
    "priority": Priority.P3,
    "contact": None,
}
WEST, SOUTH, WIDTH, HEIGHT = 120.0, 30.0, 0.06, 0.04


def three_counties() -> dict[str, Any]:
    """A city of three districts (counties), each a station, a beat and a grid."""
    features = [
        feature("K", "city", None, rectangle(WEST, SOUTH, WEST + 3 * WIDTH, SOUTH + HEIGHT))
    ]
    for i, code in enumerate(COUNTIES):
        box = rectangle(WEST + i * WIDTH, SOUTH, WEST + (i + 1) * WIDTH, SOUTH + HEIGHT)
        features += [
            feature(code, "district", "K", box),
            feature(f"{code}-S", "station", code, box),
            feature(f"{code}-S-B", "beat", f"{code}-S", box),
            feature(f"{code}-S-B-G", "grid", f"{code}-S-B", box),
        ]
    return {"type": "FeatureCollection", "features": features}


def _centre(i: int) -> tuple[float, float]:
    return WEST + (i + 0.5) * WIDTH, SOUTH + HEIGHT / 2


def _seed(engine: Engine) -> None:
    """An incident in each county (its timeline and audit events with it), a county
    administrator of K-A and one of the city."""
    with Session(engine) as session:
        for i, code in enumerate(COUNTIES):
            data = incident_in(at=_centre(i), **FIGHT)
            new_incident(session, f"three-{code}", data, now=datetime.now(UTC))
        for username, code in (("county_a", "K-A"), ("city_k", "K")):
            auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=Role.ADMIN,
                area_codes=[code],
                actor=SYSTEM,
            )
        session.commit()


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The three counties behind a live server connected as the application's role."""
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    tmp: Path = tmp_path_factory.mktemp("three-counties")
    with running_server(
        backend, tmp, "_counties", app_role=True, areas=three_counties(), intake_writer="thread"
    ) as live:
        yield live


@pytest.fixture(scope="module")
def seeded(server: LiveServer) -> dict[str, int]:
    """The county id of each county's code (seeded once, as the system)."""
    _seed(server.engine)
    with Session(server.engine) as session:
        return {
            code: int(i)
            for code, i in session.execute(
                select(Area.code, Area.id).where(Area.code.in_(COUNTIES))
            )
        }


def _scoped(engine: Engine, username: str) -> Session:
    session = Session(engine)
    user = auth.get_by_username(session, username=username)
    assert user is not None
    bind_scope(session, scope_for(session, user), reader_id=None)
    return session


RAW = {
    "incident": "SELECT DISTINCT county_id FROM incident",
    "incident_event": "SELECT DISTINCT county_id FROM incident_event",
    "audit_event": "SELECT DISTINCT county_id FROM audit_event WHERE county_id IS NOT NULL",
    "area": "SELECT DISTINCT county_id FROM area WHERE county_id IS NOT NULL",
    "area_path": "SELECT DISTINCT area_path FROM incident",
}


def _raw(session: Session) -> dict[str, set[Any]]:
    return {name: set(session.execute(text(sql)).scalars()) for name, sql in RAW.items()}


def test_the_scope_reaches_the_counties_its_areas_say(
    server: LiveServer, seeded: dict[str, int]
) -> None:
    a, b, c = (seeded[code] for code in COUNTIES)
    with Session(server.engine) as session:
        county_user = auth.get_by_username(session, username="county_a")
        city_user = auth.get_by_username(session, username="city_k")
        assert county_user is not None and city_user is not None
        assert counties_of(session, scope_for(session, county_user)) == (a,)
        # the city's rows (no county) and every county under the city
        assert counties_of(session, scope_for(session, city_user)) == (0, a, b, c)


def test_raw_sql_of_a_county_user_sees_only_their_county(
    server: LiveServer, seeded: dict[str, int]
) -> None:
    a = seeded["K-A"]
    session = _scoped(server.engine, "county_a")
    try:
        seen = _raw(session)
        # No WHERE in the queries: the database keeps to the county.
        assert seen["incident"] == {a}
        assert seen["incident_event"] == {a}
        assert seen["audit_event"] == {a}
        assert seen["area"] == {a}
        assert {county_of(p) for p in seen["area_path"]} == {a}
        # nor can they change another county's rows
        moved = session.execute(text("UPDATE incident SET priority = 'P1'"))
        assert getattr(moved, "rowcount", None) == 1
        gone = session.execute(text("DELETE FROM incident_event WHERE county_id <> :a"), {"a": a})
        assert getattr(gone, "rowcount", None) == 0
    finally:
        session.rollback()
        session.close()


def test_raw_sql_of_the_city_and_of_the_system_sees_all_three(
    server: LiveServer, seeded: dict[str, int]
) -> None:
    every = set(seeded.values())
    session = _scoped(server.engine, "city_k")
    try:
        seen = _raw(session)
        assert seen["incident"] == seen["incident_event"] == every
        assert every <= seen["audit_event"] and seen["area"] == every
    finally:
        session.close()
    with Session(server.engine) as session:  # the system's scope: every row
        seen = _raw(session)
        assert seen["incident"] == seen["incident_event"] == every
        assert session.scalar(text("SELECT count(*) FROM area WHERE county_id IS NULL")) == 1


def test_the_county_check_stands_on_its_own(server: LiveServer, seeded: dict[str, int]) -> None:
    """Paths of the whole city but one county named: the policies keep to that county (the
    county is checked apart from the path, first)."""
    a, b = seeded["K-A"], seeded["K-B"]
    with Session(server.engine) as session:
        city = session.scalars(select(Area.path).where(Area.code == "K")).one()
        set_scope(session.connection(), paths=(city,), counties=(b,), reader_id=None)
        seen = _raw(session)
        assert seen["incident"] == seen["incident_event"] == seen["area"] == {b}
        assert seen["audit_event"] == {b}
        set_scope(session.connection(), paths=(city,), counties=(a, NO_COUNTY), reader_id=None)
        assert session.scalar(text("SELECT count(*) FROM area WHERE county_id IS NULL")) == 1
        assert _raw(session)["incident"] == {a}
        set_scope(session.connection(), paths=(city,), counties=(), reader_id=None)
        assert _raw(session)["area"] == set()
        session.rollback()


def test_the_second_wall_alone_holds_a_county(server: LiveServer, seeded: dict[str, int]) -> None:
    """Scoped to county A in the database, a service asked with the system's scope (a query
    that forgot the scoping) still gets county A's rows only."""
    a = seeded["K-A"]
    session = _scoped(server.engine, "county_a")
    try:
        total, found = dispatch_service.get_all(session, scope=SYSTEM_SCOPE)
        assert total == 1 and {i.county_id for i in found} == {a}
        assert session.scalars(select(Incident.county_id)).all() == [a]
    finally:
        session.close()


def _ids_by_county(server: LiveServer) -> dict[int, int]:
    with Session(server.engine) as session:
        return dict(session.execute(select(Incident.id, Incident.county_id)).all())


def test_the_api_of_a_county_user_answers_their_county_only(
    server: LiveServer, seeded: dict[str, int]
) -> None:
    a = seeded["K-A"]
    counties = _ids_by_county(server)
    mine = {i for i, c in counties.items() if c == a}
    others = set(counties) - mine
    assert len(mine) == 1 and len(others) == 2
    with server.client(server.token("county_a")) as client:
        listed = client.get("/api/v1/incidents", params={"limit": 500})
        assert listed.status_code == 200, listed.text
        assert {i["id"] for i in listed.json()["items"]} == mine
        for other in others:
            assert client.get(f"/api/v1/incidents/{other}").status_code == 404
        (own,) = mine
        assert client.get(f"/api/v1/incidents/{own}").status_code == 200
        live = client.get("/api/v1/dispatch/live")
        assert live.status_code == 200, live.text
        assert {i["id"] for i in live.json()["incidents"]} == mine
        events = client.get("/api/v1/audit", params={"limit": 1000})
        assert events.status_code == 200, events.text
        paths = {e["area_path"] for e in events.json()}
        assert paths and all(county_of(p) == a for p in paths if p is not None)
        # an event of no area is shown only when it is the reader's own
        assert all(e["user_id"] is not None for e in events.json() if e["area_path"] is None)


def test_the_api_of_the_city_user_answers_all_three(
    server: LiveServer, seeded: dict[str, int]
) -> None:
    counties = _ids_by_county(server)
    with server.client(server.token("city_k")) as client:
        listed = client.get("/api/v1/incidents", params={"limit": 500})
        assert {i["id"] for i in listed.json()["items"]} == set(counties)
        live = client.get("/api/v1/dispatch/live")
        assert {i["id"] for i in live.json()["incidents"]} == set(counties)
        events = client.get("/api/v1/audit", params={"limit": 1000}).json()
        assert {county_of(e["area_path"]) for e in events} >= set(seeded.values())


def test_the_app_role_is_what_serves(server: LiveServer) -> None:
    with server.engine.connect() as conn:
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'incident'")
        ).scalar()
        assert conn.execute(text("SELECT current_user")).scalar() != owner
