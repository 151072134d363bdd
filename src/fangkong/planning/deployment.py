"""Hour-of-week deployment (潮汐用警): expected incidents per station and hour of week with a
predictive interval, the units each hour needs to keep the share answered within 3 minutes at
a target (found by the dispatch replay's simulation), and the roster that follows, against
today's.

The demand model (documented in docs/planning-two.md, tested on held-back weeks):

- ``S[a, h]``: incidents of station a in hour of week h summed over W weeks of history;
  ``μ[a, d]``: the station's mean count in hour of day d (over the 7 days and W weeks).
- Gamma-Poisson with the hour-of-day profile as prior: the rate is Gamma(kμ, k) a priori
  (k pseudo-weeks, default 2), so the posterior mean is ``λ = (S + kμ) / (W + k)`` and one
  future week's count is negative binomial with ``n = S + kμ``, ``p = (W + k) / (W + k + 1)``;
  the interval is its 5 % and 95 % quantiles.

Units needed: for each station and distinct rate, a stationary stream of incidents at that
rate over ``hours`` simulated hours (places, priorities and on-scene times drawn from the
station's own history, seeded) is dispatched by :func:`fangkong.dispatch.replay.simulate` with
u units starting from the station's posts; the smallest u whose share of incidents reached
within 3 minutes of dispatch (waiting for a free unit included) is at the target is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
import shapely.geometry
from numpy.typing import NDArray
from scipy import stats
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Post,
    Priority,
    Unit,
    UnitStatus,
)
from fangkong.dispatch.recommend import P1_UNITS
from fangkong.dispatch.replay import road_times, simulate
from fangkong.network.service import Network
from fangkong.planning.analysis_models import RosterHour
from fangkong.planning.hotspots import HOURS_OF_WEEK

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

RING_S = 180.0
DEFAULT_TARGET = 0.8
PRIOR_WEEKS = 2.0
MAX_UNITS = 30
#: Hours of stationary stream simulated per rate.
SIM_HOURS = 60
#: Places of a station's history drawn from (the road-time matrix's columns).
MAX_PLACES = 400
DEFAULT_ON_SCENE_S = 1800.0
#: Where the target is out of reach: a share within this of the best any number of units gets.
SATURATION = 0.005


# --- the demand model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateModel:
    """Expected incidents per hour of week (rows: areas) and the 90 % predictive interval."""

    mean: FloatArray
    low: FloatArray
    high: FloatArray
    weeks: int
    prior_weeks: float


def hour_of_day_profile(counts: FloatArray) -> FloatArray:
    """Mean count per hour of day (the 7 days pooled), repeated over the week: (a, 168)."""
    per_day = counts.reshape(counts.shape[0], 7, 24).mean(axis=1)
    return np.tile(per_day, (1, 7))


def fit_rates(
    weekly: FloatArray, *, prior_weeks: float = PRIOR_WEEKS, level: float = 0.9
) -> RateModel:
    """The Gamma-Poisson rate per area and hour of week from ``weekly`` counts (a, w, 168).

    Returns the posterior mean rate (incidents per hour) and the ``level`` predictive interval
    of one future week's count (negative binomial). O(a · w · 168).
    """
    weekly = np.asarray(weekly, dtype=np.float64)
    if weekly.ndim != 3 or weekly.shape[2] != HOURS_OF_WEEK or weekly.shape[1] < 1:
        raise ValueError("weekly counts must be (areas, weeks >= 1, 168)")
    w = weekly.shape[1]
    total = weekly.sum(axis=1)
    mu = hour_of_day_profile(total / w)
    k = float(prior_weeks)
    shape = total + k * mu
    mean = shape / (w + k)
    p = (w + k) / (w + k + 1.0)
    tail = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        low = np.where(shape > 0, stats.nbinom.ppf(tail, shape, p), 0.0)
        high = np.where(shape > 0, stats.nbinom.ppf(1.0 - tail, shape, p), 0.0)
    return RateModel(mean, low.astype(np.float64), high.astype(np.float64), w, k)


def holdout_check(
    weekly: FloatArray, *, held: int = 2, prior_weeks: float = PRIOR_WEEKS
) -> dict[str, float]:
    """Fit on all but the last ``held`` weeks, score on them: the share of held-out counts in
    the 90 % interval, the mean absolute and squared errors of the rate against the counts,
    and the same errors of the plain weekly mean (no smoothing) for comparison."""
    weekly = np.asarray(weekly, dtype=np.float64)
    if weekly.shape[1] <= held:
        return {"weeks_fitted": 0, "weeks_held": 0}
    fit, test = weekly[:, :-held], weekly[:, -held:]
    model = fit_rates(fit, prior_weeks=prior_weeks)
    inside = (test >= model.low[:, None, :]) & (test <= model.high[:, None, :])
    naive = fit.mean(axis=1)
    return {
        "weeks_fitted": int(fit.shape[1]),
        "weeks_held": int(held),
        "coverage_90": round(float(inside.mean()), 4),
        "mae": round(float(np.abs(test - model.mean[:, None, :]).mean()), 4),
        "mae_unsmoothed": round(float(np.abs(test - naive[:, None, :]).mean()), 4),
        "mse": round(float(((test - model.mean[:, None, :]) ** 2).mean()), 4),
        "mse_unsmoothed": round(float(((test - naive[:, None, :]) ** 2).mean()), 4),
    }


# --- units needed by simulation -----------------------------------------------------------------


@dataclass(frozen=True)
class StationHistory:
    """What the simulation draws from for one station: road times from its posts to the places
    of its incidents (o, p), the priority weight (units wanted) and on-scene time per place."""

    out_s: FloatArray
    back_s: FloatArray
    wanted: IntArray
    on_scene_s: FloatArray


def ring_share(history: StationHistory, *, rate: float, units: int, hours: int, seed: int) -> float:
    """Share of a stationary stream at ``rate`` per hour reached within 3 minutes of dispatch
    (wait included) by ``units`` units starting round-robin from the station's posts."""
    if rate <= 0:
        return 1.0
    if units <= 0:
        return 0.0
    rng = np.random.default_rng(seed)
    n = int(rng.poisson(rate * hours))
    if n == 0:
        return 1.0
    places = rng.integers(0, history.out_s.shape[1], n)
    received = np.sort(rng.uniform(0.0, hours * 3600.0, n))
    origin = np.arange(units) % history.out_s.shape[0]
    sim = simulate(
        received_s=received,
        delay_s=np.zeros(n),
        on_scene_s=history.on_scene_s[places],
        wanted=history.wanted[places],
        out_s=history.out_s[:, places],
        unit_origin=origin,
        back_s=history.back_s[places, :],
    )
    response = (sim.dispatch_s - received) + sim.travel_s
    return float(np.mean(np.nan_to_num(response, nan=np.inf) <= RING_S))


