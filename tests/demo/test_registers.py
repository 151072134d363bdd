"""The demo's registers: facilities at the extract's real amenities; on the test county, zone
types, devices along the roads and at the facilities, and a year of hazardous-material ledger
in which the reconciliation finds exactly the planted discrepancies."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shapely.geometry import LineString
from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.demo_helpers import add_addresses
from factories import grid_centre, street_grid_geojson
from fangkong.areas.models import Area
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.core.security import FieldCipher
from fangkong.demo import registers
from fangkong.demo.build import DEMO_PBF
from fangkong.demo.osm import Road
from fangkong.devices import figures
from fangkong.devices.models import Device, DeviceStatusEvent
from fangkong.facilities import register as facility_register
from fangkong.facilities.models import Facility, FacilityType
from fangkong.materials import reconcile
from fangkong.materials.models import Holder

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def test_facilities_stand_at_the_extracts_amenities() -> None:
    found = registers.read_amenities(DEMO_PBF)
    kinds = Counter(a.facility_type for a in found)
    assert len(found) >= 60
    for kind in (
        FacilityType.SCHOOL,
        FacilityType.KINDERGARTEN,
        FacilityType.BANK,
        FacilityType.FUEL_STATION,
        FacilityType.HOSPITAL,
        FacilityType.MARKET,
    ):
        assert kinds[kind] >= 1, kind
    assert all(9.4 < a.lon < 9.7 and 47.0 < a.lat < 47.3 for a in found)  # Liechtenstein


def _roads() -> list[Road]:
    return [
        Road(i, f["properties"]["class"], None, False, LineString(f["geometry"]["coordinates"]))
        for i, f in enumerate(street_grid_geojson(spacing_deg=0.01)["features"])
    ]


def _facilities(db: Session) -> list[Facility]:
    rng = random.Random(3)
    grids = ["T-D1-S1-B1-G1", "T-D1-S2-B1-G1", "T-D2-S1-B2-G2", "T-D2-S2-B1-G1", "T-D1-S1-B2-G2"]
    kinds = [FacilityType.CHEMICAL_PLANT, FacilityType.CHEMICAL_PLANT] + [
        FacilityType.FUEL_STATION
    ] * 3
    made = []
    for i, (grid, kind) in enumerate(zip(grids, kinds, strict=True)):
        lon, lat = grid_centre(grid)
        area = db.scalars(select(Area).where(Area.code == grid)).one()
        made.append(
            Facility(
                code=f"TF-{i}",
                name=f"f{i}",
                facility_type=kind,
                lon=lon,
                lat=lat,
                h3_cell="x",
                area_id=area.id,
                area_path=area.path,
                **registers._protection(rng, kind),
            )
        )
    db.add_all(made)
    db.flush()
    return made


def test_devices_and_a_year_of_ledger_with_the_planted_discrepancies(db: Session) -> None:
    add_addresses(db)
    facilities = _facilities(db)
    zones = registers.assign_zones(db)
    assert set(zones.values()) == {"central_urban", "urban_fringe", "rural"}
    rng = random.Random(7)
    n = registers.build_devices(db, _roads(), facilities, zones, rng, NOW)
    assert n > 100
    devices = db.scalars(select(Device)).all()
    assert {d.device_type.value for d in devices} >= {"camera", "alarm_button"}
    assert any(d.facility_id for d in devices)
    events = db.scalars(select(DeviceStatusEvent)).all()
    assert len(events) >= n  # each device's history starts with its installation
    found = figures.figures(db, scope=SYSTEM_SCOPE)
    city = next(f for f in found if f.code == "T")
    assert city.zone("all").devices == n and city.zone("all").density is not None
    assert 0.5 < (city.zone("all").working_rate or 0) <= 1

    opened = registers.build_inspections(db, facilities * 4, random.Random(5), NOW)
    assert opened > 0
    rates = {
        (r.area_code, r.facility_type): r
        for r in facility_register.rates(db, scope=SYSTEM_SCOPE, now=NOW, zone=ZoneInfo("UTC"))
    }
    assert rates[("T", "all")].open_inspections + rates[("T", "all")].inspected > 0
    holders, rows, planted = registers.build_materials(
        db, facilities, rng, NOW, FieldCipher("d" * 40)
    )
    assert (holders, planted) == (5, len(registers.PLANTED)) and rows > 2000
    start = (NOW - timedelta(days=registers.LEDGER_DAYS)).replace(hour=0, minute=0)
    result = reconcile.reconcile(
        db, scope=SYSTEM_SCOPE, start=start, end=NOW, now=NOW, zone=ZoneInfo("Asia/Shanghai")
    )
    codes = {h.id: h.code for h in db.scalars(select(Holder))}
    found_kinds = Counter((d.kind.value, codes[d.holder_id]) for d in result.discrepancies)
    assert found_kinds == Counter(
        {
            ("transfer_unmatched", "MH-DIST"): 1,  # the delivery of week 40, never received
            ("negative_stock", "MH-BLAST1"): 1,  # ... then used
            ("count_mismatch", "MH-BLAST1"): 3,  # month 7 short; months 10 and 11 above book
            ("transfer_quantity", "MH-DIST"): 1,  # week 33, received 2 kg short
            ("negative_stock", "MH-BLAST2"): 1,  # detonators used before any was received
            ("over_capacity", "MH-CHEM"): 1,  # thirty drums at once
            ("unlicensed", "MH-FWK"): 1,  # sales after the licence ended
        }
    ), [
        (d.kind.value, codes[d.holder_id], d.site_id, d.material_id, d.at_s, d.expected, d.actual)
        for d in result.discrepancies
    ]
    # The corrected typo and the voided duplicate leave no trace in the reconciliation.
    distributor = [b for b in result.balances if codes[b.holder_id] == "MH-DIST"]
    assert all(b.closing >= 0 for b in distributor)
