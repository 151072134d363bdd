"""The demo county's registers (issue 19): key facilities at the extract's real amenities,
devices along its roads and at its facilities, and a few hazardous-material holders with a
year of movements and planted discrepancies.

- Facilities: every school, kindergarten, hospital, bank, fuel station, town hall or police
  station, railway station, supermarket (a large market), pub, bar, cinema or theatre (an
  entertainment venue) the OpenStreetMap extract tags, at its point (an area's inside
  point), with made-up staff and protection (most compliant, some not). The extract has no
  chemical plant or port: two industrial sites stand in for chemical plants.
- Zone types: grids by the density of their standard addresses (the densest central urban,
  then urban fringe, the rest rural).
- Devices: public cameras along the roads (closer together in denser zones), checkpoints
  where main roads leave a precinct, and each facility's own cameras and alarm buttons; most
  networked and working, some faulty or offline, each with a status history over the year.
- Hazardous materials: a distributor of explosives that sells to two blasting contractors
  (deliveries with matching ends), a chemical plant using a toxic chemical, a fireworks
  wholesaler and a retailer; a year of rows and monthly counts, and planted discrepancies
  (a count short, a delivery never received, one received short, a site over capacity, a
  sale after a licence ended, a use recorded before its receipt), and two corrections.

Everything is seeded, so a rebuilt demo has the same registers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import osmium
import shapely
from shapely.errors import ShapelyError
from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area, AreaLevel, StandardAddress
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.core.audit import SYSTEM
from fangkong.core.security import FieldCipher
from fangkong.demo.osm import Road
from fangkong.devices.models import (
    AreaZone,
    Device,
    DeviceStatus,
    DeviceStatusEvent,
    DeviceType,
    OwnerKind,
    StatusSource,
    ZoneType,
)
from fangkong.facilities import register as facility_register
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.rules import DEFAULT_RULES, compliant
from fangkong.facilities.schemas import InspectionIn
from fangkong.materials import ledger, register
from fangkong.materials.models import (
    SIGN,
    BaseUnit,
    CorrectionReason,
    HolderKind,
    MaterialClass,
    Movement,
    MovementKind,
    SiteKind,
)
from fangkong.materials.reconcile import seconds
from fangkong.materials.schemas import (
    CapacityIn,
    CorrectionIn,
    CountIn,
    HolderIn,
    MaterialIn,
    MovementIn,
    SiteIn,
)

#: OSM tags of the facilities, by type.
AMENITIES: dict[tuple[str, str], FacilityType] = {
    ("amenity", "school"): FacilityType.SCHOOL,
    ("amenity", "kindergarten"): FacilityType.KINDERGARTEN,
    ("amenity", "hospital"): FacilityType.HOSPITAL,
    ("amenity", "clinic"): FacilityType.HOSPITAL,
    ("amenity", "bank"): FacilityType.BANK,
    ("amenity", "fuel"): FacilityType.FUEL_STATION,
    ("amenity", "townhall"): FacilityType.GOVERNMENT,
    ("amenity", "police"): FacilityType.GOVERNMENT,
    ("amenity", "courthouse"): FacilityType.GOVERNMENT,
    ("railway", "station"): FacilityType.TRANSPORT_HUB,
    ("railway", "halt"): FacilityType.TRANSPORT_HUB,
    ("amenity", "bus_station"): FacilityType.TRANSPORT_HUB,
    ("shop", "supermarket"): FacilityType.MARKET,
    ("shop", "mall"): FacilityType.MARKET,
    ("amenity", "marketplace"): FacilityType.MARKET,
    ("amenity", "pub"): FacilityType.ENTERTAINMENT,
    ("amenity", "bar"): FacilityType.ENTERTAINMENT,
    ("amenity", "nightclub"): FacilityType.ENTERTAINMENT,
    ("amenity", "cinema"): FacilityType.ENTERTAINMENT,
    ("amenity", "theatre"): FacilityType.ENTERTAINMENT,
}
NAMES_ZH: dict[FacilityType, str] = {
    FacilityType.SCHOOL: "学校",
    FacilityType.KINDERGARTEN: "幼儿园",
    FacilityType.HOSPITAL: "医院",
    FacilityType.BANK: "银行",
    FacilityType.FUEL_STATION: "加油站",
    FacilityType.CHEMICAL_PLANT: "化工厂",
    FacilityType.GOVERNMENT: "机关",
    FacilityType.TRANSPORT_HUB: "车站",
    FacilityType.PORT: "码头",
    FacilityType.MARKET: "市场",
    FacilityType.ENTERTAINMENT: "娱乐场所",
}
#: Public cameras along the roads, one per this many metres, by zone.
CAMERA_SPACING_M = {
    ZoneType.CENTRAL_URBAN: 90.0,
    ZoneType.URBAN_FRINGE: 260.0,
    ZoneType.RURAL: 650.0,
}
MAIN_ROADS = frozenset({"motorway", "trunk", "primary", "secondary"})
DEFAULT_RULES_ON = list(DEFAULT_RULES)
#: The year of the ledger ends on the day before the build.
LEDGER_DAYS = 365


@dataclass
class RegistersReport:
    facilities: int = 0
    devices: int = 0
    holders: int = 0
    movements: int = 0
    discrepancies_planted: int = 0


@dataclass(frozen=True)
class Amenity:
    osm_id: int
    osm_type: str
    facility_type: FacilityType
    name: str | None
    lon: float
    lat: float


def read_amenities(pbf: Path) -> list[Amenity]:
    """The extract's facilities by :data:`AMENITIES`: nodes at their point, ways and
    relations at a point inside their area; by type, then id."""
    wkb = osmium.geom.WKBFactory()
    found: dict[tuple[str, int], Amenity] = {}
    keys = sorted({k for k, _ in AMENITIES})
    processor = (
        osmium.FileProcessor(str(pbf)).with_areas().with_filter(osmium.filter.KeyFilter(*keys))
    )
    for obj in processor:
        kind = next(
            (AMENITIES[(k, v)] for k in keys if (v := obj.tags.get(k)) and (k, v) in AMENITIES),
            None,
        )
        if kind is None:
            continue
        name = obj.tags.get("name")
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                found[("node", obj.id)] = Amenity(
                    obj.id, "node", kind, name, obj.location.lon, obj.location.lat
                )
        elif isinstance(obj, osmium.osm.Area):
            try:
                shape = shapely.wkb.loads(wkb.create_multipolygon(obj), hex=True)
            except (RuntimeError, ValueError, ShapelyError):
                continue
            if shape.is_empty:
                continue
            point = shape.representative_point()
            osm_type = "way" if obj.from_way() else "relation"
            found[(osm_type, obj.orig_id())] = Amenity(
                obj.orig_id(), osm_type, kind, name, float(point.x), float(point.y)
            )
    return sorted(found.values(), key=lambda a: (a.facility_type.value, a.osm_type, a.osm_id))


def _industrial_sites(pbf: Path, limit: int) -> list[tuple[float, float]]:
    wkb = osmium.geom.WKBFactory()
    points: list[tuple[int, float, float]] = []
    processor = (
        osmium.FileProcessor(str(pbf))
        .with_areas()
        .with_filter(osmium.filter.TagFilter(("landuse", "industrial")))
    )
    for obj in processor:
        if isinstance(obj, osmium.osm.Area):
            try:
                shape = shapely.wkb.loads(wkb.create_multipolygon(obj), hex=True)
            except (RuntimeError, ValueError, ShapelyError):
                continue
            if not shape.is_empty:
                p = shape.representative_point()
                points.append((obj.orig_id(), float(p.x), float(p.y)))
    points.sort()
    return [(x, y) for _, x, y in points[:limit]]


# --- facilities ---------------------------------------------------------------------------------


def _place(session: Session, lon: float, lat: float) -> tuple[int, str] | None:
    index = area_index.get(session)
    leaf = int(index.locate([lon], [lat])[0])
    path = index.path_of(leaf) if leaf >= 0 else None
    return (leaf, path) if path else None


def _protection(rng: random.Random, kind: FacilityType) -> dict[str, Any]:
    """Staff and protection: most facilities meet the rules, one in five falls short."""
    staff = {
        FacilityType.HOSPITAL: rng.randint(250, 900),
        FacilityType.SCHOOL: rng.randint(40, 260),
        FacilityType.CHEMICAL_PLANT: rng.randint(120, 600),
        FacilityType.GOVERNMENT: rng.randint(30, 300),
    }.get(kind, rng.randint(4, 60))
    short = rng.random() < 0.2
    need = max(1, -(-staff * 5 // 1000)) if staff >= 200 else 1
    values = {
        "staff_count": staff,
        "guards_full_time": need - (1 if short and rng.random() < 0.5 else 0),
        "guards_part_time": need,
        "physical_barriers": kind
        in (FacilityType.BANK, FacilityType.CHEMICAL_PLANT, FacilityType.GOVERNMENT)
        or rng.random() < 0.5,
        "alarm_networked": not short or rng.random() < 0.5,
        "video_networked": not short or rng.random() < 0.3,
        "school_gate_post": kind in (FacilityType.SCHOOL, FacilityType.KINDERGARTEN)
        and not (short and rng.random() < 0.5),
        "closed_management": kind
        in (FacilityType.SCHOOL, FacilityType.KINDERGARTEN, FacilityType.CHEMICAL_PLANT),
    }
    return values


def build_facilities(session: Session, pbf: Path, rng: random.Random) -> list[Facility]:
    amenities = read_amenities(pbf)
    facilities: list[Facility] = []
    counts: dict[FacilityType, int] = {}
    places: list[tuple[FacilityType, str | None, float, float, str, str | None]] = [
        (a.facility_type, a.name, a.lon, a.lat, "osm", f"{a.osm_type}/{a.osm_id}")
        for a in amenities
    ]
    for lon, lat in _industrial_sites(pbf, 2):
        places.append((FacilityType.CHEMICAL_PLANT, None, lon, lat, "demo", None))
    for kind, name, lon, lat, source, ref in places:
        placed = _place(session, lon, lat)
        if placed is None:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        number = counts[kind]
        facility = Facility(
            code=f"KF-{kind.value[:4].upper()}-{number:03d}",
            name=(name or f"{NAMES_ZH[kind]}{number}")[:128],
            facility_type=kind,
            address="",
            lon=lon,
            lat=lat,
            h3_cell=h3_cell(lon, lat),
            area_id=placed[0],
            area_path=placed[1],
            source=source,
            source_ref=ref,
            **_protection(rng, kind),
        )
        facilities.append(facility)
    session.add_all(facilities)
    session.flush()
    return facilities


# --- zones and devices ---------------------------------------------------------------------------


def assign_zones(session: Session) -> dict[int, ZoneType]:
    """Each grid's zone by its standard addresses per km²: the top fifth central urban, the
    next two fifths urban fringe, the rest rural."""
    grids = session.scalars(select(Area).where(Area.level == AreaLevel.GRID)).all()
    counts = dict(
        session.execute(
            select(StandardAddress.area_id, func.count(StandardAddress.id)).group_by(
                StandardAddress.area_id
            )
        ).all()
    )
    density = sorted(
        ((counts.get(g.id, 0) / max(g.area_m2 / 1e6, 1e-6), g.id) for g in grids), reverse=True
    )
    zones: dict[int, ZoneType] = {}
    for rank, (_, area_id) in enumerate(density):
        share = rank / max(len(density), 1)
        zones[area_id] = (
            ZoneType.CENTRAL_URBAN
            if share < 0.2
            else ZoneType.URBAN_FRINGE
            if share < 0.6
            else ZoneType.RURAL
        )
    session.add_all(AreaZone(area_id=a, zone_type=z) for a, z in zones.items())
    session.flush()
    return zones


def _metres(lon: float, lat: float) -> tuple[float, float]:
    return 111_320.0 * np.cos(np.radians(lat)), 110_574.0


def _status(rng: random.Random) -> tuple[DeviceStatus, bool]:
    roll = rng.random()
    status = (
        DeviceStatus.WORKING
        if roll < 0.9
        else DeviceStatus.FAULT
        if roll < 0.96
        else DeviceStatus.OFFLINE
    )
    return status, rng.random() < 0.92


def build_devices(
    session: Session,
    roads: list[Road],
    facilities: list[Facility],
    zones: dict[int, ZoneType],
    rng: random.Random,
    now: datetime,
) -> int:
    index = area_index.get(session)
    planned: list[dict[str, Any]] = []
    # Public cameras along the roads, by the zone of the grid they stand in.
    for road in roads:
        line = road.geometry
        kx, ky = _metres(line.coords[0][0], line.coords[0][1])
        length_m = float(
            sum(
                np.hypot((b[0] - a[0]) * kx, (b[1] - a[1]) * ky)
                for a, b in zip(line.coords[:-1], line.coords[1:], strict=True)
            )
        )
        middle = line.interpolate(0.5, normalized=True)
        leaf = int(index.locate([middle.x], [middle.y])[0])
        zone = zones.get(leaf, ZoneType.RURAL)
        spacing = CAMERA_SPACING_M[zone]
        n = int(length_m // spacing)
        if n == 0 and rng.random() < length_m / spacing:
            n = 1
        for i in range(n):
            p = line.interpolate((i + 0.5) / n, normalized=True)
            planned.append(
                {
                    "type": DeviceType.CAMERA,
                    "owner": OwnerKind.PUBLIC,
                    "lon": p.x,
                    "lat": p.y,
                    "zone": None,
                    "facility": None,
                }
            )
        if road.highway in MAIN_ROADS and rng.random() < 0.08:
            p = line.interpolate(rng.random(), normalized=True)
            planned.append(
                {
                    "type": DeviceType.VEHICLE_CHECKPOINT,
                    "owner": OwnerKind.PUBLIC,
                    "lon": p.x,
                    "lat": p.y,
                    "zone": None,
                    "facility": None,
                }
            )
    # Each facility's own devices: cameras (most), an alarm button, access control.
    for f in facilities:
        own = rng.randint(0, 4) if f.video_networked else rng.randint(0, 1)
        for _ in range(own):
            planned.append(
                {
                    "type": DeviceType.CAMERA,
                    "owner": OwnerKind.SOCIAL,
                    "lon": f.lon + rng.uniform(-3e-4, 3e-4),
                    "lat": f.lat + rng.uniform(-2e-4, 2e-4),
                    "zone": ZoneType.KEY_SITE,
                    "facility": f.id,
                }
            )
        if f.alarm_networked:
            planned.append(
                {
                    "type": DeviceType.ALARM_BUTTON,
                    "owner": OwnerKind.SOCIAL,
                    "lon": f.lon,
                    "lat": f.lat,
                    "zone": ZoneType.KEY_SITE,
                    "facility": f.id,
                }
            )
        if f.facility_type in (FacilityType.SCHOOL, FacilityType.CHEMICAL_PLANT, FacilityType.BANK):
            kind = DeviceType.ACCESS_CONTROL if rng.random() < 0.6 else DeviceType.PERIMETER_SENSOR
            planned.append(
                {
                    "type": kind,
                    "owner": OwnerKind.SOCIAL,
                    "lon": f.lon + 1e-4,
                    "lat": f.lat,
                    "zone": ZoneType.KEY_SITE,
                    "facility": f.id,
                }
            )
    lons = np.array([p["lon"] for p in planned])
    lats = np.array([p["lat"] for p in planned])
    leaves = index.locate(lons, lats) if planned else np.zeros(0, dtype=np.int64)
    start = now - timedelta(days=LEDGER_DAYS)
    devices: list[Device] = []
    events: list[tuple[int, list[tuple[datetime, DeviceStatus, DeviceStatus | None]]]] = []
    for i, (p, leaf) in enumerate(zip(planned, leaves.tolist(), strict=True)):
        path = index.path_of(int(leaf)) if leaf >= 0 else None
        if path is None:
            continue
        status, networked = _status(rng)
        # A year of the device's history: installed working, a few faults and repairs.
        history: list[tuple[datetime, DeviceStatus, DeviceStatus | None]] = [
            (start + timedelta(hours=rng.randint(0, 24 * 30)), DeviceStatus.WORKING, None)
        ]
        moment = history[0][0]
        for _ in range(rng.randint(0, 3)):
            moment += timedelta(hours=rng.randint(24 * 20, 24 * 100))
            if moment >= now - timedelta(days=2):
                break
            down = rng.choice([DeviceStatus.FAULT, DeviceStatus.OFFLINE])
            history.append((moment, down, DeviceStatus.WORKING))
            moment += timedelta(hours=rng.randint(2, 96))
            history.append((moment, DeviceStatus.WORKING, down))
        if status != history[-1][1]:
            history.append((now - timedelta(hours=rng.randint(1, 40)), status, history[-1][1]))
        zone = p["zone"] or zones.get(int(leaf), ZoneType.RURAL)
        device = Device(
            code=f"DV-{i + 1:06d}",
            name="",
            device_type=p["type"],
            owner_kind=p["owner"],
            facility_id=p["facility"],
            zone_type=zone,
            networked=networked,
            status=status,
            status_at=history[-1][0],
            last_heartbeat_at=(now - timedelta(minutes=rng.randint(1, 30)))
            if networked and status is not DeviceStatus.OFFLINE
            else None,
            lon=float(p["lon"]),
            lat=float(p["lat"]),
            h3_cell=h3_cell(float(p["lon"]), float(p["lat"])),
            area_id=int(leaf),
            area_path=path,
        )
        devices.append(device)
        events.append((len(devices) - 1, history))
    session.add_all(devices)
    session.flush()
    session.add_all(
        DeviceStatusEvent(
            device_id=devices[i].id,
            at=at,
            status=status,
            previous=previous,
            source=StatusSource.REGISTER if previous is None else StatusSource.API,
            recorded_at=at,
            recorded_by="demo",
        )
        for i, history in events
        for at, status, previous in history
    )
    session.flush()
    return len(devices)


# --- hazardous materials -------------------------------------------------------------------------


def _row(
    site: str,
    material: str,
    kind: MovementKind,
    qty: float,
    unit: str,
    at: datetime,
    doc: str,
    cp: str | None = None,
) -> MovementIn:
    return MovementIn(
        site_code=site,
        material_code=material,
        kind=kind,
        quantity=round(qty, 3),
        unit=unit,
        occurred_at=at,
        document_no=doc,
        counterparty_code=cp,
    )


CATALOGUE = (
    (
        "EMX-2",
        "2号岩石乳化炸药",
        "Emulsion explosive No. 2",
        MaterialClass.CIVIL_EXPLOSIVE,
        BaseUnit.KG,
        {"box": 24},
    ),
    (
        "DET-8",
        "8号工业电子雷管",
        "Electronic detonator No. 8",
        MaterialClass.CIVIL_EXPLOSIVE,
        BaseUnit.PIECE,
        {"box": 50},
    ),
    (
        "CORD",
        "工业导爆索",
        "Detonating cord",
        MaterialClass.CIVIL_EXPLOSIVE,
        BaseUnit.METRE,
        {"roll": 50},
    ),
    ("NACN", "氰化钠", "Sodium cyanide", MaterialClass.TOXIC_CHEMICAL, BaseUnit.KG, {"drum": 50}),
    (
        "AN",
        "硝酸铵",
        "Ammonium nitrate",
        MaterialClass.EXPLOSIVE_PRECURSOR,
        BaseUnit.KG,
        {"bag": 25},
    ),
    (
        "FWK-C",
        "组合烟花",
        "Cake fireworks",
        MaterialClass.FIREWORKS,
        BaseUnit.PIECE,
        {"carton": 12},
    ),
)
EXPLOSIVE = [MaterialClass.CIVIL_EXPLOSIVE]
HOLDERS = (
    ("MH-DIST", "民爆器材销售公司", HolderKind.DISTRIBUTOR, EXPLOSIVE),
    ("MH-BLAST1", "采石场爆破作业队", HolderKind.BLASTING, EXPLOSIVE),
    ("MH-BLAST2", "隧道工程爆破公司", HolderKind.BLASTING, EXPLOSIVE),
    (
        "MH-CHEM",
        "精细化工厂",
        HolderKind.USER,
        [MaterialClass.TOXIC_CHEMICAL, MaterialClass.EXPLOSIVE_PRECURSOR],
    ),
    ("MH-FWK", "烟花爆竹零售点", HolderKind.RETAIL, [MaterialClass.FIREWORKS]),
)
SITES = (
    (
        "MS-DIST",
        "MH-DIST",
        SiteKind.MAGAZINE,
        [
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.KG, 5000),
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.PIECE, 20000),
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.METRE, 10000),
        ],
    ),
    (
        "MS-B1",
        "MH-BLAST1",
        SiteKind.MAGAZINE,
        [
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.KG, 1000),
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.PIECE, 3000),
        ],
    ),
    (
        "MS-B2",
        "MH-BLAST2",
        SiteKind.MAGAZINE,
        [
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.KG, 600),
            (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.PIECE, 2000),
        ],
    ),
    (
        "MS-CHEM",
        "MH-CHEM",
        SiteKind.WAREHOUSE,
        [
            (MaterialClass.TOXIC_CHEMICAL, BaseUnit.KG, 2000),
            (MaterialClass.EXPLOSIVE_PRECURSOR, BaseUnit.KG, 10000),
        ],
    ),
    ("MS-FWK", "MH-FWK", SiteKind.SHOP, [(MaterialClass.FIREWORKS, BaseUnit.PIECE, 1000)]),
)
#: The planted discrepancies: what a reconciliation of the year finds.
PLANTED = (
    "MH-BLAST1: a delivery of EMX-2 (week 40) never recorded as received: the distributor's "
    "sale unmatched, the contractor's book below zero once it uses it, and its later counts "
    "(none below zero) above the book",
    "MH-BLAST1: a delivery of EMX-2 received 2 kg short of what was sold",
    "MH-BLAST1: the count of month 7 2 kg below the book",
    "MH-CHEM: 30 drums of NACN stored at once, over the warehouse's 2,000 kg",
    "MH-FWK: sales after its licence ended",
    "MH-BLAST2: detonators used before any was received (the book below zero)",
)


class _Ledger:
    """The demo's rows as they are written, with document numbers in order."""

    def __init__(self, year: int) -> None:
        self.rows: list[MovementIn] = []
        self.year = year
        self.number = 0

    def doc(self, prefix: str) -> str:
        self.number += 1
        return f"{prefix}{self.year}-{self.number:05d}"

    def add(self, *args: Any, **kwargs: Any) -> MovementIn:
        row = _row(*args, **kwargs)
        self.rows.append(row)
        return row


