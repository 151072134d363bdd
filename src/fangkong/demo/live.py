"""The demo's live feed: generated incidents recorded while the console is served, and the
units sent to them driving their road routes on the map.

``fangkong demo --live`` runs a :class:`LiveFeed` beside the server. Every ``interval_s`` it
records an incident drawn like the recorded year's (:func:`~fangkong.demo.incidents.draw_one`)
through :func:`fangkong.dispatch.service.create`, marked ``source = simulated`` so that the
response KPIs leave it out (:func:`fangkong.dispatch.kpis.area_kpis`): its times come from
this model, not from a road. Every ``step_s`` it moves what it recorded:

- 20 s after receipt it dispatches the recommender's suggested units (P1: two
  reinforcements) with their predicted road times;
- 15 s later (turn-out) the incident goes en route and each unit sets off along its fastest
  road route from where it stands (:meth:`~fangkong.network.engine.Engine.route` on the graph
  of its way of travel: cars and motorcycles drive at the profile's emergency speeds, foot
  patrols walk at 1.5 m/s, as the recommender ranks them), reporting its position along the
  route at each step (:func:`~fangkong.dispatch.service.report_position`; the map's stream
  pushes it);
- each unit arrives (:func:`~fangkong.dispatch.service.arrive`) at the instant its route
  takes it there -- departure plus the route's time -- so that its dispatch-to-arrival time
  is its turn-out plus its drive, whatever the step; the first arrival puts the incident on
  scene;
- 90 s on scene, then cleared (the units are released and drive back to their posts, still
  reporting where they are), 30 s later closed.

Times come from ``clock`` (a test passes its own and calls :meth:`LiveFeed.tick`: nothing
sleeps). Each tick is one committed transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.audit import Actor
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.demo.incidents import Places, draw_one, load_places
from fangkong.dispatch import recommend, service
from fangkong.dispatch.models import Incident, IncidentStatus, Post, Source, Unit, UnitStatus
from fangkong.network.service import Network

FloatArray = NDArray[np.float64]
log = logging.getLogger(__name__)

LIVE_ACTOR = Actor(user_id=None, username="demo-feed", client="demo")
#: Seconds between incidents by default: 15 keeps about 18 of the demo county's 62 units busy;
#: at 8 all were busy within 15 minutes and calls queued (units drive their routes).
LIVE_INTERVAL_S = 15.0
#: Idempotency keys of the feed's incidents start with this.
LIVE_KEY_PREFIX = "live-"
#: Seconds from receipt to dispatch (a dispatcher's decision).
DISPATCH_AFTER_S = 20.0
#: Seconds from dispatch to en route: the units' turn-out.
TURNOUT_S = 15.0
#: Seconds from the first arrival to cleared.
ON_SCENE_S = 90.0
#: Seconds from cleared to closed.
CLOSE_AFTER_S = 30.0

S = IncidentStatus
_WHOLE = Scope(paths=("/",))
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Trip:
    """A unit's way along a road route: where it is at each moment.

    ``times`` (s after ``depart``, non-decreasing from 0 to ``time_s``) and ``lon``/``lat``
    are the route's vertices; between two, the unit moves along the straight piece at the
    constant speed of the road it is on. ``incident_id`` is None on the way back to a post.
    """

    unit_id: int
    incident_id: int | None
    depart: datetime
    times: FloatArray
    lon: FloatArray
    lat: FloatArray

    @property
    def time_s(self) -> float:
        return float(self.times[-1])

    @property
    def arrival(self) -> datetime:
        return self.depart + self.time_s * _SECOND

    def position(self, at: datetime) -> tuple[float, float]:
        """Where the unit is at ``at`` (at the start before it, at the end after it)."""
        t = min(max((at - self.depart) / _SECOND, 0.0), self.time_s)
        return float(np.interp(t, self.times, self.lon)), float(np.interp(t, self.times, self.lat))


def route_trip(
    network: Network,
    *,
    unit: Unit,
    to: tuple[float, float],
    depart: datetime,
    incident_id: int | None,
) -> Trip | None:
    """The fastest road route of ``unit`` (by its way of travel) from its position to ``to``,
    as a :class:`Trip` setting off at ``depart``; None when it has no position, does not
    travel by road, or no road route joins the two points.

    Each piece of the route (part of an edge, :class:`~fangkong.network.engine.Route`) takes
    its share of the edge's time, and within it the unit's time follows the length of the
    edge's lon/lat polyline, as :func:`~fangkong.network.isochrone.piece_geometries` cuts
    it. O(route search) plus O(vertices of the route).
    """
    travel = recommend.TRAVEL[unit.unit_type]
    if travel is None or unit.lon is None or unit.lat is None:
        return None
    snapped = network.snapper.snap(
        np.array([unit.lon, to[0]], dtype=np.float64), np.array([unit.lat, to[1]], dtype=np.float64)
    )
    if bool(snapped.too_far.any()):
        return None
    engine, points = recommend.travel_engine(network, travel, snapped.points)
    found = engine.route(points[:1], points[1:])
    if found is None:
        return None
    graph = engine.graph
    times: list[float] = [0.0]
    lon: list[float] = [float(snapped.lon[0])]
    lat: list[float] = [float(snapped.lat[0])]
    clock = 0.0
    for e, s, t in zip(found.edge.tolist(), found.start.tolist(), found.end.tolist(), strict=True):
        shape = graph.edge_shape(e)
        steps = np.hypot(*np.diff(shape, axis=0).T)
        along = np.concatenate(([0.0], np.cumsum(steps)))
        total = float(along[-1])
        fraction = along / total if total > 0 else np.linspace(0.0, 1.0, len(along))
        inner = (fraction > s) & (fraction < t)
        cut = np.concatenate(([s], fraction[inner], [t]))
        piece_s = float(graph.time_s[e]) * (t - s)
        at = clock + (cut - s) / (t - s) * piece_s if t > s else np.full(len(cut), clock)
        times += at.tolist()
        lon += np.interp(cut, fraction, shape[:, 0]).tolist()
        lat += np.interp(cut, fraction, shape[:, 1]).tolist()
        clock += piece_s
    # the route's own time (it sums the same pieces) ends the trip, free of rounding
    times_arr = np.maximum.accumulate(np.minimum(np.array(times), found.time_s))
    times_arr[-1] = found.time_s
    return Trip(
        unit_id=unit.id,
        incident_id=incident_id,
        depart=depart,
        times=times_arr,
        lon=np.array(lon),
        lat=np.array(lat),
    )


class LiveFeed:
    """A background thread that records a generated incident every ``interval_s`` seconds and
    moves the feed's incidents and units every ``step_s`` (see the module).

    Parameters
    ----------
    factory : sessionmaker
        Sessions of the served database; each tick commits its own.
    network : callable
        The current road network (called at each tick that needs it).
    cipher : FieldCipher
        For :func:`~fangkong.dispatch.service.create`.
    zone : ZoneInfo
        Local time, for the hour's incident rates.
    interval_s : float
        Seconds between incidents.
    step_s : float
        Seconds between ticks (moves on the map).
    auto_dispatch : bool
        Whether the feed dispatches and moves its incidents (else it only records them).
    seed : int, optional
        Seed of the draws.
    clock : callable
        The time now (UTC); the thread reads it at each tick.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        network: Callable[[], Network],
        cipher: FieldCipher,
        zone: ZoneInfo,
        interval_s: float = LIVE_INTERVAL_S,
        step_s: float = 2.0,
        auto_dispatch: bool = True,
        seed: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.factory = factory
        self.network = network
        self.cipher = cipher
        self.zone = zone
        self.interval_s = interval_s
        self.step_s = step_s
        self.auto_dispatch = auto_dispatch
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        self.created = 0
        self.trips: dict[int, Trip] = {}  # by unit id
        #: When the next incident is recorded (None: at the next tick).
        self.next_incident_at: datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fangkong-live-feed", daemon=True)
        self._places: Places | None = None
        self._available: list[Unit] | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.step_s):
            try:
                self.tick()
            except Exception:  # a failed tick must not end the feed; the next one retries
                log.exception("live feed tick failed")

    def tick(self, now: datetime | None = None) -> Incident | None:
        """One step at ``now`` (default: the clock): record an incident when one is due, then
        (with ``auto_dispatch``) move the feed's incidents and units. Returns the new incident,
        if any."""
        now = now or self.clock()
        with session_scope(self.factory) as session:
            incident = None
            if self.next_incident_at is None or now >= self.next_incident_at:
                incident = self._record(session, now)
                self.next_incident_at = now + self.interval_s * _SECOND
            if self.auto_dispatch:
                self._advance(session, now)
            return incident

    def _record(self, session: Session, now: datetime) -> Incident | None:
        if self._places is None:
            self._places = load_places(session)
        places = self._places
        if len(places) == 0:
            return None
        draw = draw_one(self.rng, at=now, zone=self.zone, places=places)
        key = f"{LIVE_KEY_PREFIX}{now:%Y%m%d%H%M%S}-{int(self.rng.integers(1 << 30)):08x}"
        data = service.IncidentIn(
            category=draw.category,
            subtype=draw.subtype,
            priority=draw.priority,
            source=Source.SIMULATED,
            lon=float(places.lon[draw.place]),
            lat=float(places.lat[draw.place]),
        )
        incident, _ = service.create(
            session, key=key, data=data, actor=LIVE_ACTOR, now=now, cipher=self.cipher
        )
        self.created += 1
        return incident

    def _advance(self, session: Session, now: datetime) -> None:
        """Dispatch, set off, move, arrive, clear and close what is due at ``now``."""
        incidents = list(
            session.scalars(
                select(Incident)
                .where(
                    Incident.source == Source.SIMULATED,
                    Incident.idempotency_key.startswith(LIVE_KEY_PREFIX),
                    Incident.status.in_(
                        [S.RECEIVED, S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE, S.CLEARED]
                    ),
                )
                .order_by(Incident.received_at, Incident.id)
            )
        )
        self._available = None  # read once a tick, when first needed
        for incident in incidents:
            self._step(session, incident, now)
        self._move_units(session, now)

    def _step(self, session: Session, incident: Incident, now: datetime) -> None:
        """Take the incident's next step if it is due by ``now``. Dispatch is stamped ``now``
        (when units were found); the later steps at the instant they fell due, so that the
        recorded times do not depend on when the ticks come."""
        if incident.status == S.RECEIVED:
            if now - incident.received_at >= DISPATCH_AFTER_S * _SECOND:
                self._dispatch(session, incident, now)
            return
        if incident.status == S.DISPATCHED:
            assert incident.dispatched_at is not None
            turned_out = incident.dispatched_at + TURNOUT_S * _SECOND
            if now < turned_out:
                return
            service.transition(
                session, incident=incident, to=S.EN_ROUTE, actor=LIVE_ACTOR, now=turned_out
            )
            for assignment in incident.assignments:
                if assignment.released_at is None and assignment.arrived_at is None:
                    self._set_off(assignment.unit, incident, assignment.predicted_s, turned_out)
        if incident.status in (S.EN_ROUTE, S.ON_SCENE):
            # after a restart, units still on their way set off again from where they are
            for assignment in incident.assignments:
                travelling = self.trips.get(assignment.unit_id)
                if (
                    assignment.released_at is None
                    and assignment.arrived_at is None
                    and (travelling is None or travelling.incident_id != incident.id)
                ):
                    self._set_off(assignment.unit, incident, assignment.predicted_s, now)
        if incident.status == S.ON_SCENE:
            assert incident.on_scene_at is not None
            cleared = incident.on_scene_at + ON_SCENE_S * _SECOND
            if now >= cleared:
                service.transition(
                    session, incident=incident, to=S.CLEARED, actor=LIVE_ACTOR, now=cleared
                )
                for assignment in incident.assignments:  # released: back to their posts
                    self._head_home(session, assignment.unit, cleared)
        elif incident.status == S.CLEARED:
            assert incident.cleared_at is not None
            closed = incident.cleared_at + CLOSE_AFTER_S * _SECOND
            if now >= closed:
                service.transition(
                    session, incident=incident, to=S.CLOSED, actor=LIVE_ACTOR, now=closed
                )

    def _dispatch(self, session: Session, incident: Incident, now: datetime) -> None:
        if self._available is None:
            self._available = service.get_units(session, scope=_WHOLE, status=UnitStatus.AVAILABLE)
        if not self._available:  # every unit is busy: the calls wait (as they would)
            return
        try:
            ranked = recommend.recommend(
                self.network(), incident=incident, units=self._available, now=now
            )
        except FangkongError:
            return
        chosen = [c for c in ranked if c.suggested]
        if not chosen:
            return
        sent = {c.unit.id for c in chosen}
        self._available = [u for u in self._available if u.id not in sent]
        for c in chosen:  # a unit on its way back to its post stops there and turns out
            self.trips.pop(c.unit.id, None)
        service.dispatch(
            session,
            incident=incident,
            units=[c.unit for c in chosen],
            actor=LIVE_ACTOR,
            now=now,
            predicted_s={c.unit.id: c.time_s for c in chosen},
        )

    def _set_off(
        self, unit: Unit, incident: Incident, predicted_s: float | None, now: datetime
    ) -> None:
        scene = (incident.lon, incident.lat)
        trip = route_trip(self.network(), unit=unit, to=scene, depart=now, incident_id=incident.id)
        if trip is None:
            # No road route (the recommender found one, so hardly ever): a straight line over
            # the predicted time, so that the unit still arrives.
            start = (unit.lon, unit.lat) if unit.lon is not None and unit.lat is not None else scene
            trip = Trip(
                unit_id=unit.id,
                incident_id=incident.id,
                depart=now,
                times=np.array([0.0, predicted_s or 0.0]),
                lon=np.array([start[0], scene[0]]),
                lat=np.array([start[1], scene[1]]),
            )
        self.trips[unit.id] = trip

    def _head_home(self, session: Session, unit: Unit, now: datetime) -> None:
        self.trips.pop(unit.id, None)
        post = session.get(Post, unit.home_post_id) if unit.home_post_id is not None else None
        if post is None or post.lon is None or post.lat is None:
            return  # no post to go back to: it waits where it is
        trip = route_trip(
            self.network(), unit=unit, to=(post.lon, post.lat), depart=now, incident_id=None
        )
        if trip is not None:
            self.trips[unit.id] = trip

    def _move_units(self, session: Session, now: datetime) -> None:
        """Report every travelling unit's position; a unit that got to the scene arrives, at
        the instant it did; one back at its post stops."""
        if not self.trips:
            return
        units = {
            u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(list(self.trips))))
        }
        for unit_id, trip in sorted(self.trips.items(), key=lambda item: item[1].arrival):
            unit = units.get(unit_id)
            if unit is None:  # deleted meanwhile
                del self.trips[unit_id]
                continue
            lon, lat = trip.position(now)
            service.report_position(session, unit=unit, lon=lon, lat=lat, now=now)
            if now < trip.arrival:
                continue
            del self.trips[unit_id]
            incident = session.get(Incident, trip.incident_id) if trip.incident_id else None
            if incident is not None and any(
                a.unit_id == unit_id and a.released_at is None and a.arrived_at is None
                for a in incident.assignments
            ):
                service.arrive(
                    session, incident=incident, unit=unit, actor=LIVE_ACTOR, now=trip.arrival
                )
