"""Shared by the dispatch benchmarks: a prepared database, a server subprocess, a lean client.

``prepare`` migrates a database (SQLite file or PostgreSQL), loads a small synthetic county
(city > 2 districts > 2 stations > 2 beats > 2 grids of rectangles, as the tests use) and
issues an admin bearer token. ``Server`` runs ``python benchmarks/_server.py serve`` (the real
app under uvicorn) or ``serve-bare`` (the peer: a bare FastAPI endpoint doing one INSERT and
a commit over the same engine settings) on a free loopback port.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio: a benchmark client
written with httpx would spend more CPU than the server on this 2-core machine and so would
measure itself. It is an asyncio protocol driven by callbacks, without a task or a stream
per request: about 0.2 ms of CPU per request here against 0.3 ms with asyncio's streams,
mostly the loopback's system calls.

Run directly, this module is the server process::

    python benchmarks/_server.py serve --port P [--workers N]
    python benchmarks/_server.py serve-bare --port P
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
#: A monotonic clock in seconds.
Clock = Callable[[], float]

WEST, SOUTH, EAST, NORTH = 120.00, 30.00, 120.16, 30.08
SECRET = "b" * 40
ADMIN = "bench_admin"
#: The admin's password: one the password policy accepts (no repetition, run or username).
ADMIN_PASSWORD = "tidal-quartz-7294"
BARE_TABLE = "bench_incident"
#: How long after an open-loop phase a request still waiting for a connection is given up.
UNSENT_AFTER_S = 1.0
#: The resolution of the event loop's timers (uvloop's are in milliseconds).
TIMER_RESOLUTION_S = 0.001


def _rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def county_geojson(
    bbox: tuple[float, float, float, float] = (WEST, SOUTH, EAST, NORTH),
) -> dict[str, Any]:
    """31 rectangles over ``bbox``: each level splits its parent in two (as the tests' county)."""
    features: list[dict[str, Any]] = []

    def add(
        code: str,
        level: str,
        parent: str | None,
        box: tuple[float, float, float, float],
        depth: int,
    ) -> None:
        props: dict[str, Any] = {
            "code": code,
            "level": level,
            "name_zh": f"区域{code}",
            "name_en": f"Area {code}",
        }
        if parent:
            props["parent_code"] = parent
        features.append({"type": "Feature", "properties": props, "geometry": _rectangle(*box)})
        children = ("district", "station", "beat", "grid")
        if depth == len(children):
            return
        w, s, e, n = box
        halves = (
            [(w, s, (w + e) / 2, n), ((w + e) / 2, s, e, n)]
            if depth % 2 == 0
            else [(w, s, e, (s + n) / 2), (w, (s + n) / 2, e, n)]
        )
        prefix = "DSBG"[depth]
        for i, half in enumerate(halves, start=1):
            add(f"{code}-{prefix}{i}", children[depth], code, half, depth + 1)

    add("T", "city", None, bbox, 0)
    return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True)
class Scenes:
    """Where incidents happen: near these points (the road nodes of a network)."""

    lon: FloatArray
    lat: FloatArray


@dataclass(frozen=True)
class Prepared:
    """A migrated database holding the county, and how to reach it."""

    backend: str
    url: str
    data_dir: Path
    token: str
    #: Set when the county has the demo's road network: incidents go near its roads.
    scenes: Scenes | None = None


#: How far an incident lies from its road node: up to about 30 m at 47° N (degrees).
JITTER_DEG = 0.0003


def import_demo_network(data_dir: Path) -> Any:
    """The demo county's road network (the bundled OSM extract of Liechtenstein, default
    profile), imported and made current in ``data_dir`` as ``fangkong demo`` does; the
    network (``fangkong.network.service.Network``). Under a second when not cached."""
    from fangkong.demo.build import DEMO_PBF
    from fangkong.network import service as network_service
    from fangkong.network.profile import DEFAULT_PROFILE
    from fangkong.network.store import import_and_activate

    import_and_activate(data_dir, DEMO_PBF, DEFAULT_PROFILE)
    return network_service.current(data_dir)


