"""Background jobs of dispatch: the caller-contact retention purge, run by the server every
few hours and by ``fangkong dispatch purge``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.audit import SYSTEM
from fangkong.core.db import session_scope, utcnow
from fangkong.dispatch import service

#: How often the server runs the purge (s): a contact outlives its schedule by at most this.
PURGE_INTERVAL_S = 6 * 3600.0


def run_purge(
    factory: sessionmaker[Session], *, retention_days: int, now: datetime | None = None
) -> int:
    """One purge of expired caller contacts in a transaction of its own; how many."""
    with session_scope(factory) as session:
        return service.purge_contacts(
            session, now=now or utcnow(), retention_days=retention_days, actor=SYSTEM
        )
