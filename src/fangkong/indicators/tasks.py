"""The task ledger (重点任务清单): what a responsible unit must deliver in an area by a
deadline, its progress and the indicators it moves; supervision of overdue tasks on the case
engine (the ``task_supervision`` case type), so that they stand on the supervision board.

A task is overdue when it is open and its deadline (a day in the county's zone) has passed.
:func:`supervise_overdue` opens one supervision case per overdue task that has none open; a
task marked done closes its open supervision case as completed.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.indicators import targets
from fangkong.indicators.models import IndicatorTask, TaskStatus

CASE_TYPE = "task_supervision"


def today(now: datetime, zone: tzinfo) -> date:
    return now.astimezone(zone).date()


def is_overdue(task: IndicatorTask, *, on: date) -> bool:
    return task.status is TaskStatus.OPEN and task.deadline < on


def tasks_query(scope: Scope) -> Select[IndicatorTask]:
    return select(IndicatorTask).where(scope.clause(IndicatorTask.area_path))


def get_or_raise(session: Session, *, task_id: int, scope: Scope) -> IndicatorTask:
    task = session.get(IndicatorTask, task_id)
    if task is None or not scope.covers(task.area_path):
        raise NotFound(key="error.indicators.task_unknown", params={"id": task_id}, field="task_id")
    return task


def get_all(
    session: Session, *, scope: Scope, overdue_on: date | None = None
) -> list[IndicatorTask]:
    """The tasks of ``scope`` by deadline (only the overdue ones when ``overdue_on`` is
    given)."""
    stmt = tasks_query(scope).order_by(IndicatorTask.deadline, IndicatorTask.id)
    if overdue_on is not None:
        stmt = stmt.where(
            IndicatorTask.status == TaskStatus.OPEN, IndicatorTask.deadline < overdue_on
        )
    return list(session.scalars(stmt).unique())


def _check_indicators(ids: list[str]) -> list[str]:
    out: list[str] = []
    for indicator_id in ids:
        decl = targets.get_or_raise(indicator_id)
        if decl.id not in out:
            out.append(decl.id)
    return out


def create(
    session: Session,
    *,
    code: str,
    title: str,
    responsible_unit: str,
    area: Area,
    deadline: date,
    progress: int,
    indicator_ids: list[str],
    actor: Actor,
) -> IndicatorTask:
    """Add a task to the ledger in ``area`` (read by the caller in the user's scope)."""
    code = code.strip()
    if session.scalar(select(IndicatorTask.id).where(IndicatorTask.code == code)) is not None:
        raise Conflict(key="error.indicators.task_code_taken", params={"code": code}, field="code")
    if not 0 <= progress <= 100:
        raise InvalidInput(key="error.indicators.progress", field="progress")
    task = IndicatorTask(
        code=code,
        title=title.strip(),
        responsible_unit=responsible_unit.strip(),
        area_id=area.id,
        area_path=area.path,
        deadline=deadline,
        progress=progress,
        status=TaskStatus.DONE if progress == 100 else TaskStatus.OPEN,
        indicator_ids=_check_indicators(indicator_ids),
    )
    session.add(task)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="indicator_task",
        entity_id=task.id,
        detail={"code": code, "deadline": deadline.isoformat()},
        area_path=area.path,
    )
    return task


def update_progress(
    session: Session,
    *,
    task: IndicatorTask,
    progress: int,
    status: TaskStatus | None,
    user: User | None,
    actor: Actor,
    now: datetime,
    calendar: BusinessCalendar,
) -> IndicatorTask:
    """Record a task's progress (100 % marks it done) or its status; a done or cancelled
    task's open supervision case is closed (completed or cancelled)."""
    if not 0 <= progress <= 100:
        raise InvalidInput(key="error.indicators.progress", field="progress")
    task.progress = progress
    new = status or (TaskStatus.DONE if progress == 100 else task.status)
    if new is TaskStatus.DONE:
        task.progress = 100
    if new is not TaskStatus.DONE:
        task.done_at = None
    elif task.status is not TaskStatus.DONE:
        task.done_at = now
    task.status = new
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="indicator_task",
        entity_id=task.id,
        detail={"progress": task.progress, "status": task.status.value},
        area_path=task.area_path,
    )
    if task.status is not TaskStatus.OPEN and task.case_id is not None:
        case = session.get(Case, task.case_id)
        if case is not None and case.closed_at is None:
            done = task.status is TaskStatus.DONE
            cases.transition(
                session,
                case=case,
                name="complete" if done else "cancel",
                fields={} if done else {"reason": "task cancelled"},
                user=None,
                actor=actor,
                now=now,
                calendar=calendar,
            )
    return task


def supervise_overdue(
    session: Session,
    *,
    scope: Scope,
    actor: Actor,
    now: datetime,
    zone: tzinfo,
    calendar: BusinessCalendar,
) -> list[IndicatorTask]:
    """Open a supervision case for each overdue task of ``scope`` without an open one; the
    tasks supervised now."""
    opened: list[IndicatorTask] = []
    for task in get_all(session, scope=scope, overdue_on=today(now, zone)):
        if task.case_id is not None:
            case = session.get(Case, task.case_id)
            if case is not None and case.closed_at is None:
                continue
        area = session.get_one(Area, task.area_id)
        case = cases.create(
            session,
            case_type=CASE_TYPE,
            title=f"{task.code} {task.title}"[:200],
            area=area,
            fields={"task_code": task.code, "responsible_unit": task.responsible_unit[:128]},
            user=None,
            actor=actor,
            now=now,
            calendar=calendar,
        )
        task.case_id = case.id
        opened.append(task)
    session.flush()
    return opened