def network_bbox(graph: Any, margin_deg: float = 0.01) -> tuple[float, float, float, float]:
    """The graph's bounding box grown by ``margin_deg``: the county's areas cover it."""
    return (
        float(graph.lon.min()) - margin_deg,
        float(graph.lat.min()) - margin_deg,
        float(graph.lon.max()) + margin_deg,
        float(graph.lat.max()) + margin_deg,
    )


def reset_postgres(url: str) -> str:
    """Create (if needed) and empty the PostgreSQL database of ``url``; the URL back."""
    from sqlalchemy import make_url, text

    from fangkong.core.db import make_engine

    parsed = make_url(url)
    admin = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    # Dropped and made again, not its schema: dropping a schema locks each of its tables in
    # one transaction, and the partitions of a province's database (thousands, with their
    # indexes) are more than the server's lock table holds ("out of shared memory").
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    return url


def prepare(
    data_dir: Path,
    *,
    postgres_url: str | None = None,
    bbox: tuple[float, float, float, float] = (WEST, SOUTH, EAST, NORTH),
    road_network: bool = False,
) -> Prepared:
    """Migrate a fresh database, load the county over ``bbox`` and issue an admin token.

    ``road_network``: import the demo's road network into ``data_dir`` first, and lay the
    county over it (``bbox`` is then the network's): the server snaps incidents to its
    roads, and the prepared ``scenes`` are its nodes."""
    from sqlalchemy.orm import Session

    from fangkong.areas import service as area_service
    from fangkong.core import auth
    from fangkong.core.audit import SYSTEM
    from fangkong.core.db import make_engine
    from fangkong.core.migrate import upgrade
    from fangkong.core.models import Role

    data_dir.mkdir(parents=True, exist_ok=True)
    scenes = None
    if road_network:
        graph = import_demo_network(data_dir).graph
        bbox = network_bbox(graph)
        scenes = Scenes(
            lon=np.asarray(graph.lon, dtype=np.float64), lat=np.asarray(graph.lat, dtype=np.float64)
        )
    if postgres_url:
        url, backend = reset_postgres(postgres_url), "postgresql"
    else:
        db_file = data_dir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        url, backend = f"sqlite:///{db_file}", "sqlite"
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(bbox), actor=SYSTEM)
        user = auth.create(
            session,
            username=ADMIN,
            display_name="Bench",
            password=ADMIN_PASSWORD,
            role=Role.ADMIN,
            area_codes=["T"],
            actor=SYSTEM,
        )
        _, token = auth.issue_token(session, user=user, name="bench", ttl=None, actor=SYSTEM)
        session.commit()
    engine.dispose()
    return Prepared(backend=backend, url=url, data_dir=data_dir, token=token, scenes=scenes)


POSTGRES_ENV = "FANGKONG_TEST_POSTGRES_URL"


