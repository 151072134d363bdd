"""Jobs the server or the command line runs: the deadline tick and the retention purge.

Each job owns its transaction (``session_scope``). The tick is idempotent, so a server may run
it every few minutes from :func:`start_ticker` while ``fangkong cases tick`` runs from cron.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fangkong.cases import service
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.storage import AttachmentStorage
from fangkong.core.db import session_scope, utcnow

log = logging.getLogger(__name__)


def run_tick(
    factory: sessionmaker[Session], *, calendar: BusinessCalendar, now: datetime | None = None
) -> service.TickReport:
    """One deadline tick in a transaction of its own."""
    with session_scope(factory) as session:
        return service.tick(session, now=now or utcnow(), calendar=calendar)


def run_purge(
    factory: sessionmaker[Session],
    *,
    storage: AttachmentStorage | None,
    now: datetime | None = None,
) -> service.PurgeReport:
    """One retention purge in a transaction of its own.

    Attachment files are deleted as the purge walks the cases; should the transaction then
    fail, the rows stay and point to missing files (shown as not found) — never the reverse.
    """
    with session_scope(factory) as session:
        return service.purge(session, now=now or utcnow(), storage=storage)


class Ticker:
    """A daemon thread that runs the tick every ``interval_s`` seconds until stopped."""

    def __init__(
        self, job: Callable[[], object], interval_s: float, name: str = "cases-tick"
    ) -> None:
        self._job = job
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.runs = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._job()
                self.runs += 1
            except Exception:  # a failed run is logged and retried at the next interval
                log.exception("background job %s failed", self._thread.name)
            self._stop.wait(self._interval)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def start_ticker(
    factory: sessionmaker[Session], *, calendar: BusinessCalendar, interval_s: float = 300.0
) -> Ticker:
    """Run :func:`run_tick` now and then every ``interval_s`` seconds in a daemon thread."""
    return Ticker(lambda: run_tick(factory, calendar=calendar), interval_s).start()
