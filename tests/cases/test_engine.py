"""The engine on SQLite and PostgreSQL: every transition rule and role, deadlines on a frozen
clock, the idempotent tick, supervision, escalation, the case's risk flag, scoping, purge."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Result, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session

from cases.case_helpers import CALENDAR, CIPHER, T0, UserFactory, actor_of, area
from fangkong.cases import deadlines, registry, service
from fangkong.cases.declaration import CaseTypeDecl, TransitionDecl
from fangkong.cases.models import Case, CaseAttachment, CaseNotice, DeadlineAction, EventKind
from fangkong.cases.storage import DiskStorage
from fangkong.core import audit
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fangkong.core.models import AuditEvent, Role
from fangkong.core.scoping import SYSTEM_SCOPE, Scope, scope_for

GRID = "T-D1-S1-B1-G1"
STATION = "T-D1-S1"
HAZARD_FIELDS = {"finding_route": "on_foot", "category": "fire"}
DISPUTE_FIELDS = {"category": "neighbour", "channel": "people", "source": "walk_in"}
PARTIES = [
    service.PartyIn("applicant", "张三丰", "13912345678"),
    service.PartyIn("respondent", "李四", None),
]


def new_case(
    db: Session,
    case_type: str,
    *,
    now: datetime = T0,
    code: str = GRID,
    fields: dict[str, Any] | None = None,
) -> Case:
    defaults = {"hazard": HAZARD_FIELDS, "dispute": DISPUTE_FIELDS}.get(case_type)
    if defaults is None:  # another type: its first option, or a text, for each field asked
        decl = registry.get(case_type)
        defaults = {
            name: decl.field(name).options[0] if decl.field(name).options else "文本"
            for name in decl.create_fields
        }
    return service.create(
        db,
        case_type=case_type,
        title=f"测试{case_type}",
        area=area(db, code),
        fields=fields if fields is not None else dict(defaults),
        user=None,
        actor=SYSTEM,
        now=now,
        calendar=CALENDAR,
        cipher=CIPHER,
        parties=list(PARTIES) if case_type == "dispute" else None,
    )


def sample_fields(
    db: Session, decl: CaseTypeDecl, spec: TransitionDecl, mediator_id: int
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in spec.fields:
        f = decl.field(name)
        values[name] = {
            "choice": f.options[-1] if f.options else None,
            "bool": False,
            "datetime": T0.isoformat(),
            "user": mediator_id,
            "int": 1,
            "date": "2026-11-23",
        }.get(f.kind, "文本")
    return values


def path_to(decl: CaseTypeDecl, state: str) -> list[TransitionDecl]:
    """The shortest run of transitions from the initial state to ``state``."""
    queue: deque[tuple[str, list[TransitionDecl]]] = deque([(decl.initial, [])])
    seen = {decl.initial}
    while queue:
        current, path = queue.popleft()
        if current == state:
            return path
        for t in decl.leaving(current):
            if t.target is not None and t.target not in seen:
                seen.add(t.target)
                queue.append((t.target, [*path, t]))
    raise AssertionError(state)


def case_in(db: Session, decl: CaseTypeDecl, state: str, mediator_id: int) -> Case:
    case = new_case(db, decl.name)
    now = T0
    for t in path_to(decl, state):
        now += timedelta(minutes=10)
        service.transition(
            db,
            case=case,
            name=t.name,
            fields=sample_fields(db, decl, t, mediator_id),
            note="说明",
            user=None,
            actor=SYSTEM,
            now=now,
            calendar=CALENDAR,
            cipher=CIPHER,
        )
    assert case.state == state
    return case


TRANSITIONS = [(d.name, t.name) for d in registry.all_types() for t in d.transitions]


@pytest.mark.parametrize(
    ("case_type", "name"), TRANSITIONS, ids=[f"{a}-{b}" for a, b in TRANSITIONS]
)
def test_every_transition_and_role(
    db: Session, make_user: UserFactory, case_type: str, name: str
) -> None:
    """Each role may take a transition exactly when the declaration lists it (and the role may
    act on cases at all); a refused move changes nothing."""
    decl = registry.get(case_type)
    spec = decl.transition(name)
    assert spec is not None
    mediator = make_user(Role.MEDIATOR, STATION)
    users = {role: make_user(role, STATION) for role in Role}
    for role, user in users.items():
        case = case_in(db, decl, spec.sources[0], mediator.id)
        before = (case.state, case.version, len(case.events))
        fields = sample_fields(db, decl, spec, mediator.id)
        if role in spec.roles and role not in (Role.VIEWER, Role.EVALUATOR):
            event = service.transition(
                db,
                case=case,
                name=name,
                fields=fields,
                note="说明",
                user=user,
                actor=actor_of(user),
                now=T0 + timedelta(hours=1),
                calendar=CALENDAR,
                cipher=CIPHER,
            )
            assert case.state == decl.target_of(spec, spec.sources[0])
            assert event.username == user.username and event.transition == name
        else:
            with pytest.raises(Forbidden):
                service.transition(
                    db,
                    case=case,
                    name=name,
                    fields=fields,
                    note="说明",
                    user=user,
                    actor=actor_of(user),
                    now=T0 + timedelta(hours=1),
                    calendar=CALENDAR,
                    cipher=CIPHER,
                )
            assert (case.state, case.version, len(case.events)) == before


@pytest.mark.parametrize(
    ("case_type", "name"), TRANSITIONS, ids=[f"{a}-{b}" for a, b in TRANSITIONS]
)
def test_transitions_start_only_from_their_sources(
    db: Session, make_user: UserFactory, case_type: str, name: str
) -> None:
    decl = registry.get(case_type)
    spec = decl.transition(name)
    assert spec is not None
    wrong = next(s.name for s in decl.states if s.name not in spec.sources)
    case = case_in(db, decl, wrong, make_user(Role.MEDIATOR, STATION).id)
    with pytest.raises(
        Conflict, match=f"transition {name!r} cannot start from state {wrong!r}"
    ) as info:
        service.transition(
            db,
            case=case,
            name=name,
            fields={},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
            cipher=CIPHER,
        )
    assert info.value.field == "transition"


def test_required_fields_and_notes(db: Session) -> None:
    case = new_case(db, "hazard")
    with pytest.raises(InvalidInput, match=r"fields.assessment_level is required") as info:
        service.transition(
            db,
            case=case,
            name="assess",
            fields={"risk_grade": "low"},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
        )
    assert info.value.field == "fields.assessment_level"
    with pytest.raises(InvalidInput, match="'huge' is not one of major, significant"):
        service.transition(
            db,
            case=case,
            name="assess",
            fields={"assessment_level": "grid", "risk_grade": "huge"},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
        )
    with pytest.raises(InvalidInput, match=r"fields.colour is not asked here"):
        service.transition(
            db,
            case=case,
            name="assess",
            fields={"colour": "red"},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
        )
    with pytest.raises(InvalidInput, match="transition 'fly' is not declared for hazard"):
        service.transition(
            db, case=case, name="fly", fields={}, user=None, actor=SYSTEM, now=T0, calendar=CALENDAR
        )
    with pytest.raises(InvalidInput, match=r"fields.category"):
        new_case(db, "hazard", fields={"finding_route": "on_foot"})
    with pytest.raises(InvalidInput, match="title must be"):
        service.create(
            db,
            case_type="hazard",
            title=" ",
            area=area(db, GRID),
            fields=HAZARD_FIELDS,
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
        )
    dispute = new_case(db, "dispute")
    with pytest.raises(InvalidInput, match="needs a note") as info:
        service.transition(
            db,
            case=dispute,
            name="record_risk_facts",
            fields={"threats_recorded": "true", "weapons_recorded": "no"},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
            cipher=CIPHER,
        )
    assert info.value.field == "note"
    with pytest.raises(InvalidInput, match="needs 2 to 10 parties"):
        service.create(
            db,
            case_type="dispute",
            title="x",
            area=area(db, GRID),
            fields=DISPUTE_FIELDS,
            parties=PARTIES[:1],
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
            cipher=CIPHER,
        )
    assert dispute.state == "intake" and len(dispute.events) == 1


def test_create_checks_role_and_area(db: Session, make_user: UserFactory) -> None:
    viewer = make_user(Role.VIEWER, STATION)
    with pytest.raises(Forbidden, match=r"cases.create"):
        service.create(
            db,
            case_type="hazard",
            title="x",
            area=area(db, GRID),
            fields=HAZARD_FIELDS,
            user=viewer,
            actor=actor_of(viewer),
            now=T0,
            calendar=CALENDAR,
        )
    inspector = make_user(Role.INSPECTOR, STATION)
    with pytest.raises(Forbidden, match="may not open a dispute case"):
        service.create(
            db,
            case_type="dispute",
            title="x",
            area=area(db, GRID),
            fields=DISPUTE_FIELDS,
            parties=PARTIES,
            user=inspector,
            actor=actor_of(inspector),
            now=T0,
            calendar=CALENDAR,
            cipher=CIPHER,
        )
    scope = scope_for(db, inspector)
    with pytest.raises(NotFound):
        service.resolve_area(db, scope=scope, area_code="T-D2-S1")
    with pytest.raises(InvalidInput, match="outside your areas"):
        service.resolve_area(db, scope=scope, lon=120.15, lat=30.07)
    assert service.resolve_area(db, scope=scope, lon=120.01, lat=30.01).code == GRID


def test_hazard_loop_with_frozen_clock(db: Session, make_user: UserFactory) -> None:
    """Found on Friday 16:00: two working days to assess end on Tuesday 16:00; a major risk
    grade gives 24 calendar hours to handle; late moves are remembered."""
    officer = make_user(Role.STATION_OFFICER, STATION)
    worker = make_user(Role.GRID_WORKER, GRID)
    friday = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # 16:00 Shanghai
    case = service.create(
        db,
        case_type="hazard",
        title="消防通道堵塞",
        area=area(db, GRID),
        fields={**HAZARD_FIELDS, "place": "幸福小区3栋"},
        user=worker,
        actor=actor_of(worker),
        now=friday,
        calendar=CALENDAR,
    )
    assert service.number(case) == f"HZ-{case.id:06d}"
    assert case.due_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    at = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    service.transition(
        db,
        case=case,
        name="assess",
        user=worker,
        actor=actor_of(worker),
        fields={"assessment_level": "station", "risk_grade": "major"},
        now=at,
        calendar=CALENDAR,
    )
    assert case.state == "assessed" and not case.late
    at += timedelta(hours=1)
    service.transition(
        db,
        case=case,
        name="route_internal",
        user=officer,
        actor=actor_of(officer),
        now=at,
        calendar=CALENDAR,
        fields={"department": "社区警务室", "handler": str(worker.id)},
    )
    assert case.assignee_org == "社区警务室" and case.assignee_user_id == worker.id
    assert case.due_at == at + timedelta(hours=24)
    at += timedelta(hours=30)  # past the 24 hours
    service.transition(
        db,
        case=case,
        name="report_handled",
        user=worker,
        actor=actor_of(worker),
        fields={"measures": "已清理"},
        now=at,
        calendar=CALENDAR,
    )
    assert case.late
    service.transition(
        db,
        case=case,
        name="fail_reinspection",
        user=officer,
        actor=actor_of(officer),
        fields={"reinspection_result": "仍有堆放"},
        now=at + timedelta(hours=2),
        calendar=CALENDAR,
    )
    assert case.state == "handling" and case.closed_at is None
    service.transition(
        db,
        case=case,
        name="report_handled",
        user=worker,
        actor=actor_of(worker),
        fields={"measures": "彻底清理"},
        now=at + timedelta(hours=3),
        calendar=CALENDAR,
    )
    closed_at = at + timedelta(hours=4)
    service.transition(
        db,
        case=case,
        name="pass_reinspection",
        user=officer,
        actor=actor_of(officer),
        fields={"reinspection_result": "整改到位"},
        now=closed_at,
        calendar=CALENDAR,
    )
    assert (case.state, case.closed_at, case.resolved_at, case.due_at) == (
        "closed",
        closed_at,
        closed_at,
        None,
    )
    assert service.allowed_transitions(case, worker) == []
    assert [t.name for t in service.allowed_transitions(case, officer)] == ["reopen"]
    service.transition(
        db,
        case=case,
        name="reopen",
        user=officer,
        actor=actor_of(officer),
        fields={"reason": "复发"},
        now=closed_at + timedelta(days=2),
        calendar=CALENDAR,
    )
    assert (case.state, case.reopen_count, case.closed_at) == ("handling", 1, None)
    kinds = [(e.kind, e.transition, e.username) for e in case.events]
    assert kinds[0] == (EventKind.CREATE, None, worker.username)
    assert [k[1] for k in kinds[1:]] == [
        "assess",
        "route_internal",
        "report_handled",
        "fail_reinspection",
        "report_handled",
        "pass_reinspection",
        "reopen",
    ]
    logged = db.scalars(
        select(AuditEvent.action).where(
            AuditEvent.entity == "case", AuditEvent.entity_id == str(case.id)
        )
    ).all()
    assert logged.count("transition") == 7 and "create" in logged


def test_stale_version_is_refused(db: Session) -> None:
    case = new_case(db, "hazard")
    with pytest.raises(Conflict, match="changed meanwhile") as info:
        service.transition(
            db,
            case=case,
            name="dismiss",
            fields={"reason": "重复"},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
            expected_version=case.version - 1,
        )
    assert info.value.field == "version"


def _actions(db: Session, case: Case) -> list[tuple[int, str]]:
    return [
        (r.deadline_round, r.action)
        for r in db.scalars(
            select(DeadlineAction)
            .where(DeadlineAction.case_id == case.id)
            .order_by(DeadlineAction.id)
        )
    ]


def test_tick_reminds_flags_and_escalates_once(db: Session, make_user: UserFactory) -> None:
    """Found Monday 09:00, due Tuesday 17:30 (17 working hours): remind at 13:30, flag at
    17:30, escalate 8 working hours later (Wednesday 17:00) to the parent area's supervisors."""
    worker = make_user(Role.GRID_WORKER, GRID)
    beat_officer = make_user(Role.STATION_OFFICER, "T-D1-S1-B1")
    make_user(Role.COMMANDER, "T")
    case = new_case(db, "hazard")
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert case.due_at == due
    assert (
        service.tick(db, now=due - timedelta(hours=4, seconds=1), calendar=CALENDAR).reminded == 0
    )
    first = service.tick(db, now=due - timedelta(hours=4), calendar=CALENDAR)
    assert (first.reminded, first.flagged_overdue, first.escalated) == (1, 0, 0)
    again = service.tick(db, now=due - timedelta(hours=4), calendar=CALENDAR)
    assert (again.reminded, again.flagged_overdue, again.escalated, again.notices) == (0, 0, 0, 0)
    flagged = service.tick(db, now=due, calendar=CALENDAR)
    assert flagged.flagged_overdue == 1 and case.is_overdue and case.late
    escalate_at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert (
        service.tick(db, now=escalate_at - timedelta(minutes=1), calendar=CALENDAR).escalated == 0
    )
    escalated = service.tick(db, now=escalate_at, calendar=CALENDAR)
    assert escalated.escalated == 1 and case.escalated_at == escalate_at
    for _ in range(2):
        assert service.tick(db, now=escalate_at + timedelta(days=3), calendar=CALENDAR).notices == 0
    assert _actions(db, case) == [(1, "remind"), (1, "flag_overdue"), (1, "escalate")]
    notices = {
        (n.kind, n.user_id)
        for n in db.scalars(select(CaseNotice).where(CaseNotice.case_id == case.id))
    }
    # The grid's worker is reminded and warned; the parent (beat) area's officer gets the
    # escalation, not the commander of the city above it.
    assert (EventKind.REMIND, worker.id) in notices
    assert (EventKind.OVERDUE, worker.id) in notices
    assert {u for k, u in notices if k is EventKind.ESCALATE} == {beat_officer.id}
    escalation = next(e for e in case.events if e.kind is EventKind.ESCALATE)
    assert escalation.data["notified"] == [beat_officer.username]
    # A second row for the same (case, round, action) cannot exist.
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(
            DeadlineAction(
                case_id=case.id, deadline_round=1, action="remind", due_at=due, done_at=due
            )
        )
        db.flush()


