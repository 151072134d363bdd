"""The supervision board (督办看板) and the notices addressed to staff."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import registry
from fangkong.cases.models import (
    Case,
    CaseNotice,
)
from fangkong.core.errors import NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope

AGE_BUCKETS_DAYS: tuple[tuple[int, int | None], ...] = ((0, 3), (3, 7), (7, 30), (30, None))


@dataclass
class BoardRow:
    area: Area
    open: int = 0
    by_age: list[int] = field(default_factory=lambda: [0] * len(AGE_BUCKETS_DAYS))
    overdue: int = 0
    supervised: int = 0
    escalated: int = 0
    escalation_risk: int = 0


def _age_bucket(days: float) -> int:
    for i, (low, high) in enumerate(AGE_BUCKETS_DAYS):
        if days >= low and (high is None or days < high):
            return i
    return len(AGE_BUCKETS_DAYS) - 1


def board(
    session: Session,
    *,
    scope: Scope,
    now: datetime,
    area: Area | None = None,
    case_type: str | None = None,
) -> tuple[Area | None, list[BoardRow]]:
    """督办看板: open cases per child area of ``area`` (or of your bound areas), counted by age
    since opening (0–3, 3–7, 7–30, 30+ days), overdue, supervised, escalated and at risk."""
    if area is None:
        bound = list(
            session.scalars(select(Area).where(Area.path.in_(scope.paths)).order_by(Area.path))
        )
        if len(bound) == 1:
            area = bound[0]
        parents = bound if area is None else [area]
    else:
        if not scope.covers(area.path):
            raise NotFound(
                key="error.areas.area_not_found", params={"code": area.code}, field="area"
            )
        parents = [area]
    row_areas: list[Area] = []
    for parent in parents:
        children = list(
            session.scalars(select(Area).where(Area.parent_id == parent.id).order_by(Area.code))
        )
        row_areas.extend(children if (area is not None and children) else [parent])
    rows = [BoardRow(area=a) for a in row_areas]
    query = select(
        Case.area_path,
        Case.opened_at,
        Case.due_at,
        Case.supervision_count,
        Case.escalated_at,
        Case.escalation_risk,
    ).where(scope.clause(Case.area_path), Case.closed_at.is_(None))
    if case_type:
        query = query.where(Case.case_type == registry.get(case_type).name)
    for path, opened_at, due_at, supervised, escalated_at, at_risk in session.execute(query):
        row = next((r for r in rows if path.startswith(r.area.path)), None)
        if row is None:
            continue
        row.open += 1
        row.by_age[_age_bucket((now - opened_at).total_seconds() / 86400)] += 1
        row.overdue += int(due_at is not None and due_at < now)
        row.supervised += int(supervised > 0)
        row.escalated += int(escalated_at is not None)
        row.escalation_risk += int(bool(at_risk))
    return area, rows


def notices_for(
    session: Session, *, user: User, scope: Scope, limit: int = 20, unread_only: bool = False
) -> list[tuple[CaseNotice, Case]]:
    """The newest notices addressed to ``user`` about cases they can still see."""
    query = (
        select(CaseNotice, Case)
        .join(Case, Case.id == CaseNotice.case_id)
        .where(CaseNotice.user_id == user.id, scope.clause(Case.area_path))
    )
    if unread_only:
        query = query.where(CaseNotice.read_at.is_(None))
    rows = session.execute(query.order_by(CaseNotice.id.desc()).limit(limit)).all()
    return [(notice, case) for notice, case in rows]


def mark_notices_read(
    session: Session, *, user: User, now: datetime, notice_ids: Iterable[int] | None = None
) -> int:
    """Mark ``user``'s notices (all, or those of ``notice_ids``) read; returns how many."""
    query = select(CaseNotice).where(CaseNotice.user_id == user.id, CaseNotice.read_at.is_(None))
    if notice_ids is not None:
        query = query.where(CaseNotice.id.in_(list(notice_ids)))
    notices = list(session.scalars(query))
    for notice in notices:
        notice.read_at = now
    session.flush()
    return len(notices)
