"""The jurisdiction tree service: import, scoping, fusion check, lookup, addresses."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import CITY, county_geojson, feature, grid_centre, rectangle
from fangkong.areas import index as area_index
from fangkong.areas import service
from fangkong.areas.coords import CoordSystem, from_wgs84
from fangkong.areas.geometry import to_multipolygon
from fangkong.areas.models import Area, AreaLevel, AreaVersion, StandardAddress
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import Scope

ALL = Scope(paths=("/",))


def _scope_of(db: Session, code: str) -> Scope:
    area = service.get_by_code_or_raise(db, code=code)
    return Scope(paths=(area.path,))


def test_county_imported_as_a_tree(db: Session) -> None:
    counts = service.count_by_level(db, scope=ALL)
    assert counts == {"city": 1, "district": 2, "station": 4, "beat": 8, "grid": 16}
    grid = service.get_by_code_or_raise(db, code="T-D2-S1-B2-G1")
    chain = [a.code for a in service.ancestors(db, area=grid)]
    assert chain == ["T", "T-D2", "T-D2-S1", "T-D2-S1-B2", "T-D2-S1-B2-G1"]
    # 0.04 x 0.02 degree at 30 N on the WGS-84 ellipsoid: 3,859.4 m x 2,217.1 m.
    assert grid.area_m2 == pytest.approx(8.5567e6, rel=1e-3)


def test_scope_limits_lists_to_descendants(db: Session) -> None:
    scope = _scope_of(db, "T-D1-S2")
    codes = {a.code for a in service.get_all(db, scope=scope)}
    assert codes == {
        "T-D1-S2",
        "T-D1-S2-B1",
        "T-D1-S2-B2",
        "T-D1-S2-B1-G1",
        "T-D1-S2-B1-G2",
        "T-D1-S2-B2-G1",
        "T-D1-S2-B2-G2",
    }
    with pytest.raises(NotFound):
        service.get_by_code_or_raise(db, code="T-D1-S1", scope=scope)
    with pytest.raises(NotFound):
        service.get_by_code_or_raise(db, code="T", scope=scope)


def _county_with(target_code: str, changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(county_geojson())
    for f in data["features"]:
        f["properties"]["code"] = "X" + f["properties"]["code"]
        if "parent_code" in f["properties"]:
            f["properties"]["parent_code"] = "X" + f["properties"]["parent_code"]
    target = next(f for f in data["features"] if f["properties"]["code"] == "X" + target_code)
    for key, value in changes.items():
        if key == "geometry":
            target["geometry"] = value
        else:
            target["properties"][key] = value
    return data


def _area_count(db: Session) -> int:
    return int(db.scalar(select(func.count(Area.id))) or 0)


@pytest.mark.parametrize(
    ("code", "changes", "message"),
    [
        (
            "T-D1-S1-B1-G1",
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[120, 30], [120.01, 30.01], [120.01, 30], [120, 30.01], [120, 30]]
                    ],
                }
            },
            "feature 4 (XT-D1-S1-B1-G1): geometry is invalid: "
            "Self-intersection at lon/lat (120.005, 30.005)",
        ),
        (
            "T-D1-S1-B1-G1",
            {"geometry": {"type": "LineString", "coordinates": [[120, 30], [120.1, 30]]}},
            "geometry type 'LineString' is not Polygon/MultiPolygon",
        ),
        (
            "T-D1-S1-B1-G1",
            {"geometry": rectangle(12000000, 3000000, 12000100, 3000100)},
            "coordinates out of lon/lat range",
        ),
        (
            "T-D1-S1-B1-G1",
            {"parent_code": "NOPE"},
            "parent_code 'NOPE' is neither in the file nor in the database",
        ),
        (
            "T-D1-S1-B1",
            {"level": "grid"},
            "a grid cannot sit under station 'XT-D1-S1'; under a station comes beat",
        ),
        ("T-D1-S1-B1-G1", {"level": "ward"}, "level 'ward' is not one of"),
        ("T-D1", {"parent_code": None}, "a district needs a parent_code"),
        ("T-D1-S1-B1-G2", {"code": "XT-D1-S1-B1-G1"}, "code repeats feature"),
        ("T-D1-S1-B1-G1", {"name_zh": "", "name_en": ""}, "property 'name_zh'"),
        # A ring left open was closed by the geometry library and imported (issue 16, 11).
        (
            "T-D1-S1-B1-G1",
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[120, 30], [120.01, 30], [120.01, 30.01], [120, 30.01]]],
                }
            },
            "ring 1 of polygon 1 is not closed",
        ),
        (
            "T-D1-S1-B1-G1",
            {
                "geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [[[[120, 30], [120.01, 30], [120, 30]]]],
                }
            },
            "ring 1 of polygon 1 has 3 positions",
        ),
        (
            "T-D1-S1-B1-G1",
            {
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[120, 30], [True, 30], [120.01, 30.01], [120, 30]]],
                }
            },
            "ring 1 of polygon 1: position 2 is not a pair of numbers",
        ),
    ],
)
def test_bad_import_names_the_feature_and_writes_nothing(
    db: Session, code: str, changes: dict[str, Any], message: str
) -> None:
    before = _area_count(db)
    with pytest.raises(InvalidInput, match=re.escape(message)), db.begin_nested():
        service.import_geojson(db, data=_county_with(code, changes), actor=SYSTEM)
    assert _area_count(db) == before


def test_import_refuses_codes_that_exist(db: Session) -> None:
    with pytest.raises(InvalidInput, match=r"feature 0 \(T\): an area with this code"):
        service.import_geojson(db, data=county_geojson(), actor=SYSTEM)


def test_import_in_any_order_and_under_existing_parent(db: Session) -> None:
    station = service.get_by_code_or_raise(db, code="T-D1-S1")
    west, south, east, north = service.geometry(station).bounds
    mid = (west + east) / 2
    data = {
        "type": "FeatureCollection",
        "features": [
            feature("N-G1", "grid", "N-B", rectangle(west, south, mid, north)),
            feature("N-B", "beat", "T-D1-S1", rectangle(west, south, east, north)),
        ],
    }
    report = service.import_geojson(db, data=data, actor=SYSTEM)
    assert report.created == 2 and report.by_level == {"beat": 1, "grid": 1}
    beat = service.get_by_code_or_raise(db, code="N-B")
    assert beat.path.startswith(station.path)
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "import")).first()


def test_a_scoped_import_stays_in_the_importers_areas(db: Session) -> None:
    """An administrator bound to one precinct imports under it, never a new root nor under
    another precinct (issue 16, item 10); a parent outside their areas is answered as one that
    does not exist, so the refusal tells nothing of the other precinct."""
    precinct = _scope_of(db, "T-D1-S1")
    station = service.get_by_code_or_raise(db, code="T-D1-S1")
    west, south, east, north = service.geometry(station).bounds

    def one(code: str, level: str, parent: str | None) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": [feature(code, level, parent, rectangle(west, south, east, north))],
        }

    before = _area_count(db)
    with pytest.raises(InvalidInput) as root, db.begin_nested():
        service.import_geojson(db, data=one("NEW-CITY", "city", None), actor=SYSTEM, scope=precinct)
    assert root.value.field == "parent_code" and "your areas" in root.value.message
    refusals = []
    for parent in ("T-D2-S2", "NO-SUCH-STATION"):
        with pytest.raises(InvalidInput) as other, db.begin_nested():
            service.import_geojson(
                db, data=one("N-X", "beat", parent), actor=SYSTEM, scope=precinct
            )
        refusals.append(other.value.message.replace(parent, "?"))
    assert refusals[0] == refusals[1]
    assert _area_count(db) == before
    report = service.import_geojson(
        db, data=one("N-OWN", "beat", "T-D1-S1"), actor=SYSTEM, scope=precinct
    )
    assert report.created == 1
    # The whole tree's reader may add a root (a neighbouring county), as the command line may.
    service.import_geojson(db, data=one("NEW-CITY", "city", None), actor=SYSTEM, scope=ALL)


def test_import_converts_gcj02_input_to_wgs84(db: Session) -> None:
    station = service.get_by_code_or_raise(db, code="T-D2-S2")
    west, south, east, north = service.geometry(station).bounds
    corners = [
        from_wgs84(x, y, CoordSystem.GCJ02)
        for x, y in [(west, south), (east, south), (east, north), (west, north), (west, south)]
    ]
    data = {
        "type": "FeatureCollection",
        "features": [
            feature(
                "GCJ-B",
                "beat",
                "T-D2-S2",
                {"type": "Polygon", "coordinates": [[list(c) for c in corners]]},
            )
        ],
    }
    service.import_geojson(db, data=data, crs=CoordSystem.GCJ02, actor=SYSTEM)
    beat = service.get_by_code_or_raise(db, code="GCJ-B")
    assert service.geometry(beat).bounds == pytest.approx((west, south, east, north), abs=1e-7)


def test_fusion_check_passes_on_a_clean_tree(db: Session) -> None:
    report = service.fusion_check(db, scope=ALL)
    assert report.violations == []
    assert (report.checked_stations, report.checked_beats) == (4, 8)


def _replace_geometry(db: Session, code: str, geom: Any) -> None:
    area = service.get_by_code_or_raise(db, code=code)
    area.geometry_wkb = shapely.to_wkb(to_multipolygon(geom))
    db.flush()


def test_fusion_check_reports_gap_overlap_and_outside(db: Session) -> None:
    # Shrink one grid (gap in its beat), then grow a beat into its neighbour (overlap).
    g = service.geometry(service.get_by_code_or_raise(db, code="T-D1-S1-B1-G1"))
    w, s, e, n = g.bounds
    _replace_geometry(db, "T-D1-S1-B1-G1", box(w, s, e - 0.002, n))
    b = service.geometry(service.get_by_code_or_raise(db, code="T-D2-S2-B1"))
    w, s, e, n = b.bounds
    _replace_geometry(db, "T-D2-S2-B1", box(w, s, e + 0.001, n))
    # A grid that pokes out of its beat into the next one.
    g2 = service.geometry(service.get_by_code_or_raise(db, code="T-D1-S2-B2-G2"))
    w, s, e, n = g2.bounds
    _replace_geometry(db, "T-D1-S2-B2-G2", box(w, s, e + 0.003, n))

    report = service.fusion_check(db, scope=ALL, tolerance_m2=1.0)
    found = {(v.kind, v.codes): v.area_m2 for v in report.violations}
    # At 30 N: 0.002 deg lon x 0.02 deg lat = 193.0 m x 2,217.1 m (the grid's gap);
    # 0.001 deg lon x 0.04 deg lat = 96.5 m x 4,434.2 m (the beat's overlap).
    assert found[("gap", ("T-D1-S1-B1",))] == pytest.approx(427_850, rel=2e-3)
    assert found[("overlap", ("T-D2-S2-B1", "T-D2-S2-B2"))] == pytest.approx(427_850, rel=2e-3)
    # The grown beat stays inside its station: an overlap, not an overhang.
    assert ("outside_parent", ("T-D2-S2-B1", "T-D2-S2")) not in found
    # 0.003 deg lon x 0.02 deg lat = 289.5 m x 2,217.1 m of grid outside its beat.
    outside = found[("outside_parent", ("T-D1-S2-B2-G2", "T-D1-S2-B2"))]
    assert outside == pytest.approx(641_800, rel=2e-3)
    # Scoped to one district, faults elsewhere are not reported.
    scoped = service.fusion_check(db, scope=_scope_of(db, "T-D2"))
    assert {v.codes[0] for v in scoped.violations} <= {"T-D2-S2-B1", "T-D2-S2"}


def test_fusion_tolerance_hides_noise(db: Session) -> None:
    g = service.geometry(service.get_by_code_or_raise(db, code="T-D1-S1-B1-G1"))
    w, s, e, n = g.bounds
    _replace_geometry(db, "T-D1-S1-B1-G1", box(w, s, e - 1e-7, n))  # ~0.02 m x 2.2 km: 21 m²
    assert service.fusion_check(db, scope=ALL, tolerance_m2=50).violations == []
    assert service.fusion_check(db, scope=ALL, tolerance_m2=1).violations != []


def test_locate_gives_the_chain_and_respects_scope(db: Session) -> None:
    lon, lat = grid_centre("T-D2-S1-B2-G2")
    _, _, chain = service.locate(db, lon=lon, lat=lat)
    assert [a.code for a in chain] == ["T", "T-D2", "T-D2-S1", "T-D2-S1-B2", "T-D2-S1-B2-G2"]
    _, _, scoped = service.locate(db, lon=lon, lat=lat, scope=_scope_of(db, "T-D2-S1"))
    assert [a.code for a in scoped] == ["T-D2-S1", "T-D2-S1-B2", "T-D2-S1-B2-G2"]
    _, _, outside = service.locate(db, lon=100.0, lat=30.0)
    assert outside == []


def test_locate_accepts_bd09(db: Session) -> None:
    lon, lat = grid_centre("T-D1-S2-B1-G1")
    bd_lon, bd_lat = from_wgs84(lon, lat, CoordSystem.BD09)
    wgs_lon, wgs_lat, chain = service.locate(db, lon=bd_lon, lat=bd_lat, crs=CoordSystem.BD09)
    assert (wgs_lon, wgs_lat) == pytest.approx((lon, lat), abs=1e-7)
    assert chain[-1].code == "T-D1-S2-B1-G1"


def test_index_locates_batches_like_one_by_one(db: Session) -> None:
    rng = np.random.default_rng(7)
    lons = rng.uniform(119.99, 120.17, 2_000)
    lats = rng.uniform(29.99, 30.09, 2_000)
    index = area_index.get(db)
    ids = index.locate(lons, lats)
    grids = {
        a.id: service.geometry(a) for a in service.get_all(db, scope=ALL, level=AreaLevel.GRID)
    }
    for lon, lat, found in zip(lons[:300], lats[:300], ids[:300], strict=True):
        point = shapely.Point(lon, lat)
        expected = [i for i, g in grids.items() if g.covers(point)]
        if expected:
            assert int(found) in expected
        else:
            assert found == -1
    inside = (lons > 120.0) & (lons < 120.16) & (lats > 30.0) & (lats < 30.08)
    assert (ids[inside] >= 0).all() and (ids[~inside] == -1).all()


def test_index_follows_changes(db: Session) -> None:
    first = area_index.get(db)
    assert area_index.get(db) is first
    _new_beat(db, "IDX-B")
    assert area_index.get(db) is not first


def _new_beat(db: Session, code: str) -> None:
    station = service.get_by_code_or_raise(db, code="T-D1-S1")
    w, s, e, n = service.geometry(station).bounds
    service.import_geojson(
        db,
        data={
            "type": "FeatureCollection",
            "features": [feature(code, "beat", "T-D1-S1", rectangle(w, s, e, n))],
        },
        actor=SYSTEM,
    )


def test_index_forgets_area_writes_that_were_rolled_back(db: Session) -> None:
    first = area_index.get(db)
    with db.begin_nested() as savepoint:
        _new_beat(db, "IDX-UNDONE")
        inside = area_index.get(db)
        assert inside is not first and len(inside.ids) == len(first.ids) + 1
        savepoint.rollback()
    after = area_index.get(db)
    assert after.key == first.key and len(after.ids) == len(first.ids)


def test_index_sees_writes_of_other_processes_within_its_recheck(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = area_index.get(db)
    # A write this process's ORM never saw (as another process's would be): a plain UPDATE
    # that moves the version on, seen once the recheck interval has passed. The interval is
    # set, not waited for, so that a slow machine cannot outlast it: an hour (still within
    # it), then none (past it at once).
    grid = service.get_by_code_or_raise(db, code="T-D1-S1-B1-G1")
    db.connection().exec_driver_sql(
        "UPDATE area SET updated_at = '2099-01-01 00:00:00.000000' WHERE id = " + str(grid.id)
    )
    monkeypatch.setattr(area_index, "RECHECK_S", 3600.0)
    assert area_index.get(db) is first  # within the interval: not asked again
    monkeypatch.setattr(area_index, "RECHECK_S", 0.0)
    assert area_index.get(db) is not first


def test_every_write_of_an_area_raises_the_areas_version(db: Session) -> None:
    """What the index asks each second: one row that the database raises at any writer's
    insert, update or delete of an area (triggers), taken back with a rolled-back write."""

    def version() -> int:
        return int(db.scalar(select(AreaVersion.version)) or 0)

    sql = db.connection().exec_driver_sql
    start = version()
    grid = service.get_by_code_or_raise(db, code="T-D1-S1-B1-G1")
    sql(f"UPDATE area SET name_en = name_en WHERE id = {grid.id}")
    assert version() == start + 1
    # A statement over many areas: once a statement on PostgreSQL, once a row on SQLite.
    sql("UPDATE area SET source = source")
    assert version() >= start + 2
    raised = version()
    with db.begin_nested() as savepoint:
        _new_beat(db, "VERSION-UNDONE")
        assert version() > raised
        savepoint.rollback()
    assert version() == raised
    _new_beat(db, "VERSION-KEPT")
    db.flush()
    assert version() > raised
    raised = version()
    sql("DELETE FROM area WHERE code = 'VERSION-KEPT'")
    assert version() == raised + 1
    # The row deleted by hand comes back at the next write rather than writes going unseen.
    sql("DELETE FROM area_version")
    sql(f"UPDATE area SET name_en = name_en WHERE id = {grid.id}")
    assert version() == 1


def test_addresses_are_placed_and_scoped(db: Session) -> None:
    lon, lat = grid_centre("T-D1-S1-B2-G1")
    gcj = from_wgs84(lon, lat, CoordSystem.GCJ02)
    address = service.create_address(
        db,
        code="A-1",
        text_zh="测试路1号",
        text_en="1 Test Rd",
        lon=gcj[0],
        lat=gcj[1],
        crs=CoordSystem.GCJ02,
        actor=SYSTEM,
    )
    assert (address.lon, address.lat) == pytest.approx((lon, lat), abs=1e-7)
    grid = service.get_by_code_or_raise(db, code="T-D1-S1-B2-G1")
    assert address.area_id == grid.id and address.area_path == grid.path
    assert len(address.h3_cell) == 15
    with pytest.raises(Conflict):
        service.create_address(
            db, code="A-1", text_zh="x", text_en="", lon=lon, lat=lat, actor=SYSTEM
        )
    total, _ = service.get_addresses(db, scope=_scope_of(db, "T-D1-S1"))
    assert total == 1
    total, _ = service.get_addresses(db, scope=_scope_of(db, "T-D2"))
    assert total == 0
    with pytest.raises(InvalidInput, match="outside your areas"):
        service.create_address(
            db,
            code="A-2",
            text_zh="y",
            text_en="",
            lon=lon,
            lat=lat,
            actor=SYSTEM,
            scope=_scope_of(db, "T-D2"),
        )


def test_bulk_address_import_is_all_or_nothing(db: Session) -> None:
    rows = [
        service.AddressRow(
            code=f"B-{i}", text_zh=f"路{i}号", text_en="", lon=120.01 + i * 1e-4, lat=30.01
        )
        for i in range(50)
    ]
    bad = [*rows, service.AddressRow(code="B-3", text_zh="重复", text_en="", lon=120.0, lat=30.0)]
    with pytest.raises(InvalidInput, match=r"row 51 \(B-3\): code repeats row 4"):
        service.import_addresses(db, rows=bad, actor=SYSTEM)
    assert db.scalar(select(func.count(StandardAddress.id))) == 0
    assert service.import_addresses(db, rows=rows, actor=SYSTEM) == 50
    placed = db.scalars(select(StandardAddress).where(StandardAddress.code == "B-0")).one()
    assert placed.area_path is not None and placed.area_path.startswith(
        service.get_by_code_or_raise(db, code=CITY).path
    )
