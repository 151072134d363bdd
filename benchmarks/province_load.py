"""One county's live map, intake and indicator dashboard with a hundred counties in PostgreSQL.

Issue 23: "a bounded loopback load test with 100 counties' worth of data (generated): the live
map, intake and the indicator dashboard for one county stay within their single-county
figures."

Two PostgreSQL databases are generated (``_province_data``: areas, posts, units, a period of
incidents with their events, cases, audit events, devices with their status history, ledger
movements; bulk inserts, one transaction per county, seeded per county): *one*, holding county
``C000`` alone, and *many*, holding ``C000`` and ``--counties - 1`` others. ``C000`` is the
same in both. A real server (the app under uvicorn, ``_server.Server``, one process each) runs
on each, both at once on loopback, and a commander whose areas are ``C000`` only is measured
on both, in alternating rounds so that the machine's drift falls on both alike:

- **live map**: what the command map reads (``GET /api/v1/dispatch/live``, the snapshot its
  stream starts with and the polling peer reads every second; ``/dispatch/alerts``;
  ``/cases/map``; ``/areas/geojson?level=grid``), each ``--reps`` times in turn per round;
- **dashboard**: the indicator dashboard of last month (``GET /api/v1/indicators/grid`` and the
  page ``GET /indicators``, from the figure store) and this month's figures computed anew
  (``POST /api/v1/indicators/compute``, what a stale store costs its first reader);
- **intake**: ``POST /api/v1/incidents`` in an open loop at ``--rate`` per second for
  ``--duration`` seconds (as ``dispatch_intake.py``: latency from the scheduled moment);
- **audit**: the audit list of an evaluator of ``C000`` (``GET /api/v1/audit``: their
  county's events and their own, wherever filed).

Each endpoint's p50, p99 and throughput (2xx per second; for the reads, one client in turn)
on both, and the ratio many / one. Goal: every endpoint's p99 within ``TOLERANCE`` (1.25x) of
its single-county p99. Then each database's size, its largest tables, each server's memory,
and the machine's load average.

Usage::

    python benchmarks/province_load.py            # 100 counties of FULL size (about 10 min
                                                  # to generate on 2 cores), 3 rounds
    python benchmarks/province_load.py --quick    # 20 counties of QUICK size: under 5 min
    python benchmarks/province_load.py --smoke    # 3 counties of SMOKE size: what was
                                                  # written and answered checked, nothing timed

PostgreSQL only: ``--postgres-url`` or ``FANGKONG_TEST_POSTGRES_URL`` (its database name with
``_load1`` and ``_loadn`` appended; both are emptied). Without one the run is skipped with a
message.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _province_data as data
import numpy as np
from _server import POSTGRES_ENV, Prepared, Scenes, Server, reset_postgres, run_load

#: The application's role (no superuser: row-level security applies), as the tests take it.
APP_ENV = "FANGKONG_TEST_POSTGRES_APP_URL"
#: The goal: each endpoint's p99 with many counties at most this many times its p99 alone.
TOLERANCE = 1.25
#: An intake answer this late (s) is counted in its round's line of the report.
LATE_S = 0.05
COMMANDER, COMMANDER_PASSWORD = "load_commander", "harbour-violet-4417"
#: Who reads the audit log (a commander may not): an evaluator of the same county.
EVALUATOR, EVALUATOR_PASSWORD = "load_evaluator", "harbour-violet-4418"
#: The reads made as the evaluator (name prefix); the others as the commander.
AS_EVALUATOR = "audit:"
MEASURED = data.county_code(0)
SETTLED = (
    "the cases' deadline tick and VACUUM (ANALYZE) after the load, CHECKPOINT before measuring"
)
UNSETTLED = "measured right after the bulk load (--no-settle)"
INTAKE = "/api/v1/incidents"


def _months(now: datetime) -> tuple[str, str]:
    """This month and last month (``YYYY-MM``) in the app's zone (Asia/Shanghai)."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    last = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{local:%Y-%m}", f"{last[0]:04d}-{last[1]:02d}"


