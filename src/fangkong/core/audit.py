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
    # Pending objects first, so that the event follows what it records (as a flush would).
    session.flush()
    # A plain INSERT of a statement built once, not a unit-of-work flush of a new object:
    # every write audits, and the flush costs several times the statement.
    row: dict[str, Any] = {
        "user_id": actor.user_id,
        "username": actor.username,
        "client": actor.client,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
    }
    if detail is not None:
        # Left out rather than None: a JSON column stores None as the JSON text 'null'.
        row["detail"] = detail
    session.connection().execute(_INSERT, row)


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