def _distributor_and_contractors(
    book: _Ledger, day0: datetime, now: datetime, rng: random.Random
) -> tuple[str, str]:
    """The distributor's monthly receipts, its weekly sales to the two contractors, their
    receipts and their blasting days; the typo'd receipt's and the duplicate sale's numbers."""
    typo_doc = ""
    for cycle in range(14):  # every four weeks, before those four weeks' sales
        at = day0 + timedelta(days=28 * cycle + 1, hours=7)
        number = book.doc("GR")
        # The sixth receipt is keyed 20,000 kg (a typo, corrected to 2,000 below).
        quantity = 20000 if cycle == 6 else 2000
        book.add("MS-DIST", "EMX-2", MovementKind.RECEIVE, quantity, "kg", at, number)
        typo_doc = number if cycle == 6 else typo_doc
        book.add("MS-DIST", "DET-8", MovementKind.RECEIVE, 85, "box", at, book.doc("GR"))
        if cycle % 2 == 0:
            book.add("MS-DIST", "CORD", MovementKind.RECEIVE, 10, "roll", at, book.doc("GR"))
    duplicate = ""
    for week in range(52):
        for holder, site, emx, det in (
            ("MH-BLAST1", "MS-B1", 300, 12),
            ("MH-BLAST2", "MS-B2", 180, 8),
        ):
            at = day0 + timedelta(days=7 * week + 3, hours=8 if site == "MS-B1" else 9)
            if at >= now - timedelta(days=6):
                continue
            number = book.doc("YS")
            book.add("MS-DIST", "EMX-2", MovementKind.SELL, emx, "kg", at, number, holder)
            book.add("MS-DIST", "DET-8", MovementKind.SELL, det, "box", at, number, holder)
            if site == "MS-B1" and week == 10:  # keyed twice (voided below)
                book.add("MS-DIST", "DET-8", MovementKind.SELL, det, "box", at, number, holder)
                duplicate = number
            received = emx - 2 if site == "MS-B1" and week == 33 else emx
            if not (site == "MS-B1" and week == 40):
                book.add(
                    site,
                    "EMX-2",
                    MovementKind.RECEIVE,
                    received,
                    "kg",
                    at + timedelta(hours=5),
                    number,
                    "MH-DIST",
                )
            book.add(
                site,
                "DET-8",
                MovementKind.RECEIVE,
                det,
                "box",
                at + timedelta(hours=5),
                number,
                "MH-DIST",
            )
            # Five blasting days: the day's share issued, what is left returned, the last
            # day's all used; the detonators used by the piece.
            stock = received * 10  # in tenths of a kilogram: the book stays exact
            for day in range(1, 6):
                when = at + timedelta(days=day, hours=-1)
                issued = stock if day == 5 else stock // (6 - day)
                used = issued if day == 5 else int(issued * rng.uniform(0.85, 1.0))
                book.add(site, "EMX-2", MovementKind.ISSUE, issued / 10, "kg", when, book.doc("LY"))
                if issued > used:
                    book.add(
                        site,
                        "EMX-2",
                        MovementKind.RETURN,
                        (issued - used) / 10,
                        "kg",
                        when + timedelta(hours=8),
                        book.doc("TK"),
                    )
                stock -= used
                book.add(
                    site,
                    "DET-8",
                    MovementKind.USE,
                    det * 10,
                    "piece",
                    when + timedelta(hours=2),
                    book.doc("SY"),
                )
    return typo_doc, duplicate


