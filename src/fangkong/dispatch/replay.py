"""Replay a recorded day of incidents against today's units, and compare the response rings.

The question a planner asks: *with the units we have now, based where they are now, how would
that day have gone?* Each incident of the day is dispatched again, in the order it was
received, to the nearest simulated unit that is free by road time; the day's response-ring KPIs
of the replay are reported beside the recorded ones (the same formulas: :mod:`.kpis`).

The model (see ``docs/replay.md``)
----------------------------------
- **Units**: the units of the user's scope that are not out of service and travel by road
  (:data:`.recommend.TRAVEL`: boats are left out). A unit starts at its home post, or at its
  latest position when it has no post (units with neither are left out).
  Between incidents a unit waits at that origin: it is busy from its dispatch until it has
  driven back there.
- **Incidents**: those received on the day (00:00 to 24:00 in the county's zone), in the area's
  subtree when an area is given; merged incidents (handled under another) and incidents
  cancelled before any dispatch are left out.
- **Dispatch**: at ``received + call-to-dispatch`` (the recorded delay, else
  :data:`DEFAULT_CALL_TO_DISPATCH_S`), the free units are ranked by road time to the scene
  (the engine's travel times, as :mod:`.recommend` ranks them); the nearest one goes, and a P1
  incident takes :data:`~.recommend.P1_UNITS` units (two reinforcements) when that many are
  free. When every unit that can reach the scene is busy, the incident waits for the first one
  to come free (at most :data:`MAX_WAIT_S`), then the free units are ranked again.
- **Arrival** = dispatch + the first unit's road time (+ an optional fixed turn-out time,
  ``turnout_s``, 0 by default). The scene is cleared after the recorded
  on-scene duration (``cleared_at − on_scene_at``, else :data:`DEFAULT_ON_SCENE_S`); each unit
  is then released (a reinforcement arriving later is released on arrival) and drives back
  to its origin, busy until it is there.
- **No unit**: an incident no unit can reach by road (or that would wait longer than
  :data:`MAX_WAIT_S`) is counted, with its id, under ``no_unit``.

Road times are the recommendation's: a vehicle's come from the network's (emergency) speed
profile, a foot patrol's from walking the same roads. Traffic is not modelled (nor turn-out
time unless given).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import audit, auth
from fangkong.core.audit import Actor
from fangkong.core.bounds import FIRST_DAY, LAST_DAY
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.dispatch import kpis, service
from fangkong.dispatch import permissions as perms
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Post,
    Priority,
    ReplayRun,
    Unit,
    UnitStatus,
)
from fangkong.dispatch.recommend import P1_UNITS, TRAVEL, TRAVELS, Travel, travel_engine
from fangkong.network.engine import EdgePoints
from fangkong.network.service import Network

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Call-to-dispatch delay (s) used for an incident that has no recorded dispatch time: the
#: median intake-to-assignment time the demo model draws (docs/demo-incidents.md).
DEFAULT_CALL_TO_DISPATCH_S = 90.0
#: On-scene duration (s) for an incident with no recorded arrival and clearance.
DEFAULT_ON_SCENE_S = 1800.0
#: The longest an incident waits for a busy unit before it counts as having none (s).
MAX_WAIT_S = 3600.0
#: Road times above this are treated as unreachable (s): no county drive takes two hours.
MAX_TRAVEL_S = 7200.0
#: The largest turn-out time (dispatch to rolling, s) a replay accepts.
MAX_TURNOUT_S = 600.0
#: How many of a user's runs the list returns at most.
MAX_RUNS = 200

Progress = Callable[[int, int], None]


# --- the simulation (plain arrays; also drives the demo's recorded history) -------------------


@dataclass(frozen=True)
class Simulation:
    """What :func:`simulate` decided, per incident (in the input order).

    ``dispatch_s[i]`` is the simulated dispatch time (same clock as ``received_s``; NaN when
    no unit went), ``travel_s[i]`` the first unit's road time (NaN when none), ``units[i]``
    the indices of the units sent (nearest first) and ``unit_travel_s[i]`` their road times.
    """

    dispatch_s: FloatArray
    travel_s: FloatArray
    units: list[list[int]]
    unit_travel_s: list[list[float]]

    @property
    def no_unit(self) -> NDArray[np.bool_]:
        return np.isnan(self.travel_s)


def simulate(
    *,
    received_s: Sequence[float] | FloatArray,
    delay_s: Sequence[float] | FloatArray,
    on_scene_s: Sequence[float] | FloatArray,
    wanted: Sequence[int] | IntArray,
    out_s: FloatArray,
    unit_origin: Sequence[int] | IntArray,
    back_s: FloatArray | None = None,
    max_wait_s: float = MAX_WAIT_S,
    progress: Progress | None = None,
) -> Simulation:
    """Dispatch incidents in received order to the nearest free unit by road time.

    Parameters
    ----------
    received_s, delay_s, on_scene_s : array of float, shape (n,)
        Receipt time (s, any fixed clock), call-to-dispatch delay (s) and on-scene duration (s)
        of each incident.
    wanted : array of int, shape (n,)
        Units each incident takes (1, or :data:`~.recommend.P1_UNITS` for P1).
    out_s : array of float, shape (o, n)
        Road time (s) from each unit origin to each incident; ``inf`` where unreachable.
    unit_origin : array of int, shape (u,)
        The origin (row of ``out_s``) of each unit: where it starts and returns to.
    back_s : array of float, shape (n, o), optional
        Road time back from each incident to each origin; default ``out_s.T`` (roads taken
        as two-way).
    max_wait_s : float
        The longest an incident waits for a busy unit before it counts as having none.
    progress : callable, optional
        Called as ``progress(done, n)`` after each incident.

    Returns
    -------
    Simulation

    Notes
    -----
    Greedy and exact for the model of the module docstring: O(n · u log u) after the road
    times (which the caller computes once per origin and incident, see :func:`road_times`).
    Ties in road time go to the lower unit index (deterministic).
    """
    received = np.asarray(received_s, dtype=np.float64)
    delay = np.asarray(delay_s, dtype=np.float64)
    on_scene = np.asarray(on_scene_s, dtype=np.float64)
    want = np.asarray(wanted, dtype=np.int64)
    origin = np.asarray(unit_origin, dtype=np.int64)
    n = received.shape[0]
    back = out_s.T if back_s is None else back_s
    busy_until = np.full(origin.shape[0], -np.inf)
    dispatch = np.full(n, np.nan)
    travel = np.full(n, np.nan)
    units: list[list[int]] = [[] for _ in range(n)]
    unit_travel: list[list[float]] = [[] for _ in range(n)]
    for done, i in enumerate(np.argsort(received, kind="stable").tolist(), start=1):
        times = out_s[origin, i] if origin.size else np.zeros(0)
        reachable = np.isfinite(times) & (times <= MAX_TRAVEL_S)
        if reachable.any():
            t = received[i] + delay[i]
            free = reachable & (busy_until <= t)
            if not free.any():
                # Everyone who could go is busy: the call waits for the first to come free.
                t = float(busy_until[reachable].min())
                free = reachable & (busy_until <= t)
            if t - (received[i] + delay[i]) <= max_wait_s:
                candidates = np.flatnonzero(free)
                order = candidates[np.argsort(times[candidates], kind="stable")]
                chosen = order[: max(1, int(want[i]))]
                first = float(times[chosen[0]])
                cleared = t + first + on_scene[i]
                for u in chosen.tolist():
                    released = max(cleared, t + float(times[u]))
                    home = float(back[i, origin[u]])
                    busy_until[u] = released + (home if math.isfinite(home) else float(times[u]))
                dispatch[i], travel[i] = t, first
                units[i] = chosen.tolist()
                unit_travel[i] = [float(times[u]) for u in chosen.tolist()]
        if progress is not None:
            progress(done, n)
    return Simulation(dispatch_s=dispatch, travel_s=travel, units=units, unit_travel_s=unit_travel)


def road_times(
    network: Network,
    *,
    origins: tuple[FloatArray, FloatArray],
    targets: tuple[FloatArray, FloatArray],
    both_ways: bool = True,
    travel: Sequence[Travel] | None = None,
) -> tuple[FloatArray, FloatArray | None]:
    """Road times (s) from each origin to each target, and back when ``both_ways``.

    Points (lon, lat arrays) are snapped to the roads; a point too far from every road is
    unreachable (``inf``). ``travel[i]`` is how origin i travels (default: every origin
    drives; see :data:`.recommend.TRAVEL`). Returns ``(out, back)`` of shapes (o, t) and
    (t, o).

    Notes
    -----
    One many-to-many query per way of travel (and one back), cut at :data:`MAX_TRAVEL_S`.
    """

    def points(lon: FloatArray, lat: FloatArray) -> EdgePoints:
        snapped = network.snapper.snap(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        edge = np.where(snapped.too_far, -1, snapped.points.edge)
        return EdgePoints(edge, snapped.points.fraction)

    src, tgt = points(*origins), points(*targets)
    out = np.full((len(src), len(tgt)), np.inf)
    back = np.full((len(tgt), len(src)), np.inf) if both_ways else None
    if len(src) == 0 or len(tgt) == 0:
        return out, back
    ways = np.array(["drive"] * len(src) if travel is None else list(travel))
    for way in TRAVELS:
        rows = np.flatnonzero(ways == way)
        if rows.shape[0] == 0:
            continue
        engine, starts = travel_engine(network, way, src[rows])
        _, ends = travel_engine(network, way, tgt)
        out[rows] = engine.many_to_many(starts, ends, cutoff_s=MAX_TRAVEL_S).to_dense()
        if back is not None:
            back[:, rows] = engine.many_to_many(ends, starts, cutoff_s=MAX_TRAVEL_S).to_dense()
    return out, back


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """The day's response-ring KPIs, recorded or replayed (formulas: :mod:`.kpis`).

    ``ring_share`` is on the dispatch-to-arrival basis (the travel the rings describe),
    ``ring_share_call`` on call-to-arrival.
    """

    incidents: int
    ring_share: dict[str, float | None]
    ring_share_call: dict[str, float | None]
    call_to_dispatch: kpis.Summary
    dispatch_to_arrival: kpis.Summary
    call_to_arrival: kpis.Summary
    by_category: dict[str, int]


@dataclass(frozen=True)
class ReplayRow:
    """One incident, recorded and replayed (seconds; None where there is none)."""

    incident_id: int
    category: str
    priority: str
    received_at: str
    recorded_dispatch_to_arrival_s: float | None
    replay_dispatch_to_arrival_s: float | None
    replay_call_to_arrival_s: float | None
    waited_s: float
    units: list[str]


@dataclass(frozen=True)
class ReplayReport:
    """The replay of one day: both sides, what was left out and each incident's outcome."""

    day: str
    timezone: str
    area_code: str | None
    area_path: str
    units: int
    units_without_position: int
    replayed: int
    left_out_merged: int
    left_out_cancelled: int
    waited: int
    no_unit: list[int]
    recorded: Side
    replay: Side
    defaults: dict[str, float]
    rows: list[ReplayRow] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


