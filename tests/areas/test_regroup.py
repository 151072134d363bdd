"""Regrouping a station's grids into new beat areas: the tree, every record's area path, the
records on an old beat, the fusion check, refusals that change nothing, row-level security."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from conftest import TEST_PASSWORD, app_role_engine, fresh_database
from dispatch.dispatch_helpers import area, incident_in, new_incident
from factories import county_geojson, grid_centre
from fangkong.areas import service
from fangkong.areas.models import Area, AreaLevel
from fangkong.areas.regroup import BeatSpec, path_columns, regroup_beats
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, FangkongError, InvalidInput, NotFound
from fangkong.core.models import AuditEvent, Role
from fangkong.core.scoping import Scope, bind_scope
from fangkong.devices import register as device_register
from fangkong.devices.models import Device, DeviceType, OwnerKind
from fangkong.devices.schemas import DeviceIn
from fangkong.dispatch.models import Incident

STATION = "T-D1-S2"
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
# The station's four grids, two beats of a column each today (B1 west, B2 east): regrouped
# into a south and a north row.
SOUTH = BeatSpec("T-D1-S2-PS", "南巡区", "South beat", ("T-D1-S2-B1-G1", "T-D1-S2-B2-G1"))
NORTH = BeatSpec("T-D1-S2-PN", "北巡区", "North beat", ("T-D1-S2-B1-G2", "T-D1-S2-B2-G2"))


def _records(db: Session) -> tuple[Incident, Case, Device, Case]:
    """An incident, a case and a device in grid B1-G1, and a case on beat B1 itself."""
    incident = new_incident(db, "regroup-1", incident_in("T-D1-S2-B1-G1"), now=NOW)
    case = cases.create(
        db, case_type="hazard", title="隐患", area=area(db, "T-D1-S2-B1-G1"),
        fields={"finding_route": "data", "category": "traffic"}, user=None, actor=SYSTEM,
        now=NOW, calendar=CALENDAR,
    )  # fmt: skip
    on_beat = cases.create(
        db, case_type="hazard", title="巡区隐患", area=area(db, "T-D1-S2-B1"),
        fields={"finding_route": "data", "category": "traffic"}, user=None, actor=SYSTEM,
        now=NOW, calendar=CALENDAR,
    )  # fmt: skip
    lon, lat = grid_centre("T-D1-S2-B1-G1")
    device = device_register.create(
        db,
        data=DeviceIn.model_validate(
            {"code": "RG-CAM-1", "device_type": DeviceType.CAMERA, "owner_kind": OwnerKind.PUBLIC,
             "networked": True, "lon": lon, "lat": lat, "zone_type": "central_urban"}
        ),
        actor=SYSTEM, now=NOW, scope=None,
    )  # fmt: skip
    db.flush()
    return incident, case, device, on_beat


def _in(db: Session, scope: Scope, model: type[Incident] | type[Case] | type[Device]) -> int:
    query = select(func.count()).select_from(model).where(scope.clause(model.area_path))
    return int(db.scalar(query) or 0)


def _snapshot(db: Session) -> list[tuple[str, str, int | None]]:
    db.expire_all()
    areas = [(a.code, a.path, a.parent_id) for a in db.scalars(select(Area).order_by(Area.code))]
    paths = [(f"i{i.id}", i.area_path or "", None) for i in db.scalars(select(Incident))]
    return areas + paths


def test_regroup_moves_grids_and_records(db: Session) -> None:
    incident, case, device, on_beat = _records(db)
    old_b1 = area(db, "T-D1-S2-B1")
    old_scope = Scope(paths=(old_b1.path,))
    assert _in(db, old_scope, Incident) == 1 and _in(db, old_scope, Case) == 2
    assert _in(db, old_scope, Device) == 1
    station = area(db, STATION)

    report = regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM)

    assert report.created == ["T-D1-S2-PS", "T-D1-S2-PN"] and report.kept == []
    assert report.removed == ["T-D1-S2-B1", "T-D1-S2-B2"]
    assert report.moved_grids == 4
    assert report.rewritten["incident.area_path"] >= 1
    assert report.rewritten["case_record.area_path"] >= 1
    assert report.rewritten["device.area_path"] >= 1
    assert report.moved_up["case_record.area_path"] == 1
    assert report.moved_up["case_record.area_id"] == 1
    south = area(db, "T-D1-S2-PS")
    assert south.level is AreaLevel.BEAT and south.parent_id == station.id
    assert south.path == f"{station.path}{south.id}/"
    grid = area(db, "T-D1-S2-B1-G1")
    assert grid.parent_id == south.id and grid.path == f"{south.path}{grid.id}/"
    assert [a.code for a in service.ancestors(db, area=grid)][-2:] == ["T-D1-S2-PS", grid.code]
    # the records of the moved grid: under the new beat, no longer under the old one
    new_scope = Scope(paths=(south.path,))
    for record in (incident, case, device):
        db.refresh(record)
        assert record.area_path == grid.path
        assert new_scope.covers(record.area_path)
    assert _in(db, new_scope, Incident) == 1 and _in(db, new_scope, Case) == 1
    assert _in(db, new_scope, Device) == 1
    for model in (Incident, Case, Device):
        assert _in(db, old_scope, model) == 0
    # the case on the old beat moved up to the station
    db.refresh(on_beat)
    assert (on_beat.area_id, on_beat.area_path) == (station.id, station.path)
    assert service.get_by_code(db, code="T-D1-S2-B1") is None
    # the geometry of a beat is the union of its grids; the tree still fuses
    grids_m2 = sum(area(db, code).area_m2 for code in SOUTH.grid_codes)
    assert south.area_m2 == pytest.approx(grids_m2, rel=1e-6)
    assert service.fusion_check(db, scope=Scope(paths=("/",))).violations == []
    # the point lookup sees the new tree at once
    lon, lat = grid_centre("T-D1-S2-B2-G1")
    assert [a.code for a in service.locate(db, lon=lon, lat=lat)[2]][-2] == "T-D1-S2-PS"
    event = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "regroup_beats")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and event.area_path == station.path
    assert event.detail is not None and event.detail["moved_grids"] == 4

    # the same beats again: kept, nothing moves
    again = regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM)
    assert again.kept == ["T-D1-S2-PS", "T-D1-S2-PN"] and again.created == again.removed == []
    assert again.moved_grids == 0 and again.rewritten == {}


@pytest.mark.parametrize(
    ("beats", "error", "key"),
    [
        ([], InvalidInput, "error.areas.regroup_no_beats"),
        ([SOUTH, BeatSpec("X1", "甲", "A", ("T-D1-S2-B1-G2",))], InvalidInput,
         "error.areas.regroup_grid_missing"),
        ([SOUTH, BeatSpec("X1", "甲", "A", ("T-D1-S2-B1-G1", "T-D1-S2-B1-G2", "T-D1-S2-B2-G2"))],
         InvalidInput, "error.areas.regroup_grid_twice"),
        ([SOUTH, NORTH, BeatSpec("X1", "甲", "A", ("T-D1-S1-B1-G1",))], InvalidInput,
         "error.areas.regroup_grid_foreign"),
        ([SOUTH, NORTH, BeatSpec("X1", "甲", "A", ())], InvalidInput,
         "error.areas.regroup_beat_empty"),
        ([SOUTH, BeatSpec("T-D1-S2-PS", "甲", "A", NORTH.grid_codes)], InvalidInput,
         "error.areas.regroup_code_twice"),
        ([SOUTH, BeatSpec("T-D1-S1-B1", "甲", "A", NORTH.grid_codes)], Conflict,
         "error.areas.area_exists"),
    ],
)  # fmt: skip
def test_bad_grouping_refused_with_nothing_changed(
    db: Session, beats: list[BeatSpec], error: type[FangkongError], key: str
) -> None:
    _records(db)
    before = _snapshot(db)
    with pytest.raises(error) as refused:
        regroup_beats(db, station_code=STATION, beats=beats, actor=SYSTEM)
    assert refused.value.key == key
    assert _snapshot(db) == before


def test_user_bound_to_a_removed_beat_refused(db: Session) -> None:
    """Moving a user's binding up to the station would widen what they read: refused, naming
    the beat, until they are bound elsewhere (or the beat's code is kept)."""
    auth.create(
        db, username="beat_officer", display_name="beat_officer", password=TEST_PASSWORD,
        role=Role.VIEWER, area_codes=["T-D1-S2-B2"], actor=SYSTEM,
    )  # fmt: skip
    db.flush()
    before = _snapshot(db)
    with pytest.raises(Conflict) as refused:
        regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM)
    assert refused.value.key == "error.areas.regroup_users_bound"
    assert refused.value.params["code"] == "T-D1-S2-B2"
    assert _snapshot(db) == before
    kept = BeatSpec("T-D1-S2-B2", "东巡区", "East beat", ("T-D1-S2-B2-G1", "T-D1-S2-B2-G2"))
    west = BeatSpec("T-D1-S2-PW", "西巡区", "West beat", ("T-D1-S2-B1-G1", "T-D1-S2-B1-G2"))
    report = regroup_beats(db, station_code=STATION, beats=[west, kept], actor=SYSTEM)
    assert report.kept == ["T-D1-S2-B2"] and report.removed == ["T-D1-S2-B1"]
    assert report.moved_grids == 2