def _plant_and_retailer(book: _Ledger, day0: datetime, now: datetime, rng: random.Random) -> None:
    for month in range(12):
        at = day0 + timedelta(days=30 * month + 5, hours=10)
        book.add("MS-CHEM", "NACN", MovementKind.RECEIVE, 20, "drum", at, book.doc("HG"))
        book.add("MS-CHEM", "AN", MovementKind.RECEIVE, 180, "bag", at, book.doc("HG"))
        for day in range(1, 29, 3):
            when = at + timedelta(days=day)
            if when >= now:
                break
            book.add(
                "MS-CHEM",
                "NACN",
                MovementKind.USE,
                rng.uniform(80, 100),
                "kg",
                when,
                book.doc("SY"),
            )
            book.add(
                "MS-CHEM", "AN", MovementKind.USE, rng.uniform(380, 440), "kg", when, book.doc("SY")
            )
    # Planted: thirty drums at once, over the warehouse's capacity.
    book.add(
        "MS-CHEM",
        "NACN",
        MovementKind.RECEIVE,
        30,
        "drum",
        day0 + timedelta(days=200, hours=11),
        book.doc("HG"),
    )
    for month in range(12):
        at = day0 + timedelta(days=30 * month + 2, hours=9)
        book.add("MS-FWK", "FWK-C", MovementKind.RECEIVE, 12, "carton", at, book.doc("YH"))
        for day in range(1, 28, 2):
            when = at + timedelta(days=day, hours=3)
            if when >= now:
                break
            book.add(
                "MS-FWK",
                "FWK-C",
                MovementKind.SELL,
                rng.randint(5, 10),
                "piece",
                when,
                book.doc("XS"),
            )
    # Planted: detonators used at the tunnel before any delivery.
    book.add(
        "MS-B2",
        "DET-8",
        MovementKind.USE,
        240,
        "piece",
        day0 + timedelta(days=2, hours=6),
        book.doc("SY"),
    )


