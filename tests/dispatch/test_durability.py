"""Incident intake survives SIGKILL: an answered 2xx is committed, a retried key never duplicates.

The real app runs in a child process under uvicorn over a migrated database file (and on
PostgreSQL when configured). Client threads post incidents over loopback HTTP, each with its
own ``Idempotency-Key``; the server is killed with SIGKILL at seeded random moments, at least
:data:`KILLS` times, and restarted on the same port; a request left without an answer is
retried with the same key and body until one comes. At the end every key must hold exactly
one incident, equal to what its 2xx answers said, with its timeline event and its audit event
(nothing half-written).

Restarts go through a *zygote*: this file run as a script imports the app once and forks a
fresh server per restart, so twenty restarts cost forks, not twenty interpreter start-ups.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

KILLS = 20
SEED = 20261122
CLIENTS = 3
# Gap between a restart being ready and the next kill: short enough that kills land while
# requests are in flight (the server is never idle under three clients).
GAP_S = (0.05, 1.0)
SECRET = "d" * 40
CONTACT = "13912345678"
# What the answer says and the stored row must agree on (the request's own fields and the
# server's: id, status, area, H3 cell, reception time).
COMPARED = (
    "id",
    "category",
    "subtype",
    "priority",
    "source",
    "status",
    "description",
    "lon",
    "lat",
    "h3_cell",
    "area_code",
    "caller_contact_masked",
    "received_at",
)
TRANSIENT = (httpx.TransportError,)


# ---- the zygote (run as a script) -------------------------------------------------------------


def _zygote() -> None:
    """Import the app once; on each ``spawn PORT`` line fork a server and print its pid."""
    import uvicorn

    from fangkong.areas import index as area_index
    from fangkong.core.config import Settings
    from fangkong.web.app import create_app

    app = create_app(Settings())
    # Warm what every server would otherwise build on its first request (the area index),
    # then close the pool: no connection may be shared by the forked servers.
    with app.state.session_factory() as session:
        area_index.get(session)
    app.state.engine.dispose()
    # The killed servers are reaped by the kernel: the zygote never waits on them.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command != "spawn":
            break
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            uvicorn.run(app, host="127.0.0.1", port=int(arg), log_level="warning", access_log=False)
            os._exit(0)
        print(pid, flush=True)


# ---- the test ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Servers:
    """Starts, kills and restarts the app on one port through the zygote."""

    def __init__(self, env: dict[str, str], log: IO[bytes]) -> None:
        self.port = _free_port()
        self.zygote = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        self.pid: int | None = None
        self.kills = 0

    def start(self) -> None:
        assert self.zygote.stdin is not None and self.zygote.stdout is not None
        self.zygote.stdin.write(f"spawn {self.port}\n".encode())
        self.zygote.stdin.flush()
        line = self.zygote.stdout.readline()
        if not line:
            raise RuntimeError("the zygote exited; see its log")
        self.pid = int(line)
        deadline = time.monotonic() + 30
        while True:
            try:
                # One answered request: the kill clock starts once the server really serves
                # (its first request pays for the thread pool and the connections).
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=10).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not come up") from None
                time.sleep(0.01)

    def kill(self) -> None:
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        self.kills += 1
        # Until the kernel has torn the process down its listening socket still accepts.
        while True:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.002)
        self.pid = None

    def close(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
        if self.zygote.stdin is not None:
            self.zygote.stdin.close()
        self.zygote.wait(timeout=10)
        if self.zygote.stdout is not None:
            self.zygote.stdout.close()


@dataclass
class Ledger:
    """Per key: the body sent, every 2xx answer, and how many attempts failed in transit."""

    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    failed_attempts: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _body(rng: random.Random, i: int) -> dict[str, Any]:
    from factories import EAST, NORTH, SOUTH, WEST

    return {
        "category": "public_order",
        "subtype": "fight",
        "priority": rng.choice(["P1", "P2"]),
        "source": "call",
        "lon": rng.uniform(WEST + 1e-4, EAST - 1e-4),
        "lat": rng.uniform(SOUTH + 1e-4, NORTH - 1e-4),
        "description": f"durability {i}: {rng.random():.6f}",
        "caller_contact": CONTACT,
    }


def _client_loop(
    base_url: str, token: str, prefix: str, worker: int, ledger: Ledger, stop: threading.Event
) -> None:
    rng = random.Random(SEED + worker)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=15.0) as client:
        i = 0
        while not stop.is_set():
            key, body = f"{prefix}-{worker}-{i}", _body(rng, i)
            i += 1
            with ledger.lock:
                ledger.bodies[key] = body
            # A request without an answer is retried with the same key and body until one
            # comes, whatever the stop flag says: the key must end up answered.
            while True:
                try:
                    response = client.post(
                        "/api/v1/incidents", json=body, headers={"Idempotency-Key": key}
                    )
                except TRANSIENT:
                    with ledger.lock:
                        ledger.failed_attempts[key] = ledger.failed_attempts.get(key, 0) + 1
                    time.sleep(0.01)
                    continue
                with ledger.lock:
                    if response.status_code in (200, 201):
                        ledger.answers.setdefault(key, []).append(
                            (response.status_code, response.json())
                        )
                    else:
                        ledger.faults.append(f"{key}: {response.status_code} {response.text}")
                break
            # One retry in ten repeats an answered request: it must answer 200, same incident.
            if rng.random() < 0.1:
                try:
                    again = client.post(
                        "/api/v1/incidents", json=body, headers={"Idempotency-Key": key}
                    )
                except TRANSIENT:
                    continue
                with ledger.lock:
                    if again.status_code == 200:
                        ledger.answers[key].append((200, again.json()))
                    else:
                        ledger.faults.append(f"{key} repeated: {again.status_code}")


def _prepare(engine: Engine) -> str:
    """Load the test county and an intake user; the user's bearer token."""
    from datetime import timedelta

    from factories import county_geojson
    from fangkong.areas import service as area_service
    from fangkong.core import auth
    from fangkong.core.audit import SYSTEM
    from fangkong.core.models import Role

    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        user = auth.create(
            session,
            username="durab_admin",
            display_name="Durability",
            password="correct-horse-battery",
            role=Role.ADMIN,
            area_codes=["T"],
            actor=SYSTEM,
        )
        _, token = auth.issue_token(
            session, user=user, name="durability", ttl=timedelta(hours=1), actor=SYSTEM
        )
        session.commit()
    return token


