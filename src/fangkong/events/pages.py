"""Console pages of large-event security and emergency plans.

Events: the list (filters, sort, pages, export, import), the application form (the venue a
key facility's code or a polygon drawn on the map), an application with its grade factor by
factor, its approval case, the organiser's contact masked (in clear on request, audited), the
security plan on the map (a tap on the map places the next post: an inspector on site at
phone width) and its rings checked on the roads. Plans: the list, the form, a plan with its
tiers, checkpoints and facilities, activated from an incident or drilled; an activation with
its proposals to confirm, its timings against the targets and a drill's findings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fangkong.cases import service as cases
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate
from fangkong.dispatch.models import Unit
from fangkong.events import importing, listing, plan_pages, register, rings
from fangkong.events import permissions as perms
from fangkong.events._web import network_or_none, read_upload
from fangkong.events.models import EventApplication, SecurityPostKind, VenueKind
from fangkong.events.personal import masked_contact, reveal_contact
from fangkong.events.schemas import EventIn, PostIn
from fangkong.facilities.models import Facility
from fangkong.http import forms, tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_cipher,
    get_settings,
    requires,
)
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]
EVENT_FIELDS = (
    "code",
    "name",
    "organiser",
    "contact_name",
    "contact_phone",
    "venue_kind",
    "facility_code",
    "venue_polygon",
    "capacity",
    "expected_attendance",
    "starts_at",
    "ends_at",
)


# --- events ------------------------------------------------------------------------------------


def _event_list(
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
        listing.event_table(db, scope=scope, language=language),
        listing.events_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.events", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "events/list.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        can_write=auth.can(user, perms.WRITE),
        imported=imported,
        error=error,
    )


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """大型活动安保: the applications of your areas as the shared table; export and import."""
    return _event_list(request, db, user, scope, language)


@router.post("/events/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def import_events_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        auth.require(user, "cases.create")
        report = importing.import_events(
            db,
            name=file.filename or "",
            data=read_upload(file),
            actor=actor,
            cipher=get_cipher(request),
            scope=scope,
            now=utcnow(),
            calendar=get_calendar(request),
            zone=get_settings(request).zone,
        )
    except FangkongError as exc:
        return _event_list(request, db, user, scope, language, error=exc.text(language))
    return _event_list(request, db, user, scope, language, imported=report)


def _event_form(
    request: Request,
    user: Any,
    language: str,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
    *,
    event: EventApplication | None = None,
    status_code: int | None = None,
) -> Response:
    return render(
        request,
        "events/form.html",
        language=language,
        user=user,
        status_code=status_code or (422 if errors else 200),
        values=values,
        errors=errors or forms.FormErrors(),
        kinds=[(v.value, translate(f"events.venue.{v.value}", language)) for v in VenueKind],
        event=event,
    )


@router.get("/events/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def new_event_page(request: Request, user: CurrentUser, language: Language) -> Response:
    """A new application: organiser, venue (a facility or a polygon drawn on the map), dates,
    attendance and capacity."""
    return _event_form(request, user, language, {})


def _local(value: str | None, request: Request) -> Any:
    """A form's ``datetime-local`` value in the county's zone (else as sent)."""
    if not value:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment if moment.tzinfo else moment.replace(tzinfo=get_settings(request).zone)


def _event_input(
    request: Request, db: Any, scope: Any, language: str, values: dict[str, str]
) -> tuple[EventIn | None, forms.FormErrors]:
    """The application form's fields as the API's input (the facility by its code, the
    polygon as text, the times in the county's zone), or the faults by field."""
    data: dict[str, Any] = forms.text(values, *EVENT_FIELDS)
    errors = forms.FormErrors()
    for name in ("starts_at", "ends_at"):
        data[name] = _local(data.get(name), request)
    code = data.pop("facility_code", None)
    if code:
        found = db.scalars(select(Facility).where(Facility.code == code)).first()
        if found is None or not scope.covers(found.area_path):
            errors.add(
                "facility_code",
                translate("error.events.code_unknown", language, code=code[:32]),
            )
        else:
            data["facility_id"] = found.id
    polygon = data.pop("venue_polygon", None)
    if polygon:
        data["venue_polygon"] = importing.parse_polygon(polygon)
    return forms.validate(EventIn, data, language=language, errors=errors)


@router.post("/events/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def create_event_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    checked, errors = _event_input(request, db, scope, language, values)
    if checked is not None:
        try:
            auth.require(user, "cases.create")
            with db.begin_nested():
                event = register.create(
                    db,
                    data=checked,
                    user=user,
                    actor=actor,
                    cipher=get_cipher(request),
                    scope=scope,
                    now=utcnow(),
                    calendar=get_calendar(request),
                )
            return RedirectResponse(f"/events/{event.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (403, 404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=EVENT_FIELDS)
    return _event_form(request, user, language, values, errors)


def _event_values(request: Request, db: Any, event: EventApplication) -> dict[str, str]:
    """An application as its form's fields; the contact left empty (it is kept unless a new
    one is typed: the form never shows it in clear)."""
    zone = get_settings(request).zone
    facility = db.get(Facility, event.facility_id) if event.facility_id else None
    return {
        "code": event.code,
        "name": event.name,
        "organiser": event.organiser,
        "venue_kind": event.venue_kind.value,
        "facility_code": facility.code if facility is not None else "",
        "venue_polygon": importing.polygon_text(event.venue_polygon),
        "capacity": str(event.capacity),
        "expected_attendance": str(event.expected_attendance),
        "starts_at": event.starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": event.ends_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    }


@router.get(
    "/events/{event_id:int}/edit", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def edit_event_page(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Change an application before it is approved (it is graded again); an approved one is
    refused with the reason, on its page."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    if register.approved(db, event):
        message = translate("error.events.approved_fixed", language, code=event.code)
        return _event_detail(
            request, db, user, scope, language, event.id, error=message, status_code=409
        )
    return _event_form(request, user, language, _event_values(request, db, event), event=event)


@router.post(
    "/events/{event_id:int}/edit", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def update_event_page(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    values = values | {"code": event.code}
    checked, errors = _event_input(request, db, scope, language, values)
    status_code = None
    if checked is not None:
        try:
            with db.begin_nested():
                register.update(
                    db,
                    event=event,
                    data=checked,
                    actor=actor,
                    cipher=get_cipher(request),
                    scope=scope,
                    now=utcnow(),
                )
            return RedirectResponse(f"/events/{event.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=EVENT_FIELDS)
            status_code = exc.status_code
    return _event_form(
        request, user, language, values, errors, event=event, status_code=status_code
    )


def _event_detail(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    event_id: int,
    *,
    contact: tuple[str | None, str | None] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    case = register.case_of(db, event)
    network = network_or_none(request)
    check = rings.check(network, event) if network is not None and event.posts else None
    signs = register.call_signs(db, event.posts)
    facility = db.get(Facility, event.facility_id) if event.facility_id else None
    shown = contact or masked_contact(event, get_cipher(request))
    map_data = {
        "venue": event.venue_polygon,
        "point": [event.lon, event.lat],
        "posts": [
            {"name": p.name, "kind": p.kind.value, "lon": p.lon, "lat": p.lat, "staff": p.staffing}
            for p in event.posts
        ],
        "rings": [
            {"lon": p.lon, "lat": p.lat, "ring": p.ring} for p in (check.points if check else [])
        ],
    }
    return render(
        request,
        "events/detail.html",
        language=language,
        user=user,
        status_code=status_code,
        event=event,
        case=case,
        number=cases.number,
        facility=facility,
        contact=shown,
        revealed=contact is not None,
        check=check,
        shares=[f"{check.share(t) * 100:.0f}" for t in (60, 180, 300)] if check else [],
        has_network=network is not None,
        signs=signs,
        map_data=map_data,
        kinds=[k.value for k in SecurityPostKind],
        can_write=auth.can(user, perms.WRITE),
        can_edit=auth.can(user, perms.WRITE) and not register.approved(db, event),
        can_unmask=auth.can(user, perms.UNMASK),
        error=error,
    )


@router.get("/events/{event_id:int}", response_class=HTMLResponse)
def event_page(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """An application: grade and factors, approval case, contact (masked), the security plan
    on the map with its posts and rings."""
    return _event_detail(request, db, user, scope, language, event_id)


@router.post(
    "/events/{event_id:int}/contact",
    response_class=HTMLResponse,
    dependencies=[requires(perms.UNMASK)],
)
def reveal_page(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
) -> Response:
    """The application with the organiser's contact in clear (audited)."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    shown = reveal_contact(db, event=event, viewer=user, cipher=get_cipher(request), actor=actor)
    return _event_detail(request, db, user, scope, language, event_id, contact=shown)


@router.post(
    "/events/{event_id:int}/posts",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def add_post_page(
    request: Request,
    event_id: RecordId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    """Add a post to the plan (its units by call sign); back to the application."""
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    data: dict[str, Any] = forms.text(values, "kind", "name", "lon", "lat", "staffing")
    errors = forms.FormErrors()
    signs = [s for s in values.get("units", "").replace(",", " ").split() if s]
    ids = []
    for sign in signs[:50]:
        unit = db.scalars(
            select(Unit).where(Unit.call_sign == sign, scope.clause(Unit.home_area_path))
        ).first()
        if unit is None:
            errors.add("units", translate("error.events.code_unknown", language, code=sign[:32]))
        else:
            ids.append(unit.id)
    data["unit_ids"] = ids
    checked, errors = forms.validate(PostIn, data, language=language, errors=errors)
    if checked is not None:
        try:
            with db.begin_nested():
                register.add_post(db, event=event, data=checked, actor=actor, scope=scope)
            return RedirectResponse(f"/events/{event.id}#plan", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors.form = exc.text(language)
    message = errors.form or "; ".join(f"{k}: {v}" for k, v in errors.fields.items())
    return _event_detail(
        request, db, user, scope, language, event_id, error=message, status_code=422
    )


@router.post(
    "/events/{event_id:int}/posts/{post_id:int}/delete",
    dependencies=[requires(perms.WRITE)],
)
def remove_post_page(
    event_id: RecordId, post_id: RecordId, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    event = register.get_or_raise(db, event_id=event_id, scope=scope)
    register.remove_post(db, event=event, post_id=post_id, actor=actor)
    return RedirectResponse(f"/events/{event.id}#plan", status_code=303)


# The pages of emergency plans, their activations and drills.
router.include_router(plan_pages.router)