def backends(postgres_url: str | None, *, sqlite_only: bool) -> list[tuple[str, str | None]]:
    """The backends a benchmark runs on, each with its PostgreSQL URL (the database named with
    ``_bench`` appended, which the benchmark empties)."""
    out: list[tuple[str, str | None]] = [("sqlite", None)]
    if postgres_url and not sqlite_only:
        from sqlalchemy import make_url

        parsed = make_url(postgres_url)
        out.append(
            (
                "postgresql",
                parsed.set(database=f"{parsed.database}_bench").render_as_string(
                    hide_password=False
                ),
            )
        )
    elif not sqlite_only:
        print(f"PostgreSQL skipped: set --postgres-url or {POSTGRES_ENV}")
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The app (``serve``) or the bare peer (``serve-bare``) in a child process."""

    def __init__(
        self, prepared: Prepared, *, mode: str = "serve", workers: int = 1, log: Path | None = None
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "FANGKONG_DATA_DIR": str(prepared.data_dir),
            "FANGKONG_DATABASE_URL": prepared.url,
            "FANGKONG_SECRET_KEY": SECRET,
            "FANGKONG_ENVIRONMENT": "test",
        }
        self._log = open(log or os.devnull, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                mode,
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=self._log,
            stderr=self._log,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def cpu_seconds(self) -> float | None:
        """CPU time (user and system) the server's processes (it, its workers and their
        intake writers) have used so far; None where /proc is not there."""

        def stat(pid: str) -> list[str] | None:
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                    return f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                return None

        root = str(self.process.pid)
        try:
            entries = [e for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return None
        by_pid = {e: st for e in entries if (st := stat(e)) is not None}
        tree, grown = {root}, True
        while grown:
            more = {pid for pid, st in by_pid.items() if st[1] in tree} - tree
            tree |= more
            grown = bool(more)
        stats = [st for pid, st in by_pid.items() if pid in tree]
        ticks = sum(int(st[11]) + int(st[12]) for st in stats)
        return ticks / os.sysconf("SC_CLK_TCK") if stats else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# ---- the load generator -----------------------------------------------------------------------


@dataclass
class Load:
    """What a run measured: per-request latency (s) and the status codes."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    #: The latencies of the answers of each status.
    by_status: dict[int, list[float]] = field(default_factory=dict)
    errors: int = 0
    unsent: int = 0
    seconds: float = 0.0
    target_rate: float | None = None
    #: Share of the machine's CPU time its hypervisor took during the run (steal), in %;
    #: None where /proc/stat is not there. A run with much steal measured a slower machine.
    steal_pct: float | None = None
    #: The largest share of steal in any window of ``STEAL_WINDOW_S`` during the run, in %:
    #: the mean hides a moment when the hypervisor took the machine from every process.
    peak_steal_pct: float | None = None
    #: CPU seconds the server used during the run (see :meth:`Server.cpu_seconds`).
    server_cpu_s: float | None = None
    #: CPU seconds the load generator used during the run: on the same machine, it is CPU
    #: the server did not have.
    client_cpu_s: float | None = None

    @property
    def cpu_ms_per_ok(self) -> float | None:
        """The server's CPU time per 2xx answer (ms)."""
        if self.server_cpu_s is None or not self.ok:
            return None
        return self.server_cpu_s / self.ok * 1e3

    @property
    def client_ms_per_request(self) -> float | None:
        """The load generator's CPU time per answer, whatever its status (ms)."""
        answered = len(self.latencies)
        if self.client_cpu_s is None or not answered:
            return None
        return self.client_cpu_s / answered * 1e3

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def record(self, status: int, latency_s: float) -> None:
        """One answer: its status and how long it took (s)."""
        self.latencies.append(latency_s)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.by_status.setdefault(status, []).append(latency_s)

    def quantile_ms(self, q: float, status: int | None = None) -> float:
        """The ``q`` quantile of the latencies (ms), of the answers with ``status`` if given."""
        latencies = self.latencies if status is None else self.by_status.get(status, [])
        if not latencies:
            return float("nan")
        return float(np.quantile(np.asarray(latencies), q) * 1e3)


def incident_body(i: int, rng: np.random.Generator, scenes: Scenes | None = None) -> dict[str, Any]:
    """A valid incident: near a random one of ``scenes``, else anywhere in the default county
    (the grids cover it all)."""
    if scenes is None:
        lon = float(rng.uniform(WEST + 1e-4, EAST - 1e-4))
        lat = float(rng.uniform(SOUTH + 1e-4, NORTH - 1e-4))
    else:
        at = int(rng.integers(scenes.lon.size))
        lon = float(scenes.lon[at] + rng.uniform(-JITTER_DEG, JITTER_DEG))
        lat = float(scenes.lat[at] + rng.uniform(-JITTER_DEG, JITTER_DEG))
    return {
        "category": "public_order",
        "subtype": "fight",
        "priority": "P2",
        "source": "call",
        "lon": lon,
        "lat": lat,
        "description": f"bench incident {i}",
        "caller_contact": "13912345678",
    }