def _reads(now: datetime) -> list[tuple[str, str, str]]:
    """(name, method, path) of what is measured by request, in the order of a round."""
    this_month, last_month = _months(now)
    return [
        ("map: dispatch/live", "GET", "/api/v1/dispatch/live"),
        ("map: dispatch/alerts", "GET", "/api/v1/dispatch/alerts"),
        ("map: cases/map", "GET", "/api/v1/cases/map"),
        ("map: areas/geojson grid", "GET", "/api/v1/areas/geojson?level=grid"),
        ("dashboard: indicators/grid", "GET", f"/api/v1/indicators/grid?period={last_month}"),
        ("dashboard: page", "GET", f"/indicators?period={last_month}&lang=en"),
        ("dashboard: compute month", "POST", f"/api/v1/indicators/compute?period={this_month}"),
        # A named reader's list: their county's events and their own, wherever filed.
        ("audit: list", "GET", "/api/v1/audit?limit=200"),
    ]


@dataclass
class Side:
    """One database and what was measured on it."""

    name: str
    counties: int
    prepared: Prepared
    generated: data.Generated
    #: The database as its owner (``prepared.url``: as the server connects).
    owner_url: str
    #: This run's part of the intake's idempotency keys (a run ``--again`` adds its own).
    run_tag: str = ""
    #: The evaluator's bearer token (the reads named ``AS_EVALUATOR...``).
    evaluator_token: str = ""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: The intake phases' unsent and transport errors.
    intake_lost: int = 0
    #: Each intake round's worst answer (s), its answers over ``LATE_S`` and the machine's
    #: worst CPU steal (%) in a window of it: a round's tail beside what the machine did.
    intake_rounds: list[tuple[float, int, float | None]] = field(default_factory=list)
    rss_mib: float | None = None
    db_bytes: int = 0
    largest: list[tuple[str, int]] = field(default_factory=list)

    def token_for(self, read: str) -> str:
        return self.evaluator_token if read.startswith(AS_EVALUATOR) else self.prepared.token

    def record(self, name: str, status: int, latency_s: float) -> None:
        self.latencies.setdefault(name, []).append(latency_s)
        counts = self.statuses.setdefault(name, {})
        counts[status] = counts.get(status, 0) + 1

    def ok(self, name: str) -> int:
        return sum(n for s, n in self.statuses.get(name, {}).items() if 200 <= s < 300)

    def quantile_ms(self, name: str, q: float) -> float:
        values = self.latencies.get(name, [])
        return float(np.quantile(values, q) * 1e3) if values else float("nan")

    def throughput(self, name: str) -> float:
        seconds = self.seconds.get(name, 0.0)
        return self.ok(name) / seconds if seconds else 0.0


