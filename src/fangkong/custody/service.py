"""Custody of seized property (涉案财物): items as assets and their chain of custody.

An item is registered with its first step, ``received``; every later step (stored at a
location, moved, examined, returned, disposed) is appended with who handled it, when it
happened, who recorded it and when. Steps are never changed: a correction is a new step that
names the one it replaces (or voids it), and the item's stage, location and deadline are
recomputed from the chain as corrected. Each stage has a deadline (:data:`STAGE_HOURS`); an
item past it is overdue, and :func:`raise_alerts` opens a ``custody_overdue`` case for it on
the supervision board. No person is recorded: an item is held for an incident's or a case's
number. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, as_system
from fangkong.custody import alerts
from fangkong.custody.models import CustodyItem, CustodyStep, Stage
from fangkong.custody.schemas import CorrectionIn, ItemIn, StepIn

#: Hours an item may stay in a stage before it is overdue (docs/custody.md): handed into
#: storage within a day of its seizure or its move; an examination reported within 30 days;
#: a stored item returned or disposed of within 180 days (or its hold renewed by a step).
STAGE_HOURS: dict[Stage, int] = {
    Stage.RECEIVED: 24,
    Stage.MOVED: 24,
    Stage.EXAMINED: 30 * 24,
    Stage.STORED: 180 * 24,
}
#: The steps that may follow each stage; ``returned`` and ``disposed`` end the chain.
NEXT: dict[Stage, frozenset[Stage]] = {
    Stage.RECEIVED: frozenset({Stage.STORED, Stage.EXAMINED, Stage.RETURNED}),
    Stage.STORED: frozenset(
        {Stage.STORED, Stage.MOVED, Stage.EXAMINED, Stage.RETURNED, Stage.DISPOSED}
    ),
    Stage.MOVED: frozenset({Stage.STORED}),
    Stage.EXAMINED: frozenset({Stage.STORED, Stage.RETURNED, Stage.DISPOSED}),
    Stage.RETURNED: frozenset(),
    Stage.DISPOSED: frozenset(),
}
CLOSING = frozenset({Stage.RETURNED, Stage.DISPOSED})
#: Steps that must say where the item is (stored at, moved to).
NEEDS_LOCATION = frozenset({Stage.STORED, Stage.MOVED})
#: Steps that must cite their decision (a return or disposal order's number).
NEEDS_DOCUMENT = frozenset({Stage.RETURNED, Stage.DISPOSED})
#: How far ahead of the server's clock a step may be dated (clocks differ a little).
CLOCK_SLACK = timedelta(minutes=5)


def _area_or_raise(session: Session, code: str, scope: Scope | None) -> Area:
    """The holding area by code; one unknown or outside ``scope`` names the field ``area``."""
    found = area_service.get_by_code(session, code=code)
    if found is None or (scope is not None and not scope.covers(found.path)):
        raise NotFound(key="error.areas.area_not_found", params={"code": code}, field="area")
    return found


def get(session: Session, *, item_id: int, scope: Scope | None) -> CustodyItem | None:
    item = session.get(CustodyItem, item_id)
    if item is None or (scope is not None and not scope.covers(item.area_path)):
        return None
    return item


def get_or_raise(session: Session, *, item_id: int, scope: Scope | None) -> CustodyItem:
    """The item; one outside ``scope`` reads as not found."""
    item = get(session, item_id=item_id, scope=scope)
    if item is None:
        raise NotFound(key="error.custody.not_found", params={"id": item_id}, field="item_id")
    return item


def get_by_code(session: Session, *, code: str) -> CustodyItem | None:
    with as_system(session):
        return session.scalars(select(CustodyItem).where(CustodyItem.code == code)).one_or_none()


def items_select(scope: Scope) -> Select[CustodyItem]:
    return select(CustodyItem).where(scope.clause(CustodyItem.area_path))


def is_overdue(item: CustodyItem, now: datetime) -> bool:
    return item.closed_at is None and item.due_at is not None and item.due_at < now


def deadline(stage: Stage, since: datetime) -> datetime | None:
    hours = STAGE_HOURS.get(stage)
    return since + timedelta(hours=hours) if hours is not None else None


# --- the chain ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A step of the chain as it stands after corrections: the row that says it now and the
    seq of the step it stands in for."""

    step: CustodyStep
    seq: int


def steps_of(session: Session, *, item: CustodyItem) -> list[CustodyStep]:
    """Every row of the item's chain, corrections included, in the order recorded."""
    return list(
        session.scalars(
            select(CustodyStep).where(CustodyStep.item_id == item.id).order_by(CustodyStep.seq)
        )
    )


