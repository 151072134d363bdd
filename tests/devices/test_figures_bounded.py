"""The device figures of one district read what lies near it, not the whole province's:
the cameras that may cover its facilities (those within the coverage radius of one, across
its boundary too) and its own areas' tree and zones (issue 23's province load)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.test_devices import ACTOR, T0, device_in, facility
from fangkong.areas.models import Area
from fangkong.core.scoping import Scope
from fangkong.devices import figures, register
from fangkong.devices.schemas import ZoneIn
from fangkong.facilities.models import FacilityType

#: Grids of the test county: two side by side across the districts' border, one far away.
HERE, ACROSS, FAR = "T-D1-S2-B2-G2", "T-D2-S1-B1-G1", "T-D2-S2-B2-G2"


def _read_rows(monkeypatch: Any) -> list[int]:
    """The row counts of every column read of the figures (``figures._columns``)."""
    counts: list[int] = []
    real = figures._columns

    def counted(conn: Any, query: Any, n: int) -> Any:
        out = real(conn, query, n)
        counts.append(len(out[0]))
        return out

    monkeypatch.setattr(figures, "_columns", counted)
    return counts


def test_coverage_reads_the_cameras_near_the_facilities(db: Session, monkeypatch: Any) -> None:
    register.set_zones(
        db,
        items=[ZoneIn(area_code=c, zone_type="central_urban") for c in ("T-D1", "T-D2")],
        actor=ACTOR,
        scope=None,
    )
    school = facility(db, "FB1", HERE, FacilityType.SCHOOL)
    # A working camera 55 m away, in the neighbouring district: it covers the school.
    across = db.scalars(select(Area).where(Area.code == ACROSS)).one()
    lon = min(school.lon + 0.0007, across.max_lon - 1e-5)
    register.create(
        db, data=device_in("CB-NEAR", ACROSS, lon=lon, lat=school.lat), actor=ACTOR, now=T0,
        scope=None,
    )  # fmt: skip
    # Thirty working cameras kilometres away: nothing to do with the school.
    for i in range(30):
        register.create(db, data=device_in(f"CB-FAR{i}", FAR), actor=ACTOR, now=T0, scope=None)
    district = db.scalars(select(Area.path).where(Area.code == "T-D1")).one()
    assert across.path.startswith(district) is False
    counts = _read_rows(monkeypatch)
    result = figures.figures(db, scope=Scope(paths=(district,)))
    top = next(a for a in result if a.code == "T-D1")
    schools = next(c for c in top.facilities if c.facility_type == "school")
    assert (schools.facilities, schools.covered) == (1, 1)  # the camera across the border
    # the cameras read for coverage: the one near the school, not the thirty far away
    assert max(counts) < 30


def test_the_tree_and_zones_read_are_the_districts(db: Session) -> None:
    """Which areas have children, and the zones: read for the district and above it only."""
    from sqlalchemy import event

    register.set_zones(
        db,
        items=[ZoneIn(area_code=c, zone_type="rural") for c in ("T-D1-S1", "T-D2-S1")],
        actor=ACTOR,
        scope=None,
    )
    district = db.scalars(select(Area.path).where(Area.code == "T-D1")).one()
    others = set(db.scalars(select(Area.id).where(Area.path.not_like(f"{district}%"))).all())
    read: list[Any] = []

    def rows(_conn: Any, _cursor: Any, statement: str, _p: Any, _c: Any, _m: Any) -> None:
        read.append(statement)

    inputs_before = figures.load(db, scope=Scope(paths=(district,)))
    engine = db.get_bind()
    event.listen(engine, "after_cursor_execute", rows)
    try:
        inputs = figures.load(db, scope=Scope(paths=(district,)))
    finally:
        event.remove(engine, "after_cursor_execute", rows)
    assert inputs.leaf.tolist() == inputs_before.leaf.tolist()
    assert all(int(a) not in others for a in inputs.area_ids)
    # leaves: the grids; zones inherited from the station
    by_code = dict(zip(inputs.codes, inputs.leaf.tolist(), strict=True))
    assert by_code["T-D1-S1-B1-G1"] and not by_code["T-D1-S1"]
    parent_reads = [s for s in read if "parent_id" in s and "area.path" not in s.split("FROM")[0]]
    assert all("LIKE" in s for s in parent_reads), parent_reads
    # the devices and facilities of the district's areas, by their ids
    for table in ("device", "facility"):
        reads = [s for s in read if f"FROM {table}" in s and f"{table}.area_id IN" in s]
        assert reads and all("IN (SELECT" not in s for s in reads), (table, reads)
    zone_reads = [s for s in read if "device_area_zone" in s]
    assert zone_reads and all(" IN " in s.upper() for s in zone_reads), zone_reads


def test_the_cameras_near_the_facilities_are_read_by_their_cells(db: Session) -> None:
    """The coverage's read of the cameras near a district's facilities is served by the
    index of the cameras' H3 cells (a few ranges of cells around the facilities' box), not by
    the index of every working camera of the province filtered by longitude and latitude
    (which at 100 counties read 60,000 cameras for 600). On PostgreSQL, the plan of that read
    without the indexes of the kinds, which a plan of the test's few rows may pick."""
    from sqlalchemy import event, text

    register.set_zones(
        db,
        items=[ZoneIn(area_code=c, zone_type="central_urban") for c in ("T-D1", "T-D2")],
        actor=ACTOR,
        scope=None,
    )
    school = facility(db, "FB2", HERE, FacilityType.SCHOOL)
    register.create(
        db, data=device_in("CB-CELL", HERE, lon=school.lon, lat=school.lat), actor=ACTOR, now=T0,
        scope=None,
    )  # fmt: skip
    district = db.scalars(select(Area.path).where(Area.code == "T-D1")).one()
    read: list[tuple[str, Any]] = []

    def rows(_conn: Any, _cursor: Any, statement: str, params: Any, _c: Any, _m: Any) -> None:
        if "FROM device" in statement and "facility_id" in statement:
            read.append((statement, params))

    engine = db.get_bind()
    event.listen(engine, "after_cursor_execute", rows)
    try:
        result = figures.figures(db, scope=Scope(paths=(district,)))
    finally:
        event.remove(engine, "after_cursor_execute", rows)
    top = next(a for a in result if a.code == "T-D1")
    schools = next(c for c in top.facilities if c.facility_type == "school")
    assert (schools.facilities, schools.covered) == (1, 1)
    assert len(read) == 1 and "h3_cell" in read[0][0], read
    if db.get_bind().dialect.name != "postgresql":
        return
    conn = db.connection()
    # The test's tables are tiny: a plan of a few rows may read the kinds' indexes (every
    # working camera) whatever else it could use. Without them (rolled back after) and with
    # sequential scans off, the read is served by an index on what it asks for, or by none.
    conn.execute(text("DROP INDEX ix_device_type_status"))
    conn.execute(text("DROP INDEX ix_device_figures"))
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    statement, params = read[0]
    plan = "\n".join(
        str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, params).fetchall()
    )
    conn.execute(text("RESET enable_seqscan"))
    assert "ix_device_h3_cell" in plan and "Seq Scan" not in plan, plan
