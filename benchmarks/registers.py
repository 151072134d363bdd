"""The registers' two measurable cores against a bare pandas groupby, per backend (issue 19).

*Reconciliation*: a ledger of ``--rows`` movements (1,000,000; seeded) of 300 holders,
450 sites and 6 materials over a year, with transfers between holders (both ends under one
document, some left unmatched), corrections and voids, and monthly counts, in a fresh
database holding the test county (``_server.prepare``):

- *fangkong*: ``materials.reconcile.reconcile`` over the year as the API runs it: the
  effective rows read (corrections and voids applied), then per holder, site and material
  the opening, in, out and closing with every count checked against the book at its
  moment, stock below zero, storage over capacity, transfers paired by document within
  tolerance and window, unlicensed rows; the time split into reading and computing;
- *peer*: ``pandas.read_sql`` of the same rows and one ``groupby`` of (holder, site,
  material) summing the signed quantities before and in the period: the balances alone.

*Device figures*: ``--devices`` devices (100,000) spread over the county's grids:

- *fangkong*: ``devices.figures.figures``: per area of every level and zone type, devices
  by type, networked, online and working, public camera density against its target, and
  the facilities' video coverage (a k-d tree);
- *peer*: ``pandas.read_sql`` and one ``groupby`` of (grid, zone type) counting devices,
  networked, online and working: the leaves' counts alone.

Every run checks the answers: fangkong's balances equal the peer's for every holder, site
and material (opening, in, out, closing, exactly: quantities are integers), and its figures
of each grid and zone equal the peer's counts; a failed check exits with status 1. The
ratios are fangkong's time over the peer's (end to end, and computing only against the
groupby only).

Usage::

    python benchmarks/registers.py            # 1,000,000 ledger rows, 100,000 devices
    python benchmarks/registers.py --quick    # 100,000 rows, 20,000 devices
    python benchmarks/registers.py --smoke    # 3,000 rows, 500 devices: the checks alone
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
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import POSTGRES_ENV, backends, prepare

ZONE = ZoneInfo("Asia/Shanghai")
#: Opening, in, out, closing (a ledger balance), or devices, networked, online, working.
Balance = tuple[int, int, int, int]
START = datetime(2025, 1, 1, tzinfo=ZONE)
END = datetime(2026, 1, 1, tzinfo=ZONE)
HOLDERS, SITES = 300, 450
CHUNK = 50_000


class Failed(Exception):
    pass


# --- the ledger ---------------------------------------------------------------------------------


def _ledger_setup(url: str, rows: int, seed: int = 19) -> int:
    """Write the catalogue, holders, sites and ``rows`` ledger rows (plus corrections and
    counts) straight into the tables; the rows written."""
    from sqlalchemy import insert, select
    from sqlalchemy.orm import Session

    from fangkong.areas.models import Area
    from fangkong.core.db import make_engine
    from fangkong.materials.models import (
        BaseUnit,
        Holder,
        HolderKind,
        Material,
        MaterialClass,
        Movement,
        MovementKind,
        Site,
        SiteCapacity,
        SiteKind,
        StockCount,
    )

    rng = np.random.default_rng(seed)
    engine = make_engine(url)
    with Session(engine) as session:
        grids = session.execute(
            select(Area.id, Area.path, Area.min_lon, Area.min_lat, Area.max_lon, Area.max_lat)
            .where(Area.level == "grid")
            .order_by(Area.id)
        ).all()
        materials = [
            Material(
                code=f"BM{i}",
                name_zh=f"物品{i}",
                name_en=f"m{i}",
                material_class=c,
                base_unit=u,
                units={},
            )
            for i, (c, u) in enumerate(
                [
                    (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.KG),
                    (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.PIECE),
                    (MaterialClass.TOXIC_CHEMICAL, BaseUnit.KG),
                    (MaterialClass.EXPLOSIVE_PRECURSOR, BaseUnit.KG),
                    (MaterialClass.FIREWORKS, BaseUnit.PIECE),
                    (MaterialClass.CIVIL_EXPLOSIVE, BaseUnit.METRE),
                ]
            )
        ]
        session.add_all(materials)
        holders = []
        for i in range(HOLDERS):
            g = grids[i % len(grids)]
            holders.append(
                Holder(
                    code=f"BH{i:04d}",
                    name=f"h{i}",
                    kind=HolderKind.USER,
                    licence_classes=[c.value for c in MaterialClass if rng.random() < 0.9],
                    lon=(g.min_lon + g.max_lon) / 2,
                    lat=(g.min_lat + g.max_lat) / 2,
                    h3_cell="x",
                    area_id=g.id,
                    area_path=g.path,
                )
            )
        session.add_all(holders)
        session.flush()
        sites = []
        for i in range(SITES):
            h = holders[i % HOLDERS]
            sites.append(
                Site(
                    code=f"BS{i:04d}",
                    holder_id=h.id,
                    name=f"s{i}",
                    kind=SiteKind.MAGAZINE,
                    lon=h.lon,
                    lat=h.lat,
                    h3_cell="x",
                    area_id=h.area_id,
                    area_path=h.area_path,
                )
            )
        session.add_all(sites)
        session.flush()
        for placed in sites:
            for c in MaterialClass:
                for u in BaseUnit:
                    session.add(
                        SiteCapacity(
                            site_id=placed.id,
                            material_class=c,
                            unit=u,
                            capacity_milli=int(rng.integers(10**6, 10**9)),
                        )
                    )
        session.commit()
        site_ids = np.array([s.id for s in sites])
        site_holder = np.array([s.holder_id for s in sites])
        holder_path = {h.id: h.area_path for h in holders}
        material_ids = np.array([m.id for m in materials])
    kinds = list(MovementKind)
    site = rng.integers(0, SITES, rows)
    holder = site_holder[site]
    kind = rng.choice(len(kinds), rows, p=[0.05, 0.2, 0.05, 0.15, 0.15, 0.15, 0.1, 0.1, 0.05])
    span = int((END - START).total_seconds())
    t = int(START.timestamp()) + np.sort(rng.integers(-span // 2, span, rows))
    qty = rng.integers(1, 50_000, rows)
    material = material_ids[rng.integers(0, len(material_ids), rows)]
    # A transfer: every tenth row sells to another holder, and most get their receipt.
    counterparty = np.full(rows, -1)
    doc = np.array([f"D{i}" for i in range(rows)], dtype=object)
    sells = np.flatnonzero(np.arange(rows) % 10 == 0)
    kind[sells] = kinds.index(MovementKind.SELL)
    receivers = rng.integers(0, SITES, sells.size)
    counterparty[sells] = site_holder[receivers]
    ends = sells[: int(sells.size * 0.95)] + 1
    ends = ends[ends < rows]
    kind[ends] = kinds.index(MovementKind.RECEIVE)
    site[ends] = receivers[: ends.size]
    holder[ends] = site_holder[site[ends]]
    counterparty[ends] = holder[ends - 1]
    material[ends] = material[ends - 1]
    qty[ends] = qty[ends - 1]
    doc[ends] = doc[ends - 1]
    t[ends] = t[ends - 1] + 3600
    same = counterparty == holder  # a sale to oneself is no transfer here
    counterparty[same] = -1
    recorded = datetime(2026, 1, 2, tzinfo=UTC)
    written = 0
    with engine.begin() as conn:
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            conn.execute(
                insert(Movement),
                [
                    {
                        "holder_id": int(holder[i]),
                        "site_id": int(site_ids[site[i]]),
                        "material_id": int(material[i]),
                        "kind": kinds[kind[i]].value,
                        "quantity": float(qty[i]) / 1000,
                        "unit": "x",
                        "quantity_milli": int(qty[i]),
                        "occurred_at": datetime.fromtimestamp(int(t[i]), UTC),
                        "occurred_s": int(t[i]),
                        "document_no": str(doc[i]),
                        "counterparty_id": None if counterparty[i] < 0 else int(counterparty[i]),
                        "counterparty_site_id": None,
                        "corrects_id": None,
                        "void": False,
                        "reason": None,
                        "area_path": holder_path[int(holder[i])],
                        "recorded_at": recorded,
                        "recorded_by": "bench",
                    }
                    for i in range(start, stop)
                ],
            )
            written += stop - start
        # Corrections of one row in a thousand (half of them voids), and monthly counts.
        ids = np.array(conn.execute(select(Movement.id).order_by(Movement.id)).scalars().all())
        fixed = rng.choice(ids, max(1, rows // 1000), replace=False)
        originals = {
            r.id: r for r in conn.execute(select(Movement).where(Movement.id.in_(fixed.tolist())))
        }
        corrections = []
        for n, movement_id in enumerate(sorted(originals)):
            o = originals[movement_id]
            corrections.append(
                {
                    **{
                        c: getattr(o, c)
                        for c in (
                            "holder_id",
                            "site_id",
                            "material_id",
                            "kind",
                            "unit",
                            "occurred_at",
                            "occurred_s",
                            "document_no",
                            "counterparty_id",
                            "area_path",
                        )
                    },
                    "quantity": o.quantity,
                    "counterparty_site_id": None,
                    "quantity_milli": o.quantity_milli + (0 if n % 2 else 7),
                    "corrects_id": o.id,
                    "void": n % 2 == 1,
                    "reason": "quantity",
                    "recorded_at": recorded,
                    "recorded_by": "bench",
                }
            )
        if corrections:
            conn.execute(insert(Movement), corrections)
        counts = []
        for month in range(1, 12):
            at = START + timedelta(days=30 * month)
            for k in range(0, SITES, 3):
                counts.append(
                    {
                        "holder_id": int(site_holder[k]),
                        "site_id": int(site_ids[k]),
                        "material_id": int(material_ids[month % len(material_ids)]),
                        "counted_at": at,
                        "counted_s": int(at.timestamp()),
                        "quantity": 0.0,
                        "unit": "x",
                        "quantity_milli": int(rng.integers(0, 10**7)),
                        "document_no": "",
                        "corrects_id": None,
                        "void": False,
                        "area_path": holder_path[int(site_holder[k])],
                        "recorded_at": recorded,
                        "recorded_by": "bench",
                    }
                )
        conn.execute(insert(StockCount), counts)
    engine.dispose()
    return written + len(corrections)


def _fangkong_reconcile(
    url: str,
) -> tuple[float, float, dict[tuple[int, int, int], Balance], int]:
    from sqlalchemy.orm import Session

    from fangkong.core.db import make_engine
    from fangkong.core.scoping import SYSTEM_SCOPE
    from fangkong.materials import reconcile

    engine = make_engine(url)
    with Session(engine) as session:
        started = time.perf_counter()
        ledger = reconcile.load(
            session, scope=SYSTEM_SCOPE, end_s=reconcile.seconds(END), zone=ZONE
        )
        loaded = time.perf_counter()
        result = reconcile.compute(
            ledger,
            start_s=reconcile.seconds(START),
            end_s=reconcile.seconds(END),
            now_s=reconcile.seconds(END + timedelta(days=5)),
        )
        done = time.perf_counter()
    engine.dispose()
    balances = {
        (b.holder_id, b.site_id, b.material_id): (b.opening, b.inflow, b.outflow, b.closing)
        for b in result.balances
        if b.opening or b.inflow or b.outflow
    }
    return done - started, done - loaded, balances, len(result.discrepancies)


def _pandas_reconcile(url: str) -> tuple[float, float, dict[tuple[int, int, int], Balance]]:
    import pandas as pd
    from sqlalchemy import create_engine

    from fangkong.materials.models import SIGN

    engine = create_engine(url)
    start_s, end_s = int(START.timestamp()), int(END.timestamp())
    started = time.perf_counter()
    df = pd.read_sql(
        "SELECT id, holder_id, site_id, material_id, kind, quantity_milli, occurred_s, void, "
        "corrects_id FROM material_movement",
        engine,
    )
    read = time.perf_counter()
    df = df[~df["void"].astype(bool) & ~df["id"].isin(df["corrects_id"].dropna())]
    df = df[df["occurred_s"] < end_s]
    signed = df["quantity_milli"] * df["kind"].map({k.value: v for k, v in SIGN.items()})
    before = df["occurred_s"] < start_s
    frame = pd.DataFrame(
        {
            "holder_id": df["holder_id"],
            "site_id": df["site_id"],
            "material_id": df["material_id"],
            "opening": signed.where(before, 0),
            "inflow": signed.where(~before & (signed > 0), 0),
            "outflow": (-signed).where(~before & (signed < 0), 0),
        }
    )
    sums = frame.groupby(["holder_id", "site_id", "material_id"], sort=False).sum()
    done = time.perf_counter()
    engine.dispose()
    balances = {
        (int(h), int(s), int(m)): (
            int(r.opening),
            int(r.inflow),
            int(r.outflow),
            int(r.opening + r.inflow - r.outflow),
        )
        for (h, s, m), r in sums.iterrows()
        if r.opening or r.inflow or r.outflow
    }
    return done - started, done - read, balances


# --- devices -----------------------------------------------------------------------------------


def _devices_setup(url: str, count: int, seed: int = 23) -> None:
    from sqlalchemy import insert, select
    from sqlalchemy.orm import Session

    from fangkong.areas.models import Area
    from fangkong.core.db import make_engine
    from fangkong.devices.models import (
        AreaZone,
        Device,
        DeviceStatus,
        DeviceType,
        OwnerKind,
        ZoneType,
    )
    from fangkong.facilities.models import Facility, FacilityType

    rng = np.random.default_rng(seed)
    engine = make_engine(url)
    with Session(engine) as session:
        grids = session.execute(
            select(Area.id, Area.path, Area.min_lon, Area.min_lat, Area.max_lon, Area.max_lat)
            .where(Area.level == "grid")
            .order_by(Area.id)
        ).all()
        zones = [ZoneType.CENTRAL_URBAN, ZoneType.URBAN_FRINGE, ZoneType.RURAL]
        for i, g in enumerate(grids):
            session.add(AreaZone(area_id=g.id, zone_type=zones[i % 3]))
        for i in range(count // 50):
            g = grids[i % len(grids)]
            session.add(
                Facility(
                    code=f"BF{i}",
                    name="f",
                    facility_type=list(FacilityType)[i % 11],
                    lon=float(rng.uniform(g.min_lon, g.max_lon)),
                    lat=float(rng.uniform(g.min_lat, g.max_lat)),
                    h3_cell="x",
                    area_id=g.id,
                    area_path=g.path,
                )
            )
        session.commit()
    types, owners, statuses = list(DeviceType), list(OwnerKind), list(DeviceStatus)
    at_grid = rng.integers(0, len(grids), count)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for start in range(0, count, CHUNK):
            stop = min(count, start + CHUNK)
            conn.execute(
                insert(Device),
                [
                    {
                        "code": f"BD{i:07d}",
                        "name": "",
                        "device_type": types[int(rng.integers(0, 5))].value,
                        "owner_kind": owners[int(rng.integers(0, 2))].value,
                        "facility_id": None,
                        "zone_type": list(ZoneType)[int(rng.integers(0, 4))].value,
                        "networked": bool(rng.random() < 0.9),
                        "status": statuses[int(rng.choice(3, p=[0.9, 0.06, 0.04]))].value,
                        "status_at": at,
                        "last_heartbeat_at": None,
                        "lon": float(
                            rng.uniform(
                                grids[int(at_grid[i])].min_lon, grids[int(at_grid[i])].max_lon
                            )
                        ),
                        "lat": float(
                            rng.uniform(
                                grids[int(at_grid[i])].min_lat, grids[int(at_grid[i])].max_lat
                            )
                        ),
                        "h3_cell": "x",
                        "area_id": grids[int(at_grid[i])].id,
                        "area_path": grids[int(at_grid[i])].path,
                        "created_at": at,
                        "updated_at": at,
                    }
                    for i in range(start, stop)
                ],
            )
    engine.dispose()


def _fangkong_figures(url: str) -> tuple[float, float, dict[tuple[str, str], Balance]]:
    from sqlalchemy.orm import Session

    from fangkong.core.db import make_engine
    from fangkong.core.scoping import SYSTEM_SCOPE
    from fangkong.devices import figures

    engine = make_engine(url)
    with Session(engine) as session:
        started = time.perf_counter()
        inputs = figures.load(session, scope=SYSTEM_SCOPE)
        loaded = time.perf_counter()
        found = figures.compute(inputs)
        done = time.perf_counter()
    engine.dispose()
    leaves = {
        (a.code, z.zone): (z.devices, z.networked, z.online, z.working)
        for a in found
        if a.level == "grid"
        for z in a.zones
        if z.zone != "all" and z.devices
    }
    return done - started, done - loaded, leaves


def _pandas_figures(url: str) -> tuple[float, float, dict[tuple[str, str], Balance]]:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(url)
    started = time.perf_counter()
    df = pd.read_sql(
        "SELECT a.code AS area, d.zone_type, d.networked, d.status FROM device d "
        "JOIN area a ON a.id = d.area_id",
        engine,
    )
    read = time.perf_counter()
    df["networked"] = df["networked"].astype(bool)
    df["online"] = df["networked"] & (df["status"] != "offline")
    df["working"] = df["status"] == "working"
    sums = df.groupby(["area", "zone_type"], sort=False).agg(
        devices=("status", "size"),
        networked=("networked", "sum"),
        online=("online", "sum"),
        working=("working", "sum"),
    )
    done = time.perf_counter()
    engine.dispose()
    leaves = {
        (str(a), str(z)): (int(r.devices), int(r.networked), int(r.online), int(r.working))
        for (a, z), r in sums.iterrows()
    }
    return done - started, done - read, leaves


# --- the run ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="100,000 rows, 20,000 devices")
    mode.add_argument(
        "--smoke", action="store_true", help="3,000 rows, 500 devices: checked, not timed"
    )
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV))
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true")
    only.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    args = parser.parse_args(argv)
    rows = args.rows or (3_000 if args.smoke else 100_000 if args.quick else 1_000_000)
    devices = args.devices or (500 if args.smoke else 20_000 if args.quick else 100_000)
    try:
        import pandas  # noqa: F401
    except ImportError:
        print("registers: pandas is not installed (pip install -e '.[bench]'): peer skipped")
        return 0
    run_on = backends(args.postgres_url, sqlite_only=args.sqlite_only)
    if args.postgres_only:
        run_on = [(backend, url) for backend, url in run_on if backend != "sqlite"]
        if not run_on:
            parser.error(f"--postgres-only needs --postgres-url or {POSTGRES_ENV}")
    tmp = Path(tempfile.mkdtemp(prefix="fangkong-registers-"))
    failed = 0
    try:
        for backend, pg_url in run_on:
            prepared = prepare(tmp / backend, postgres_url=pg_url)
            setup = time.perf_counter()
            written = _ledger_setup(prepared.url, rows)
            _devices_setup(prepared.url, devices)
            setup = time.perf_counter() - setup
            mine_s, mine_compute_s, mine, found = _fangkong_reconcile(prepared.url)
            peer_s, peer_compute_s, theirs = _pandas_reconcile(prepared.url)
            if mine != theirs:
                differ = sorted(set(mine.items()) ^ set(theirs.items()))[:3]
                print(f"FAIL {backend}: balances differ from the pandas groupby: {differ}")
                failed = 1
            fig_s, fig_compute_s, fig = _fangkong_figures(prepared.url)
            pfig_s, pfig_compute_s, pfig = _pandas_figures(prepared.url)
            if fig != pfig:
                differ_figures = sorted(set(fig.items()) ^ set(pfig.items()))[:3]
                print(
                    f"FAIL {backend}: device figures differ from the pandas groupby: "
                    f"{differ_figures}"
                )
                failed = 1
            if args.smoke:
                print(
                    f"{backend}: {written:,} ledger rows reconciled, {len(mine):,} balances equal "
                    f"the pandas groupby's, {found:,} discrepancies; {devices:,} devices, "
                    f"{len(fig):,} grid and zone figures equal the groupby's"
                )
                continue
            print(f"{backend}: setup {setup:.1f} s ({written:,} ledger rows, {devices:,} devices)")
            print(f"{'backend':<11} {'task':<34} {'fangkong s':>10} {'pandas s':>9} {'ratio':>6}")
            for task, a, b in (
                (f"reconcile {written:,} rows, end to end", mine_s, peer_s),
                ("reconcile, computing only", mine_compute_s, peer_compute_s),
                (f"figures of {devices:,} devices, end to end", fig_s, pfig_s),
                ("figures, computing only", fig_compute_s, pfig_compute_s),
            ):
                print(f"{backend:<11} {task:<34} {a:10.2f} {b:9.2f} {a / b:6.1f}x")
            print(
                f"{backend:<11} {len(mine):,} balances equal the groupby's; {found:,} "
                f"discrepancies found besides; {len(fig):,} grid and zone figures equal"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.smoke:
        print(f"smoke: {'FAILED' if failed else 'ok'}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
