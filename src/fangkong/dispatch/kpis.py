"""Response-ring KPIs: per incident, and per area and period.

Source of the rings: arrive within 1 / 3 / 5 minutes (post / beat / district), TARGETS.md
"Response and patrol" (Rugao 2021, Heping 2020, Shengzhou 2021).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Incident, Source
from fangkong.dispatch.recommend import RINGS_S

Basis = Literal["dispatch", "call"]
#: The incidents the KPIs count by default: all but the simulated ones (see :class:`AreaKpis`).
COUNTED = Incident.source != Source.SIMULATED


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


@dataclass(frozen=True)
class IncidentTimes:
    """The three response intervals of one incident, in seconds (None until both ends exist).

    - call-to-dispatch = ``dispatched_at − received_at`` (intake and assignment);
    - dispatch-to-arrival = ``on_scene_at − dispatched_at`` (travel of the first unit);
    - call-to-arrival = ``on_scene_at − received_at`` (what the caller waits).
    """

    call_to_dispatch_s: float | None
    dispatch_to_arrival_s: float | None
    call_to_arrival_s: float | None


class Stamped(Protocol):
    """What the response intervals are worked out from (an incident, stored or just made)."""

    @property
    def received_at(self) -> datetime: ...
    @property
    def dispatched_at(self) -> datetime | None: ...
    @property
    def on_scene_at(self) -> datetime | None: ...


def incident_times(incident: Stamped) -> IncidentTimes:
    """The response intervals of ``incident`` from its server-stamped transitions."""
    return IncidentTimes(
        call_to_dispatch_s=_seconds(incident.received_at, incident.dispatched_at),
        dispatch_to_arrival_s=_seconds(incident.dispatched_at, incident.on_scene_at),
        call_to_arrival_s=_seconds(incident.received_at, incident.on_scene_at),
    )


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile.

    Parameters
    ----------
    values : sequence of float
    p : float
        Percent in (0, 100].

    Returns
    -------
    float or None
        ``x₍ₖ₎``, the k-th smallest value with ``k = ⌈p/100 · n⌉``: the smallest value such
        that at least p % of the values are at most it; None for no values.
        O(n log n).
    """
    if not 0 < p <= 100:
        raise InvalidInput(key="error.dispatch.percentile", field="p")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class Summary:
    """p50 and p90 (nearest rank, seconds) of one interval over the incidents that have it."""

    count: int
    p50_s: float | None
    p90_s: float | None


def summarise(values: Sequence[float]) -> Summary:
    """Count, p50 and p90 (nearest rank, :func:`percentile`) of ``values`` in seconds."""
    return Summary(count=len(values), p50_s=percentile(values, 50), p90_s=percentile(values, 90))


def ring_shares(values: Sequence[float]) -> dict[str, float | None]:
    """Share of the response times (s) within each ring: ``{"1min": …, "3min": …, "5min": …}``.

    ``share[r]`` = #(v ≤ r) ÷ #values for r = 60, 180, 300 s; None for no values. O(n).
    """
    return {
        name: sum(1 for v in values if v <= limit) / len(values) if values else None
        for limit, name in RINGS_S
    }


@dataclass(frozen=True)
class AreaKpis:
    """Response-ring KPIs of the incidents received in ``[start, end)`` in an area.

    ``ring_share[r]`` = (incidents with a response time ≤ r) ÷ (incidents with a response
    time), for r = 60 s (``1min``), 180 s (``3min``), 300 s (``5min``); None when no incident
    has one. The response time is dispatch-to-arrival (``basis="dispatch"``, the travel the
    rings describe) or call-to-arrival (``basis="call"``). Merged incidents are counted in
    ``by_category`` but their times are those of the incident they were merged into, so
    they are left out of the intervals; cancelled ones have no arrival. Simulated incidents
    (source ``simulated``: the demo's live feed, drills) are left out unless asked for: their
    times come from a model, and counted as responses they would move the shares (twenty
    minutes of the demo's live feed once took the 1-minute share from 2.3 % to 8.7 %).
    """

    incidents: int
    basis: Basis
    ring_share: dict[str, float | None]
    call_to_dispatch: Summary
    dispatch_to_arrival: Summary
    call_to_arrival: Summary
    by_category: dict[str, int] = field(default_factory=dict)


