"""The indicator catalogue for every area of a county against a pandas recomputation (issue 20).

A fresh database holding the test county (31 areas, five levels; ``_server.prepare``) gets a
year (2025) of ``--incidents`` incidents (1,000,000: received, dispatched, on scene; some
merged, cancelled or simulated), ``--cases`` cases (100,000: hazards, disputes, inspections;
open, closed on time or late, overdue) and ``--devices`` devices (100,000, with the key
facilities of ``registers.py``), seeded. Then, for one month (2025-06):

- *fangkong*: ``indicators.compute.compute``: the whole catalogue (every declaration, the
  manual inputs included) for every area of every level, from the owning services' metrics
  (incidents, case cohorts, ``devices.figures``, facility rates) rolled up the tree;
- *peer*: ``pandas.read_sql`` of the month's incidents and cases and of the devices, and
  ``groupby``s of the leaves rolled up to every area by their materialised paths, giving the
  response-ring shares, mean times, incidents received, the case types' resolution rates and
  overdue counts, and the devices' online, working, networked rates: the figures it can
  recompute (density, video coverage and facility compliance need geometry and the rules).

Every run checks that fangkong's figures equal the peer's for every (indicator, area) the peer
computes (to 1e-9); a failed check exits with status 1. Goal (issue 20): ≤ 10 s for a month.

Usage::

    python benchmarks/indicators.py            # 1,000,000 incidents, 100,000 cases and devices
    python benchmarks/indicators.py --quick    # 100,000 incidents, 10,000 cases and devices
    python benchmarks/indicators.py --smoke    # 3,000 incidents, 500 cases, 500 devices: checks
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import POSTGRES_ENV, backends, prepare
from registers import _devices_setup

ZONE = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime(2025, 1, 1, tzinfo=ZONE).astimezone(UTC)
NOW = datetime(2026, 1, 15, tzinfo=UTC)
MONTH = "2025-06"
CHUNK = 50_000
CASE_TYPES = ("hazard", "dispute", "inspection")
#: Each case type's own states for a case still open, one closed, and one dropped.
OPEN_CLOSED_DROPPED = {
    "hazard": ("handling", "closed", "dismissed"),
    "dispute": ("mediating", "closed", "withdrawn"),
    "inspection": ("rectifying", "passed", "cancelled"),
}
#: The indicators the peer recomputes.
COMPARED = (
    "response.ring_1min",
    "response.ring_3min",
    "response.ring_5min",
    "response.mean_minutes",
    "response.call_to_dispatch_minutes",
    "incidents.received",
    "cases.hazard.resolution_rate",
    "cases.dispute.resolution_rate",
    "cases.inspection.resolution_rate",
    "cases.overdue",
    "devices.online_rate",
    "devices.working_rate",
    "devices.alarm_networked_rate",
    "devices.checkpoint_networked_rate",
    "devices.checkpoint_online_rate",
)


def _grids(url: str) -> list[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from fangkong.areas.models import Area
    from fangkong.core.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        grids = session.execute(
            select(Area.id, Area.path, Area.min_lon, Area.min_lat, Area.max_lon, Area.max_lat)
            .where(Area.level == "grid")
            .order_by(Area.id)
        ).all()
    engine.dispose()
    return list(grids)


def _incidents_setup(url: str, count: int, seed: int = 20) -> None:
    from sqlalchemy import insert

    from fangkong.core.county import county_of, partition_of
    from fangkong.core.db import make_engine
    from fangkong.dispatch.incidents import claim_keys
    from fangkong.dispatch.models import Incident

    rng = np.random.default_rng(seed)
    grids = _grids(url)
    engine = make_engine(url)
    year_s = 365 * 86400
    with engine.begin() as conn:
        for start in range(0, count, CHUNK):
            n = min(count, start + CHUNK) - start
            at = rng.integers(0, len(grids), n)
            received = rng.uniform(0, year_s, n)
            c2d = rng.gamma(2.0, 30.0, n)
            travel = rng.gamma(2.5, 70.0, n)
            kind = rng.random(n)
            rows = []
            for i in range(n):
                g = grids[int(at[i])]
                r = YEAR_START + timedelta(seconds=float(received[i]))
                status = "closed"
                sent = r + timedelta(seconds=float(c2d[i]))
                dispatched: datetime | None = sent
                on_scene: datetime | None = sent + timedelta(seconds=float(travel[i]))
                source = "call"
                if kind[i] < 0.03:
                    status, dispatched, on_scene = "cancelled", None, None
                elif kind[i] < 0.05:
                    status = "merged"
                elif kind[i] < 0.07:
                    source = "simulated"
                elif kind[i] < 0.09:
                    on_scene = None
                rows.append(
                    {
                        "idempotency_key": f"B{start + i:08d}",
                        "category": "criminal",
                        "subtype": "theft",
                        "priority": "P2",
                        "source": source,
                        "description": "",
                        "status": status,
                        "received_at": r,
                        "dispatched_at": dispatched,
                        "on_scene_at": on_scene,
                        "lon": (g.min_lon + g.max_lon) / 2,
                        "lat": (g.min_lat + g.max_lat) / 2,
                        "h3_cell": "x",
                        "area_id": g.id,
                        "area_path": g.path,
                        "created_at": r,
                        "updated_at": r,
                    }
                )
            conn.execute(insert(Incident), rows)
            claim_keys(
                conn,
                [(r["idempotency_key"], partition_of(county_of(r["area_path"]))) for r in rows],
            )
    engine.dispose()


def _cases_setup(url: str, count: int, seed: int = 21) -> None:
    from sqlalchemy import insert

    from fangkong.cases.models import Case
    from fangkong.core.db import make_engine

    rng = np.random.default_rng(seed)
    grids = _grids(url)
    engine = make_engine(url)
    year_s = 365 * 86400
    with engine.begin() as conn:
        for start in range(0, count, CHUNK):
            n = min(count, start + CHUNK) - start
            at = rng.integers(0, len(grids), n)
            opened = rng.uniform(0, year_s, n)
            took = rng.gamma(2.0, 5.0, n)  # days
            kind = rng.random(n)
            rows = []
            for i in range(n):
                g = grids[int(at[i])]
                o = YEAR_START + timedelta(seconds=float(opened[i]))
                due = o + timedelta(days=10)
                case_type = CASE_TYPES[(start + i) % 3]
                still_open, done, dropped = OPEN_CLOSED_DROPPED[case_type]
                closed: datetime | None = o + timedelta(days=float(took[i]))
                resolved = closed
                state = done
                if kind[i] < 0.15:
                    closed = resolved = None
                    state = still_open
                elif kind[i] < 0.2:
                    resolved = None
                    state = dropped
                late = bool(closed is not None and closed > due) or bool(
                    closed is None and rng.random() < 0.5
                )
                rows.append(
                    {
                        "case_type": case_type,
                        "title": "",
                        "description": "",
                        "state": state,
                        "area_id": g.id,
                        "area_path": g.path,
                        "data": {},
                        "opened_at": o,
                        "state_entered_at": o,
                        "due_at": None if closed is not None else due,
                        "next_check_at": None if closed is not None else o,
                        "deadline_round": 0,
                        "is_overdue": False,
                        "late": late,
                        "supervision_count": 0,
                        "closed_at": closed,
                        "resolved_at": resolved,
                        "reopen_count": 0,
                        "escalation_risk": False,
                        "risk_reasons": [],
                        "version": 1,
                        "created_at": o,
                        "updated_at": o,
                    }
                )
            conn.execute(insert(Case), rows)
    engine.dispose()


Figures = dict[tuple[str, str], float | None]


def _fangkong(url: str) -> tuple[float, Figures, int]:
    from sqlalchemy.orm import Session

    from fangkong.core.db import make_engine
    from fangkong.core.scoping import SYSTEM_SCOPE
    from fangkong.indicators import compute
    from fangkong.indicators.periods import parse

    engine = make_engine(url)
    with Session(engine) as session:
        started = time.perf_counter()
        found = compute.compute(
            session, period=parse(MONTH), scope=SYSTEM_SCOPE, now=NOW, zone=ZONE
        )
        seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, {(f.indicator_id, f.area_code): f.value for f in found}, len(found)


def _pandas(url: str) -> tuple[float, Figures]:
    import pandas as pd
    from sqlalchemy import text

    from fangkong.core.db import make_engine
    from fangkong.indicators.periods import parse

    period = parse(MONTH)
    start, end = period.start(ZONE), period.end(ZONE)
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        areas = pd.read_sql(text("SELECT id, code, path, level FROM area"), conn)
        params: dict[str, Any] = {"s": start, "e": end}
        if engine.dialect.name == "sqlite":
            params = {
                "s": start.strftime("%Y-%m-%d %H:%M:%S"),
                "e": end.strftime("%Y-%m-%d %H:%M:%S"),
            }
        inc = pd.read_sql(
            text(
                "SELECT area_id, status, received_at, dispatched_at, on_scene_at FROM incident "
                "WHERE received_at >= :s AND received_at < :e AND source != 'simulated'"
            ),
            conn,
            params=params,
        )
        cases = pd.read_sql(
            text(
                "SELECT area_id, case_type, resolved_at, closed_at, due_at, late FROM case_record "
                "WHERE opened_at >= :s AND opened_at < :e"
            ),
            conn,
            params=params,
        )
        dev = pd.read_sql(text("SELECT area_id, device_type, networked, status FROM device"), conn)
    # Each area's ancestors-or-self, by path: the roll-up.
    pairs = []
    by_path = dict(zip(areas.path, areas.id, strict=True))
    for aid, path in zip(areas.id, areas.path, strict=True):
        parts = [p for p in path.strip("/").split("/") if p]
        for d in range(1, len(parts) + 1):
            anc = by_path.get("/" + "/".join(parts[:d]) + "/")
            if anc is not None:
                pairs.append((aid, anc))
    up = pd.DataFrame(pairs, columns=["area_id", "anc"])
    code = dict(zip(areas.id, areas.code, strict=True))
    level = dict(zip(areas.id, areas.level, strict=True))

    def rolled(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        leaf = frame.groupby("area_id")[columns].sum()
        merged = up.merge(leaf, left_on="area_id", right_index=True, how="left").fillna(0)
        return merged.groupby("anc")[columns].sum().reindex(areas.id, fill_value=0)

    for c in ("received_at", "dispatched_at", "on_scene_at"):
        inc[c] = pd.to_datetime(inc[c], utc=True, format="mixed")
    live = inc.status != "merged"
    resp = (inc.on_scene_at - inc.dispatched_at).dt.total_seconds().where(live)
    c2d = (inc.dispatched_at - inc.received_at).dt.total_seconds().where(live)
    inc = inc.assign(
        n=1.0,
        responded=resp.notna().astype(float),
        resp_s=resp.fillna(0.0),
        dispatched=c2d.notna().astype(float),
        c2d_s=c2d.fillna(0.0),
        w1=(resp <= 60).astype(float),
        w3=(resp <= 180).astype(float),
        w5=(resp <= 300).astype(float),
    )
    i = rolled(inc, ["n", "responded", "resp_s", "dispatched", "c2d_s", "w1", "w3", "w5"])
    now = pd.Timestamp(NOW)
    for c in ("resolved_at", "closed_at", "due_at"):
        cases[c] = pd.to_datetime(cases[c], utc=True, format="mixed")
    cases["late"] = cases["late"].astype(bool)
    resolved = cases.resolved_at.notna() & (cases.resolved_at <= now)
    overdue = cases.late | (cases.closed_at.isna() & cases.due_at.notna() & (cases.due_at < now))
    ctab = {}
    for t in CASE_TYPES:
        mine = cases.case_type == t
        frame = cases.assign(
            found=mine.astype(float),
            on_time=(mine & resolved & ~cases.late).astype(float),
            over=(mine & overdue).astype(float),
        )
        ctab[t] = rolled(frame, ["found", "on_time", "over"])
    dev["networked"] = dev["networked"].astype(bool)
    dev = dev.assign(
        n=1.0,
        net=dev.networked.astype(float),
        online=(dev.networked & (dev.status != "offline")).astype(float),
        working=(dev.status == "working").astype(float),
    )
    dtab: dict[str | None, Any] = {None: rolled(dev, ["n", "net", "online", "working"])}
    for t in ("alarm_button", "vehicle_checkpoint"):
        dtab[t] = rolled(dev[dev.device_type == t], ["n", "net", "online", "working"])
    seconds = time.perf_counter() - started
    engine.dispose()

    def ratio(a: float, b: float, scale: float = 1.0) -> float | None:
        return scale * a / b if b else None

    out: Figures = {}
    police = {"city", "district", "station", "beat"}
    upper = {"city", "district", "station"}
    for aid in areas.id:
        c, lv = code[aid], level[aid]
        r = i.loc[aid]
        if lv in police:
            for ring, col in (("1min", "w1"), ("3min", "w3"), ("5min", "w5")):
                out[(f"response.ring_{ring}", c)] = ratio(r[col], r.responded)
            out[("response.mean_minutes", c)] = ratio(r.resp_s, r.responded, 1 / 60)
            out[("response.call_to_dispatch_minutes", c)] = ratio(r.c2d_s, r.dispatched, 1 / 60)
        out[("incidents.received", c)] = float(r.n)
        for t in CASE_TYPES:
            k = ctab[t].loc[aid]
            out[(f"cases.{t}.resolution_rate", c)] = ratio(k.on_time, k.found)
        out[("cases.overdue", c)] = float(ctab["hazard"].loc[aid].over)
        if lv in upper:
            d = dtab[None].loc[aid]
            out[("devices.online_rate", c)] = ratio(d.online, d.net)
            out[("devices.working_rate", c)] = ratio(d.working, d.n)
            a = dtab["alarm_button"].loc[aid]
            out[("devices.alarm_networked_rate", c)] = ratio(a.net, a.n)
            k2 = dtab["vehicle_checkpoint"].loc[aid]
            out[("devices.checkpoint_networked_rate", c)] = ratio(k2.net, k2.n)
            out[("devices.checkpoint_online_rate", c)] = ratio(k2.online, k2.net)
    return seconds, out


def _differences(mine: Figures, theirs: Figures) -> list[str]:
    wrong = []
    for key, value in theirs.items():
        if key not in mine:
            wrong.append(f"{key}: missing")
            continue
        got = mine[key]
        if (got is None) != (value is None) or (
            got is not None and value is not None and abs(got - value) > 1e-9 * max(1, abs(value))
        ):
            wrong.append(f"{key}: fangkong {got} pandas {value}")
    return wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="100,000 incidents, 10,000 cases and devices"
    )
    mode.add_argument(
        "--smoke", action="store_true", help="3,000 incidents, 500 cases and devices: checked"
    )
    parser.add_argument("--incidents", type=int, default=None)
    parser.add_argument("--cases", type=int, default=None)
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV))
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-only", action="store_true")
    args = parser.parse_args(argv)
    incidents = args.incidents or (3_000 if args.smoke else 100_000 if args.quick else 1_000_000)
    cases = args.cases or (500 if args.smoke else 10_000 if args.quick else 100_000)
    devices = args.devices or (500 if args.smoke else 10_000 if args.quick else 100_000)
    try:
        import pandas  # noqa: F401
    except ImportError:
        print("indicators: pandas is not installed (pip install -e '.[bench]'): peer skipped")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="fangkong-indicators-"))
    failed = 0
    try:
        for backend, pg_url in backends(args.postgres_url, sqlite_only=args.sqlite_only):
            if args.postgres_only and backend != "postgresql":
                continue
            prepared = prepare(tmp / backend, postgres_url=pg_url)
            setup = time.perf_counter()
            _incidents_setup(prepared.url, incidents)
            _cases_setup(prepared.url, cases)
            _devices_setup(prepared.url, devices)
            setup = time.perf_counter() - setup
            _fangkong(prepared.url)  # warm: imports, the catalogue, the first connection
            mine_s, mine, figures = _fangkong(prepared.url)
            peer_s, theirs = _pandas(prepared.url)
            wrong = _differences(mine, theirs)
            if wrong:
                print(f"FAIL {backend}: {len(wrong)} figures differ from pandas: {wrong[:3]}")
                failed = 1
            if args.smoke:
                print(f"{backend}: {figures:,} figures of {MONTH}; {len(theirs):,} equal pandas's")
                continue
            print(
                f"{backend}: setup {setup:.1f} s ({incidents:,} incidents, {cases:,} cases, "
                f"{devices:,} devices over 2025)"
            )
            print(f"{'backend':<11} {'task':<44} {'fangkong s':>10} {'pandas s':>9} {'ratio':>6}")
            print(
                f"{backend:<11} {f'catalogue of {MONTH}, every area':<44} {mine_s:10.2f} "
                f"{peer_s:9.2f} {mine_s / peer_s:6.1f}x"
            )
            goal = "met" if mine_s <= 10 else "MISSED"
            print(
                f"{backend:<11} {figures:,} figures ({len(theirs):,} recomputed by pandas, all "
                f"equal); goal ≤ 10 s: {goal}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.smoke:
        print(f"smoke: {'FAILED' if failed else 'ok'}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
