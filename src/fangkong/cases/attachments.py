"""Attachments of a case: files checked, stored and noted in the timeline."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from fangkong.cases import permissions as perms
from fangkong.cases._common import add_event, flush_case, number, require
from fangkong.cases.models import (
    Case,
    CaseAttachment,
    EventKind,
)
from fangkong.cases.storage import AttachmentStorage, check_file
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, NotFound
from fangkong.core.models import User


def add_attachment(
    session: Session,
    *,
    case: Case,
    filename: str,
    content_type: str | None,
    data: bytes,
    storage: AttachmentStorage,
    user: User | None,
    actor: Actor,
    now: datetime,
) -> CaseAttachment:
    """Store a file for the case (type and size checked) and note it in the timeline."""
    require(user, perms.ACT)
    if case.purged_at is not None:
        raise Conflict(f"case {number(case)} was purged", field="case_id")
    name = Path(filename.replace("\\", "/")).name.strip()[:200]
    kind = check_file(name, content_type, data)
    key = storage.save(data, suffix=Path(name).suffix.lower())
    attachment = CaseAttachment(
        filename=name,
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        uploaded_by=actor.username,
        uploaded_at=now,
    )
    case.attachments.append(attachment)
    case.updated_at = now
    try:
        session.flush()
    except BaseException:
        storage.delete(key)
        raise
    add_event(
        case,
        kind=EventKind.ATTACHMENT,
        actor=actor,
        now=now,
        data={"attachment_id": attachment.id, "filename": name, "size": len(data)},
    )
    flush_case(session, case)
    audit.record(
        session,
        actor=actor,
        action="attach",
        entity="case",
        entity_id=case.id,
        detail={"attachment_id": attachment.id, "size": len(data)},
    )
    return attachment


def get_attachment(case: Case, attachment_id: int) -> CaseAttachment:
    for attachment in case.attachments:
        if attachment.id == attachment_id:
            return attachment
    raise NotFound(
        f"attachment {attachment_id} of case {case.id} does not exist", field="attachment_id"
    )
