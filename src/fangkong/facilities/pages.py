"""Console pages of key facilities: the list (filters, sort, pages, export, import), a facility
with its protection, its compliance rule by rule and its inspections (at phone width: an
inspector at the gate opens an inspection there), and the rates per area and type with the
county's rules and their sources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.facilities import importing, listing, register, rules
from fangkong.facilities import permissions as perms
from fangkong.facilities._common import MAX_IMPORT_BYTES
from fangkong.facilities.models import FacilityType
from fangkong.facilities.schemas import InspectionIn
from fangkong.http import tables
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
FacilityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
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
    result = tables.view(
        request,
        db,
        listing.table(db, scope=scope, language=language),
        listing.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.facilities", language),
    )
    if not isinstance(result, tables.Page):
        return result
    decls = rules.active_rules(db)
    return render(
        request,
        "facilities/list.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        compliant={f.id: rules.compliant(f, decls) for f in result.rows},
        can_write=auth.can(user, perms.WRITE),
        imported=imported,
        error=error,
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
    trigger: Annotated[str, Form(max_length=16)] = "periodic",
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
    area: Annotated[str | None, Query(max_length=32)] = None,
    facility_type: Annotated[str | None, Query(max_length=24)] = None,
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
