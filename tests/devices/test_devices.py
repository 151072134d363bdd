"""The device register: zone types, idempotent status reports and the uptime record, and the
figures per area and zone type against a brute-force count (hypothesis), on both backends."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import county_geojson, grid_centre
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import SYSTEM_SCOPE, Scope
from fangkong.devices import figures, register, status
from fangkong.devices.models import (
    Device,
    DeviceStatus,
    DeviceStatusEvent,
    DeviceType,
    OwnerKind,
    ZoneType,
)
from fangkong.devices.schemas import DeviceIn, StatusIn, ZoneIn
from fangkong.facilities.models import Facility, FacilityType

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
ACTOR = Actor(user_id=None, username="tech", client="test")
GRID = "T-D1-S1-B1-G1"
GRIDS = sorted(
    f["properties"]["code"]
    for f in county_geojson()["features"]
    if f["properties"]["level"] == "grid"
)


def device_in(code: str, grid: str = GRID, **values: Any) -> DeviceIn:
    lon, lat = grid_centre(grid)
    base: dict[str, Any] = {
        "code": code,
        "device_type": DeviceType.CAMERA,
        "owner_kind": OwnerKind.PUBLIC,
        "networked": True,
        "lon": lon,
        "lat": lat,
    }
    return DeviceIn.model_validate(base | values)


def facility(
    db: Session,
    code: str,
    grid: str = GRID,
    kind: FacilityType = FacilityType.SCHOOL,
    offset: tuple[float, float] = (0.0, 0.0),
) -> Facility:
    lon, lat = grid_centre(grid)
    area = db.scalars(select(Area).where(Area.code == grid)).one()
    row = Facility(
        code=code,
        name=code,
        facility_type=kind,
        lon=lon + offset[0],
        lat=lat + offset[1],
        h3_cell="x",
        area_id=area.id,
        area_path=area.path,
    )
    db.add(row)
    db.flush()
    return row


def test_a_device_takes_its_areas_zone_or_key_site_at_a_facility(db: Session) -> None:
    with pytest.raises(InvalidInput) as no_zone:
        register.create(db, data=device_in("C0"), actor=ACTOR, now=T0, scope=None)
    assert no_zone.value.field == "zone_type"
    register.set_zones(
        db, items=[ZoneIn(area_code="T-D1-S1", zone_type="central_urban")], actor=ACTOR, scope=None
    )
    camera = register.create(db, data=device_in("C1"), actor=ACTOR, now=T0, scope=None)
    assert camera.zone_type is ZoneType.CENTRAL_URBAN  # set on the station, inherited
    facility(db, "F1")
    own = register.create(
        db,
        data=device_in("C2", owner_kind="social", facility_code="F1"),
        actor=ACTOR,
        now=T0,
        scope=None,
    )
    assert own.zone_type is ZoneType.KEY_SITE and own.facility_id is not None
    history = status.history(db, device=camera)
    assert [(e.status, e.previous) for e in history] == [(DeviceStatus.WORKING, None)]


def test_status_reports_are_idempotent_and_never_go_back_in_time(db: Session) -> None:
    for code in ("S1", "S2"):
        register.create(
            db, data=device_in(code, zone_type="rural"), actor=ACTOR, now=T0, scope=None
        )
    hour = timedelta(hours=1)
    batch = [
        StatusIn(code="S1", status=DeviceStatus.FAULT, at=T0 + hour),
        StatusIn(
            code="S1", status=DeviceStatus.OFFLINE, at=T0 + 3 * hour, heartbeat_at=T0 + 3 * hour
        ),
        StatusIn(code="S1", status=DeviceStatus.WORKING, at=T0 + 2 * hour),  # out of order
        StatusIn(code="S2", status=DeviceStatus.WORKING, at=T0 + hour),
        StatusIn(code="NOPE", status=DeviceStatus.WORKING, at=T0 + hour),
    ]
    first = status.report_many(db, reports=batch, actor=ACTOR, now=T0 + 4 * hour, scope=None)
    assert [o.outcome for o in first] == ["changed", "changed", "changed", "unchanged", "error"]
    s1 = register.get_by_code(db, code="S1", scope=None)
    assert s1 is not None and s1.status is DeviceStatus.OFFLINE
    assert s1.last_heartbeat_at == T0 + 3 * hour
    again = status.report_many(db, reports=batch, actor=ACTOR, now=T0 + 5 * hour, scope=None)
    assert [o.outcome for o in again] == [
        "unchanged",
        "unchanged",
        "unchanged",
        "unchanged",
        "error",
    ]
    rows = db.scalars(select(DeviceStatusEvent).where(DeviceStatusEvent.device_id == s1.id)).all()
    assert len(rows) == 4  # registered, then three changes: nothing written twice
    late = status.report_many(
        db,
        reports=[
            StatusIn(
                code="S1",
                status=DeviceStatus.FAULT,
                at=T0 + 90 * timedelta(minutes=1),
                heartbeat_at=T0,
            )
        ],
        actor=ACTOR,
        now=T0 + 5 * hour,
        scope=None,
    )
    assert [o.outcome for o in late] == ["stale"]
    assert s1.last_heartbeat_at == T0 + 3 * hour  # never back
    clash = status.report_many(
        db,
        reports=[StatusIn(code="S1", status=DeviceStatus.WORKING, at=T0 + 3 * hour)],
        actor=ACTOR,
        now=T0 + 5 * hour,
        scope=None,
    )
    assert clash[0].outcome == "error" and clash[0].field == "status"
    share = status.uptime(db, device=s1, start=T0, end=T0 + 4 * hour)
    # working 0-1 h, fault 1-2 h, working 2-3 h, offline 3-4 h.
    assert share == pytest.approx({"working": 0.5, "fault": 0.25, "offline": 0.25, "unknown": 0.0})
    # Another station's user sees no device of this grid.
    other = Scope(paths=(db.scalars(select(Area.path).where(Area.code == "T-D2")).one(),))
    hidden = status.report_many(
        db,
        reports=[StatusIn(code="S2", status=DeviceStatus.FAULT, at=T0 + 6 * hour)],
        actor=ACTOR,
        now=T0 + 6 * hour,
        scope=other,
    )
    assert hidden[0].outcome == "error"


# --- figures against a brute-force count -------------------------------------------------------

OWNERS = list(OwnerKind)


@st.composite
def registers(draw: st.DrawFn) -> dict[str, Any]:
    zones = draw(
        st.dictionaries(
            st.sampled_from([*GRIDS, "T-D1", "T-D2-S1", "T-D1-S2-B1"]),
            st.sampled_from(["central_urban", "urban_fringe", "rural"]),
            max_size=6,
        )
    )
    devices = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "grid": st.sampled_from(GRIDS),
                    "type": st.sampled_from(list(DeviceType)),
                    "owner": st.sampled_from(OWNERS),
                    "zone": st.sampled_from(list(ZoneType)),
                    "networked": st.booleans(),
                    "status": st.sampled_from(list(DeviceStatus)),
                    "dx": st.floats(-0.015, 0.015),
                    "dy": st.floats(-0.008, 0.008),
                }
            ),
            max_size=40,
        )
    )
    facilities = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "grid": st.sampled_from(GRIDS),
                    "type": st.sampled_from(list(FacilityType)),
                    # 0: no camera; 1: a working camera 30 m away; 2: one 400 m away;
                    # 3: its own working camera far away; 4: a faulty camera next to it
                    "camera": st.integers(0, 4),
                }
            ),
            max_size=8,
        )
    )
    return {"zones": zones, "devices": devices, "facilities": facilities}


def _store(db: Session, spec: dict[str, Any]) -> None:
    areas = {a.code: a for a in db.scalars(select(Area))}
    register.set_zones(
        db,
        items=[ZoneIn(area_code=c, zone_type=z) for c, z in spec["zones"].items()]
        or [ZoneIn(area_code="T", zone_type=None)],
        actor=ACTOR,
        scope=None,
    )
    rows = []
    for i, d in enumerate(spec["devices"]):
        lon, lat = grid_centre(d["grid"])
        area = areas[d["grid"]]
        rows.append(
            Device(
                code=f"FD{i}",
                device_type=d["type"],
                owner_kind=d["owner"],
                zone_type=d["zone"],
                networked=d["networked"],
                status=d["status"],
                status_at=T0,
                lon=lon + d["dx"],
                lat=lat + d["dy"],
                # as every write path stores it: the figures find cameras by their cell
                h3_cell=h3_cell(lon + d["dx"], lat + d["dy"]),
                area_id=area.id,
                area_path=area.path,
            )
        )
    for j, f in enumerate(spec["facilities"]):
        place = facility(db, f"FF{j}", f["grid"], f["type"], offset=(0.0, 0.019))
        near = {1: 30.0, 2: 400.0, 4: 10.0}.get(f["camera"])
        if f["camera"] == 3:
            far = facility(db, f"FX{j}", f["grid"], f["type"], offset=(0.0, -0.019))
            db.delete(far)
            db.flush()
            rows.append(_camera(f"FC{j}", place, 2000.0, DeviceStatus.WORKING, own=True))
        elif near is not None:
            state = DeviceStatus.FAULT if f["camera"] == 4 else DeviceStatus.WORKING
            rows.append(_camera(f"FC{j}", place, near, state, own=False))
    db.add_all(rows)
    db.flush()


def _camera(code: str, place: Facility, metres: float, state: DeviceStatus, own: bool) -> Device:
    lat = place.lat + metres / 110_574.0
    return Device(
        code=code,
        device_type=DeviceType.CAMERA,
        owner_kind=OwnerKind.SOCIAL if own else OwnerKind.PUBLIC,
        facility_id=place.id if own else None,
        zone_type=ZoneType.KEY_SITE,
        networked=True,
        status=state,
        status_at=T0,
        lon=place.lon,
        lat=lat,
        h3_cell=h3_cell(place.lon, lat),
        area_id=None,  # counted by the facility it belongs to or stands near, not in an area
        area_path=None,
    )


def brute(db: Session, scope: Scope) -> dict[str, Any]:
    areas = [a for a in db.scalars(select(Area)) if scope.covers(a.path)]
    parents = {a.parent_id for a in db.scalars(select(Area))}
    by_id = {a.id: a for a in db.scalars(select(Area))}
    zone_rows = {z.area_id: z.zone_type.value for z in db.scalars(select(figures.AreaZone))}

    def leaf_zone(area: Area) -> str | None:
        for up in reversed([int(i) for i in area.path.strip("/").split("/") if i]):
            if up in zone_rows:
                return zone_rows[up]
        return None

    devices = [d for d in db.scalars(select(Device)) if d.area_id is not None]
    working_cameras = [
        d
        for d in db.scalars(select(Device))
        if d.device_type is DeviceType.CAMERA and d.status is DeviceStatus.WORKING
    ]
    found: dict[str, Any] = {}
    for area in areas:
        leaves = [a for a in by_id.values() if a.id not in parents and a.path.startswith(area.path)]
        leaf_ids = {a.id for a in leaves}
        mine = [d for d in devices if d.area_id in leaf_ids]
        zones = {}
        for zone in ["all", *(z.value for z in ZoneType)]:
            members = [d for d in mine if zone == "all" or d.zone_type.value == zone]
            if zone == "key_site":
                km2, cams = None, 0
            else:
                zoned = [a for a in leaves if zone == "all" or leaf_zone(a) == zone]
                km2 = sum(a.area_m2 for a in zoned) / 1e6
                ids = {a.id for a in zoned}
                cams = sum(
                    1
                    for d in mine
                    if d.area_id in ids
                    and d.device_type is DeviceType.CAMERA
                    and d.owner_kind is OwnerKind.PUBLIC
                )
            zones[zone] = (
                len(members),
                dict(Counter(d.device_type.value for d in members)),
                sum(d.networked for d in members),
                sum(d.networked and d.status is not DeviceStatus.OFFLINE for d in members),
                sum(d.status is DeviceStatus.WORKING for d in members),
                cams,
                None if km2 is None else round(km2, 9),
            )
        covered: dict[str, tuple[int, int]] = {}
        for f in db.scalars(select(Facility)):
            if f.area_id not in leaf_ids:
                continue
            hit = any(
                c.facility_id == f.id
                or math.hypot(
                    (c.lon - f.lon) * 111_320 * math.cos(math.radians(f.lat)),
                    (c.lat - f.lat) * 110_574,
                )
                <= figures.COVERAGE_RADIUS_M
                for c in working_cameras
            )
            n, k = covered.get(f.facility_type.value, (0, 0))
            covered[f.facility_type.value] = (n + 1, k + int(hit))
        found[area.code] = (zones, covered)
    return found


def _computed(result: list[figures.AreaFigures]) -> dict[str, Any]:
    found = {}
    for a in result:
        zones = {
            z.zone: (
                z.devices,
                {k: v for k, v in z.by_type.items() if v},
                z.networked,
                z.online,
                z.working,
                z.public_cameras,
                None if z.km2 is None else round(z.km2, 9),
            )
            for z in a.zones
        }
        covered = {c.facility_type: (c.facilities, c.covered) for c in a.facilities if c.facilities}
        found[a.code] = (zones, covered)
    return found


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=registers(), bound=st.sampled_from(["T", "T-D1", "T-D1-S2", GRID]))
def test_figures_equal_a_brute_force_count(db: Session, spec: dict[str, Any], bound: str) -> None:
    nested = db.begin_nested()
    try:
        _store(db, spec)
        scope = Scope(paths=(db.scalars(select(Area.path).where(Area.code == bound)).one(),))
        result = figures.figures(db, scope=scope)
        assert next(a.code for a in result) == bound
        assert _computed(result) == brute(db, scope)
        for a in result:
            total = a.zone("all")
            assert total.devices == sum(z.devices for z in a.zones if z.zone != "all")
            if total.density is not None:
                assert total.density_target == 70.0
    finally:
        nested.rollback()


def test_density_against_the_targets(db: Session) -> None:
    register.set_zones(
        db,
        items=[
            ZoneIn(area_code="T-D1-S1-B1-G1", zone_type="central_urban"),
            ZoneIn(area_code="T-D1-S1-B1-G2", zone_type="rural"),
        ],
        actor=ACTOR,
        scope=None,
    )
    km2 = {
        a.code: a.area_m2 / 1e6
        for a in db.scalars(select(Area).where(Area.code.in_(["T-D1-S1-B1-G1", "T-D1-S1-B1-G2"])))
    }
    need = math.ceil(160 * km2["T-D1-S1-B1-G1"])
    for i in range(need):
        register.create(db, data=device_in(f"CU{i}"), actor=ACTOR, now=T0, scope=None)
    register.create(db, data=device_in("RU0", "T-D1-S1-B1-G2"), actor=ACTOR, now=T0, scope=None)
    (beat,) = [a for a in figures.figures(db, scope=SYSTEM_SCOPE) if a.code == "T-D1-S1-B1"]
    central, rural = beat.zone("central_urban"), beat.zone("rural")
    assert central.public_cameras == need and central.meets_density is True
    assert central.density == pytest.approx(need / km2["T-D1-S1-B1-G1"])
    assert rural.public_cameras == 1 and rural.meets_density is False
    assert beat.zone("key_site").density is None
    assert beat.zone("all").density_target == 70.0
