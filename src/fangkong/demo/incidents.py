"""The demo county's police posts, units and one year of generated incidents.

Everything here is generated from a seed and documented in ``docs/demo-incidents.md``: a
county-like rate of incidents with a weekly and daily rhythm, concentrated where the addresses
are and around a few hotspots, each with a plausible lifecycle driven by the road times from
the posts. Incidents carry places only: no caller contact, no names, no description.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel, StandardAddress
from fangkong.core.audit import SYSTEM
from fangkong.core.county import county_of, partition_of
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import Scope
from fangkong.dispatch import recommend, replay, service, taxonomy
from fangkong.dispatch.models import (
    Assignment,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Post,
    PostKind,
    Priority,
    Source,
    Unit,
    UnitType,
)
from fangkong.network.service import Network

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
log = logging.getLogger(__name__)

# --- the model's parameters (docs/demo-incidents.md explains each) ----------------------------

#: Mean incidents per day over the year (a county of ~40,000 people with through traffic).
DAILY_MEAN = 70.0
#: Category shares of all incidents.
CATEGORY_SHARE: dict[str, float] = {
    "traffic": 0.22,
    "assistance": 0.18,
    "criminal": 0.16,
    "public_order": 0.15,
    "dispute": 0.15,
    "rescue": 0.06,
    "fire": 0.03,
    "other": 0.05,
}
# Hour-of-day profiles (00..23, relative). "day" follows waking activity; "evening" peaks
# 19-23 and stays high past midnight (public order, disputes); "rush" has the commute peaks.
_DAY = [2, 1.5, 1, 1, 1, 1.5, 3, 5, 6, 6.5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6.5, 6, 5, 4, 3]
_EVENING = [
    5,
    4,
    3,
    2,
    1,
    1,
    1,
    1.5,
    2,
    2.5,
    3,
    3.5,
    4,
    4,
    4,
    4.5,
    5,
    5.5,
    6.5,
    7.5,
    8.5,
    9,
    8.5,
    7,
]
_RUSH = [
    1,
    0.7,
    0.5,
    0.5,
    0.6,
    1.5,
    4,
    9,
    8,
    5,
    4.5,
    4.5,
    5,
    4.5,
    4.5,
    5,
    6.5,
    9,
    8.5,
    5.5,
    4,
    3,
    2,
    1.5,
]
_CRIME = [4, 3.5, 3, 2.5, 2, 1.5, 1.5, 2, 3, 4, 4.5, 5, 5, 5, 5, 5.5, 6, 6.5, 7, 7, 7, 6.5, 6, 5]
HOUR_PROFILE: dict[str, list[float]] = {
    "traffic": _RUSH,
    "assistance": _DAY,
    "criminal": _CRIME,
    "public_order": _EVENING,
    "dispute": _EVENING,
    "rescue": _DAY,
    "fire": _DAY,
    "other": _DAY,
}
# Day-of-week factors, Monday first: commuting traffic drops at the weekend, evening trouble
# rises from Friday.
DOW_FACTOR: dict[str, list[float]] = {
    "traffic": [1.1, 1.05, 1.05, 1.05, 1.15, 0.85, 0.75],
    "public_order": [0.8, 0.8, 0.85, 0.9, 1.25, 1.45, 0.95],
    "dispute": [0.9, 0.9, 0.9, 0.95, 1.1, 1.2, 1.05],
    "criminal": [0.95, 0.95, 0.95, 1.0, 1.1, 1.1, 0.95],
}
#: Friday and Saturday nights (20:00 to 04:00 the next morning): extra factor for these.
WEEKEND_NIGHT_BOOST: dict[str, float] = {"public_order": 1.8, "dispute": 1.4, "criminal": 1.3}
#: Summer (June to August) is busier, winter (December to February) quieter.
SEASON_FACTOR = {6: 1.12, 7: 1.15, 8: 1.12, 12: 0.92, 1: 0.88, 2: 0.9}
#: Sub-type weights within each category (the taxonomy's order; missing ones weigh 1).
SUBTYPE_WEIGHT: dict[str, dict[str, float]] = {
    "criminal": {
        "theft": 40,
        "robbery": 3,
        "burglary": 12,
        "assault": 10,
        "fraud": 18,
        "vandalism": 12,
        "other": 5,
    },
    "public_order": {
        "fight": 15,
        "disturbance": 25,
        "noise": 35,
        "gathering": 5,
        "suspicious": 15,
        "other": 5,
    },
    "traffic": {
        "collision": 60,
        "injury_collision": 12,
        "obstruction": 15,
        "signal_fault": 5,
        "other": 8,
    },
    "fire": {"building": 25, "vehicle": 20, "outdoor": 45, "other": 10},
    "rescue": {"water": 5, "trapped": 25, "medical": 55, "missing_child": 10, "other": 5},
    "dispute": {"neighbour": 35, "family": 30, "commercial": 20, "labour": 10, "other": 5},
    "assistance": {
        "lost_property": 30,
        "locked_out": 20,
        "directions": 10,
        "welfare_check": 35,
        "other": 5,
    },
}
#: Priority shares (P1, P2, P3, P4) by category, and sub-types that are always urgent.
PRIORITY_SHARE: dict[str, tuple[float, float, float, float]] = {
    "criminal": (0.06, 0.34, 0.45, 0.15),
    "public_order": (0.04, 0.26, 0.5, 0.2),
    "traffic": (0.03, 0.32, 0.5, 0.15),
    "fire": (0.35, 0.45, 0.15, 0.05),
    "rescue": (0.3, 0.45, 0.2, 0.05),
    "dispute": (0.02, 0.18, 0.55, 0.25),
    "assistance": (0.01, 0.1, 0.5, 0.39),
    "other": (0.01, 0.1, 0.5, 0.39),
}
URGENT = {
    ("criminal", "robbery"),
    ("criminal", "assault"),
    ("traffic", "injury_collision"),
    ("fire", "building"),
    ("rescue", "water"),
    ("rescue", "trapped"),
    ("rescue", "missing_child"),
}
#: Sources (call, patrol, alarm, public tip) by category.
SOURCE_SHARE: dict[str, tuple[float, float, float, float]] = {
    "criminal": (0.72, 0.08, 0.16, 0.04),
    "fire": (0.7, 0.05, 0.25, 0.0),
    "traffic": (0.84, 0.13, 0.03, 0.0),
    "public_order": (0.84, 0.12, 0.0, 0.04),
}
_DEFAULT_SOURCE = (0.92, 0.06, 0.0, 0.02)
_SOURCES = (Source.CALL, Source.PATROL, Source.ALARM, Source.PUBLIC_TIP)
_PRIORITIES = (Priority.P1, Priority.P2, Priority.P3, Priority.P4)
#: Median on-scene minutes by category (log-normal, sigma 0.5).
ON_SCENE_MEDIAN_MIN: dict[str, float] = {
    "criminal": 40,
    "public_order": 25,
    "traffic": 30,
    "fire": 55,
    "rescue": 35,
    "dispute": 35,
    "assistance": 18,
    "other": 15,
}
#: Call-to-dispatch: log-normal with this median (s) and sigma, P1 × 0.6, within [15, 1800] s.
DISPATCH_MEDIAN_S, DISPATCH_SIGMA = 90.0, 0.7
#: Share of incidents cancelled before a unit is sent (the caller withdrew).
CANCELLED_SHARE = 0.02
#: Share of dispatched incidents that a second caller reports again while they are open: the
#: second call is recorded, then merged into the first (the 合并 of duplicate calls).
DUPLICATE_SHARE = 0.04
#: Hotspots: this many density peaks, at least this far apart, each adding a kernel of weight
#: HOTSPOT_WEIGHT · exp(−d / HOTSPOT_SCALE_M) to every address at distance d.
HOTSPOTS, HOTSPOT_SEPARATION_M, HOTSPOT_WEIGHT, HOTSPOT_SCALE_M = 8, 800.0, 6.0, 250.0
#: Posts: one street post per beat area, one police post per station precinct.
CARS_PER_STATION_POST = 2
FOOT_PATROL_BEATS = 8
KEY_PREFIX = "demo-"


# --- places -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Candidate incident points (standard addresses) with their areas and sampling weights."""

    lon: FloatArray
    lat: FloatArray
    h3: list[str]
    area_id: list[int]
    area_path: list[str]
    weight: FloatArray
    hotspots: IntArray

    def __len__(self) -> int:
        return int(self.lon.shape[0])


