"""Deadlines: when a case entering a state is due, and the tick that reminds, flags overdue
and escalates when they pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from fangkong.cases import registry
from fangkong.cases._common import add_event, decl_of, iso
from fangkong.cases.calendar import BusinessCalendar, shift
from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import (
    Case,
    DeadlineAction,
    EventKind,
)
from fangkong.cases.notify import BoundUsers, assignee_or_actors, nearest_users, notify
from fangkong.core import audit
from fangkong.core.audit import SYSTEM


def deadline_for(
    decl: CaseTypeDecl, case: Case, state: str, *, start: datetime, calendar: BusinessCalendar
) -> datetime | None:
    """When a case entering ``state`` at ``start`` is due (None: the state has no deadline).

    The state's hours (or the hours for the value of its ``by_field``) on its clock, multiplied
    by the risk declaration's ``deadline_factor`` while the case carries the escalation-risk flag.
    """
    deadline = decl.state(state).deadline
    if deadline is None:
        return None
    hours = deadline.hours
    if deadline.by_field is not None:
        hours = deadline.hours_by_value.get(str(case.data.get(deadline.by_field)), hours)
    if case.escalation_risk and decl.risk is not None:
        hours *= decl.risk.deadline_factor
    return shift(start, hours, clock=deadline.clock, calendar=calendar)


def enter_state(
    decl: CaseTypeDecl, case: Case, state: str, *, now: datetime, calendar: BusinessCalendar
) -> None:
    spec = decl.state(state)
    case.state = state
    case.state_entered_at = now
    case.deadline_round = (case.deadline_round or 0) + 1
    case.is_overdue = False
    if spec.closing:
        case.closed_at = now
        case.resolved_at = now if spec.resolved else None
        case.due_at = None
    else:
        case.closed_at = None
        case.resolved_at = None
        case.due_at = deadline_for(decl, case, state, start=now, calendar=calendar)
    reschedule(case, now=now)


#: Cases read or rescheduled by the tick in one statement.
_CHUNK = 1000


@dataclass
class TickReport:
    checked: int = 0
    reminded: int = 0
    flagged_overdue: int = 0
    escalated: int = 0
    notices: int = 0


def _do_action(
    session: Session,
    decl: CaseTypeDecl,
    case: Case,
    kind: str,
    *,
    now: datetime,
    report: TickReport,
    known: BoundUsers | None = None,
) -> None:
    assert case.due_at is not None
    due = iso(case.due_at)
    if kind == "remind":
        names: list[str] = []
        if now < case.due_at:  # a reminder after the deadline is recorded, not sent
            reminded = assignee_or_actors(session, decl, case, known=known)
            names = notify(session, case, reminded, EventKind.REMIND, now)
        add_event(
            case,
            kind=EventKind.REMIND,
            actor=SYSTEM,
            now=now,
            data={"due_at": due, "notified": names},
        )
        report.reminded += 1
    elif kind == "flag_overdue":
        case.is_overdue = True
        case.late = True
        names = notify(
            session,
            case,
            assignee_or_actors(session, decl, case, known=known),
            EventKind.OVERDUE,
            now,
        )
        add_event(
            case,
            kind=EventKind.OVERDUE,
            actor=SYSTEM,
            now=now,
            data={"due_at": due, "notified": names},
        )
        report.flagged_overdue += 1
    else:
        # 升级: to users of a supervising role bound to the parent area (or the nearest
        # ancestor above it that has any).
        recipients = nearest_users(
            session, path=case.area_path, roles=decl.supervising_roles, skip_own=True, known=known
        )
        names = notify(session, case, recipients, EventKind.ESCALATE, now)
        case.escalated_at = now
        add_event(
            case,
            kind=EventKind.ESCALATE,
            actor=SYSTEM,
            now=now,
            data={"due_at": due, "notified": names},
        )
        report.escalated += 1
    report.notices += len(names)


def reschedule(case: Case, *, now: datetime) -> None:
    """The case's deadline changed at ``now``: the tick looks at it at its first run from then
    (and works out its actions' times there, with the calendar); an ended case, or one without
    a deadline, it leaves alone."""
    case.next_check_at = now if case.closed_at is None and case.due_at is not None else None


def _due_actions(
    session: Session,
    case: Case,
    *,
    now: datetime,
    calendar: BusinessCalendar,
    done: set[tuple[int, int, str]],
    report: TickReport,
    known: BoundUsers,
) -> list[datetime] | None:
    """Do the case's deadline actions due at ``now``: the times of those still to do, or None
    where the case changed meanwhile (its change rescheduled it)."""
    if case.closed_at is not None or case.due_at is None:
        return []
    decl = decl_of(case)
    deadline = decl.state(case.state).deadline
    if deadline is None:
        return []
    report.checked += 1
    pending: list[datetime] = []
    for action in deadline.actions:
        fire_at = shift(case.due_at, action.offset_hours, clock=deadline.clock, calendar=calendar)
        key = (case.id, case.deadline_round, action.kind)
        if key in done:
            continue
        if now < fire_at:
            pending.append(fire_at)
            continue
        try:
            with session.begin_nested():
                session.add(
                    DeadlineAction(
                        case_id=case.id,
                        deadline_round=case.deadline_round,
                        action=action.kind,
                        due_at=case.due_at,
                        done_at=now,
                    )
                )
                session.flush()
                _do_action(session, decl, case, action.kind, now=now, report=report, known=known)
                session.flush()
        except IntegrityError:
            pass  # another tick did it
        except StaleDataError:
            return None
        done.add(key)
    return pending


def tick(session: Session, *, now: datetime, calendar: BusinessCalendar) -> TickReport:
    """Do every deadline action that is due at ``now`` and not yet done; idempotent.

    For each open case with a deadline, each action of its state's deadline fires once when
    ``now`` reaches the due time shifted by the action's offset (on the state's clock). A row
    (case, deadline round, action) records it under a unique constraint, so running the tick
    twice — or twice at once — does each action once.

    The tick reads only the cases whose ``next_check_at`` has come (their next action's time,
    or a change of their deadline: :func:`reschedule`), and sets it again to the earliest of
    the actions still to do: O(cases due or changed since the last tick), not O(open cases).
    """
    report = TickReport()
    cases = session.scalars(select(Case).where(Case.next_check_at <= now).order_by(Case.id)).all()
    done: set[tuple[int, int, str]] = set()
    ids = [case.id for case in cases]
    for start in range(0, len(ids), _CHUNK):
        done.update(
            (row.case_id, row.deadline_round, row.action)
            for row in session.execute(
                select(
                    DeadlineAction.case_id, DeadlineAction.deadline_round, DeadlineAction.action
                ).where(DeadlineAction.case_id.in_(ids[start : start + _CHUNK]))
            )
        )
    declared = set(registry.names())
    # Who is bound where, read once a tick: the cases of an area ask for its users each.
    bound: BoundUsers = {}
    # Each case's next look, written by id and version so that a case changed meanwhile
    # keeps the time its change gave it.
    schedule: list[dict[str, object]] = []
    for case in cases:
        if case.case_type not in declared:
            continue  # its type's declaration is not loaded: looked at again next time
        pending = _due_actions(
            session, case, now=now, calendar=calendar, done=done, report=report, known=bound
        )
        if pending is not None:
            schedule.append(
                {"b_id": case.id, "b_version": case.version, "b_next": min(pending, default=None)}
            )
    table = cast(Table, Case.__table__)
    for start in range(0, len(schedule), _CHUNK):
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
            .values(next_check_at=bindparam("b_next")),
            schedule[start : start + _CHUNK],
        )
    if report.reminded or report.flagged_overdue or report.escalated:
        audit.record(
            session,
            actor=SYSTEM,
            action="tick",
            entity="case",
            detail={
                "reminded": report.reminded,
                "overdue": report.flagged_overdue,
                "escalated": report.escalated,
            },
        )
    return report
