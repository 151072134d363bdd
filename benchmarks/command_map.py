"""The live command map under load: 500 open incidents, 300 units, updates pushed by SSE.

Builds the demo county with the real CLI (``fangkong demo --no-serve``), adds 500 open
incidents and 300 units at random standard addresses, serves it with ``fangkong serve`` and
opens the command map in headless Chromium (``/usr/bin/chromium``). Then, side by side in one
run:

- **frames**: requestAnimationFrame gaps (p50/p99) and long tasks (> 50 ms) while idle and while a
  client moves every unit and records new incidents at a steady rate; the ratio loaded/idle;
- **redraw**: the time live.js spends applying a batch of events (p50/p99, against the 16.7 ms
  frame budget);
- **write to screen**: from the HTTP answer of a new incident to the moment the map holds it, for
  the pushed stream (SSE) and for the peer a console without push would use — polling
  ``GET /api/v1/dispatch/live`` every second, in the same page.

``--quick``: 8 s phases (about a minute in all); the default runs 30 s phases.

``--smoke``: answers only, nothing timed, in seconds: a small county (31 rectangles over the
demo's road network, as the dispatch benchmarks use) with 20 open incidents and 10 units; the
map must show them all, and every incident a client records over a few seconds must reach
both the pushed view (SSE) and the polling peer; a miss exits with status 1. Without
Chromium (or Playwright) the smoke run is skipped with the reason.

Usage: ``python benchmarks/command_map.py --quick`` or ``--smoke``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import SECRET, Prepared, Server, prepare

CHROMIUM = "/usr/bin/chromium"
INCIDENTS, UNITS = 500, 300
SMOKE_INCIDENTS, SMOKE_UNITS = 20, 10
SMOKE_COMMANDER, SMOKE_PASSWORD = "bench_commander", "amber-lantern-5831"
Point = tuple[float, float]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _add_live(
    session: Any,
    *,
    points: Sequence[Point],
    stations: Sequence[Any],
    incidents: int,
    units: int,
    cipher: Any,
    seed: int = 11,
) -> None:
    """``incidents`` open incidents received over the last hour and ``units`` units, at random
    ones of ``points``, homed at random ones of ``stations``."""
    from fangkong.core.audit import SYSTEM
    from fangkong.core.db import utcnow
    from fangkong.dispatch import service
    from fangkong.dispatch.models import Priority, Source, UnitType

    rng = random.Random(seed)
    now = utcnow()
    kinds = [
        ("criminal", "theft"),
        ("public_order", "noise"),
        ("traffic", "collision"),
        ("dispute", "neighbour"),
        ("assistance", "directions"),
    ]
    for n in range(incidents):
        lon, lat = rng.choice(points)
        category, subtype = rng.choice(kinds)
        data = service.IncidentIn(
            category=category,
            subtype=subtype,
            priority=Priority(f"P{n % 4 + 1}"),
            source=Source.CALL,
            lon=lon,
            lat=lat,
        )
        service.create(
            session,
            key=f"bench-map-{n}",
            data=data,
            actor=SYSTEM,
            now=now - timedelta(seconds=rng.uniform(0, 3600)),
            cipher=cipher,
        )
    for n in range(units):
        unit = service.create_unit(
            session,
            call_sign=f"BM{n:03d}",
            unit_type=UnitType.CAR,
            home_area=rng.choice(stations),
            actor=SYSTEM,
        )
        lon, lat = rng.choice(points)
        service.report_position(session, unit=unit, lon=lon, lat=lat, now=now)


def _seed(data_dir: Path) -> str:
    """500 open incidents received over the last hour and 300 units, at random addresses; a
    bearer token of the demo's admin, issued here rather than through the login (whose rules,
    a second factor among them, are not what this measures)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangkong.areas.models import Area, AreaLevel, StandardAddress
    from fangkong.core import auth
    from fangkong.core.audit import SYSTEM
    from fangkong.core.config import load_settings
    from fangkong.core.db import make_engine
    from fangkong.core.security import FieldCipher

    settings = load_settings(data_dir=data_dir)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        points = [
            (float(x), float(y))
            for x, y in session.execute(
                select(StandardAddress.lon, StandardAddress.lat).where(
                    StandardAddress.area_path.is_not(None)
                )
            )
        ]
        stations = list(session.scalars(select(Area).where(Area.level == AreaLevel.STATION)))
        cipher = FieldCipher(settings.ensure_secret_key())
        _add_live(
            session,
            points=points,
            stations=stations,
            incidents=INCIDENTS,
            units=UNITS,
            cipher=cipher,
        )
        admin = auth.get_by_username(session, username="admin")
        if admin is None:
            raise SystemExit("the demo county has no admin")
        _, token = auth.issue_token(session, user=admin, name="bench", ttl=None, actor=SYSTEM)
        session.commit()
    engine.dispose()
    (data_dir / "bench-points.txt").write_text(
        "\n".join(f"{x},{y}" for x, y in points), encoding="utf-8"
    )
    return str(token)


