"""Retention: the personal data of incidents deleted on schedule, as the register declares it.

Each entry of :func:`fangkong.dispatch.personal.fields` is cleared by one UPDATE over the
incidents that ended longer ago than its retention; the incident keeps everything else
(times, place, category), so KPIs still count it. The server runs :func:`purge` every few
hours (:func:`fangkong.core.personal.run_purges`), ``fangkong dispatch purge`` on demand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core import personal as register
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.dispatch.personal import (
    CALLER_CONTACT,
    REQUEST_DIGEST,
    IncidentField,
    Retention,
    fields,
    register_fields,
)

#: The most rows one UPDATE of the purge clears.
BATCH = 1000


def _purge_fields(
    session: Session, entries: Iterable[IncidentField], *, now: datetime, actor: Actor
) -> dict[str, int]:
    cleared: dict[str, int] = {}
    cutoffs: dict[str, str] = {}
    for entry in entries:
        cutoff = now - timedelta(days=entry.retention_days)
        table = entry.column.class_
        cleared[entry.key] = 0
        # The rows due, found through the partial index of those that still hold a value
        # (migration 0025: what was cleared before is not read again), cleared BATCH at a
        # time (each UPDATE's row locks few and short); "fetch" keeps loaded rows in step.
        while ids := session.execute(entry.due(cutoff, BATCH)).scalars().all():
            result = session.execute(
                update(table)
                .where(table.id.in_(ids))
                .values({entry.column.key: entry.cleared_value})
                .execution_options(synchronize_session="fetch")
            )
            cleared[entry.key] += int(getattr(result, "rowcount", 0) or 0)
            if len(ids) < BATCH:
                break
        cutoffs[entry.key] = cutoff.isoformat()
    if any(cleared.values()):
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="incident",
            entity_id=None,
            detail={"fields": cleared, "ended_before": cutoffs},
        )
    return cleared


def purge(session: Session, *, now: datetime, retention: Retention, actor: Actor) -> dict[str, int]:
    """Clear every personal field of incidents whose retention ended at ``now``; the values
    cleared, by register key. One audit event records the counts and the cut-offs."""
    if min(retention.contact_days, retention.text_days) < 1:
        raise InvalidInput(key="error.dispatch.retention_days", field="retention_days")
    return _purge_fields(session, fields(retention), now=now, actor=actor)


def purge_contacts(session: Session, *, now: datetime, retention_days: int, actor: Actor) -> int:
    """Delete the caller's contact (and the digest made from it) of incidents that ended more
    than ``retention_days`` ago; the number of contacts deleted."""
    if retention_days < 1:
        raise InvalidInput(key="error.dispatch.retention_days", field="retention_days")
    days = Retention(contact_days=retention_days, text_days=retention_days)
    entries = [e for e in fields(days) if e.key in (CALLER_CONTACT, REQUEST_DIGEST)]
    return _purge_fields(session, entries, now=now, actor=actor)[CALLER_CONTACT]


def _registered(session: Session, context: register.PurgeContext) -> dict[str, int]:
    return purge(
        session, now=context.now, retention=Retention.of(context.settings), actor=context.actor
    )


register.register("dispatch", register_fields, _registered)
