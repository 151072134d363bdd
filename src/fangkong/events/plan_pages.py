"""Console pages of emergency plans: the list (export, import), the form, a plan with its
tiers, checkpoints and facilities, activated from an incident or drilled; activations and
drills, an activation with its proposals to confirm, its timings against the targets and a
drill's findings. Mounted under :mod:`fangkong.events.pages`'s router."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Unit, UnitStatus
from fangkong.dispatch.taxonomy import TAXONOMY
from fangkong.events import activations, importing, listing, plans
from fangkong.events import permissions as perms
from fangkong.events._web import network, read_upload
from fangkong.events.models import Activation, EmergencyPlan, StepKind
from fangkong.events.schemas import DrillIn, FindingIn, PlanIn
from fangkong.http import forms, tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_cipher,
    requires,
)
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]
PLAN_FIELDS = (
    "code",
    "name",
    "category",
    "level",
    "area_code",
    "tiers",
    "checkpoint_codes",
    "facility_codes",
    "target_first_s",
    "target_full_s",
)
FINDING_ASPECTS = ("timing", "dispatch", "checkpoints", "notification", "equipment", "other")


# --- emergency plans ---------------------------------------------------------------------------


def _plan_list(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    *,
    imported: Any = None,
    error: str | None = None,
) -> Response:
    result = tables.view(
        request,
        db,
        listing.plan_table(db, scope=scope, language=language),
        listing.plans_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.emergency_plans", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "events/plans.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        can_write=auth.can(user, perms.WRITE),
        imported=imported,
        error=error,
    )


@router.get("/emergency-plans", response_class=HTMLResponse)
def plans_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """应急预案: the plans of your areas; export and import."""
    return _plan_list(request, db, user, scope, language)


@router.post(
    "/emergency-plans/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def import_plans_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        report = importing.import_plans(
            db, name=file.filename or "", data=read_upload(file), actor=actor, scope=scope
        )
    except FangkongError as exc:
        return _plan_list(request, db, user, scope, language, error=exc.text(language))
    return _plan_list(request, db, user, scope, language, imported=report)


def _plan_form(
    request: Request,
    user: Any,
    language: str,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
    *,
    plan: EmergencyPlan | None = None,
    status_code: int | None = None,
) -> Response:
    return render(
        request,
        "events/plan_form.html",
        language=language,
        user=user,
        plan=plan,
        status_code=status_code or (422 if errors else 200),
        values=values,
        errors=errors or forms.FormErrors(),
        categories=[(c, translate(f"dispatch.category.{c}", language)) for c in TAXONOMY],
        levels=[(str(n), translate(f"events.level.{n}", language)) for n in range(1, 5)],
    )


@router.get(
    "/emergency-plans/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def new_plan_page(request: Request, user: CurrentUser, language: Language) -> Response:
    """A new plan: category and level, area, tiers, checkpoints, facilities, targets."""
    return _plan_form(request, user, language, {"tiers": "car:2:300; car+motorcycle:2:600"})


def _plan_input(
    values: dict[str, str], language: str, *, editing: bool = False
) -> tuple[PlanIn | None, forms.FormErrors]:
    """The plan form's fields as the API's input (tiers and codes as the sheets write
    them; the active box only on the edit form), or the faults by field."""
    data: dict[str, Any] = forms.text(values, *PLAN_FIELDS)
    data["tiers"] = importing.parse_tiers(data.get("tiers", ""))
    for name in ("checkpoint_codes", "facility_codes"):
        data[name] = importing.codes(data.get(name))
    if editing:
        data["active"] = forms.flag(values, "active")
    return forms.validate(PlanIn, data, language=language)


@router.post(
    "/emergency-plans/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def create_plan_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    checked, errors = _plan_input(values, language)
    if checked is not None:
        try:
            with db.begin_nested():
                plan = plans.create_plan(db, data=checked, actor=actor, scope=scope)
            return RedirectResponse(f"/emergency-plans/{plan.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=PLAN_FIELDS)
    return _plan_form(request, user, language, values, errors)


def _plan_values(db: Any, plan: EmergencyPlan) -> dict[str, str]:
    """A plan as its form's fields: tiers as the sheets write them, codes by spaces."""
    area = db.get(Area, plan.area_id) if plan.area_id else None
    values = {
        "code": plan.code,
        "name": plan.name,
        "category": plan.category,
        "level": str(plan.level),
        "area_code": area.code if area is not None else "",
        "tiers": importing.tiers_text(plan.tiers),
        "checkpoint_codes": " ".join(c.code for c in plans.checkpoints_of(db, plan)),
        "facility_codes": " ".join(f.code for f in plans.facilities_of(db, plan)),
        "target_first_s": str(plan.target_first_s),
        "target_full_s": str(plan.target_full_s),
    }
    return values | ({"active": "1"} if plan.active else {})