class Writer(threading.Thread):
    """Moves units and records incidents at a steady rate; keeps each incident's answer time."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        moves_per_s: float,
        incidents_per_s: float,
        points: Sequence[Point],
        seconds: float,
    ) -> None:
        super().__init__(daemon=True)
        self.base_url, self.token = base_url, token
        self.moves_per_s, self.incidents_per_s = moves_per_s, incidents_per_s
        self.points, self.seconds = points, seconds
        self.answered: dict[int, float] = {}  # incident id -> epoch ms of its 2xx
        self.moves = 0
        self.errors: list[str] = []

    def run(self) -> None:
        rng = random.Random(5)
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            units = [u["id"] for u in client.get("/api/v1/units").json()]
            start = time.monotonic()
            next_move = next_incident = start
            n = 0
            while time.monotonic() - start < self.seconds:
                now = time.monotonic()
                if now >= next_incident:
                    lon, lat = rng.choice(self.points)
                    answer = client.post(
                        "/api/v1/incidents",
                        headers={"Idempotency-Key": f"bench-live-{n}-{start}"},
                        json={
                            "category": "traffic",
                            "subtype": "collision",
                            "priority": "P2",
                            "source": "call",
                            "lon": lon,
                            "lat": lat,
                        },
                    )
                    if answer.status_code == 201:
                        self.answered[answer.json()["id"]] = time.time() * 1000
                    else:
                        self.errors.append(answer.text)
                    n += 1
                    next_incident += 1 / self.incidents_per_s
                if now >= next_move:
                    lon, lat = rng.choice(self.points)
                    client.post(
                        f"/api/v1/units/{rng.choice(units)}/position", json={"lon": lon, "lat": lat}
                    )
                    self.moves += 1
                    next_move += 1 / self.moves_per_s
                time.sleep(max(0.0, min(next_move, next_incident) - time.monotonic()))


FRAME_PROBE = """(seconds) => new Promise((resolve) => {
  const gaps = []; let last = performance.now(); let longTasks = 0;
  const observer = new PerformanceObserver((list) => { longTasks += list.getEntries().length; });
  try { observer.observe({ entryTypes: ['longtask'] }); } catch (e) {}
  const end = last + seconds * 1000;
  function tick(now) {
    gaps.push(now - last); last = now;
    if (now < end) requestAnimationFrame(tick);
    else { observer.disconnect(); resolve({ gaps, longTasks }); }
  }
  requestAnimationFrame(tick);
})"""

POLLING_PEER = """() => {
  // The peer: a console without push polls the snapshot every second.
  window.pollSeen = new Map();
  window.pollBytes = 0;
  window.pollErrors = [];
  window.pollTimer = setInterval(async () => {
    try {
      const answer = await fetch('/api/v1/dispatch/live', { credentials: 'same-origin' });
      const text = await answer.text();
      window.pollBytes += text.length;
      const now = Date.now();
      JSON.parse(text).incidents.forEach((i) => {
        if (!window.pollSeen.has(i.id)) window.pollSeen.set(i.id, now);
      });
    } catch (err) { window.pollErrors.push(String(err)); }
  }, 1000);
}"""


def _latencies(seen: dict[int, float], answered: dict[int, float]) -> list[float]:
    return [seen[i] - t for i, t in answered.items() if i in seen]


def _no_browser() -> str | None:
    """Why the map cannot be opened here, or None."""
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM}"
    if importlib.util.find_spec("playwright") is None:
        return 'Playwright not installed (pip install -e ".[bench]")'
    return None


def _login(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _wait_for_map(page: Any, incidents: int, units: int) -> dict[str, str]:
    """Wait until the map is drawn and holds ``incidents`` and ``units``; what it shows.

    Playwright evaluates the condition as a string, which the console's policy (no eval)
    refuses: the pages are opened with ``bypass_csp``, for the measuring script only."""
    page.wait_for_function(
        "Number(document.getElementById('map').dataset.liveIncidents)"
        f" >= {incidents} && Number(document.getElementById('map').dataset.liveUnits)"
        f" >= {units} && document.getElementById('map').dataset.ready === 'true'",
        timeout=120_000,
    )
    shown: dict[str, str] = page.evaluate(
        "({i: document.getElementById('map').dataset.liveIncidents,"
        " u: document.getElementById('map').dataset.liveUnits})"
    )
    return shown


def _seed_smoke(prepared: Prepared) -> list[Point]:
    """The smoke run's county: 20 open incidents and 10 units near its roads, and a
    commander to open the map; the points (road nodes) new incidents are recorded at."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangkong.areas.models import Area, AreaLevel
    from fangkong.core import auth
    from fangkong.core.audit import SYSTEM
    from fangkong.core.db import make_engine
    from fangkong.core.models import Role
    from fangkong.core.security import FieldCipher

    assert prepared.scenes is not None
    picked = np.random.default_rng(3).choice(prepared.scenes.lon.size, 200, replace=False)
    points = [(float(prepared.scenes.lon[i]), float(prepared.scenes.lat[i])) for i in picked]
    engine = make_engine(prepared.url)
    with Session(engine) as session:
        stations = list(session.scalars(select(Area).where(Area.level == AreaLevel.STATION)))
        _add_live(
            session,
            points=points,
            stations=stations,
            incidents=SMOKE_INCIDENTS,
            units=SMOKE_UNITS,
            cipher=FieldCipher(SECRET),
        )
        auth.create(
            session,
            username=SMOKE_COMMANDER,
            display_name="Bench commander",
            password=SMOKE_PASSWORD,
            role=Role.COMMANDER,
            area_codes=["T"],
            actor=SYSTEM,
        )
        session.commit()
    engine.dispose()
    return points


