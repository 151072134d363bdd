"""The county (tenant) key (issue 23): every table with a place carries the county of its area
path, or its parent's, whatever wrote the row -- the ORM, a Core ``insert()``, the plain-SQL
insert of the intake writer and the audit log, the demo generators -- on SQLite and
PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, T0
from demo.demo_helpers import add_addresses, street_grid_network
from demo.test_registers import _facilities, _roads
from fangkong.areas.models import Area
from fangkong.cases.storage import storage_in
from fangkong.core import county
from fangkong.core.audit import SYSTEM
from fangkong.core.models import AuditEvent
from fangkong.core.plain_sql import RowsInsert
from fangkong.core.security import FieldCipher
from fangkong.demo import incidents as demo_incidents
from fangkong.demo import registers
from fangkong.demo.community import build_demo_community
from fangkong.dispatch.models import Incident, IncidentEvent
from fangkong.models import Base
from fangkong.network.service import Network

NOW = datetime(2025, 11, 30, 12, tzinfo=UTC)


def _path_columns(table: Table) -> list[str]:
    return [
        c.name
        for c in table.c
        if c.name == "area_path"
        or c.name.endswith("_area_path")
        or (table.name == "area" and c.name == "path")
    ]


def test_county_of_a_path() -> None:
    assert county.county_of("/1/4/17/") == 4
    assert county.county_of("/1/4/") == 4
    assert county.county_of("/1/") is None
    assert county.county_of("/") is None
    assert county.county_of(None) is None
    assert county.county_of("") is None


def test_every_table_with_an_area_path_has_the_county_of_that_path() -> None:
    # A table added later with an area path and no county key fails here.
    missing = []
    for table in Base.metadata.tables.values():
        paths = _path_columns(table)
        if not paths:
            continue
        if county.path_column(table) not in paths:
            missing.append(table.name)
    assert missing == []


def test_every_child_of_a_county_table_copies_its_county() -> None:
    # A table whose rows belong to a county-keyed row (deleted with it) carries the key.
    keyed = {t.name for t in Base.metadata.tables.values() if county.COLUMN in t.c}
    missing = []
    for table in Base.metadata.tables.values():
        if table.name in keyed:
            continue
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            # A claim of the parent's key carries the parent's partition key instead.
            held = any(c.info.get(county.REFERENCE_OF, ("",))[0] == parent for c in table.c)
            if parent in keyed and parent != "area" and fk.ondelete == "CASCADE" and not held:
                missing.append(f"{table.name}.{fk.parent.name}")
    # What hangs off an area itself (a user's binding, an area's zone or target) is a
    # setting of that area, not a record of a place.
    assert missing == []


def test_an_orm_record_moves_county_with_its_path_and_takes_its_children_along(
    db: Session,
) -> None:
    d1, d2 = (db.scalars(select(Area).where(Area.code == c)).one() for c in ("T-D1", "T-D2"))
    grid1 = db.scalars(select(Area).where(Area.code == "T-D1-S1-B1-G1")).one()
    assert d1.county_id == d1.id and grid1.county_id == d1.id
    incident = Incident(
        category="theft",
        subtype="theft.other",
        priority="P3",
        source="call",
        description="",
        status="received",
        received_at=NOW,
        lon=0.0,
        lat=0.0,
        h3_cell="x",
        area_id=grid1.id,
        area_path=grid1.path,
        idempotency_key="county-orm",
    )
    db.add(incident)
    db.flush()
    db.add(IncidentEvent(incident_id=incident.id, at=NOW, to_status="received", username="t"))
    db.flush()
    assert incident.county_id == d1.id
    assert (
        db.scalar(select(IncidentEvent.county_id).where(IncidentEvent.incident_id == incident.id))
        == d1.id
    )
    incident.area_path = f"{d2.path}"
    db.flush()
    assert incident.county_id == d2.id
    assert (
        db.scalar(select(IncidentEvent.county_id).where(IncidentEvent.incident_id == incident.id))
        == d2.id
    )
    incident.area_path = "/" + d1.path.split("/")[1] + "/"  # the city: no county
    db.flush()
    assert incident.county_id is None


def test_a_core_insert_fills_it_per_row(db: Session) -> None:
    grids = db.scalars(select(Area).where(Area.level == "grid").order_by(Area.code)).all()
    rows = [
        dict(
            category="theft",
            subtype="theft.other",
            priority="P3",
            source="call",
            description="",
            status="received",
            received_at=NOW,
            lon=0.0,
            lat=0.0,
            h3_cell="x",
            area_id=g.id,
            area_path=g.path,
            idempotency_key=f"county-{g.code}",
        )
        for g in grids
    ]
    db.execute(insert(Incident), rows)
    found = dict(
        db.execute(
            select(Incident.area_path, Incident.county_id).where(
                Incident.idempotency_key.startswith("county-")
            )
        ).all()
    )
    assert found == {g.path: g.county_id for g in grids}
    assert len(set(found.values())) == 2


def test_the_plain_sql_insert_fills_it_per_row_and_asks_a_child_for_it(db: Session) -> None:
    grids = db.scalars(select(Area).where(Area.level == "grid").order_by(Area.code)).all()
    audit = RowsInsert(
        cast(Table, AuditEvent.__table__), ("action", "entity", "area_path"), returning=("id",)
    )
    ids = [
        r[0]
        for r in audit.run(
            db.connection(),
            [{"action": "t", "entity": "county-test", "area_path": g.path} for g in grids],
        )
    ]
    found = db.execute(
        select(AuditEvent.area_path, AuditEvent.county_id).where(AuditEvent.id.in_(ids))
    ).all()
    assert sorted(found) == sorted((g.path, g.county_id) for g in grids)
    with pytest.raises(ValueError, match="county_id"):
        RowsInsert(cast(Table, IncidentEvent.__table__), ("incident_id", "at", "to_status"))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return street_grid_network(tmp_path_factory.mktemp("county-network"))


def test_demo_like_data_carries_the_county_of_its_path_everywhere(
    db: Session, network: Network, tmp_path: Path
) -> None:
    add_addresses(db)
    demo_incidents.build_demo_incidents(
        db,
        network=network,
        zone=ZoneInfo("Asia/Shanghai"),
        today=date(2025, 6, 15),
        rng_seed=9,
        days=3,
    )
    build_demo_community(
        db,
        now=T0,
        cipher=FieldCipher("demo-" + "k" * 40),
        storage=storage_in(tmp_path),
        calendar=CALENDAR,
    )
    facilities = _facilities(db)
    zones = registers.assign_zones(db)
    rng = random.Random(7)
    registers.build_devices(db, _roads(), facilities, zones, rng, NOW)
    registers.build_materials(db, facilities, rng, NOW, FieldCipher("d" * 40))
    db.flush()

    assert _walk(db) == []
    checked = {
        table.name: db.scalar(select(func.count()).where(table.c[county.COLUMN].is_not(None))) or 0
        for table in Base.metadata.sorted_tables
        if county.COLUMN in table.c
    }
    # Not a vacuous walk: the demo's records fill these tables, under both counties.
    for name in (
        "area",
        "standard_address",
        "incident",
        "incident_event",
        "dispatch_assignment",
        "unit",
        "police_post",
        "audit_event",
        "case_record",
        "case_event",
        "safety_team",
        "custody_item",
        "custody_step",
        "facility",
        "device",
        "device_status_event",
        "material_holder",
        "material_movement",
    ):
        assert checked.get(name, 0) > 0, name
    assert SYSTEM.username  # the builders wrote as the system


def _walk(db: Session) -> list[tuple[str, Any, Any]]:
    """Every row whose county is not its path's or its parent's, or whose partition key is
    not its county's."""
    wrong: list[tuple[str, Any, Any]] = []
    for table in Base.metadata.sorted_tables:
        path = county.path_column(table)
        if path is not None:
            for value, key in db.execute(select(table.c[path], table.c[county.COLUMN])):
                if key != county.county_of(value):
                    wrong.append((table.name, value, key))
        parent = county.parent_of(table)
        if parent is not None:
            ptable = Base.metadata.tables[parent[0]]
            joined = select(table.c[county.COLUMN], ptable.c[county.COLUMN]).join(
                ptable, ptable.c.id == table.c[parent[1]]
            )
            wrong += [(table.name, p, k) for k, p in db.execute(joined) if k != p]
        if county.has_partition_key(table):  # never NULL: the county, or none's
            keys = select(table.c[county.COLUMN], table.c[county.PARTITION_COLUMN])
            wrong += [
                (table.name, k, p) for k, p in db.execute(keys) if p != county.partition_of(k)
            ]
    return wrong


def test_a_regrouping_of_beats_keeps_every_county(db: Session) -> None:
    """``areas.regroup`` rewrites paths in plain SQL, within one station: the counties stay
    what the paths say (the new beats' and the moved grids' included)."""
    from areas.test_regroup import NORTH, SOUTH, STATION, _records
    from fangkong.areas.regroup import regroup_beats

    incident, case, device, _ = _records(db)
    before = {(r.__tablename__, r.id): r.county_id for r in (incident, case, device)}
    report = regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM)
    assert report.rewritten["incident.area_path"] >= 1
    db.expire_all()
    assert _walk(db) == []
    after = {(r.__tablename__, r.id): r.county_id for r in (incident, case, device)}
    assert after == before and None not in after.values()
