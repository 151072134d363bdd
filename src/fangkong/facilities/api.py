"""REST API of key facilities under ``/api/v1/facilities``: the register (list, export, map
layer, one facility with its compliance and inspections), the county's compliance rules,
inspections opened as cases, the rates per area and type, and the register's import.

Every read is scoped to the user's areas; a facility outside them reads as not found.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile

from fangkong.areas import service as area_service
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.facilities import importing, listing, register, rules
from fangkong.facilities import permissions as perms
from fangkong.facilities._common import MAX_IMPORT_BYTES
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.schemas import (
    FacilityIn,
    FacilityOut,
    FacilityPage,
    ImportOut,
    InspectionIn,
    InspectionOut,
    RateOut,
    RowErrorOut,
    RuleIn,
    RuleOut,
    RuleResultOut,
    ShortfallOut,
)
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    requires,
)

router = APIRouter(prefix="/facilities", tags=["facilities"], dependencies=[requires(perms.READ)])
FacilityId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_FEATURES = 20_000


def inspection_out(case: Case, now: Any) -> InspectionOut:
    return InspectionOut(
        case_id=case.id,
        number=cases.number(case),
        state=case.state,
        opened_at=case.opened_at,
        due_at=case.due_at,
        closed_at=case.closed_at,
        overdue=cases.is_overdue(case, now),
    )


def facility_out(
    facility: Facility, decls: list[rules.RuleDecl], inspections: list[Case]
) -> FacilityOut:
    results = rules.evaluate(facility, decls)
    now = utcnow()
    return FacilityOut(
        id=facility.id,
        code=facility.code,
        name=facility.name,
        facility_type=facility.facility_type,
        address=facility.address,
        staff_count=facility.staff_count,
        guards_full_time=facility.guards_full_time,
        guards_part_time=facility.guards_part_time,
        physical_barriers=facility.physical_barriers,
        alarm_networked=facility.alarm_networked,
        video_networked=facility.video_networked,
        school_gate_post=facility.school_gate_post,
        closed_management=facility.closed_management,
        lon=facility.lon,
        lat=facility.lat,
        area_code=facility.area.code if facility.area else None,
        compliant=all(r.passed for r in results),
        rules=[
            RuleResultOut(
                code=r.code,
                passed=r.passed,
                shortfalls=[
                    ShortfallOut(field=s.field, required=s.required, actual=s.actual)
                    for s in r.shortfalls
                ],
                source=r.source,
            )
            for r in results
        ],
        inspections=[inspection_out(c, now) for c in inspections],
    )


Text64 = Annotated[Text | None, Query(max_length=64, description="Code, name or address contains")]
AreaCode = Annotated[Text | None, Query(max_length=32, description="Area code: its subtree")]
Sort = Annotated[
    Text | None,
    Query(
        max_length=32,
        description="code, name, facility_type, staff_count, guards_full_time, the protection "
        "flags, area; a leading - sorts descending",
    ),
]


def _query(
    db: Any,
    scope: Scope,
    language: str,
    q: str | None,
    facility_type: FacilityType | None,
    area: str | None,
    sort: str | None,
) -> tables.TableQuery:
    table = listing.table(db, scope=scope, language=language)
    values = {
        "q": q,
        "facility_type": facility_type.value if facility_type else None,
        "area": area,
    }
    return table.query(sort=sort, values=values)


@router.get("", response_model=FacilityPage)
def list_facilities(
    db: DbSession,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    facility_type: FacilityType | None = None,
    area: AreaCode = None,
    compliant: Annotated[
        bool | None, Query(description="Only those that meet every rule (true) or not")
    ] = None,
    sort: Sort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> FacilityPage:
    """Key facilities of your areas with their compliance and inspections, by code."""
    query = _query(db, scope, language, q, facility_type, area, sort)
    stmt = query.apply(listing.base_select(scope))
    decls = rules.active_rules(db)
    if compliant is None:
        total = tables.count(db, stmt)
        page = list(db.scalars(stmt.limit(limit).offset(offset)).unique())
    else:
        every = [f for f in db.scalars(stmt).unique() if rules.compliant(f, decls) == compliant]
        total, page = len(every), every[offset : offset + limit]
    found = register.inspections_of(db, facility_ids=[f.id for f in page])
    return FacilityPage(total=total, items=[facility_out(f, decls, found[f.id]) for f in page])


@router.get("/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_facilities(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    facility_type: FacilityType | None = None,
    area: AreaCode = None,
    sort: Sort = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The facilities of ``GET /facilities`` with the same parameters, every page, as CSV or
    XLSX with the labels in your language (audited)."""
    return tables.export(
        db,
        listing.base_select(scope),
        _query(db, scope, language, q, facility_type, area, sort),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.facilities", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.get("/geojson")
def facilities_geojson(
    db: DbSession,
    scope: UserScope,
    area: AreaCode = None,
    facility_type: FacilityType | None = None,
) -> dict[str, Any]:
    """Key facilities of your areas as GeoJSON points for the command map, each with its
    type and whether it meets every rule (at most 20,000; ``truncated`` says when more)."""
    stmt = listing.base_select(scope)
    if area:
        found = area_service.get_by_code_or_raise(db, code=area, scope=scope)
        stmt = stmt.where(Facility.area_path.startswith(found.path, autoescape=True))
    if facility_type is not None:
        stmt = stmt.where(Facility.facility_type == facility_type)
    rows = list(db.scalars(stmt.order_by(Facility.id).limit(MAX_FEATURES + 1)).unique())
    decls = rules.active_rules(db)
    return {
        "type": "FeatureCollection",
        "truncated": len(rows) > MAX_FEATURES,
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
                "properties": {
                    "id": f.id,
                    "code": f.code,
                    "name": f.name,
                    "facility_type": f.facility_type.value,
                    "compliant": rules.compliant(f, decls),
                },
            }
            for f in rows[:MAX_FEATURES]
        ],
    }


