"""Overload: intake offered past the server's capacity is refused at once, the rest answered
in its usual time.

The real server (``fangkong.web.app`` under uvicorn, one process) runs on loopback over a fresh
SQLite database holding the intake benchmark's county over the demo's road network (see
``dispatch_intake.py``). First a closed loop (``--concurrency`` connections, each sending its
next intake when the last is answered) measures its capacity: the 2xx answered per second.
Then open loops offer intakes on a fixed schedule at 0.5x, 1x, 2x and 3x that capacity, on up
to ``--connections`` (256) connections, as many clients would: latency counts from each
request's scheduled moment, so a queue in the server shows.

For each phase: the answers taken (201) per second, their p50, p99 and worst latency; the
answers refused (503, ``overloaded``, with ``Retry-After``) and their p50 and p99 (how fast a
client learns to come back); and ``late``, the intakes answered 2xx after ``--client-timeout``
(1 s): written although a client that gave up at that timeout no longer waited for them. The
0.5x phase gives the accepted requests' normal p99; the ratio of each phase's to it is
printed.

The peer is the same server with its limits off (``FANGKONG_MAX_REQUESTS_IN_FLIGHT`` and
``FANGKONG_INTAKE_MAX_PENDING`` set past anything offered): what the server did before it
shed load, every request queued until answered.

Every mode checks that the database holds one incident per 2xx answer (a refused intake
wrote nothing, a 2xx was committed) and exits 1 otherwise.

Usage::

    python benchmarks/overload.py            # 10 s per phase, with the peer
    python benchmarks/overload.py --quick    # 3 s per phase, with the peer
    python benchmarks/overload.py --smoke    # tiny limits and a burst: excess refused with
                                             # 503, the rest 201, one row per 201; nothing timed
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import Load, Prepared, Server, prepare, run_load

PATH = "/api/v1/incidents"
#: The multiples of the measured capacity offered, in order.
MULTIPLES = (0.5, 1.0, 2.0, 3.0)
#: The limits of the peer: past anything a run offers.
UNLIMITED = 1_000_000
#: The smoke run's limits: small enough for a burst of a few connections to pass them.
SMOKE_IN_FLIGHT = 6
SMOKE_PENDING = 2


@dataclass(frozen=True)
class Phase:
    multiple: float
    load: Load


@dataclass(frozen=True)
class Result:
    server: str
    capacity: Load
    phases: list[Phase]
    answered_2xx: int
    stored: int


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in the environment the server process inherits, for the block only."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stored(prepared: Prepared) -> int:
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    engine = make_engine(prepared.url)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM incident")).scalar_one())
    engine.dispose()
    return count


def measure(
    server: str,
    workdir: Path,
    *,
    duration_s: float,
    concurrency: int,
    connections: int,
    limits: dict[str, str],
    road_network: bool,
    warm_up: bool,
) -> Result:
    prepared = prepare(workdir / server, road_network=road_network)
    answered = 0
    with (
        _environment(limits),
        Server(prepared, log=workdir / f"{server}.log") as srv,
    ):

        def phase(prefix: str, seed: int, **load: object) -> Load:
            nonlocal answered
            before = srv.cpu_seconds()
            out = run_load(
                srv.port,
                path=PATH,
                token=prepared.token,
                prefix=prefix,
                duration_s=duration_s,
                seed=seed,
                scenes=prepared.scenes,
                **load,  # type: ignore[arg-type]
            )
            after = srv.cpu_seconds()
            if before is not None and after is not None:
                out.server_cpu_s = after - before
            answered += out.ok
            return out

        if warm_up:  # the first requests build the area index and start the writer
            phase("warm", 1, concurrency=concurrency)
        capacity = phase("capacity", 2, concurrency=concurrency)
        rate = max(capacity.throughput, 1.0)
        phases = [
            Phase(
                multiple,
                phase(
                    f"x{multiple:g}",
                    3 + i,
                    rate=multiple * rate,
                    max_connections=connections,
                ),
            )
            for i, multiple in enumerate(MULTIPLES)
        ]
    return Result(
        server=server,
        capacity=capacity,
        phases=phases,
        answered_2xx=answered,
        stored=_stored(prepared),
    )


def smoke(workdir: Path, *, concurrency: int, duration_s: float) -> list[str]:
    """A burst on ``concurrency`` connections at a server with tiny limits: what passes them
    is refused with 503, what does not is created (201), and one row is stored per 201."""
    prepared = prepare(workdir / "smoke")
    limits = {
        "FANGKONG_MAX_REQUESTS_IN_FLIGHT": str(SMOKE_IN_FLIGHT),
        "FANGKONG_INTAKE_MAX_PENDING": str(SMOKE_PENDING),
    }
    with _environment(limits), Server(prepared, log=workdir / "smoke.log") as srv:
        # One connection first: within the limits, every intake is taken.
        alone = run_load(
            srv.port,
            path=PATH,
            token=prepared.token,
            prefix="alone",
            duration_s=duration_s,
            concurrency=1,
        )
        load = run_load(
            srv.port,
            path=PATH,
            token=prepared.token,
            prefix="smoke",
            duration_s=duration_s,
            concurrency=concurrency,
        )
    stored = _stored(prepared) - alone.statuses.get(201, 0)
    print(
        f"one connection: answers {dict(sorted(alone.statuses.items()))}; burst on "
        f"{concurrency} connections (in flight <= {SMOKE_IN_FLIGHT}, intakes waiting <= "
        f"{SMOKE_PENDING}): answers {dict(sorted(load.statuses.items()))}, transport errors "
        f"{load.errors}, {stored} rows stored"
    )
    failures = []
    if set(alone.statuses) != {201} or alone.errors:
        failures.append(f"one connection within the limits: {alone.statuses}, {alone.errors}")
    if set(load.statuses) - {201, 503}:
        failures.append(f"answers other than 201 and 503: {load.statuses}")
    if not load.statuses.get(201):
        failures.append("no intake was created (201)")
    if not load.statuses.get(503):
        failures.append("no intake past the limits was refused (503)")
    if load.errors:
        failures.append(f"{load.errors} transport errors")
    if stored != load.statuses.get(201, 0):
        failures.append(f"{load.statuses.get(201, 0)} answered 201 but {stored} rows stored")
    return failures


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # NaN: no such answers


def _line(r: Result, phase: Phase, client_timeout_s: float) -> str:
    load = phase.load
    late = sum(1 for lat in load.by_status.get(201, []) if lat > client_timeout_s)
    refused = load.statuses.get(503, 0)
    other = sum(n for s, n in load.statuses.items() if s not in (200, 201, 503)) + load.errors
    worst = max(load.by_status.get(201, [float("nan")])) * 1e3
    return (
        f"{r.server:<9} {phase.multiple:>4g}x {load.target_rate or 0:>8.0f} "
        f"{load.throughput:>7.0f} {load.statuses.get(201, 0):>7d} {refused:>7d} {other:>6d} "
        f"{load.unsent:>7d} {_ms(load.quantile_ms(0.5, 201)):>7} "
        f"{_ms(load.quantile_ms(0.99, 201)):>8} {_ms(worst):>8} "
        f"{_ms(load.quantile_ms(0.5, 503)):>7} {_ms(load.quantile_ms(0.99, 503)):>7} {late:>6d} "
        f"{_share(load.server_cpu_s, load.seconds):>7} {_share(load.client_cpu_s, load.seconds):>7}"
    )


def _share(cpu_s: float | None, seconds: float) -> str:
    """CPU seconds over a phase's seconds, in % of one core."""
    return "-" if cpu_s is None or not seconds else f"{100 * cpu_s / seconds:.0f}"


