"""Declarative partitions of the large tables (issue 23, migration 0023): the never-NULL
partition key on every write path (both databases); on PostgreSQL the tables partitioned by
county and month, a county's partitions made with the county, the rows of a database with data
copied in with their ids and the audit chain whole, and a county user's reads planned over that
county's partitions alone."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, Table, event, insert, select, text
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, fresh_database
from core.test_county_row_security import COUNTIES, _centre, three_counties
from demo.demo_helpers import add_addresses, street_grid_network
from demo.test_registers import _facilities, _roads
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import audit, auth, county, partitions
from fangkong.core.audit import SYSTEM
from fangkong.core.db import POSTGRESQL_OPTIONS, make_engine
from fangkong.core.migrate import downgrade, upgrade
from fangkong.core.models import AuditEvent, Role
from fangkong.core.plain_sql import RowsInsert
from fangkong.core.scoping import SYSTEM_SCOPE, Scope, scope_for
from fangkong.core.security import FieldCipher
from fangkong.demo import incidents as demo_incidents
from fangkong.demo import registers
from fangkong.devices import status as device_status
from fangkong.devices.models import Device
from fangkong.dispatch import live as dispatch_live
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import Incident, IncidentEvent, IncidentStatus, Priority, Source
from fangkong.materials.ledger import movements_query

NOW = datetime(2025, 11, 30, 12, tzinfo=UTC)
TABLES = tuple(partitions.TABLES)


# ------------------------------------------------------------------------------------------
# The key on every write path (SQLite and PostgreSQL)
# ------------------------------------------------------------------------------------------


def _incident_row(area: Area, key: str) -> dict[str, Any]:
    return {
        "category": "theft",
        "subtype": "theft.other",
        "priority": "P3",
        "source": "call",
        "description": "",
        "status": "received",
        "received_at": NOW,
        "lon": 0.0,
        "lat": 0.0,
        "h3_cell": "x",
        "area_id": area.id,
        "area_path": area.path,
        "idempotency_key": key,
    }


def _incident(db: Session, area: Area, key: str) -> Incident:
    incident = Incident(**_incident_row(area, key))
    db.add(incident)
    db.flush()
    return incident


def test_the_partition_key_is_the_county_or_none_whatever_writes_the_row(db: Session) -> None:
    d1, d2 = (db.scalars(select(Area).where(Area.code == c)).one() for c in ("T-D1", "T-D2"))
    grid1 = db.scalars(select(Area).where(Area.code == "T-D1-S1-B1-G1")).one()
    city = "/" + d1.path.split("/")[1] + "/"
    # the ORM: from the path, from nothing, from the parent (through the collection and not)
    placed = AuditEvent(action="t", entity="partition", area_path=grid1.path)
    nowhere = AuditEvent(action="t", entity="partition")
    db.add_all([placed, nowhere])
    incident = _incident(db, grid1, "partition-orm")
    incident.events.append(IncidentEvent(at=NOW, to_status="received", username="t"))
    db.add(IncidentEvent(incident_id=incident.id, at=NOW, to_status="dispatched", username="t"))
    db.flush()
    assert (placed.partition_county, nowhere.partition_county) == (d1.id, county.NO_COUNTY)

    def timeline() -> set[int]:
        return set(
            db.scalars(
                select(IncidentEvent.partition_county).where(
                    IncidentEvent.incident_id == incident.id
                )
            )
        )

    assert timeline() == {d1.id}
    # a parent that moves takes its children's partition key along; to the city, to none
    incident.area_path = d2.path
    db.flush()
    assert timeline() == {d2.id}
    incident.area_path = city
    db.flush()
    assert timeline() == {county.NO_COUNTY}
    assert incident.partition_county == county.NO_COUNTY
    # a Core insert: the county given, or computed from the path just before the key (an
    # event's county is its incident's: the reference to the incident names its partition)
    in_d1, in_d2 = _incident(db, grid1, "partition-d1"), _incident(db, d2, "partition-d2")
    assert (in_d1.partition_county, in_d2.partition_county) == (d1.id, d2.id)
    db.execute(
        insert(Incident),
        [
            {**_incident_row(grid1, "partition-core-1")},
            {**_incident_row(d2, "partition-core-2")},
        ],
    )
    core_incidents = dict(
        db.execute(
            select(Incident.idempotency_key, Incident.partition_county).where(
                Incident.idempotency_key.startswith("partition-core-")
            )
        ).all()
    )
    assert core_incidents == {"partition-core-1": d1.id, "partition-core-2": d2.id}
    db.execute(
        insert(IncidentEvent),
        [
            {"incident_id": in_d1.id, "county_id": d1.id, "at": NOW, "to_status": "x"},
            {"incident_id": incident.id, "county_id": None, "at": NOW, "to_status": "y"},
        ],
    )
    db.execute(
        insert(AuditEvent),
        [
            {"action": "core", "entity": "partition", "area_path": grid1.path},
            {"action": "core", "entity": "partition", "area_path": city},
        ],
    )
    # the plain-SQL insert of the intake writer and the audit log
    RowsInsert(cast(Table, AuditEvent.__table__), ("action", "entity", "area_path")).run(
        db.connection(),
        [
            {"action": "plain", "entity": "partition", "area_path": d2.path},
            {"action": "plain", "entity": "partition", "area_path": None},
        ],
    )
    RowsInsert(
        cast(Table, IncidentEvent.__table__), ("incident_id", "county_id", "at", "to_status")
    ).run(
        db.connection(),
        [
            {"incident_id": in_d2.id, "county_id": d2.id, "at": NOW, "to_status": "z"},
            {"incident_id": incident.id, "county_id": None, "at": NOW, "to_status": "w"},
        ],
    )
    audits = set(
        db.execute(
            select(AuditEvent.action, AuditEvent.county_id, AuditEvent.partition_county).where(
                AuditEvent.entity == "partition"
            )
        )
    )
    assert audits == {
        ("t", d1.id, d1.id),
        ("t", None, 0),
        ("core", d1.id, d1.id),
        ("core", None, 0),
        ("plain", d2.id, d2.id),
        ("plain", None, 0),
    }
    events = set(
        db.execute(
            select(IncidentEvent.to_status, IncidentEvent.partition_county).where(
                IncidentEvent.incident_id.in_([incident.id, in_d1.id, in_d2.id]),
                IncidentEvent.to_status.in_(list("xyzw")),
            )
        )
    )
    assert events == {("x", d1.id), ("y", 0), ("z", d2.id), ("w", 0)}
    db.rollback()


# ------------------------------------------------------------------------------------------
# PostgreSQL: the partitions
# ------------------------------------------------------------------------------------------


def _postgresql(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("partitions are PostgreSQL's")


def _where(conn: Any, table: str) -> dict[str, int]:
    """The table's rows by the partition that holds them."""
    rows = conn.execute(text(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1"))
    return {str(name): int(count) for name, count in rows}


def _rows_by_county(conn: Any, table: str) -> dict[int, int]:
    rows = conn.execute(text(f"SELECT partition_county, count(*) FROM {table} GROUP BY 1"))
    return {int(c): int(n) for c, n in rows}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return street_grid_network(tmp_path_factory.mktemp("partition-network"))


def _fill(session: Session, network: Any) -> None:
    """The demo's records of the test county: incidents and their timelines, the audit log,
    devices and their history, materials and their ledger."""
    add_addresses(session)
    demo_incidents.build_demo_incidents(
        session,
        network=network,
        zone=ZoneInfo("Asia/Shanghai"),
        today=date(2025, 6, 15),
        rng_seed=9,
        days=3,
    )
    facilities = _facilities(session)
    zones = registers.assign_zones(session)
    rng = random.Random(7)
    registers.build_devices(session, _roads(), facilities, zones, rng, NOW)
    registers.build_materials(session, facilities, rng, NOW, FieldCipher("d" * 40))


def test_a_database_with_data_is_partitioned_with_its_ids_and_chain(
    backend: str, tmp_path: Path, network: Any
) -> None:
    _postgresql(backend)
    engine = fresh_database(backend, tmp_path, suffix="_partmig")
    try:
        with Session(engine) as session:
            area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
            _fill(session, network)
            session.commit()
        downgrade(engine, "0022")  # the data as it was before: plain tables
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT count(*) FROM pg_class WHERE relkind = 'p'")).scalar_one()
                == 0
            )
            before = {
                t: list(conn.execute(text(f"SELECT id FROM {t} ORDER BY id")).scalars())
                for t in TABLES
            }
            chain = list(conn.execute(text("SELECT id, chain_hash FROM audit_event ORDER BY id")))
        assert all(before[t] for t in TABLES), {t: len(before[t]) for t in TABLES}
        upgrade(engine)
        with Session(engine) as session:
            counties = {
                code: i
                for code, i in session.execute(
                    select(Area.code, Area.id).where(Area.level == "district")
                )
            }
        with engine.connect() as conn:
            for table in TABLES:
                ids = list(conn.execute(text(f"SELECT id FROM {table} ORDER BY id")).scalars())
                assert ids == before[table], table
                where = _where(conn, table)
                # every row in its county's partition (and month), none in a DEFAULT one
                assert not any("default" in name for name in where), (table, where)
                assert {name.split("_p")[-1].split("_")[0] for name in where} <= {
                    str(i) for i in (*counties.values(), 0)
                }
                kind = conn.execute(
                    text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
                ).scalar_one()
                assert kind == "p", table
            assert (
                list(conn.execute(text("SELECT id, chain_hash FROM audit_event ORDER BY id")))
                == chain
            )
            # the monthly tables hold the rows' months
            months = {n for n in _where(conn, "incident_event") if n[-6:].isdigit()}
            assert f"incident_event_p{counties['T-D1']}_202506" in months
            # and the status history (migration 0029), in the months of its rows
            months = set(_where(conn, "device_status_event"))
            assert months and all(n[-6:].isdigit() for n in months), months
            # what refers to an incident names its partition, and every key has its claim
            for table, via, key in (
                ("incident_event", "incident_id", "partition_county"),
                ("dispatch_assignment", "incident_id", "partition_county"),
                ("incident", "merged_into_id", "merged_into_county"),
                ("incident_key", "idempotency_key", "incident_county"),
            ):
                parent = "idempotency_key" if via == "idempotency_key" else "id"
                counts = conn.execute(
                    text(
                        f"SELECT count(*), count(*) FILTER (WHERE r.{key} = i.partition_county) "
                        f"FROM {table} r JOIN incident i ON i.{parent} = r.{via}"
                    )
                ).one()
                assert counts[0] > 0 and counts[0] == counts[1], (table, counts)
            claims = conn.execute(text("SELECT count(*) FROM incident_key")).scalar_one()
            assert claims == len(before["incident"])
        with Session(engine) as session:
            assert audit.verify(session).ok
            # ids go on from the same sequences
            audit.record(session, actor=SYSTEM, action="after", entity="partition")
            session.flush()
            last = session.scalar(select(AuditEvent.id).where(AuditEvent.action == "after"))
            assert last is not None and last > max(before["audit_event"])
            session.commit()
            assert audit.verify(session).ok
        # the status history's months undone (0029's downgrade): plain county partitions
        downgrade(engine, "0028")
        with engine.connect() as conn:
            assert _where(conn, "device_status_event") == {
                f"device_status_event_p{i}": n
                for i, n in _rows_by_county(conn, "device_status_event").items()
            }
            key = conn.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'device_status_event'::regclass AND contype = 'p'"
                )
            ).scalar_one()
            assert key == "PRIMARY KEY (id, partition_county)"
            count = conn.execute(text("SELECT count(*) FROM device_status_event")).scalar_one()
            assert count == len(before["device_status_event"])
        upgrade(engine)
        # and down again: the same rows in plain tables
        downgrade(engine, "0022")
        with engine.connect() as conn:
            for table in TABLES:
                count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                assert count == len(before[table]) + (table == "audit_event"), table
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def three(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Three counties (their partitions made with them), an incident in each, a county
    administrator of K-A."""
    if backend != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    engine = fresh_database(backend, tmp_path_factory.mktemp("partx"), suffix="_partx")
    with Session(engine) as session:
        area_service.import_geojson(session, data=three_counties(), actor=SYSTEM)
        for i, code in enumerate(COUNTIES):
            lon, lat = _centre(i)
            dispatch_service.create(
                session,
                key=f"partx-{code}",
                data=dispatch_service.IncidentIn(
                    category="public_order",
                    subtype="fight",
                    priority=Priority.P3,
                    source=Source.CALL,
                    lon=lon,
                    lat=lat,
                ),
                actor=SYSTEM,
                now=datetime.now(UTC),
                cipher=FieldCipher("k" * 40),
            )
        auth.create(
            session,
            username="county_a",
            display_name="county_a",
            password=TEST_PASSWORD,
            role=Role.ADMIN,
            area_codes=["K-A"],
            actor=SYSTEM,
        )
        session.commit()
    yield engine
    engine.dispose()


def _ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            code: int(i)
            for code, i in session.execute(
                select(Area.code, Area.id).where(Area.code.in_(COUNTIES))
            )
        }


def test_a_county_gets_its_partitions_when_it_is_created(three: Engine) -> None:
    ids = _ids(three)
    with three.connect() as conn:
        assert partitions.counties(conn) == sorted([0, *ids.values()])
        month = datetime.now(UTC).strftime("%Y%m")
        for table, column in partitions.TABLES.items():
            for i in ids.values():
                names = [f"{table}_p{i}"]
                if column is not None:
                    names += [f"{table}_p{i}_default", f"{table}_p{i}_{month}"]
                for name in names:
                    found = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
                    assert found is not None, name
        # each county's incident and its timeline in that county's partition of this month
        where = _where(conn, "incident_event")
        assert set(where) == {f"incident_event_p{i}_{month}" for i in ids.values()}
        # made again: nothing more; the coming months' job is idempotent too
        assert partitions.add_county(conn, ids["K-A"]) == 0
        assert partitions.add_months(conn) == 0
        assert partitions.add_months(conn, months_ahead=partitions.MONTHS_AHEAD + 1) == len(
            partitions.MONTHLY
        ) * len(partitions.counties(conn))
        conn.rollback()


def test_rows_in_a_countys_default_month_are_moved_into_their_months(three: Engine) -> None:
    """History written before its months existed (an import dated last year) lands in the
    county's DEFAULT month; the months' job makes its months and moves the rows there."""
    a = _ids(three)["K-A"]
    with Session(three) as session:
        incident = session.scalars(
            select(Incident).where(Incident.idempotency_key == "partx-K-A")
        ).one()
        old = datetime(2024, 3, 15, 8, tzinfo=UTC)
        session.add_all(
            IncidentEvent(incident_id=incident.id, at=old + timedelta(days=d), to_status="received")
            for d in (0, 20)
        )
        session.flush()
        conn = session.connection()
        before = _where(conn, "incident_event")
        assert before[f"incident_event_p{a}_default"] == 2
        made = partitions.add_months(conn)
        assert made == 2  # March and April 2024
        after = _where(conn, "incident_event")
        assert f"incident_event_p{a}_default" not in after
        assert after[f"incident_event_p{a}_202403"] == 1
        assert after[f"incident_event_p{a}_202404"] == 1
        # nothing else moved; the DEFAULT month is a partition again, and empty
        assert {k: v for k, v in after.items() if "2024" not in k} == {
            k: v for k, v in before.items() if not k.endswith("_default")
        }
        attached = conn.execute(
            text("SELECT relispartition FROM pg_class WHERE oid = to_regclass(:n)"),
            {"n": f"incident_event_p{a}_default"},
        ).scalar_one()
        assert attached is True
        assert partitions.add_months(conn) == 0
        # the rows read as before, through the parent and the incident's timeline
        session.expire(incident, ["events"])
        assert sum(e.at.year == 2024 for e in incident.events) == 2
        session.rollback()


def test_the_application_role_cannot_name_a_partition(three: Engine) -> None:
    from conftest import app_role_engine

    app = app_role_engine(three)
    a = _ids(three)["K-A"]
    try:
        with app.connect() as conn, pytest.raises(Exception, match="permission denied"):
            conn.execute(text(f"SELECT count(*) FROM audit_event_p{a}"))
    finally:
        app.dispose()


def _relations(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            found.add(str(plan["Relation Name"]))
        for value in plan.values():
            found |= _relations(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _relations(value)
    return found


def _planned(session: Session, table: str, read: Callable[[], object]) -> set[str]:
    """The partitions of ``table`` that PostgreSQL plans to read for the statements that
    ``read`` (a service's read) runs: each statement naming the table, explained with its
    own parameters."""
    conn = session.connection()
    statements: list[tuple[str, Any]] = []

    def seen(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if any(f"{verb} {table} " in statement for verb in ("FROM", "JOIN", "UPDATE")):
            statements.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", seen)
    try:
        read()
    finally:
        event.remove(conn, "before_cursor_execute", seen)
    assert statements, f"{table} was not read"
    found: set[str] = set()
    for statement, parameters in statements:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
        found |= _relations(json.loads(plan) if isinstance(plan, str) else plan)
    # the table's partitions (not another table whose name extends it: incident_event; nor
    # the parent an UPDATE names as the table it modifies)
    own = re.compile(rf"^{table}_p(?:\d+|default)(?:_\w+)?$")
    return {name for name in found if own.match(name)}


def _counties_of(names: set[str], table: str) -> set[str]:
    """``audit_event_p4_202612`` -> ``4``."""
    return {n[len(table) + 2 :].split("_")[0] for n in names}


def _cancel(session: Session, incident: Incident) -> None:
    dispatch_service.transition(
        session, incident=incident, to=IncidentStatus.CANCELLED, actor=SYSTEM, now=NOW
    )
    session.flush()


def test_a_county_users_reads_plan_over_that_countys_partitions(three: Engine) -> None:
    ids = _ids(three)
    a = str(ids["K-A"])
    with Session(three) as session:
        user = auth.get_by_username(session, username="county_a")
        assert user is not None
        scope = scope_for(session, user)
        assert scope.counties == (ids["K-A"],)
        incident = session.scalars(
            select(Incident).where(Incident.idempotency_key == "partx-K-A")
        ).one()
        session.expire(incident, ["events"])
        device = Device(id=1, county_id=ids["K-A"])
        reads: list[tuple[str, Callable[[Scope], object]]] = [
            # (no reader named: a reader's own events are theirs in every county, a condition
            # that reads every partition's user index)
            ("audit_event", lambda s: audit.get_all(session, scope=s, reader_id=None)),
            ("material_movement", lambda s: session.execute(movements_query(s)).all()),
            ("device_status_event", lambda s: device_status.history(session, device=device)),
            ("incident_event", lambda s: list(incident.events)),
            # the incidents (migration 0026): one read, the live map's, the breach alerts', a
            # retry's look-up of its key (through its claim: no scope, the key's county)
            (
                "incident",
                lambda s: dispatch_service.get(session, incident_id=incident.id, scope=s),
            ),
            ("incident", lambda s: dispatch_live.breaches(session, scope=s, now=NOW)),
            ("incident", lambda s: dispatch_service.incidents_by_keys(session, ["partx-K-A"])),
            # and the ORM's UPDATE of one (its mapper names the partition it was read from)
            ("incident", lambda s: _cancel(session, incident)),
        ]
        for table, read in reads:
            planned = _planned(session, table, lambda read=read: read(scope))
            # that county's partitions, never another county's, of none, or DEFAULT
            assert planned and _counties_of(planned, table) == {a}, (table, planned)
            assert a in _counties_of(planned, table), (table, planned)
        # not a vacuous check: the system's read plans over every county
        everyone = _planned(
            session,
            "audit_event",
            lambda: audit.get_all(session, scope=SYSTEM_SCOPE, reader_id=None),
        )
        assert {str(i) for i in ids.values()} <= _counties_of(everyone, "audit_event")
        everywhere = _planned(
            session,
            "incident",
            lambda: dispatch_service.get(session, incident_id=incident.id, scope=SYSTEM_SCOPE),
        )
        assert {str(i) for i in ids.values()} <= _counties_of(everywhere, "incident")
        # a period's read: that month's partitions alone
        month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (month + timedelta(days=32)).replace(day=1)
        period = _planned(
            session,
            "audit_event",
            lambda: session.execute(
                select(AuditEvent).where(
                    audit.visible_to(session, scope=scope, reader_id=None),
                    AuditEvent.at >= month,
                    AuditEvent.at < following,
                )
            ).all(),
        )
        assert {n.rsplit("_", 1)[1] for n in period} == {month.strftime("%Y%m")}, period
        assert _counties_of(period, "audit_event") == {a}
        # a device's uptime over the last 30 days: its county's months up to this one,
        # none of the months made ahead (migration 0029: the history is monthly too)
        now = datetime.now(UTC)
        uptime = _planned(
            session,
            "device_status_event",
            lambda: device_status.uptime(
                session, device=device, start=now - timedelta(days=30), end=now
            ),
        )
        assert _counties_of(uptime, "device_status_event") == {a}, uptime
        planned_months = {n.rsplit("_", 1)[1] for n in uptime if n[-6:].isdigit()}
        assert month.strftime("%Y%m") in planned_months, uptime
        assert max(planned_months) == month.strftime("%Y%m"), uptime
        session.rollback()


def test_a_named_readers_audit_list_reads_their_counties_alone(three: Engine) -> None:
    """A reader's own events are theirs wherever they were filed; the list reads the
    partitions of their scope and of the counties that hold their events (migration 0030),
    not every county's."""
    ids = _ids(three)
    a, b, c = (str(ids[k]) for k in COUNTIES)
    with Session(three) as session:
        user = auth.get_by_username(session, username="county_a")
        assert user is not None
        scope = scope_for(session, user)
        mine = audit.Actor(user_id=user.id, username=user.username)
        b_path = session.scalars(select(Area.path).where(Area.code == "K-B")).one()
        audit.record(session, actor=mine, action="own", entity="incident", area_path=b_path)
        session.flush()

        def listed() -> list[AuditEvent]:
            return audit.get_all(session, scope=scope, reader_id=user.id)

        planned = _planned(session, "audit_event", listed)
        # their county, the county of their event filed elsewhere; never K-C's
        assert {a, b} <= _counties_of(planned, "audit_event") <= {a, b, "0"}, planned
        assert c not in _counties_of(planned, "audit_event")
        # and the event filed in K-B is in their list
        assert any(e.action == "own" and e.area_path == b_path for e in listed())
        session.rollback()


def test_statements_are_planned_for_their_own_values(three: Engine) -> None:
    """A statement the driver prepares keeps to custom plans: a generic plan over every
    county's partition is never built (it was, anew after each ANALYZE of any partition: tens
    of milliseconds a statement at 100 counties). A caller's own options still apply."""
    with three.connect() as conn:
        county = conn.exec_driver_sql(
            "SELECT county_id FROM incident WHERE county_id IS NOT NULL LIMIT 1"
        ).scalar_one()
        conn.exec_driver_sql(
            "PREPARE by_county(int) AS SELECT id FROM incident WHERE partition_county = $1"
        )
        for _ in range(7):  # past the five custom plans after which a generic one is tried
            conn.exec_driver_sql(f"EXECUTE by_county({county})").all()
        plan = conn.exec_driver_sql(f"EXPLAIN EXECUTE by_county({county})").scalars().all()
        # Pruned when planned: one county's partition named, no run-time pruning left.
        assert sum("incident_p" in line for line in plan) == 1
        assert not any("Subplans Removed" in line for line in plan)
    assert "plan_cache_mode=force_custom_plan" in POSTGRESQL_OPTIONS  # what made it so
    other = make_engine(
        three.url.render_as_string(hide_password=False),
        connect_args={"options": "-c plan_cache_mode=auto"},
    )
    with other.connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"
    other.dispose()
    # Options in the URL are kept beside fangkong's, not replaced by them.
    in_url = make_engine(
        three.url.update_query_dict({"options": "-c statement_timeout=12345"}).render_as_string(
            hide_password=False
        )
    )
    with in_url.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "12345ms"
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "force_custom_plan"
    in_url.dispose()


def test_the_command_line_makes_months_and_detaches_one(three: Engine) -> None:
    from typer.testing import CliRunner

    from fangkong.cli import app as cli

    ids = _ids(three)
    url = three.url.render_as_string(hide_password=False)
    runner = CliRunner()
    made = runner.invoke(cli, ["db", "partitions", "--months-ahead", "4", "--database-url", url])
    assert made.exit_code == 0, made.output
    # a fifth month for every county's monthly tables, and of none
    assert len(partitions.MONTHLY) == 3
    assert f"made {3 * (len(ids) + 1)} monthly partitions" in made.output
    ahead = (datetime.now(UTC).replace(day=1) + timedelta(days=4 * 31)).date()
    detached = runner.invoke(
        cli, ["db", "detach-month", "incident_event", f"{ahead:%Y-%m}", "--database-url", url]
    )
    assert detached.exit_code == 0, detached.output
    names = [f"incident_event_p{i}_{ahead:%Y%m}" for i in (0, *ids.values())]
    assert f"detached {len(names)} partitions" in detached.output
    with three.connect() as conn:
        for name in names:  # a table of its own now, no longer a partition
            kind = conn.execute(
                text("SELECT relispartition FROM pg_class WHERE oid = to_regclass(:n)"),
                {"n": name},
            ).scalar_one()
            assert kind is False, name
            conn.execute(text(f'DROP TABLE "{name}"'))
        conn.commit()
    refused = runner.invoke(
        cli, ["db", "detach-month", "audit_event", f"{ahead:%Y-%m}", "--database-url", url]
    )
    assert refused.exit_code == 2 and "purge" in refused.output
