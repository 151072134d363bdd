"""Bulk incident import: fangkong's ``service.import_file`` against a bare executemany, per
backend.

A file of ``--rows`` incidents (CSV, as a county's call records are exported; seeded), one row
in fifty with a sub-type outside the taxonomy, every row with a caller's contact, is imported
into a fresh database holding a small synthetic county (``_server.prepare``):

- *fangkong, first import*: ``service.import_file`` and a commit, as
  ``POST /api/v1/incidents/import`` and ``fangkong dispatch import`` run it: each row checked
  (taxonomy, priority, point inside the importer's areas), placed in its grid, its contact
  encrypted, written with its timeline event and audit event; the bad rows reported;
- *fangkong, again*: the same file once more: every good row is found by its key and reported
  as existing, none written twice;
- *peer*: the same rows parsed with ``csv.DictReader`` and written by one SQLAlchemy Core
  executemany into a table of the same columns with a unique key, no area, no audit, no
  encryption, and a commit, over the same engine settings: what writing the rows costs on this
  machine before anything an import must check.

The file is imported in one transaction. The time is how long an import holds the database's
write lock: intake from the API waits that long.

Every run checks the answers: fangkong creates every good row and reports every bad one, the
second import writes nothing, the peer writes every row, and the rows fangkong stored are the
peer's good rows, column by column; a failed check exits with status 1.

Usage::

    python benchmarks/dispatch_import.py            # 10,000 rows (the largest import allowed)
    python benchmarks/dispatch_import.py --quick    # 2,000 rows
    python benchmarks/dispatch_import.py --smoke    # 200 rows: the checks alone, nothing timed
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import (
    BARE_TABLE,
    POSTGRES_ENV,
    backends,
    bare_table,
    incident_body,
    prepare,
    reset_postgres,
)

BAD_EVERY = 50
#: The columns both tables hold, compared row by row.
SHARED = ("idempotency_key", "category", "subtype", "priority", "lon", "lat", "description")
COLUMNS = (
    "idempotency_key",
    "category",
    "subtype",
    "priority",
    "source",
    "lon",
    "lat",
    "description",
    "caller_contact",
)


def calls_csv(rows: int, seed: int = 11) -> tuple[str, int]:
    """The file's text and how many of its rows are bad."""
    rng = np.random.default_rng(seed)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    bad = 0
    for i in range(rows):
        row = {**incident_body(i, rng), "idempotency_key": f"import-{i}"}
        if i % BAD_EVERY == BAD_EVERY - 1:
            row["subtype"] = "no-such-subtype"
            bad += 1
        writer.writerow(row)
    return out.getvalue(), bad


class Failed(Exception):
    """An import answered or stored something other than what the file holds."""


def _fangkong(url: str, text: str) -> tuple[float, float, int, int, int]:
    """Seconds for the first import and for the same file again; created, existing, errors."""
    from sqlalchemy.orm import Session

    from fangkong.core.audit import Actor
    from fangkong.core.db import make_engine, utcnow
    from fangkong.core.security import FieldCipher
    from fangkong.dispatch import service

    engine = make_engine(url)
    actor = Actor(user_id=None, username="bench", client="benchmark")
    cipher = FieldCipher("i" * 40)
    seconds = []
    reports = []
    for _ in range(2):
        with Session(engine) as session:
            started = time.perf_counter()
            reports.append(
                service.import_file(
                    session, name="calls.csv", text=text, actor=actor, now=utcnow(), cipher=cipher
                )
            )
            session.commit()
            seconds.append(time.perf_counter() - started)
    engine.dispose()
    first, again = reports
    if again.created or sorted(again.existing) != sorted(first.created):
        raise Failed("the second import wrote rows again")
    return seconds[0], seconds[1], len(first.created), len(again.existing), len(first.errors)


def _peer(url: str, text: str) -> tuple[float, int]:
    """Seconds to parse and write the rows bare; rows written."""
    from sqlalchemy import func, insert, select

    from fangkong.core.db import make_engine

    engine = make_engine(url)
    table = bare_table(engine)
    started = time.perf_counter()
    rows = [
        {
            "idempotency_key": r["idempotency_key"],
            "category": r["category"],
            "subtype": r["subtype"],
            "priority": r["priority"],
            "lon": float(r["lon"]),
            "lat": float(r["lat"]),
            "description": r["description"],
        }
        for r in csv.DictReader(io.StringIO(text))
    ]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        written = int(conn.scalar(select(func.count()).select_from(table)) or 0)
    engine.dispose()
    return seconds, written


