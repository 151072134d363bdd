"""The audit log: who did what, when and from where, for each write and each personal read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (or None for the system) and the client address of the request."""

    user_id: int | None
    username: str | None
    client: str | None = None


SYSTEM = Actor(user_id=None, username="system", client="local")


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction: it commits or rolls back with the change."""
    event = AuditEvent(
        user_id=actor.user_id,
        username=actor.username,
        client=actor.client,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        detail=detail,
    )
    session.add(event)
    session.flush()
    return event


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
