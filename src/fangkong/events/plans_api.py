"""REST API of emergency plans, their activations and drills (``/emergency-plans``,
``/emergency-activations``): mounted under :mod:`fangkong.events.api`'s router; every read
scoped to the user's areas."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile

from fangkong.cases import service as cases
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import AwareMoment, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import UnitStatus
from fangkong.events import activations, importing, listing, plans
from fangkong.events import permissions as perms
from fangkong.events._web import Format, Limit, RecordId, Sort, import_out, network, read_upload
from fangkong.events.present import activation_out, plan_out
from fangkong.events.schemas import (
    ActivateIn,
    ActivationKpisOut,
    ActivationOut,
    ActivationPage,
    ConfirmIn,
    DrillIn,
    FindingIn,
    FindingOut,
    ImportOut,
    PlanIn,
    PlanOut,
    PlanPage,
    StepIn,
)
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    get_cipher,
    requires,
)

router = APIRouter(dependencies=[requires(perms.READ)])
Text64 = Annotated[Text | None, Query(max_length=64, description="Code or name contains")]


# --- emergency plans ---------------------------------------------------------------------------


@router.get("/emergency-plans", response_model=PlanPage, tags=["emergency plans"])
def list_plans(
    db: DbSession,
    scope: UserScope,
    category: Annotated[Text | None, Query(max_length=32)] = None,
    q: Text64 = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PlanPage:
    """Emergency plans of your areas by category, level and code."""
    total, page = plans.get_all(
        db, scope=scope, category=category, text=q, limit=limit, offset=offset
    )
    return PlanPage(total=total, items=[plan_out(db, p) for p in page])


@router.get(
    "/emergency-plans/export",
    response_class=Response,
    responses=tables.EXPORT_RESPONSES,
    tags=["emergency plans"],
)
def export_plans(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    sort: Sort = None,
    format: Format = "csv",
) -> Response:
    """The plans as CSV or XLSX with the labels in your language (audited)."""
    table = listing.plan_table(db, scope=scope, language=language)
    return tables.export(
        db,
        listing.plans_select(scope),
        table.query(sort=sort, values={"q": q}),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.emergency_plans", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.post(
    "/emergency-plans",
    response_model=PlanOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
    tags=["emergency plans"],
)
def create_plan(body: PlanIn, db: DbSession, scope: UserScope, actor: RequestActor) -> PlanOut:
    """Keep a plan for an area of yours: tiers, checkpoints to close, facilities to notify,
    targets."""
    return plan_out(db, plans.create_plan(db, data=body, actor=actor, scope=scope))


@router.get("/emergency-plans/{plan_id:int}", response_model=PlanOut, tags=["emergency plans"])
def get_plan(plan_id: RecordId, db: DbSession, scope: UserScope) -> PlanOut:
    return plan_out(db, plans.get_or_raise(db, plan_id=plan_id, scope=scope))


@router.put(
    "/emergency-plans/{plan_id:int}",
    response_model=PlanOut,
    dependencies=[requires(perms.WRITE)],
    tags=["emergency plans"],
)
def update_plan(
    plan_id: RecordId, body: PlanIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> PlanOut:
    plan = plans.get_or_raise(db, plan_id=plan_id, scope=scope)
    return plan_out(db, plans.update_plan(db, plan=plan, data=body, actor=actor, scope=scope))


@router.post(
    "/emergency-plans/import",
    response_model=ImportOut,
    dependencies=[requires(perms.WRITE)],
    tags=["emergency plans"],
)
def import_plans(
    db: DbSession, scope: UserScope, actor: RequestActor, file: Annotated[UploadFile, File()]
) -> ImportOut:
    """Keep or update plans from a CSV or XLSX file (docs/events.md: code, name, category,
    level, area_code, tiers, checkpoint_codes, facility_codes, target_first_s,
    target_full_s, active)."""
    report = importing.import_plans(
        db, name=file.filename or "", data=read_upload(file), actor=actor, scope=scope
    )
    return import_out(report)


# --- activations and drills --------------------------------------------------------------------


@router.get("/emergency-activations", response_model=ActivationPage, tags=["emergency plans"])
def list_activations(
    db: DbSession,
    scope: UserScope,
    drill: Annotated[bool | None, Query(description="Drills only (true) or real only")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ActivationPage:
    """Activations of plans in your areas, latest first; a drill says so."""
    total, page = activations.get_activations(
        db, scope=scope, drill=drill, limit=limit, offset=offset
    )
    return ActivationPage(total=total, items=[activation_out(db, a) for a in page])


@router.get(
    "/emergency-activations/kpis", response_model=ActivationKpisOut, tags=["emergency plans"]
)
def activation_kpis(
    db: DbSession,
    scope: UserScope,
    since: Annotated[AwareMoment | None, Query()] = None,
    until: Annotated[AwareMoment | None, Query()] = None,
    drill: bool = False,
) -> ActivationKpisOut:
    """Activations of your areas started in ``[since, until)`` (default: the last 30 days)
    and how their timings met the plans' targets: real ones, or with ``drill`` the drills
    alone (never both together)."""
    end = until or utcnow()
    start = since or end - timedelta(days=30)
    if end <= start:
        raise InvalidInput(key="error.period.end_after_start", field="until")
    found = activations.kpis(db, scope=scope, since=start, until=end, drill=drill)
    return ActivationKpisOut(
        drill=found.drill,
        activations=found.activations,
        timed=found.timed,
        first_met=found.first_met,
        full_met=found.full_met,
        mean_first_arrival_s=found.mean_first_arrival_s,
        first_met_share=found.first_met_share,
    )


def _available(db: Any, scope: Any) -> list[Any]:
    return dispatch.get_units(db, scope=scope, status=UnitStatus.AVAILABLE)


@router.post(
    "/emergency-activations",
    response_model=ActivationOut,
    status_code=201,
    dependencies=[requires(perms.ACTIVATE)],
    tags=["emergency plans"],
)
def activate_plan(
    request: Request,
    body: ActivateIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ActivationOut:
    """Activate a plan on an incident of your areas: its clock starts and its dispatches are
    proposed tier by tier (nothing is sent until the commander confirms)."""
    plan = plans.get_or_raise(db, plan_id=body.plan_id, scope=scope)
    incident = dispatch.get_or_raise(db, incident_id=body.incident_id, scope=scope)
    activation = activations.activate(
        db,
        plan=plan,
        incident=incident,
        network=network(request),
        units=_available(db, scope),
        user=user,
        actor=actor,
        now=utcnow(),
    )
    return activation_out(db, activation)


@router.post(
    "/emergency-activations/drills",
    response_model=ActivationOut,
    status_code=201,
    dependencies=[requires(perms.ACTIVATE)],
    tags=["emergency plans"],
)
def start_drill(
    request: Request,
    body: DrillIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ActivationOut:
    """A drill: a simulated incident of the plan's category at the point (flagged simulated:
    never in the real KPIs) and the plan activated on it."""
    plan = plans.get_or_raise(db, plan_id=body.plan_id, scope=scope)
    activation = activations.start_drill(
        db,
        plan=plan,
        lon=body.lon,
        lat=body.lat,
        subtype=body.subtype,
        priority=body.priority,
        network=network(request),
        units=_available(db, scope),
        scope=scope,
        user=user,
        actor=actor,
        now=utcnow(),
        cipher=get_cipher(request),
    )
    return activation_out(db, activation)


@router.get(
    "/emergency-activations/{activation_id:int}",
    response_model=ActivationOut,
    tags=["emergency plans"],
)
def get_activation(activation_id: RecordId, db: DbSession, scope: UserScope) -> ActivationOut:
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    return activation_out(db, found)


@router.post(
    "/emergency-activations/{activation_id:int}/confirm",
    response_model=ActivationOut,
    dependencies=[requires(perms.ACTIVATE)],
    tags=["emergency plans"],
)
def confirm_activation(
    activation_id: RecordId,
    body: ConfirmIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ActivationOut:
    """The commander confirms the proposed dispatches (all, or the ``unit_ids`` chosen): the
    units are sent through dispatch."""
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    activations.confirm(
        db,
        activation=found,
        unit_ids=body.unit_ids,
        scope=scope,
        user=user,
        actor=actor,
        now=utcnow(),
    )
    return activation_out(db, found)


@router.post(
    "/emergency-activations/{activation_id:int}/end",
    response_model=ActivationOut,
    dependencies=[requires(perms.ACTIVATE)],
    tags=["emergency plans"],
)
def end_activation(
    activation_id: RecordId, db: DbSession, scope: UserScope, actor: RequestActor
) -> ActivationOut:
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    return activation_out(db, activations.end(db, activation=found, actor=actor, now=utcnow()))


@router.post(
    "/emergency-activations/{activation_id:int}/steps",
    response_model=ActivationOut,
    status_code=201,
    dependencies=[requires(perms.ACTIVATE)],
    tags=["emergency plans"],
)
def mark_step(
    activation_id: RecordId,
    body: StepIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ActivationOut:
    """Mark one of the plan's checkpoints closed or facilities notified: who and when kept
    and audited, the time from the activation shown. Once only (409 on a second mark), no
    undo."""
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    activations.mark_step(
        db,
        activation=found,
        kind=body.kind,
        ref_id=body.ref_id,
        note=body.note,
        user=user,
        actor=actor,
        now=utcnow(),
    )
    return activation_out(db, found)


@router.post(
    "/emergency-activations/{activation_id:int}/findings",
    response_model=FindingOut,
    status_code=201,
    tags=["emergency plans"],
)
def add_finding(
    request: Request,
    activation_id: RecordId,
    body: FindingIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> FindingOut:
    """Record a drill's finding: a ``drill_finding`` case linked to its incident."""
    auth.require(user, "cases.create")
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    case = activations.add_finding(
        db,
        activation=found,
        data=body,
        user=user,
        actor=actor,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return FindingOut(case_id=case.id, number=cases.number(case), state=case.state)
