"""Attachments of a case: files checked, sealed at rest, noted in the timeline, and downloaded
with a check and an audit event each time.

A file may show people, so it is never kept in clear: :meth:`FieldCipher.seal` encrypts it
with a key of its own (AES-256-GCM) and the key is kept, encrypted with the field cipher, on
the attachment's row; the content's digest is keyed. Every download is audited; the files of a
case that holds personal data (a type with parties or personal fields, or a case with any)
need the unmask permission as its parties do.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from fangkong.cases import permissions as perms
from fangkong.cases._common import add_event, decl_of, flush_case, number, require
from fangkong.cases.models import Case, CaseAttachment, EventKind
from fangkong.cases.storage import AttachmentStorage, check_file
from fangkong.core import audit, auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.errors import Conflict, Forbidden, NotFound
from fangkong.core.models import User
from fangkong.core.security import FieldCipher


def add_attachment(
    session: Session,
    *,
    case: Case,
    filename: str,
    content_type: str | None,
    data: bytes,
    storage: AttachmentStorage,
    cipher: FieldCipher,
    user: User | None,
    actor: Actor,
    now: datetime,
) -> CaseAttachment:
    """Seal and store a file for the case (type and size checked) and note it in the
    timeline."""
    require(user, perms.ACT)
    if case.purged_at is not None:
        raise Conflict(key="error.cases.purged", params={"number": number(case)}, field="case_id")
    name = Path(filename.replace("\\", "/")).name.strip()[:200]
    kind = check_file(name, content_type, data)
    sealed, file_key = cipher.seal(data)
    key = storage.save(sealed, suffix=Path(name).suffix.lower())
    attachment = CaseAttachment(
        filename=name,
        content_type=kind,
        size=len(data),
        sha256=cipher.keyed_digest(data),
        storage_key=key,
        key_encrypted=file_key,
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
        area_path=case.area_path,
        detail={"attachment_id": attachment.id, "size": len(data)},
    )
    return attachment


def get_attachment(case: Case, attachment_id: int) -> CaseAttachment:
    for attachment in case.attachments:
        if attachment.id == attachment_id:
            return attachment
    raise NotFound(
        key="error.cases.attachment_not_found",
        params={"attachment_id": attachment_id, "case_id": case.id},
        field="attachment_id",
    )


def holds_personal_data(case: Case) -> bool:
    """Whether the case holds personal data beyond free text: its type declares parties or
    personal fields, or it has parties or personal values."""
    return (
        decl_of(case).holds_personal_data
        or bool(case.parties)
        or case.personal_encrypted is not None
    )


def may_open_attachments(case: Case, user: User | None) -> bool:
    """Whether ``user`` may download the case's attachments (the system may): those of a case
    that holds personal data need ``cases.personal.unmask`` (pages show the others only the
    file names)."""
    return user is None or not holds_personal_data(case) or auth.can(user, perms.UNMASK)


def open_attachment(
    session: Session,
    *,
    case: Case,
    attachment_id: int,
    storage: AttachmentStorage,
    cipher: FieldCipher,
    user: User | None,
    actor: Actor,
) -> tuple[CaseAttachment, bytes]:
    """An attachment and its content in clear, for a download; every download is audited.

    The caller has read the case in the user's scope; the user needs ``cases.read``, and for
    a case that holds personal data (:func:`holds_personal_data`) ``cases.personal.unmask``
    (else :class:`Forbidden`, before anything is read).
    """
    require(user, perms.READ)
    attachment = get_attachment(case, attachment_id)
    personal = holds_personal_data(case)
    if not may_open_attachments(case, user):
        raise Forbidden(
            key="error.cases.attachment_needs_unmask",
            params={"number": number(case), "permission": perms.UNMASK},
        )
    stored = storage.read(attachment.storage_key)
    data = (
        stored
        if attachment.key_encrypted is None
        else cipher.unseal(stored, attachment.key_encrypted)
    )
    audit.record(
        session,
        actor=actor,
        action="download",
        entity="case",
        entity_id=case.id,
        area_path=case.area_path,
        detail={"attachment_id": attachment.id, "size": len(data), "personal": personal},
    )
    return attachment, data


def seal_stored_in_clear(
    session: Session, *, storage: AttachmentStorage, cipher: FieldCipher, actor: Actor = SYSTEM
) -> int:
    """Seal the files stored in clear before files were sealed; how many.

    Each is sealed into a new file and its row points there; the file in clear is deleted once
    the transaction commits (should it roll back, the row still points to the file in clear
    and the sealed copy is left unreferenced, unreadable without the row's key).
    """
    rows = list(
        session.scalars(
            select(CaseAttachment)
            .where(CaseAttachment.key_encrypted.is_(None))
            .order_by(CaseAttachment.id)
        )
    )
    in_clear: list[str] = []
    for attachment in rows:
        try:
            data = storage.read(attachment.storage_key)
        except NotFound:
            continue  # a file already gone (a purge whose transaction failed): nothing to seal
        sealed, file_key = cipher.seal(data)
        in_clear.append(attachment.storage_key)
        attachment.storage_key = storage.save(
            sealed, suffix=Path(attachment.storage_key).suffix.lower()
        )
        attachment.key_encrypted = file_key
        attachment.sha256 = cipher.keyed_digest(data)
    if not in_clear:
        return 0
    session.flush()

    settled = False

    def committed(_: Session) -> None:
        nonlocal settled
        if not settled:
            settled = True
            for key in in_clear:
                storage.delete(key)

    def rolled_back(_: Session, transaction: SessionTransaction) -> None:
        nonlocal settled
        if not transaction.nested:  # the rows point to the files in clear again: keep them
            settled = True

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_soft_rollback", rolled_back)
    audit.record(
        session,
        actor=actor,
        action="seal",
        entity="case_attachment",
        detail={"files": len(in_clear)},
    )
    return len(in_clear)
