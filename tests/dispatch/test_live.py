"""The live command map's feed: breach rules, the change feed, and SSE over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from conftest import LiveServer
from dispatch.dispatch_helpers import ACTOR, T0, area, incident_in, new_incident, scope_of
from factories import grid_centre
from fangkong.dispatch import live, service
from fangkong.dispatch.models import IncidentStatus, PostKind, Priority, UnitType


def test_breach_rule_by_priority_time_and_scene(db: Session) -> None:
    p1 = new_incident(db, "live-b1", incident_in(priority=Priority.P1))
    p3 = new_incident(db, "live-b3", incident_in(priority=Priority.P3))
    assert live.breach_of(p1, T0 + timedelta(seconds=60)) is None  # at the limit: not passed
    first = live.breach_of(p1, T0 + timedelta(seconds=61))
    assert first is not None and first.ring == "1min" and first.waited_s == 61
    later = live.breach_of(p1, T0 + timedelta(seconds=301))
    assert later is not None and later.ring == "5min"
    assert live.breach_of(p3, T0 + timedelta(hours=1)) is None  # P3/P4 raise no alerts
    p1.on_scene_at = T0 + timedelta(seconds=90)
    assert live.breach_of(p1, T0 + timedelta(seconds=400)) is None  # a unit is on scene
    p1.on_scene_at = None
    p1.status = IncidentStatus.CANCELLED
    assert live.breach_of(p1, T0 + timedelta(seconds=400)) is None  # no longer open


def test_breaches_are_scoped_and_longest_waiting_first(db: Session) -> None:
    older = new_incident(db, "live-s1", incident_in("T-D1-S1-B1-G1", priority=Priority.P1))
    newer = new_incident(
        db,
        "live-s2",
        incident_in("T-D1-S1-B1-G1", priority=Priority.P2),
        now=T0 + timedelta(seconds=100),
    )
    new_incident(db, "live-s3", incident_in("T-D2-S1-B1-G1", priority=Priority.P1))
    found = live.breaches(db, scope=scope_of(db, "T-D1"), now=T0 + timedelta(seconds=200))
    assert [(b.incident_id, b.ring) for b in found] == [(older.id, "3min"), (newer.id, "1min")]


def test_feed_sends_each_change_once_and_closed_incidents_once(db: Session) -> None:
    scope = scope_of(db, "T-D1")
    shown = new_incident(db, "live-f1", incident_in("T-D1-S1-B1-G1", priority=Priority.P3))
    new_incident(db, "live-f2", incident_in("T-D2-S1-B1-G1"))  # out of scope
    post = service.create_post(
        db,
        code="PP-1",
        name="Post one",
        kind=PostKind.POLICE_POST,
        lon=shown.lon,
        lat=shown.lat,
        actor=ACTOR,
    )
    unit = service.create_unit(
        db,
        call_sign="L-1",
        unit_type=UnitType.CAR,
        home_area=area(db, "T-D1-S1"),
        actor=ACTOR,
        home_post=post,
        now=T0,
    )
    feed = live.ChangeFeed(scope=scope)
    snapshot = feed.start(db, now=service_now())
    assert [i["id"] for i in snapshot["incidents"]] == [shown.id]
    assert [u["call_sign"] for u in snapshot["units"]] == ["L-1"]
    assert snapshot["units"][0]["lon"] == post.lon
    assert [p["code"] for p in snapshot["posts"]] == ["PP-1"]
    assert feed.changes(db, now=service_now()) == []  # nothing new: nothing sent

    added = new_incident(db, "live-f3", incident_in("T-D1-S1-B1-G2"), now=service_now())
    gone = new_incident(db, "live-f4", incident_in("T-D1-S1-B1-G2"), now=service_now())
    service.transition(
        db, incident=gone, to=IncidentStatus.CANCELLED, actor=ACTOR, now=service_now()
    )  # closed before the map saw it: never sent
    service.transition(
        db, incident=shown, to=IncidentStatus.CANCELLED, actor=ACTOR, now=service_now()
    )
    service.report_position(db, unit=unit, lon=post.lon + 0.001, lat=post.lat, now=service_now())
    db.flush()
    events = feed.changes(db, now=service_now())
    by_kind = {(kind, item["id"]): item for kind, item in events}
    assert set(by_kind) == {("incident", added.id), ("incident", shown.id), ("unit", unit.id)}
    assert by_kind[("incident", shown.id)]["open"] is False
    assert by_kind[("unit", unit.id)]["lon"] == pytest.approx(post.lon + 0.001)
    assert feed.changes(db, now=service_now()) == []


def test_feed_alerts_each_ring_once(db: Session) -> None:
    new_incident(db, "live-a1", incident_in(priority=Priority.P1), now=T0)
    feed = live.ChangeFeed(scope=scope_of(db, "T"))
    snapshot = feed.start(db, now=T0 + timedelta(seconds=30))
    assert snapshot["alerts"] == []
    assert feed.alerts(now=T0 + timedelta(seconds=59)) == []
    first = feed.alerts(now=T0 + timedelta(seconds=65))
    assert [(k, a["ring"]) for k, a in first] == [("alert", "1min")]
    assert feed.alerts(now=T0 + timedelta(seconds=120)) == []  # the same ring: once
    assert [a["ring"] for _, a in feed.alerts(now=T0 + timedelta(seconds=181))] == ["3min"]


def service_now() -> Any:
    from fangkong.core.db import utcnow

    return utcnow()


# --- over HTTP -------------------------------------------------------------------------------


class EventReader:
    """Reads a Server-Sent Events stream in a thread, collecting ``(event, data)`` pairs."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.events: list[tuple[str, Any]] = []
        self.content_type = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, url), daemon=True)
        self._thread.start()

    def _run(self, client: httpx.Client, url: str) -> None:
        try:
            with client.stream("GET", url, timeout=httpx.Timeout(30, read=None)) as response:
                self.content_type = response.headers["content-type"]
                kind = "message"
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((kind, json.loads(line[6:])))
        except httpx.HTTPError as exc:
            if not self._stop.is_set():  # a stream cut while the test still listens
                self.events.append(("error", repr(exc)))

    def wait_for(self, predicate: Any, timeout: float = 15) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no matching event in {timeout} s; got {self.events!r}")

    def close(self) -> None:
        self._stop.set()