def smoke() -> int:
    """Answers only, nothing timed: the map shows what is open, and each new incident reaches
    the pushed view and the polling peer. 0 when it does (or when no browser is here)."""
    print("command_map: smoke run (what the map shows checked, nothing timed)")
    why = _no_browser()
    if why is not None:
        print(f"skipped: {why}")
        return 0
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fk-map-smoke-") as tmp:
        prepared = prepare(Path(tmp) / "data", road_network=True)
        points = _seed_smoke(prepared)
        with (
            Server(prepared, log=Path(tmp) / "server.log") as server,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1200, "height": 800}, bypass_csp=True)
            _login(page, server.base, SMOKE_COMMANDER, SMOKE_PASSWORD)
            shown = _wait_for_map(page, SMOKE_INCIDENTS, SMOKE_UNITS)
            if (int(shown["i"]), int(shown["u"])) != (SMOKE_INCIDENTS, SMOKE_UNITS):
                failures.append(
                    f"the map shows {shown['i']} incidents and {shown['u']} units, not "
                    f"{SMOKE_INCIDENTS} and {SMOKE_UNITS}"
                )
            page.evaluate(POLLING_PEER)
            writer = Writer(
                server.base,
                prepared.token,
                moves_per_s=5,
                incidents_per_s=2,
                points=points,
                seconds=2.5,
            )
            writer.start()
            writer.join()
            new = sorted(writer.answered)
            # Every new incident in both views (the poll comes once a second).
            try:
                page.wait_for_function(
                    """(ids) => ids.every((i) => window.fangkongLiveStats.seenAt.has(i)
                                                 && window.pollSeen.has(i))""",
                    arg=new,
                    timeout=30_000,
                ).dispose()
            except PlaywrightTimeout:
                missing = page.evaluate(
                    """(ids) => ({sse: ids.filter((i) => !window.fangkongLiveStats.seenAt.has(i)),
                                 poll: ids.filter((i) => !window.pollSeen.has(i))})""",
                    new,
                )
                failures.append(
                    f"after 30 s, incidents not in the pushed view: {missing['sse']}, not "
                    f"seen by the polling peer: {missing['poll']}"
                )
            shown = _wait_for_map(page, 0, 0)
            poll_errors = page.evaluate("window.pollErrors")
            browser.close()
    if writer.errors or not new:
        failures.append(f"{len(new)} incidents recorded, errors: {writer.errors[:3]}")
    if poll_errors:
        failures.append(f"the polling peer failed: {poll_errors[:3]}")
    if int(shown["i"]) != SMOKE_INCIDENTS + len(new):
        failures.append(f"the map shows {shown['i']} incidents, not {SMOKE_INCIDENTS + len(new)}")
    print(
        f"map: {SMOKE_INCIDENTS} open incidents and {SMOKE_UNITS} units to show; {len(new)} "
        f"incidents recorded and {writer.moves} unit moves, then the map showed {shown['i']} "
        "incidents"
        + ("" if failures else "; each new one reached the pushed view (SSE) and the 1 s poll")
    )
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"smoke: {'FAILED' if failures else 'ok'}")
    return int(bool(failures))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="8 s phases (about a minute)")
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="a small county: what the map shows checked, nothing timed (seconds)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        return smoke()
    why = _no_browser()
    if why is not None:
        sys.exit(why)
    run(8.0 if args.quick else 30.0)
    return 0


