"""Console pages of the community safety forces: the teams (the shared table, export,
import), a team with its counts, its members (masked) and its roster of shifts — at phone
width, for the grid worker who keeps them — the figures against the targets with the
residents entered per area, and the public's tips as they came in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from fangkong.areas import service as area_service
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.community import importing, listing, service
from fangkong.community import permissions as perms
from fangkong.community import personal as community_personal
from fangkong.community.models import PatrolShift, ShiftStatus, TeamKind
from fangkong.community.schemas import MemberIn, ResidentsIn, ShiftIn, ShiftReportIn, TeamIn
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Id, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.http import tables
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
TeamId = Annotated[int, Path(ge=1, le=MAX_ID)]
MemberId = Annotated[int, Path(ge=1, le=MAX_ID)]
ShiftId = Annotated[int, Path(ge=1, le=MAX_ID)]
MAX_IMPORT_BYTES = 16 << 20


def _invalid(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "form"
    return InvalidInput(key="error.community.form_field", params={"field": field}, field=field)


def _teams(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    *,
    imported: Any = None,
    error: str | None = None,
) -> Response:
    return tables.list_page(
        request,
        db,
        listing.team_table(db, scope=scope, language=language),
        listing.teams_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("nav.community", language),
        template="community/teams.html",
        context=lambda _page: {
            "can_write": auth.can(user, perms.WRITE),
            "kinds": [k.value for k in TeamKind],
            "imported": imported,
            "error": error,
        },
    )


@router.get("/community", response_class=HTMLResponse)
def teams_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """群防群治: the safety teams of your areas as the shared table; export, import, new."""
    return _teams(request, db, user, scope, language)


@router.post("/community/teams", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def create_team_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    code: Annotated[Text, Form(max_length=32)],
    name: Annotated[Text, Form(max_length=128)],
    kind: Annotated[Text, Form(max_length=24)],
    area: Annotated[Text, Form(max_length=32)],
    member_count: Annotated[Text, Form(max_length=12)] = "0",
    buildings: Annotated[Text, Form(max_length=12)] = "0",
    households: Annotated[Text, Form(max_length=12)] = "0",
) -> Response:
    """A new team; on to its page."""
    try:
        data = TeamIn.model_validate(
            {
                "code": code,
                "name": name,
                "kind": kind,
                "area": area,
                "member_count": int(member_count or 0) if member_count.isdigit() else member_count,
                "buildings": int(buildings or 0) if buildings.isdigit() else buildings,
                "households": int(households or 0) if households.isdigit() else households,
            }
        )
        team = service.create_team(db, data=data, actor=actor, scope=scope)
    except ValidationError as exc:
        return _teams(request, db, user, scope, language, error=_invalid(exc).text(language))
    except FangkongError as exc:
        return _teams(request, db, user, scope, language, error=exc.text(language))
    return RedirectResponse(f"/community/teams/{team.id}", status_code=303)


@router.post("/community/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
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
                key="error.community.file_large",
                params={"mib": MAX_IMPORT_BYTES >> 20},
                field="file",
            )
        report = importing.import_teams(
            db, name=file.filename or "", data=data, actor=actor, scope=scope, now=utcnow()
        )
    except FangkongError as exc:
        return _teams(request, db, user, scope, language, error=exc.text(language))
    return _teams(request, db, user, scope, language, imported=report)


@router.get("/community/teams/{team_id:int}", response_class=HTMLResponse)
def team_page(
    request: Request,
    team_id: TeamId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    error: Annotated[Text | None, Query(max_length=200)] = None,
) -> Response:
    """A team: its counts, its members (masked) and its roster of shifts, the coming ones
    first; forms to add a member or a shift and to report a shift."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    cipher = get_cipher(request)
    members = service.members_of(db, team=team)
    now = utcnow()
    shifts = list(
        db.scalars(
            service.shifts_select(scope, team_id=team.id)
            .order_by(PatrolShift.starts_at.desc())
            .limit(50)
        ).unique()
    )
    return render(
        request,
        "community/team.html",
        language=language,
        user=user,
        team=team,
        members=[(m, community_personal.masked_member(m, cipher)) for m in members],
        shifts=shifts,
        roster=service.roster_of(db, shift_ids=[s.id for s in shifts]),
        can_write=auth.can(user, perms.WRITE),
        keeps_members=team.kind is not TeamKind.INFORMANT_NETWORK,
        now=now,
        error=error,
    )


def _back(team_id: int) -> RedirectResponse:
    return RedirectResponse(f"/community/teams/{team_id}", status_code=303)


