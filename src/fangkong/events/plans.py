"""Emergency plans (应急预案): kept per incident category and level in an area, with tiers of
reinforcement (which unit types, from which posts, how many, within what travel time, in
order), the checkpoints to close (planning's register), the facilities to notify and the
targets their activations are timed against. Activating them, drills and their figures are
:mod:`~fangkong.events.activations`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, as_system
from fangkong.core.text_match import contains_text
from fangkong.dispatch.models import Incident, Post, Priority, Unit
from fangkong.dispatch.taxonomy import TAXONOMY
from fangkong.dispatch.taxonomy import check as check_category
from fangkong.events._common import check_code, check_name
from fangkong.events.models import EmergencyPlan
from fangkong.events.schemas import PlanIn
from fangkong.facilities.models import Facility
from fangkong.planning.models import Checkpoint

FINDING = "drill_finding"
#: Incident priority P1..P4 ↔ plan level 1..4.
LEVEL_OF: dict[Priority, int] = {Priority.P1: 1, Priority.P2: 2, Priority.P3: 3, Priority.P4: 4}


# --- plans -------------------------------------------------------------------------------------


def get(session: Session, *, plan_id: int, scope: Scope | None) -> EmergencyPlan | None:
    plan = session.get(EmergencyPlan, plan_id) if plan_id <= 2**31 - 1 else None
    if plan is None or (scope is not None and not scope.covers(plan.area_path)):
        return None
    return plan


def get_or_raise(session: Session, *, plan_id: int, scope: Scope | None) -> EmergencyPlan:
    plan = get(session, plan_id=plan_id, scope=scope)
    if plan is None:
        raise NotFound(key="error.events.plan_not_found", params={"id": plan_id}, field="plan_id")
    return plan


def get_by_code(session: Session, *, code: str, scope: Scope | None) -> EmergencyPlan | None:
    plan = session.scalars(select(EmergencyPlan).where(EmergencyPlan.code == code)).one_or_none()
    if plan is None or (scope is not None and not scope.covers(plan.area_path)):
        return None
    return plan


def plans_select(scope: Scope) -> Select[EmergencyPlan]:
    return select(EmergencyPlan).where(scope.clause(EmergencyPlan.area_path))


def get_all(
    session: Session,
    *,
    scope: Scope,
    category: str | None = None,
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[EmergencyPlan]]:
    """Plans of ``scope`` by category, level and code: (total, page)."""
    query = plans_select(scope)
    if category:
        query = query.where(EmergencyPlan.category == category)
    if text:
        query = query.where(contains_text(text, EmergencyPlan.code, EmergencyPlan.name))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(EmergencyPlan.category, EmergencyPlan.level, EmergencyPlan.code)
        .limit(limit)
        .offset(offset)
    )
    return int(total), list(page)


def _by_codes(
    session: Session,
    model: Any,
    codes: list[str],
    field: str,
    scope: Scope | None,
) -> list[int]:
    ids: list[int] = []
    for code in codes:
        found = session.scalars(select(model).where(model.code == code.strip())).one_or_none()
        if found is None or (scope is not None and not scope.covers(found.area_path)):
            raise InvalidInput(
                key="error.events.code_unknown", params={"code": code[:32]}, field=field
            )
        if found.id not in ids:
            ids.append(found.id)
    return ids


def _tiers(session: Session, data: PlanIn) -> list[dict[str, Any]]:
    tiers: list[dict[str, Any]] = []
    for order, tier in enumerate(data.tiers, start=1):
        for model, column, codes in (
            (Post, Post.code, tier.post_codes),
            (Area, Area.code, tier.station_codes),
            (Unit, Unit.call_sign, tier.call_signs),
        ):
            for code in codes:
                if session.scalars(select(model.id).where(column == code)).first() is None:
                    raise InvalidInput(
                        key="error.events.code_unknown", params={"code": code[:32]}, field="tiers"
                    )
        tiers.append(
            {
                "order": order,
                "unit_types": [t.value for t in tier.unit_types],
                "post_codes": list(tier.post_codes),
                "station_codes": list(tier.station_codes),
                "call_signs": list(tier.call_signs),
                "count": tier.count,
                "max_travel_s": tier.max_travel_s,
            }
        )
    return tiers


def _apply(session: Session, plan: EmergencyPlan, data: PlanIn, scope: Scope | None) -> None:
    if data.category not in TAXONOMY:
        check_category(data.category, "other")
    if data.target_full_s < data.target_first_s:
        raise InvalidInput(key="error.events.targets", field="target_full_s")
    try:
        area = area_service.get_by_code_or_raise(session, code=data.area_code, scope=scope)
    except NotFound:
        raise InvalidInput(
            key="error.events.code_unknown",
            params={"code": data.area_code[:32]},
            field="area_code",
        ) from None
    plan.name = check_name(data.name)
    plan.category, plan.level = data.category, data.level
    plan.area_id, plan.area_path = area.id, area.path
    plan.tiers = _tiers(session, data)
    plan.checkpoint_ids = _by_codes(
        session, Checkpoint, list(data.checkpoint_codes), "checkpoint_codes", scope
    )
    plan.facility_ids = _by_codes(
        session, Facility, list(data.facility_codes), "facility_codes", scope
    )
    plan.target_first_s, plan.target_full_s = data.target_first_s, data.target_full_s
    plan.active = data.active


def create_plan(
    session: Session, *, data: PlanIn, actor: Actor, scope: Scope | None, audited: bool = True
) -> EmergencyPlan:
    """Keep a new plan for an area of ``scope``."""
    code = check_code(data.code)
    with as_system(session):
        taken = session.scalars(select(EmergencyPlan.id).where(EmergencyPlan.code == code)).first()
    if taken is not None:
        raise Conflict(key="error.events.plan_exists", params={"code": code}, field="code")
    plan = EmergencyPlan(code=code)
    _apply(session, plan, data, scope)
    session.add(plan)
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="emergency_plan",
            entity_id=plan.id,
            detail={"code": code},
            area_path=plan.area_path,
        )
    return plan


def update_plan(
    session: Session,
    *,
    plan: EmergencyPlan,
    data: PlanIn,
    actor: Actor,
    scope: Scope | None,
    audited: bool = True,
) -> EmergencyPlan:
    if data.code.strip() != plan.code:
        raise InvalidInput(key="error.events.code_fixed", field="code")
    _apply(session, plan, data, scope)
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="emergency_plan",
            entity_id=plan.id,
            detail={"code": plan.code},
            area_path=plan.area_path,
        )
    return plan


def checkpoints_of(session: Session, plan: EmergencyPlan) -> list[Checkpoint]:
    if not plan.checkpoint_ids:
        return []
    return list(
        session.scalars(
            select(Checkpoint)
            .where(Checkpoint.id.in_(plan.checkpoint_ids))
            .order_by(Checkpoint.code)
        )
    )


def facilities_of(session: Session, plan: EmergencyPlan) -> list[Facility]:
    if not plan.facility_ids:
        return []
    return list(
        session.scalars(
            select(Facility).where(Facility.id.in_(plan.facility_ids)).order_by(Facility.code)
        )
    )


def plans_for(session: Session, *, incident: Incident, scope: Scope) -> list[EmergencyPlan]:
    """Active plans of ``scope`` for the incident's category and level whose area holds it."""
    path = incident.area_path or ""
    rows = session.scalars(
        plans_select(scope)
        .where(
            EmergencyPlan.active.is_(True),
            EmergencyPlan.category == incident.category,
            EmergencyPlan.level == LEVEL_OF[incident.priority],
        )
        .order_by(EmergencyPlan.code)
    )
    return [p for p in rows if p.area_path and path.startswith(p.area_path)]
