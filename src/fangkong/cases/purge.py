"""The retention purge: cases closed longer ago than their type's retention, anonymised."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.cases import registry
from fangkong.cases._common import add_event
from fangkong.cases.models import (
    Case,
    EventKind,
)
from fangkong.cases.storage import AttachmentStorage
from fangkong.core import audit
from fangkong.core.audit import SYSTEM, Actor


@dataclass
class PurgeReport:
    cases: int = 0
    parties: int = 0
    attachments: int = 0


def purge(
    session: Session, *, now: datetime, storage: AttachmentStorage | None, actor: Actor = SYSTEM
) -> PurgeReport:
    """Anonymise cases closed longer ago than their type's ``retention_days``.

    Parties' names and contacts, personal field values, free-text notes and comments, the
    title and description and the attachments are deleted; the case keeps its type, area,
    states, times, non-personal facts and timeline skeleton, so indicators still count it.
    """
    report = PurgeReport()
    for decl in registry.all_types():
        if decl.retention_days is None:
            continue
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
            for party in case.parties:
                party.name_encrypted = None
                party.contact_encrypted = None
                party.anonymised_at = now
                report.parties += 1
            case.personal_encrypted = None
            case.title = f"{decl.prefix}-{case.id:06d}"
            case.description = ""
            for event in case.events:
                event.personal_encrypted = None
                event.note = None
            for attachment in list(case.attachments):
                if storage is not None:
                    storage.delete(attachment.storage_key)
                case.attachments.remove(attachment)
                report.attachments += 1
            for event in case.events:
                if event.kind is EventKind.ATTACHMENT:
                    event.data = {"attachment_id": event.data.get("attachment_id")}
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
            },
        )
    return report