def report_of(run: ReplayRun) -> dict[str, Any]:
    """The stored report of ``run`` as a dict (the shape of :class:`ReplayReport`)."""
    data = json.loads(run.result)
    assert isinstance(data, dict)
    return data


# --- the service ------------------------------------------------------------------------------


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` as a date; a clear error naming the field otherwise."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            key="error.dispatch.replay_day_format", params={"day": text}, field="day"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(
            key="error.bounds.years",
            params={"first": FIRST_DAY.year, "last": LAST_DAY.year},
            field="day",
        )
    return day


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """00:00 of ``day`` and of the next day in ``zone`` (aware datetimes)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


def _run_path(scope: Scope, area: Area | None, incident_paths: Sequence[str] = ()) -> str:
    """Where a run is filed: the area; else the deepest area holding every replayed incident
    (so that a whole-county run from the CLI is seen by the county's users); else the deepest
    path common to the user's areas."""
    if area is not None:
        return area.path
    paths = list(incident_paths) or list(scope.paths)
    if len(paths) == 1:
        return paths[0]
    parts = [p.strip("/").split("/") for p in paths]
    common: list[str] = []
    for segment in zip(*parts, strict=False):
        if len(set(segment)) != 1:
            break
        common.append(segment[0])
    return "/" + "".join(f"{s}/" for s in common)


def _origins(
    session: Session, units: list[Unit]
) -> tuple[list[Unit], list[tuple[float, float]], int]:
    """Units that have a position to start from, and that position (home post, else latest)."""
    post_ids = {u.home_post_id for u in units if u.home_post_id is not None}
    posts: dict[int, tuple[float, float]] = {}
    if post_ids:
        posts = {
            int(i): (float(x), float(y))
            for i, x, y in session.execute(
                select(Post.id, Post.lon, Post.lat).where(Post.id.in_(post_ids))
            )
        }
    kept: list[Unit] = []
    where: list[tuple[float, float]] = []
    for unit in units:
        if unit.home_post_id is not None and unit.home_post_id in posts:
            kept.append(unit)
            where.append(posts[unit.home_post_id])
        elif unit.lon is not None and unit.lat is not None:
            kept.append(unit)
            where.append((unit.lon, unit.lat))
    return kept, where, len(units) - len(kept)


def _recorded(
    session: Session, *, scope: Scope, start: datetime, end: datetime, area: Area | None
) -> Side:
    by_dispatch = kpis.area_kpis(
        session, scope=scope, start=start, end=end, area=area, basis="dispatch"
    )
    by_call = kpis.area_kpis(session, scope=scope, start=start, end=end, area=area, basis="call")
    return Side(
        incidents=by_dispatch.incidents,
        ring_share=by_dispatch.ring_share,
        ring_share_call=by_call.ring_share,
        call_to_dispatch=by_dispatch.call_to_dispatch,
        dispatch_to_arrival=by_dispatch.dispatch_to_arrival,
        call_to_arrival=by_dispatch.call_to_arrival,
        by_category=by_dispatch.by_category,
    )


def replay_day(
    session: Session,
    *,
    network: Network,
    day: date,
    zone: ZoneInfo,
    scope: Scope,
    actor: Actor,
    area: Area | None = None,
    user: User | None = None,
    progress: Progress | None = None,
    turnout_s: float = 0.0,
) -> ReplayRun:
    """Replay the incidents received on ``day`` (in ``area``'s subtree, else the whole
    ``scope``) against the current units of ``scope`` and store the report as a
    :class:`~.models.ReplayRun`; see the module docstring for the model. ``turnout_s``
    (0 to :data:`MAX_TURNOUT_S`; default 0: arrival = dispatch + road time) adds a fixed time
    from dispatch to rolling to every drive out, for a comparison with recorded times that
    include it.

    Raises
    ------
    NotFound
        When no incident was received that day in the area (nothing to replay).
    """
    if user is not None:
        auth.require(user, perms.ACT)
    if not 0.0 <= turnout_s <= MAX_TURNOUT_S:
        raise InvalidInput(
            key="error.dispatch.turnout", params={"max": MAX_TURNOUT_S}, field="turnout_s"
        )
    if area is not None and not scope.covers(area.path):
        raise NotFound(
            key="error.areas.area_not_found", params={"code": area.code}, field="area_code"
        )
    start, end = day_bounds(day, zone)
    query = select(Incident).where(
        scope.clause(Incident.area_path),
        Incident.received_at >= start,
        Incident.received_at < end,
        kpis.COUNTED,  # as the recorded KPIs count them
        Incident.status != IncidentStatus.MERGED,
        or_(
            Incident.status != IncidentStatus.CANCELLED,
            and_(Incident.status == IncidentStatus.CANCELLED, Incident.dispatched_at.is_not(None)),
        ),
    )
    if area is not None:
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    incidents = list(session.scalars(query.order_by(Incident.received_at, Incident.id)))
    recorded = _recorded(session, scope=scope, start=start, end=end, area=area)
    if recorded.incidents == 0 and area is not None:
        raise NotFound(
            key="error.dispatch.replay_no_incidents_in",
            params={"day": day.isoformat(), "area": area.code, "zone": zone.key},
            field="day",
        )
    if recorded.incidents == 0:
        raise NotFound(
            key="error.dispatch.replay_no_incidents",
            params={"day": day.isoformat(), "zone": zone.key},
            field="day",
        )
    units = [
        u
        for u in service.get_units(session, scope=scope)
        if u.status != UnitStatus.OUT_OF_SERVICE and TRAVEL[u.unit_type] is not None
    ]
    kept, where, without = _origins(session, units)
    # Distinct origins: units of one post that travel alike share one search.
    origin_keys: dict[tuple[float, float, Travel], int] = {}
    unit_origin = [
        origin_keys.setdefault((p[0], p[1], TRAVEL[u.unit_type] or "drive"), len(origin_keys))
        for u, p in zip(kept, where, strict=True)
    ]
    origin_lon = np.array([p[0] for p in origin_keys], dtype=np.float64)
    origin_lat = np.array([p[1] for p in origin_keys], dtype=np.float64)
    out, back = road_times(
        network,
        origins=(origin_lon, origin_lat),
        targets=(
            np.array([i.lon for i in incidents], dtype=np.float64),
            np.array([i.lat for i in incidents], dtype=np.float64),
        ),
        travel=[p[2] for p in origin_keys],
    )
    out = out + turnout_s
    base = start.timestamp()
    received = [i.received_at.timestamp() - base for i in incidents]
    delay = [
        _seconds(i.received_at, i.dispatched_at, DEFAULT_CALL_TO_DISPATCH_S) for i in incidents
    ]
    on_scene = [_seconds(i.on_scene_at, i.cleared_at, DEFAULT_ON_SCENE_S) for i in incidents]
    wanted = [P1_UNITS if i.priority == Priority.P1 else 1 for i in incidents]
    sim = simulate(
        received_s=received,
        delay_s=delay,
        on_scene_s=on_scene,
        wanted=wanted,
        out_s=out,
        back_s=back,
        unit_origin=unit_origin,
        progress=progress,
    )
    rows: list[ReplayRow] = []
    c2d: list[float] = []
    d2a: list[float] = []
    c2a: list[float] = []
    categories: Counter[str] = Counter()
    no_unit: list[int] = []
    waited = 0
    for k, incident in enumerate(incidents):
        categories[incident.category] += 1
        recorded_d2a = kpis.incident_times(incident).dispatch_to_arrival_s
        if sim.no_unit[k]:
            no_unit.append(incident.id)
            rows.append(
                ReplayRow(
                    incident.id,
                    incident.category,
                    incident.priority.value,
                    incident.received_at.isoformat(),
                    recorded_d2a,
                    None,
                    None,
                    0.0,
                    [],
                )
            )
            continue
        dispatch_delay = float(sim.dispatch_s[k]) - received[k]
        wait = dispatch_delay - delay[k]
        # Float noise of the clock arithmetic is no wait: count waits of a second or more.
        waited += wait >= 1.0
        travel = float(sim.travel_s[k])
        c2d.append(dispatch_delay)
        d2a.append(travel)
        c2a.append(dispatch_delay + travel)
        rows.append(
            ReplayRow(
                incident.id,
                incident.category,
                incident.priority.value,
                incident.received_at.isoformat(),
                recorded_d2a,
                round(travel, 1),
                round(dispatch_delay + travel, 1),
                round(max(wait, 0.0), 1),
                [kept[u].call_sign for u in sim.units[k]],
            )
        )
    replayed = Side(
        incidents=len(incidents),
        ring_share=kpis.ring_shares(d2a),
        ring_share_call=kpis.ring_shares(c2a),
        call_to_dispatch=kpis.summarise(c2d),
        dispatch_to_arrival=kpis.summarise(d2a),
        call_to_arrival=kpis.summarise(c2a),
        by_category=dict(sorted(categories.items())),
    )
    left_out = session.execute(
        select(Incident.status, Incident.dispatched_at).where(
            scope.clause(Incident.area_path),
            Incident.received_at >= start,
            Incident.received_at < end,
            kpis.COUNTED,
            Incident.status.in_([IncidentStatus.MERGED, IncidentStatus.CANCELLED]),
            *([Incident.area_path.startswith(area.path, autoescape=True)] if area else []),
        )
    ).all()
    path = _run_path(scope, area, sorted({i.area_path for i in incidents if i.area_path}))
    report = ReplayReport(
        day=day.isoformat(),
        timezone=zone.key,
        area_code=area.code if area else None,
        area_path=path,
        units=len(kept),
        units_without_position=without,
        replayed=len(incidents),
        left_out_merged=sum(1 for s, _ in left_out if s == IncidentStatus.MERGED),
        left_out_cancelled=sum(
            1 for s, d in left_out if s == IncidentStatus.CANCELLED and d is None
        ),
        waited=waited,
        no_unit=no_unit,
        recorded=recorded,
        replay=replayed,
        defaults={
            "call_to_dispatch_s": DEFAULT_CALL_TO_DISPATCH_S,
            "on_scene_s": DEFAULT_ON_SCENE_S,
            "max_wait_s": MAX_WAIT_S,
            "turnout_s": turnout_s,
        },
        rows=rows,
    )
    run = ReplayRun(
        day=day.isoformat(), area_path=path, created_by_id=actor.user_id, result=report.to_json()
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="replay",
        entity="dispatch_replay",
        entity_id=run.id,
        detail={
            "day": day.isoformat(),
            "area": area.code if area else None,
            "incidents": len(incidents),
        },
        area_path=path,
    )
    return run


def _seconds(start: datetime | None, end: datetime | None, default: float) -> float:
    if start is None or end is None:
        return default
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else default


def get_runs(session: Session, *, scope: Scope, limit: int = 50) -> list[ReplayRun]:
    """Replay runs filed under ``scope``, newest first."""
    limit = max(1, min(limit, MAX_RUNS))
    return list(
        session.scalars(
            select(ReplayRun)
            .where(scope.clause(ReplayRun.area_path))
            .order_by(ReplayRun.id.desc())
            .limit(limit)
        )
    )


def get_run_or_raise(session: Session, *, run_id: int, scope: Scope) -> ReplayRun:
    """One run; out of scope reads as not found."""
    run = session.scalars(
        select(ReplayRun).where(ReplayRun.id == run_id, scope.clause(ReplayRun.area_path))
    ).one_or_none()
    if run is None:
        raise NotFound(
            key="error.dispatch.replay_not_found", params={"replay_id": run_id}, field="replay_id"
        )
    return run


# --- presentation helpers (shared by the CLI, the API's clients and the console) --------------

#: The figures compared side by side: (catalogue key, kind, path into a :class:`Side`).
FIGURES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("dispatch.replay.incidents", "count", ("incidents",)),
    ("dispatch.replay.within_1min", "share", ("ring_share", "1min")),
    ("dispatch.replay.within_3min", "share", ("ring_share", "3min")),
    ("dispatch.replay.within_5min", "share", ("ring_share", "5min")),
    ("dispatch.replay.call_within_1min", "share", ("ring_share_call", "1min")),
    ("dispatch.replay.call_within_3min", "share", ("ring_share_call", "3min")),
    ("dispatch.replay.call_within_5min", "share", ("ring_share_call", "5min")),
    ("dispatch.replay.c2d_p50", "seconds", ("call_to_dispatch", "p50_s")),
    ("dispatch.replay.c2d_p90", "seconds", ("call_to_dispatch", "p90_s")),
    ("dispatch.replay.d2a_p50", "seconds", ("dispatch_to_arrival", "p50_s")),
    ("dispatch.replay.d2a_p90", "seconds", ("dispatch_to_arrival", "p90_s")),
    ("dispatch.replay.c2a_p50", "seconds", ("call_to_arrival", "p50_s")),
    ("dispatch.replay.c2a_p90", "seconds", ("call_to_arrival", "p90_s")),
)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def comparison(report: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """``(catalogue key, kind, recorded, replayed)`` per figure of a stored report; kinds are
    ``count``, ``share`` (0-1) and ``seconds``. Ends with the replay's waits and misses."""
    rows = [
        (key, kind, _dig(report["recorded"], path), _dig(report["replay"], path))
        for key, kind, path in FIGURES
    ]
    rows.append(("dispatch.replay.waited", "count", None, report.get("waited")))
    rows.append(("dispatch.replay.no_unit", "count", None, len(report.get("no_unit", []))))
    return rows


def by_category(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    """``(category, recorded, replayed)`` counts, in taxonomy order."""
    recorded = report["recorded"]["by_category"]
    replayed = report["replay"]["by_category"]
    names = sorted(set(recorded) | set(replayed))
    return [(c, int(recorded.get(c, 0)), int(replayed.get(c, 0))) for c in names]


def format_value(kind: str, value: Any) -> str:
    """A figure as shown: a share as ``62.5 %``, seconds as ``3:05``, ``–`` for none."""
    if value is None:
        return "–"
    if kind == "share":
        return f"{100.0 * float(value):.1f} %"
    if kind == "seconds":
        seconds = round(float(value))
        return f"{seconds // 60}:{seconds % 60:02d}"
    return str(value)


def summary_line(report: dict[str, Any], t: Callable[[str], str]) -> str:
    """The report's one-line summary in the language of ``t`` (a catalogue lookup)."""
    return t("dispatch.replay.summary").format(
        replayed=report["replayed"],
        units=report["units"],
        without=report["units_without_position"],
        merged=report["left_out_merged"],
        cancelled=report["left_out_cancelled"],
    )