@pytest.fixture()
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client(live_server.admin_token()) as client:
        yield client


def test_stream_pushes_a_new_incident_and_its_dispatch_state(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    with live_server.client(live_server.admin_token()) as listener:
        reader = EventReader(listener, "/api/v1/dispatch/stream")
        try:
            _, snapshot = reader.wait_for(lambda e: e[0] == "snapshot")
            assert reader.content_type.startswith("text/event-stream")
            assert {"incidents", "units", "posts", "alerts"} <= set(snapshot)
            lon, lat = grid_centre("T-D1-S1-B1-G2")
            created = admin.post(
                "/api/v1/incidents",
                headers={"Idempotency-Key": "live-http-1"},
                json={
                    "category": "traffic",
                    "subtype": "injury_collision",
                    "priority": "P1",
                    "source": "call",
                    "lon": lon,
                    "lat": lat,
                },
            )
            assert created.status_code == 201, created.text
            incident_id = created.json()["id"]
            _, item = reader.wait_for(lambda e: e[0] == "incident" and e[1]["id"] == incident_id)
            assert item["priority"] == "P1" and item["open"] is True
            assert "caller_contact" not in json.dumps(item)
            moved = admin.post(
                f"/api/v1/incidents/{incident_id}/transitions",
                json={"to": "cancelled", "note": "duplicate call"},
            )
            assert moved.status_code == 200, moved.text
            _, closed = reader.wait_for(
                lambda e: e[0] == "incident" and e[1]["id"] == incident_id and not e[1]["open"]
            )
            assert closed["status"] == "cancelled"
        finally:
            reader.close()


def test_live_snapshot_and_alerts_over_http(live_server: LiveServer, admin: httpx.Client) -> None:
    lon, lat = grid_centre("T-D1-S2-B1-G1")
    post = admin.post(
        "/api/v1/posts",
        json={
            "code": "LIVE-PP",
            "name": "Live post",
            "kind": "police_post",
            "lon": lon,
            "lat": lat,
        },
    )
    assert post.status_code == 201, post.text
    snapshot = admin.get("/api/v1/dispatch/live")
    assert snapshot.status_code == 200, snapshot.text
    assert set(snapshot.json()) == {"at", "incidents", "units", "posts", "alerts"}
    assert post.json() in snapshot.json()["posts"]
    alerts = admin.get("/api/v1/dispatch/alerts")
    assert alerts.status_code == 200 and isinstance(alerts.json(), list)
    assert admin.get("/api/v1/dispatch/stream", headers={"Authorization": ""}).status_code == 401