def _next_check(db: Session, case: Case) -> datetime | None:
    return db.scalar(select(Case.next_check_at).where(Case.id == case.id))


def test_tick_reads_only_the_cases_due_or_changed(db: Session, make_user: UserFactory) -> None:
    """The tick looks at a case when its next action's time comes or its deadline changes, not
    at every open case each run (at a province's size 20,000 cases and 1.5 s a tick)."""
    make_user(Role.GRID_WORKER, GRID)
    commander = make_user(Role.COMMANDER, "T")
    case = new_case(db, "hazard")
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    remind_at = due - timedelta(hours=4)
    assert _next_check(db, case) == case.state_entered_at  # new: looked at by the next tick
    first = service.tick(db, now=remind_at - timedelta(hours=1), calendar=CALENDAR)
    assert (first.checked, first.reminded) == (1, 0)
    assert _next_check(db, case) == remind_at
    quiet = service.tick(db, now=remind_at - timedelta(minutes=1), calendar=CALENDAR)
    assert quiet.checked == 0
    reminded = service.tick(db, now=remind_at, calendar=CALENDAR)
    assert (reminded.checked, reminded.reminded) == (1, 1)
    assert _next_check(db, case) == due
    escalate_at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    late = service.tick(db, now=escalate_at, calendar=CALENDAR)  # both due: done in one look
    assert (late.flagged_overdue, late.escalated) == (1, 1)
    assert _next_check(db, case) is None
    assert service.tick(db, now=escalate_at + timedelta(days=3), calendar=CALENDAR).checked == 0
    # A new deadline (督办) has the case looked at again, and its actions done for it.
    new_due = escalate_at + timedelta(days=2)
    service.supervise(
        db,
        case=case,
        due_at=new_due,
        note="再限两日",
        user=commander,
        actor=actor_of(commander),
        now=escalate_at,
    )
    db.flush()
    assert _next_check(db, case) == escalate_at
    assert service.tick(db, now=new_due, calendar=CALENDAR).flagged_overdue == 1
    # An ended case is never looked at again.
    closed = new_case(db, "hazard")
    service.transition(
        db,
        case=closed,
        name="dismiss",
        fields={"reason": "不属实"},
        user=None,
        actor=SYSTEM,
        now=remind_at,
        calendar=CALENDAR,
    )
    db.flush()
    assert _next_check(db, closed) is None


