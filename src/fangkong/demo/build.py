"""Build the demo county: real OSM roads and boundaries, generated beats, grids and users."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas import service as area_service
from fangkong.areas.geometry import area_m2, project_local
from fangkong.areas.models import Area, AreaLevel
from fangkong.cases.calendar import load_calendar
from fangkong.cases.storage import storage_in
from fangkong.core import audit, auth
from fangkong.core.audit import SYSTEM
from fangkong.core.db import utcnow
from fangkong.core.models import Role, User
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.demo.cases import build_demo_cases
from fangkong.demo.community import build_demo_community
from fangkong.demo.events import build_demo_events
from fangkong.demo.incidents import IncidentsReport, build_demo_incidents
from fangkong.demo.indicators import build_demo_indicators
from fangkong.demo.osm import (
    AddressPoint,
    Boundary,
    Road,
    read_address_points,
    read_boundaries,
    read_roads,
)
from fangkong.demo.planning import build_demo_planning
from fangkong.demo.planning_two import build_demo_planning_two
from fangkong.demo.registers import build_demo_registers
from fangkong.demo.tessellate import generate_beats_and_grids, plan_counts, road_points
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import import_and_activate

DEMO_PBF = Path(__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"
DEMO_PASSWORD = "fangkong-demo"
CITY_CODE = "LI"
RNG_SEED = 20261122
ROADS_FILE = "roads.geojson"

# Chinese names of the real places; English names are OSM's own.
PLACE_NAMES_ZH = {
    "Liechtenstein": "列支敦士登",
    "Oberland": "上地区",
    "Wahlkreis Oberland": "上地区选区",
    "Wahlkreis Unterland": "下地区选区",
    "Unterland": "下地区",
    "Vaduz": "瓦杜兹",
    "Schaan": "沙恩",
    "Balzers": "巴尔策斯",
    "Triesen": "特里森",
    "Triesenberg": "特里森贝格",
    "Planken": "普兰肯",
    "Eschen": "埃申",
    "Mauren": "毛伦",
    "Gamprin": "甘普林",
    "Ruggell": "鲁格尔",
    "Schellenberg": "申伦贝格",
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: Role
    area_code: str
    description: str


@dataclass
class BuildReport:
    seconds: float = 0.0
    areas_by_level: dict[str, int] = field(default_factory=dict)
    roads: int = 0
    addresses: int = 0
    addresses_from_osm: int = 0
    #: Addresses of the extract outside every area of the county, left out.
    addresses_outside: int = 0
    users: int = 0
    hazards: int = 0
    disputes: int = 0
    overdue_cases: int = 0
    incidents: IncidentsReport = field(default_factory=IncidentsReport)
    steps: list[tuple[str, float]] = field(default_factory=list)


Progress = Callable[[str], None]


def is_built(session: Session) -> bool:
    return session.scalar(select(func.count(Area.id)).where(Area.code == CITY_CODE)) == 1


def remeasure_areas(session: Session) -> list[tuple[str, float, float]]:
    """Store every area's size as :func:`area_m2` measures it now; returns what changed as
    (code, stored m², measured m²), in code order, with one audit line for the batch.

    A demo database built before issue 18 holds sizes from the earlier measure, which took
    the generated grids' zero-width spikes for a self-crossing and reported some as 0 m².
    ~200 areas: a few hundredths of a second. (Their polygons keep the spikes until
    ``fangkong demo --rebuild``.)
    """
    changed: list[tuple[str, float, float]] = []
    for area in session.scalars(select(Area).order_by(Area.code)):
        measured = area_m2(area_service.geometry(area))
        if abs(measured - area.area_m2) > 1e-9 * max(measured, 1.0):
            changed.append((area.code, area.area_m2, measured))
            area.area_m2 = measured
    if changed:
        session.flush()
        audit.record(
            session,
            actor=SYSTEM,
            action="remeasure",
            entity="area",
            detail={"areas": len(changed), "codes": [code for code, _, _ in changed][:50]},
        )
    return changed


def _zh(name: str) -> str:
    return PLACE_NAMES_ZH.get(name, name)


def _insert(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    level: AreaLevel,
    geom: MultiPolygon,
    parent_code: str | None,
    source: str,
) -> Area:
    return area_service.create(
        session,
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        level=level,
        geom=geom,
        parent_code=parent_code,
        actor=SYSTEM,
        source=source,
    )


Layout = list[tuple[MultiPolygon, list[MultiPolygon]]]


def county_layout(
    municipalities: list[Boundary], roads: list[Road]
) -> list[tuple[Boundary, Layout]]:
    """Beat areas and their grids for each precinct, in the given order (deterministic).

    Seeds follow points every 25 m along the roads (raw OSM vertices overweight winding
    mountain roads); the number of beats and grids per precinct follows its road density.
    """
    vertices = road_points([r.geometry for r in roads])
    inside: list[np.ndarray] = []
    for muni in municipalities:
        shapely.prepare(muni.geometry)
        inside.append(vertices[shapely.contains_xy(muni.geometry, vertices[:, 0], vertices[:, 1])])
    counts = plan_counts(
        {str(i): area_m2(m.geometry) for i, m in enumerate(municipalities)},
        {str(i): len(v) for i, v in enumerate(inside)},
    )
    layouts: list[tuple[Boundary, Layout]] = []
    for i, muni in enumerate(municipalities):
        beats, grids_per_beat = counts[str(i)]
        layouts.append(
            (
                muni,
                generate_beats_and_grids(
                    muni.geometry,
                    inside[i],
                    beats=beats,
                    grids_per_beat=grids_per_beat,
                    rng_seed=RNG_SEED + i,
                ),
            )
        )
    return layouts


def _build_areas(
    session: Session, boundaries: list[Boundary], roads: list[Road], progress: Progress
) -> None:
    country = next(b for b in boundaries if b.admin_level == 2)
    districts = sorted((b for b in boundaries if b.admin_level == 6), key=lambda b: b.name)
    municipalities = sorted((b for b in boundaries if b.admin_level == 8), key=lambda b: b.name)
    _insert(
        session,
        code=CITY_CODE,
        name_zh=_zh(country.name),
        name_en=country.name_en or country.name,
        level=AreaLevel.CITY,
        geom=country.geometry,
        parent_code=None,
        source="osm",
    )
    district_codes: list[tuple[str, MultiPolygon]] = []
    for i, district in enumerate(districts, start=1):
        code = f"{CITY_CODE}-D{i}"
        _insert(
            session,
            code=code,
            name_zh=_zh(district.name),
            name_en=district.name,
            level=AreaLevel.DISTRICT,
            geom=district.geometry,
            parent_code=CITY_CODE,
            source="osm",
        )
        district_codes.append((code, district.geometry))

    for i, muni in enumerate(municipalities, start=1):
        inside = muni.geometry.representative_point()
        parent = max(
            district_codes,
            key=lambda d: (
                d[1].intersection(muni.geometry).area
                if d[1].intersects(inside) or d[1].intersects(muni.geometry)
                else -1.0
            ),
        )[0]
        _insert(
            session,
            code=f"{CITY_CODE}-S{i:02d}",
            name_zh=f"{_zh(muni.name)}派出所",
            name_en=f"{muni.name} Station",
            level=AreaLevel.STATION,
            geom=muni.geometry,
            parent_code=parent,
            source="osm",
        )
    progress(f"{len(municipalities)} station precincts from OSM municipalities")

    for i, (muni, layout) in enumerate(county_layout(municipalities, roads), start=1):
        code = f"{CITY_CODE}-S{i:02d}"
        zh = _zh(muni.name)
        for b, (beat_geom, grid_geoms) in enumerate(layout, start=1):
            beat_code = f"{code}-B{b:02d}"
            _insert(
                session,
                code=beat_code,
                name_zh=f"{zh}第{b}警格",
                name_en=f"{muni.name} Beat {b}",
                level=AreaLevel.BEAT,
                geom=beat_geom,
                parent_code=code,
                source="generated",
            )
            for g, grid_geom in enumerate(grid_geoms, start=1):
                _insert(
                    session,
                    code=f"{beat_code}-G{g:02d}",
                    name_zh=f"{zh}第{b}警格第{g}网格",
                    name_en=f"{muni.name} Beat {b} Grid {g}",
                    level=AreaLevel.GRID,
                    geom=grid_geom,
                    parent_code=beat_code,
                    source="generated",
                )
        progress(
            f"{muni.name}: {len(layout)} beat areas, {sum(len(grids) for _, grids in layout)} grids"
        )


def _write_roads(roads: list[Road], path: Path) -> None:
    """Simplified GeoJSON of the roads for the map's base layer (about 3 m tolerance)."""
    features = []
    for road in roads:
        line = road.geometry.simplify(0.00003, preserve_topology=False)
        coords = [[round(x, 6), round(y, 6)] for x, y in line.coords]
        features.append(
            {
                "type": "Feature",
                "properties": {"class": road.highway.removesuffix("_link"), "name": road.name},
                "geometry": {"type": "LineString", "coordinates": coords},
            }
        )
    path.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": features},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        encoding="utf-8",
    )


