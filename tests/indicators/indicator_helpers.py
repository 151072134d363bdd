"""Builders of the indicator tests: a month of incidents, cases, devices and facilities in
the test county, made through the services that own them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, CIPHER
from dispatch.dispatch_helpers import ACTOR, area, incident_in, new_incident
from factories import county_geojson, grid_centre
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM
from fangkong.devices import register as device_register
from fangkong.devices.models import DeviceStatus, DeviceType, OwnerKind
from fangkong.devices.schemas import DeviceIn, ZoneIn
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import IncidentStatus, UnitType
from fangkong.facilities.models import Facility, FacilityType
from fangkong.indicators.periods import Period

ZONE = ZoneInfo("Asia/Shanghai")
PERIOD = Period(2026, 5)
#: Inside May 2026 in the county's zone.
T0 = datetime(2026, 5, 3, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
GRIDS = sorted(
    f["properties"]["code"]
    for f in county_geojson()["features"]
    if f["properties"]["level"] == "grid"
)


def handled(
    db: Session, key: str, at: datetime, grid: str, dispatch_after: float, travel: float
) -> None:
    incident = new_incident(db, key, incident_in(grid), now=at)
    unit = dispatch.create_unit(
        db, call_sign=f"U-{key}", unit_type=UnitType.CAR, home_area=area(db, "T"), actor=ACTOR
    )
    dispatched = at + timedelta(seconds=dispatch_after)
    dispatch.dispatch(db, incident=incident, units=[unit], actor=ACTOR, now=dispatched)
    dispatch.transition(
        db,
        incident=incident,
        to=IncidentStatus.ON_SCENE,
        actor=ACTOR,
        now=dispatched + timedelta(seconds=travel),
    )


def hazard(db: Session, at: datetime, grid: str) -> Case:
    return cases.create(
        db,
        case_type="hazard",
        title="隐患 张三",
        area=area(db, grid),
        fields={"finding_route": "data", "category": "traffic"},
        user=None,
        actor=SYSTEM,
        now=at,
        calendar=CALENDAR,
    )


def move(db: Session, case: Case, name: str, at: datetime, **fields: object) -> None:
    cases.transition(
        db,
        case=case,
        name=name,
        fields=dict(fields),
        user=None,
        actor=SYSTEM,
        now=at,
        calendar=CALENDAR,
        cipher=CIPHER,
    )


def close(db: Session, case: Case, start: datetime) -> None:
    move(db, case, "assess", start + timedelta(hours=1), assessment_level="grid", risk_grade="low")
    move(db, case, "route_internal", start + timedelta(hours=2), department="警务室")
    move(db, case, "report_handled", start + timedelta(hours=3), measures="整改")
    move(db, case, "pass_reinspection", start + timedelta(hours=4), reinspection_result="好")


def facility(db: Session, code: str, grid: str, kind: FacilityType, **protection: bool) -> Facility:
    lon, lat = grid_centre(grid)
    where = area(db, grid)
    row = Facility(
        code=code,
        name=code,
        facility_type=kind,
        lon=lon + 0.0005,
        lat=lat,
        h3_cell="x",
        area_id=where.id,
        area_path=where.path,
        **protection,
    )
    db.add(row)
    db.flush()
    return row


def device(db: Session, code: str, grid: str, **values: object) -> None:
    lon, lat = grid_centre(grid)
    base: dict[str, object] = {
        "code": code,
        "device_type": DeviceType.CAMERA,
        "owner_kind": OwnerKind.PUBLIC,
        "networked": True,
        "lon": lon,
        "lat": lat,
    }
    device_register.create(
        db, data=DeviceIn.model_validate(base | values), actor=SYSTEM, now=NOW, scope=None
    )


def a_month(
    db: Session, seed: int = 7, incidents: int = 24, hazards: int = 12, t0: datetime = T0
) -> None:
    """A random month of records across the county's grids (and a few outside the month)."""
    rng = random.Random(seed)
    device_register.set_zones(
        db,
        items=[
            ZoneIn(area_code="T-D1", zone_type="central_urban"),
            ZoneIn(area_code="T-D2-S1", zone_type="urban_fringe"),
            ZoneIn(area_code="T-D2-S2", zone_type="rural"),
        ],
        actor=SYSTEM,
        scope=None,
    )
    for i in range(incidents):
        at = t0 + timedelta(days=rng.uniform(0, 25))
        handled(
            db, f"ind-{seed}-{i}", at, rng.choice(GRIDS), rng.uniform(5, 90), rng.uniform(20, 500)
        )
    handled(db, f"ind-{seed}-before", t0 - timedelta(days=10), GRIDS[0], 10, 30)
    for _ in range(hazards):
        at = t0 + timedelta(days=rng.uniform(0, 25))
        case = hazard(db, at, rng.choice(GRIDS))
        if rng.random() < 0.6:
            close(db, case, at + timedelta(days=rng.choice([0, 0, 4])))
    for i in range(18):
        grid = rng.choice(GRIDS)
        device(
            db,
            f"D-{seed}-{i}",
            grid,
            device_type=rng.choice(list(DeviceType)),
            networked=rng.random() < 0.8,
            status=rng.choice(list(DeviceStatus)),
        )
    kinds = [
        FacilityType.SCHOOL,
        FacilityType.BANK,
        FacilityType.HOSPITAL,
        FacilityType.FUEL_STATION,
    ]
    for i in range(8):
        flags = {
            k: rng.random() < 0.7
            for k in ("physical_barriers", "alarm_networked", "video_networked")
        }
        facility(db, f"F-{seed}-{i}", rng.choice(GRIDS), rng.choice(kinds), **flags)


def areas_by_code(db: Session) -> dict[str, object]:
    from fangkong.areas.models import Area

    return {a.code: a for a in db.scalars(select(Area))}