def test_a_tick_reads_who_is_bound_to_an_area_once(db: Session, make_user: UserFactory) -> None:
    """The cases of one grid due together ask for its users once a tick, not once a case
    (at 100 counties the catch-up after a bulk load did 17,000 actions)."""
    worker = make_user(Role.GRID_WORKER, GRID)
    cases = [new_case(db, "hazard") for _ in range(3)]
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "JOIN user_area" in statement:  # who is bound to an area
            reads.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        report = service.tick(db, now=due - timedelta(hours=4), calendar=CALENDAR)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert report.reminded == 3
    assert len(reads) == 1
    for case in cases:
        reminder = next(e for e in case.events if e.kind is EventKind.REMIND)
        assert reminder.data["notified"] == [worker.username]


def _tick_counting(db: Session, now: datetime) -> tuple[service.TickReport, list[str]]:
    """A tick at ``now`` and the statements it sent to the database."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    bind = db.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        report = service.tick(db, now=now, calendar=CALENDAR)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    return report, statements


def test_a_catch_up_tick_writes_its_actions_in_batches(db: Session, make_user: UserFactory) -> None:
    """A tick that finds many actions due (after a bulk load or an outage) claims them in one
    statement and writes them in one flush, not a savepoint, a claim, a flush and a read of
    the case's county for every action (7 ms an action: 118.6 s at 100 counties). What grows
    with the cases: each case's UPDATE (its version checked one by one), and on SQLite each
    row's INSERT (the ORM batches those on PostgreSQL only)."""
    worker = make_user(Role.GRID_WORKER, GRID)
    beat_officer = make_user(Role.STATION_OFFICER, "T-D1-S1-B1")
    escalate_at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    batched_rows = db.get_bind().dialect.name == "postgresql"
    reads: dict[int, int] = {}
    for n in (2, 8):
        cases = [new_case(db, "hazard") for _ in range(n)]
        report, statements = _tick_counting(db, escalate_at)
        assert (report.checked, report.reminded, report.flagged_overdue, report.escalated) == (
            n,
            n,
            n,
            n,
        )
        # The reminder is past the deadline (recorded, not sent); the warning and the
        # escalation are sent.
        assert report.notices == 2 * n

        def sent(head: str, statements: list[str] = statements) -> int:
            return sum(" ".join(s.split()).startswith(head) for s in statements)

        reads[n] = sent("SELECT")
        assert sent("SELECT county_id") == 0
        assert sent("SAVEPOINT") == 1 and sent("INSERT INTO case_deadline_action") == 1
        assert sent("UPDATE case_record") == n + 1  # and the next looks, in one executemany
        assert sent("INSERT INTO case_event") == (1 if batched_rows else 3 * n)
        assert sent("INSERT INTO case_notice") == (1 if batched_rows else 2 * n)
        for case in cases:
            assert [e.kind for e in case.events][1:] == [
                EventKind.REMIND,
                EventKind.OVERDUE,
                EventKind.ESCALATE,
            ]
            assert _actions(db, case) == [(1, "remind"), (1, "flag_overdue"), (1, "escalate")]
            assert case.is_overdue and case.escalated_at == escalate_at
            assert _next_check(db, case) is None
            notices = db.execute(
                select(CaseNotice.kind, CaseNotice.user_id, CaseNotice.county_id)
                .where(CaseNotice.case_id == case.id)
                .order_by(CaseNotice.id)
            ).all()
            assert notices == [
                (EventKind.OVERDUE, worker.id, case.county_id),
                (EventKind.ESCALATE, beat_officer.id, case.county_id),
            ]
    assert reads[8] == reads[2]


