"""Jobs the server or the command line runs: the deadline tick and the retention purge.

Each job owns its transaction (``session_scope``). The tick is idempotent, so a server may run
it every few minutes from :func:`start_ticker` while ``fangkong cases tick`` runs from cron.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fangkong.cases import service
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.storage import AttachmentStorage
from fangkong.core.db import session_scope, utcnow
from fangkong.core.jobs import Ticker

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


def start_ticker(
    factory: sessionmaker[Session], *, calendar: BusinessCalendar, interval_s: float = 300.0
) -> Ticker:
    """Run :func:`run_tick` now and then every ``interval_s`` seconds in a daemon thread."""
    return Ticker(
        lambda: run_tick(factory, calendar=calendar), interval_s, name="cases-tick"
    ).start()
