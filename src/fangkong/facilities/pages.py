"""Console pages of key facilities: the list (filters, sort, pages, export, import), a facility
with its protection, its compliance rule by rule and its inspections (at phone width: an
inspector at the gate opens an inspection there), and the rates per area and type with the
county's rules and their sources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.facilities import importing, listing, register, rules
from fangkong.facilities import permissions as perms
from fangkong.facilities._common import MAX_IMPORT_BYTES
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.schemas import FacilityIn, InspectionIn
from fangkong.http import forms, tables
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
FacilityId = Annotated[int, Path(ge=1, le=MAX_ID)]
TRIGGERS = ("periodic", "rule_failure", "spot_check", "referral")


def _list(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    *,
    imported: Any = None,
    error: str | None = None,
) -> Response:

    def context(page: tables.Page) -> dict[str, Any]:
        decls = rules.active_rules(db)
        return {
            "compliant": {f.id: rules.compliant(f, decls) for f in page.rows},
            "can_write": auth.can(user, perms.WRITE),
            "imported": imported,
            "error": error,
        }

    return tables.list_page(
        request,
        db,
        listing.table(db, scope=scope, language=language),
        listing.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.facilities", language),
        template="facilities/list.html",
        context=context,
    )


@router.get("/facilities", response_class=HTMLResponse)
def facilities_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """重点单位: the key facilities of your areas as the shared table; export and import."""
    return _list(request, db, user, scope, language)


@router.post(
    "/facilities/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def import_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    try:
        if len(data) > MAX_IMPORT_BYTES:
            raise InvalidInput(
                key="error.facilities.file_large",
                params={"mib": MAX_IMPORT_BYTES >> 20},
                field="file",
            )
        report = importing.import_facilities(
            db, name=file.filename or "", data=data, actor=actor, scope=scope
        )
    except FangkongError as exc:
        return _list(request, db, user, scope, language, error=exc.text(language))
    return _list(request, db, user, scope, language, imported=report)


# --- one facility's form -------------------------------------------------------------------

COUNTS = ("staff_count", "guards_full_time", "guards_part_time")
FLAGS = (
    "physical_barriers",
    "alarm_networked",
    "video_networked",
    "school_gate_post",
    "closed_management",
)
FIELDS = ("code", "name", "facility_type", "address", *COUNTS, *FLAGS, "lon", "lat")
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]


def _values_of(facility: Facility) -> dict[str, str]:
    """A facility's record as the form shows it (a ticked box is a key present)."""
    values = {
        "code": facility.code,
        "name": facility.name,
        "facility_type": facility.facility_type.value,
        "address": facility.address,
        "lon": f"{facility.lon:.6f}",
        "lat": f"{facility.lat:.6f}",
    }
    values |= {name: str(getattr(facility, name)) for name in COUNTS}
    values |= {name: "1" for name in FLAGS if getattr(facility, name)}
    return values


def _form(
    request: Request,
    user: Any,
    language: str,
    *,
    facility: Facility | None,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
) -> Response:
    return render(
        request,
        "facilities/form.html",
        language=language,
        user=user,
        status_code=422 if errors else 200,
        facility=facility,
        values=values,
        errors=errors or forms.FormErrors(),
        types=[(t.value, translate(f"facilities.type.{t.value}", language)) for t in FacilityType],
        counts=COUNTS,
        flags=FLAGS,
    )