def prepare_side(
    name: str,
    url: str,
    counties: int,
    size: data.Size,
    workdir: Path,
    *,
    now: datetime,
    app_url: str | None = None,
    again: bool = False,
) -> Side:
    """Empty and migrate the database, generate ``counties`` counties, and give ``C000``'s
    commander a bearer token; the intake's scenes are points inside ``C000``. ``app_url``:
    the application's role (granted what the app needs here), which the server then
    connects as, under row-level security, as deployed; else the server is the owner.
    ``again``: the database a run left instead, migrated to the head (what changed in the
    code since is measured on the same rows), and a new token."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangkong.core import auth
    from fangkong.core.audit import SYSTEM
    from fangkong.core.db import make_engine
    from fangkong.core.migrate import upgrade
    from fangkong.core.models import Role, User

    if not again:
        reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    if again:
        generated = _left(url, counties, size)
    else:
        print(f"{name}: generating {counties} counties", flush=True)
        generated = data.generate(url, counties, size, now=now, progress=print)
    engine = make_engine(url)
    with Session(engine) as session:

        def token_of(username: str, password: str, role: Role, *, left: bool) -> str:
            """A bearer token of ``username`` of ``MEASURED``, made first unless ``left`` (a
            run before made it; a reader added since is made where missing)."""
            user = session.scalars(select(User).where(User.username == username)).first()
            if user is None:
                if left:
                    raise RuntimeError(f"{name}: {username} is not in the database left")
                user = auth.create(
                    session,
                    username=username,
                    display_name=username,
                    password=password,
                    role=role,
                    area_codes=[MEASURED],
                    actor=SYSTEM,
                )
            _, token = auth.issue_token(
                session, user=user, name=f"load {now:%Y-%m-%d %H:%M:%S}", ttl=None, actor=SYSTEM
            )
            return token

        token = token_of(COMMANDER, COMMANDER_PASSWORD, Role.COMMANDER, left=again)
        evaluator_token = token_of(EVALUATOR, EVALUATOR_PASSWORD, Role.EVALUATOR, left=False)
        session.commit()
    engine.dispose()
    rng = np.random.default_rng(7)
    west, south, east, north = data.county_bbox(0)
    scenes = Scenes(
        lon=rng.uniform(west + 0.002, east - 0.002, 2_000),
        lat=rng.uniform(south + 0.002, north - 0.002, 2_000),
    )
    side_dir = workdir / name
    side_dir.mkdir(parents=True, exist_ok=True)
    serve_url = url
    if app_url:
        from sqlalchemy import make_url

        from fangkong.core import db_postgresql

        app = make_url(app_url).set(database=make_url(url).database)
        engine = make_engine(url)
        with engine.begin() as conn:
            db_postgresql.grant_app_role(conn, str(app.username))
        engine.dispose()
        serve_url = app.render_as_string(hide_password=False)
    prepared = Prepared(
        backend="postgresql", url=serve_url, data_dir=side_dir, token=token, scenes=scenes
    )
    return Side(
        name=name,
        counties=counties,
        prepared=prepared,
        generated=generated,
        owner_url=url,
        run_tag=f"{now:%H%M%S}" if again else "",
        evaluator_token=evaluator_token,
    )


def _left(url: str, counties: int, size: data.Size) -> data.Generated:
    """What the database a run left holds, for ``--again``; refused where it is not there or
    holds another number of counties (the comparison would not be the one asked for)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from fangkong.core.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            held = conn.execute(text("SELECT count(*) FROM area WHERE level = 'district'"))
            roots = int(held.scalar_one())
            rows = {
                table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("incident", "incident_event", "audit_event")
            }
    except OperationalError as exc:
        raise SystemExit(f"--again: no database a run left at {url}: {exc.orig}") from exc
    finally:
        engine.dispose()
    if roots != counties:
        raise SystemExit(
            f"--again: the database holds {roots} counties, not {counties}: run without --again"
        )
    return data.Generated(
        counties=counties, size=size, rows=rows, by_county={}, seconds=0.0, peak_rss_mib=0.0
    )


