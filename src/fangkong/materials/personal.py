"""The personal data of the hazardous-material registers: its entries in the register, the
holder's contact shown masked or, with the permission, in clear (audited), and its purge.

A holder is a unit; the one field about a person is its responsible contact (name and
phone), stored encrypted, kept while the holder is licensed and for
:data:`RETENTION_DAYS` days after its licence ended or it was deregistered, whichever came
first; then the purge clears it. Ledger rows hold no personal data (their ``recorded_by`` is
a staff account's name, as the audit log's).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.orm import Session

from fangkong.core import audit, auth
from fangkong.core import personal as register
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.models import User
from fangkong.core.personal import PersonalField, Protection
from fangkong.core.security import FieldCipher, mask_phone
from fangkong.materials import permissions as perms
from fangkong.materials.models import Holder

CONTACT_NAME = "material_holder.contact_name"
CONTACT_PHONE = "material_holder.contact_phone"
#: Days the contact is kept once the holder no longer holds a licence (a year: the last
#: reconciliations and their cases can still reach someone).
RETENTION_DAYS = 365
ENDED = "the holder's licence ended or the holder was deregistered (the earlier)"


def fields(settings: Settings) -> list[PersonalField]:
    """The register's entries of the materials registers."""
    common = {
        "protection": Protection.ENCRYPTED,
        "retention_days": RETENTION_DAYS,
        "anchor": ENDED,
        "configured_by": "fixed: fangkong.materials.personal.RETENTION_DAYS",
        "cleared": "NULL",
    }
    return [
        PersonalField(
            key=CONTACT_NAME,
            stored_in="material_holder.contact_name_encrypted",
            purpose="reach the holder's responsible person about its ledger, counts and cases",
            **common,  # type: ignore[arg-type]
        ),
        PersonalField(
            key=CONTACT_PHONE,
            stored_in="material_holder.contact_phone_encrypted",
            purpose="reach the holder's responsible person about its ledger, counts and cases",
            **common,  # type: ignore[arg-type]
        ),
    ]


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    return or_(
        Holder.deregistered_at <= cutoff,
        and_(Holder.licence_until.is_not(None), Holder.licence_until < cutoff.date()),
    )


def purge(session: Session, *, now: datetime, actor: Actor) -> dict[str, int]:
    """Clear the contact of holders whose licence ended (or who were deregistered) more than
    :data:`RETENTION_DAYS` days before ``now``; the values cleared, by register key."""
    cutoff = now - timedelta(days=RETENTION_DAYS)
    cleared: dict[str, int] = {}
    for key, column in (
        (CONTACT_NAME, Holder.contact_name_encrypted),
        (CONTACT_PHONE, Holder.contact_phone_encrypted),
    ):
        result = session.execute(
            update(Holder)
            .where(_expired(cutoff), column.is_not(None))
            .values({column.key: None})
            .execution_options(synchronize_session="fetch")
        )
        cleared[key] = int(getattr(result, "rowcount", 0) or 0)
    if any(cleared.values()):
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="material_holder",
            detail={"fields": cleared, "ended_before": cutoff.isoformat()},
        )
    return cleared


def _registered(session: Session, context: register.PurgeContext) -> dict[str, int]:
    return purge(session, now=context.now, actor=context.actor)


register.register("materials", fields, _registered)


def mask_name(value: str) -> str:
    """First character kept, the rest starred: 王五 → 王*."""
    return value[:1] + "*" * max(1, len(value) - 1) if value else ""


def masked_contact(holder: Holder, cipher: FieldCipher) -> tuple[str | None, str | None]:
    """The contact as every reader sees it: the name's first character, the phone's first
    three and last two digits."""
    name = (
        cipher.masked(holder.contact_name_encrypted, mask_name)
        if holder.contact_name_encrypted
        else None
    )
    phone = (
        cipher.masked(holder.contact_phone_encrypted, mask_phone)
        if holder.contact_phone_encrypted
        else None
    )
    return name, phone


def reveal_contact(
    session: Session, *, holder: Holder, viewer: User | None, cipher: FieldCipher, actor: Actor
) -> tuple[str | None, str | None]:
    """The contact in clear: roles that need it only, and every read is audited."""
    if viewer is not None:
        auth.require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="material_holder",
        entity_id=holder.id,
        detail={"field": "contact"},
        area_path=holder.area_path,
    )
    name = cipher.decrypt(holder.contact_name_encrypted) if holder.contact_name_encrypted else None
    phone = (
        cipher.decrypt(holder.contact_phone_encrypted) if holder.contact_phone_encrypted else None
    )
    return name, phone
