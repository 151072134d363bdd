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

from conftest import fresh_database
from fangkong.core import audit
from fangkong.core.batching import GroupCommitter
from fangkong.core.db import make_session_factory
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.models import AuditEvent

TAKEN_ID = 1_000_000
ACTOR = audit.Actor(user_id=None, username="batch-test")


@pytest.fixture()
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    engine = fresh_database(backend, tmp_path, suffix="_batch")
    with Session(engine) as session:
        session.execute(insert(AuditEvent).values(id=TAKEN_ID, action="seed", entity="t"))
        session.commit()
    yield engine
    engine.dispose()


class Recorder:
    """Writes an audit event per call ("bad…" is refused, "clash" hits a taken id), and
    answers with the id read back on a connection of its own: only a committed row is seen
    there."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[list[str], bool]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, session: Session, calls: list[str], alone: bool
              ) -> list[str | FangkongError]:
        self.seen.append((list(calls), alone))
        self.entered.set()
        self.gate.wait(10)
        out: list[str | FangkongError] = []
        for call in calls:
            if call.startswith("bad"):
                out.append(InvalidInput(f"{call} refused", field="call"))
                continue
            row: dict[str, object] = {"action": "batch", "entity": "t", "entity_id": call}
            if call == "clash":
                row["id"] = TAKEN_ID
            session.execute(insert(AuditEvent).values(**row))
            out.append(call)
        return out

    def answer(self, _session: Session, call: str) -> int:
        with Session(self.engine) as other:
            return int(other.scalars(select(AuditEvent.id).where(
                AuditEvent.action == "batch", AuditEvent.entity_id == call)).one())

    def stored(self) -> list[str]:
        with Session(self.engine) as session:
            return sorted(str(e) for e in session.scalars(
                select(AuditEvent.entity_id).where(AuditEvent.action == "batch")))


def _committer(engine: Engine, recorder: Recorder
               ) -> GroupCommitter[str, str, int]:
    return GroupCommitter(make_session_factory(engine), write=recorder.write,
                          answer=recorder.answer)


def _results(futures: list[Future[int]]) -> list[int | type[BaseException]]:
    out: list[int | type[BaseException]] = []
    for future in futures:
        error = future.exception(timeout=30)
        out.append(type(error) if error is not None else future.result())
    return out


def test_calls_queued_while_a_batch_commits_go_in_one_batch(engine: Engine) -> None:
    recorder = Recorder(engine)
    committer = _committer(engine, recorder)
    try:
        recorder.gate.clear()
        first = committer.submit("first")
        assert recorder.entered.wait(10)  # the writer holds "first" in its batch
        rest = [committer.submit(f"call-{i}") for i in range(20)]
        recorder.gate.set()
        ids = _results([first, *rest])
    finally:
        committer.close()
    # Each answer read its row on another connection: it had been committed.
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 21
    assert recorder.seen == [(["first"], True), ([f"call-{i}" for i in range(20)], False)]
    assert (committer.batches, committer.calls) == (2, 21)
    assert recorder.stored() == sorted(["first", *(f"call-{i}" for i in range(20))])


def test_a_refused_call_is_answered_with_its_error_and_the_batch_goes_on(
        engine: Engine) -> None:
    recorder = Recorder(engine)
    committer = _committer(engine, recorder)
    try:
        recorder.gate.clear()
        blocker = committer.submit("blocker")
        assert recorder.entered.wait(10)
        futures = [committer.submit(c) for c in ("a", "bad-1", "b")]
        recorder.gate.set()
        results = _results([blocker, *futures])
    finally:
        committer.close()
    assert results[2] is InvalidInput
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    assert recorder.stored() == ["a", "b", "blocker"]
    assert committer.batches == 2  # no second try: the refused call wrote nothing


def test_a_failed_write_rolls_the_batch_back_and_writes_each_call_alone(
        engine: Engine) -> None:
    recorder = Recorder(engine)
    committer = _committer(engine, recorder)
    try:
        recorder.gate.clear()
        blocker = committer.submit("blocker")
        assert recorder.entered.wait(10)
        futures = [committer.submit(c) for c in ("c", "clash", "d")]
        recorder.gate.set()
        results = _results([blocker, *futures])
    finally:
        committer.close()
    assert results[2] is IntegrityError
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    assert recorder.stored() == ["blocker", "c", "d"]  # each once, none lost with "clash"
    assert recorder.seen[1:] == [(["c", "clash", "d"], False), (["c"], True),
                                 (["clash"], True), (["d"], True)]


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
