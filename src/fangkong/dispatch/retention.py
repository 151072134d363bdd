"""Retention: the personal data of incidents deleted on schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.dispatch.models import (
    Incident,
)


def purge_contacts(session: Session, *, now: datetime, retention_days: int, actor: Actor) -> int:
    """Delete the caller's contact of incidents that ended (closed, cancelled or merged) more
    than ``retention_days`` ago; the number purged.

    The incident keeps everything else (times, place, category), so KPIs still count it; one
    audit event records how many were purged and the cut-off.
    """
    if retention_days < 1:
        raise InvalidInput("retention_days must be at least 1", field="retention_days")
    cutoff = now - timedelta(days=retention_days)
    ended = func.coalesce(Incident.closed_at, Incident.cancelled_at)
    # One UPDATE, not a load of every expired incident; "fetch" keeps loaded ones in step.
    result = session.execute(
        update(Incident)
        .where(Incident.caller_contact_encrypted.is_not(None), ended.is_not(None), ended <= cutoff)
        .values(caller_contact_encrypted=None)
        .execution_options(synchronize_session="fetch")
    )
    purged = cast("CursorResult[Any]", result).rowcount  # an UPDATE answers a CursorResult
    if purged:
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="incident",
            entity_id=None,
            detail={
                "caller_contacts": purged,
                "ended_before": cutoff.isoformat(),
                "retention_days": retention_days,
            },
        )
    return purged
