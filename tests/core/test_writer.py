"""Group commit in a writer process, on SQLite and PostgreSQL: answers after the commit, a
failure kept to its call, a writer that dies replaced, and what is queued written on close."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from batch_recorder import broken_parts, freeze_parts, recorder_parts, seeded_database
from conftest import run_in_new_loop
from fangkong.core.errors import InvalidInput, Unavailable
from fangkong.core.models import AuditEvent
from fangkong.core.writer import RESTART_AFTER_S, ProcessCommitter


@pytest.fixture()
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    engine = seeded_database(backend, tmp_path, suffix="_writer")
    yield engine
    engine.dispose()


def _committer(engine: Engine, **options: object) -> ProcessCommitter[str, int]:
    url = engine.url.render_as_string(hide_password=False)
    return ProcessCommitter(functools.partial(recorder_parts, url), **options)  # type: ignore[arg-type]


def _stored(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(
            str(e)
            for e in session.scalars(
                select(AuditEvent.entity_id).where(AuditEvent.action == "batch")
            )
        )


def test_what_the_first_batch_loaded_is_held_out_of_the_collectors_way(engine: Engine) -> None:
    async def main() -> list[int]:
        url = engine.url.render_as_string(hide_password=False)
        committer: ProcessCommitter[str, int] = ProcessCommitter(
            functools.partial(freeze_parts, url)
        )
        try:
            return [await committer.submit("first"), await committer.submit("second")]
        finally:
            committer.close()

    first, second = run_in_new_loop(main)
    # Frozen at start, then again after the first batch, with what that batch left behind
    # (the pool's connection, compiled statements): no full collection scans them later.
    assert 0 < first < second


def test_calls_are_answered_after_the_commit_and_fail_alone(engine: Engine) -> None:
    batches: list[int] = []

    async def main() -> list[int | BaseException]:
        committer = _committer(engine, after_batch=lambda: batches.append(1))
        try:
            # Queued in one pass of the loop: they go to the writer as one batch.
            futures = [committer.submit(c) for c in ["w1", "bad-1", "w2", "clash"]]
            # What a server bounds its queue by: the calls not answered yet.
            assert committer.pending == 4
            answers = await asyncio.gather(*futures, return_exceptions=True)
            assert committer.pending == 0
            return answers
        finally:
            committer.close()

    w1, bad, w2, clash = run_in_new_loop(main)
    # The ids were read on another connection: the rows were committed before the answers.
    assert isinstance(w1, int) and isinstance(w2, int) and w1 != w2
    assert isinstance(bad, InvalidInput) and bad.field == "call"
    # The clash rolled the batch back; the others were written again, each alone.
    assert isinstance(clash, RuntimeError) and "IntegrityError" in str(clash)
    assert _stored(engine) == ["w1", "w2"]
    assert batches


def test_a_writer_that_dies_fails_its_calls_and_the_next_call_starts_another(
    engine: Engine, tmp_path: Path
) -> None:
    entered = tmp_path / "entered"

    async def main() -> tuple[int, int, int]:
        committer = _committer(engine)
        try:
            before = await committer.submit("before")
            hung = committer.submit(f"hang:{entered}")
            while not entered.exists():
                await asyncio.sleep(0.02)
            assert committer.pid is not None
            os.kill(committer.pid, signal.SIGKILL)  # in the middle of a batch
            with pytest.raises(Unavailable, match="same idempotency key"):
                await hung
            await asyncio.sleep(RESTART_AFTER_S)
            after = await committer.submit("after")
            return before, after, committer.started
        finally:
            committer.close()

    before, after, started = run_in_new_loop(main)
    assert before != after and started == 2
    assert _stored(engine) == ["after", "before"]  # the killed batch left nothing


def test_a_sigterm_ends_the_writer_after_the_batch_it_is_writing(
    engine: Engine, tmp_path: Path
) -> None:
    entered = tmp_path / "entered"

    async def main() -> tuple[int, bool, int, int]:
        committer = _committer(engine)
        try:
            napping = committer.submit(f"nap:{entered}")
            while not entered.exists():
                await asyncio.sleep(0.02)
            assert committer.pid is not None
            os.kill(committer.pid, signal.SIGTERM)  # in the middle of a batch
            napped = await napping  # ... which is still committed and answered
            while committer.pid is not None:  # then the writer ends, and is noticed gone
                await asyncio.sleep(0.02)
            await asyncio.sleep(RESTART_AFTER_S)
            after = await committer.submit("after")
            return napped, napped != after, committer.started, len(_stored(engine))
        finally:
            committer.close()

    napped, distinct, started, stored = run_in_new_loop(main)
    assert isinstance(napped, int) and distinct and started == 2 and stored == 2


def test_a_writer_that_cannot_start_is_tried_again_once_a_second(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)

    async def main() -> tuple[list[str], int]:
        committer: ProcessCommitter[str, int] = ProcessCommitter(
            functools.partial(broken_parts, url)
        )
        failures = []
        try:
            for _ in range(3):
                with pytest.raises(Unavailable) as failed:
                    await committer.submit("w")
                failures.append(str(failed.value))
            return failures, committer.started
        finally:
            committer.close()

    failures, started = run_in_new_loop(main)
    # The first call waited for the child that died; the next two, within the second, did
    # not start another.
    assert started == 1
    assert "stopped:" in failures[0] and all("starting again" in f for f in failures[1:])


def test_close_writes_what_is_queued(engine: Engine) -> None:
    async def main() -> list[int]:
        committer = _committer(engine)
        committer.start()
        futures = [committer.submit(f"q{n}") for n in range(5)]
        committer.close()  # before the loop has even sent them
        with pytest.raises(RuntimeError, match="closed"):
            committer.submit("late")
        return [f.result() for f in futures]

    ids = run_in_new_loop(main)
    assert len(set(ids)) == 5
    assert _stored(engine) == [f"q{n}" for n in range(5)]
