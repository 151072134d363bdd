"""The audit log: who did what, when and from where, for each write and each personal read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from fangkong.core.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (or None for the system) and the client address of the request."""

    user_id: int | None
    username: str | None
    client: str | None = None


SYSTEM = Actor(user_id=None, username="system", client="local")
_INSERT = insert(cast(Table, AuditEvent.__table__))


@dataclass(frozen=True)
class Entry:
    """One audit event: who did what to which entity (``detail``: what a reader needs)."""

    actor: Actor
    action: str
    entity: str
    entity_id: str | int | None = None
    detail: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "user_id": self.actor.user_id,
            "username": self.actor.username,
            "client": self.actor.client,
            "action": self.action,
            "entity": self.entity,
            "entity_id": None if self.entity_id is None else str(self.entity_id),
        }
        if self.detail is not None:
            # Left out rather than None: a JSON column stores None as the JSON text 'null'.
            row["detail"] = self.detail
        return row


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
    record_many(session, [Entry(actor=actor, action=action, entity=entity, entity_id=entity_id,
                                detail=detail)])


def record_many(session: Session, entries: list[Entry]) -> None:
    """Add audit events to the caller's transaction, in one statement per shape of row."""
    # Pending objects first, so that the events follow what they record (as a flush would).
    session.flush()
    # A plain INSERT of a statement built once, not a unit-of-work flush of new objects:
    # every write audits, and the flush costs several times the statement.
    rows = [entry.row() for entry in entries]
    for shape in (True, False):  # an executemany needs the same columns in every row
        same = [row for row in rows if ("detail" in row) is shape]
        if same:
            session.connection().execute(_INSERT, same if len(same) > 1 else same[0])


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