def test_not_a_station_or_out_of_scope(db: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        regroup_beats(db, station_code="T-D1", beats=[SOUTH], actor=SYSTEM)
    assert refused.value.key == "error.areas.regroup_not_station"
    elsewhere = Scope(paths=(area(db, "T-D2").path,))
    with pytest.raises(NotFound):
        regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM, scope=elsewhere)


def test_failing_fusion_refused_with_nothing_changed(db: Session) -> None:
    """A grid that spills over its station: the check after the regrouping fails, and the
    savepoint takes every change back."""
    grid = area(db, "T-D1-S2-B1-G1")
    w, s, e, n = service.geometry(grid).bounds
    from shapely.geometry import MultiPolygon, box

    grown = MultiPolygon([box(w - 0.01, s, e, n)])
    import shapely

    grid.geometry_wkb = shapely.to_wkb(grown)
    db.flush()
    before = _snapshot(db)
    with pytest.raises(Conflict) as refused:
        regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM)
    assert refused.value.key == "error.areas.regroup_fusion"
    assert _snapshot(db) == before


def test_path_columns_found_generically(db: Session) -> None:
    found = set(path_columns(db.connection()))
    assert {("incident", "area_path"), ("case_record", "area_path"), ("device", "area_path"),
            ("unit", "home_area_path")} <= found  # fmt: skip
    assert not any(table in ("audit_event", "area") for table, _ in found)


