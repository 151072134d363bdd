"""REST API of large-event security and emergency plans under ``/api/v1``:

- ``/events``: applications (list, export, one, create, update, import), the organiser's
  contact in clear (audited), the security plan's posts, its rings checked on the road
  network, and the posts of the approved events under way for the command map;
- ``/emergency-plans``: plans (list, export, one, create, update, import);
- ``/emergency-activations``: activations and drills (list, KPIs, one, activate from an
  incident, start a drill, confirm, end, a drill's findings).

Every read is scoped to the user's areas; a record outside them reads as not found.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile

from fangkong.cases import service as cases
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import AwareMoment, Offset
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import UnitStatus
from fangkong.events import importing, listing, plans, register, rings
from fangkong.events import permissions as perms
from fangkong.events._common import MAX_IMPORT_BYTES
from fangkong.events.personal import reveal_contact
from fangkong.events.present import activation_out, event_out, plan_out
from fangkong.events.schemas import (
    ActivateIn,
    ActivationKpisOut,
    ActivationOut,
    ActivationPage,
    ConfirmIn,
    ContactOut,
    DrillIn,
    EventIn,
    EventOut,
    EventPage,
    FindingIn,
    FindingOut,
    ImportOut,
    PlanIn,
    PlanOut,
    PlanPage,
    PostIn,
    RingCheckOut,
    RingPointOut,
    RowErrorOut,
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
    get_settings,
    requires,
)
from fangkong.network import service as network_service

router = APIRouter(dependencies=[requires(perms.READ)])
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Text64 = Annotated[str | None, Query(max_length=64, description="Code, name or organiser contains")]
Limit = Annotated[int, Query(ge=1, le=500)]
Format = Annotated[Literal["csv", "xlsx"], Query()]
Sort = Annotated[str | None, Query(max_length=32, description="A column; a leading - descends")]


def _network(request: Request) -> network_service.Network:
    return network_service.current(get_settings(request).data_dir)


def _read(file: UploadFile) -> bytes:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.events.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    return data


def _import_out(report: importing.ImportReport) -> ImportOut:
    return ImportOut(
        created=report.created,
        updated=report.updated,
        errors=[RowErrorOut(row=e.row, field=e.field, message=e.message) for e in report.errors],
    )


# --- events ------------------------------------------------------------------------------------


@router.get("/events", response_model=EventPage, tags=["events"])
def list_events(
    request: Request,
    db: DbSession,
    scope: UserScope,
    q: Text64 = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EventPage:
    """Large-event applications of your areas, latest start first, with their grade, factors,
    approval case and security plan (the contact masked)."""
    total, page = register.get_all(db, scope=scope, text=q, limit=limit, offset=offset)
    cipher = get_cipher(request)
    return EventPage(total=total, items=[event_out(db, e, cipher) for e in page])


@router.get(
    "/events/export", response_class=Response, responses=tables.EXPORT_RESPONSES, tags=["events"]
)
def export_events(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    sort: Sort = None,
    format: Format = "csv",
) -> Response:
    """The applications as CSV or XLSX with the labels in your language (no contact;
    audited)."""
    table = listing.event_table(db, scope=scope, language=language)
    return tables.export(
        db,
        listing.events_select(scope),
        table.query(sort=sort, values={"q": q}),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.events", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.get("/events/posts/geojson", tags=["events"])
def running_posts(
    db: DbSession,
    scope: UserScope,
    language: Language,
    at: Annotated[AwareMoment | None, Query(description="The moment (default: now)")] = None,
) -> dict[str, Any]:
    """The security posts of the approved events of your areas under way at ``at``, as
    GeoJSON points for the command map (each with its event, kind and staffing)."""
    moment = at or utcnow()
    features = []
    for event in register.running(db, scope=scope, at=moment):
        for p in event.posts:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
                    "properties": {
                        "id": event.id,
                        "code": event.code,
                        "name": f"{event.name} · {p.name}",
                        "kind": p.kind.value,
                        "kind_label": translate(f"events.post.{p.kind.value}", language),
                        "staffing": p.staffing,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


@router.post(
    "/events",
    response_model=EventOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def create_event(
    request: Request,
    body: EventIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    """Register an application in your areas: graded by the rule, its approval case opened
    (the review's deadline runs from now)."""
    auth.require(user, "cases.create")
    cipher = get_cipher(request)
    event = register.create(
        db,
        data=body,
        user=user,
        actor=actor,
        cipher=cipher,
        scope=scope,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return event_out(db, event, cipher)


@router.get("/events/{event_id:int}", response_model=EventOut, tags=["events"])
def get_event(request: Request, event_id: RecordId, db: DbSession, scope: UserScope) -> EventOut:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    return event_out(db, event, get_cipher(request))


@router.put(
    "/events/{event_id:int}",
    response_model=EventOut,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def update_event(
    request: Request,
    event_id: RecordId,
    body: EventIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    """Change an application (its code stays); it is graded again."""
    cipher = get_cipher(request)
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.update(
        db, event=event, data=body, actor=actor, cipher=cipher, scope=scope, now=utcnow()
    )
    return event_out(db, event, cipher)


@router.get(
    "/events/{event_id:int}/contact",
    response_model=ContactOut,
    dependencies=[requires(perms.UNMASK)],
    tags=["events"],
)
def event_contact(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ContactOut:
    """The organiser's contact in clear (audited)."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    name, phone = reveal_contact(
        db, event=event, viewer=user, cipher=get_cipher(request), actor=actor
    )
    return ContactOut(contact_name=name, contact_phone=phone)


@router.post(
    "/events/{event_id:int}/posts",
    response_model=EventOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def add_post(
    request: Request,
    event_id: RecordId,
    body: PostIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> EventOut:
    """Add a post, entrance or command post to the security plan, with its staffing and the
    units of your areas assigned to it."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.add_post(db, event=event, data=body, actor=actor, scope=scope)
    return event_out(db, event, get_cipher(request))


@router.delete(
    "/events/{event_id:int}/posts/{post_id:int}",
    status_code=204,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def remove_post(
    event_id: RecordId, post_id: RecordId, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.remove_post(db, event=event, post_id=post_id, actor=actor)
    return Response(status_code=204)


@router.get("/events/{event_id:int}/rings", response_model=RingCheckOut, tags=["events"])
def event_rings(
    request: Request, event_id: RecordId, db: DbSession, scope: UserScope
) -> RingCheckOut:
    """The plan's response rings against the venue, by road: each point of the venue, its
    time from the nearest post and its ring; passed when every point is within 3 minutes."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    found = rings.check(_network(request), event)
    return RingCheckOut(
        event_id=event.id,
        posts=found.posts,
        posts_off_road=found.off_road,
        points=[
            RingPointOut(lon=p.lon, lat=p.lat, time_s=p.time_s, ring=p.ring, post=p.post)
            for p in found.points
        ],
        within_1min=found.share(60),
        within_3min=found.share(180),
        within_5min=found.share(300),
        passed=found.passed,
    )


@router.post(
    "/events/import",
    response_model=ImportOut,
    dependencies=[requires(perms.WRITE)],
    tags=["events"],
)
def import_events(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> ImportOut:
    """Register or update applications from a CSV or XLSX file (docs/events.md: code, name,
    organiser, venue_kind, facility_code or venue_polygon, capacity, expected_attendance,
    starts_at, ends_at; contact_name and contact_phone optional). Bad rows are answered with
    their row, column and rule; the others load."""
    auth.require(user, "cases.create")
    report = importing.import_events(
        db,
        name=file.filename or "",
        data=_read(file),
        actor=actor,
        cipher=get_cipher(request),
        scope=scope,
        now=utcnow(),
        calendar=get_calendar(request),
        zone=request.app.state.settings.zone,
    )
    return _import_out(report)


# --- emergency plans ---------------------------------------------------------------------------


@router.get("/emergency-plans", response_model=PlanPage, tags=["emergency plans"])
def list_plans(
    db: DbSession,
    scope: UserScope,
    category: Annotated[str | None, Query(max_length=32)] = None,
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
        db, name=file.filename or "", data=_read(file), actor=actor, scope=scope
    )
    return _import_out(report)


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
    total, page = plans.get_activations(db, scope=scope, drill=drill, limit=limit, offset=offset)
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
    found = plans.kpis(db, scope=scope, since=start, until=end, drill=drill)
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
    activation = plans.activate(
        db,
        plan=plan,
        incident=incident,
        network=_network(request),
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
    activation = plans.start_drill(
        db,
        plan=plan,
        lon=body.lon,
        lat=body.lat,
        subtype=body.subtype,
        priority=body.priority,
        network=_network(request),
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
    found = plans.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
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
    found = plans.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    plans.confirm(
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
    found = plans.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    return activation_out(db, plans.end(db, activation=found, actor=actor, now=utcnow()))


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
    found = plans.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    case = plans.add_finding(
        db,
        activation=found,
        data=body,
        user=user,
        actor=actor,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return FindingOut(case_id=case.id, number=cases.number(case), state=case.state)