def _metres(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    lat0 = math.radians(float(np.mean(lat))) if lat.size else 0.0
    return lon * 111_320.0 * math.cos(lat0), lat * 110_540.0


def places_from_rows(
    lon: FloatArray, lat: FloatArray, h3: list[str], area_id: list[int], area_path: list[str]
) -> Places:
    """Weights: 1 per address (density follows the register) plus the hotspot kernels.

    Hotspots are the addresses with the most neighbours within 300 m, taken greedily at least
    :data:`HOTSPOT_SEPARATION_M` apart. O(p²) on a county's few thousand addresses (in blocks).
    """
    x, y = _metres(lon, lat)
    n = lon.shape[0]
    neighbours = np.zeros(n)
    for lo in range(0, n, 512):
        hi = min(n, lo + 512)
        d2 = (x[lo:hi, None] - x[None, :]) ** 2 + (y[lo:hi, None] - y[None, :]) ** 2
        neighbours[lo:hi] = (d2 <= 300.0**2).sum(axis=1)
    chosen: list[int] = []
    for i in np.argsort(-neighbours, kind="stable").tolist():
        if all((x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2 >= HOTSPOT_SEPARATION_M**2 for j in chosen):
            chosen.append(i)
            if len(chosen) == HOTSPOTS:
                break
    weight = np.ones(n)
    for j in chosen:
        weight += HOTSPOT_WEIGHT * np.exp(-np.hypot(x - x[j], y - y[j]) / HOTSPOT_SCALE_M)
    return Places(
        lon=lon,
        lat=lat,
        h3=h3,
        area_id=area_id,
        area_path=area_path,
        weight=weight,
        hotspots=np.array(chosen, dtype=np.int64),
    )


def load_places(session: Session) -> Places:
    """The standard addresses placed in an area, as :class:`Places`."""
    rows = session.execute(
        select(
            StandardAddress.lon,
            StandardAddress.lat,
            StandardAddress.h3_cell,
            StandardAddress.area_id,
            StandardAddress.area_path,
        )
        .where(StandardAddress.area_id.is_not(None))
        .order_by(StandardAddress.id)
    ).all()
    return places_from_rows(
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.float64),
        [str(r[2]) for r in rows],
        [int(r[3] or 0) for r in rows],
        [str(r[4]) for r in rows],
    )


# --- the incident model -----------------------------------------------------------------------


def hour_of_week_rates(category: str) -> FloatArray:
    """Expected incidents of ``category`` per hour of the week, shape (7, 24), Monday first.

    ``rate[d, h] = DAILY_MEAN · share · 7 · w[d, h] / Σw`` with
    ``w[d, h] = dow[d] · profile[h] · boost`` (boost on Friday and Saturday nights), so a week
    holds ``7 · DAILY_MEAN · share`` incidents on average.
    """
    profile = np.array(HOUR_PROFILE[category], dtype=np.float64)
    dow = np.array(DOW_FACTOR.get(category, [1.0] * 7), dtype=np.float64)
    w = dow[:, None] * profile[None, :]
    boost = WEEKEND_NIGHT_BOOST.get(category, 1.0)
    if boost != 1.0:
        for day in (4, 5):  # Friday, Saturday evenings and the small hours after them
            w[day, 20:] *= boost
            w[(day + 1) % 7, :4] *= boost
    rates: FloatArray = DAILY_MEAN * CATEGORY_SHARE[category] * 7.0 * w / w.sum()
    return rates


@dataclass(frozen=True)
class Draw:
    """One generated incident before its lifecycle: when, where (index into places), what."""

    received_at: datetime
    place: int
    category: str
    subtype: str
    priority: Priority
    source: Source


def _choice(rng: np.random.Generator, weights: FloatArray) -> int:
    return int(rng.choice(weights.shape[0], p=weights / weights.sum()))


def _what_many(
    rng: np.random.Generator, category: str, size: int
) -> tuple[list[str], list[Priority], list[Source]]:
    """Sub-type, priority and source of ``size`` incidents of ``category`` (vectorised)."""
    subs = taxonomy.TAXONOMY[category]
    table = SUBTYPE_WEIGHT.get(category, {})
    w = np.array([table.get(s, 1.0) for s in subs], dtype=np.float64)
    subtype = rng.choice(len(subs), size=size, p=w / w.sum())
    share = np.array(PRIORITY_SHARE[category])
    priority = rng.choice(4, size=size, p=share / share.sum())
    urgent = np.array([(category, s) in URGENT for s in subs])[subtype]
    priority = np.where(urgent, np.where(rng.random(size) < 0.7, 0, 1), priority)
    src = np.array(SOURCE_SHARE.get(category, _DEFAULT_SOURCE))
    source = rng.choice(4, size=size, p=src / src.sum())
    return (
        [subs[i] for i in subtype.tolist()],
        [_PRIORITIES[i] for i in priority.tolist()],
        [_SOURCES[i] for i in source.tolist()],
    )


def draw_days(
    rng: np.random.Generator, *, first: date, days: int, zone: ZoneInfo, places: Places
) -> list[Draw]:
    """Incidents received on ``days`` local days from ``first``, in received order.

    Counts per hour and category are Poisson with :func:`hour_of_week_rates` × the season;
    times are uniform within the hour; places are drawn by :attr:`Places.weight`.
    Vectorised per category: O(n) for n incidents.
    """
    dates = [first + timedelta(days=k) for k in range(days)]
    weekday = np.array([d.weekday() for d in dates], dtype=np.int64)
    season = np.array([SEASON_FACTOR.get(d.month, 1.0) for d in dates])
    # Wall-clock midnights in the zone (a DST day elsewhere shifts an hour: harmless here).
    midnight = np.array([datetime(d.year, d.month, d.day, tzinfo=zone).timestamp() for d in dates])
    p = places.weight / places.weight.sum()
    out: list[Draw] = []
    for category in CATEGORY_SHARE:
        rate = hour_of_week_rates(category)[weekday] * season[:, None]
        counts = rng.poisson(rate).ravel()
        total = int(counts.sum())
        if total == 0:
            continue
        slot = np.repeat(np.arange(counts.shape[0]), counts)
        stamps = midnight[slot // 24] + ((slot % 24) + rng.random(total)) * 3600.0
        spots = rng.choice(len(places), size=total, p=p)
        subtypes, priorities, sources = _what_many(rng, category, total)
        out += [
            Draw(datetime.fromtimestamp(t, UTC), spot, category, sub, pri, src)
            for t, spot, sub, pri, src in zip(
                stamps.tolist(), spots.tolist(), subtypes, priorities, sources, strict=True
            )
        ]
    out.sort(key=lambda d: d.received_at)
    return out


def draw_one(rng: np.random.Generator, *, at: datetime, zone: ZoneInfo, places: Places) -> Draw:
    """One incident received at ``at``: its category follows the rates of that hour."""
    local = at.astimezone(zone)
    categories = list(CATEGORY_SHARE)
    weights = np.array([hour_of_week_rates(c)[local.weekday(), local.hour] for c in categories])
    category = categories[_choice(rng, weights)]
    (subtype,), (priority,), (source,) = _what_many(rng, category, 1)
    return Draw(at, _choice(rng, places.weight), category, subtype, priority, source)


def lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> FloatArray:
    out: FloatArray = median * np.exp(sigma * rng.standard_normal(size))
    return out


# --- posts and units --------------------------------------------------------------------------


@dataclass
class IncidentsReport:
    posts: int = 0
    units_by_type: dict[str, int] = field(default_factory=dict)
    incidents: int = 0
    merged: int = 0  # of the incidents, second calls merged into the first
    by_category: dict[str, int] = field(default_factory=dict)
    first_day: str = ""
    last_day: str = ""
    seconds: float = 0.0


def _snapped(network: Network, lon: float, lat: float) -> tuple[float, float]:
    """The road point nearest (lon, lat), or the point itself when no road is near."""
    result = network.snapper.snap(np.array([lon]), np.array([lat]))
    if bool(result.too_far[0]):
        return lon, lat
    return float(result.lon[0]), float(result.lat[0])


def build_posts_and_units(
    session: Session, *, network: Network, places: Places, now: datetime
) -> tuple[list[Post], list[Unit]]:
    """A police post per station precinct (two cars), a street post per beat area (a car or a
    motorcycle), and foot patrols at the posts of the beats with the most addresses.

    Each post stands on the road nearest its area's representative point, falling back to
    that point when the road lies in another area.
    """
    from fangkong.areas import service as area_service

    areas = list(
        session.scalars(
            select(Area)
            .where(Area.level.in_([AreaLevel.STATION, AreaLevel.BEAT]))
            .order_by(Area.code)
        )
    )
    posts: list[Post] = []
    home: dict[int, Area] = {}
    for area in areas:
        point = area_service.geometry(area).representative_point()
        lon, lat = _snapped(network, point.x, point.y)
        station = area.level == AreaLevel.STATION
        code = f"{area.code}-{'PS' if station else 'P'}"
        name = f"{area.name_zh}警务工作站" if station else f"{area.name_zh}街面警务站"
        kind = PostKind.POLICE_POST if station else PostKind.STREET_POST
        try:
            post = service.create_post(
                session,
                code=code,
                name=name,
                kind=kind,
                lon=lon,
                lat=lat,
                actor=SYSTEM,
                scope=Scope(paths=(area.path,)),
            )
        except FangkongError:
            post = service.create_post(
                session, code=code, name=name, kind=kind, lon=point.x, lat=point.y, actor=SYSTEM
            )
        posts.append(post)
        home[post.id] = area
    addresses = Counter(places.area_path)
    beat_posts = [p for p in posts if home[p.id].level == AreaLevel.BEAT]
    busiest = sorted(
        beat_posts,
        key=lambda p: -sum(n for path, n in addresses.items() if path.startswith(home[p.id].path)),
    )
    plan: list[tuple[Post, UnitType]] = []
    for post in posts:
        if home[post.id].level == AreaLevel.STATION:
            plan += [(post, UnitType.CAR)] * CARS_PER_STATION_POST
    for i, post in enumerate(beat_posts):
        plan.append((post, UnitType.MOTORCYCLE if i % 2 else UnitType.CAR))
    plan += [(post, UnitType.FOOT) for post in busiest[:FOOT_PATROL_BEATS]]
    prefix = {UnitType.CAR: "巡", UnitType.MOTORCYCLE: "摩", UnitType.FOOT: "步"}
    numbers: Counter[UnitType] = Counter()
    units: list[Unit] = []
    for post, unit_type in plan:
        numbers[unit_type] += 1
        units.append(
            service.create_unit(
                session,
                call_sign=f"{prefix[unit_type]}{numbers[unit_type]:02d}",
                unit_type=unit_type,
                home_area=home[post.id],
                actor=SYSTEM,
                home_post=post,
                now=now,
            )
        )
    return posts, units


# --- the recorded year ------------------------------------------------------------------------


def build_history(
    session: Session,
    *,
    network: Network,
    places: Places,
    posts: list[Post],
    units: list[Unit],
    last_day: date,
    days: int = 365,
    zone: ZoneInfo,
    rng: np.random.Generator,
) -> list[Draw]:
    """Insert ``days`` days of incidents ending on ``last_day``, each walked through its
    lifecycle and dispatched by :func:`fangkong.dispatch.replay.simulate` from the posts.

    Bulk inserts (three statements' worth of rows) inside the caller's transaction; the rows
    are history, so they are not audited one by one (an audit line records the batch).
    """
    first = last_day - timedelta(days=days - 1)
    draws = draw_days(rng, first=first, days=days, zone=zone, places=places)
    n = len(draws)
    if n == 0:
        return draws
    # one origin per post and way of travel (its cars and its foot patrol start there)
    by_id = {p.id: p for p in posts}
    origin_index: dict[tuple[int, recommend.Travel], int] = {}
    unit_origin = [
        origin_index.setdefault(
            (u.home_post_id or posts[0].id, recommend.TRAVEL[u.unit_type] or "drive"),
            len(origin_index),
        )
        for u in units
    ]
    origins = [(by_id[post], travel) for post, travel in origin_index]
    out, _ = replay.road_times(
        network,
        origins=(np.array([p.lon for p, _ in origins]), np.array([p.lat for p, _ in origins])),
        targets=(places.lon, places.lat),
        both_ways=False,
        travel=[travel for _, travel in origins],
    )
    place = np.array([d.place for d in draws], dtype=np.int64)
    base = draws[0].received_at
    received = np.array([(d.received_at - base).total_seconds() for d in draws])
    p1 = np.array([d.priority == Priority.P1 for d in draws])
    delay = np.clip(
        lognormal(rng, DISPATCH_MEDIAN_S, DISPATCH_SIGMA, n) * np.where(p1, 0.6, 1), 15.0, 1800.0
    )
    on_scene = np.array([ON_SCENE_MEDIAN_MIN[d.category] * 60.0 for d in draws]) * np.exp(
        0.5 * rng.standard_normal(n)
    )
    cancelled = rng.random(n) < CANCELLED_SHARE
    turnout = rng.uniform(20.0, 90.0, n)
    # Real drives are slower and more varied than the emergency profile's road time.
    slowdown = lognormal(rng, 1.12, 0.18, n)
    # The simulation runs on the recorded drive (turn-out + slowed road time), so that a unit's
    # recorded busy times never overlap; per incident the factor keeps the units' order.
    drive = out[:, place] * slowdown + turnout
    # A cancelled call never reaches a unit: no road leads to it.
    drive[:, cancelled] = np.inf
    sim = replay.simulate(
        received_s=received,
        delay_s=delay,
        on_scene_s=on_scene,
        wanted=np.where(p1, recommend.P1_UNITS, 1),
        out_s=drive,
        unit_origin=unit_origin,
    )
    admin = rng.uniform(300.0, 3600.0, n)
    withdrawn = rng.uniform(60.0, 900.0, n)
    incident_rows: list[dict[str, Any]] = []
    no_unit = sim.no_unit.tolist()
    for k, d in enumerate(draws):
        at = d.received_at
        row: dict[str, Any] = dict(
            idempotency_key=f"{KEY_PREFIX}{at.astimezone(zone):%Y%m%d}-{k:05d}",
            # No request was sent: a recorded incident has no digest to tell a retry by.
            request_hash=None,
            category=d.category,
            subtype=d.subtype,
            priority=d.priority,
            source=d.source,
            description="",
            caller_contact_encrypted=None,
            received_at=at,
            dispatched_at=None,
            en_route_at=None,
            on_scene_at=None,
            cleared_at=None,
            closed_at=None,
            cancelled_at=None,
            lon=float(places.lon[d.place]),
            lat=float(places.lat[d.place]),
            h3_cell=places.h3[d.place],
            area_id=places.area_id[d.place],
            area_path=places.area_path[d.place],
            county_id=county_of(places.area_path[d.place]),
            created_by_id=None,
            created_at=at,
        )
        if no_unit[k]:
            row.update(
                status=IncidentStatus.CANCELLED,
                cancelled_at=at + timedelta(seconds=float(withdrawn[k])),
            )
        else:
            dispatched = base + timedelta(seconds=float(sim.dispatch_s[k]))
            en_route = dispatched + timedelta(seconds=float(turnout[k]))
            on_site = dispatched + timedelta(seconds=float(sim.travel_s[k]))
            cleared = on_site + timedelta(seconds=float(on_scene[k]))
            row.update(
                status=IncidentStatus.CLOSED,
                dispatched_at=dispatched,
                en_route_at=en_route,
                on_scene_at=on_site,
                cleared_at=cleared,
                closed_at=cleared + timedelta(seconds=float(admin[k])),
            )
        row["updated_at"] = row["closed_at"] or row["cancelled_at"]
        incident_rows.append(row)
    # Core executemany without RETURNING (the fast path on both databases); the ids are read
    # back by idempotency key.
    connection = session.connection()
    connection.execute(insert(Incident), incident_rows)
    service.claim_keys(connection, _claims(incident_rows))
    by_key = {
        str(key): int(i)
        for key, i in session.execute(
            select(Incident.idempotency_key, Incident.id).where(
                Incident.idempotency_key.startswith(KEY_PREFIX, autoescape=True)
            )
        )
    }
    ids = [by_key[row["idempotency_key"]] for row in incident_rows]
    events: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    steps = (
        ("received", "received_at"),
        ("dispatched", "dispatched_at"),
        ("en_route", "en_route_at"),
        ("on_scene", "on_scene_at"),
        ("cleared", "cleared_at"),
        ("closed", "closed_at"),
        ("cancelled", "cancelled_at"),
    )
    for k, (incident_id, row) in enumerate(zip(ids, incident_rows, strict=True)):
        previous: str | None = None
        for status, column_name in steps:
            at = row[column_name]
            if at is None:
                continue
            events.append(
                dict(
                    incident_id=incident_id,
                    county_id=row["county_id"],
                    at=at,
                    from_status=previous,
                    to_status=status,
                    user_id=None,
                    username=SYSTEM.username,
                    note=None,
                )
            )
            previous = status
        if row["dispatched_at"] is None:
            continue
        for u, travel in zip(sim.units[k], sim.unit_travel_s[k], strict=True):
            arrived = row["dispatched_at"] + timedelta(seconds=travel)
            assignments.append(
                dict(
                    incident_id=incident_id,
                    county_id=row["county_id"],
                    unit_id=units[u].id,
                    dispatched_at=row["dispatched_at"],
                    predicted_s=round((travel - float(turnout[k])) / float(slowdown[k]), 1),
                    arrived_at=max(arrived, row["on_scene_at"]),
                    released_at=max(row["cleared_at"], arrived),
                    dispatched_by_id=None,
                )
            )
    events += _merged_duplicates(connection, incident_rows, ids, rng)
    connection.execute(insert(IncidentEvent), events)
    connection.execute(insert(Assignment), assignments)
    return draws


def _claims(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """The idempotency keys of incident ``rows`` to claim, with their partition keys."""
    return [(row["idempotency_key"], partition_of(county_of(row["area_path"]))) for row in rows]


def _merged_duplicates(
    connection: Any, rows: list[dict[str, Any]], ids: list[int], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Insert the second calls about :data:`DUPLICATE_SHARE` of the dispatched incidents: the
    same event at the same place, received 30 s to 10 min after the first call (before a unit
    is on scene) and merged into it 20 s to 2 min later. Returns their timeline events."""
    picked = [
        k
        for k, row in enumerate(rows)
        if row["dispatched_at"] is not None and rng.random() < DUPLICATE_SHARE
    ]
    if not picked:
        return []
    duplicates: list[dict[str, Any]] = []
    for k in picked:
        first = rows[k]
        window = (first["on_scene_at"] - first["received_at"]).total_seconds()
        received = first["received_at"] + timedelta(
            seconds=float(rng.uniform(min(30.0, window / 2), min(600.0, window)))
        )
        merged = min(
            received + timedelta(seconds=float(rng.uniform(20.0, 120.0))), first["cleared_at"]
        )
        duplicates.append(
            {
                **first,
                "idempotency_key": f"{first['idempotency_key']}-dup",
                "request_hash": None,
                "source": Source.CALL,
                "status": IncidentStatus.MERGED,
                "merged_into_id": ids[k],
                "merged_into_county": partition_of(county_of(first["area_path"])),
                "received_at": received,
                "dispatched_at": None,
                "en_route_at": None,
                "on_scene_at": None,
                "cleared_at": None,
                "closed_at": None,
                "cancelled_at": merged,
                "created_at": received,
                "updated_at": merged,
            }
        )
    connection.execute(insert(Incident), duplicates)
    service.claim_keys(connection, _claims(duplicates))
    by_key = dict(
        connection.execute(
            select(Incident.idempotency_key, Incident.id).where(
                Incident.idempotency_key.startswith(KEY_PREFIX, autoescape=True),
                Incident.status == IncidentStatus.MERGED,
            )
        ).all()
    )
    events: list[dict[str, Any]] = []
    for row in duplicates:
        incident_id = by_key[row["idempotency_key"]]
        events.append(
            dict(
                incident_id=incident_id,
                county_id=row["county_id"],
                at=row["received_at"],
                from_status=None,
                to_status="received",
                user_id=None,
                username=SYSTEM.username,
                note=None,
            )
        )
        events.append(
            dict(
                incident_id=incident_id,
                county_id=row["county_id"],
                at=row["cancelled_at"],
                from_status="received",
                to_status="merged",
                user_id=None,
                username=SYSTEM.username,
                note=None,
            )
        )
    return events


def build_demo_incidents(
    session: Session,
    *,
    network: Network,
    zone: ZoneInfo,
    today: date,
    rng_seed: int,
    days: int = 365,
) -> IncidentsReport:
    """Posts, units and ``days`` days of incidents ending the day before ``today``."""
    from fangkong.core import audit

    started = time.perf_counter()
    report = IncidentsReport()
    rng = np.random.default_rng(rng_seed)
    places = load_places(session)
    posts, units = build_posts_and_units(session, network=network, places=places, now=utcnow())
    report.posts = len(posts)
    report.units_by_type = dict(Counter(u.unit_type.value for u in units))
    last_day = today - timedelta(days=1)
    draws = build_history(
        session,
        network=network,
        places=places,
        posts=posts,
        units=units,
        last_day=last_day,
        days=days,
        zone=zone,
        rng=rng,
    )
    report.merged = int(
        session.scalar(
            select(func.count(Incident.id)).where(
                Incident.idempotency_key.startswith(KEY_PREFIX, autoescape=True),
                Incident.status == IncidentStatus.MERGED,
            )
        )
        or 0
    )
    report.incidents = len(draws) + report.merged
    report.by_category = dict(sorted(Counter(d.category for d in draws).items()))
    report.first_day = (last_day - timedelta(days=days - 1)).isoformat()
    report.last_day = last_day.isoformat()
    audit.record(
        session,
        actor=SYSTEM,
        action="generate",
        entity="incident",
        entity_id=None,
        detail={
            "incidents": len(draws),
            "first_day": report.first_day,
            "last_day": report.last_day,
            "seed": rng_seed,
        },
    )
    session.flush()
    report.seconds = time.perf_counter() - started
    return report