def test_a_tick_skips_the_actions_another_tick_claimed(db: Session, make_user: UserFactory) -> None:
    """Only the actions a tick claims are done by it: one that another tick claimed after
    this one read what was done (its row in, its notices its own to send) is skipped, and
    the rest of the chunk is done."""
    worker = make_user(Role.GRID_WORKER, GRID)
    taken, free = new_case(db, "hazard"), new_case(db, "hazard")
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    remind_at = due - timedelta(hours=4)
    other_claimed = False

    def other_tick_claims(state: ORMExecuteState) -> Result[Any] | None:
        """Right after the tick's read of the actions done, another tick claims one."""
        nonlocal other_claimed
        if other_claimed or "case_deadline_action" not in str(state.statement):
            return None
        read = state.invoke_statement().freeze()
        state.session.connection().execute(
            insert(DeadlineAction).values(
                case_id=taken.id,
                deadline_round=taken.deadline_round,
                action="remind",
                due_at=due,
                done_at=remind_at,
            )
        )
        other_claimed = True
        return read()

    event.listen(db, "do_orm_execute", other_tick_claims)
    try:
        report = service.tick(db, now=remind_at, calendar=CALENDAR)
    finally:
        event.remove(db, "do_orm_execute", other_tick_claims)
    assert other_claimed
    assert (report.checked, report.reminded, report.notices) == (2, 1, 1)
    assert EventKind.REMIND not in [e.kind for e in taken.events]
    reminder = next(e for e in free.events if e.kind is EventKind.REMIND)
    assert reminder.data["notified"] == [worker.username]
    assert db.scalars(
        select(CaseNotice.case_id).where(CaseNotice.kind == EventKind.REMIND)
    ).all() == [free.id]
    assert _actions(db, taken) == [(1, "remind")] and _actions(db, free) == [(1, "remind")]
    # The claimed reminder counts as done for the next look: the warning at the deadline.
    assert _next_check(db, taken) == due and _next_check(db, free) == due


