"""Deadlines: when a case entering a state is due, and the tick that reminds, flags overdue
and escalates when they pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from fangkong.cases import registry
from fangkong.cases._common import add_event, decl_of, iso
from fangkong.cases.calendar import BusinessCalendar, shift
from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import (
    Case,
    CaseEvent,
    CaseNotice,
    DeadlineAction,
    EventKind,
)
from fangkong.cases.notify import (
    BoundUsers,
    actors_of_state,
    ancestor_ids,
    assignee_or_actors,
    nearest_users,
    notify,
)
from fangkong.core import audit
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role, User, UserArea
from fangkong.core.plain_sql import RowsInsert


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


#: Cases read, acted on or rescheduled by the tick in one statement (or one flush).
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


@dataclass
class _Plan:
    """What the tick does for one case: its deadline actions due at ``now`` and not yet done
    (in their declared order), and the times of those still to come."""

    case: Case
    decl: CaseTypeDecl
    #: The case's round and version as read: a case whose version moved changed meanwhile.
    deadline_round: int
    version: int
    due: list[str]
    pending: list[datetime]


def _plan(
    case: Case,
    *,
    now: datetime,
    calendar: BusinessCalendar,
    done: set[tuple[int, int, str]],
    report: TickReport,
) -> _Plan | None:
    """The case's actions due at ``now`` and those to come; None for an ended case or one
    without a deadline (nothing left to do)."""
    if case.closed_at is not None or case.due_at is None:
        return None
    decl = decl_of(case)
    deadline = decl.state(case.state).deadline
    if deadline is None:
        return None
    report.checked += 1
    plan = _Plan(case, decl, case.deadline_round, case.version, [], [])
    for action in deadline.actions:
        if (case.id, case.deadline_round, action.kind) in done:
            continue
        fire_at = shift(case.due_at, action.offset_hours, clock=deadline.clock, calendar=calendar)
        if now < fire_at:
            plan.pending.append(fire_at)
        else:
            plan.due.append(action.kind)
    return plan


#: The claim of a deadline action: its row, inserted unless another tick's claim is there (a
#: claim of it in flight waits for that tick's transaction to end); the claims made return.
_CLAIM = RowsInsert(
    cast(Table, DeadlineAction.__table__),
    ("case_id", "county_id", "deadline_round", "action", "due_at", "done_at"),
    on_conflict_skip=("case_id", "deadline_round", "action"),
    returning=("case_id", "deadline_round", "action"),
)


def _read_ahead(
    session: Session,
    plans: list[_Plan],
    *,
    now: datetime,
    known: BoundUsers,
    users: dict[int, User],
) -> None:
    """Read in a few statements what the actions of ``plans`` would read case by case, or
    area by area: the cases' timelines (an action adds an event to one), their assignees
    (kept in ``users``: the identity map holds them weakly) and who is bound to the areas
    their notices may go to (into ``known``, as :func:`users_bound_to` keeps them)."""
    unloaded = [p.case.id for p in plans if "events" in inspect(p.case).unloaded]
    if unloaded:
        events: dict[int, list[CaseEvent]] = {case_id: [] for case_id in unloaded}
        for event in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id.in_(unloaded)).order_by(CaseEvent.id)
        ):
            events[event.case_id].append(event)
        for p in plans:
            if p.case.id in events:
                set_committed_value(p.case, "events", events[p.case.id])
    wanted = {
        p.case.assignee_user_id
        for p in plans
        if p.case.assignee_user_id is not None and p.case.assignee_user_id not in users
    }
    if wanted:
        users.update((u.id, u) for u in session.scalars(select(User).where(User.id.in_(wanted))))
    # The (area, roles) pairs the notices' walks up the tree may ask for (nearest_users).
    asked: set[tuple[int, frozenset[Role]]] = set()
    for p in plans:
        path = ancestor_ids(p.case.area_path)
        for kind in p.due:
            if kind == "escalate":
                roles, areas = frozenset(p.decl.supervising_roles), path[:-1]
            elif kind == "flag_overdue" or (p.case.due_at is not None and now < p.case.due_at):
                roles, areas = frozenset(actors_of_state(p.decl, p.case.state)), path
            else:
                continue  # a reminder after the deadline notifies no one
            if roles:
                asked.update((area_id, roles) for area_id in areas)
    asked -= known.keys()
    if not asked:
        return
    found: dict[int, list[User]] = {}
    for area_id, user in session.execute(
        select(UserArea.area_id, User)
        .join(UserArea, UserArea.user_id == User.id)
        .where(
            UserArea.area_id.in_({area_id for area_id, _ in asked}),
            User.role.in_(set().union(*(roles for _, roles in asked))),
            User.is_active,
        )
        .order_by(User.id)
    ):
        found.setdefault(area_id, []).append(user)
    for area_id, roles in asked:
        known[area_id, roles] = [u for u in found.get(area_id, []) if u.role in roles]


def _give_counties(session: Session, plans: list[_Plan]) -> None:
    """The events and notices the actions of ``plans`` added carry their case's county key:
    their column's default would read it from the case's row, one statement a row."""
    counties = {p.case.id: p.case.county_id for p in plans}
    for obj in session.new:
        if isinstance(obj, CaseEvent) and obj.county_id is None and obj.case is not None:
            obj.county_id = obj.case.county_id  # appended to its case: no case_id yet
        elif isinstance(obj, CaseNotice) and obj.county_id is None:
            obj.county_id = counties.get(obj.case_id)


def _act(
    session: Session,
    plans: list[_Plan],
    *,
    now: datetime,
    report: TickReport,
    known: BoundUsers,
    users: dict[int, User],
) -> bool:
    """Claim and do the due actions of ``plans`` in one savepoint: one statement claims them
    all, one flush writes them. False where the flush failed on a case (changed meanwhile:
    its version moved, ``StaleDataError``; or a row refused): the savepoint is rolled back,
    nothing of ``plans`` is done."""
    _read_ahead(session, plans, now=now, known=known, users=users)
    part = TickReport()
    try:
        with session.begin_nested():
            claimed = {
                (int(case_id), int(deadline_round), str(action))
                for case_id, deadline_round, action in _CLAIM.run(
                    session.connection(),
                    [
                        {
                            "case_id": p.case.id,
                            "county_id": p.case.county_id,
                            "deadline_round": p.deadline_round,
                            "action": kind,
                            "due_at": p.case.due_at,
                            "done_at": now,
                        }
                        for p in plans
                        for kind in p.due
                    ],
                )
            }
            # What the actions read is read ahead, or left to read; nothing they write is
            # read back: their rows go in the one flush below, not one flush a read.
            with session.no_autoflush:
                for p in plans:
                    for kind in p.due:
                        # Only what this tick claimed: another tick's claim is its to do.
                        if (p.case.id, p.deadline_round, kind) in claimed:
                            _do_action(
                                session, p.decl, p.case, kind, now=now, report=part, known=known
                            )
            _give_counties(session, plans)
            session.flush()
    except (StaleDataError, IntegrityError):
        return False
    report.reminded += part.reminded
    report.flagged_overdue += part.flagged_overdue
    report.escalated += part.escalated
    report.notices += part.notices
    return True


def _act_in_chunks(
    session: Session,
    plans: list[_Plan],
    *,
    now: datetime,
    report: TickReport,
    known: BoundUsers,
) -> set[int]:
    """Do the due actions of ``plans``, :data:`_CHUNK` cases at a time; the ids of the cases
    left alone, their actions undone: changed meanwhile (their change rescheduled them).

    A chunk whose flush fails is rolled back as a whole and done again without the cases
    whose version moved (read again: the rollback expired what the chunk had changed in
    them, so they now hold the other writer's change, not a stale one to act on). Should
    none have moved, its cases are done one by one, and a case that still fails is left
    alone (looked at again by the next tick).
    """
    left: set[int] = set()
    users: dict[int, User] = {}
    groups = [plans[start : start + _CHUNK] for start in range(0, len(plans), _CHUNK)]
    groups.reverse()
    while groups:
        group = groups.pop()
        if _act(session, group, now=now, report=report, known=known, users=users):
            continue
        # Read again in one statement (not one a case as their attributes are next read):
        # the rollback expired the cases the chunk changed.
        found = {
            case.id
            for case in session.scalars(select(Case).where(Case.id.in_([p.case.id for p in group])))
        }
        moved = {p.case.id for p in group if p.case.id not in found or p.case.version != p.version}
        if not moved:
            if len(group) > 1:
                groups.extend([p] for p in reversed(group))
                continue
            moved = {group[0].case.id}
        left |= moved
        rest = [p for p in group if p.case.id not in moved]
        if rest:
            groups.append(rest)
    return left


def tick(session: Session, *, now: datetime, calendar: BusinessCalendar) -> TickReport:
    """Do every deadline action that is due at ``now`` and not yet done; idempotent.

    For each open case with a deadline, each action of its state's deadline fires once when
    ``now`` reaches the due time shifted by the action's offset (on the state's clock). A row
    (case, deadline round, action) records it under a unique constraint, so running the tick
    twice — or twice at once — does each action once: the tick claims the actions due with
    one ``INSERT … ON CONFLICT DO NOTHING`` a chunk of cases and does those it claimed, then
    writes them in one flush (a catch-up after a bulk load does thousands). A case changed
    meanwhile by another writer is left to its change: its actions wait for a later tick.

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
    # A case whose type's declaration is not loaded is looked at again next time.
    looked_at = [case for case in cases if case.case_type in declared]
    plans = {
        case.id: _plan(case, now=now, calendar=calendar, done=done, report=report)
        for case in looked_at
    }
    # Who is bound where, read once a tick: the cases of an area ask for its users each.
    bound: BoundUsers = {}
    left = _act_in_chunks(
        session,
        [p for p in plans.values() if p is not None and p.due],
        now=now,
        report=report,
        known=bound,
    )
    # Each case's next look, written by id and version so that a case changed meanwhile
    # keeps the time its change gave it.
    schedule: list[dict[str, object]] = []
    for case in looked_at:
        if case.id in left:
            continue
        plan = plans[case.id]
        schedule.append(
            {
                "b_id": case.id,
                "b_version": case.version,
                "b_next": None if plan is None else min(plan.pending, default=None),
            }
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