@router.get("/rates", response_model=list[RateOut])
def facility_rates(
    request: Request,
    db: DbSession,
    scope: UserScope,
    language: Language,
    area: AreaCode = None,
    facility_type: Annotated[
        Text | None,
        Query(max_length=24, description="A facility type, or all (default: every row)"),
    ] = None,
) -> list[RateOut]:
    """Per area of your areas (every level; under ``area`` if given) and facility type
    (``all``: every type): facilities, how many meet every rule (compliant share), how many
    had an inspection opened this quarter, open inspections and overdue rectifications."""
    root = area_service.get_by_code_or_raise(db, code=area, scope=scope).path if area else None
    if facility_type not in (None, "all", *(t.value for t in FacilityType)):
        raise InvalidInput(
            key="error.facilities.type_unknown",
            params={"value": str(facility_type)[:24]},
            field="facility_type",
        )
    found = register.rates(
        db, scope=scope, now=utcnow(), zone=request.app.state.settings.zone, root_path=root
    )
    return [
        RateOut(
            area_code=r.area_code,
            area_name=r.area_name_en if language == "en" else r.area_name_zh,
            level=r.level,
            facility_type=r.facility_type,
            facilities=r.facilities,
            compliant=r.compliant,
            compliant_share=r.compliant_share,
            inspected=r.inspected,
            inspected_share=r.inspected_share,
            overdue_rectifications=r.overdue_rectifications,
            open_inspections=r.open_inspections,
        )
        for r in found
        if facility_type is None or r.facility_type == facility_type
    ]


def rule_out(rule: rules.Rule) -> RuleOut:
    d = rule.decl
    return RuleOut(
        code=d.code,
        name_zh=d.name_zh,
        name_en=d.name_en,
        types=list(d.types),
        when=list(d.when),
        require=list(d.require),
        source=d.source,
        enabled=rule.enabled,
        default=rule.default,
        changed=rule.changed,
    )