def test_a_case_changed_meanwhile_keeps_its_change_and_the_rest_are_done(
    db: Session, make_user: UserFactory
) -> None:
    """Another writer changes a case between the tick's read of it and its flush (its version
    moved: StaleDataError in the chunk's flush). The chunk is rolled back and done again
    without it: the other writer's change and the next look it gave the case stay, the
    tick does not fail, and the other cases' actions are done once. A later tick does the
    changed case's actions."""
    worker = make_user(Role.GRID_WORKER, GRID)
    first, changed, last = (new_case(db, "hazard") for _ in range(3))
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    # The other writer's change, committed after the tick's session read the case: its
    # version moved in the database, not in this session's copy.
    its_next_look = due - timedelta(minutes=5)
    table = Case.__table__
    db.execute(
        update(table)
        .where(table.c.id == changed.id)
        .values(title="他人改过", version=table.c.version + 1, next_check_at=its_next_look)
    )
    report = service.tick(db, now=due, calendar=CALENDAR)
    assert (report.checked, report.reminded, report.flagged_overdue) == (3, 2, 2)
    assert report.notices == 2  # the reminders are past the deadline: recorded, not sent
    row = db.execute(
        select(Case.title, Case.next_check_at, Case.is_overdue).where(Case.id == changed.id)
    ).one()
    assert tuple(row) == ("他人改过", its_next_look, False)
    assert changed.title == "他人改过"  # the session's copy was read again, not acted on
    assert _actions(db, changed) == []
    escalate_at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    for case in (first, last):
        assert _actions(db, case) == [(1, "remind"), (1, "flag_overdue")]
        assert [e.kind for e in case.events][1:] == [EventKind.REMIND, EventKind.OVERDUE]
        assert case.is_overdue and _next_check(db, case) == escalate_at
    notices = db.execute(
        select(CaseNotice.case_id, CaseNotice.user_id).where(CaseNotice.kind == EventKind.OVERDUE)
    ).all()
    assert sorted(notices) == [(first.id, worker.id), (last.id, worker.id)]
    again = service.tick(db, now=due, calendar=CALENDAR)
    assert (again.checked, again.reminded, again.flagged_overdue) == (1, 1, 1)
    assert _actions(db, changed) == [(1, "remind"), (1, "flag_overdue")]
    assert changed.is_overdue and _next_check(db, changed) == escalate_at


