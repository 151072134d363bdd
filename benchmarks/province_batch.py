"""Planning batches on Dask: the speed-up from 1 to 2 worker processes on this machine.

The province
------------
``--counties`` synthetic counties side by side (each 0.16 x 0.08 degree near Hangzhou, a
district of one city), each with its own road network imported into
``<data_dir>/counties/<code>`` (two-way streets every 0.002 degree, about 220 m, a primary
road every fifth: 81 x 41 = 3,321 crossings), three posts and ``--addresses`` standard
addresses at random (seeded). The database is SQLite in a temporary data folder.

The batch
---------
Every county x three scenarios -- coverage (60/180/300 s), MCLP placements of 6 and of 10
sites within 180 s (60 s solver limit each) -- one Dask task each (:mod:`fangkong.province.batch`),
run twice: on a ``LocalCluster`` of one worker process, then of two (one thread each). Each
cluster is started and its workers import fangkong and load every county's network (graph,
engine, contraction hierarchy: :func:`~fangkong.province.batch.warm_up`) before the clock
starts (that time is printed apart: a long-lived worker pays it once, and two workers would
otherwise pay it twice within the timed batch); the wall time is the batch's, from the first
submission to the last outcome, each task filing and storing its run in the database.

Fair scaling: each task is held to ``--task-threads`` threads (default 1) in every library --
the road engine's many-to-many queries (which otherwise run on every CPU), HiGHS, numba,
BLAS/OpenMP (:func:`fangkong.core.threads.pin`) -- so that one worker uses one core and two
use two; ``--task-threads 0`` leaves the libraries' defaults (what the batches did before
issue 23: one worker's tasks then used both cores of a 2-core machine, and the speed-up from
a second worker was small). Printed per run: the tasks' own time, their CPU time (all the
worker's threads: above the own time when a task used more than one core), the workers' busy
share (the tasks' own time over workers x wall time; near 100 % with no speed-up means the
cores were not free) and the load averages (``uptime``) before and after. The two runs'
headline figures must be equal (exit status 1 otherwise), but for a placement that a
solver's time limit stopped in either run (printed, not compared).

Usage::

    python benchmarks/province_batch.py --smoke   # 2 counties, coverage only, 300 addresses
    python benchmarks/province_batch.py --quick   # 4 counties x 3 scenarios, 2,000 addresses
    python benchmarks/province_batch.py           # 8 counties x 3 scenarios, 4,000 addresses
    python benchmarks/province_batch.py --quick --task-threads 0   # libraries' own threads
    python benchmarks/province_batch.py --quick --diagnose [--task-threads 0]
        # no Dask: each task in this process, its wall and CPU time (the cores it used)

On a real cluster the same batch runs with ``fangkong province batch --scheduler
tcp://host:8786``: tasks are independent, so the time is about the largest of (the sum of the
tasks' times / the workers) and the longest task, plus the cluster's overhead (tens of ms a
task); see ``docs/deployment.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from dask.distributed import Client, LocalCluster
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import PostKind
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import county_data_dir, import_and_activate
from fangkong.province.batch import (
    Outcome,
    parse_scenario,
    plan,
    run_batch,
    warm_up,
    worker_env,
)

WEST, SOUTH, WIDTH, HEIGHT = 120.0, 30.0, 0.16, 0.08
SPACING = 0.002


def _rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _area(code: str, level: str, parent: str | None, geometry: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"code": code, "level": level, "name_zh": code, "name_en": code}
    if parent:
        props["parent_code"] = parent
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _streets(west: float) -> dict[str, Any]:
    xs = [west + i * SPACING for i in range(round(WIDTH / SPACING) + 1)]
    ys = [SOUTH + j * SPACING for j in range(round(HEIGHT / SPACING) + 1)]
    lines = [[[x, y] for x in xs] for y in ys] + [[[x, y] for y in ys] for x in xs]
    classes = [j % 5 for j in range(len(ys))] + [i % 5 for i in range(len(xs))]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"class": "primary" if c == 0 else "residential"},
                "geometry": {"type": "LineString", "coordinates": line},
            }
            for line, c in zip(lines, classes, strict=True)
        ],
    }


def build(data_dir: Path, counties: int, addresses: int) -> tuple[str, list[str]]:
    """The province's database and networks; returns the database URL and county codes."""
    url = f"sqlite:///{(data_dir / 'fangkong.db').resolve()}"
    engine = make_engine(url)
    upgrade(engine, secret_key="benchmark-secret-key-0123456789abcdef")
    codes = [f"P-D{k + 1}" for k in range(counties)]
    features = [
        _area("P", "city", None, _rectangle(WEST, SOUTH, WEST + counties * WIDTH, SOUTH + HEIGHT))
    ]
    for k, code in enumerate(codes):
        west = WEST + k * WIDTH
        features.append(
            _area(code, "district", "P", _rectangle(west, SOUTH, west + WIDTH, SOUTH + HEIGHT))
        )
    rng = np.random.default_rng(11)
    with Session(engine) as session:
        area_service.import_geojson(
            session, data={"type": "FeatureCollection", "features": features}, actor=SYSTEM
        )
        for k, code in enumerate(codes):
            west = WEST + k * WIDTH
            for j in range(3):
                dispatch_service.create_post(
                    session,
                    code=f"{code}-P{j}",
                    name=f"post {code}-{j}",
                    kind=PostKind.STREET_POST,
                    lon=float(west + rng.uniform(0.01, WIDTH - 0.01)),
                    lat=float(SOUTH + rng.uniform(0.01, HEIGHT - 0.01)),
                    actor=SYSTEM,
                )
            area_service.import_addresses(
                session,
                rows=[
                    area_service.AddressRow(
                        code=f"{code}-A{i:05d}",
                        text_zh=f"{code}路{i}号",
                        text_en=f"{i} {code} Road",
                        lon=float(west + rng.uniform(0.001, WIDTH - 0.001)),
                        lat=float(SOUTH + rng.uniform(0.001, HEIGHT - 0.001)),
                    )
                    for i in range(addresses)
                ],
                actor=SYSTEM,
            )
        session.commit()
    engine.dispose()
    for k, code in enumerate(codes):
        layer = data_dir / f"streets-{code}.geojson"
        layer.write_text(json.dumps(_streets(WEST + k * WIDTH)), encoding="utf-8")
        import_and_activate(
            county_data_dir(data_dir, code), layer, DEFAULT_PROFILE, class_field="class"
        )
    return url, codes


