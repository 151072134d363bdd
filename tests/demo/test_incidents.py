"""The demo's generated incidents: the model's shape, determinism, places and lifecycles, on
the test county with the street grid as its road network."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from demo.demo_helpers import add_addresses, street_grid_network
from factories import EAST, NORTH, SOUTH, WEST
from fangkong.areas.models import Area
from fangkong.demo import incidents as gen
from fangkong.dispatch import taxonomy
from fangkong.dispatch.models import (
    Assignment,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Post,
    Unit,
)
from fangkong.network.service import Network

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return street_grid_network(tmp_path_factory.mktemp("demo-incidents-network"))


def _synthetic_places(n: int = 400, seed: int = 3) -> gen.Places:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(WEST + 0.002, EAST - 0.002, n)
    lat = rng.uniform(SOUTH + 0.002, NORTH - 0.002, n)
    return gen.places_from_rows(lon, lat, ["h"] * n, list(range(n)), ["/1/"] * n)


def test_rates_follow_the_weekly_rhythm() -> None:
    total = sum(gen.hour_of_week_rates(c) for c in gen.CATEGORY_SHARE)
    assert total.sum() == pytest.approx(7 * gen.DAILY_MEAN)
    # Friday and Saturday nights (21:00-24:00, and 00:00-03:00 after them) against weekday
    # mornings (Monday to Thursday, 06:00-09:00).
    nights = np.concatenate([total[4, 21:], total[5, 21:], total[5, :3], total[6, :3]])
    mornings = total[0:4, 6:9]
    assert nights.mean() > 1.3 * mornings.mean()
    # Traffic peaks at the rush hours of a weekday.
    traffic = gen.hour_of_week_rates("traffic")[1]
    assert {int(np.argmax(traffic[:12])), int(np.argmax(traffic[12:])) + 12} <= {7, 8, 17, 18}


def test_draws_are_deterministic_and_shaped() -> None:
    places = _synthetic_places()
    first = date(2025, 1, 6)  # a Monday: eight whole weeks
    one = gen.draw_days(np.random.default_rng(5), first=first, days=56, zone=ZONE, places=places)
    two = gen.draw_days(np.random.default_rng(5), first=first, days=56, zone=ZONE, places=places)
    other = gen.draw_days(np.random.default_rng(6), first=first, days=56, zone=ZONE, places=places)
    assert one == two and one != other
    assert 56 * gen.DAILY_MEAN * 0.85 < len(one) < 56 * gen.DAILY_MEAN * 1.15
    assert [d.received_at for d in one] == sorted(d.received_at for d in one)
    local = [d.received_at.astimezone(ZONE) for d in one]
    assert min(local).date() == first and max(local).date() == first + timedelta(days=55)
    night = sum(
        1
        for t in local
        if (t.weekday() in (4, 5) and t.hour >= 21) or (t.weekday() in (5, 6) and t.hour < 3)
    )
    morning = sum(1 for t in local if t.weekday() < 4 and 6 <= t.hour < 9)
    # Per hour: 12 night hours a week against 12 morning hours a week.
    assert night > 1.2 * morning
    for d in one:
        assert d.subtype in taxonomy.TAXONOMY[d.category]
    shares = Counter(d.category for d in one)
    assert shares.most_common(1)[0][0] == "traffic"
    assert Counter(d.priority.value for d in one)["P1"] < 0.15 * len(one)
    # Hotspots draw more than their share of the uniform places.
    hot = set(places.hotspots.tolist())
    assert len(hot) == gen.HOTSPOTS and sum(d.place in hot for d in one) > len(one) * len(
        hot
    ) / len(places)


def test_history_on_the_test_county(db: Session, network: Network) -> None:
    add_addresses(db)
    report = gen.build_demo_incidents(
        db, network=network, zone=ZONE, today=date(2025, 6, 15), rng_seed=9, days=14
    )
    # 4 station precincts (a police post, two cars each) and 8 beat areas (a street post and
    # a car or a motorcycle each), foot patrols at the 8 busiest beat posts.
    assert report.posts == 12 and db.scalar(select(func.count(Post.id))) == 12
    assert report.units_by_type == {"car": 12, "motorcycle": 4, "foot": 8}
    assert report.first_day == "2025-06-01" and report.last_day == "2025-06-14"
    incidents = list(db.scalars(select(Incident).order_by(Incident.received_at)))
    assert len(incidents) == report.incidents > 14 * gen.DAILY_MEAN * 0.7
    county = db.scalars(select(Area).where(Area.code == "T")).one()
    units = {u.id: u for u in db.scalars(select(Unit))}
    for incident in incidents:
        assert incident.area_path is not None and incident.area_path.startswith(county.path)
        assert WEST <= incident.lon <= EAST and SOUTH <= incident.lat <= NORTH
        assert incident.caller_contact_encrypted is None and incident.description == ""
        local_day = incident.received_at.astimezone(ZONE).date()
        assert date(2025, 6, 1) <= local_day <= date(2025, 6, 14)
        if incident.status == IncidentStatus.CANCELLED:
            assert incident.dispatched_at is None and incident.cancelled_at is not None
            continue
        if incident.status == IncidentStatus.MERGED:
            # a second call about an open incident, merged into it
            first = db.get(Incident, incident.merged_into_id)
            assert first is not None and first.status == IncidentStatus.CLOSED
            assert (first.lon, first.lat, first.category) == (
                incident.lon,
                incident.lat,
                incident.category,
            )
            assert first.on_scene_at is not None and incident.cancelled_at is not None
            assert first.received_at < incident.received_at <= first.on_scene_at
            assert incident.received_at < incident.cancelled_at
            assert incident.dispatched_at is None
            continue
        assert incident.status == IncidentStatus.CLOSED
        stamps = [
            incident.received_at,
            incident.dispatched_at,
            incident.en_route_at,
            incident.on_scene_at,
            incident.cleared_at,
            incident.closed_at,
        ]
        assert all(s is not None for s in stamps)
        assert stamps == sorted(stamps)  # type: ignore[type-var]
    # Every dispatched incident has its units (P1: up to three) and its timeline.
    closed = [i for i in incidents if i.status == IncidentStatus.CLOSED]
    assignments = list(db.scalars(select(Assignment)))
    by_incident = Counter(a.incident_id for a in assignments)
    assert set(by_incident) == {i.id for i in closed}
    for a in assignments:
        assert a.unit_id in units and a.arrived_at is not None and a.released_at is not None
        assert a.dispatched_at <= a.arrived_at <= a.released_at
    p1 = [i for i in closed if i.priority.value == "P1"]
    assert p1 and max(by_incident[i.id] for i in p1) == 3
    events = Counter(db.scalars(select(IncidentEvent.incident_id)))
    assert all(events[i.id] == 6 for i in closed)
    merged = [i for i in incidents if i.status == IncidentStatus.MERGED]
    assert 0.5 * gen.DUPLICATE_SHARE < len(merged) / len(closed) < 2 * gen.DUPLICATE_SHARE
    assert all(events[i.id] == 2 for i in merged)
    # A unit is on one incident at a time (the simulation's busy times).
    spans: dict[int, list[tuple[datetime, datetime]]] = {}
    for a in assignments:
        assert a.released_at is not None
        spans.setdefault(a.unit_id, []).append((a.dispatched_at, a.released_at))
    for unit_spans in spans.values():
        ordered = sorted(unit_spans)
        assert all(b[0] >= a[1] for a, b in pairwise(ordered))