def _stored(url: str, table: str) -> list[tuple[Any, ...]]:
    """The ``SHARED`` columns of ``table``'s rows, by key."""
    from sqlalchemy import text

    from fangkong.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [
            tuple(row)
            for row in conn.execute(
                text(f"SELECT {', '.join(SHARED)} FROM {table} ORDER BY idempotency_key")
            )
        ]
    engine.dispose()
    return rows


def _compare(mine: list[tuple[Any, ...]], peer_rows: list[tuple[Any, ...]], bad: set[str]) -> int:
    """fangkong's stored rows are the peer's rows less the bad ones, column by column; how
    many were compared (raises :class:`Failed`)."""
    theirs = [r for r in peer_rows if r[0] not in bad]
    if mine != theirs:
        differ = next(
            (f"{a} != {b}" for a, b in zip(mine, theirs, strict=False) if a != b),
            f"{len(mine)} rows stored, {len(theirs)} expected",
        )
        raise Failed(f"fangkong's stored rows differ from the peer's good rows: {differ}")
    return len(mine)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="2,000 rows")
    mode.add_argument(
        "--smoke", action="store_true", help="200 rows: the answers checked, nothing timed"
    )
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_ENV))
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    rows = args.rows or (200 if args.smoke else 2_000 if args.quick else 10_000)
    text, bad = calls_csv(rows)
    bad_keys = {f"import-{i}" for i in range(rows) if i % BAD_EVERY == BAD_EVERY - 1}
    run_on = backends(args.postgres_url, sqlite_only=args.sqlite_only)
    if args.smoke:
        print(f"dispatch_import: smoke run, {rows:,} rows, {bad} of them bad (nothing timed)")
    else:
        print(f"{rows:,} rows, {bad} of them bad; one transaction per import")
        print(f"{'backend':<11} {'method':<20} {'seconds':>8} {'rows/s':>8}  result")
    tmp = Path(tempfile.mkdtemp(prefix="fangkong-import-"))
    failed = 0
    try:
        for backend, pg_url in run_on:
            prepared = prepare(tmp / backend, postgres_url=pg_url)
            try:
                first_s, again_s, created, existing, errors = _fangkong(prepared.url, text)
            except Failed as error:
                print(f"FAIL {backend}: {error}")
                failed = 1
                continue
            if created != rows - bad or errors != bad:
                print(
                    f"FAIL {backend}: fangkong created {created} and reported {errors} errors; "
                    f"expected {rows - bad} and {bad}"
                )
                failed = 1
            # fangkong's rows read back before the peer runs (on PostgreSQL, in the same
            # database emptied: each writes into a fresh one)
            mine = _stored(prepared.url, "incident")
            if pg_url:
                reset_postgres(pg_url)
            peer_url = prepared.url if pg_url else f"sqlite:///{tmp / backend / 'peer.db'}"
            peer_s, written = _peer(peer_url, text)
            if written != rows:
                print(f"FAIL {backend}: the bare executemany wrote {written} of {rows} rows")
                failed = 1
            try:
                compared = _compare(mine, _stored(peer_url, BARE_TABLE), bad_keys)
            except Failed as error:
                print(f"FAIL {backend}: {error}")
                failed = 1
                compared = 0
            if args.smoke:
                print(
                    f"{backend}: fangkong created {created:,} and reported {errors} bad rows, "
                    f"then found {existing:,} existing and wrote none twice; the bare "
                    f"executemany wrote {written:,}; {compared:,} stored rows agree with the "
                    "peer's good rows"
                )
                continue
            print(
                f"{backend:<11} {'fangkong, first':<20} {first_s:8.2f} {rows / first_s:8.0f}"
                f"  {created:,} created, {errors} errors reported"
            )
            print(
                f"{backend:<11} {'fangkong, again':<20} {again_s:8.2f} {rows / again_s:8.0f}"
                f"  {existing:,} existing, none written twice"
            )
            print(
                f"{backend:<11} {'bare executemany':<20} {peer_s:8.2f} {rows / peer_s:8.0f}"
                f"  {written:,} written, nothing checked"
            )
            print(
                f"{backend:<11} ratio fangkong / bare executemany (time, first import): "
                f"{first_s / peer_s:.1f}x"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.smoke:
        print(f"smoke: {'FAILED' if failed else 'ok'}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