@pytest.fixture()
def durab_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    from conftest import fresh_database

    engine = fresh_database(backend, tmp_path, suffix="_durab")
    yield engine
    engine.dispose()


def _check(engine: Engine, ledger: Ledger, base_url: str, token: str) -> None:
    from fangkong.core.models import AuditEvent
    from fangkong.core.security import FieldCipher, mask_phone
    from fangkong.dispatch.models import Incident, IncidentEvent

    assert not ledger.faults, ledger.faults[:5]
    assert set(ledger.answers) == set(ledger.bodies), "a key was left without a 2xx answer"
    cipher = FieldCipher(SECRET)
    with Session(engine) as session:
        rows = {i.idempotency_key: i for i in session.scalars(select(Incident))}
        events = {
            int(i): int(n)
            for i, n in session.execute(
                select(IncidentEvent.incident_id, func.count()).group_by(IncidentEvent.incident_id)
            )
        }
        audits = {
            str(i): int(n)
            for i, n in session.execute(
                select(AuditEvent.entity_id, func.count())
                .where(AuditEvent.entity == "incident", AuditEvent.action == "create")
                .group_by(AuditEvent.entity_id)
            )
        }
    # No incident without a key that was sent, none twice (the key is unique; the count of
    # rows tells that no retry slipped past it under another form).
    assert set(rows) == set(ledger.bodies)
    assert len(rows) == len(ledger.bodies)
    for key, answers in ledger.answers.items():
        row = rows[key]
        first = answers[0][1]
        for status, answer in answers:
            same = {f: answer[f] for f in COMPARED} == {f: first[f] for f in COMPARED}
            assert same, f"{key}: a {status} answer differs from the first one"
        body = ledger.bodies[key]
        assert first["id"] == row.id and first["status"] == row.status.value == "received"
        for name in ("category", "subtype", "priority", "source", "description"):
            assert first[name] == body[name] == getattr(row, name), (key, name)
        assert first["lon"] == row.lon and first["lat"] == row.lat, key
        assert first["h3_cell"] == row.h3_cell, key
        assert datetime.fromisoformat(first["received_at"]) == row.received_at, key
        assert row.caller_contact_encrypted is not None
        assert first["caller_contact_masked"] == mask_phone(
            cipher.decrypt(row.caller_contact_encrypted)
        ), key
        # Nothing half-written: the timeline event and the audit event committed with it.
        assert events.get(row.id) == 1, f"{key}: {events.get(row.id)} timeline events"
        assert audits.get(str(row.id)) == 1, f"{key}: {audits.get(str(row.id))} audit events"
    # And the restarted server reads back what it answered.
    sample = random.Random(SEED).sample(sorted(ledger.answers), min(25, len(ledger.answers)))
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15.0
    ) as client:
        for key in sample:
            first = ledger.answers[key][0][1]
            fresh = client.get(f"/api/v1/incidents/{first['id']}")
            assert fresh.status_code == 200, fresh.text
            assert {f: fresh.json()[f] for f in COMPARED} == {f: first[f] for f in COMPARED}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the server zygote needs os.fork")