@router.post(
    "/community/teams/{team_id:int}/members",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def add_member_page(
    request: Request,
    team_id: TeamId,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    name: Annotated[Text, Form(max_length=64)],
    phone: Annotated[Text, Form(max_length=32)] = "",
) -> Response:
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    try:
        data = MemberIn.model_validate({"name": name, "phone": phone.strip() or None})
    except ValidationError as exc:
        raise _invalid(exc) from None
    service.add_member(
        db, team=team, data=data, cipher=get_cipher(request), actor=actor, now=utcnow()
    )
    return _back(team.id)


@router.post(
    "/community/teams/{team_id:int}/members/{member_id:int}/leave",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def member_leaves_page(
    team_id: TeamId, member_id: MemberId, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    member = service.get_member_or_raise(db, team=team, member_id=member_id)
    service.member_leaves(db, team=team, member=member, actor=actor, now=utcnow())
    return _back(team.id)


def _moment(value: str, request: Request, field: str) -> datetime:
    """A ``datetime-local`` value in the county's zone."""
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            key="error.community.form_field", params={"field": field}, field=field
        ) from None
    return local.replace(tzinfo=request.app.state.settings.zone) if local.tzinfo is None else local


@router.post(
    "/community/teams/{team_id:int}/shifts",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def create_shift_page(
    request: Request,
    team_id: TeamId,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    starts_at: Annotated[Text, Form(max_length=32)],
    ends_at: Annotated[Text, Form(max_length=32)],
    member_ids: Annotated[list[Id] | None, Form()] = None,
    planned: Annotated[Text, Form(max_length=6)] = "0",
) -> Response:
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    try:
        data = ShiftIn.model_validate(
            {
                "starts_at": _moment(starts_at, request, "starts_at"),
                "ends_at": _moment(ends_at, request, "ends_at"),
                "planned": int(planned) if planned.isdigit() else planned,
                "member_ids": (member_ids or [])[:200],
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    service.create_shift(db, team=team, data=data, actor=actor, scope=scope)
    return _back(team.id)


@router.post(
    "/community/shifts/{shift_id:int}/report",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def report_shift_page(
    shift_id: ShiftId,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    status: Annotated[Text, Form(max_length=16)],
    turned_out: Annotated[Text, Form(max_length=6)] = "",
) -> Response:
    shift = service.get_shift_or_raise(db, shift_id=shift_id, scope=scope)
    try:
        data = ShiftReportIn.model_validate(
            {
                "status": status,
                "turned_out": int(turned_out) if turned_out.isdigit() else (turned_out or None),
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    service.report_shift(db, shift=shift, data=data, actor=actor)
    return _back(shift.team_id)


@router.get("/community/figures", response_class=HTMLResponse)
def figures_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    area: Annotated[Text | None, Query(max_length=32)] = None,
) -> Response:
    """The figures of an area of yours (the top of your areas by default) and of the areas
    just below it, against the targets; residents entered per area."""
    root = area_service.get_by_code_or_raise(db, code=area, scope=scope) if area else None
    rows = service.figures(db, scope=scope, root_path=root.path if root else None)
    top = rows[0] if rows else None
    children = [r for r in rows if top is not None and r.area.parent_id == top.area.id]
    return render(
        request,
        "community/figures.html",
        language=language,
        user=user,
        top=top,
        children=children,
        can_write=auth.can(user, perms.WRITE),
        target=service.FORCES_PER_100K_TARGET,
        committee_min=service.COMMITTEE_MIN_MEMBERS,
    )


@router.post(
    "/community/residents", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def residents_page(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    area: Annotated[Text, Form(max_length=32)],
    residents: Annotated[Text, Form(max_length=12)],
    households: Annotated[Text, Form(max_length=12)] = "0",
) -> Response:
    found = area_service.get_by_code_or_raise(db, code=area, scope=scope)
    try:
        data = ResidentsIn.model_validate(
            {
                "residents": int(residents) if residents.isdigit() else residents,
                "households": int(households) if households.isdigit() else households,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    service.set_residents(db, area=found, data=data, actor=actor)
    parent = found.parent_id
    target = found if parent is None else (db.get(type(found), parent) or found)
    return RedirectResponse(f"/community/figures?area={target.code}", status_code=303)


@router.get("/community/tips", response_class=HTMLResponse)
def tips_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """The public's tips placed in your areas: category, outcome and case."""
    result = tables.view(
        request,
        db,
        listing.tip_table(db, scope=scope, language=language),
        listing.tips_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("community.tips", language),
    )
    if not isinstance(result, tables.Page):
        return result
    ids = [t.case_id for t in result.rows if t.case_id]
    found = {c.id: c for c in db.query(Case).filter(Case.id.in_(ids)).all()} if ids else {}
    return render(
        request,
        "community/tips.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        cases=found,
        number=cases.number,
    )


SHIFT_STATUSES = [s.value for s in ShiftStatus]
