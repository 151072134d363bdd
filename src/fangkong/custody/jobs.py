"""The custody alerts' tick: every :data:`INTERVAL_S` seconds the server's leader opens the
overdue cases of items past their stage's deadline
(:func:`fangkong.custody.service.raise_alerts`)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from fangkong.cases.calendar import BusinessCalendar
from fangkong.core.audit import SYSTEM
from fangkong.core.db import session_scope, utcnow
from fangkong.core.jobs import Ticker
from fangkong.custody import service

INTERVAL_S = 600.0


def run_once(factory: sessionmaker[Session], *, calendar: BusinessCalendar) -> list[int]:
    """Open the alerts due now, in a transaction of its own; the cases opened."""
    with session_scope(factory) as session:
        return service.raise_alerts(session, now=utcnow(), calendar=calendar, actor=SYSTEM)


def start_ticker(factory: sessionmaker[Session], *, calendar: BusinessCalendar) -> Ticker:
    return Ticker(
        lambda: run_once(factory, calendar=calendar), INTERVAL_S, name="custody-alerts"
    ).start()