def run(phase: float) -> None:
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="fk-map-bench-"))
    data_dir = workdir / "data"
    # Served as the demo is: its admin and commander log in without a second factor.
    env = {**os.environ, "FANGKONG_DATA_DIR": str(data_dir), "FANGKONG_ENVIRONMENT": "demo"}
    fangkong = [sys.executable, "-m", "fangkong.cli"]
    server: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [*fangkong, "demo", "--no-serve", "--data-dir", str(data_dir)],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        token = _seed(data_dir)
        print(
            f"demo county + {INCIDENTS} incidents + {UNITS} units in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        port = _free_port()
        server = subprocess.Popen(
            [*fangkong, "serve", "--data-dir", str(data_dir), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("the server did not start")
            time.sleep(0.2)
        points = [
            (float(x), float(y))
            for x, y in (
                line.split(",") for line in (data_dir / "bench-points.txt").read_text().splitlines()
            )
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
            _login(page, base, "commander", "fangkong-demo")
            started = time.perf_counter()
            shown = _wait_for_map(page, INCIDENTS, 0)
            print(
                f"map ready with {shown['i']} incidents and {shown['u']} units in "
                f"{time.perf_counter() - started:.1f} s"
            )
            idle: dict[str, Any] = page.evaluate(FRAME_PROBE, phase)
            page.evaluate("window.fangkongLiveStats.redrawMs.length = 0")
            page.evaluate(POLLING_PEER)
            writer = Writer(
                base, token, moves_per_s=50, incidents_per_s=2, points=points, seconds=phase
            )
            writer.start()
            loaded: dict[str, Any] = page.evaluate(FRAME_PROBE, phase)
            writer.join()
            page.wait_for_timeout(2500)  # the last answers reach both views
            redraws: list[float] = page.evaluate("window.fangkongLiveStats.redrawMs")
            sse_seen = {
                int(k): float(v)
                for k, v in page.evaluate("Array.from(window.fangkongLiveStats.seenAt.entries())")
            }
            poll_seen = {
                int(k): float(v) for k, v in page.evaluate("Array.from(window.pollSeen.entries())")
            }
            poll_bytes = int(page.evaluate("window.pollBytes"))
            poll_errors = page.evaluate("window.pollErrors")
            if poll_errors:
                print("polling peer errors:", poll_errors[:3])
            browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)

    sse = _latencies(sse_seen, writer.answered)
    poll = _latencies(poll_seen, writer.answered)
    print(
        f"\nload: {writer.moves} unit moves and {len(writer.answered)} new incidents in "
        f"{phase:.0f} s ({len(writer.errors)} errors)"
    )
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}{'long tasks':>12}")
    for name, run in (("frames idle", idle), ("frames under load", loaded)):
        print(
            f"{name:24}{statistics.median(run['gaps']):10.1f}"
            f"{_percentile(run['gaps'], 99):10.1f}{run['longTasks']:12d}"
        )
    print(
        f"{'redraw (live.js)':24}{statistics.median(redraws) if redraws else float('nan'):10.1f}"
        f"{_percentile(redraws, 99):10.1f}{'':12}  ({len(redraws)} redraws)"
    )
    print(
        f"{'write to map: SSE':24}{statistics.median(sse) if sse else float('nan'):10.0f}"
        f"{_percentile(sse, 99):10.0f}{'':12}  ({len(sse)}/{len(writer.answered)} seen)"
    )
    print(
        f"{'write to map: 1 s poll':24}{statistics.median(poll) if poll else float('nan'):10.0f}"
        f"{_percentile(poll, 99):10.0f}{'':12}  ({len(poll)}/{len(writer.answered)} seen, "
        f"{poll_bytes / 1e6:.1f} MB polled)"
    )
    print("\nratios:")
    print(
        f"  frame p99 under load / idle: "
        f"{_percentile(loaded['gaps'], 99) / _percentile(idle['gaps'], 99):.2f}x"
    )
    if sse and poll:
        print(
            f"  write-to-map p50, 1 s polling / SSE: "
            f"{statistics.median(poll) / max(statistics.median(sse), 1e-9):.1f}x"
        )
    print(f"  redraw p99 / 16.7 ms frame budget: {_percentile(redraws, 99) / 16.7:.2f}")


if __name__ == "__main__":
    sys.exit(main())
