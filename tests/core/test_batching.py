"""Group commit on SQLite and PostgreSQL: batches, answers after the commit, failures kept to
the call that failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from batch_recorder import TAKEN_AT, TAKEN_ID, seeded_database
from fangkong.core import audit
from fangkong.core.batching import GroupCommitter
from fangkong.core.db import make_session_factory
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.models import AuditEvent

ACTOR = audit.Actor(user_id=None, username="batch-test")


@pytest.fixture()
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    engine = seeded_database(backend, tmp_path, suffix="_batch")
    yield engine
    engine.dispose()


class Recorder:
    """Writes an audit event per call ("bad…" is refused, "clash" hits a taken id), and
    answers with the id read back on a connection of its own: only a committed row is seen
    there."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[list[str]] = []
        self.answered: list[list[str]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, session: Session, calls: list[str]) -> list[str | FangkongError]:
        self.seen.append(list(calls))
        self.entered.set()
        self.gate.wait(10)
        out: list[str | FangkongError] = []
        for call in calls:
            if call.startswith("bad"):
                out.append(InvalidInput(f"{call} refused", field="call"))
                continue
            row: dict[str, object] = {"action": "batch", "entity": "t", "entity_id": call}
            if call == "clash":
                row["id"], row["at"] = TAKEN_ID, TAKEN_AT
            session.execute(insert(AuditEvent).values(**row))
            out.append(call)
        return out

    def answer(self, _session: Session, calls: list[str]) -> list[int | Exception]:
        """Answers a batch; "mute…" gets an error instead, and "crash" fails them all."""
        self.answered.append(list(calls))
        if "crash" in calls:
            raise RuntimeError("no answers")
        with Session(self.engine) as other:
            return [
                LookupError(f"no answer for {call}")
                if call.startswith("mute")
                else int(
                    other.scalars(
                        select(AuditEvent.id).where(
                            AuditEvent.action == "batch", AuditEvent.entity_id == call
                        )
                    ).one()
                )
                for call in calls
            ]

    def stored(self) -> list[str]:
        with Session(self.engine) as session:
            return sorted(
                str(e)
                for e in session.scalars(
                    select(AuditEvent.entity_id).where(AuditEvent.action == "batch")
                )
            )


def _committer(engine: Engine, recorder: Recorder) -> GroupCommitter[str, str, int]:
    return GroupCommitter(
        make_session_factory(engine), write=recorder.write, answer=recorder.answer
    )


Outcome = int | type[BaseException]


def _batch_after_a_blocker(
    engine: Engine, recorder: Recorder, calls: list[str]
) -> tuple[GroupCommitter[str, str, int], list[Outcome]]:
    """Write ``calls`` as one batch: queued while a first call ("blocker") is being written."""
    committer = _committer(engine, recorder)
    try:
        recorder.gate.clear()
        blocker = committer.submit("blocker")
        assert recorder.entered.wait(10)  # the writer holds "blocker" in its batch
        futures = [committer.submit(c) for c in calls]
        # What a server bounds its queue by: the calls not answered yet.
        assert committer.pending == 1 + len(calls)
        recorder.gate.set()
        results = _results([blocker, *futures])
        assert committer.pending == 0
        return committer, results
    finally:
        committer.close()


def _results(futures: list[Future[int]]) -> list[Outcome]:
    out: list[Outcome] = []
    for future in futures:
        error = future.exception(timeout=30)
        out.append(type(error) if error is not None else future.result())
    return out


def test_calls_queued_while_a_batch_commits_go_in_one_batch(engine: Engine) -> None:
    recorder = Recorder(engine)
    calls = [f"call-{i}" for i in range(20)]
    committer, ids = _batch_after_a_blocker(engine, recorder, calls)
    # Each answer read its row on another connection: it had been committed.
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 21
    assert recorder.seen == [["blocker"], calls]
    assert (committer.batches, committer.calls) == (2, 21)
    assert recorder.stored() == sorted(["blocker", *calls])


@pytest.mark.parametrize(
    ("bad", "error", "second_try"),
    [
        ("bad-1", InvalidInput, False),  # refused before it wrote: the batch goes on
        ("clash", IntegrityError, True),  # failed writing: the batch again, each call alone
    ],
)
def test_a_failing_call_fails_alone(
    engine: Engine, bad: str, error: type[Exception], second_try: bool
) -> None:
    recorder = Recorder(engine)
    _, results = _batch_after_a_blocker(engine, recorder, ["c", bad, "d"])
    assert results[2] is error
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    assert recorder.stored() == ["blocker", "c", "d"]  # each once, none lost with the bad one
    alone = [[call] for call in ("c", bad, "d")] if second_try else []
    assert recorder.seen[1:] == [["c", bad, "d"], *alone]


def test_a_batch_is_answered_at_once_and_an_answer_that_fails_fails_alone(engine: Engine) -> None:
    recorder = Recorder(engine)
    _, results = _batch_after_a_blocker(engine, recorder, ["c", "bad-1", "mute-1", "d"])
    assert results[2:4] == [InvalidInput, LookupError]
    assert all(isinstance(r, int) for i, r in enumerate(results) if i not in (2, 3))
    # one answer call per batch, of what it wrote; the unanswered call was still committed
    assert recorder.answered == [["blocker"], ["c", "mute-1", "d"]]
    assert recorder.stored() == ["blocker", "c", "d", "mute-1"]


def test_answers_that_fail_together_fail_their_calls_not_their_commit(engine: Engine) -> None:
    recorder = Recorder(engine)
    _, results = _batch_after_a_blocker(engine, recorder, ["c", "crash", "d"])
    assert results == [results[0], RuntimeError, RuntimeError, RuntimeError]
    assert isinstance(results[0], int)
    assert recorder.stored() == ["blocker", "c", "crash", "d"]  # written all the same
    assert recorder.seen[1:] == [["c", "crash", "d"]]  # and not written again


def test_close_writes_what_is_queued_and_refuses_more(engine: Engine) -> None:
    recorder = Recorder(engine)
    committer = _committer(engine, recorder)
    recorder.gate.clear()
    futures = [committer.submit(f"q-{i}") for i in range(5)]
    closing = threading.Thread(target=committer.close)
    closing.start()
    recorder.gate.set()
    closing.join(30)
    assert all(f.done() and f.exception() is None for f in futures)
    assert recorder.stored() == [f"q-{i}" for i in range(5)]
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit("late")
