"""The task ledger's tick: every :data:`INTERVAL_S` seconds the server's leader opens a
supervision case for each overdue task without an open one
(:func:`fangkong.indicators.tasks.supervise_overdue`), so that a task past its deadline stands
on the supervision board without anyone asking."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from fangkong.cases.calendar import BusinessCalendar
from fangkong.core.audit import SYSTEM
from fangkong.core.db import session_scope, utcnow
from fangkong.core.jobs import Ticker
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.indicators import tasks

INTERVAL_S = 3600.0


def run_once(
    factory: sessionmaker[Session], *, zone: ZoneInfo, calendar: BusinessCalendar
) -> list[str]:
    """Supervise the overdue tasks now, in a transaction of its own; their codes."""
    with session_scope(factory) as session:
        found = tasks.supervise_overdue(
            session, scope=SYSTEM_SCOPE, actor=SYSTEM, now=utcnow(), zone=zone, calendar=calendar
        )
        return [t.code for t in found]


def start_ticker(
    factory: sessionmaker[Session], *, zone: ZoneInfo, calendar: BusinessCalendar
) -> Ticker:
    return Ticker(
        lambda: run_once(factory, zone=zone, calendar=calendar),
        INTERVAL_S,
        name="indicator-task-supervision",
    ).start()
