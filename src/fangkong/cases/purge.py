"""The retention purge: cases closed longer ago than their type's retention, anonymised as the
register of personal data declares (:func:`fangkong.cases.personal.case_fields`).

The case keeps its type, area, states, times, non-personal facts and timeline skeleton, so
indicators still count it. The server runs it every few hours with the other domains' purges
(:func:`fangkong.core.personal.run_purges`); ``fangkong cases purge`` on demand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.cases import registry
from fangkong.cases._common import add_event
from fangkong.cases.attachments import seal_stored_in_clear
from fangkong.cases.models import Case, EventKind
from fangkong.cases.personal import case_fields, register_fields
from fangkong.cases.storage import AttachmentStorage, storage_in
from fangkong.core import audit
from fangkong.core import personal as register
from fangkong.core.audit import SYSTEM, Actor


@dataclass
class PurgeReport:
    """Cases anonymised, parties whose names were deleted, files deleted; and the values
    cleared by register key."""

    cases: int = 0
    parties: int = 0
    attachments: int = 0
    fields: dict[str, int] = field(default_factory=dict)


def purge(
    session: Session, *, now: datetime, storage: AttachmentStorage | None, actor: Actor = SYSTEM
) -> PurgeReport:
    """Anonymise the cases closed longer ago than their type's ``retention_days``: each entry
    of the register for their type is cleared as it declares (parties' names and contacts,
    personal and free-text values, title, description, notes, link labels, attachments)."""
    report = PurgeReport()
    cleared: Counter[str] = Counter()
    for decl in registry.all_types():
        entries = case_fields(decl)
        cutoff = now - timedelta(days=decl.retention_days)
        cases = session.scalars(
            select(Case).where(
                Case.case_type == decl.name,
                Case.closed_at.is_not(None),
                Case.closed_at <= cutoff,
                Case.purged_at.is_(None),
            )
        )
        for case in cases:
            for entry in entries:
                cleared[entry.key] += entry.clear(case, storage, now)
            case.purged_at = now
            add_event(
                case,
                kind=EventKind.PURGE,
                actor=actor,
                now=now,
                data={"retention_days": decl.retention_days},
            )
            report.cases += 1
    session.flush()
    report.fields = dict(cleared)
    report.parties = sum(n for key, n in cleared.items() if key.endswith(".party.name"))
    report.attachments = sum(n for key, n in cleared.items() if key.endswith(".attachments"))
    if report.cases:
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="case",
            detail={
                "cases": report.cases,
                "parties": report.parties,
                "attachments": report.attachments,
                "fields": {key: n for key, n in report.fields.items() if n},
            },
        )
    return report


def _registered(session: Session, context: register.PurgeContext) -> dict[str, int]:
    """The server's purge: files still stored in clear are sealed first, then the cases due
    are anonymised."""
    storage = storage_in(context.settings.data_dir)
    seal_stored_in_clear(session, storage=storage, cipher=context.cipher, actor=context.actor)
    return purge(session, now=context.now, storage=storage, actor=context.actor).fields


register.register("cases", register_fields, _registered)