def area_kpis(
    session: Session,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    area: Area | None = None,
    basis: Basis = "dispatch",
    simulated: bool = False,
) -> AreaKpis:
    """Response-ring KPIs of the incidents received in ``[start, end)`` in ``area``'s subtree
    (the whole ``scope`` when None); see :class:`AreaKpis` for the formulas. ``simulated``
    counts the simulated incidents too (:data:`COUNTED` otherwise).

    Notes
    -----
    One scan of the matching incidents: O(n log n) for the percentiles. Nothing personal is
    read.
    """
    if end <= start:
        raise InvalidInput(key="error.period.end_after_start", field="end")
    query = select(
        Incident.category,
        Incident.status,
        Incident.received_at,
        Incident.dispatched_at,
        Incident.on_scene_at,
    ).where(
        scope.clause(Incident.area_path), Incident.received_at >= start, Incident.received_at < end
    )
    if area is not None:
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    if not simulated:
        query = query.where(COUNTED)
    categories: Counter[str] = Counter()
    c2d: list[float] = []
    d2a: list[float] = []
    c2a: list[float] = []
    n = 0
    for category, status, received, dispatched, on_scene in session.execute(query):
        n += 1
        categories[category] += 1
        if status == "merged":
            continue
        for values, a, b in (
            (c2d, received, dispatched),
            (d2a, dispatched, on_scene),
            (c2a, received, on_scene),
        ):
            seconds = _seconds(a, b)
            if seconds is not None:
                values.append(seconds)
    response = d2a if basis == "dispatch" else c2a
    return AreaKpis(
        incidents=n,
        basis=basis,
        ring_share=ring_shares(response),
        call_to_dispatch=summarise(c2d),
        dispatch_to_arrival=summarise(d2a),
        call_to_arrival=summarise(c2a),
        by_category=dict(sorted(categories.items())),
    )


#: The longest period shown day by day; longer ones go by week (Monday to Sunday).
DAILY_MAX_DAYS = 62


@dataclass(frozen=True)
class PeriodShares:
    """The ring shares of the incidents received in one day or week (``start``: its first day,
    in the county's zone): ``incidents`` received, ``responses`` with a response time, and
    ``ring_share`` as :class:`AreaKpis` defines it (None when none has a response time)."""

    start: date
    incidents: int
    responses: int
    ring_share: dict[str, float | None]


def ring_shares_over_time(
    session: Session,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    area: Area | None = None,
    basis: Basis = "dispatch",
    simulated: bool = False,
    by: Literal["day", "week"] | None = None,
) -> list[PeriodShares]:
    """Ring shares of the incidents received in ``[start, end)`` per day (``by="day"``, the
    default up to :data:`DAILY_MAX_DAYS` days) or per week (Monday first, beyond), every
    period of the span listed, those without incidents too; formulas, basis and the
    incidents counted as :func:`area_kpis`.

    Notes
    -----
    One scan of the matching incidents, each placed by its received day in ``zone``: O(n + p)
    for p periods. Nothing personal is read.
    """
    if end <= start:
        raise InvalidInput(key="error.period.end_after_start", field="end")
    first, last = (
        start.astimezone(zone).date(),
        (end - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    weekly = by == "week" or (by is None and (last - first).days + 1 > DAILY_MAX_DAYS)

    def period(day: date) -> date:
        return day - timedelta(days=day.weekday()) if weekly else day

    starts: list[date] = []
    day = period(first)
    while day <= last:
        starts.append(day)
        day += timedelta(days=7 if weekly else 1)
    query = select(
        Incident.status, Incident.received_at, Incident.dispatched_at, Incident.on_scene_at
    ).where(
        scope.clause(Incident.area_path), Incident.received_at >= start, Incident.received_at < end
    )
    if area is not None:
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    if not simulated:
        query = query.where(COUNTED)
    counts: Counter[date] = Counter()
    times: dict[date, list[float]] = {s: [] for s in starts}
    for status, received, dispatched, on_scene in session.execute(query):
        key = period(received.astimezone(zone).date())
        counts[key] += 1
        if status == "merged":
            continue
        seconds = _seconds(dispatched if basis == "dispatch" else received, on_scene)
        if seconds is not None:
            times.setdefault(key, []).append(seconds)
    return [
        PeriodShares(
            start=s, incidents=counts[s], responses=len(times[s]), ring_share=ring_shares(times[s])
        )
        for s in starts
    ]