def test_answered_incidents_survive_sigkill(
    backend: str, durab_engine: Engine, tmp_path: Path
) -> None:
    token = _prepare(durab_engine)
    tests_dir = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "FANGKONG_DATA_DIR": str(tmp_path),
        "FANGKONG_DATABASE_URL": durab_engine.url.render_as_string(hide_password=False),
        "FANGKONG_SECRET_KEY": SECRET,
        "FANGKONG_ENVIRONMENT": "test",
        "PYTHONPATH": os.pathsep.join([str(tests_dir), os.environ.get("PYTHONPATH", "")]),
    }
    ledger = Ledger()
    stop = threading.Event()
    rng = random.Random(SEED)
    with open(tmp_path / "server.log", "wb") as log:
        servers = Servers(env, log)
        try:
            servers.start()
            base_url = f"http://127.0.0.1:{servers.port}"
            clients = [
                threading.Thread(
                    target=_client_loop,
                    daemon=True,
                    args=(base_url, token, f"k{backend}", w, ledger, stop),
                )
                for w in range(CLIENTS)
            ]
            for thread in clients:
                thread.start()
            # No time limit on the loop: a slow machine makes it slower, not wrong (a test never
            # fails on a timing); each restart has its own deadline for a server that hangs.
            while servers.kills < KILLS:
                time.sleep(rng.uniform(*GAP_S))
                servers.kill()
                servers.start()
            stop.set()
            for thread in clients:
                thread.join(timeout=60)
            assert not any(t.is_alive() for t in clients), "a client hung"
            assert len(ledger.bodies) >= CLIENTS
            _check(durab_engine, ledger, base_url, token)
        finally:
            stop.set()
            servers.close()
    # Not asserted (timing-dependent), but what makes the test meaningful: requests were cut.
    retried = sum(1 for n in ledger.failed_attempts.values() if n)
    committed_unanswered = sum(1 for k in ledger.failed_attempts if ledger.answers[k][0][0] == 200)
    print(
        f"{backend}: {len(ledger.bodies)} incidents, {servers.kills} kills, {retried} keys "
        f"retried after a cut, {committed_unanswered} of them committed before the cut"
    )


def test_savepoint_release_commits_nothing_on_sqlite(tmp_path: Path) -> None:
    """The intake's savepoint (the race on the key) must nest in the request's transaction:
    released, it commits nothing; only the request's commit does (this test's crash case,
    made deterministic)."""
    from conftest import fresh_database
    from dispatch.dispatch_helpers import ACTOR, CIPHER, incident_in
    from factories import county_geojson
    from fangkong.areas import service as area_service
    from fangkong.core.audit import SYSTEM
    from fangkong.dispatch import service
    from fangkong.dispatch.models import Incident

    engine = fresh_database("sqlite", tmp_path, suffix="_savepoint")
    try:
        with Session(engine) as session:
            area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
            session.commit()

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(Incident)).scalar_one())

        with Session(engine) as session:
            service.create(
                session,
                key="sp-1",
                data=incident_in(),
                actor=ACTOR,
                now=datetime.now().astimezone(),
                cipher=CIPHER,
            )
            assert stored() == 0, "the savepoint's release committed the incident"
            session.rollback()
        assert stored() == 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    _zygote()