def _book(session: Session, site_id: int, material_id: int, at_s: int) -> int:
    """The effective book of a site and material at ``at_s`` (thousandths)."""
    replaced = select(Movement.corrects_id).where(Movement.corrects_id.is_not(None))
    sign = sql_case({k.value: v for k, v in SIGN.items()}, value=Movement.kind)
    total = session.scalar(
        select(func.coalesce(func.sum(sign * Movement.quantity_milli), 0)).where(
            Movement.site_id == site_id,
            Movement.material_id == material_id,
            Movement.occurred_s <= at_s,
            Movement.void.is_(False),
            Movement.id.not_in(replaced),
        )
    )
    return int(total or 0)


def build_materials(
    session: Session,
    facilities: list[Facility],
    rng: random.Random,
    now: datetime,
    cipher: FieldCipher,
) -> tuple[int, int, int]:
    """The catalogue, five holders, their sites and a year of their ledger and counts;
    (holders, ledger rows, discrepancies planted)."""
    for code, zh, en, cls, unit, units in CATALOGUE:
        register.create_material(
            session,
            data=MaterialIn(
                code=code, name_zh=zh, name_en=en, material_class=cls, base_unit=unit, units=units
            ),
            actor=SYSTEM,
        )
    # Next to the chemical plants and fuel stations (industrial and roadside places).
    anchors = [f for f in facilities if f.facility_type is FacilityType.CHEMICAL_PLANT]
    anchors += [f for f in facilities if f.facility_type is FacilityType.FUEL_STATION]
    if len(anchors) < len(HOLDERS):
        return 0, 0, 0
    year_start = now - timedelta(days=LEDGER_DAYS)
    day0 = year_start.replace(hour=0, minute=0, second=0, microsecond=0)
    for (code, name, kind, classes), anchor in zip(HOLDERS, anchors, strict=False):
        register.create_holder(
            session,
            data=HolderIn(
                code=code,
                name=name,
                kind=kind,
                licence_no=f"LIC-{code}",
                licence_classes=classes,
                licence_from=(year_start - timedelta(days=400)).date(),
                licence_until=(now - timedelta(days=40)).date() if code == "MH-FWK" else None,
                address="",
                lon=anchor.lon,
                lat=anchor.lat,
                contact_name=rng.choice("王李张刘陈") + rng.choice(["明", "强", "芳", "伟"]),
                contact_phone=f"139{rng.randint(10_000_000, 99_999_999)}",
            ),
            actor=SYSTEM,
            cipher=cipher,
            scope=None,
        )
    for code, holder_code, site_kind, caps in SITES:
        holder = register.get_holder_by_code_or_raise(session, code=holder_code, scope=None)
        lon, lat = holder.lon + 0.002, holder.lat - 0.001
        if _place(session, lon, lat) is None:
            lon, lat = holder.lon, holder.lat
        register.create_site(
            session,
            data=SiteIn(
                code=code,
                holder_code=holder_code,
                name=f"{holder.name}库",
                kind=site_kind,
                lon=lon,
                lat=lat,
                capacities=[CapacityIn(material_class=c, unit=u, capacity=q) for c, u, q in caps],
            ),
            actor=SYSTEM,
            scope=None,
        )
    book = _Ledger(year_start.year)
    typo_doc, duplicate_doc = _distributor_and_contractors(book, day0, now, rng)
    _plant_and_retailer(book, day0, now, rng)
    lookups = ledger.Lookups.empty()
    batch = [
        ledger.build_movement(session, row, scope=None, actor=SYSTEM, now=now, lookups=lookups)
        for row in sorted(book.rows, key=lambda r: r.occurred_at)
        if row.occurred_at < now
    ]
    written = ledger.record_movements(session, rows=batch, actor=SYSTEM, source="demo")
    # The corrections: the typo'd receipt to 2,400 kg, the sale keyed twice voided.
    typo = next(r for r in batch if r.document_no == typo_doc and r.quantity_milli == 20_000_000)
    ledger.correct_movement(
        session,
        original=typo,
        data=CorrectionIn(
            reason=CorrectionReason.QUANTITY,
            row=_row(
                "MS-DIST",
                "EMX-2",
                MovementKind.RECEIVE,
                2000,
                "kg",
                typo.occurred_at,
                typo.document_no,
            ),
        ),
        actor=SYSTEM,
        now=now,
        scope=None,
    )
    twice = [r for r in batch if r.document_no == duplicate_doc and r.kind is MovementKind.SELL]
    ledger.correct_movement(
        session,
        original=twice[-1],
        data=CorrectionIn(reason=CorrectionReason.DUPLICATE, void=True),
        actor=SYSTEM,
        now=now,
        scope=None,
    )
    session.flush()
    # Monthly counts at the magazines and the warehouse: the book's figure, but for month 7
    # at the quarry, 2 kg short.
    for site_code, material_code in (
        ("MS-B1", "EMX-2"),
        ("MS-B2", "EMX-2"),
        ("MS-CHEM", "NACN"),
        ("MS-DIST", "EMX-2"),
    ):
        site = ledger.site_of(session, lookups, site_code, None)
        material = ledger.material_of(session, lookups, material_code)
        for month in range(1, 12):
            at = day0 + timedelta(days=30 * month, hours=18)
            if at >= now:
                break
            stock = _book(session, site.id, material.id, seconds(at))
            short = 2000 if site_code == "MS-B1" and month == 7 else 0
            ledger.record_count(
                session,
                data=CountIn(
                    site_code=site_code,
                    material_code=material_code,
                    quantity=max(0, stock - short) / 1000,
                    unit=material.base_unit.value,
                    counted_at=at,
                    document_no=f"PD-{site_code}-{month:02d}",
                ),
                actor=SYSTEM,
                now=now,
                scope=None,
            )
    return len(HOLDERS), written, len(PLANTED)