def effective(steps: Sequence[CustodyStep]) -> list[Link]:
    """The chain as corrected: each original step replaced by its latest correction (a void
    one drops it), in the originals' order. O(n)."""
    by_id = {s.id: s for s in steps}
    latest: dict[int, CustodyStep] = {}
    for step in steps:  # in seq order: a later correction wins
        if step.corrects_id is None:
            continue
        origin = step.corrects_id
        while by_id[origin].corrects_id is not None:
            origin = by_id[origin].corrects_id  # type: ignore[assignment]
        latest[origin] = step
    chain: list[Link] = []
    for step in steps:
        if step.corrects_id is not None:
            continue
        now = latest.get(step.id, step)
        if not now.void:
            chain.append(Link(step=now, seq=step.seq))
    return chain


def _check_chain(stages: list[tuple[Stage, datetime]]) -> None:
    """A chain starts with ``received``, each step may follow the one before and none is
    dated before it; else invalid input naming the rule."""
    if not stages or stages[0][0] is not Stage.RECEIVED:
        raise InvalidInput(key="error.custody.first_received", field="stage")
    for (before, at_before), (after, at_after) in pairwise(stages):
        if after not in NEXT[before]:
            raise InvalidInput(
                key="error.custody.step_order",
                params={"before": before.value, "after": after.value},
                field="stage",
            )
        if at_after < at_before:
            raise InvalidInput(key="error.custody.step_earlier", field="occurred_at")


def _check_step(
    stage: Stage, location: str, document: str, occurred_at: datetime, now: datetime
) -> None:
    if stage in NEEDS_LOCATION and not location.strip():
        raise InvalidInput(
            key="error.custody.location_missing", params={"stage": stage.value}, field="location"
        )
    if stage in NEEDS_DOCUMENT and not document.strip():
        raise InvalidInput(
            key="error.custody.document_missing", params={"stage": stage.value}, field="document"
        )
    if occurred_at > now + CLOCK_SLACK:
        raise InvalidInput(key="error.custody.step_future", field="occurred_at")


def _refresh(session: Session, item: CustodyItem) -> None:
    """The item's stage, location, deadline and end, from its chain as corrected."""
    chain = effective(steps_of(session, item=item))
    last = chain[-1].step
    item.stage, item.stage_at = last.stage, last.occurred_at
    locations = [link.step.location for link in chain if link.step.location]
    item.location = locations[-1] if locations else ""
    item.due_at = deadline(last.stage, last.occurred_at)
    item.closed_at = last.occurred_at if last.stage in CLOSING else None
    session.flush()


def _append(
    session: Session,
    *,
    item: CustodyItem,
    stage: Stage,
    location: str,
    handled_by: str,
    document: str,
    occurred_at: datetime,
    actor: Actor,
    now: datetime,
    corrects: CustodyStep | None = None,
    void: bool = False,
) -> CustodyStep:
    seq = session.scalar(
        select(func.coalesce(func.max(CustodyStep.seq), 0)).where(CustodyStep.item_id == item.id)
    )
    step = CustodyStep(
        item_id=item.id,
        seq=int(seq or 0) + 1,
        area_path=item.area_path,
        stage=stage,
        location=location.strip(),
        handled_by=handled_by.strip(),
        document=document.strip(),
        occurred_at=occurred_at,
        recorded_at=now,
        recorded_by=(actor.username or "system")[:64],
        corrects_id=corrects.id if corrects is not None else None,
        void=void,
    )
    session.add(step)
    session.flush()
    return step


def create_item(
    session: Session,
    *,
    data: ItemIn,
    actor: Actor,
    scope: Scope | None,
    now: datetime,
    audited: bool = True,
) -> CustodyItem:
    """Register a seized item held by a station of ``scope``, with its ``received`` step."""
    code = data.code.strip()
    if get_by_code(session, code=code) is not None:
        raise Conflict(key="error.custody.exists", params={"code": code}, field="code")
    area = _area_or_raise(session, data.area.strip(), scope)
    _check_step(Stage.RECEIVED, data.location, data.document, data.received_at, now)
    item = CustodyItem(
        code=code,
        category=data.category,
        description=data.description.strip() or None,
        quantity=data.quantity,
        unit=data.unit.strip(),
        ref_kind=data.ref_kind,
        ref_number=data.ref_number.strip(),
        area_id=area.id,
        area_path=area.path,
        stage=Stage.RECEIVED,
        stage_at=data.received_at,
        location=data.location.strip(),
        due_at=deadline(Stage.RECEIVED, data.received_at),
    )
    session.add(item)
    session.flush()
    _append(
        session,
        item=item,
        stage=Stage.RECEIVED,
        location=data.location,
        handled_by=data.handled_by,
        document=data.document,
        occurred_at=data.received_at,
        actor=actor,
        now=now,
    )
    if audited:
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="custody_item",
            entity_id=item.id,
            detail={"code": code, "ref": f"{data.ref_kind.value}:{item.ref_number}"},
            area_path=item.area_path,
        )
    return item