def _generated_addresses(roads: list[Road], taken: set[tuple[str, str]]) -> list[AddressPoint]:
    """House numbers every ~60 m along named residential roads lacking OSM addresses."""
    generated: list[AddressPoint] = []
    for road in roads:
        if not road.name or road.highway not in {
            "residential",
            "living_street",
            "unclassified",
            "tertiary",
            "secondary",
        }:
            continue
        line_m = project_local(road.geometry)
        steps = int(line_m.length // 60)
        for n in range(1, steps + 1):
            number = str(n * 2 - 1)
            if (road.name, number) in taken:
                continue
            taken.add((road.name, number))
            p = road.geometry.interpolate(n / (steps + 1), normalized=True)
            generated.append(
                AddressPoint(
                    osm_id=-road.osm_id,
                    street=road.name,
                    housenumber=number,
                    postcode=None,
                    place=None,
                    lon=p.x,
                    lat=p.y,
                )
            )
    return generated


def _build_addresses(
    session: Session, roads: list[Road], osm_points: list[AddressPoint], report: BuildReport
) -> None:
    taken = {(a.street, a.housenumber) for a in osm_points}
    generated = _generated_addresses(roads, taken)
    # The extract reaches past the county's areas: an address there would be in no one's scope.
    points = [*osm_points, *generated]
    leaves = area_index.get(session).locate(
        np.array([a.lon for a in points]), np.array([a.lat for a in points])
    )
    inside = leaves >= 0
    report.addresses_outside = int((~inside).sum())
    split = len(osm_points)
    osm_points = [a for a, keep in zip(osm_points, inside[:split], strict=True) if keep]
    generated = [a for a, keep in zip(generated, inside[split:], strict=True) if keep]
    rows: list[area_service.AddressRow] = []
    for i, a in enumerate([*osm_points, *generated], start=1):
        street = a.street or a.place or ""
        rows.append(
            area_service.AddressRow(
                code=f"{CITY_CODE}-A{i:06d}",
                text_zh=f"{street} {a.housenumber}号",
                text_en=f"{street} {a.housenumber}",
                lon=a.lon,
                lat=a.lat,
            )
        )
    # Two batches so that each row keeps its provenance (real OSM or generated).
    split = len(osm_points)
    area_service.import_addresses(session, rows=rows[:split], actor=SYSTEM, source="osm")
    area_service.import_addresses(session, rows=rows[split:], actor=SYSTEM, source="generated")
    report.addresses = len(rows)
    report.addresses_from_osm = split


def demo_logins(session: Session) -> list[DemoLogin]:
    """One demo user per role, bound to an area that suits it."""
    first_station = f"{CITY_CODE}-S01"
    first_beat = (
        session.scalar(select(Area.code).where(Area.level == AreaLevel.BEAT).order_by(Area.code))
        or first_station
    )
    first_grid = (
        session.scalar(select(Area.code).where(Area.level == AreaLevel.GRID).order_by(Area.code))
        or first_beat
    )
    return [
        DemoLogin("admin", Role.ADMIN, CITY_CODE, "whole county"),
        DemoLogin("commander", Role.COMMANDER, CITY_CODE, "whole county"),
        DemoLogin("station", Role.STATION_OFFICER, first_station, "one station precinct"),
        DemoLogin("grid", Role.GRID_WORKER, first_grid, "one grid"),
        DemoLogin("mediator", Role.MEDIATOR, first_beat, "one beat area"),
        DemoLogin("inspector", Role.INSPECTOR, f"{CITY_CODE}-D1", "one district"),
        DemoLogin("evaluator", Role.EVALUATOR, CITY_CODE, "whole county"),
        DemoLogin("viewer", Role.VIEWER, CITY_CODE, "whole county"),
    ]


def _build_users(session: Session, cipher: FieldCipher, report: BuildReport) -> None:
    for n, login in enumerate(demo_logins(session), start=1):
        if session.scalar(select(User.id).where(User.username == login.username)):
            continue
        auth.create(
            session,
            username=login.username,
            display_name=f"{login.role.value.replace('_', ' ').title()} (demo)",
            password=DEMO_PASSWORD,
            role=login.role,
            area_codes=[login.area_code],
            phone=f"1380000{n:04d}",
            cipher=cipher,
            actor=SYSTEM,
        )
        report.users += 1


def build(
    session: Session,
    *,
    data_dir: Path,
    cipher: FieldCipher,
    progress: Progress = lambda _message: None,
    pbf: Path = DEMO_PBF,
    zone: ZoneInfo | None = None,
    today: date | None = None,
) -> BuildReport:
    """Build the demo county into ``session`` (the caller commits) and its road layer file.

    The road graph of ``pbf`` is imported too (cached): the generated incidents' response
    times come from it. ``zone`` (default Asia/Shanghai) and ``today`` (default: today in
    that zone) place the year of incidents, which ends the day before ``today``.
    """
    report = BuildReport()
    started = time.perf_counter()

    def step(name: str, since: float) -> float:
        now = time.perf_counter()
        report.steps.append((name, now - since))
        progress(f"{name}: {now - since:.1f} s")
        return now

    t = time.perf_counter()
    boundaries = read_boundaries(pbf)
    roads = read_roads(pbf)
    osm_addresses = read_address_points(pbf)
    report.roads = len(roads)
    t = step("read OpenStreetMap extract", t)
    _build_areas(session, boundaries, roads, progress)
    report.areas_by_level = area_service.count_by_level(session, scope=Scope(paths=("/",)))
    t = step("jurisdiction tree", t)
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_roads(roads, data_dir / ROADS_FILE)
    t = step("road layer", t)
    _build_addresses(session, roads, osm_addresses, report)
    t = step("standard addresses", t)
    _build_users(session, cipher, report)
    t = step("demo users", t)
    cases = build_demo_cases(session, rng_seed=RNG_SEED, now=utcnow(), cipher=cipher)
    report.hazards, report.disputes, report.overdue_cases = (
        cases.hazards,
        cases.disputes,
        cases.overdue,
    )
    t = step("demo hazards and disputes", t)
    import_and_activate(data_dir, pbf, DEFAULT_PROFILE)
    network = network_service.current(data_dir)
    zone = zone or ZoneInfo("Asia/Shanghai")
    report.incidents = build_demo_incidents(
        session,
        network=network,
        zone=zone,
        today=today or utcnow().astimezone(zone).date(),
        rng_seed=RNG_SEED,
    )
    t = step("posts, units and a year of incidents", t)
    build_demo_planning(session, network=network, city_code=CITY_CODE)
    t = step("coverage today, a placement scenario, checkpoints", t)
    registers = build_demo_registers(session, pbf=pbf, roads=roads, now=utcnow(), cipher=cipher)
    t = step(
        f"registers: {registers.facilities} key facilities, {registers.devices:,} devices, "
        f"{registers.holders} hazardous-material holders with {registers.movements:,} ledger "
        f"rows ({registers.discrepancies_planted} faults planted)",
        t,
    )
    build_demo_planning_two(session, network=network, city_code=CITY_CODE, zone=zone, now=utcnow())
    t = step("hotspots, hour-of-week deployment, beats", t)
    build_demo_events(
        session,
        network=network,
        now=utcnow(),
        cipher=cipher,
        calendar=load_calendar(data_dir, zone=zone.key),
    )
    t = step("large events, emergency plans, a drill", t)
    build_demo_community(
        session,
        now=utcnow(),
        cipher=cipher,
        storage=storage_in(data_dir),
        calendar=load_calendar(data_dir, zone=zone.key),
    )
    step("community safety forces, public tips, seized property", t)
    t = time.perf_counter()
    build_demo_indicators(
        session, now=utcnow(), zone=zone, calendar=load_calendar(data_dir, zone=zone.key)
    )
    step("a year of indicator figures, targets, manual inputs, the task ledger", t)
    report.seconds = time.perf_counter() - started
    return report