@router.get(
    "/emergency-plans/{plan_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def edit_plan_page(
    request: Request,
    plan_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Change a plan: its tiers, checkpoints, facilities, targets, area, whether active (its
    code stays; activations already made keep what they proposed)."""
    plan = plans.get_or_raise(db, plan_id=plan_id, scope=scope)
    return _plan_form(request, user, language, _plan_values(db, plan), plan=plan)


@router.post(
    "/emergency-plans/{plan_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def update_plan_page(
    request: Request,
    plan_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    plan = plans.get_or_raise(db, plan_id=plan_id, scope=scope)
    values = values | {"code": plan.code}
    checked, errors = _plan_input(values, language, editing=True)
    status_code = None
    if checked is not None:
        try:
            with db.begin_nested():
                plans.update_plan(db, plan=plan, data=checked, actor=actor, scope=scope)
            return RedirectResponse(f"/emergency-plans/{plan.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=PLAN_FIELDS)
            status_code = exc.status_code
            db.expire(plan)
    return _plan_form(request, user, language, values, errors, plan=plan, status_code=status_code)


def _plan_detail(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    plan_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    plan = plans.get_or_raise(db, plan_id=plan_id, scope=scope)
    _, recent = activations.get_activations(db, scope=scope, plan_id=plan.id, limit=20)
    return render(
        request,
        "events/plan.html",
        language=language,
        user=user,
        status_code=status_code,
        plan=plan,
        checkpoints=plans.checkpoints_of(db, plan),
        facilities=plans.facilities_of(db, plan),
        activations=recent,
        subtypes=TAXONOMY.get(plan.category, ("other",)),
        can_activate=auth.can(user, perms.ACTIVATE),
        can_write=auth.can(user, perms.WRITE),
        error=error,
    )


@router.get("/emergency-plans/{plan_id:int}", response_class=HTMLResponse)
def plan_page(
    request: Request,
    plan_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """A plan: its tiers, checkpoints and facilities; activate it on an incident or drill it."""
    return _plan_detail(request, db, user, scope, language, plan_id)


@router.get("/emergency-plans/for-incident/{incident_id:int}", response_class=HTMLResponse)
def plans_for_incident_page(
    request: Request,
    incident_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """The plans to activate on an incident of your areas: those of its category and level
    whose area holds it first, then the other active plans of its category."""
    incident = dispatch.get_or_raise(db, incident_id=incident_id, scope=scope)
    matching = plans.plans_for(db, incident=incident, scope=scope)
    _, same = plans.get_all(db, scope=scope, category=incident.category, limit=50)
    others = [p for p in same if p.active and p not in matching]
    return render(
        request,
        "events/for_incident.html",
        language=language,
        user=user,
        incident=incident,
        matching=matching,
        others=others,
        can_activate=auth.can(user, perms.ACTIVATE),
    )


def _available(db: Any, scope: Any) -> list[Unit]:
    return dispatch.get_units(db, scope=scope, status=UnitStatus.AVAILABLE)


@router.post(
    "/emergency-plans/{plan_id:int}/activate",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACTIVATE)],
)
def activate_page(
    request: Request,
    plan_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """Activate the plan on an incident (by its id); on to the activation's proposals."""
    plan = plans.get_or_raise(db, plan_id=plan_id, scope=scope)
    try:
        raw = values.get("incident_id", "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 2**31 - 1:
            raise InvalidInput(key="error.events.incident_id", field="incident_id")
        with db.begin_nested():
            incident = dispatch.get_or_raise(db, incident_id=int(raw), scope=scope)
            road = network(request)
            activation = activations.activate(
                db,
                plan=plan,
                incident=incident,
                network=road,
                units=_available(db, scope),
                user=user,
                actor=actor,
                now=utcnow(),
            )
    except FangkongError as exc:
        return _plan_detail(
            request, db, user, scope, language, plan_id, error=exc.text(language), status_code=422
        )
    return RedirectResponse(f"/emergency-activations/{activation.id}", status_code=303)


@router.post(
    "/emergency-plans/{plan_id:int}/drill",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACTIVATE)],
)
def drill_page(
    request: Request,
    plan_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """Drill the plan on a simulated incident at the point given; on to the activation."""
    plan = plans.get_or_raise(db, plan_id=plan_id, scope=scope)
    data: dict[str, Any] = forms.text(values, "lon", "lat", "subtype")
    checked, errors = forms.validate(DrillIn, data | {"plan_id": plan.id}, language=language)
    if checked is None:
        message = "; ".join(f"{k}: {v}" for k, v in errors.fields.items()) or errors.form
        return _plan_detail(
            request, db, user, scope, language, plan_id, error=message, status_code=422
        )
    try:
        with db.begin_nested():
            activation = activations.start_drill(
                db,
                plan=plan,
                lon=checked.lon,
                lat=checked.lat,
                subtype=checked.subtype,
                priority=None,
                network=network(request),
                units=_available(db, scope),
                scope=scope,
                user=user,
                actor=actor,
                now=utcnow(),
                cipher=get_cipher(request),
            )
    except FangkongError as exc:
        return _plan_detail(
            request, db, user, scope, language, plan_id, error=exc.text(language), status_code=422
        )
    return RedirectResponse(f"/emergency-activations/{activation.id}", status_code=303)


# --- activations -------------------------------------------------------------------------------


@router.get("/emergency-activations", response_class=HTMLResponse)
def activations_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """预案启动与演练: activations and drills of your areas, a drill flagged."""
    result = tables.view(
        request,
        db,
        listing.activation_table(db, scope=scope, language=language),
        listing.activations_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.emergency_activations", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "events/activations.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
    )


def _activation_detail(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    activation: Activation,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    plan = activation.plan
    return render(
        request,
        "events/activation.html",
        language=language,
        user=user,
        status_code=status_code,
        activation=activation,
        plan=plan,
        timing=activations.timing(db, activation),
        shortfalls=activations.shortfalls_of(activation),
        steps=activations.steps_of(db, activation),
        findings=activations.findings_of(db, activation),
        number=cases.number,
        aspects=FINDING_ASPECTS,
        can_activate=auth.can(user, perms.ACTIVATE),
        can_find=auth.can(user, "cases.create"),
        error=error,
    )


@router.get("/emergency-activations/{activation_id:int}", response_class=HTMLResponse)
def activation_page(
    request: Request,
    activation_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """An activation: its clock, proposals by tier to confirm, timings against the targets,
    checkpoints to close, facilities to notify; a drill's findings."""
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    return _activation_detail(request, db, user, scope, language, found)


@router.post(
    "/emergency-activations/{activation_id:int}/confirm",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACTIVATE)],
)
def confirm_page(
    request: Request,
    activation_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """The ticked proposals (``unit_<id>`` boxes) are dispatched; back to the activation."""
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    chosen = [int(name[5:]) for name in values if name.startswith("unit_") and name[5:].isdigit()]
    try:
        if not chosen:
            raise InvalidInput(key="error.events.none_chosen", field="unit_ids")
        with db.begin_nested():
            activations.confirm(
                db,
                activation=found,
                unit_ids=chosen,
                scope=scope,
                user=user,
                actor=actor,
                now=utcnow(),
            )
    except FangkongError as exc:
        return _activation_detail(
            request, db, user, scope, language, found, error=exc.text(language), status_code=422
        )
    return RedirectResponse(f"/emergency-activations/{found.id}", status_code=303)


@router.post(
    "/emergency-activations/{activation_id:int}/steps",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACTIVATE)],
)
def step_page(
    request: Request,
    activation_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """Mark one of the plan's checkpoints closed or facilities notified (once, no undo);
    back to the activation."""
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    kind, ref = values.get("kind", ""), values.get("ref_id", "")
    try:
        if kind not in {k.value for k in StepKind} or not ref.isdigit() or int(ref) > 2**31 - 1:
            raise InvalidInput(key="error.events.step_kind", field="ref_id")
        with db.begin_nested():
            activations.mark_step(
                db,
                activation=found,
                kind=StepKind(kind),
                ref_id=int(ref),
                note=values.get("note", ""),
                user=user,
                actor=actor,
                now=utcnow(),
            )
    except FangkongError as exc:
        db.expire(found, ["steps"])
        return _activation_detail(
            request, db, user, scope, language, found, error=exc.text(language), status_code=422
        )
    return RedirectResponse(f"/emergency-activations/{found.id}#{kind}s", status_code=303)


@router.post(
    "/emergency-activations/{activation_id:int}/findings",
    response_class=HTMLResponse,
)
def finding_page(
    request: Request,
    activation_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """Record a drill's finding as a case; back to the activation."""
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    data: dict[str, Any] = forms.text(values, "aspect", "severity", "finding")
    checked, _ = forms.validate(FindingIn, data, language=language)
    try:
        if checked is None:
            raise InvalidInput(key="error.events.finding_form", field="aspect")
        auth.require(user, "cases.create")
        with db.begin_nested():
            activations.add_finding(
                db,
                activation=found,
                data=checked,
                user=user,
                actor=actor,
                now=utcnow(),
                calendar=get_calendar(request),
            )
    except FangkongError as exc:
        return _activation_detail(
            request, db, user, scope, language, found, error=exc.text(language), status_code=422
        )
    return RedirectResponse(f"/emergency-activations/{found.id}#findings", status_code=303)


@router.post(
    "/emergency-activations/{activation_id:int}/end",
    dependencies=[requires(perms.ACTIVATE)],
)
def end_page(
    activation_id: RecordId, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    found = activations.get_activation_or_raise(db, activation_id=activation_id, scope=scope)
    activations.end(db, activation=found, actor=actor, now=utcnow())
    return RedirectResponse(f"/emergency-activations/{found.id}", status_code=303)