def settle(side: Side) -> float:
    """What an operator does after a bulk load (docs/deployment.md, section 9): ``VACUUM
    (ANALYZE)`` of the database, as its owner, so that the rows just written are frozen and
    counted before the first requests rather than by autovacuum under them; its seconds."""
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    t0 = time.perf_counter()
    engine = make_engine(side.owner_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()
    return time.perf_counter() - t0


def catch_up(side: Side) -> float:
    """The leader's deadline tick once before the servers start, as an operator runs it
    after a bulk load (``fangkong cases tick``): the generated cases past their deadlines are
    flagged now, not by the measured server's first tick, which runs at its start in the
    server's own process (at 100 counties about 200 s for that first tick on this machine,
    then about 1.5 s a tick); its seconds."""
    from sqlalchemy.orm import sessionmaker

    from fangkong.cases import jobs
    from fangkong.cases.calendar import load_calendar
    from fangkong.core.db import make_engine

    t0 = time.perf_counter()
    engine = make_engine(side.owner_url)
    calendar = load_calendar(side.prepared.data_dir)
    jobs.run_tick(sessionmaker(engine), calendar=calendar)
    engine.dispose()
    return time.perf_counter() - t0


def checkpoint(url: str) -> str:
    """``CHECKPOINT`` before measuring (the bulk load's dirty pages written now, not by the
    checkpointer during the run): what it took, or why it could not (a superuser or a member
    of ``pg_checkpoint`` only)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from fangkong.core.db import make_engine

    t0 = time.perf_counter()
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
    except DBAPIError as refused:
        return f"refused ({str(refused.orig).splitlines()[0]})"
    finally:
        engine.dispose()
    return f"{time.perf_counter() - t0:.1f} s"


def _request(
    conn: http.client.HTTPConnection, token: str, method: str, path: str
) -> tuple[int, float]:
    """One request on a keep-alive connection: its status and seconds."""
    t0 = time.perf_counter()
    conn.request(
        method, path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    answer = conn.getresponse()
    answer.read()
    return answer.status, time.perf_counter() - t0


def _connect(srv: Server) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)


def measure_reads(
    servers: dict[str, Server], sides: list[Side], reads: list[tuple[str, str, str]], reps: int
) -> None:
    """Each read ``reps`` times on each side, request by request in turn (one, many, many,
    one, ...), each side on its own keep-alive connection: a moment when the shared machine
    is slow falls on both alike. A side's throughput is its answers over the time they took
    (one client)."""
    for name, method, path in reads:
        # The figures computed anew cost a second or so: fewer of them.
        n = max(1, reps // 5) if method == "POST" else reps
        conns = {side.name: _connect(servers[side.name]) for side in sides}
        try:
            for rep in range(n):
                for side in sides if rep % 2 == 0 else sides[::-1]:
                    status, latency = _request(conns[side.name], side.token_for(name), method, path)
                    side.record(name, status, latency)
                    side.seconds[name] = side.seconds.get(name, 0.0) + latency
        finally:
            for conn in conns.values():
                conn.close()


def close_intake(side: Side) -> None:
    """Close the incidents the intake phases recorded (SQL, the harness's clean-up): the live
    map shows the county's own open incidents in every round, not a growing pile of these."""
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    engine = make_engine(side.owner_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE incident SET status = 'closed', closed_at = now(), updated_at = now() "
                "WHERE idempotency_key LIKE :k AND status = 'received'"
            ),
            {"k": f"{side.name}-{side.run_tag}r%"},
        )
    engine.dispose()


def measure_intake(
    srv: Server, side: Side, *, rate: float, duration_s: float, round_no: int
) -> None:
    name = f"intake: POST incidents {rate:.0f}/s"
    load = run_load(
        srv.port,
        path=INTAKE,
        token=side.prepared.token,
        prefix=f"{side.name}-{side.run_tag}r{round_no}",
        duration_s=duration_s,
        rate=rate,
        seed=100 + round_no,
        scenes=side.prepared.scenes,
    )
    for status, latencies in load.by_status.items():
        for latency in latencies:
            side.record(name, status, latency)
    side.seconds[name] = side.seconds.get(name, 0.0) + load.seconds
    side.intake_lost += load.unsent + load.errors
    side.intake_rounds.append(
        (
            max(load.latencies, default=0.0),
            sum(latency > LATE_S for latency in load.latencies),
            load.peak_steal_pct,
        )
    )


def _warm(
    srv: Server, side: Side, reads: list[tuple[str, str, str]], *, rate: float | None
) -> None:
    """One request of each read (the area index, the pools, last month's figures stored) and
    a second of intake at ``rate`` (not recorded; closed with the first round's)."""
    for name, method, path in reads:
        conn = _connect(srv)
        try:
            status, _ = _request(conn, side.token_for(name), method, path)
        finally:
            conn.close()
        if not 200 <= status < 300:
            raise RuntimeError(f"{side.name}: {method} {path} answered {status}")
    if rate is None:
        return
    load = run_load(
        srv.port,
        path=INTAKE,
        token=side.prepared.token,
        prefix=f"{side.name}-{side.run_tag}r-warm",
        duration_s=1.0,
        rate=rate,
        scenes=side.prepared.scenes,
    )
    if load.unsent + load.errors:
        raise RuntimeError(f"{side.name}: the intake's warm-up lost {load.unsent + load.errors}")


def _steady(started: float) -> float:
    """Wait until the servers have set aside what their first requests built from the
    garbage collector (``core.jobs.CollectorSetAside``, its first time after the start), as
    a server that has run a minute has: measured after, a full collection pauses a few
    milliseconds, before it some 50 ms, on whichever request is in flight. Its seconds."""
    from fangkong.core.jobs import SET_ASIDE_AFTER_S

    wait = max(0.0, SET_ASIDE_AFTER_S[0] + 2.0 - (time.monotonic() - started))
    time.sleep(wait)
    return wait


def _rss_mib(pid: int) -> float | None:
    """Resident memory of a process and its children (MiB), from /proc."""
    total, found = 0, False
    pids = [str(pid)]
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                        if f.read().rsplit(")", 1)[1].split()[1] == str(pid):
                            pids.append(entry)
                except (OSError, IndexError):
                    continue
        for p in pids:
            with open(f"/proc/{p}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        found = True
    except OSError:
        return None
    return total / 1024 if found else None


def _sizes(side: Side) -> None:
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    engine = make_engine(side.owner_url)
    with engine.connect() as conn:
        side.db_bytes = int(
            conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )
        side.largest = [
            (str(r[0]), int(r[1]))
            for r in conn.execute(
                # (a partitioned table's size: its partitions', which are not listed apart)
                text(
                    "SELECT relname, CASE WHEN c.relkind = 'p' THEN (SELECT "
                    "sum(pg_total_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t) "
                    "ELSE pg_total_relation_size(c.oid) END FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
                    "AND NOT c.relispartition ORDER BY 2 DESC LIMIT 6"
                )
            )
        ]
    engine.dispose()


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def report(one: Side, many: Side, names: list[str]) -> bool:
    """The side-by-side table and the goal line; whether the goal is met."""
    print(
        f"\n{'endpoint':<30} {'1: p50':>8} {'p99':>8} {'/s':>7}   {'N: p50':>8} {'p99':>8} "
        f"{'/s':>7}   {'p50 N/1':>7} {'p99 N/1':>7}  {'n':>5}"
    )
    met = True
    for name in names:
        a50, a99 = one.quantile_ms(name, 0.5), one.quantile_ms(name, 0.99)
        b50, b99 = many.quantile_ms(name, 0.5), many.quantile_ms(name, 0.99)
        r50 = b50 / a50 if a50 else float("nan")
        r99 = b99 / a99 if a99 else float("nan")
        within = r99 <= TOLERANCE
        met = met and within
        print(
            f"{name:<30} {a50:>8.1f} {a99:>8.1f} {one.throughput(name):>7.1f}   {b50:>8.1f} "
            f"{b99:>8.1f} {many.throughput(name):>7.1f}   {r50:>7.2f} {r99:>7.2f}  "
            f"{len(many.latencies.get(name, [])):>5}{'' if within else '  <- over'}"
        )
    for side in (one, many):
        bad = {
            name: {s: n for s, n in counts.items() if not 200 <= s < 300}
            for name, counts in side.statuses.items()
        }
        bad = {k: v for k, v in bad.items() if v}
        if bad or side.intake_lost:
            print(f"  {side.name}: non-2xx {bad}, intake unsent or failed {side.intake_lost}")
            met = False
    print(
        f"\nintake rounds (worst answer ms, answers over {LATE_S * 1e3:.0f} ms, peak CPU steal %):"
    )
    for side in (one, many):
        rounds = "; ".join(
            f"{worst * 1e3:.0f}, {late}, {'n/a' if steal is None else f'{steal:.0f}'}"
            for worst, late, steal in side.intake_rounds
        )
        print(f"  {side.name}: {rounds}")
    print("\nsize and memory:")
    for side in (one, many):
        gen = side.generated
        largest = ", ".join(f"{t} {b / 2**20:.0f}" for t, b in side.largest)
        rss = "n/a" if side.rss_mib is None else f"{side.rss_mib:.0f} MiB"
        print(
            f"  {side.name}: {side.counties} counties, {sum(gen.rows.values()):,} rows "
            f"(incidents {gen.rows.get('incident', 0):,}, events "
            f"{gen.rows.get('incident_event', 0):,}, audit {gen.rows.get('audit_event', 0):,}) "
            f"generated in {gen.seconds:.0f} s (generator peak RSS {gen.peak_rss_mib:.0f} MiB); "
            f"database {side.db_bytes / 2**20:.0f} MiB (largest, MiB: {largest}); "
            f"server RSS {rss}"
        )
    print(
        f"\ngoal (each endpoint's p99 with {many.counties} counties within {TOLERANCE:.2f}x its "
        f"p99 with one): {'met' if met else 'MISSED'}"
    )
    return met


def _names(reads: list[tuple[str, str, str]], rate: float) -> list[str]:
    return [n for n, _, _ in reads] + [f"intake: POST incidents {rate:.0f}/s"]


def smoke_checks(one: Side, many: Side) -> list[str]:
    """What the smoke run checks: the census of each database is what the generator says
    it wrote, every county alike and nothing outside one; the commander's live map holds
    exactly C000's open incidents on both; every request answered 2xx and every intake
    answered 201 is stored under C000."""
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    failures = []
    for side in (one, many):
        intake = next(n for n in side.statuses if n.startswith("intake"))
        found = data.census(side.owner_url)
        counties = sorted(c for c in found if c != "-")
        if counties != [data.county_code(k) for k in range(side.counties)]:
            failures.append(f"{side.name}: counties {counties}")
        # (audit events of no county: the province root's import, the server's own)
        strays = {t: n for t, n in found.get("-", {}).items() if t != "audit_event"}
        if strays:
            failures.append(f"{side.name}: rows under no county: {strays}")
        for code in counties:
            rows = {t: n for t, n in found[code].items() if t != "area"}
            written = side.generated.by_county.get(code, {})
            # the county's own audit events: one per incident and case, one for its areas
            expected = {**written, "audit_event": written.get("audit_event", 0) + 1}
            if code == MEASURED:
                # + each intake answered 2xx (its incident and its first event); the audit
                # also holds the commander's and the requests' events
                expected["incident"] += side.ok(intake)
                expected["incident_event"] += side.ok(intake)
                expected["audit_event"] = rows.get("audit_event", 0)
            if rows != expected:
                failures.append(f"{side.name} {code}: {rows} != {expected}")
        for name, counts in side.statuses.items():
            odd = {s: n for s, n in counts.items() if not 200 <= s < 300}
            if odd or not counts:
                failures.append(f"{side.name} {name}: {counts}")
        engine = make_engine(side.owner_url)
        with engine.connect() as conn:
            path = conn.execute(
                text("SELECT path FROM area WHERE code = :c"), {"c": MEASURED}
            ).scalar_one()
            stored = conn.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE area_path LIKE :p) FROM incident "
                    "WHERE idempotency_key LIKE :k"
                ),
                {"p": f"{path}%", "k": f"{side.name}-r%"},
            ).one()
            open_here = conn.execute(
                text(
                    "SELECT count(*) FROM incident WHERE area_path LIKE :p AND status IN "
                    "('received', 'dispatched', 'en_route', 'on_scene')"
                ),
                {"p": f"{path}%"},
            ).scalar_one()
        engine.dispose()
        if stored[0] != side.ok(intake) or stored[1] != stored[0]:
            failures.append(
                f"{side.name}: {side.ok(intake)} intakes answered 2xx, {stored[0]} stored, "
                f"{stored[1]} under {MEASURED}"
            )
        if live_counts.get(side.name) != open_here:
            failures.append(
                f"{side.name}: the live map shows {live_counts.get(side.name)} incidents, "
                f"{MEASURED} has {open_here} open"
            )
    return failures