# --- PostgreSQL: the application's role under row-level security ------------------------------


@pytest.fixture(scope="module")
def app_engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    owner = fresh_database(backend, tmp_path_factory.mktemp("regroup"), suffix="_regroup")
    with Session(owner) as session:
        service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        session.commit()
    engine = app_role_engine(owner)
    owner.dispose()
    yield engine
    engine.dispose()


def test_rewrite_sees_every_row_whatever_the_callers_scope(app_engine: Engine) -> None:
    with Session(app_engine) as db:
        east = new_incident(db, "regroup-rls", incident_in("T-D1-S2-B2-G2"), now=NOW)
        db.commit()
        east_id = east.id
        # the caller's transaction reads only beat B1 (its grids): B2's incident is hidden
        b1 = area(db, "T-D1-S2-B1")
        bind_scope(db, Scope(paths=(b1.path,)), reader_id=None)
        assert db.get(Incident, east_id, populate_existing=True) is None
        report = regroup_beats(db, station_code=STATION, beats=[SOUTH, NORTH], actor=SYSTEM)
        assert report.rewritten["incident.area_path"] >= 1
        db.commit()
    with Session(app_engine) as db:
        incident = db.get(Incident, east_id)
        assert incident is not None
        assert incident.area_path is not None
        assert incident.area_path == area(db, "T-D1-S2-B2-G2").path
        assert incident.area_path.startswith(area(db, "T-D1-S2-PN").path)