def _save(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    actor: Any,
    values: dict[str, str],
    facility: Facility | None,
) -> Response:
    """Check the form by the API's schema and save it in a savepoint; a refusal is shown
    beside its field, the form filled in as sent."""
    data: dict[str, Any] = forms.text(
        values, "code", "name", "facility_type", "address", *COUNTS, "lon", "lat"
    )
    if facility is not None:
        data["code"] = facility.code  # a facility's code does not change
    data |= {name: forms.flag(values, name) for name in FLAGS}
    checked, errors = forms.validate(FacilityIn, data, language=language)
    if checked is not None:
        try:
            with db.begin_nested():  # a refused save leaves nothing behind in the request
                if facility is None:
                    facility = register.create(db, data=checked, actor=actor, scope=scope)
                else:
                    register.update(db, facility=facility, data=checked, actor=actor, scope=scope)
            return RedirectResponse(f"/facilities/{facility.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=FIELDS)
    shown = dict(values) | ({"code": facility.code} if facility is not None else {})
    return _form(request, user, language, facility=facility, values=shown, errors=errors)


@router.get("/facilities/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def new_facility_page(request: Request, user: CurrentUser, language: Language) -> Response:
    """Register one key facility: its type, place, staff and protection."""
    return _form(request, user, language, facility=None, values={})


@router.post("/facilities/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def create_facility_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    return _save(request, db, user, scope, language, actor, values, None)


@router.get(
    "/facilities/{facility_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def edit_facility_page(
    request: Request,
    facility_id: FacilityId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Edit a key facility's record (its code stays)."""
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    return _form(request, user, language, facility=facility, values=_values_of(facility))


@router.post(
    "/facilities/{facility_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def update_facility_page(
    request: Request,
    facility_id: FacilityId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    return _save(request, db, user, scope, language, actor, values, facility)


@router.get("/facilities/{facility_id:int}", response_class=HTMLResponse)
def facility_page(
    request: Request,
    facility_id: FacilityId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """A key facility: protection, compliance rule by rule (with the sources' numbers) and its
    inspections; an inspection opened from here."""
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    decls = rules.active_rules(db)
    names = {r.decl.code: r.decl for r in rules.get_rules(db)}
    now = utcnow()
    return render(
        request,
        "facilities/detail.html",
        language=language,
        user=user,
        facility=facility,
        results=rules.evaluate(facility, decls),
        names=names,
        inspections=register.inspections_of(db, facility_ids=[facility.id])[facility.id],
        number=cases.number,
        overdue=lambda c: cases.is_overdue(c, now),
        can_write=auth.can(user, perms.WRITE),
        can_inspect=auth.can(user, "cases.create")
        and user.role.value in ("inspector", "station_officer", "commander", "admin"),
        triggers=TRIGGERS,
    )


@router.post("/facilities/{facility_id:int}/inspections", response_class=HTMLResponse)
def open_inspection_page(
    request: Request,
    facility_id: FacilityId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    trigger: Annotated[Text, Form(max_length=16)] = "periodic",
) -> Response:
    """Open an inspection of the facility; on to its case."""
    auth.require(user, "cases.create")
    if trigger not in TRIGGERS:
        raise InvalidInput(
            key="error.facilities.trigger", params={"value": trigger[:16]}, field="trigger"
        )
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    case = register.open_inspection(
        db,
        facility=facility,
        data=InspectionIn.model_validate({"trigger": trigger}),
        user=user,
        actor=actor,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


@router.get("/facilities/rates", response_class=HTMLResponse)
def rates_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    area: Annotated[Text | None, Query(max_length=32)] = None,
    facility_type: Annotated[Text | None, Query(max_length=24)] = None,
) -> Response:
    """Rates of an area of yours (the top of your areas by default) and of the areas just
    below it: compliant share, inspected this quarter, overdue rectifications; the rules."""
    kind = facility_type if facility_type in {t.value for t in FacilityType} else "all"
    root = area_service.get_by_code_or_raise(db, code=area, scope=scope).path if area else None
    found = register.rates(
        db, scope=scope, now=utcnow(), zone=request.app.state.settings.zone, root_path=root
    )
    paths = {r.area_code: r for r in found}
    areas = (
        {a.code: a for a in db.query(Area).filter(Area.code.in_(list(paths))).all()}
        if paths
        else {}
    )
    ordered = sorted(areas.values(), key=lambda a: a.path)
    top = ordered[0] if ordered else None
    rows = [r for r in found if r.facility_type == kind]
    by_code = {r.area_code: r for r in rows}
    children = (
        [
            by_code[a.code]
            for a in ordered
            if top is not None and a.parent_id == top.id and a.code in by_code
        ]
        if top
        else []
    )
    return render(
        request,
        "facilities/rates.html",
        language=language,
        user=user,
        top=top,
        top_rates=by_code.get(top.code) if top else None,
        by_type=[r for r in found if top is not None and r.area_code == top.code],
        children=children,
        kind=kind,
        types=[t.value for t in FacilityType],
        rules=rules.get_rules(db),
    )
