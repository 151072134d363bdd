"""The personal data of incidents: the caller's contact shown masked, unmasked with an audit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.models import User
from fangkong.core.security import FieldCipher, mask_phone
from fangkong.dispatch import permissions as perms
from fangkong.dispatch._common import require
from fangkong.dispatch.incidents import NewIncident
from fangkong.dispatch.models import (
    Incident,
)


def masked_contact(incident: Incident | NewIncident, cipher: FieldCipher) -> str | None:
    if isinstance(incident, NewIncident):  # masked when made: no decryption of what it wrote
        return incident.caller_contact_masked
    if incident.caller_contact_encrypted is None:
        return None
    return mask_phone(cipher.decrypt(incident.caller_contact_encrypted))


def reveal_contact(
    session: Session, *, incident: Incident, viewer: User | None, cipher: FieldCipher, actor: Actor
) -> str | None:
    """The caller's contact in clear: roles that need it only, and every read is audited."""
    require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="incident",
        entity_id=incident.id,
        detail={"field": "caller_contact"},
    )
    if incident.caller_contact_encrypted is None:
        return None
    return cipher.decrypt(incident.caller_contact_encrypted)