#: Filled by :func:`run` for the smoke checks: the number of incidents each side's
#: commander's live map showed after the load.
live_counts: dict[str, int] = {}


class WaitSampler:
    """While the rounds run, what the sessions of each side's database (the server's, the
    harness's, autovacuum's) wait on once a statement has run over ``SLOW_S``:
    ``pg_stat_activity`` every ``SAMPLE_S``, as the database's owner. A tail then shows
    whether the server waited on the disk (a commit's ``IO:WALSync``), on a lock, or on
    nothing (its own work)."""

    SAMPLE_S = 0.03
    SLOW_S = 0.1
    _QUERY = (
        "SELECT pid, query_start, "
        "extract(epoch FROM clock_timestamp() - query_start), "
        "coalesce(wait_event_type || ':' || wait_event, 'CPU'), left(query, 60) "
        "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
        "AND pid <> pg_backend_pid() "
        "AND clock_timestamp() - query_start > make_interval(secs => :slow)"
    )

    def __init__(self, owner_urls: dict[str, str]) -> None:
        self.owner_urls = owner_urls
        #: (side, pid, start) -> [seconds, statement, waits seen]
        self.slow: dict[tuple[str, int, Any], list[Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wait-sampler", daemon=True)

    def _run(self) -> None:
        from sqlalchemy import text

        from fangkong.core.db import make_engine

        engines = {
            name: make_engine(url, isolation_level="AUTOCOMMIT")
            for name, url in self.owner_urls.items()
        }
        try:
            conns = {name: engine.connect() for name, engine in engines.items()}
            while not self._stop.wait(self.SAMPLE_S):
                for name, conn in conns.items():
                    for pid, start, seconds, wait, query in conn.execute(
                        text(self._QUERY), {"slow": self.SLOW_S}
                    ):
                        seen = self.slow.setdefault((name, pid, start), [0.0, query, set()])
                        seen[0] = max(seen[0], float(seconds))
                        seen[2].add(wait)
            for conn in conns.values():
                conn.close()
        finally:
            for engine in engines.values():
                engine.dispose()

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> None:
        print(
            f"\nstatements in the databases over {self.SLOW_S * 1e3:.0f} ms while measured "
            "(seen at least, what they waited on):"
        )
        for name in self.owner_urls:
            found = sorted(
                (v for (side, _, _), v in self.slow.items() if side == name),
                key=lambda v: -v[0],
            )
            print(f"  {name}: {len(found)}")
            for seconds, query, waits in found[:5]:
                statement = " ".join(str(query).split())
                print(f"    {seconds * 1e3:.0f} ms, {', '.join(sorted(waits))}: {statement}")


def _live_count(port: int, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/api/v1/dispatch/live", headers={"Authorization": f"Bearer {token}"})
        body = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return len(body["incidents"])


def _rounds(
    args: argparse.Namespace,
    sides: list[Side],
    servers: dict[str, Server],
    reads: list[tuple[str, str, str]],
) -> None:
    """The measured rounds: each side's reads, then each side's intake."""
    for round_no in range(args.rounds):
        # Alternate which goes first, so that neither always follows the other's load.
        order = sides if round_no % 2 == 0 else sides[::-1]
        measure_reads(servers, order, reads, args.reps)
        for side in order:
            measure_intake(
                servers[side.name],
                side,
                rate=args.rate,
                duration_s=args.duration,
                round_no=round_no,
            )
            if not args.smoke:
                close_intake(side)
        print(
            f"round {round_no + 1}/{args.rounds} done at {time.strftime('%H:%M:%S')} "
            f"({_loadavg()})",
            flush=True,
        )


def run(args: argparse.Namespace, size: data.Size) -> int:
    from sqlalchemy import make_url

    base = make_url(args.postgres_url)
    now = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="fangkong-province-load-"))
    failures: list[str] = []
    started = time.perf_counter()
    print(f"load average at start: {_loadavg()}")
    try:
        sides = [
            prepare_side(
                name,
                base.set(database=f"{base.database}_load{suffix}").render_as_string(
                    hide_password=False
                ),
                counties,
                size,
                workdir,
                now=now,
                app_url=args.app_url,
                again=args.again,
            )
            for name, suffix, counties in (("one", "1", 1), ("many", "n", args.counties))
        ]
        one, many = sides
        if args.settle:
            for side in sides:
                print(f"{side.name}: cases tick {catch_up(side):.1f} s", flush=True)
                print(f"{side.name}: VACUUM (ANALYZE) {settle(side):.1f} s", flush=True)
        reads = _reads(now)
        with (
            Server(one.prepared, log=workdir / "one.log") as srv_one,
            Server(many.prepared, log=workdir / "many.log") as srv_many,
        ):
            servers_started = time.monotonic()  # both are up: their start is behind them
            servers = {"one": srv_one, "many": srv_many}
            for side in sides:
                # (the smoke run counts what its intake stored: none outside its rounds)
                _warm(servers[side.name], side, reads, rate=None if args.smoke else args.rate)
            if not args.smoke:
                print(f"steady state: waited {_steady(servers_started):.0f} s", flush=True)
            if args.settle:
                print(f"CHECKPOINT: {checkpoint(many.owner_url)}", flush=True)
            print(f"measuring from {time.strftime('%H:%M:%S')}", flush=True)
            sampler = WaitSampler({side.name: side.owner_url for side in sides})
            with sampler:
                _rounds(args, sides, servers, reads)
            for side in sides:
                side.rss_mib = _rss_mib(servers[side.name].process.pid)
                live_counts[side.name] = _live_count(servers[side.name].port, side.prepared.token)
            if args.smoke:
                failures = smoke_checks(one, many)
        for side in sides:
            _sizes(side)
    finally:
        if args.keep:
            print(f"server logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.smoke:
        for side in sides:
            print(
                f"{side.name}: {side.counties} counties, {sum(side.generated.rows.values())} rows "
                f"generated; {sum(side.ok(n) for n in side.statuses)} requests answered 2xx"
            )
        for failure in failures:
            print(f"FAIL {failure}")
        print(f"smoke: {'FAILED' if failures else 'ok'}")
        return int(bool(failures))
    met = report(one, many, _names(reads, args.rate))
    sampler.report()
    print(
        f"\n{args.counties} counties, rounds {args.rounds}, reps {args.reps}, intake "
        f"{args.rate:.0f}/s for {args.duration:.0f} s a round; servers connected as "
        f"{'the application role (row-level security on)' if args.app_url else 'the owner'}; "
        f"{SETTLED if args.settle else UNSETTLED}; "
        f"load average at end: {_loadavg()}; total {time.perf_counter() - started:.0f} s"
    )
    return 0 if met else 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="20 counties of QUICK size")
    mode.add_argument("--smoke", action="store_true", help="3 tiny counties: checks only")
    parser.add_argument("--counties", type=int, default=None, help="counties in 'many' (100)")
    parser.add_argument("--per-day", type=float, default=None, help="incidents a day a county")
    parser.add_argument("--days", type=int, default=None, help="the period generated (days)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (3)")
    parser.add_argument("--reps", type=int, default=None, help="requests per read a round")
    parser.add_argument("--rate", type=float, default=None, help="intake per second (50)")
    parser.add_argument("--duration", type=float, default=None, help="intake seconds a round")
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV))
    parser.add_argument(
        "--app-url",
        default=os.environ.get(APP_ENV),
        help=f"the application's role, which the servers connect as (${APP_ENV})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the server logs")
    parser.add_argument(
        "--again",
        action="store_true",
        help="measure the databases the last run left (migrated to the head), not generated",
    )
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="measure right after the bulk load: no deadline tick, no VACUUM (ANALYZE) and no "
        "CHECKPOINT before measuring (what an operator does after a bulk load)",
    )
    args = parser.parse_args(argv)
    size = data.SMOKE if args.smoke else data.QUICK if args.quick else data.FULL
    if args.per_day is not None:
        size = replace(size, per_day=args.per_day)
    if args.days is not None:
        size = replace(size, days=args.days)
    args.counties = args.counties or (3 if args.smoke else 20 if args.quick else 100)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.reps = args.reps or (2 if args.smoke else 10 if args.quick else 20)
    args.rate = args.rate or (10.0 if args.smoke else 50.0)
    args.duration = args.duration or (0.5 if args.smoke else 4.0 if args.quick else 10.0)
    try:
        data.check_bounds(args.counties, size)
    except ValueError as refused:
        print(f"province_load: refused: {refused}")
        return 2
    if args.again and args.smoke:
        print("province_load: refused: --again measures a run's databases; --smoke makes its own")
        return 2
    if not args.postgres_url:
        print(f"province_load: skipped, PostgreSQL only: set --postgres-url or {POSTGRES_ENV}")
        return 0
    if args.smoke:
        print("province_load: smoke run (what was generated and answered checked, nothing timed)")
    return run(args, size)


if __name__ == "__main__":
    sys.exit(main())
