"""The intake writer's own cost: CPU per intake of a batch, in process, against a peer.

What the writer process does per batch of API intakes, without HTTP, the event loop or the
pipe: :func:`fangkong.core.batching.write_batch` with the app's own parts
(``dispatch.fastpath._writer_parts``: resolve the token and its areas, check, place, encrypt,
insert, audit, commit, then build the answers' JSON with the road points). The county is the
intake benchmark's: 31 areas laid over the demo's road network, incidents near its roads.
This measures the writer alone, so a change to it shows here without the noise of a loaded
server: the CPU time of the benchmark's process, by batch size.

The peer writes the same batches bare: one multi-row INSERT of the incident's columns into a
table with a unique key and nothing else, then a commit. That is a batch's cost before who is
asking, where the point lies, the audit log and the answer.

Each batch size runs ``--rounds`` times over fresh keys; the least CPU per intake is kept (a
shared machine only ever adds time). Every intake must be answered as created, and the rows
both wrote must be the same (category, sub-type, priority, point, description); otherwise the
run exits with status 1.

Usage::

    python benchmarks/intake_writer.py            # 3,000 intakes per batch size and round
    python benchmarks/intake_writer.py --quick    # 600
    python benchmarks/intake_writer.py --smoke    # 20, one round: the checks, nothing timed
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import BARE_TABLE, bare_table, incident_body, prepare

BATCH_SIZES = (1, 4, 8, 16)
#: The columns both tables hold, compared row by row (the keys differ: each call has its own).
SHARED = ("category", "subtype", "priority", "lon", "lat", "description")


class Failed(Exception):
    """An intake was not created, or the rows written differ from the peer's."""


def _cpu_per_call(run_batch: Callable[[list[Any]], None], calls: list[Any], batch: int) -> float:
    """CPU seconds per call to write ``calls`` ``batch`` at a time."""
    started = time.process_time()
    for start in range(0, len(calls), batch):
        run_batch(calls[start : start + batch])
    return (time.process_time() - started) / len(calls)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="600 intakes a round")
    mode.add_argument(
        "--smoke", action="store_true", help="20 intakes, one round: checked, nothing timed"
    )
    parser.add_argument("--intakes", type=int, default=None, help="intakes a round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    args = parser.parse_args(argv)
    count = args.intakes or (20 if args.smoke else 600 if args.quick else 3_000)
    rounds = args.rounds or (1 if args.smoke else 3)
    started = time.perf_counter()
    try:
        rows = run(count, rounds)
    except Failed as error:
        print(f"FAIL: {error}")
        return 1
    if args.smoke:
        print(
            f"intake_writer: smoke run (nothing timed): {count} intakes in batches of "
            f"{', '.join(map(str, BATCH_SIZES))}, each created, the rows written the same as "
            "the bare INSERT's"
        )
        print("smoke: ok")
        return 0
    print(
        f"writer CPU per intake, least of {rounds} rounds of {count:,} intakes "
        f"(SQLite, the demo's road network)"
    )
    print(f"{'batch':>5} {'fangkong ms':>12} {'bare INSERT ms':>15} {'ratio':>7}")
    for size, ours, theirs in rows:
        print(f"{size:>5} {ours * 1e3:>12.3f} {theirs * 1e3:>15.3f} {ours / theirs:>6.1f}x")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def _written(engine: Any, table: str) -> list[tuple[Any, ...]]:
    """The ``SHARED`` columns of every row of ``table``, sorted."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return sorted(
            tuple(row) for row in conn.execute(text(f"SELECT {', '.join(SHARED)} FROM {table}"))
        )


def run(count: int, rounds: int) -> list[tuple[int, float, float]]:
    """(batch size, fangkong's CPU seconds per intake, the peer's) for each batch size, the
    least of ``rounds``; raises :class:`Failed` when an answer or a row is wrong."""

    from sqlalchemy import insert

    from fangkong.core import auth
    from fangkong.core.batching import Failed as WriteFailed
    from fangkong.core.batching import write_batch
    from fangkong.core.config import Settings
    from fangkong.core.db import make_engine
    from fangkong.dispatch import intake
    from fangkong.dispatch.fastpath import _writer_parts
    from fangkong.dispatch.schemas import IncidentIn

    with tempfile.TemporaryDirectory(prefix="fangkong-writer-") as tmp:
        prepared = prepare(Path(tmp), road_network=True)
        settings = Settings(data_dir=Path(tmp), database_url=prepared.url)
        parts = _writer_parts(settings, prepared.url)
        engine = make_engine(prepared.url)
        table = bare_table(engine)
        credential = auth.Credential(token=prepared.token)
        rng = np.random.default_rng(7)
        bodies = [
            IncidentIn.model_validate(incident_body(i, rng, prepared.scenes)) for i in range(count)
        ]
        keys = itertools.count()

        def calls() -> list[intake.IntakeCall]:
            """``count`` intakes, each with a key not used before."""
            return [
                intake.IntakeCall(
                    credential=credential, key=f"w-{next(keys)}", body=body, client="127.0.0.1"
                )
                for body in bodies
            ]

        def fangkong(batch: list[intake.IntakeCall]) -> None:
            answers = write_batch(parts.factory, parts.write, parts.answer, batch)
            failed = [a for a in answers if isinstance(a, WriteFailed) or not a[1]]
            if failed:
                raise Failed(f"an intake was not created: {failed[0]}")

        def peer(batch: list[intake.IntakeCall]) -> None:
            with engine.begin() as conn:
                conn.execute(
                    insert(table),
                    [
                        {
                            "idempotency_key": c.key,
                            "category": c.body.category,
                            "subtype": c.body.subtype,
                            "priority": c.body.priority.value,
                            "lon": c.body.lon,
                            "lat": c.body.lat,
                            "description": c.body.description,
                        }
                        for c in batch
                    ],
                )

        fangkong(calls()[:1])  # warm: the first batch loads the area index and the network
        warm = _written(engine, "incident")
        rows = []
        for size in BATCH_SIZES:
            ours = min(_cpu_per_call(fangkong, calls(), size) for _ in range(rounds))
            theirs = min(_cpu_per_call(peer, calls(), size) for _ in range(rounds))
            rows.append((size, ours, theirs))
        mine = _written(engine, "incident")
        for row in warm:
            mine.remove(row)
        bare = _written(engine, BARE_TABLE)
        engine.dispose()
    expected = count * rounds * len(BATCH_SIZES)
    if len(mine) != expected or len(bare) != expected:
        raise Failed(f"{len(mine)} incidents and {len(bare)} bare rows written, {expected} sent")
    if mine != bare:
        differ = next(f"{a} != {b}" for a, b in zip(mine, bare, strict=True) if a != b)
        raise Failed(f"the incidents written differ from the bare rows: {differ}")
    return rows


if __name__ == "__main__":
    sys.exit(main())