def units_needed(
    history: StationHistory,
    *,
    rate: float,
    target: float,
    hours: int = SIM_HOURS,
    seed: int = 0,
    max_units: int = MAX_UNITS,
) -> tuple[int, float]:
    """The fewest units (1..max_units) whose simulated 3-minute share reaches ``target`` at
    ``rate`` per hour, and that share. Where no number of units reaches it (places more than
    3 minutes by road from every post), the fewest units reaching the best share that
    ``max_units`` give (within half a point): more units would not help. The same seed draws
    the same stream for every u (common random numbers), so the shares compare."""
    if rate <= 0:
        return 0, 1.0
    best = ring_share(history, rate=rate, units=max_units, hours=hours, seed=seed)
    goal = target if best >= target else best - SATURATION
    for u in range(1, max_units + 1):
        share = (
            best
            if u == max_units
            else ring_share(history, rate=rate, units=u, hours=hours, seed=seed)
        )
        if share >= goal:
            return u, share
    return max_units, best


# --- reading the history ------------------------------------------------------------------------


def stations_in(session: Session, *, scope: Scope, area: Area | None) -> list[Area]:
    """The stations in scope (and in ``area``'s subtree, or ``area`` itself)."""
    query = select(Area).where(Area.level == AreaLevel.STATION, scope.clause(Area.path))
    if area is not None:
        query = query.where(Area.path.startswith(area.path, autoescape=True))
    return list(session.scalars(query.order_by(Area.code)))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def weekly_counts(
    session: Session,
    *,
    scope: Scope,
    stations: Sequence[Area],
    start: datetime,
    weeks: int,
    zone: ZoneInfo,
) -> tuple[FloatArray, list[tuple[int, float, float, Priority, float]]]:
    """Counts (stations, weeks, 168) from ``start`` (a local Monday 00:00) and the incidents
    read (station index, lon, lat, priority, on-scene seconds)."""
    end = start + timedelta(weeks=weeks)
    rows = session.execute(
        select(
            Incident.lon,
            Incident.lat,
            Incident.received_at,
            Incident.priority,
            Incident.area_path,
            Incident.on_scene_at,
            Incident.cleared_at,
        ).where(
            scope.clause(Incident.area_path),
            Incident.received_at >= start,
            Incident.received_at < end,
            Incident.status != IncidentStatus.MERGED,
            or_(
                Incident.status != IncidentStatus.CANCELLED,
                and_(
                    Incident.status == IncidentStatus.CANCELLED,
                    Incident.dispatched_at.is_not(None),
                ),
            ),
        )
    ).all()
    counts = np.zeros((len(stations), weeks, HOURS_OF_WEEK))
    paths = [s.path for s in stations]
    read: list[tuple[int, float, float, Priority, float]] = []
    for lon, lat, received, priority, path, on_scene, cleared in rows:
        if path is None:
            continue
        index = next((i for i, p in enumerate(paths) if path.startswith(p)), -1)
        if index < 0:
            continue
        local = _aware(received).astimezone(zone)
        offset = local - start.astimezone(zone)
        week = int(offset.total_seconds() // (7 * 86400))
        if not 0 <= week < weeks:
            continue
        counts[index, week, local.weekday() * 24 + local.hour] += 1
        scene = (
            (_aware(cleared) - _aware(on_scene)).total_seconds()
            if on_scene is not None and cleared is not None
            else DEFAULT_ON_SCENE_S
        )
        read.append((index, float(lon), float(lat), Priority(priority), max(60.0, scene)))
    return counts, read


def week_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Local Monday 00:00 of the week holding ``moment``."""
    local = moment.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday


def today_roster(
    session: Session, *, stations: Sequence[Area]
) -> tuple[IntArray, dict[int, list[tuple[float, float]]]]:
    """Units per station and hour of week today (the adopted roster where one is stored, else
    the station's units in service every hour) and each station's post positions."""
    roster = np.zeros((len(stations), HOURS_OF_WEEK), dtype=np.int64)
    posts: dict[int, list[tuple[float, float]]] = {}
    for i, station in enumerate(stations):
        stored = session.execute(
            select(RosterHour.hour_of_week, RosterHour.units).where(
                RosterHour.area_id == station.id
            )
        ).all()
        count = len(
            session.scalars(
                select(Unit.id).where(
                    Unit.home_area_path.startswith(station.path, autoescape=True),
                    Unit.status != UnitStatus.OUT_OF_SERVICE,
                )
            ).all()
        )
        roster[i, :] = count
        for hour, n in stored:
            roster[i, int(hour)] = int(n)
        posts[i] = [
            (float(x), float(y))
            for x, y in session.execute(
                select(Post.lon, Post.lat).where(
                    Post.area_path.startswith(station.path, autoescape=True)
                )
            )
        ]
    return roster, posts


@dataclass(frozen=True)
class DeploymentSpec:
    weeks: int = 8
    end: datetime | None = None
    target: float = DEFAULT_TARGET
    prior_weeks: float = PRIOR_WEEKS
    held_weeks: int = 2
    sim_hours: int = SIM_HOURS
    seed: int = 21
    max_units: int = MAX_UNITS

    def check(self) -> None:
        if not 2 <= self.weeks <= 104:
            raise InvalidInput(
                key="error.planning.deployment_weeks", params={"value": self.weeks}, field="weeks"
            )
        if not 5 <= self.sim_hours <= 500:
            raise InvalidInput(
                key="error.planning.deployment_sim_hours",
                params={"value": self.sim_hours},
                field="sim_hours",
            )
        if not 0 < self.target < 1:
            raise InvalidInput(
                key="error.planning.deployment_target",
                params={"value": self.target},
                field="target",
            )


def analyse(
    session: Session,
    *,
    scope: Scope,
    spec: DeploymentSpec,
    zone: ZoneInfo,
    network: Network,
    now: datetime,
    area: Area | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """The hour-of-week deployment of the stations in scope (see the module docstring)."""
    spec.check()
    stations = stations_in(session, scope=scope, area=area)
    if not stations:
        raise InvalidInput(key="error.planning.deployment_no_station", field="area_code")
    end = week_start(spec.end or now, zone)
    start = end - timedelta(weeks=spec.weeks)
    counts, read = weekly_counts(
        session, scope=scope, stations=stations, start=start, weeks=spec.weeks, zone=zone
    )
    model = fit_rates(counts, prior_weeks=spec.prior_weeks)
    check = holdout_check(counts, held=min(spec.held_weeks, spec.weeks - 1))
    today, posts = today_roster(session, stations=stations)
    proposed = np.zeros_like(today)
    share_today = np.full((len(stations), HOURS_OF_WEEK), np.nan)
    share_proposed = np.full((len(stations), HOURS_OF_WEEK), np.nan)
    rng = np.random.default_rng(spec.seed)
    rows: list[dict[str, Any]] = []
    for i, station in enumerate(stations):
        mine = [r for r in read if r[0] == i]
        origins = posts.get(i) or []
        if not mine or not origins:
            rows.append(
                {
                    "code": station.code,
                    "name_zh": station.name_zh,
                    "name_en": station.name_en,
                    "skipped": "no_posts" if not origins else "no_incidents",
                }
            )
            continue
        pick = (
            rng.choice(len(mine), MAX_PLACES, replace=False)
            if len(mine) > MAX_PLACES
            else np.arange(len(mine))
        )
        places = [mine[int(j)] for j in pick]
        out, back = road_times(
            network,
            origins=(np.array([p[0] for p in origins]), np.array([p[1] for p in origins])),
            targets=(np.array([p[1] for p in places]), np.array([p[2] for p in places])),
        )
        assert back is not None
        history = StationHistory(
            out_s=out,
            back_s=back,
            wanted=np.array([P1_UNITS if p[3] == Priority.P1 else 1 for p in places]),
            on_scene_s=np.array([p[4] for p in places]),
        )
        cache: dict[tuple[float, int], float] = {}
        needed: dict[float, tuple[int, float]] = {}
        for h in range(HOURS_OF_WEEK):
            rate = round(float(model.mean[i, h]), 1)
            if rate not in needed:
                needed[rate] = units_needed(
                    history,
                    rate=rate,
                    target=spec.target,
                    hours=spec.sim_hours,
                    seed=spec.seed,
                    max_units=spec.max_units,
                )
            u, share = needed[rate]
            proposed[i, h] = u
            share_proposed[i, h] = share
            key = (rate, int(today[i, h]))
            if key not in cache:
                cache[key] = ring_share(
                    history, rate=rate, units=int(today[i, h]), hours=spec.sim_hours,
                    seed=spec.seed,
                )  # fmt: skip
            share_today[i, h] = cache[key]
        weights = model.mean[i]
        total = float(weights.sum()) or 1.0
        rows.append(
            {
                "code": station.code,
                "name_zh": station.name_zh,
                "name_en": station.name_en,
                "incidents": int(counts[i].sum()),
                "expected": [round(float(v), 3) for v in model.mean[i]],
                "low": [int(v) for v in model.low[i]],
                "high": [int(v) for v in model.high[i]],
                "today": [int(v) for v in today[i]],
                "proposed": [int(v) for v in proposed[i]],
                "share_today": [round(float(v), 4) for v in share_today[i]],
                "share_proposed": [round(float(v), 4) for v in share_proposed[i]],
                "unit_hours_today": int(today[i].sum()),
                "unit_hours_proposed": int(proposed[i].sum()),
                "ring_share_today": round(float((share_today[i] * weights).sum() / total), 4),
                "ring_share_proposed": round(float((share_proposed[i] * weights).sum() / total), 4),
            }
        )
        if progress is not None:
            progress((i + 1) / len(stations))
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "weeks": spec.weeks,
        "target": spec.target,
        "ring_s": RING_S,
        "prior_weeks": spec.prior_weeks,
        "sim_hours": spec.sim_hours,
        "seed": spec.seed,
        "holdout": check,
        "stations": rows,
        "geojson": stations_geojson(stations, rows),
        "tables": {"roster": roster_table(rows)},
    }


#: Tolerance of the precinct outlines in the GeoJSON (degrees, ~10 m).
OUTLINE_TOLERANCE_DEG = 1e-4


def stations_geojson(stations: Sequence[Area], rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The stations' precincts (outlines simplified to ~10 m) with their deployment: incidents,
    unit-hours a week today and proposed, the demand-weighted 3-minute shares, the busiest hour
    of week and its expected incidents and units (nothing about a person)."""
    by_code = {row["code"]: row for row in rows}
    features: list[dict[str, Any]] = []
    for station in stations:
        row = by_code.get(station.code)
        if row is None or "expected" not in row:
            continue
        shape = shapely.from_wkb(station.geometry_wkb).simplify(
            OUTLINE_TOLERANCE_DEG, preserve_topology=True
        )
        peak = int(np.argmax(row["expected"]))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "kind": "station",
                    "code": station.code,
                    "name_zh": station.name_zh,
                    "name_en": station.name_en,
                    "incidents": row["incidents"],
                    "unit_hours_today": row["unit_hours_today"],
                    "unit_hours_proposed": row["unit_hours_proposed"],
                    "ring_share_today": row["ring_share_today"],
                    "ring_share_proposed": row["ring_share_proposed"],
                    "peak_hour_of_week": peak,
                    "peak_expected": row["expected"][peak],
                    "peak_units_proposed": row["proposed"][peak],
                },
                "geometry": shapely.geometry.mapping(shape),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def roster_table(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row per station and hour of week: expected, interval, today, proposed, shares."""
    out: list[list[Any]] = []
    for row in rows:
        if "expected" not in row:
            continue
        for h in range(HOURS_OF_WEEK):
            out.append(
                [
                    row["code"], h, h // 24, h % 24, row["expected"][h], row["low"][h],
                    row["high"][h], row["today"][h], row["proposed"][h], row["share_today"][h],
                    row["share_proposed"][h],
                ]
            )  # fmt: skip
    return {
        "header": [
            "station", "hour_of_week", "weekday", "hour", "expected", "low_90", "high_90",
            "units_today", "units_proposed", "share_3min_today", "share_3min_proposed",
        ],
        "rows": out,
    }  # fmt: skip


def adopt(
    session: Session,
    *,
    result: dict[str, Any],
    scope: Scope,
    analysis_id: int,
    actor_id: int | None,
    now: datetime,
) -> int:
    """Store the proposed roster of every station of a deployment analysis (in scope) as the
    roster per hour of week; returns the stations adopted."""
    adopted = 0
    for row in result.get("stations", []):
        if "proposed" not in row:
            continue
        station = session.scalars(select(Area).where(Area.code == row["code"])).one_or_none()
        if station is None or not scope.covers(station.path):
            continue
        existing = {
            r.hour_of_week: r
            for r in session.scalars(select(RosterHour).where(RosterHour.area_id == station.id))
        }
        for hour, units in enumerate(row["proposed"]):
            record = existing.get(hour)
            if record is None:
                record = RosterHour(area_id=station.id, area_path=station.path, hour_of_week=hour)
                session.add(record)
            record.units = int(units)
            record.analysis_id = analysis_id
            record.updated_at = now
            record.updated_by_id = actor_id
        adopted += 1
    session.flush()
    return adopted
