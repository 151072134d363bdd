"""Group commit: the writes of many concurrent callers in one transaction.

:func:`write_batch` writes one batch; a :class:`GroupCommitter` gathers batches and writes them
on a thread of its own, :class:`fangkong.core.writer.ProcessCommitter` in a process of its own.

A request that writes one row and commits pays the transaction's fixed costs alone: the
connection, the reads every write repeats (who is asking, their areas), the commit and its
fsync; and on SQLite every writer queues for the one write lock. A :class:`GroupCommitter`
takes what the callers queued while the previous batch was committing and writes it in one
transaction, so that these costs are paid once per batch. Under light load a batch holds one
call and nothing waits; under heavy load batches grow and the commits per call fall.

Nothing is answered before its batch has committed. ``write`` answers each call of a batch
with what it wrote or with the domain error (:class:`~fangkong.core.errors.FangkongError`) that
refused it, having written nothing for it; the others go on. Any other failure rolls the batch
back and writes its calls again one transaction each, so that one call's failure (a lost race
on a unique key, say) never costs the others theirs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.errors import FangkongError

log = logging.getLogger(__name__)

Call = TypeVar("Call")
Written = TypeVar("Written")
Answer = TypeVar("Answer")

#: The most calls in one transaction: bounds the time a batch holds the write lock.
MAX_BATCH = 256
#: How long a batch waits for more calls when the one before held several (s).
GATHER_S = 0.002


@dataclass(frozen=True)
class Failed:
    """A call that failed: the error its caller gets."""

    error: BaseException


WriteFn = Callable[[Session, list[Call]], list[Written | FangkongError]]
#: Builds the answers of what a batch wrote, once it has committed (it may read, in the batch's
#: session): per written call, in order, its answer or the exception that failed it alone.
AnswerFn = Callable[[Session, list[Written]], list[Answer | Exception]]


def write_batch(
    factory: sessionmaker[Session],
    write: WriteFn[Call, Written],
    answer: AnswerFn[Written, Answer],
    calls: list[Call],
) -> list[Answer | Failed]:
    """Write ``calls`` in one transaction (see the module); per call, its answer or why it
    failed. Nothing is answered before the commit."""
    with factory() as session:
        try:
            results = write(session, calls)
            session.commit()
        except Exception as exc:
            session.rollback()
            if len(calls) == 1:
                return [Failed(exc)]
        else:
            return _answers(session, answer, results)
    # Each alone: one call's failure is not the others'.
    return [write_batch(factory, write, answer, [call])[0] for call in calls]


def _answers(
    session: Session, answer: AnswerFn[Written, Answer], results: list[Written | FangkongError]
) -> list[Answer | Failed]:
    written = [r for r in results if not isinstance(r, FangkongError)]
    built: list[Answer | Exception]
    try:
        built = answer(session, written) if written else []
        if len(built) != len(written):
            raise RuntimeError(f"{len(built)} answers for {len(written)} calls written")
    except Exception as exc:  # the answers' failure, not the batch's: it has committed
        built = [exc] * len(written)
    answers = iter(built)
    out: list[Answer | Failed] = []
    for result in results:
        got = result if isinstance(result, FangkongError) else next(answers)
        out.append(Failed(got) if isinstance(got, Exception) else got)
    return out


def gather_deadline(last_size: int, gather_s: float) -> float:
    """Until when (``time.monotonic``) a batch waits for more calls: under load (the last
    batch held several), a moment for as many as it held, since the calls whose answers just
    left are about to come back and a batch's fixed costs are better shared by more."""
    return time.monotonic() + (gather_s if last_size > 1 else 0.0)


@dataclass
class _Pending(Generic[Call, Answer]):
    call: Call
    future: Future[Answer] = field(default_factory=Future)


class _Stop:
    pass


class GroupCommitter(Generic[Call, Written, Answer]):
    """Writes queued calls in batches, one transaction per batch, on a thread of its own.

    ``write(session, calls)`` does the calls' work in the batch's session (it must not
    commit) and returns, per call, what it wrote or the domain error that refused it.
    ``answer(session, written)`` builds the answers of what was written, once the batch has
    committed (it may read, in the same session), each an answer or the exception that fails
    its call alone. :meth:`submit` returns a future of the answer.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        write: WriteFn[Call, Written],
        answer: AnswerFn[Written, Answer],
        name: str = "group-commit",
        max_batch: int = MAX_BATCH,
        gather_s: float = GATHER_S,
    ) -> None:
        self._factory = factory
        self._write = write
        self._answer = answer
        self._max_batch = max_batch
        self._gather_s = gather_s
        self._last_size = 0
        self._queue: queue.SimpleQueue[_Pending[Call, Answer] | _Stop] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        #: Batches and calls written so far: their ratio is the mean batch size.
        self.batches = 0
        self.calls = 0
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Calls submitted and not answered yet (queued, or in the batch being written)."""
        return self._pending

    def submit(self, call: Call) -> Future[Answer]:
        """Queue ``call``; its future holds the answer, or the error, once it is written."""
        pending: _Pending[Call, Answer] = _Pending(call)
        with self._lock:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._pending += 1
            self._queue.put(pending)
        return pending.future

    def _answered(self, count: int) -> None:
        """``count`` calls are about to be answered: no longer pending."""
        with self._lock:
            self._pending -= count

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_Stop())
        self._thread.join(timeout_s)
        log.info("%s: %d calls written in %d batches", self._thread.name, self.calls, self.batches)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if isinstance(first, _Stop):
                return
            batch = [first]
            deadline = gather_deadline(self._last_size, self._gather_s)
            while len(batch) < self._max_batch:
                try:
                    wait = deadline - time.monotonic()
                    more = (
                        self._queue.get(timeout=wait)
                        if (wait > 0 and len(batch) < self._last_size)
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
                if isinstance(more, _Stop):
                    stopping = True
                    break
                batch.append(more)
            self._last_size = len(batch)
            self.batches += 1
            self.calls += len(batch)
            try:
                self._write_batch(batch)
            except BaseException as exc:
                log.exception("group commit failed")
                self._answered(sum(not p.future.done() for p in batch))
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    def _write_batch(self, batch: list[_Pending[Call, Answer]]) -> None:
        outcomes = write_batch(self._factory, self._write, self._answer, [p.call for p in batch])
        self._answered(len(batch))
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Failed):
                pending.future.set_exception(outcome.error)
            else:
                pending.future.set_result(outcome)
