"""The audit log: who did what, when and from where, for each write and each personal read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from fangkong.core.models import AuditEvent
from fangkong.core.plain_sql import RowsInsert


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (or None for the system) and the client address of the request."""

    user_id: int | None
    username: str | None
    client: str | None = None


SYSTEM = Actor(user_id=None, username="system", client="local")
# A plain INSERT of SQL built once, not a unit-of-work flush of new objects: every write
# audits, and the flush costs several times the statement (see fangkong.core.plain_sql).
_INSERT = RowsInsert(
    cast(Table, AuditEvent.__table__),
    ("user_id", "username", "client", "action", "entity", "entity_id", "detail"),
)


@dataclass(frozen=True)
class Entry:
    """One audit event: who did what to which entity (``detail``: what a reader needs)."""

    actor: Actor
    action: str
    entity: str
    entity_id: str | int | None = None
    detail: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {
            "user_id": self.actor.user_id,
            "username": self.actor.username,
            "client": self.actor.client,
            "action": self.action,
            "entity": self.entity,
            "entity_id": None if self.entity_id is None else str(self.entity_id),
            "detail": self.detail,  # None is SQL NULL, not the JSON text 'null'
        }


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction: it commits or rolls back with the change."""
    record_many(
        session,
        [Entry(actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail)],
    )


def record_many(session: Session, entries: list[Entry]) -> None:
    """Add audit events to the caller's transaction, in one statement."""
    # Pending objects first, so that the events follow what they record (as a flush would).
    session.flush()
    _INSERT.run(session.connection(), [entry.row() for entry in entries])


def get_all(
    session: Session,
    *,
    entity: str | None = None,
    action: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(AuditEvent.entity == entity)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))