def diagnose(
    url: str, data_dir: Path, codes: list[str], scenarios: list[Any], task_threads: int
) -> int:
    """Each task run in this process (no Dask), networks loaded first: its wall time, the
    process's CPU time over it (all threads) and so the cores it used."""
    from fangkong.core import threads
    from fangkong.planning import tasks

    if task_threads > 0:
        threads.pin(task_threads)
    warm_up(str(data_dir), codes, task_threads)
    engine = make_engine(url)
    total_wall = total_cpu = 0.0
    for code in codes:
        for scenario in scenarios:
            with Session(engine) as session:
                county = area_service.get_by_code_or_raise(session, code=code)
                params = {**scenario.params, "scope_paths": [county.path], "area_code": code}
                where = county_data_dir(data_dir, code)
                wall, cpu = time.perf_counter(), time.process_time()
                if scenario.kind == "coverage":
                    tasks.run_coverage(session, params, where)
                else:
                    tasks.run_placement(session, params, where)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            total_wall += wall
            total_cpu += cpu
            print(
                f"  {code} {scenario.label}: {wall:.2f} s wall, {cpu:.2f} s CPU = "
                f"{cpu / wall:.2f} cores"
            )
    print(
        f"in-process, threads a task: {task_threads or 'libraries default'}: {total_wall:.1f} s "
        f"wall, {total_cpu:.1f} s CPU = {total_cpu / total_wall:.2f} cores a task; load average "
        f"{_uptime()}"
    )
    engine.dispose()
    return 0