@router.get("/rules", response_model=list[RuleOut])
def list_rules(db: DbSession) -> list[RuleOut]:
    """The county's compliance rules: the declared defaults (or the county's version of
    each) and its own, each citing its source."""
    return [rule_out(r) for r in rules.get_rules(db)]


@router.put("/rules/{code}", response_model=RuleOut, dependencies=[requires(perms.RULES)])
def save_rule(
    code: Annotated[Text, Path(pattern=r"^[a-z][a-z0-9_]{0,47}$")],
    body: RuleIn,
    db: DbSession,
    actor: RequestActor,
) -> RuleOut:
    """Save the county's version of a rule (a default changed or switched off, or its own)."""
    if body.code != code:
        raise InvalidInput(key="error.facilities.rule_code", field="code")
    decl = rules.parse(body.model_dump(mode="json", exclude={"enabled"}))
    return rule_out(rules.save_rule(db, decl=decl, enabled=body.enabled, actor=actor))


@router.delete("/rules/{code}", status_code=204, dependencies=[requires(perms.RULES)])
def reset_rule(
    code: Annotated[Text, Path(pattern=r"^[a-z][a-z0-9_]{0,47}$")],
    db: DbSession,
    actor: RequestActor,
) -> Response:
    """Drop the county's version: the default comes back (a rule of its own goes)."""
    rules.reset_rule(db, code=code, actor=actor)
    return Response(status_code=204)


@router.post("", response_model=FacilityOut, status_code=201, dependencies=[requires(perms.WRITE)])
def create_facility(
    body: FacilityIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> FacilityOut:
    """Register a key facility in your areas."""
    facility = register.create(db, data=body, actor=actor, scope=scope)
    return facility_out(facility, rules.active_rules(db), [])


@router.get("/{facility_id:int}", response_model=FacilityOut)
def get_facility(facility_id: FacilityId, db: DbSession, scope: UserScope) -> FacilityOut:
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    found = register.inspections_of(db, facility_ids=[facility.id])
    return facility_out(facility, rules.active_rules(db), found[facility.id])


@router.put("/{facility_id:int}", response_model=FacilityOut, dependencies=[requires(perms.WRITE)])
def update_facility(
    facility_id: FacilityId, body: FacilityIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> FacilityOut:
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    register.update(db, facility=facility, data=body, actor=actor, scope=scope)
    found = register.inspections_of(db, facility_ids=[facility.id])
    return facility_out(facility, rules.active_rules(db), found[facility.id])


@router.post("/{facility_id:int}/inspections", response_model=InspectionOut, status_code=201)
def open_inspection(
    request: Request,
    facility_id: FacilityId,
    body: InspectionIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> InspectionOut:
    """Open a security inspection (a case on the engine) of the facility, linked to it; with
    ``rule_failure`` it names the rules the facility fails now."""
    auth.require(user, "cases.create")
    facility = register.get_or_raise(db, facility_id=facility_id, scope=scope)
    case = register.open_inspection(
        db,
        facility=facility,
        data=body,
        user=user,
        actor=actor,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return inspection_out(case, utcnow())


def _read(file: UploadFile) -> bytes:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.facilities.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    return data


@router.post("/import", response_model=ImportOut, dependencies=[requires(perms.WRITE)])
def import_facilities(
    db: DbSession, scope: UserScope, actor: RequestActor, file: Annotated[UploadFile, File()]
) -> ImportOut:
    """Register or update key facilities from a CSV or XLSX file with a header row (code,
    name, facility_type, address, staff_count, guards_full_time, guards_part_time,
    physical_barriers, alarm_networked, video_networked, school_gate_post,
    closed_management, lon, lat; the export's labels are taken too; yes/no as 是/否, 1/0).
    Each row is checked on its own: the bad ones are answered with their row, column and
    rule, the others load."""
    report = importing.import_facilities(
        db, name=file.filename or "", data=_read(file), actor=actor, scope=scope
    )
    return ImportOut(
        created=report.created,
        updated=report.updated,
        errors=[RowErrorOut(row=e.row, field=e.field, message=e.message) for e in report.errors],
    )