def _request(path: str, token: str, key: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection of the load generator, as a protocol rather than a stream: a
    stream's reads are coroutines and futures per answer, whose CPU the server's machine paid
    too. :meth:`send` writes a request; ``on_answer`` is called with the connection and the
    status once the whole answer is in, or with None if the connection was lost meanwhile."""

    def __init__(self, on_answer: Callable[[_Connection, int | None], None]) -> None:
        self._on_answer = on_answer
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        #: When the request in flight counts from (its send, or its scheduled moment).
        self.since = 0.0
        self.busy = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def send(self, payload: bytes, since: float) -> None:
        assert self._transport is not None
        self.since, self.busy = since, True
        self._transport.write(payload)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while self.busy:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(buffer) < end + 4 + length:
                return
            del buffer[: end + 4 + length]
            self.busy = False
            self._on_answer(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self._on_answer(self, None)


def _keep_running(tasks: set[asyncio.Task[None]], run: Coroutine[Any, Any, None]) -> None:
    """Start ``run`` as a task held in ``tasks`` until it ends: the loop keeps only a weak
    reference to a task, and one collected mid-run would never finish."""
    task = asyncio.get_running_loop().create_task(run)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _connect(port: int, on_answer: Callable[[_Connection, int | None], None]) -> _Connection:
    _, connection = await asyncio.get_running_loop().create_connection(
        lambda: _Connection(on_answer), "127.0.0.1", port
    )
    return connection


def _payloads(
    path: str, token: str, prefix: str, count: int, seed: int, scenes: Scenes | None
) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [
        _request(
            path, token, f"{prefix}-{i}", json.dumps(incident_body(i, rng, scenes)).encode("utf-8")
        )
        for i in range(count)
    ]


async def _closed_loop(
    port: int,
    payloads: list[bytes],
    concurrency: int,
    duration_s: float,
    load: Load,
    clock: Clock = time.perf_counter,
) -> None:
    """``concurrency`` connections, each sending its next request as soon as one is answered.

    ``clock``: what latencies and the phase's end are read from (a test gives its loop's)."""
    loop = asyncio.get_running_loop()
    queue = iter(payloads)
    done = loop.create_future()
    running = concurrency
    stop_at = clock() + duration_s

    def send_next(connection: _Connection) -> None:
        nonlocal running
        payload = next(queue, None) if clock() < stop_at else None
        if payload is None:
            connection.close()
            running -= 1
            if not running:
                done.set_result(None)
            return
        connection.send(payload, clock())

    async def reconnect() -> None:
        send_next(await _connect(port, on_answer))

    tasks: set[asyncio.Task[None]] = set()

    def on_answer(connection: _Connection, status: int | None) -> None:
        if status is None:
            load.errors += 1
            _keep_running(tasks, reconnect())
            return
        load.record(status, clock() - connection.since)
        send_next(connection)

    connections = [await _connect(port, on_answer) for _ in range(concurrency)]
    started = clock()
    for connection in connections:
        send_next(connection)
    await done
    load.seconds = clock() - started


async def _open_loop(
    port: int,
    payloads: list[bytes],
    rate: float,
    duration_s: float,
    load: Load,
    max_connections: int = 12,
    clock: Clock = time.perf_counter,
) -> None:
    """Requests sent on a fixed schedule (``rate`` per second); latency counts from the
    scheduled moment, so that a stalled server is not hidden by a client that waits.

    At most ``max_connections`` are in flight (the rest wait their turn on the client, their
    wait counted). The default, 12, stays under a connection pool's 15: the bare peer holds a
    pooled connection per request in flight, and more would wait for the pool's 30 s timeout
    (fangkong's intake takes none in the server's process). A request still waiting
    ``UNSENT_AFTER_S`` after the phase's end is given up and counted as unsent. ``clock``: what
    latencies and the schedule are read from (a test gives its event loop's, whose timers
    keep the schedule)."""
    loop = asyncio.get_running_loop()
    count = min(len(payloads), int(rate * duration_s))
    load.target_rate = rate
    due: deque[tuple[bytes, float]] = deque()
    idle: list[_Connection] = []
    connections = 0  # open or opening
    opening = 0
    tasks: set[asyncio.Task[None]] = set()
    settled = 0
    done = loop.create_future()
    scheduled = 0
    started = clock()
    give_up_at = started + duration_s + UNSENT_AFTER_S

    def settle(n: int = 1) -> None:
        nonlocal settled
        settled += n
        if settled == count:
            done.set_result(None)

    def pump() -> None:
        nonlocal connections, opening
        if due and clock() > give_up_at:
            load.unsent += len(due)
            settle(len(due))
            due.clear()
        while due:
            # The server closes a connection left idle past its keep-alive (5 s).
            while idle and idle[-1].closed:
                idle.pop()
                connections -= 1
            if idle:
                payload, since = due.popleft()
                # From when it was due; one sent early (see tick) from when it was sent.
                idle.pop().send(payload, min(since, clock()))
            else:
                while connections < max_connections and opening < len(due):
                    connections += 1
                    opening += 1
                    _keep_running(tasks, open_one())
                return

    async def open_one() -> None:
        nonlocal connections, opening
        try:
            idle.append(await _connect(port, on_answer))
        except OSError:
            connections -= 1
            load.errors += 1
            if due:
                due.popleft()
                settle()
        finally:
            opening -= 1
        pump()

    def on_answer(connection: _Connection, status: int | None) -> None:
        nonlocal connections
        if status is None:
            load.errors += 1
            connections -= 1
        else:
            load.record(status, clock() - connection.since)
            idle.append(connection)
        settle()
        pump()

    def tick() -> None:
        nonlocal scheduled
        # The loop's timers keep milliseconds: a request due within one is sent now.
        now = clock() + TIMER_RESOLUTION_S
        while scheduled < count and started + scheduled / rate <= now:
            due.append((payloads[scheduled], started + scheduled / rate))
            scheduled += 1
        pump()
        if scheduled < count:
            loop.call_later(started + scheduled / rate - clock(), tick)
        else:
            loop.call_later(max(0.0, give_up_at - clock()) + 0.01, pump)

    if count:
        tick()
        await done
    load.seconds = clock() - started
    for connection in idle:
        connection.close()


def _cpu_ticks() -> tuple[int, int] | None:
    """(steal, all) CPU ticks of the machine so far, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(t) for t in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def _steal_pct(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the CPU ticks between two :func:`_cpu_ticks` that were steal, in %."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


#: The window of :attr:`Load.peak_steal_pct` (s): 50 of /proc/stat's ticks on two CPUs.
STEAL_WINDOW_S = 0.25


async def _sample_steal(load: Load) -> None:
    """Until cancelled, the steal of each window of about ``STEAL_WINDOW_S`` (a late
    wake-up makes a longer one), the worst kept in ``load``; a task of the client's own loop,
    so that no thread of the client competes for its interpreter."""
    last = _cpu_ticks()
    while last is not None:
        await asyncio.sleep(STEAL_WINDOW_S)
        now = _cpu_ticks()
        share = _steal_pct(last, now)
        if share is not None:
            load.peak_steal_pct = max(share, load.peak_steal_pct or 0.0)
        last = now


async def _with_steal_sampled(run: Coroutine[Any, Any, None], load: Load) -> None:
    sampler = asyncio.create_task(_sample_steal(load))
    try:
        await run
    finally:
        sampler.cancel()


@contextmanager
def _client_collector_off() -> Iterator[None]:
    """No cyclic garbage collection in the client while it loads a server. The client holds
    what ``prepare`` loaded (the road network, the app's modules): a full collection of it
    took over 100 ms (seen with a ``gc.callbacks`` hook), and the requests due meanwhile went
    late, which the open loop counts as the server's latency. What is there before is
    frozen, and what the load makes is collected after it."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


def run_load(
    port: int,
    *,
    path: str,
    token: str,
    prefix: str,
    duration_s: float,
    concurrency: int | None = None,
    rate: float | None = None,
    seed: int = 1,
    max_count: int = 200_000,
    scenes: Scenes | None = None,
    max_connections: int = 12,
) -> Load:
    """A closed-loop run (``concurrency``) or an open-loop run at ``rate`` per second on at
    most ``max_connections``, of incidents near ``scenes`` (see :func:`incident_body`)."""
    count = min(max_count, int((rate or 2_000) * duration_s) + 1)
    payloads = _payloads(path, token, prefix, count, seed, scenes)
    load = Load()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    before = _cpu_ticks()
    with _client_collector_off():
        cpu_before = time.process_time()
        if rate is not None:
            runner(
                _with_steal_sampled(
                    _open_loop(port, payloads, rate, duration_s, load, max_connections), load
                )
            )
        else:
            runner(
                _with_steal_sampled(
                    _closed_loop(port, payloads, concurrency or 8, duration_s, load), load
                )
            )
        load.client_cpu_s = time.process_time() - cpu_before
    load.steal_pct = _steal_pct(before, _cpu_ticks())
    return load


async def _gets(port: int, requests: list[bytes], load: Load) -> None:
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[int | None] = loop.create_future()

    def on_answer(_connection: _Connection, status: int | None) -> None:
        answered.set_result(status)

    connection = await _connect(port, on_answer)
    started = time.perf_counter()
    for payload in requests:
        connection.send(payload, time.perf_counter())
        status = await answered
        if status is None:
            raise ConnectionError("the server closed the connection")
        answered = loop.create_future()
        load.record(status, time.perf_counter() - connection.since)
    load.seconds = time.perf_counter() - started
    connection.close()


def run_gets(port: int, paths: list[str], token: str) -> Load:
    """GET each path in turn on one keep-alive connection: the latency of each answer."""
    requests = [
        (f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n").encode(
            "ascii"
        )
        for p in paths
    ]
    load = Load()
    with _client_collector_off():
        asyncio.run(_gets(port, requests, load))
    return load


# ---- the server processes -------------------------------------------------------------------


def bare_table(engine: Any) -> Any:
    """The peers' table: an incident's columns, a unique key, no index, audit or areas
    (created in ``engine``'s database if missing)."""
    from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

    meta = MetaData()
    table = Table(
        BARE_TABLE,
        meta,
        Column("id", Integer, primary_key=True),
        Column("idempotency_key", String(64), unique=True),
        Column("category", String(32)),
        Column("subtype", String(32)),
        Column("priority", String(4)),
        Column("lon", Float),
        Column("lat", Float),
        Column("description", Text),
    )
    meta.create_all(engine)
    return table


def _bare_app() -> Any:
    """The peer: one INSERT of the same columns and a commit per request, nothing else."""
    from fastapi import FastAPI, Header
    from sqlalchemy import insert

    from fangkong.core.config import Settings
    from fangkong.core.db import make_engine

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    table = bare_table(engine)
    app = FastAPI()

    @app.post("/api/v1/incidents", status_code=201)
    def create(
        body: dict[str, Any], idempotency_key: str | None = Header(default=None)
    ) -> dict[str, Any]:
        with engine.begin() as conn:
            row = conn.execute(
                insert(table)
                .values(
                    idempotency_key=idempotency_key,
                    category=body["category"],
                    subtype=body["subtype"],
                    priority=body["priority"],
                    lon=body["lon"],
                    lat=body["lat"],
                    description=body["description"],
                )
                .returning(table.c.id)
            ).one()
        return {"id": row[0], **body}

    return app


def app_factory() -> Any:
    """The real app over the settings in the environment (for uvicorn's workers)."""
    from fangkong.core.config import Settings
    from fangkong.web.app import create_app

    return create_app(Settings())


#: A collection of the server's objects at least this long is logged (seconds).
GC_PAUSE_LOGGED_S = 0.005


def _log_collector_pauses() -> None:
    """Log each of the server's garbage collections that stalls it for at least
    ``GC_PAUSE_LOGGED_S``: a pause of the whole process is a tail of every request in
    flight, and the log says when and which generation."""
    import logging

    log = logging.getLogger("fangkong.benchmark.gc")
    started: list[float] = []

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            pause = time.perf_counter() - started[0]
            if pause >= GC_PAUSE_LOGGED_S:
                log.info(
                    "collection of generation %d: %.1f ms, %d collected",
                    info["generation"],
                    pause * 1e3,
                    info["collected"],
                )

    gc.callbacks.append(timed)


def _serve(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "serve-bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    import uvicorn

    if args.mode == "serve-bare":
        uvicorn.run(
            _bare_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
        )
        return
    # The app's own log as `fangkong serve` writes it (its background jobs and their seconds),
    # each line timed, into the server's log file (``--keep``): what ran while it was measured.
    from fangkong.cli import server_log_config

    log_config = server_log_config()
    log_config["formatters"]["default"]["fmt"] = "%(asctime)s %(levelprefix)s %(message)s"
    _log_collector_pauses()
    if args.workers > 1:
        # Workers import the app by name; this script's folder is on their sys.path.
        uvicorn.run(
            "_server:app_factory",
            factory=True,
            host="127.0.0.1",
            port=args.port,
            workers=args.workers,
            log_level="warning",
            log_config=log_config,
            access_log=False,
        )
        return
    uvicorn.run(
        app_factory(),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        log_config=log_config,
        access_log=False,
    )


if __name__ == "__main__":
    _serve(sys.argv[1:])
