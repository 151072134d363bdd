"""The demo's generated incidents: the model's shape, determinism, places, lifecycles, and the
live feed, on the test county with the street grid as its road network."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import EAST, NORTH, SOUTH, WEST, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.audit import SYSTEM
from fangkong.core.security import FieldCipher
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
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("demo-incidents-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def _synthetic_places(n: int = 400, seed: int = 3) -> gen.Places:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(WEST + 0.002, EAST - 0.002, n)
    lat = rng.uniform(SOUTH + 0.002, NORTH - 0.002, n)
    return gen.places_from_rows(lon, lat, ["h"] * n, list(range(n)), ["/1/"] * n)


def _addresses(db: Session, n: int = 300) -> None:
    """Standard addresses spread over the test county (denser in its south-west)."""
    rng = np.random.default_rng(11)
    lon = np.concatenate(
        [
            rng.uniform(WEST + 0.001, EAST - 0.001, n // 2),
            rng.uniform(WEST + 0.005, WEST + 0.03, n - n // 2),
        ]
    )
    lat = np.concatenate(
        [
            rng.uniform(SOUTH + 0.001, NORTH - 0.001, n // 2),
            rng.uniform(SOUTH + 0.005, SOUTH + 0.02, n - n // 2),
        ]
    )
    rows = [
        area_service.AddressRow(
            code=f"GA-{i:04d}",
            text_zh=f"测试路{i}号",
            text_en=f"Test Road {i}",
            lon=float(x),
            lat=float(y),
        )
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    area_service.import_addresses(db, rows=rows, actor=SYSTEM, source="generated")


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
    _addresses(db)
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


def test_live_feed_records_and_moves_incidents(
    db: Session, network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    _addresses(db, 60)
    gen.build_posts_and_units(
        db, network=network, places=gen.load_places(db), now=datetime(2025, 6, 1, tzinfo=UTC)
    )
    db.flush()
    factory = sessionmaker(
        bind=db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    feed = gen.LiveFeed(
        factory,
        network=lambda: network,
        cipher=FieldCipher("k" * 40),
        zone=ZONE,
        interval_s=3600,
        seed=4,
    )
    start = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    first = feed.tick(start)
    assert first is not None and first.status == IncidentStatus.RECEIVED
    for step in range(1, 16):
        feed.tick(start + timedelta(seconds=30 * step))
    db.expire_all()
    walked = db.get(Incident, first.id)
    assert walked is not None and walked.status == IncidentStatus.CLOSED
    assert walked.assignments and walked.idempotency_key.startswith("live-")
    assert feed.created == 16
    statuses = Counter(
        db.scalars(select(Incident.status).where(Incident.idempotency_key.startswith("live-")))
    )
    assert statuses[IncidentStatus.CLOSED] >= 1 and sum(statuses.values()) == 16
    # The thread starts and stops cleanly.
    feed.start()
    feed.stop(timeout_s=5)
    assert not feed._thread.is_alive()
