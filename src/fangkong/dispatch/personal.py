"""The personal data of incidents: its entries in the register, and the caller's contact shown
masked or, with the permission, in clear (audited).

An incident holds the caller's contact (encrypted), the description and the handlers' notes
(free text, where people write names) and the idempotency digest of its create request (keyed,
made from the contact and the description). Each is kept for a number of days after the
incident ended (closed, cancelled or merged), set in the settings; :mod:`.retention` deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.models import User
from fangkong.core.personal import PersonalField, Protection
from fangkong.core.security import FieldCipher, mask_phone
from fangkong.dispatch import permissions as perms
from fangkong.dispatch._common import require
from fangkong.dispatch.incidents import NewIncident
from fangkong.dispatch.models import Incident, IncidentEvent

CALLER_CONTACT = "incident.caller_contact"
REQUEST_DIGEST = "incident.request_hash"
DESCRIPTION = "incident.description"
NOTES = "incident_event.note"
ENDED = "the incident ended (closed, cancelled or merged)"


@dataclass(frozen=True)
class Retention:
    """Days after an incident ended before its caller's contact and its free text go."""

    contact_days: int
    text_days: int

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        return cls(
            contact_days=settings.caller_contact_retention_days,
            text_days=settings.incident_text_retention_days,
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class IncidentField(PersonalField):
    """An entry of the register stored in a column of incidents or of their timeline events,
    cleared by setting it to ``cleared_value`` once its incident ended ``retention_days`` ago."""

    column: InstrumentedAttribute[Any]
    cleared_value: str | None

    def held(self) -> ColumnElement[bool]:
        """Rows that still hold a value, in the terms of the partial indexes of such rows
        (migration 0025), so that PostgreSQL's planner sees that they serve the purge."""
        if self.cleared_value is None:
            return self.column.is_not(None)
        return self.column != self.cleared_value

    def expired(self, cutoff: datetime) -> ColumnElement[bool]:
        """Rows whose incident ended at or before ``cutoff`` and still hold a value (for a
        timeline's field, joined to its incident)."""
        ended = func.coalesce(Incident.closed_at, Incident.cancelled_at) <= cutoff
        # (an incident ended after it was received: the bound the index by reception serves)
        return (Incident.received_at <= cutoff) & ended & self.held()

    def due(self, cutoff: datetime, limit: int) -> Select[tuple[int]]:
        """The ids of at most ``limit`` rows whose value is due for deletion at ``cutoff``."""
        query = select(self.column.class_.id)
        if self.column.class_ is IncidentEvent:
            query = query.join(Incident, Incident.id == IncidentEvent.incident_id)
        return query.where(self.expired(cutoff)).limit(limit)


def fields(retention: Retention) -> list[IncidentField]:
    """The register's entries of incidents."""
    text_setting = "settings: incident_text_retention_days (FANGKONG_INCIDENT_TEXT_RETENTION_DAYS)"
    return [
        IncidentField(
            key=CALLER_CONTACT,
            stored_in="incident.caller_contact_encrypted",
            purpose="call the caller back while the incident is handled and reviewed",
            protection=Protection.ENCRYPTED,
            retention_days=retention.contact_days,
            anchor=ENDED,
            configured_by="settings: caller_contact_retention_days "
            "(FANGKONG_CALLER_CONTACT_RETENTION_DAYS)",
            cleared="NULL",
            column=Incident.caller_contact_encrypted,
            cleared_value=None,
        ),
        IncidentField(
            key=REQUEST_DIGEST,
            stored_in="incident.request_hash",
            purpose="tell a retried create from another request under the same idempotency key",
            protection=Protection.KEYED_DIGEST,
            retention_days=min(retention.contact_days, retention.text_days),
            anchor=ENDED,
            configured_by="the earlier of the contact's and the description's retention: it is "
            "made from both",
            cleared="NULL (a create sent again under its key is then a conflict)",
            column=Incident.request_hash,
            cleared_value=None,
        ),
        IncidentField(
            key=DESCRIPTION,
            stored_in="incident.description",
            purpose="what was reported, for those who handle and review the incident",
            protection=Protection.FREE_TEXT,
            retention_days=retention.text_days,
            anchor=ENDED,
            configured_by=text_setting,
            cleared="empty text",
            column=Incident.description,
            cleared_value="",
        ),
        IncidentField(
            key=NOTES,
            stored_in="incident_event.note",
            purpose="the handlers' notes on a status change",
            protection=Protection.FREE_TEXT,
            retention_days=retention.text_days,
            anchor=ENDED,
            configured_by=text_setting,
            cleared="NULL",
            column=IncidentEvent.note,
            cleared_value=None,
        ),
    ]


def register_fields(settings: Settings) -> list[IncidentField]:
    return fields(Retention.of(settings))


def masked_contact(incident: Incident | NewIncident, cipher: FieldCipher) -> str | None:
    if isinstance(incident, NewIncident):  # masked when made: no decryption of what it wrote
        return incident.caller_contact_masked
    if incident.caller_contact_encrypted is None:
        return None
    return cipher.masked(incident.caller_contact_encrypted, mask_phone)


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
        area_path=incident.area_path,
    )
    if incident.caller_contact_encrypted is None:
        return None
    return cipher.decrypt(incident.caller_contact_encrypted)
