"""The personal data of large-event security: its entries in the register, the organiser's
contact shown masked or, with the permission, in clear (audited), and its purge.

An application is an organisation's; the one field about a person is its contact (name and
phone), stored encrypted, kept until :data:`RETENTION_DAYS` days after the event ended; then
the purge clears it. Plans, posts and activations hold no personal data.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from fangkong.core import audit, auth
from fangkong.core import personal as register
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.models import User
from fangkong.core.personal import PersonalField, Protection
from fangkong.core.security import FieldCipher, mask_phone
from fangkong.events import permissions as perms
from fangkong.events.models import EventApplication

CONTACT_NAME = "event_application.contact_name"
CONTACT_PHONE = "event_application.contact_phone"
#: Days the contact is kept once the event ended (a year: its review, complaints and the next
#: year's application can still reach the organiser's contact).
RETENTION_DAYS = 365
ENDED = "the event ended (its ends_at)"


def fields(settings: Settings) -> list[PersonalField]:
    """The register's entries of large-event security."""
    purpose = "reach the organiser's responsible person about the application, its plan and case"
    return [
        PersonalField(
            key=key,
            stored_in=f"event_application.{column}",
            purpose=purpose,
            protection=Protection.ENCRYPTED,
            retention_days=RETENTION_DAYS,
            anchor=ENDED,
            configured_by="fixed: fangkong.events.personal.RETENTION_DAYS",
            cleared="NULL",
        )
        for key, column in (
            (CONTACT_NAME, "contact_name_encrypted"),
            (CONTACT_PHONE, "contact_phone_encrypted"),
        )
    ]


def purge(session: Session, *, now: datetime, actor: Actor) -> dict[str, int]:
    """Clear the contact of events that ended more than :data:`RETENTION_DAYS` days before
    ``now``; the values cleared, by register key."""
    cutoff = now - timedelta(days=RETENTION_DAYS)
    cleared: dict[str, int] = {}
    for key, column in (
        (CONTACT_NAME, EventApplication.contact_name_encrypted),
        (CONTACT_PHONE, EventApplication.contact_phone_encrypted),
    ):
        result = session.execute(
            update(EventApplication)
            .where(EventApplication.ends_at <= cutoff, column.is_not(None))
            .values({column.key: None})
            .execution_options(synchronize_session="fetch")
        )
        cleared[key] = int(getattr(result, "rowcount", 0) or 0)
    if any(cleared.values()):
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="event_application",
            detail={"fields": cleared, "ended_before": cutoff.isoformat()},
        )
    return cleared


def _registered(session: Session, context: register.PurgeContext) -> dict[str, int]:
    return purge(session, now=context.now, actor=context.actor)


register.register("events", fields, _registered)


def mask_name(value: str) -> str:
    """First character kept, the rest starred: 王五 → 王*."""
    return value[:1] + "*" * max(1, len(value) - 1) if value else ""


def masked_contact(event: EventApplication, cipher: FieldCipher) -> tuple[str | None, str | None]:
    """The contact as every reader sees it."""
    name = (
        cipher.masked(event.contact_name_encrypted, mask_name)
        if event.contact_name_encrypted
        else None
    )
    phone = (
        cipher.masked(event.contact_phone_encrypted, mask_phone)
        if event.contact_phone_encrypted
        else None
    )
    return name, phone


def reveal_contact(
    session: Session,
    *,
    event: EventApplication,
    viewer: User | None,
    cipher: FieldCipher,
    actor: Actor,
) -> tuple[str | None, str | None]:
    """The contact in clear: roles that need it only, and every read is audited."""
    if viewer is not None:
        auth.require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="event_application",
        entity_id=event.id,
        detail={"field": "contact"},
        area_path=event.area_path,
    )
    name = cipher.decrypt(event.contact_name_encrypted) if event.contact_name_encrypted else None
    phone = cipher.decrypt(event.contact_phone_encrypted) if event.contact_phone_encrypted else None
    return name, phone
