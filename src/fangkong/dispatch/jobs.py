"""Jobs of dispatch: the retention purge of incidents' personal data, run by
``fangkong dispatch purge`` (the server runs every domain's purge, see
:func:`fangkong.core.personal.run_purges`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.audit import SYSTEM
from fangkong.core.db import session_scope, utcnow
from fangkong.dispatch import retention as retention_purge
from fangkong.dispatch.personal import Retention


def run_purge(
    factory: sessionmaker[Session], *, retention: Retention, now: datetime | None = None
) -> dict[str, int]:
    """One purge of incidents' expired personal data in a transaction of its own; the values
    cleared, by register key."""
    with session_scope(factory) as session:
        return retention_purge.purge(
            session, now=now or utcnow(), retention=retention, actor=SYSTEM
        )