def _uptime() -> str:
    """The 1, 5 and 15-minute load averages, as ``uptime`` prints them."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true")
    mode.add_argument("--quick", action="store_true")
    parser.add_argument("--counties", type=int, default=None)
    parser.add_argument("--addresses", type=int, default=None)
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="run each task in this process and print the cores it used (no cluster)",
    )
    parser.add_argument(
        "--task-threads",
        type=int,
        default=1,
        help="threads a task may use in every library (0: the libraries' defaults)",
    )
    args = parser.parse_args()
    counties = args.counties or (2 if args.smoke else 4 if args.quick else 8)
    addresses = args.addresses or (300 if args.smoke else 2000 if args.quick else 4000)
    texts = ["coverage:rings_s=60/180/300"]
    if not args.smoke:
        texts += [
            "placement:method=mclp,p=6,ring_s=180,time_limit_s=60",
            "placement:method=mclp,p=10,ring_s=180,time_limit_s=60",
        ]
    scenarios = [parse_scenario(t) for t in texts]
    with tempfile.TemporaryDirectory(prefix="fangkong-province-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        url, codes = build(data_dir, counties, addresses)
        print(
            f"{counties} counties x {len(scenarios)} scenarios, {addresses} addresses a county, "
            f"built in {time.perf_counter() - started:.1f} s ({os.cpu_count()} CPUs, "
            f"threads a task: {args.task_threads or 'libraries default'}, "
            f"load average {_uptime()})"
        )
        if args.diagnose:
            return diagnose(url, data_dir, codes, scenarios, args.task_threads)
        rows: dict[int, tuple[float, list[Outcome]]] = {}
        for workers in (1, 2):
            started = time.perf_counter()
            with (
                LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers,
                    threads_per_worker=1,
                    dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": ":0"},
                    silence_logs=logging.WARNING,
                    env=worker_env(args.task_threads),
                ) as cluster,
                Client(cluster) as client,  # type: ignore[no-untyped-call]
            ):
                client.run(warm_up, str(data_dir), codes, args.task_threads)
                print(
                    f"LocalCluster of {workers} started, networks loaded, in "
                    f"{time.perf_counter() - started:.1f} s"
                )
                batch = plan(codes, scenarios, batch=f"w{workers}")
                load_before = _uptime()
                started = time.perf_counter()
                outcomes = run_batch(
                    batch,
                    database_url=url,
                    data_dir=data_dir,
                    client=client,
                    task_threads=args.task_threads,
                )
                wall = time.perf_counter() - started
            rows[workers] = (wall, outcomes)
            busy = sum(o.seconds for o in outcomes)
            cpu = sum(o.cpu_seconds for o in outcomes)
            failed = [o for o in outcomes if o.status != "done"]
            print(
                f"{workers} worker(s): {wall:.1f} s wall for {len(outcomes)} tasks "
                f"(tasks' own time {busy:.1f} s, their CPU time {cpu:.1f} s = "
                f"{cpu / busy:.2f} cores a task; workers busy {busy / (workers * wall):.0%} "
                f"of the wall time; {len(failed)} not done); load average "
                f"before {load_before}, after {_uptime()}"
            )
            for o in failed:
                print(f"  {o.county} {o.label}: {o.status} {o.error}")
    one, two = rows[1], rows[2]
    print(f"speed-up 1 -> 2 workers: {one[0] / two[0]:.2f}x")
    mismatched = []
    for a, b in zip(one[1], two[1], strict=True):
        stopped = {a.headline.get("status"), b.headline.get("status")} - {"optimal", None}
        if a.kind == "placement" and stopped:
            # a solver stopped by its time limit may hold another incumbent in a slower run
            print(f"  not compared: {a.county} {a.label}: {a.headline} / {b.headline}")
            continue
        if a.kind == "placement":
            # optimal within the relative gap asked of the solver (1e-4 by default)
            x, y = a.headline.get("objective"), b.headline.get("objective")
            same = x is not None and y is not None and abs(x - y) <= 1e-4 * max(abs(x), 1.0)
        else:
            same = a.headline == b.headline
        if a.status != b.status or not same:
            mismatched.append((a.county, a.label, a.headline, b.headline))
    if mismatched:
        print(f"MISMATCH between the runs: {mismatched}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
