"""Many counties' worth of generated data in one database (issue 23's load test).

A province root (a city-level area ``P``) holds ``counties`` counties laid side by side, ten
to a row, each a district-level area ``C000``, ``C001``, ... of ``COUNTY_DEG`` degrees with
its stations, beats and grids (rectangles, each level splitting its parent, so that the
grids tile the county as the areas' fusion rule asks). Each county then gets, through the
same rows the services write, in bulk (PostgreSQL's ``COPY`` over the models' tables, a
Core ``INSERT`` of many rows elsewhere; the audit events linked into the chain as
:func:`fangkong.core.audit.record_many` links them):

- police posts and units at its stations (units with a position);
- ``per_day`` incidents a day over the last ``days`` days, each with the events of its
  lifecycle (received, dispatched, on scene, cleared, closed; or cancelled, or merged);
  those received in the last ``open_hours`` hours are still open, as a command map shows;
- ``cases_per_day`` cases a day (hazards, disputes, inspections; open, closed on time or
  late, dismissed) with a point;
- an audit event per incident and per case (the chain kept);
- ``facilities`` key facilities (schools, hospitals, banks, ...);
- ``devices`` devices with ``status_changes`` status changes each (uptime history);
- ``holders`` licensed holders of regulated materials, a site each, and ``movements``
  ledger movements between them.

Every county draws from its own seed (``seed + its number``): county ``C000`` holds the same
rows whether it is alone in its database or one of a hundred, so that the load test
compares like with like. The rows carry their area id and area path, as the services write
them; a database column derived from them (a county key) fills itself as it would for a
service's insert.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

#: The province root's code and each county's code (``C`` and three digits).
ROOT = "P"
#: Where the first county's south-west corner lies, and each county's size (degrees).
ORIGIN = (110.0, 25.0)
COUNTY_DEG = (0.24, 0.18)
PER_ROW = 10
#: Bounds: what the generator refuses.
MAX_COUNTIES = 200
MAX_ROWS = 15_000_000
CHUNK = 5_000
CATEGORIES = (
    ("criminal", "theft"),
    ("public_order", "noise"),
    ("traffic", "collision"),
    ("dispute", "neighbour"),
    ("assistance", "directions"),
)
#: Each case type's states the generator uses: (open, closed resolved, closed unresolved),
#: as its declaration names them (fangkong/cases/case_types).
CASE_STATES = {
    "hazard": ("handling", "closed", "dismissed"),
    "dispute": ("mediating", "closed", "referred"),
    "inspection": ("rectifying", "passed", "cancelled"),
}
CASE_TYPES = tuple(CASE_STATES)


@dataclass(frozen=True)
class Size:
    """What one county holds (documented in docs/deployment.md, "Load test")."""

    #: Stations per county, beats per station, grids per beat.
    stations: int = 4
    beats: int = 3
    grids: int = 4
    posts_per_station: int = 2
    units_per_station: int = 6
    #: Incidents a day (the demo county's model: 70 a day for about 40,000 people; a county of
    #: several hundred thousand receives a few hundred) over ``days`` days up to now.
    per_day: float = 70.0
    days: int = 92
    #: Incidents received in the last ``open_hours`` hours are still open.
    open_hours: float = 1.0
    cases_per_day: float = 8.0
    #: Key facilities (schools, hospitals, banks, ...): their camera coverage is a figure.
    facilities: int = 150
    devices: int = 1_200
    status_changes: int = 3
    holders: int = 10
    movements: int = 1_500

    def incidents(self) -> int:
        return round(self.per_day * self.days)

    def cases(self) -> int:
        return round(self.cases_per_day * self.days)

    def rows(self) -> int:
        """About how many rows one county writes (incidents with ~4 events each)."""
        areas = 1 + self.stations * (1 + self.beats * (1 + self.grids))
        incidents = self.incidents()
        return (
            areas
            + self.stations * (self.posts_per_station + self.units_per_station)
            + incidents * 6
            + self.cases() * 2
            + self.facilities
            + self.devices * (1 + self.status_changes)
            + self.holders * 2
            + self.movements
        )


def check_bounds(counties: int, size: Size) -> None:
    """Refuse an absurd run: too many counties, a period past a year, or too many rows."""
    if not 1 <= counties <= MAX_COUNTIES:
        raise ValueError(f"counties must be 1..{MAX_COUNTIES}, not {counties}")
    if not 1 <= size.days <= 366:
        raise ValueError(f"days must be 1..366, not {size.days}")
    if min(size.stations, size.beats, size.grids) < 1 or size.stations * size.beats > 400:
        raise ValueError("stations, beats and grids must be at least 1 (at most 400 beats)")
    if size.per_day < 0 or size.cases_per_day < 0:
        raise ValueError("sizes must not be negative")
    if min(size.facilities, size.devices, size.movements, size.holders) < 0:
        raise ValueError("sizes must not be negative")
    total = counties * size.rows()
    if total > MAX_ROWS:
        raise ValueError(f"about {total:,} rows: more than the cap of {MAX_ROWS:,}")


def county_code(k: int) -> str:
    return f"C{k:03d}"


def county_bbox(k: int) -> tuple[float, float, float, float]:
    west = ORIGIN[0] + (k % PER_ROW) * COUNTY_DEG[0]
    south = ORIGIN[1] + (k // PER_ROW) * COUNTY_DEG[1]
    return west, south, west + COUNTY_DEG[0], south + COUNTY_DEG[1]


def _rectangle(box: tuple[float, float, float, float]) -> dict[str, Any]:
    w, s, e, n = box
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _feature(
    code: str, level: str, parent: str | None, box: tuple[float, float, float, float]
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "code": code,
        "level": level,
        "name_zh": f"区域{code}",
        "name_en": f"Area {code}",
    }
    if parent:
        props["parent_code"] = parent
    return {"type": "Feature", "properties": props, "geometry": _rectangle(box)}


def _split(box: tuple[float, float, float, float], n: int, *, along_lon: bool) -> list[Any]:
    w, s, e, north = box
    if along_lon:
        step = (e - w) / n
        return [(w + i * step, s, w + (i + 1) * step, north) for i in range(n)]
    step = (north - s) / n
    return [(w, s + i * step, e, s + (i + 1) * step) for i in range(n)]


def root_geojson(counties: int) -> dict[str, Any]:
    """The province root over the counties' rows (a full rectangle: the last row's empty
    places are part of the root only)."""
    cols = min(counties, PER_ROW)
    rows = math.ceil(counties / PER_ROW)
    box = (ORIGIN[0], ORIGIN[1], ORIGIN[0] + cols * COUNTY_DEG[0], ORIGIN[1] + rows * COUNTY_DEG[1])
    return {"type": "FeatureCollection", "features": [_feature(ROOT, "city", None, box)]}


def county_geojson(k: int, size: Size) -> dict[str, Any]:
    """County ``k``: its district, stations (split along longitude), beats (along latitude)
    and grids (along longitude)."""
    code = county_code(k)
    box = county_bbox(k)
    features = [_feature(code, "district", ROOT, box)]
    for i, sbox in enumerate(_split(box, size.stations, along_lon=True)):
        station = f"{code}-S{i}"
        features.append(_feature(station, "station", code, sbox))
        for j, bbox in enumerate(_split(sbox, size.beats, along_lon=False)):
            beat = f"{station}-B{j}"
            features.append(_feature(beat, "beat", station, bbox))
            for g, gbox in enumerate(_split(bbox, size.grids, along_lon=True)):
                features.append(_feature(f"{beat}-G{g}", "grid", beat, gbox))
    return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True)
class Generated:
    """What a run wrote, and how long it took."""

    counties: int
    size: Size
    rows: dict[str, int]
    #: The rows written per county code and table.
    by_county: dict[str, dict[str, int]]
    seconds: float
    #: The generating process's peak resident memory (MiB).
    peak_rss_mib: float


@dataclass(frozen=True)
class _Leaf:
    id: int
    path: str
    west: float
    south: float
    east: float
    north: float


def _county(session: Any, code: str) -> tuple[int, str]:
    from sqlalchemy import select

    from fangkong.areas.models import Area

    found = session.execute(select(Area.id, Area.path).where(Area.code == code)).one()
    return int(found[0]), str(found[1])


def _leaves(session: Any, code: str, level: str) -> list[_Leaf]:
    from sqlalchemy import select

    from fangkong.areas.models import Area

    _, county_path = _county(session, code)
    rows = session.execute(
        select(Area.id, Area.path, Area.min_lon, Area.min_lat, Area.max_lon, Area.max_lat)
        .where(Area.level == level, Area.path.startswith(county_path))
        .order_by(Area.id)
    ).all()
    return [_Leaf(*r) for r in rows]


def _points(rng: np.random.Generator, leaves: list[_Leaf], n: int) -> tuple[Any, Any, Any]:
    """``n`` random points: the leaf each lies in (index) and its lon and lat, well inside."""
    at = rng.integers(0, len(leaves), n)
    u, v = rng.uniform(0.1, 0.9, n), rng.uniform(0.1, 0.9, n)
    west = np.array([g.west for g in leaves])[at]
    south = np.array([g.south for g in leaves])[at]
    east = np.array([g.east for g in leaves])[at]
    north = np.array([g.north for g in leaves])[at]
    return at, west + u * (east - west), south + v * (north - south)


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def _insert(
    conn: Any,
    model: Any,
    rows: list[dict[str, Any]],
    *,
    key: str | None = None,
    ids: bool = False,
    county_id: int | None = None,
) -> list[int]:
    """``rows`` into ``model``'s table; the ids of the rows in their order when ``key`` (a
    unique column the rows carry) is given, or ``ids`` (read as those past the largest id
    before: the generator is the only writer).

    On PostgreSQL the rows are copied in (``COPY ... FROM STDIN``, the bulk path: an
    ``INSERT`` of many rows spends most of its time in the driver parsing each statement
    anew), elsewhere inserted ``CHUNK`` at a time. Either way the rows are given every value
    a column's Python-side default would give: where the table has a county key
    (``county_id``, issue 23's partitions), the county's, as its default would compute it
    from the row's path or its parent's row, and its partition key (``partition_county``)
    where it has one."""
    from psycopg.types.json import Json
    from sqlalchemy import JSON, func, insert, select

    from fangkong.core import county

    if not rows:
        return []
    table = model.__table__
    before = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    if county_id is not None and "county_id" in table.c:
        for row in rows:
            row["county_id"] = county_id
    if county.has_partition_key(table):  # never NULL: the county's, or none's
        for row in rows:
            row[county.PARTITION_COLUMN] = county.partition_of(row.get("county_id"))
    columns = list(rows[0])
    if conn.dialect.name == "postgresql":
        quoted = ", ".join(f'"{c}"' for c in columns)
        as_json = {c for c in columns if isinstance(table.c[c].type, JSON)}
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([Json(row[c]) if c in as_json else row[c] for c in columns])
        cursor.close()
    else:
        for part in _chunks(rows):
            conn.execute(insert(table), part)
    if key is None:
        if not ids:
            return []
        return [
            int(i)
            for i in conn.execute(
                select(table.c.id).where(table.c.id > before).order_by(table.c.id)
            ).scalars()
        ]
    column = table.c[key]
    found: dict[Any, int] = {}
    keys = [row[key] for row in rows]
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        found.update(
            (k, int(i)) for k, i in conn.execute(select(column, table.c.id).where(column.in_(part)))
        )
    return [found[k] for k in keys]


def _audit(conn: Any, events: list[tuple[str, int, str]], *, now: datetime, county_id: int) -> int:
    """``create`` events of the system for ``(entity, id, area path)``, appended to the audit
    chain as :func:`fangkong.core.audit.record_many` appends them (the head's row locked,
    each event's ``prev_hash`` and ``chain_hash`` by :func:`~fangkong.core.audit.link_hash`,
    the head moved to the last; ``audit.verify`` accepts them), but copied in."""
    from sqlalchemy import update

    from fangkong.core import audit
    from fangkong.core.models import AuditChain, AuditEvent

    if not events:
        return 0
    prev = conn.execute(
        update(AuditChain)
        .where(AuditChain.id == 1)
        .values(last_id=AuditChain.last_id)
        .returning(AuditChain.last_hash)
    ).scalar_one()
    rows = []
    for entity, entity_id, path in events:
        row: dict[str, Any] = {
            "at": now,
            "user_id": audit.SYSTEM.user_id,
            "username": audit.SYSTEM.username,
            "client": audit.SYSTEM.client,
            "action": "create",
            "entity": entity,
            "entity_id": str(entity_id),
            "detail": None,
            "area_path": path,
            "prev_hash": prev,
        }
        row["chain_hash"] = prev = audit.link_hash(prev, row)
        rows.append(row)
    ids = _insert(conn, AuditEvent, rows, ids=True, county_id=county_id)
    conn.execute(
        update(AuditChain).where(AuditChain.id == 1).values(last_id=ids[-1], last_hash=prev)
    )
    return len(ids)


def _materials(session: Any) -> list[int]:
    """The materials every county's ledgers move (made once per database)."""
    from sqlalchemy import select

    from fangkong.materials.models import Material

    codes = {"LT-EXP": ("civil_explosive", "kg"), "LT-TOX": ("toxic_chemical", "l")}
    have = dict(session.execute(select(Material.code, Material.id)).all())
    for code, (klass, unit) in codes.items():
        if code not in have:
            m = Material(
                code=code,
                name_zh=f"物料{code}",
                name_en=f"Material {code}",
                material_class=klass,
                base_unit=unit,
                units={},
            )
            session.add(m)
            session.flush()
            have[code] = m.id
    return [have[c] for c in codes]


def generate_county(
    session: Any, k: int, size: Size, *, now: datetime, seed: int
) -> dict[str, int]:
    """Write county ``k`` (its areas and every record above) in the caller's transaction;
    the rows written per table."""
    from sqlalchemy import text

    from fangkong.areas import service as area_service
    from fangkong.areas.geometry import h3_cell
    from fangkong.cases.models import Case
    from fangkong.core import partitions
    from fangkong.core.audit import SYSTEM
    from fangkong.devices.models import Device, DeviceStatusEvent
    from fangkong.dispatch.incidents import claim_keys
    from fangkong.dispatch.models import Incident, IncidentEvent, Post, Unit
    from fangkong.facilities.models import Facility
    from fangkong.materials.models import Holder, Movement, Site

    rng = np.random.default_rng(seed + k)
    code = county_code(k)
    area_service.import_geojson(session, data=county_geojson(k, size), actor=SYSTEM)
    session.flush()
    grids = _leaves(session, code, "grid")
    stations = _leaves(session, code, "station")
    county_id = _county(session, code)[0]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # The months of the history about to be written, as a county's import of its past
        # would have them (else its rows wait in the DEFAULT month for the months' job).
        conn.execute(
            text("SELECT fangkong_partition_months(:c, :ahead, :since)"),
            {
                "c": county_id,
                "ahead": partitions.MONTHS_AHEAD,
                "since": now - timedelta(days=size.days + 1),
            },
        )
    written: dict[str, int] = {}

    def located(leaf: _Leaf, lon: float, lat: float) -> dict[str, Any]:
        return {
            "lon": lon,
            "lat": lat,
            "h3_cell": h3_cell(lon, lat),
            "area_id": leaf.id,
            "area_path": leaf.path,
        }

    # Posts and units at the stations (a post in a grid of its station).
    posts, units = [], []
    for s, station in enumerate(stations):
        mine = [g for g in grids if g.path.startswith(station.path)]
        for p in range(size.posts_per_station):
            g = mine[p % len(mine)]
            lon, lat = (g.west + g.east) / 2, (g.south + g.north) / 2
            posts.append(
                {
                    "code": f"{code}-P{s}-{p}",
                    "name": f"Post {code}-{s}-{p}",
                    "kind": "police_post",
                    "created_at": now,
                    "updated_at": now,
                    **located(g, lon, lat),
                }
            )
        for u in range(size.units_per_station):
            g = mine[int(rng.integers(len(mine)))]
            units.append(
                {
                    "call_sign": f"{code}-U{s}-{u}",
                    "unit_type": "car",
                    "home_area_id": station.id,
                    "home_area_path": station.path,
                    "status": "available",
                    "staged": False,
                    "lon": float(rng.uniform(g.west, g.east)),
                    "lat": float(rng.uniform(g.south, g.north)),
                    "position_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    _insert(conn, Post, posts, county_id=county_id)
    _insert(conn, Unit, units, county_id=county_id)
    written["police_post"], written["unit"] = len(posts), len(units)

    # Incidents over the period, with their lifecycle's events.
    n = size.incidents()
    period_s = size.days * 86400.0
    at, lon, lat = _points(rng, grids, n)
    ago = np.sort(rng.uniform(0, period_s, n))[::-1]
    c2d, travel, on_site = rng.gamma(2.0, 30.0, n), rng.gamma(2.5, 70.0, n), rng.gamma(3, 600, n)
    kind = rng.random(n)
    category = rng.integers(0, len(CATEGORIES), n)
    open_s = size.open_hours * 3600.0
    incidents: list[dict[str, Any]] = []
    lifecycles: list[list[tuple[str | None, str, datetime]]] = []
    for i in range(n):
        g = grids[int(at[i])]
        received = now - timedelta(seconds=float(ago[i]))
        dispatched = received + timedelta(seconds=float(c2d[i]))
        scene = dispatched + timedelta(seconds=float(travel[i]))
        cleared = scene + timedelta(seconds=float(on_site[i]))
        steps: list[tuple[str | None, str, datetime]] = [(None, "received", received)]
        times: dict[str, datetime | None] = {}
        if kind[i] < 0.03:
            steps.append(("received", "cancelled", dispatched))
            times["cancelled_at"] = dispatched
        elif kind[i] < 0.05:
            steps.append(("received", "merged", dispatched))
            times["cancelled_at"] = dispatched
        else:
            steps.append(("received", "dispatched", dispatched))
            steps.append(("dispatched", "on_scene", scene))
            steps.append(("on_scene", "cleared", cleared))
            steps.append(("cleared", "closed", cleared + timedelta(minutes=5)))
            times.update(
                dispatched_at=dispatched,
                on_scene_at=scene,
                cleared_at=cleared,
                closed_at=cleared + timedelta(minutes=5),
            )
        # Received within the last hours: still open, at the step it has reached by now.
        if ago[i] < open_s:
            steps = [s for s in steps if s[2] <= now and s[1] not in ("cleared", "closed")]
            times = {
                key: value
                for key, value in times.items()
                if key in ("dispatched_at", "on_scene_at") and value is not None and value <= now
            }
        status = steps[-1][1]
        c, sub = CATEGORIES[int(category[i])]
        incidents.append(
            {
                "idempotency_key": f"L{code}-{i:07d}",
                "category": c,
                "subtype": sub,
                "priority": f"P{1 + i % 4}",
                "source": "call",
                "description": "",
                "status": status,
                "received_at": received,
                "dispatched_at": times.get("dispatched_at"),
                "on_scene_at": times.get("on_scene_at"),
                "cleared_at": times.get("cleared_at"),
                "closed_at": times.get("closed_at"),
                "cancelled_at": times.get("cancelled_at"),
                "created_at": received,
                "updated_at": steps[-1][2],
                **located(g, float(lon[i]), float(lat[i])),
            }
        )
        lifecycles.append(steps)
    ids = _insert(conn, Incident, incidents, key="idempotency_key", county_id=county_id)
    claim_keys(conn, [(row["idempotency_key"], county_id) for row in incidents])
    events = [
        {"incident_id": iid, "at": when, "from_status": old, "to_status": new, "username": "load"}
        for iid, steps in zip(ids, lifecycles, strict=True)
        for old, new, when in steps
    ]
    _insert(conn, IncidentEvent, events, county_id=county_id)
    written["incident"], written["incident_event"] = len(ids), len(events)

    # Cases with a point.
    m = size.cases()
    at, lon, lat = _points(rng, grids, m)
    opened_ago = rng.uniform(0, period_s, m)
    took = rng.gamma(2.0, 5.0, m)
    ckind = rng.random(m)
    cases = []
    for i in range(m):
        g = grids[int(at[i])]
        opened = now - timedelta(seconds=float(opened_ago[i]))
        due = opened + timedelta(days=10)
        closed: datetime | None = opened + timedelta(days=float(took[i]))
        case_type = CASE_TYPES[i % len(CASE_TYPES)]
        still_open, resolved, unresolved = CASE_STATES[case_type]
        state = resolved
        if ckind[i] < 0.15 or (closed is not None and closed > now):
            closed, state = None, still_open
        elif ckind[i] < 0.2:
            state = unresolved
        cases.append(
            {
                "case_type": case_type,
                "title": "",
                "description": "",
                "state": state,
                "data": {},
                "opened_at": opened,
                "state_entered_at": opened,
                "due_at": None if closed is not None else due,
                # the deadline tick looks at an open case from when it entered its state
                "next_check_at": None if closed is not None else opened,
                "deadline_round": 0,
                "is_overdue": False,
                "late": bool(closed is not None and closed > due),
                "supervision_count": 0,
                "closed_at": closed,
                "resolved_at": closed if state == resolved else None,
                "reopen_count": 0,
                "escalation_risk": False,
                "risk_reasons": [],
                "version": 1,
                "created_at": opened,
                "updated_at": opened,
                **located(g, float(lon[i]), float(lat[i])),
            }
        )
    case_ids = _insert(conn, Case, cases, ids=True, county_id=county_id)
    written["case_record"] = len(case_ids)

    # The audit chain: an event per incident and per case, in their areas.
    events_audited = [
        ("incident", iid, row["area_path"]) for iid, row in zip(ids, incidents, strict=True)
    ]
    events_audited += [
        ("case", cid, row["area_path"]) for cid, row in zip(case_ids, cases, strict=True)
    ]
    written["audit_event"] = _audit(conn, events_audited, now=now, county_id=county_id)

    # Key facilities.
    kinds = ("school", "kindergarten", "hospital", "bank", "fuel_station", "market")
    at, lon, lat = _points(rng, grids, size.facilities)
    places = [
        {
            "code": f"{code}-F{i:05d}",
            "name": f"Facility {code}-{i}",
            "facility_type": kinds[i % len(kinds)],
            "address": "",
            "staff_count": 20,
            "guards_full_time": 1,
            "guards_part_time": 0,
            "physical_barriers": bool(i % 2),
            "alarm_networked": bool(i % 3),
            "video_networked": bool(i % 4),
            "school_gate_post": False,
            "closed_management": False,
            "source": "import",
            "created_at": now,
            "updated_at": now,
            **located(grids[int(at[i])], float(lon[i]), float(lat[i])),
        }
        for i in range(size.facilities)
    ]
    _insert(conn, Facility, places, county_id=county_id)
    written["facility"] = len(places)

    # Devices and their status history.
    d = size.devices
    at, lon, lat = _points(rng, grids, d)
    dtype = rng.choice(["camera", "camera", "camera", "alarm_button", "vehicle_checkpoint"], d)
    devices = []
    statuses = ("working", "fault", "offline")
    history: list[list[tuple[datetime, str, str | None]]] = []
    for i in range(d):
        g = grids[int(at[i])]
        moments = sorted(
            now - timedelta(seconds=float(s))
            for s in rng.choice(int(period_s), size.status_changes, replace=False)
        )
        previous: str | None = None
        changes = []
        for when in moments:
            status = statuses[int(rng.choice(3, p=[0.85, 0.05, 0.10]))]
            changes.append((when, status, previous))
            previous = status
        history.append(changes)
        devices.append(
            {
                "code": f"{code}-D{i:06d}",
                "name": "",
                "device_type": str(dtype[i]),
                "owner_kind": "public",
                "zone_type": "central_urban",
                "networked": bool(i % 5),
                "status": previous or "working",
                "status_at": moments[-1] if moments else now,
                "created_at": now,
                "updated_at": now,
                **located(g, float(lon[i]), float(lat[i])),
            }
        )
    device_ids = _insert(conn, Device, devices, key="code", county_id=county_id)
    changes_rows = [
        {
            "device_id": did,
            "at": when,
            "status": status,
            "previous": previous,
            "source": "import",
            "recorded_at": when,
            "recorded_by": "load",
        }
        for did, changes in zip(device_ids, history, strict=True)
        for when, status, previous in changes
    ]
    _insert(conn, DeviceStatusEvent, changes_rows, county_id=county_id)
    written["device"], written["device_status_event"] = len(device_ids), len(changes_rows)

    # Holders, a site each, and ledger movements.
    materials = _materials(session)
    at, lon, lat = _points(rng, grids, size.holders)
    holders = [
        {
            "code": f"{code}-H{i:03d}",
            "name": f"Holder {code}-{i}",
            "kind": "user",
            "licence_no": "",
            "licence_classes": ["civil_explosive", "toxic_chemical"],
            "address": "",
            "created_at": now,
            "updated_at": now,
            **located(grids[int(at[i])], float(lon[i]), float(lat[i])),
        }
        for i in range(size.holders)
    ]
    holder_ids = _insert(conn, Holder, holders, key="code", county_id=county_id)
    sites = [
        {
            "code": f"{code}-W{i:03d}",
            "holder_id": hid,
            "name": f"Site {code}-{i}",
            "kind": "warehouse",
            "created_at": now,
            "updated_at": now,
            **{col: holders[i][col] for col in ("lon", "lat", "h3_cell", "area_id", "area_path")},
        }
        for i, hid in enumerate(holder_ids)
    ]
    site_ids = _insert(conn, Site, sites, key="code", county_id=county_id)
    moves = []
    if site_ids:
        which = rng.integers(0, len(site_ids), size.movements)
        ago_m = rng.uniform(0, period_s, size.movements)
        amount = rng.gamma(2.0, 10.0, size.movements)
        for i in range(size.movements):
            s_i = int(which[i])
            when = now - timedelta(seconds=float(ago_m[i]))
            q = round(float(amount[i]), 3)
            moves.append(
                {
                    "holder_id": holder_ids[s_i],
                    "site_id": site_ids[s_i],
                    "material_id": materials[i % len(materials)],
                    "kind": "receive" if i % 2 == 0 else "use",
                    "quantity": q,
                    "unit": "kg" if i % len(materials) == 0 else "l",
                    "quantity_milli": round(q * 1000),
                    "occurred_at": when,
                    "occurred_s": int(when.timestamp()),
                    "document_no": f"{code}-M{i:07d}",
                    "void": False,
                    "area_path": sites[s_i]["area_path"],
                    "recorded_at": when,
                    "recorded_by": "load",
                }
            )
    _insert(conn, Movement, moves, county_id=county_id)
    written["material_holder"], written["material_site"] = len(holder_ids), len(site_ids)
    written["material_movement"] = len(moves)
    return written


def generate(
    url: str,
    counties: int,
    size: Size,
    *,
    seed: int = 23,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Generated:
    """Counties ``0 .. counties-1`` into the (migrated, empty) database at ``url``, one
    transaction per county; refused past the bounds (:func:`check_bounds`)."""
    from sqlalchemy.orm import Session

    from fangkong.areas import service as area_service
    from fangkong.core.audit import SYSTEM
    from fangkong.core.db import make_engine

    check_bounds(counties, size)
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    engine = make_engine(url)
    totals: dict[str, int] = {}
    by_county: dict[str, dict[str, int]] = {}
    try:
        with Session(engine) as session:
            area_service.import_geojson(session, data=root_geojson(counties), actor=SYSTEM)
            session.commit()
        for k in range(counties):
            with Session(engine) as session:
                written = generate_county(session, k, size, now=now, seed=seed)
                session.commit()
            by_county[county_code(k)] = written
            for table, count in written.items():
                totals[table] = totals.get(table, 0) + count
            if progress is not None and ((k + 1) % 10 == 0 or k + 1 == counties):
                elapsed = time.perf_counter() - started
                progress(f"  {k + 1}/{counties} counties written ({elapsed:.0f} s)")
        if engine.dialect.name == "postgresql":
            # The planner's statistics, as autovacuum would gather them a while after a load.
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Generated(counties, size, totals, by_county, time.perf_counter() - started, peak)


#: The sizes of the runs (per county).
SMOKE = Size(
    stations=2,
    beats=2,
    grids=2,
    posts_per_station=1,
    units_per_station=2,
    per_day=6.0,
    days=10,
    open_hours=24.0,
    cases_per_day=2.0,
    facilities=6,
    devices=20,
    status_changes=2,
    holders=2,
    movements=20,
)
QUICK = replace(Size(), per_day=40.0, days=35, devices=400, movements=400)
FULL = Size()


#: The tables counted per county, with the path column their rows are placed by (a child
#: table: the parent table, its key and the parent's path column).
COUNTED: dict[str, tuple[str, str | None, str | None]] = {
    "police_post": ("area_path", None, None),
    "unit": ("home_area_path", None, None),
    "incident": ("area_path", None, None),
    "incident_event": ("incident_id", "incident", "area_path"),
    "case_record": ("area_path", None, None),
    "audit_event": ("area_path", None, None),
    "facility": ("area_path", None, None),
    "device": ("area_path", None, None),
    "device_status_event": ("device_id", "device", "area_path"),
    "material_holder": ("area_path", None, None),
    "material_site": ("area_path", None, None),
    "material_movement": ("area_path", None, None),
}


def census(url: str) -> dict[str, dict[str, int]]:
    """Rows per county and table, read back from the database: a row counts for the county
    whose path its path (or its parent row's) starts with; rows under no county count for
    ``"-"``. Areas count as ``area`` (the county's own and those below it)."""
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    engine = make_engine(url)
    out: dict[str, dict[str, int]] = {}
    try:
        with engine.connect() as conn:
            counties = conn.execute(
                text("SELECT code, path FROM area WHERE level = 'district' ORDER BY code")
            ).all()
            for code, path in counties:
                out[str(code)] = {
                    "area": int(
                        conn.execute(
                            text("SELECT count(*) FROM area WHERE path LIKE :p"), {"p": f"{path}%"}
                        ).scalar_one()
                    )
                }
            out["-"] = {}
            for table, (col, parent, parent_col) in COUNTED.items():
                if parent is None:
                    rows = conn.execute(text(f"SELECT {col}, count(*) FROM {table} GROUP BY 1"))
                else:
                    rows = conn.execute(
                        text(
                            f"SELECT p.{parent_col}, count(*) FROM {table} t "
                            f"JOIN {parent} p ON p.id = t.{col} GROUP BY 1"
                        )
                    )
                for row_path, count in rows:
                    owner = next(
                        (
                            str(code)
                            for code, path in counties
                            if row_path and str(row_path).startswith(str(path))
                        ),
                        "-",
                    )
                    mine = out[owner]
                    mine[table] = mine.get(table, 0) + int(count)
    finally:
        engine.dispose()
    return out