def record_step(
    session: Session, *, item: CustodyItem, data: StepIn, actor: Actor, now: datetime
) -> CustodyStep:
    """Append a step to the item's chain (it must follow the stage the item is in)."""
    if item.closed_at is not None:
        raise Conflict(
            key="error.custody.closed",
            params={"code": item.code, "stage": item.stage.value},
            field="stage",
        )
    _check_step(data.stage, data.location, data.document, data.occurred_at, now)
    chain = [
        (link.step.stage, link.step.occurred_at) for link in effective(steps_of(session, item=item))
    ]
    _check_chain([*chain, (data.stage, data.occurred_at)])
    step = _append(
        session,
        item=item,
        stage=data.stage,
        location=data.location,
        handled_by=data.handled_by,
        document=data.document,
        occurred_at=data.occurred_at,
        actor=actor,
        now=now,
    )
    item.alert_case_id = None  # a new stage, a new clock: an alert of the old one stays its case
    _refresh(session, item)
    audit.record(
        session,
        actor=actor,
        action="custody_step",
        entity="custody_item",
        entity_id=item.id,
        detail={"step": step.id, "stage": data.stage.value},
        area_path=item.area_path,
    )
    return step


def correct_step(
    session: Session,
    *,
    item: CustodyItem,
    step_id: int,
    data: CorrectionIn,
    actor: Actor,
    now: datetime,
) -> CustodyStep:
    """Correct a step of the chain by a new step naming it: its values as they should have
    been, or void (recorded in error). The corrected chain must still hold together."""
    steps = steps_of(session, item=item)
    by_id = {s.id: s for s in steps}
    target = by_id.get(step_id)
    if target is None:
        raise NotFound(key="error.custody.step_not_found", params={"id": step_id}, field="step_id")
    if any(s.corrects_id == target.id for s in steps):
        raise Conflict(key="error.custody.step_corrected", params={"id": step_id}, field="step_id")
    if target.void:
        raise Conflict(key="error.custody.step_void", params={"id": step_id}, field="step_id")
    stage = data.stage or target.stage
    location = target.location if data.location is None else data.location
    handled_by = data.handled_by or target.handled_by
    document = target.document if data.document is None else data.document
    occurred_at = data.occurred_at or target.occurred_at
    if not data.void:
        _check_step(stage, location, document, occurred_at, now)
    # The chain as it would stand: the correction in the place of what it corrects.
    probe = CustodyStep(
        id=-1,
        seq=10**9,
        stage=stage,
        occurred_at=occurred_at,
        corrects_id=target.id,
        void=data.void,
    )
    chain = effective([*steps, probe])
    _check_chain([(link.step.stage, link.step.occurred_at) for link in chain])
    step = _append(
        session,
        item=item,
        stage=stage,
        location=location,
        handled_by=handled_by,
        document=document,
        occurred_at=occurred_at,
        actor=actor,
        now=now,
        corrects=target,
        void=data.void,
    )
    _refresh(session, item)
    audit.record(
        session,
        actor=actor,
        action="custody_correct",
        entity="custody_item",
        entity_id=item.id,
        detail={"step": step.id, "corrects": target.id, "void": data.void},
        area_path=item.area_path,
    )
    return step


# --- overdue alerts on the supervision board ----------------------------------------------------


def overdue_select(scope: Scope, now: datetime) -> Select[CustodyItem]:
    return items_select(scope).where(
        CustodyItem.closed_at.is_(None),
        CustodyItem.due_at.is_not(None),
        CustodyItem.due_at < now,
    )


def raise_alerts(
    session: Session,
    *,
    now: datetime,
    calendar: BusinessCalendar,
    actor: Actor,
    scope: Scope | None = None,
) -> list[int]:
    """Open a ``custody_overdue`` case (on the supervision board) for each item past its
    stage's deadline that has none for this stage; the cases opened."""
    opened: list[int] = []
    query = select(CustodyItem).where(
        CustodyItem.closed_at.is_(None),
        CustodyItem.due_at.is_not(None),
        CustodyItem.due_at < now,
        CustodyItem.alert_case_id.is_(None),
    )
    if scope is not None:
        query = query.where(scope.clause(CustodyItem.area_path))
    for item in session.scalars(query.order_by(CustodyItem.id)):
        area = session.get_one(Area, item.area_id)
        case = cases.create(
            session,
            case_type=alerts.CUSTODY_OVERDUE_TYPE.name,
            title=f"{item.code} {item.stage.value}",
            area=area,
            fields={"item": item.code, "stage": item.stage.value},
            user=None,
            actor=actor,
            now=now,
            calendar=calendar,
        )
        item.alert_case_id = case.id
        opened.append(case.id)
    session.flush()
    return opened