def report(results: list[Result], args: argparse.Namespace) -> int:
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; phase {args.duration:g} s, capacity by a "
        f"closed loop on {args.concurrency} connections, open loops on up to "
        f"{args.connections}; late: 201 after {args.client_timeout:g} s; srv/cli cpu: the "
        f"server's and the load client's CPU, % of one core"
    )
    for r in results:
        c = r.capacity
        print(
            f"{r.server}: capacity {c.throughput:.0f}/s (closed loop, p50 "
            f"{c.quantile_ms(0.5):.1f} ms, p99 {c.quantile_ms(0.99):.1f} ms)"
        )
    print(
        f"{'server':<9} {'load':>5} {'offered':>8} {'201/s':>7} {'201':>7} {'503':>7} "
        f"{'other':>6} {'unsent':>7} {'p50 ms':>7} {'p99 ms':>8} {'max ms':>8} "
        f"{'503 p50':>7} {'503 p99':>7} {'late':>6} {'srv cpu':>7} {'cli cpu':>7}"
    )
    for r in results:
        for phase in r.phases:
            print(_line(r, phase, args.client_timeout))
    print("\naccepted p99 against the normal one (0.5x), by load:")
    for r in results:
        normal = r.phases[0].load.quantile_ms(0.99, 201)
        ratios = ", ".join(
            f"{p.multiple:g}x {p.load.quantile_ms(0.99, 201) / normal:.2f}x" for p in r.phases[1:]
        )
        print(f"  {r.server}: normal p99 {_ms(normal)} ms; {ratios}")
    by = {r.server: r for r in results}
    if "fangkong" in by and "peer" in by:
        print("fangkong / peer (limits off), 3x capacity:")
        mine, peer = by["fangkong"].phases[-1].load, by["peer"].phases[-1].load
        print(
            f"  accepted p99 {mine.quantile_ms(0.99, 201) / peer.quantile_ms(0.99, 201):.3f}x, "
            f"201/s {mine.throughput / max(peer.throughput, 1e-9):.2f}x"
        )
    failed = 0
    for r in results:
        if r.stored != r.answered_2xx:
            print(f"FAIL {r.server}: {r.answered_2xx} answered 2xx but {r.stored} rows stored")
            failed = 1
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="3 s per phase")
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="tiny limits and a short burst: 503 past them, 201 otherwise; nothing timed",
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=None, help="closed loop (8)")
    parser.add_argument(
        "--connections", type=int, default=256, help="the open loops' most connections (256)"
    )
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=1.0,
        help="a 2xx after this many seconds counts as late (1)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the peer (limits off)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = parser.parse_args(argv)
    args.duration = args.duration or (0.5 if args.smoke else 3.0 if args.quick else 10.0)
    args.concurrency = args.concurrency or (16 if args.smoke else 8)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="fangkong-overload-"))
    try:
        if args.smoke:
            print("overload: smoke run (refusals and what was stored checked, nothing timed)")
            failures = smoke(tmp, concurrency=args.concurrency, duration_s=args.duration)
            for failure in failures:
                print(f"FAIL {failure}")
            print(f"smoke: {'FAILED' if failures else 'ok'}")
            return int(bool(failures))
        runs: list[tuple[str, dict[str, str]]] = [("fangkong", {})]
        if not args.no_peer:
            unlimited = str(UNLIMITED)
            runs.append(
                (
                    "peer",
                    {
                        "FANGKONG_MAX_REQUESTS_IN_FLIGHT": unlimited,
                        "FANGKONG_INTAKE_MAX_PENDING": unlimited,
                    },
                )
            )
        results = []
        for name, limits in runs:
            result = measure(
                name,
                tmp,
                duration_s=args.duration,
                concurrency=args.concurrency,
                connections=args.connections,
                limits=limits,
                road_network=True,
                warm_up=True,
            )
            print(
                f"{name}: capacity {result.capacity.throughput:.0f}/s, "
                f"{result.answered_2xx} answered 2xx, {result.stored} rows stored",
                flush=True,
            )
            results.append(result)
    finally:
        if args.keep:
            print(f"databases and server logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    failed = report(results, args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return failed


if __name__ == "__main__":
    sys.exit(main())