def test_a_case_whose_rows_are_refused_is_left_to_the_next_tick(
    db: Session, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk whose flush fails with no case changed meanwhile (here a notice to a user who
    is gone) is done again case by case: the other cases' actions are done, the failing
    case is left as it was (looked at again by the next tick), and the tick does not fail."""
    worker = make_user(Role.GRID_WORKER, GRID)
    first, refused, last = (new_case(db, "hazard") for _ in range(3))
    due = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    gone = worker.id + 10_000
    notify = deadlines.notify

    def notify_and_someone_gone(
        session: Session, case: Case, users: Any, kind: EventKind, now: datetime
    ) -> list[str]:
        if case.id == refused.id:
            session.add(CaseNotice(case_id=case.id, user_id=gone, kind=kind, at=now))
        return notify(session, case, users, kind, now)

    monkeypatch.setattr(deadlines, "notify", notify_and_someone_gone)
    report = service.tick(db, now=due, calendar=CALENDAR)
    assert (report.checked, report.reminded, report.flagged_overdue) == (3, 2, 2)
    assert _actions(db, refused) == [] and _next_check(db, refused) == refused.state_entered_at
    assert not refused.is_overdue
    escalate_at = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    for case in (first, last):
        assert _actions(db, case) == [(1, "remind"), (1, "flag_overdue")]
        assert [e.kind for e in case.events][1:] == [EventKind.REMIND, EventKind.OVERDUE]
        assert _next_check(db, case) == escalate_at
    monkeypatch.undo()
    again = service.tick(db, now=due, calendar=CALENDAR)
    assert (again.checked, again.reminded, again.flagged_overdue) == (1, 1, 1)
    assert _actions(db, refused) == [(1, "remind"), (1, "flag_overdue")]


def test_supervision_sets_a_new_deadline_period(db: Session, make_user: UserFactory) -> None:
    commander = make_user(Role.COMMANDER, "T")
    officer = make_user(Role.STATION_OFFICER, STATION)
    case = new_case(db, "hazard")
    late = case.due_at + timedelta(hours=1)  # type: ignore[operator]
    service.tick(db, now=late, calendar=CALENDAR)
    assert case.is_overdue
    with pytest.raises(Forbidden, match=r"cases.supervise"):
        service.supervise(
            db,
            case=case,
            due_at=late + timedelta(days=1),
            note="x",
            user=officer,
            actor=actor_of(officer),
            now=late,
        )
    with pytest.raises(InvalidInput, match="future"):
        service.supervise(
            db,
            case=case,
            due_at=late,
            note="x",
            user=commander,
            actor=actor_of(commander),
            now=late,
        )
    new_due = late + timedelta(days=2)
    event = service.supervise(
        db,
        case=case,
        due_at=new_due,
        note="请于两日内完成评估",
        user=commander,
        actor=actor_of(commander),
        now=late,
    )
    assert (case.due_at, case.is_overdue, case.supervision_count, case.deadline_round) == (
        new_due,
        False,
        1,
        2,
    )
    assert event.kind is EventKind.SUPERVISE and event.note == "请于两日内完成评估"
    assert officer.username in event.data["notified"]
    report = service.tick(db, now=new_due, calendar=CALENDAR)
    assert report.flagged_overdue == 1
    assert (2, "flag_overdue") in _actions(db, case)
    service.transition(
        db,
        case=case,
        name="dismiss",
        fields={"reason": "已消除"},
        user=None,
        actor=SYSTEM,
        now=new_due,
        calendar=CALENDAR,
    )
    with pytest.raises(Conflict, match="closed"):
        service.supervise(
            db,
            case=case,
            due_at=new_due + timedelta(days=1),
            note="x",
            user=commander,
            actor=actor_of(commander),
            now=new_due,
        )


def test_dispute_risk_flag_from_the_case_facts(db: Session, make_user: UserFactory) -> None:
    """Threats recorded, a domestic-violence category or two failed sessions flag the CASE:
    its deadline halves and the station is alerted. No person is scored."""
    station_officer = make_user(Role.STATION_OFFICER, STATION)
    mediator = make_user(Role.MEDIATOR, STATION)
    calm = new_case(db, "dispute")
    assert not calm.escalation_risk and calm.due_at == T0 + timedelta(hours=8.5)
    service.transition(
        db,
        case=calm,
        name="assign_mediator",
        fields={"mediator": mediator.id},
        user=mediator,
        actor=actor_of(mediator),
        now=T0,
        calendar=CALENDAR,
        cipher=CIPHER,
    )
    assert calm.due_at == T0 + timedelta(days=30) and calm.assignee_user_id == mediator.id
    for day in (1, 2):
        assert not calm.escalation_risk
        service.transition(
            db,
            case=calm,
            name="hold_session",
            user=mediator,
            actor=actor_of(mediator),
            now=T0 + timedelta(days=day),
            calendar=CALENDAR,
            cipher=CIPHER,
            fields={
                "session_at": (T0 + timedelta(days=day)).isoformat(),
                "session_result": "failed",
                "session_note": "张三拒绝",
            },
        )
        assert calm.state == "mediating"
    assert calm.escalation_risk
    assert calm.risk_reasons == ["repeated:hold_session.session_result=failed"]
    assert calm.due_at == T0 + timedelta(days=15)
    alert = [e for e in calm.events if e.kind is EventKind.RISK][-1]
    assert alert.data["alerted"] == [station_officer.username]

    violent = new_case(db, "dispute", fields={**DISPUTE_FIELDS, "category": "domestic_violence"})
    assert violent.escalation_risk and violent.due_at == T0 + timedelta(hours=4.25)
    threats = new_case(db, "dispute", fields={**DISPUTE_FIELDS, "threats_recorded": True})
    assert threats.risk_reasons == ["fact:threats_recorded"]
    quiet = new_case(db, "dispute")
    service.transition(
        db,
        case=quiet,
        name="record_risk_facts",
        note="当事人持刀",
        fields={"threats_recorded": False, "weapons_recorded": True},
        user=None,
        actor=SYSTEM,
        now=T0 + timedelta(hours=1),
        calendar=CALENDAR,
        cipher=CIPHER,
    )
    assert quiet.escalation_risk and quiet.state == "intake"
    assert quiet.due_at == T0 + timedelta(hours=4.25)
    service.transition(
        db,
        case=quiet,
        name="record_risk_facts",
        note="核实为误报",
        fields={"threats_recorded": False, "weapons_recorded": False},
        user=None,
        actor=SYSTEM,
        now=T0 + timedelta(hours=2),
        calendar=CALENDAR,
        cipher=CIPHER,
    )
    assert not quiet.escalation_risk and quiet.risk_reasons == []
    notices = db.scalar(
        select(func.count(CaseNotice.id)).where(
            CaseNotice.user_id == station_officer.id, CaseNotice.kind == EventKind.RISK
        )
    )
    assert notices == 4
    # Nothing about the persons: parties carry a role and encrypted name and contact only.
    assert {c.key for c in Case.__table__.c}.isdisjoint({"score", "risk_score"})
    party = calm.parties[0]
    assert party.name_encrypted and "张三丰" not in party.name_encrypted


def test_personal_data_is_masked_and_unmasking_is_audited(
    db: Session, make_user: UserFactory
) -> None:
    mediator = make_user(Role.MEDIATOR, STATION)
    viewer = make_user(Role.GRID_WORKER, STATION)
    case = case_in(db, registry.get("dispute"), "agreed", mediator.id)
    masked = service.masked_personal(case, CIPHER)
    assert [(p.name, p.contact) for p in masked.parties] == [("张**", "139******78"), ("李*", None)]
    assert masked.fields == {"agreement_text": "*** (2)"}
    assert "文本" not in str(case.personal_encrypted)
    with pytest.raises(Forbidden, match=r"cases.personal.unmask"):
        service.reveal_personal(db, case=case, viewer=viewer, cipher=CIPHER, actor=actor_of(viewer))
    clear = service.reveal_personal(
        db, case=case, viewer=mediator, cipher=CIPHER, actor=actor_of(mediator)
    )
    assert [(p.name, p.contact) for p in clear.parties] == [
        ("张三丰", "13912345678"),
        ("李四", None),
    ]
    assert clear.fields == {"agreement_text": "文本"}
    reads = audit.get_all(
        db, scope=SYSTEM_SCOPE, reader_id=None, entity="case", action="read_personal"
    )
    assert reads[0].username == mediator.username and reads[0].entity_id == str(case.id)
    assert reads[0].area_path == case.area_path


def test_scoping_of_reads(db: Session, make_user: UserFactory) -> None:
    here = new_case(db, "hazard", code=GRID)
    there = new_case(db, "dispute", code="T-D2-S2-B2-G2")
    grid_user = make_user(Role.GRID_WORKER, GRID)
    other_grid = make_user(Role.GRID_WORKER, "T-D1-S1-B1-G2")
    city = Scope(paths=("/",))
    for user, expected in ((grid_user, {here.id}), (other_grid, set())):
        scope = scope_for(db, user)
        _, items = service.get_all(db, scope=scope, now=T0, limit=500)
        assert {c.id for c in items} & {here.id, there.id} == expected
        with pytest.raises(NotFound):
            service.get_or_raise(db, case_id=there.id, scope=scope)
    _, items = service.get_all(
        db,
        scope=city,
        now=T0,
        limit=500,
        filters=service.CaseFilter(case_type="dispute", area_code="T-D2"),
    )
    assert there.id in {c.id for c in items} and here.id not in {c.id for c in items}
    late = T0 + timedelta(days=40)
    _, overdue = service.get_all(
        db, scope=city, now=late, filters=service.CaseFilter(overdue=True), limit=500
    )
    assert {here.id, there.id} <= {c.id for c in overdue}
    _, fresh = service.get_all(
        db, scope=city, now=T0, filters=service.CaseFilter(overdue=True, state="found"), limit=500
    )
    assert here.id not in {c.id for c in fresh}
    with pytest.raises(InvalidInput, match="case type 'x'"):
        service.get_all(db, scope=city, now=T0, filters=service.CaseFilter(case_type="x"))
    _, rows = service.board(
        db,
        scope=scope_for(db, make_user(Role.STATION_OFFICER, STATION)),
        now=T0 + timedelta(days=5),
    )
    by_code = {r.area.code: r for r in rows}
    assert set(by_code) == {"T-D1-S1-B1", "T-D1-S1-B2"}
    assert by_code["T-D1-S1-B1"].open >= 1 and by_code["T-D1-S1-B1"].by_age[1] >= 1


def test_retention_purge(db: Session, tmp_path: Path, make_user: UserFactory) -> None:
    mediator = make_user(Role.MEDIATOR, STATION)
    storage = DiskStorage(tmp_path)
    old = case_in(db, registry.get("dispute"), "agreed", mediator.id)
    service.comment(db, case=old, text="张三来电", user=None, actor=SYSTEM, now=T0)
    attachment = service.add_attachment(
        db,
        case=old,
        filename="协议.pdf",
        content_type="application/pdf",
        data=b"%PDF-1.4 x",
        storage=storage,
        cipher=CIPHER,
        user=None,
        actor=SYSTEM,
        now=T0,
    )
    assert b"%PDF" not in storage.read(attachment.storage_key)  # sealed on disk
    assert service.open_attachment(
        db,
        case=old,
        attachment_id=attachment.id,
        storage=storage,
        cipher=CIPHER,
        user=None,
        actor=SYSTEM,
    ) == (attachment, b"%PDF-1.4 x")
    key = attachment.storage_key
    service.transition(
        db,
        case=old,
        name="follow_up",
        fields={"follow_up_result": "fulfilled"},
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
        cipher=CIPHER,
    )
    recent = case_in(db, registry.get("dispute"), "agreed", mediator.id)
    service.transition(
        db,
        case=recent,
        name="follow_up",
        fields={"follow_up_result": "fulfilled"},
        user=None,
        actor=SYSTEM,
        now=T0 + timedelta(days=2),
        calendar=CALENDAR,
        cipher=CIPHER,
    )
    hazard = new_case(db, "hazard")
    service.transition(
        db,
        case=hazard,
        name="dismiss",
        fields={"reason": "无"},
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
    )
    purge_at = T0 + timedelta(days=366)
    report = service.purge(db, now=purge_at, storage=storage)
    assert (report.cases, report.parties, report.attachments) >= (1, 2, 1)
    assert old.purged_at == purge_at and recent.purged_at is None and hazard.purged_at is None
    assert all(
        p.name_encrypted is None and p.contact_encrypted is None and p.anonymised_at
        for p in old.parties
    )
    assert old.personal_encrypted is None and old.attachments == []
    assert old.title == f"MD-{old.id:06d}" and old.description == ""
    assert all(e.note is None and e.personal_encrypted is None for e in old.events)
    with pytest.raises(NotFound):
        storage.read(key)
    assert old.data["category"] == "neighbour" and old.state == "closed"
    masked = service.masked_personal(old, CIPHER)
    assert [(p.name, p.contact) for p in masked.parties] == [(None, None), (None, None)]
    assert service.purge(db, now=purge_at, storage=storage).cases == 0
    assert recent.parties[0].name_encrypted is not None
    with pytest.raises(Conflict, match="purged"):
        service.add_attachment(
            db,
            case=old,
            filename="a.txt",
            content_type="text/plain",
            data=b"x",
            storage=storage,
            cipher=CIPHER,
            user=None,
            actor=SYSTEM,
            now=T0,
        )


def test_attachments_and_links(db: Session, tmp_path: Path) -> None:
    storage = DiskStorage(tmp_path / "files")
    case = new_case(db, "hazard")
    other = new_case(db, "hazard")
    for name, kind, data, message in [
        ("a.exe", None, b"MZ", "file type '.exe' is not allowed"),
        ("a.png", "image/png", b"GIF89a", "content is not image/png"),
        ("a.pdf", "image/png", b"%PDF-", "does not match"),
        ("a.txt", "text/plain", b"\xff\xfe", "UTF-8"),
        ("a.txt", "text/plain", b"", "empty"),
        ("a.txt", "text/plain", b"x" * (10 * 1024 * 1024 + 1), "at most"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            service.add_attachment(
                db,
                case=case,
                filename=name,
                content_type=kind,
                data=data,
                storage=storage,
                cipher=CIPHER,
                user=None,
                actor=SYSTEM,
                now=T0,
            )
    photo = service.add_attachment(
        db,
        case=case,
        filename="../../现场.png",
        content_type="image/png",
        data=b"\x89PNG\r\n\x1a\n" + b"0" * 100,
        storage=storage,
        cipher=CIPHER,
        user=None,
        actor=SYSTEM,
        now=T0,
    )
    assert photo.filename == "现场.png" and photo.size == 108 and len(photo.sha256) == 64
    assert list((tmp_path / "files").iterdir()) == [tmp_path / "files" / photo.storage_key]
    with pytest.raises(NotFound):
        storage.read("../secret")
    link = service.add_link(
        db,
        case=case,
        kind="incident",
        ref_id="110-2026-0001",
        label="110警情",
        user=None,
        actor=SYSTEM,
        now=T0,
    )
    assert (link.kind, link.ref_id) == ("incident", "110-2026-0001")
    with pytest.raises(Conflict):
        service.add_link(
            db,
            case=case,
            kind="incident",
            ref_id="110-2026-0001",
            label="x",
            user=None,
            actor=SYSTEM,
            now=T0,
        )
    with pytest.raises(InvalidInput, match="kind 'person'"):
        service.add_link(
            db, case=case, kind="person", ref_id="1", label="x", user=None, actor=SYSTEM, now=T0
        )
    service.add_link(
        db,
        case=case,
        kind="case",
        ref_id=str(other.id),
        label="同一地点",
        user=None,
        actor=SYSTEM,
        now=T0,
    )
    with pytest.raises(InvalidInput, match="does not exist"):
        service.add_link(
            db, case=case, kind="case", ref_id="999999", label="x", user=None, actor=SYSTEM, now=T0
        )
    assert [e.kind for e in case.events][-3:] == [
        EventKind.ATTACHMENT,
        EventKind.LINK,
        EventKind.LINK,
    ]


def test_files_stored_in_clear_before_are_sealed(db: Session, tmp_path: Path) -> None:
    """A file written before files were sealed is sealed by the purge job: a new sealed
    file, the row's key and keyed digest, and the file in clear deleted once committed."""
    storage = DiskStorage(tmp_path / "files")
    case = new_case(db, "hazard")
    plain = b"%PDF-1.4 old file"
    old_key = storage.save(plain, suffix=".pdf")
    case.attachments.append(
        CaseAttachment(
            filename="旧.pdf",
            content_type="application/pdf",
            size=len(plain),
            sha256="0" * 64,
            storage_key=old_key,
            uploaded_at=T0,
        )
    )
    db.flush()
    (attachment,) = case.attachments
    assert service.open_attachment(
        db,
        case=case,
        attachment_id=attachment.id,
        storage=storage,
        cipher=CIPHER,
        user=None,
        actor=SYSTEM,
    ) == (attachment, plain)  # read as it is until sealed
    assert service.seal_stored_in_clear(db, storage=storage, cipher=CIPHER) == 1
    assert attachment.key_encrypted is not None and attachment.storage_key != old_key
    assert attachment.sha256 == CIPHER.keyed_digest(plain)
    assert plain not in storage.read(attachment.storage_key)
    assert storage.read(old_key) == plain  # kept until the transaction commits
    db.commit()
    with pytest.raises(NotFound):
        storage.read(old_key)
    assert service.open_attachment(
        db,
        case=case,
        attachment_id=attachment.id,
        storage=storage,
        cipher=CIPHER,
        user=None,
        actor=SYSTEM,
    ) == (attachment, plain)
    assert service.seal_stored_in_clear(db, storage=storage, cipher=CIPHER) == 0