def build_inspections(
    session: Session, facilities: list[Facility], rng: random.Random, now: datetime
) -> int:
    """Inspections of the past months as the inspectors would have run them: most passed,
    some with findings rectified and passed at re-inspection, some still rectifying (a few
    past their deadline); the facilities failing a rule are inspected for it."""
    calendar = BusinessCalendar()
    opened = 0
    for facility in facilities:
        if rng.random() > 0.45:
            continue
        at = now - timedelta(days=rng.randint(2, 160), hours=rng.randint(0, 6))
        failing = not compliant(facility, DEFAULT_RULES_ON)
        case = facility_register.open_inspection(
            session,
            facility=facility,
            data=InspectionIn(trigger="rule_failure" if failing else "periodic"),
            user=None,
            actor=SYSTEM,
            now=at,
            calendar=calendar,
            rules=DEFAULT_RULES_ON,
        )
        opened += 1
        step = at + timedelta(hours=rng.randint(2, 30))
        if not failing and rng.random() < 0.85:
            cases.transition(
                session,
                case=case,
                name="pass",
                fields={},
                user=None,
                actor=SYSTEM,
                now=step,
                calendar=calendar,
            )
            continue
        severity = rng.choice(["major", "general", "minor"])
        cases.transition(
            session,
            case=case,
            name="find",
            fields={"severity": severity, "findings": "保卫人员不足或技防未联网"},
            user=None,
            actor=SYSTEM,
            now=step,
            calendar=calendar,
        )
        if case.due_at is not None and case.due_at < now and rng.random() < 0.7:
            done = step + (case.due_at - step) * rng.uniform(0.3, 0.9)
            cases.transition(
                session,
                case=case,
                name="report_rectified",
                fields={"measures": "已增配保卫并完成联网"},
                user=None,
                actor=SYSTEM,
                now=done,
                calendar=calendar,
            )
            cases.transition(
                session,
                case=case,
                name="pass_reinspection",
                fields={"reinspection_result": "复查合格"},
                user=None,
                actor=SYSTEM,
                now=done + timedelta(days=2),
                calendar=calendar,
            )
    return opened


def build_demo_registers(
    session: Session,
    *,
    pbf: Path,
    roads: list[Road],
    now: datetime,
    cipher: FieldCipher,
    rng_seed: int = 20261207,
) -> RegistersReport:
    """Build the demo county's registers (the caller commits); see the module."""
    rng = random.Random(rng_seed)
    report = RegistersReport()
    facilities = build_facilities(session, pbf, rng)
    report.facilities = len(facilities)
    zones = assign_zones(session)
    report.devices = build_devices(session, roads, facilities, zones, rng, now)
    build_inspections(session, facilities, rng, now)
    holders, rows, planted = build_materials(session, facilities, rng, now, cipher)
    report.holders, report.movements, report.discrepancies_planted = holders, rows, planted
    return report
