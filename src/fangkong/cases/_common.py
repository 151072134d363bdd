"""What the case modules share: the declaration and number of a case, the permission check,
the version check, the timeline's events and times as ISO text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from fangkong.cases import registry
from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import (
    Case,
    CaseEvent,
    EventKind,
)
from fangkong.core import auth
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict
from fangkong.core.models import User

LINK_KINDS = ("incident", "facility", "case", "event", "tip", "material_holder", "device")
MAX_TITLE = 200
MAX_TEXT = 4000


def decl_of(case: Case) -> CaseTypeDecl:
    return registry.get(case.case_type)


def number(case: Case) -> str:
    """The case's display number, e.g. ``HZ-000042``."""
    prefix = decl_of(case).prefix if case.case_type in registry.names() else "CS"
    return f"{prefix}-{case.id:06d}"


def require(user: User | None, permission: str) -> None:
    if user is not None:
        auth.require(user, permission)


def check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            key="error.cases.changed_version",
            params={"number": number(case), "version": case.version, "expected": expected_version},
            field="version",
        )


def flush_case(session: Session, case: Case) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(
            key="error.cases.changed", params={"case_id": case.id}, field="version"
        ) from None


def add_event(
    case: Case, *, kind: EventKind, actor: Actor, now: datetime, **values: Any
) -> CaseEvent:
    event = CaseEvent(
        kind=kind,
        at=now,
        user_id=actor.user_id,
        username=actor.username,
        data=values.pop("data", None) or {},
        **values,
    )
    case.events.append(event)
    return event


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()
