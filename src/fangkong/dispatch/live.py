"""The live command map's state: open incidents, units, posts and breach alerts, and the
change feed that Server-Sent Events push to the console.

How a change reaches a browser
------------------------------
Every committed session that wrote an incident, a unit, an assignment or a post wakes the
:data:`BROKER` (an ``after_commit`` hook; no service has to remember to call it). Each open
stream then asks its :class:`ChangeFeed` what changed since its last look: rows whose
``updated_at`` is at or after the feed's watermark less :data:`OVERLAP` (a transaction may
stamp a row before a later one commits), less the versions it already sent. Writers in
another process (a CLI import, a second server worker) wake nobody, so a stream also looks
every :data:`POLL_S` seconds regardless.

Breach alerts are a function of time as much as of data: an open P1 or P2 incident with no
unit on scene passes its 1-, 3- and 5-minute rings as the clock runs. :func:`breach_of` is
the rule; a feed re-checks the incidents it tracks on every tick and sends each ring passed
once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fangkong.core.scoping import Scope
from fangkong.dispatch.models import (
    CHANGED,
    Assignment,
    Incident,
    IncidentStatus,
    Post,
    Priority,
    Unit,
    mark_changed,
)
from fangkong.dispatch.recommend import RINGS_S, Ring
from fangkong.dispatch.service import OPEN_STATUSES

#: Priorities whose incidents raise breach alerts.
ALERT_PRIORITIES = frozenset({Priority.P1, Priority.P2})
#: How far back of its watermark a feed looks again (s): longer than any write transaction.
OVERLAP = timedelta(seconds=5)
#: A stream looks for changes at least this often (s), woken or not.
POLL_S = 2.0
#: Seconds between two ticks of a stream (breach checks, wake-ups).
TICK_S = 1.0


# --- breach alerts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """An open P1/P2 incident without a unit on scene that has passed ``ring`` (the largest
    ring passed), having waited ``waited_s`` seconds since it was received."""

    incident_id: int
    priority: Priority
    ring: Ring
    waited_s: float


class _Timed(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def status(self) -> IncidentStatus: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def on_scene_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class _Watched:
    """The fields breach checks read, copied so that a feed holds no ORM rows."""

    id: int
    priority: Priority
    status: IncidentStatus
    received_at: datetime
    on_scene_at: datetime | None


def breach_of(incident: _Timed, now: datetime) -> Breach | None:
    """The ring ``incident`` has passed without a unit on scene, or None.

    Only open P1 and P2 incidents raise alerts; one passes a ring when the time since it was
    received exceeds the ring's limit (60, 180, 300 s) and no unit is on scene yet.
    """
    if (
        incident.priority not in ALERT_PRIORITIES
        or incident.status not in OPEN_STATUSES
        or incident.on_scene_at is not None
    ):
        return None
    waited = (now - incident.received_at).total_seconds()
    passed = [name for limit, name in RINGS_S if waited > limit]
    if not passed:
        return None
    return Breach(
        incident_id=incident.id, priority=incident.priority, ring=passed[-1], waited_s=waited
    )


def _open_alertable(scope: Scope) -> Any:
    return (
        select(Incident)
        .where(
            scope.clause(Incident.area_path),
            Incident.status.in_(OPEN_STATUSES),
            Incident.priority.in_(ALERT_PRIORITIES),
            Incident.on_scene_at.is_(None),
        )
        .order_by(Incident.received_at)
    )


def breaches(session: Session, *, scope: Scope, now: datetime) -> list[Breach]:
    """The breach alerts standing now in ``scope``, longest waiting first."""
    found = (breach_of(i, now) for i in session.scalars(_open_alertable(scope)))
    return [b for b in found if b is not None]


# --- what the map draws ----------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def incident_item(incident: Incident) -> dict[str, Any]:
    """An incident as the live map draws it (no personal fields: the caller's contact stays
    behind the audited API)."""
    return {
        "id": incident.id,
        "priority": incident.priority.value,
        "status": incident.status.value,
        "open": incident.status in OPEN_STATUSES,
        "category": incident.category,
        "subtype": incident.subtype,
        "lon": incident.lon,
        "lat": incident.lat,
        "area_id": incident.area_id,
        "received_at": _iso(incident.received_at),
        "dispatched_at": _iso(incident.dispatched_at),
        "on_scene_at": _iso(incident.on_scene_at),
    }


def unit_item(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "call_sign": unit.call_sign,
        "type": unit.unit_type.value,
        "status": unit.status.value,
        "staged": unit.staged,
        "lon": unit.lon,
        "lat": unit.lat,
        "home_post_id": unit.home_post_id,
        "position_at": _iso(unit.position_at),
    }


def post_item(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "code": post.code,
        "name": post.name,
        "kind": post.kind.value,
        "lon": post.lon,
        "lat": post.lat,
        "area_id": post.area_id,
    }


def breach_item(breach: Breach) -> dict[str, Any]:
    return {
        "incident_id": breach.incident_id,
        "priority": breach.priority.value,
        "ring": breach.ring,
        "waited_s": round(breach.waited_s, 1),
    }


# --- the change feed -------------------------------------------------------------------------


Event = tuple[str, dict[str, Any]]


@dataclass
class ChangeFeed:
    """One stream's cursor over the incidents, units and posts of ``scope``.

    :meth:`start` gives the snapshot; :meth:`changes` what changed since (each row version
    once); :meth:`alerts` the breach alerts newly passed. Closed incidents are sent once
    more (``open`` false) so that the map drops them, then forgotten.
    """

    scope: Scope
    watermark: datetime | None = None
    sent: dict[tuple[str, int], datetime] = field(default_factory=dict)
    # Open P1/P2 incidents without a unit on scene: what breach checks look at.
    watched: dict[int, _Watched] = field(default_factory=dict)
    alerted: set[tuple[int, str]] = field(default_factory=set)
    # Ids of the open incidents the client holds: a closing one is sent to them, no one else.
    shown: set[int] = field(default_factory=set)

    def _watch(self, incident: Incident) -> None:
        if (
            incident.status in OPEN_STATUSES
            and incident.priority in ALERT_PRIORITIES
            and incident.on_scene_at is None
        ):
            self.watched[incident.id] = _Watched(
                id=incident.id,
                priority=incident.priority,
                status=incident.status,
                received_at=incident.received_at,
                on_scene_at=incident.on_scene_at,
            )
        else:
            self.watched.pop(incident.id, None)

    def start(self, session: Session, *, now: datetime) -> dict[str, Any]:
        """The full picture now: open incidents, units, posts and standing alerts."""
        incidents = list(
            session.scalars(
                select(Incident)
                .where(self.scope.clause(Incident.area_path), Incident.status.in_(OPEN_STATUSES))
                .order_by(Incident.received_at)
            )
        )
        units = list(
            session.scalars(
                select(Unit).where(self.scope.clause(Unit.home_area_path)).order_by(Unit.call_sign)
            )
        )
        posts = list(
            session.scalars(
                select(Post).where(self.scope.clause(Post.area_path)).order_by(Post.code)
            )
        )
        for incident in incidents:
            self.sent[("incident", incident.id)] = incident.updated_at
            self.shown.add(incident.id)
            self._watch(incident)
        for unit in units:
            self.sent[("unit", unit.id)] = unit.updated_at
        for post in posts:
            self.sent[("post", post.id)] = post.updated_at
        self.watermark = now
        standing = [b for b in (breach_of(i, now) for i in self.watched.values()) if b]
        self.alerted = {(b.incident_id, b.ring) for b in standing}
        return {
            "at": now.isoformat(),
            "incidents": [incident_item(i) for i in incidents],
            "units": [unit_item(u) for u in units],
            "posts": [post_item(p) for p in posts],
            "alerts": [breach_item(b) for b in standing],
        }

    def changes(self, session: Session, *, now: datetime) -> list[Event]:
        """Rows changed since the last look, as ``(kind, item)`` events, oldest first."""
        if self.watermark is None:
            raise RuntimeError("start the feed before asking for changes")
        since = self.watermark - OVERLAP
        out: list[Event] = []
        queries: list[tuple[str, Any, Any]] = [
            ("incident", Incident, Incident.area_path),
            ("unit", Unit, Unit.home_area_path),
            ("post", Post, Post.area_path),
        ]
        for kind, model, path in queries:
            rows = session.scalars(
                select(model)
                .where(model.updated_at >= since, self.scope.clause(path))
                .order_by(model.updated_at)
            )
            for row in rows:
                key = (kind, int(row.id))
                if self.sent.get(key) == row.updated_at:
                    continue
                if kind == "incident":
                    if row.status in OPEN_STATUSES:
                        self.shown.add(row.id)
                    elif row.id in self.shown:
                        self.shown.discard(row.id)  # sent once more, closed: the map drops it
                    else:
                        continue  # closed before this map ever showed it
                    self._watch(row)
                    out.append((kind, incident_item(row)))
                elif kind == "unit":
                    out.append((kind, unit_item(row)))
                else:
                    out.append((kind, post_item(row)))
                self.sent[key] = row.updated_at
        # Versions older than the window cannot come back (a change carries a newer stamp).
        self.sent = {k: v for k, v in self.sent.items() if v >= since}
        self.watermark = now
        return out

    def alerts(self, *, now: datetime) -> list[Event]:
        """Breach alerts for rings passed since the last call (each ring once)."""
        out: list[Event] = []
        for incident in list(self.watched.values()):
            breach = breach_of(incident, now)
            if breach is None or (breach.incident_id, breach.ring) in self.alerted:
                continue
            self.alerted.add((breach.incident_id, breach.ring))
            out.append(("alert", breach_item(breach)))
        return out


# --- waking streams on commit ----------------------------------------------------------------


class Broker:
    """Wakes the streams of this process when a session that wrote dispatch rows commits.

    Commits happen in worker threads; streams wait in the event loop, so a wake-up crosses
    with ``call_soon_threadsafe``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Event]:
        """An event set on each relevant commit, for the duration of the block (call it in
        the event loop)."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            yield waiter[1]
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, flag in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(flag.set)


BROKER = Broker()
_WATCHED_TYPES = (Incident, Unit, Assignment, Post)


@event.listens_for(Session, "after_flush")
def _mark_dispatch_writes(session: Session, _context: object) -> None:
    if any(
        isinstance(obj, _WATCHED_TYPES) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        mark_changed(session)


@event.listens_for(Session, "after_commit")
def _wake_streams(session: Session) -> None:
    if session.info.pop(CHANGED, False):
        BROKER.notify()


@event.listens_for(Session, "after_rollback")
def _forget_writes(session: Session) -> None:
    session.info.pop(CHANGED, None)
