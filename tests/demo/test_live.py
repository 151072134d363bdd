"""The demo's live feed in virtual time: simulated incidents whose units drive their road
routes on the map, arrive when they get there, and are left out of the KPIs."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from demo.demo_helpers import add_addresses, street_grid_network
from fangkong.areas.geometry import local_projector
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.demo import incidents as gen
from fangkong.demo.live import LIVE_ACTOR, TURNOUT_S, LiveFeed
from fangkong.dispatch import kpis, recommend, service
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Post,
    Priority,
    Source,
    Unit,
    UnitStatus,
    UnitType,
)
from fangkong.network import service as network_service
from fangkong.network.isochrone import piece_geometries
from fangkong.network.service import Network

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
STEP_S = 2.0
WHOLE = Scope(paths=("/",))
Track = dict[int, list[tuple[datetime, float, float]]]


class Clock:
    """A clock that moves only when told."""

    def __init__(self, at: datetime) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return street_grid_network(tmp_path_factory.mktemp("demo-live-network"))


def live_feed(db: Session, network: Network, clock: Clock, *, seed: int) -> LiveFeed:
    """A feed of one incident (the next is a day away) over the test county's posts and
    units, writing in savepoints of the test's transaction."""
    add_addresses(db, 60)
    gen.build_posts_and_units(db, network=network, places=gen.load_places(db), now=T0)
    db.flush()
    factory = sessionmaker(
        bind=db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return LiveFeed(
        factory,
        network=lambda: network,
        cipher=FieldCipher("k" * 40),
        zone=ZONE,
        interval_s=86_400,
        step_s=STEP_S,
        seed=seed,
        clock=clock,
    )


def run(db: Session, feed: LiveFeed, clock: Clock, *, until_s: float, track: Track) -> None:
    """Tick every STEP_S for ``until_s`` seconds of virtual time, noting where units are."""
    for _ in range(round(until_s / STEP_S)):
        clock.now += timedelta(seconds=STEP_S)
        feed.tick()
        db.expire_all()
        for unit in db.scalars(select(Unit).where(Unit.position_at == clock.now)):
            assert unit.lon is not None and unit.lat is not None
            track[unit.id].append((clock.now, unit.lon, unit.lat))


def road_route(
    network: Network, unit: Unit, start: tuple[float, float], scene: tuple[float, float]
) -> tuple[LineString, float]:
    """The unit's fastest road route (by its way of travel) as a line, and its time (s)."""
    if recommend.TRAVEL[unit.unit_type] == "drive":
        feature = network_service.route(network, source=start, target=scene)
        return LineString(feature["geometry"]["coordinates"]), feature["properties"]["time_s"]
    snapped = network.snapper.snap(np.array([start[0], scene[0]]), np.array([start[1], scene[1]]))
    engine, points = recommend.travel_engine(network, "walk", snapped.points)
    found = engine.route(points[:1], points[1:])
    assert found is not None
    coords = np.vstack([np.asarray(line.coords) for line in piece_geometries(engine, found)])
    return LineString(coords), found.time_s


def check_drives(
    db: Session,
    network: Network,
    incident: Incident,
    starts: dict[int, tuple[float, float]],
    track: Track,
) -> list[float]:
    """Each unit sent to the (closed) ``incident``: on scene when its road route from where
    it set out gets it there, shown on that route on its way, then back at its post. Returns
    their drive times (s)."""
    assert incident.status == IncidentStatus.CLOSED
    assert incident.dispatched_at is not None and incident.en_route_at is not None
    assert incident.en_route_at - incident.dispatched_at == timedelta(seconds=TURNOUT_S)
    assert incident.assignments
    scene = (incident.lon, incident.lat)
    project = local_projector(*scene)
    drives: list[float] = []
    for assignment in incident.assignments:
        unit = assignment.unit
        line, route_s = road_route(network, unit, starts[unit.id], scene)
        assert assignment.arrived_at is not None
        drive_s = (assignment.arrived_at - incident.en_route_at).total_seconds()
        # on scene when the route gets it there, not after a fixed delay (it was 40 s)
        assert drive_s == pytest.approx(route_s, abs=STEP_S)
        assert assignment.predicted_s == pytest.approx(route_s, abs=0.01)
        drives.append(drive_s)
        # on its way, where the map shows it lies on the route, further along at each step
        on_way = [
            (x, y) for t, x, y in track[unit.id] if incident.en_route_at < t < assignment.arrived_at
        ]
        assert len(on_way) >= route_s / STEP_S - 2
        route_m = shapely.transform(line, project)
        seen = shapely.points(project(np.array(on_way)))
        assert float(shapely.distance(route_m, seen).max()) < 0.5
        assert (np.diff(shapely.line_locate_point(route_m, seen)) > 0).all()
        # then back at its post, available
        post = db.get(Post, unit.home_post_id)
        assert post is not None and unit.status == UnitStatus.AVAILABLE
        assert (unit.lon, unit.lat) == pytest.approx((post.lon, post.lat), abs=1e-7)
    assert incident.on_scene_at == incident.en_route_at + timedelta(seconds=min(drives))
    return drives


def unit_positions(db: Session) -> dict[int, tuple[float, float]]:
    return {u.id: (u.lon, u.lat) for u in db.scalars(select(Unit)) if u.lon and u.lat}


@pytest.mark.parametrize("seed", [4, 12])
def test_live_units_drive_their_routes_and_arrive_when_they_get_there(
    db: Session, network: Network, seed: int
) -> None:
    clock = Clock(T0)
    feed = live_feed(db, network, clock, seed=seed)
    starts = unit_positions(db)
    first = feed.tick()
    assert first is not None and first.source == Source.SIMULATED
    track: Track = defaultdict(list)
    run(db, feed, clock, until_s=40 * 60, track=track)
    assert feed.created == 1 and feed.trips == {}  # all back at their posts
    incident = db.get(Incident, first.id)
    assert incident is not None
    drives = check_drives(db, network, incident, starts, track)

    # left out of the response KPIs unless asked for
    window = {"scope": WHOLE, "start": T0 - timedelta(hours=1), "end": T0 + timedelta(hours=1)}
    assert kpis.area_kpis(db, **window).incidents == 0
    counted = kpis.area_kpis(db, **window, simulated=True)
    assert counted.incidents == 1
    assert counted.dispatch_to_arrival.p50_s == pytest.approx(TURNOUT_S + min(drives))


def test_three_units_to_a_p1_each_arrive_in_their_own_time(db: Session, network: Network) -> None:
    # A robbery 30 m from a foot patrol's post: it walks, two vehicles drive.
    clock = Clock(T0)
    feed = live_feed(db, network, clock, seed=1)
    feed.next_incident_at = T0 + timedelta(days=1)
    walker = db.scalars(select(Unit).where(Unit.unit_type == UnitType.FOOT)).first()
    assert walker is not None and walker.lon is not None and walker.lat is not None
    robbery, _ = service.create(
        db,
        key="live-test-p1",
        data=service.IncidentIn(
            category="criminal",
            subtype="robbery",
            priority=Priority.P1,
            source=Source.SIMULATED,
            lon=walker.lon + 0.0003,
            lat=walker.lat,
        ),
        actor=LIVE_ACTOR,
        now=T0,
        cipher=feed.cipher,
    )
    db.flush()
    starts = unit_positions(db)
    track: Track = defaultdict(list)
    run(db, feed, clock, until_s=60 * 60, track=track)
    db.refresh(robbery)
    assert len(robbery.assignments) == 3
    assert {a.unit.unit_type for a in robbery.assignments} >= {UnitType.FOOT}
    drives = check_drives(db, network, robbery, starts, track)
    assert len(set(drives)) == 3 and feed.trips == {}


def test_a_restarted_feed_moves_on_what_the_last_one_left(db: Session, network: Network) -> None:
    clock = Clock(T0)
    feed = live_feed(db, network, clock, seed=9)
    first = feed.tick()
    assert first is not None
    track: Track = defaultdict(list)
    run(db, feed, clock, until_s=40, track=track)  # past dispatch and turn-out: en route
    incident = db.get(Incident, first.id)
    assert incident is not None and incident.status == IncidentStatus.EN_ROUTE
    again = LiveFeed(
        feed.factory, network=lambda: network, cipher=feed.cipher, zone=ZONE, clock=clock
    )
    again.next_incident_at = T0 + timedelta(days=1)  # no new incident
    run(db, again, clock, until_s=40 * 60, track=track)
    db.refresh(incident)
    assert incident.status == IncidentStatus.CLOSED
    assert all(a.arrived_at is not None for a in incident.assignments)


def test_the_feed_ticks_on_its_thread_and_stops(db: Session, network: Network) -> None:
    feed = live_feed(db, network, Clock(T0), seed=1)
    ticks: list[datetime | None] = []

    def tick(now: datetime | None = None) -> Incident | None:  # no database from the thread
        ticks.append(now)
        if len(ticks) == 3:
            feed._stop.set()
        return None

    feed.tick = tick  # type: ignore[method-assign]
    feed.step_s = 0.001
    feed.start()
    feed._thread.join(timeout=5)
    assert not feed._thread.is_alive() and ticks == [None, None, None]
    feed.stop(timeout_s=5)  # stopping a stopped feed is harmless
