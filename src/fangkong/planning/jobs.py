"""Background planning jobs: one worker thread per process runs queued runs in turn.

A job is a function of (session, progress, cancel) returning the run's result. It runs in a
thread of its own with sessions of its own: its progress is written in short transactions
(at most every :data:`REPORT_EVERY_S`), where it also reads whether a cancel was asked (from
any server process), and its result is stored with the run when it ends. The heavy work
(matrix, heuristic, HiGHS) releases the GIL, so requests are served meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.db import session_scope
from fangkong.core.errors import FangkongError
from fangkong.planning import runs
from fangkong.planning.models import Run

log = logging.getLogger(__name__)

REPORT_EVERY_S = 0.5
#: The runner marks its queued and running runs alive this often (s), whatever their jobs
#: report: a run reads as lost only when its server has gone (see ``runs.STALE_AFTER``).
HEARTBEAT_S = 30.0

#: progress(stage, fraction 0-1, figures)
Progress = Callable[[str, float, dict[str, float]], None]
Work = Callable[[Session, Progress, threading.Event], dict[str, Any]]


class Runner:
    """Runs planning jobs of one database, one at a time, in a background thread."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planning-job")
        self.cancels: dict[int, threading.Event] = {}
        self._beating: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def submit(self, run_id: int, work: Work) -> Future[None]:
        """Run ``work`` for the (committed) run ``run_id``."""
        event = threading.Event()
        with self._lock:
            self.cancels[run_id] = event
            if self._beating is None or not self._beating.is_alive():
                self._beating = threading.Thread(
                    target=self._beat, name="planning-heartbeat", daemon=True
                )
                self._beating.start()
        return self.pool.submit(self.execute, run_id, work, event)

    def _beat(self) -> None:
        """Mark this runner's queued and running runs alive every :data:`HEARTBEAT_S` until
        it has none (a job that reports nothing for minutes, or a run queued behind a long
        one, is not lost while its server lives)."""
        while True:
            with self._lock:
                # woken early when a run leaves, so the thread ends with the runner's last job
                if self.cancels:
                    self._changed.wait(HEARTBEAT_S)
                pending = list(self.cancels)
                if not pending:
                    self._beating = None
                    return
            try:
                with session_scope(self.factory) as session:
                    runs.heartbeat(session, pending)
            except Exception:  # a beat lost is no reason to stop; the next one may pass
                log.exception("planning runs %s: heartbeat failed", pending)

    def cancel(self, run_id: int) -> None:
        """Stop a job of this process now (others see the flag at their next report)."""
        event = self.cancels.get(run_id)
        if event is not None:
            event.set()

    def execute(self, run_id: int, work: Work, cancel: threading.Event) -> None:
        try:
            execute(self.factory, run_id, work, cancel)
        finally:
            with self._lock:
                self.cancels.pop(run_id, None)
                self._changed.notify_all()


def execute(
    factory: sessionmaker[Session], run_id: int, work: Work, cancel: threading.Event
) -> None:
    """Run one job to its end (also what the command line calls in its own thread)."""
    with session_scope(factory) as session:
        if not runs.claim(session, run_id):
            return  # cancelled while queued, or another worker has it
    last = [0.0]

    def progress(stage: str, fraction: float, figures: dict[str, float]) -> None:
        now = time.monotonic()
        if now - last[0] < REPORT_EVERY_S and fraction < 1.0:
            return
        last[0] = now
        try:
            with session_scope(factory) as s:
                if runs.report_progress(s, run_id, progress=fraction, stage=stage):
                    cancel.set()
        except Exception:  # a progress report lost is no reason to stop the job
            log.exception("planning run %s: progress report failed", run_id)

    result: dict[str, Any] | None = None
    error: FangkongError | None = None
    try:
        with session_scope(factory) as session:
            result = work(session, progress, cancel)
    except FangkongError as exc:
        error = exc
    except Exception as exc:
        log.exception("planning run %s failed", run_id)
        error = FangkongError(key="error.planning.job_failed", params={"kind": type(exc).__name__})
    with session_scope(factory) as session:
        run = session.get(Run, run_id)
        if run is not None:
            runs.finish(session, run, result=result, error=error)


_runners: weakref.WeakKeyDictionary[sessionmaker[Session], Runner] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def runner_for(factory: sessionmaker[Session]) -> Runner:
    """The process's runner of ``factory``'s database (created on first use)."""
    with _lock:
        runner = _runners.get(factory)
        if runner is None:
            runner = _runners[factory] = Runner(factory)
        return runner
