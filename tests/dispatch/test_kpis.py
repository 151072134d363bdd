"""Response-ring KPIs on hand-computed cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, T0, area, incident_in, new_incident, scope_of
from fangkong.core.errors import InvalidInput
from fangkong.dispatch import kpis, service
from fangkong.dispatch.models import Incident, IncidentStatus, Source, UnitType

S = IncidentStatus


def _handled(
    db: Session,
    key: str,
    hour: int,
    dispatch_after: float,
    travel: float,
    grid: str = "T-D1-S1-B1-G1",
) -> Incident:
    start = T0 + timedelta(hours=hour)
    incident = new_incident(db, key, incident_in(grid), now=start)
    unit = service.create_unit(
        db, call_sign=f"U-{key}", unit_type=UnitType.CAR, home_area=area(db, "T"), actor=ACTOR
    )
    dispatched = start + timedelta(seconds=dispatch_after)
    service.dispatch(db, incident=incident, units=[unit], actor=ACTOR, now=dispatched)
    service.transition(
        db,
        incident=incident,
        to=S.ON_SCENE,
        actor=ACTOR,
        now=dispatched + timedelta(seconds=travel),
    )
    return incident


def test_percentile_is_nearest_rank() -> None:
    assert kpis.percentile([], 50) is None
    assert kpis.percentile([5.0], 90) == 5.0
    assert kpis.percentile([30.0, 120.0, 60.0], 50) == 60.0  # k = ceil(1.5) = 2
    assert kpis.percentile([30.0, 120.0, 60.0], 90) == 120.0  # k = ceil(2.7) = 3
    assert kpis.percentile([float(v) for v in range(1, 11)], 90) == 9.0  # k = 9
    with pytest.raises(InvalidInput):
        kpis.percentile([1.0], 0)


def test_incident_and_area_kpis(db: Session) -> None:
    a = _handled(db, "kpi-a", 0, 30, 50)
    _handled(db, "kpi-b", 1, 60, 170)
    _handled(db, "kpi-c", 2, 120, 400)
    d = new_incident(
        db, "kpi-d", incident_in(category="fire", subtype="building"), now=T0 + timedelta(hours=3)
    )
    service.transition(
        db, incident=d, to=S.CANCELLED, actor=ACTOR, now=T0 + timedelta(hours=3, seconds=20)
    )
    _handled(db, "kpi-e", 4, 10, 10, grid="T-D2-S1-B1-G1")  # outside the area asked for
    new_incident(db, "kpi-late", now=T0 + timedelta(days=2))  # outside the period

    times = kpis.incident_times(a)
    assert (times.call_to_dispatch_s, times.dispatch_to_arrival_s, times.call_to_arrival_s) == (
        30.0,
        50.0,
        80.0,
    )
    assert kpis.incident_times(d) == kpis.IncidentTimes(None, None, None)

    everything = scope_of(db, "T")
    result = kpis.area_kpis(
        db, scope=everything, area=area(db, "T-D1"), start=T0, end=T0 + timedelta(days=1)
    )
    assert result.incidents == 4
    assert result.by_category == {"criminal": 3, "fire": 1}
    # dispatch-to-arrival 50, 170, 400 s
    assert result.ring_share == pytest.approx({"1min": 1 / 3, "3min": 2 / 3, "5min": 2 / 3})
    assert result.call_to_dispatch == kpis.Summary(count=3, p50_s=60.0, p90_s=120.0)
    assert result.dispatch_to_arrival == kpis.Summary(count=3, p50_s=170.0, p90_s=400.0)
    assert result.call_to_arrival == kpis.Summary(count=3, p50_s=230.0, p90_s=520.0)

    by_call = kpis.area_kpis(
        db,
        scope=everything,
        area=area(db, "T-D1"),
        start=T0,
        end=T0 + timedelta(days=1),
        basis="call",
    )
    # call-to-arrival 80, 230, 520 s
    assert by_call.ring_share == pytest.approx({"1min": 0.0, "3min": 1 / 3, "5min": 2 / 3})

    whole = kpis.area_kpis(db, scope=everything, start=T0, end=T0 + timedelta(days=1))
    assert whole.incidents == 5 and whole.ring_share["1min"] == pytest.approx(2 / 4)
    # A station officer of another district sees none of it.
    other = kpis.area_kpis(db, scope=scope_of(db, "T-D2-S2"), start=T0, end=T0 + timedelta(days=1))
    assert other.incidents == 0 and other.ring_share == {"1min": None, "3min": None, "5min": None}
    with pytest.raises(InvalidInput, match="end"):
        kpis.area_kpis(db, scope=everything, start=T0, end=T0)


def test_simulated_incidents_are_left_out_unless_asked_for(db: Session) -> None:
    _handled(db, "kpi-real", 0, 30, 200)
    simulated = new_incident(
        db,
        "kpi-sim",
        replace(incident_in(), source=Source.SIMULATED),
        now=T0 + timedelta(hours=1),
    )
    unit = service.create_unit(
        db, call_sign="U-kpi-sim", unit_type=UnitType.CAR, home_area=area(db, "T"), actor=ACTOR
    )
    dispatched = T0 + timedelta(hours=1, seconds=20)
    service.dispatch(db, incident=simulated, units=[unit], actor=ACTOR, now=dispatched)
    service.transition(
        db, incident=simulated, to=S.ON_SCENE, actor=ACTOR, now=dispatched + timedelta(seconds=40)
    )
    window = {"scope": scope_of(db, "T"), "start": T0, "end": T0 + timedelta(days=1)}
    counted = kpis.area_kpis(db, **window)
    assert counted.incidents == 1 and counted.ring_share["1min"] == 0.0
    both = kpis.area_kpis(db, **window, simulated=True)
    assert both.incidents == 2 and both.ring_share["1min"] == 0.5


def test_ring_shares_over_time_by_day_and_by_week(db: Session) -> None:
    import itertools
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    _handled(db, "trend-a", 0, 30, 50)  # 22 Nov (16:00 in the zone): within 1 minute
    _handled(db, "trend-b", 1, 60, 170)  # the same day: within 3 minutes
    _handled(db, "trend-c", 24, 120, 400)  # 23 Nov: past 5 minutes
    new_incident(db, "trend-d", incident_in(), now=T0 + timedelta(hours=48))  # 24 Nov: no unit
    scope = scope_of(db, "T")
    start = datetime(2026, 11, 22, tzinfo=zone)
    days = kpis.ring_shares_over_time(
        db, scope=scope, start=start, end=start + timedelta(days=4), zone=zone
    )
    assert [d.start for d in days] == [date(2026, 11, 22) + timedelta(days=i) for i in range(4)]
    assert [(d.incidents, d.responses) for d in days] == [(2, 2), (1, 1), (1, 0), (0, 0)]
    assert days[0].ring_share == {"1min": 0.5, "3min": 1.0, "5min": 1.0}
    assert days[1].ring_share == {"1min": 0.0, "3min": 0.0, "5min": 0.0}
    assert days[2].ring_share == days[3].ring_share == {"1min": None, "3min": None, "5min": None}
    # By call: the call-to-arrival times (30 + 50 s is still within the minute).
    calls = kpis.ring_shares_over_time(
        db, scope=scope, start=start, end=start + timedelta(days=1), zone=zone, basis="call"
    )
    assert calls[0].ring_share == {"1min": 0.0, "3min": 0.5, "5min": 1.0}
    # Past two months, or when asked: by week, Monday first (22 Nov 2026 is a Sunday).
    weeks = kpis.ring_shares_over_time(
        db, scope=scope, start=start, end=start + timedelta(days=70), zone=zone
    )
    assert weeks[0].start == date(2026, 11, 16) and weeks[1].start == date(2026, 11, 23)
    assert [(w.incidents, w.responses) for w in weeks[:2]] == [(2, 2), (2, 1)]
    assert sum(w.incidents for w in weeks) == 4
    assert all((b.start - a.start).days == 7 for a, b in itertools.pairwise(weeks))
    with pytest.raises(InvalidInput):
        kpis.ring_shares_over_time(db, scope=scope, start=start, end=start, zone=zone)
