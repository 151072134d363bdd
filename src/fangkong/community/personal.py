"""The personal data of the community safety forces and of the public's tips: their entries in
the register, the values shown masked or, with the permission, in clear (audited), and the
purge.

- a patrol's or committee's member: name and phone, encrypted, kept while the member serves
  and cleared at the first purge after they left (the row stays, nameless, for past rosters);
- a tipster's contact, when one was left: encrypted, cleared :data:`TIP_CONTACT_DAYS` days
  after the tip's hazard case closed. The tip's text and photo are the case's (its
  description and sealed attachment) and go with the case's own register entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.community import permissions as perms
from fangkong.community.models import PublicTip, SafetyMember
from fangkong.core import audit, auth
from fangkong.core import personal as register
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.models import User
from fangkong.core.personal import PersonalField, Protection
from fangkong.core.security import FieldCipher, mask_phone

MEMBER_NAME = "safety_member.name"
MEMBER_PHONE = "safety_member.phone"
TIP_CONTACT = "public_tip.contact"
#: Days a tipster's contact is kept after the tip's case closed (a reopened case may still
#: need to ask them).
TIP_CONTACT_DAYS = 30


def fields(settings: Settings) -> list[PersonalField]:
    """The register's entries of the community safety forces and the public's tips."""
    member = {
        "protection": Protection.ENCRYPTED,
        "retention_days": 0,
        "anchor": "the member left the team",
        "configured_by": "fixed: kept while the member serves",
        "cleared": "NULL (the member's row stays, nameless, for past rosters)",
    }
    return [
        PersonalField(
            key=MEMBER_NAME,
            stored_in="safety_member.name_encrypted",
            purpose="put a patrol's or committee's member on its roster and shifts",
            **member,  # type: ignore[arg-type]
        ),
        PersonalField(
            key=MEMBER_PHONE,
            stored_in="safety_member.phone_encrypted",
            purpose="call a member about their shift",
            **member,  # type: ignore[arg-type]
        ),
        PersonalField(
            key=TIP_CONTACT,
            stored_in="public_tip.contact_encrypted",
            purpose="ask a tipster about their tip while its hazard case is handled",
            protection=Protection.ENCRYPTED,
            retention_days=TIP_CONTACT_DAYS,
            anchor="the tip's hazard case closed",
            configured_by="fixed: fangkong.community.personal.TIP_CONTACT_DAYS",
            cleared="NULL",
        ),
    ]


def purge(session: Session, *, now: datetime, actor: Actor) -> dict[str, int]:
    """Clear the names and phones of members who left, and the contacts of tips whose case
    closed more than :data:`TIP_CONTACT_DAYS` days before ``now`` (or is gone)."""
    cleared: dict[str, int] = {}
    for key, column in (
        (MEMBER_NAME, SafetyMember.name_encrypted),
        (MEMBER_PHONE, SafetyMember.phone_encrypted),
    ):
        result = session.execute(
            update(SafetyMember)
            .where(SafetyMember.left_at.is_not(None), SafetyMember.left_at <= now)
            .where(column.is_not(None))
            .values({column.key: None})
            .execution_options(synchronize_session="fetch")
        )
        cleared[key] = int(getattr(result, "rowcount", 0) or 0)
    cutoff = now - timedelta(days=TIP_CONTACT_DAYS)
    ended = select(PublicTip.id).where(
        PublicTip.contact_encrypted.is_not(None),
        (PublicTip.case_id.is_(None))
        | PublicTip.case_id.in_(
            select(Case.id).where(Case.closed_at.is_not(None), Case.closed_at <= cutoff)
        ),
    )
    ids = list(session.scalars(ended))
    if ids:
        session.execute(
            update(PublicTip)
            .where(PublicTip.id.in_(ids))
            .values(contact_encrypted=None)
            .execution_options(synchronize_session="fetch")
        )
    cleared[TIP_CONTACT] = len(ids)
    if any(cleared.values()):
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="community",
            detail={"fields": cleared},
        )
    return cleared


def _registered(session: Session, context: register.PurgeContext) -> dict[str, int]:
    return purge(session, now=context.now, actor=context.actor)


register.register("community", fields, _registered)


def masked_member(member: SafetyMember, cipher: FieldCipher) -> tuple[str | None, str | None]:
    """The member as every reader sees them: the name's first character, the phone's first
    three and last two digits."""
    name = cipher.masked(member.name_encrypted, cases.mask_name) if member.name_encrypted else None
    phone = cipher.masked(member.phone_encrypted, mask_phone) if member.phone_encrypted else None
    return name, phone


def reveal_member(
    session: Session,
    *,
    member: SafetyMember,
    viewer: User | None,
    cipher: FieldCipher,
    actor: Actor,
) -> tuple[str | None, str | None]:
    """The member's name and phone in clear: roles that need it only, every read audited."""
    if viewer is not None:
        auth.require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="safety_member",
        entity_id=member.id,
        detail={"field": "name, phone"},
        area_path=member.area_path,
    )
    name = cipher.decrypt(member.name_encrypted) if member.name_encrypted else None
    phone = cipher.decrypt(member.phone_encrypted) if member.phone_encrypted else None
    return name, phone


def masked_contact(tip: PublicTip, cipher: FieldCipher) -> str | None:
    """A tipster's contact as every reader sees it: its first and last two characters."""
    if not tip.contact_encrypted:
        return None
    value = cipher.decrypt(tip.contact_encrypted)
    return value[:2] + "*" * max(1, len(value) - 4) + value[-2:] if len(value) > 4 else "*" * 4


def reveal_contact(
    session: Session, *, tip: PublicTip, viewer: User | None, cipher: FieldCipher, actor: Actor
) -> str | None:
    """A tipster's contact in clear: roles that need it only, every read audited."""
    if viewer is not None:
        auth.require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="public_tip",
        entity_id=tip.id,
        detail={"field": "contact"},
        area_path=tip.area_path,
    )
    return cipher.decrypt(tip.contact_encrypted) if tip.contact_encrypted else None
