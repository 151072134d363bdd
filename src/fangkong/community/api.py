"""REST API of the community safety forces under ``/api/v1/community``: teams (list, export,
import, one team, its members masked or in clear with the permission, audited), shifts and
their rosters, residents per area, the figures against the targets, and the public's tips as
the console reads them. Every read is scoped to the user's areas; a record outside them
reads as not found. The public's own way in (no login) is :mod:`fangkong.community.public`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile

from fangkong.areas import service as area_service
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.community import importing, listing, service
from fangkong.community import permissions as perms
from fangkong.community import personal as community_personal
from fangkong.community.models import PatrolShift, PublicTip, SafetyMember, SafetyTeam, TeamKind
from fangkong.community.schemas import (
    FigureOut,
    MemberClearOut,
    MemberIn,
    MemberOut,
    ResidentsIn,
    ShiftIn,
    ShiftOut,
    ShiftPage,
    ShiftReportIn,
    TeamIn,
    TeamOut,
    TeamPage,
    TipOut,
    TipPage,
)
from fangkong.core.bounds import MAX_ID, Moment, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
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
from fangkong.http.sheets import RowError

router = APIRouter(prefix="/community", tags=["community"], dependencies=[requires(perms.READ)])
TeamId = Annotated[int, Path(ge=1, le=MAX_ID)]
MemberId = Annotated[int, Path(ge=1, le=MAX_ID)]
ShiftId = Annotated[int, Path(ge=1, le=MAX_ID)]
TipId = Annotated[int, Path(ge=1, le=MAX_ID)]
AreaCode = Annotated[Text | None, Query(max_length=32, description="Area code: its subtree")]
Text64 = Annotated[Text | None, Query(max_length=64, description="Code or name contains")]
Sort = Annotated[Text | None, Query(max_length=32, description="A column; leading - descends")]
#: The largest team spreadsheet (bytes).
MAX_IMPORT_BYTES = 16 << 20


def team_out(team: SafetyTeam, recorded: int, language: str) -> TeamOut:
    return TeamOut(
        id=team.id,
        code=team.code,
        name=team.name,
        kind=team.kind,
        area_code=team.area.code,
        area_name=team.area.name_en if language == "en" else team.area.name_zh,
        member_count=team.member_count,
        members_recorded=recorded,
        buildings=team.buildings,
        households=team.households,
        active=team.active,
    )


def _team_query(
    db: Any,
    scope: Scope,
    language: str,
    q: str | None,
    kind: TeamKind | None,
    area: str | None,
    sort: str | None,
) -> tables.TableQuery:
    table = listing.team_table(db, scope=scope, language=language)
    return table.query(
        sort=sort, values={"q": q, "kind": kind.value if kind else None, "area": area}
    )


@router.get("/teams", response_model=TeamPage)
def list_teams(
    db: DbSession,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    kind: TeamKind | None = None,
    area: AreaCode = None,
    sort: Sort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> TeamPage:
    """Safety teams of your areas with their counts, by code."""
    stmt = _team_query(db, scope, language, q, kind, area, sort).apply(listing.teams_select(scope))
    total = tables.count(db, stmt)
    page = list(db.scalars(stmt.limit(limit).offset(offset)).unique())
    recorded = service.recorded_members(db, team_ids=[t.id for t in page])
    return TeamPage(total=total, items=[team_out(t, recorded[t.id], language) for t in page])


@router.get("/teams/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_teams(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    kind: TeamKind | None = None,
    area: AreaCode = None,
    sort: Sort = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The teams of ``GET /community/teams`` with the same parameters, every page, as CSV or
    XLSX (audited)."""
    return tables.export(
        db,
        listing.teams_select(scope),
        _team_query(db, scope, language, q, kind, area, sort),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.community", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.post(
    "/teams", response_model=TeamOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def create_team(
    body: TeamIn, db: DbSession, scope: UserScope, actor: RequestActor, language: Language
) -> TeamOut:
    """Register a team serving an area of yours."""
    team = service.create_team(db, data=body, actor=actor, scope=scope)
    db.refresh(team)
    return team_out(team, 0, language)


@router.get("/teams/{team_id:int}", response_model=TeamOut)
def get_team(team_id: TeamId, db: DbSession, scope: UserScope, language: Language) -> TeamOut:
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    return team_out(team, service.recorded_members(db, team_ids=[team.id])[team.id], language)


@router.put("/teams/{team_id:int}", response_model=TeamOut, dependencies=[requires(perms.WRITE)])
def update_team(
    team_id: TeamId,
    body: TeamIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> TeamOut:
    """Change a team's name, area, counts or whether it is active."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    service.update_team(db, team=team, data=body, actor=actor, scope=scope, now=utcnow())
    db.refresh(team)
    return team_out(team, service.recorded_members(db, team_ids=[team.id])[team.id], language)


def member_out(member: SafetyMember, request: Request) -> MemberOut:
    name, phone = community_personal.masked_member(member, get_cipher(request))
    return MemberOut(
        id=member.id, name=name, phone=phone, joined_at=member.joined_at, left_at=member.left_at
    )


@router.get("/teams/{team_id:int}/members", response_model=list[MemberOut])
def list_members(
    request: Request,
    team_id: TeamId,
    db: DbSession,
    scope: UserScope,
    current: bool = True,
) -> list[MemberOut]:
    """The team's recorded members, masked (current ones by default)."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    return [member_out(m, request) for m in service.members_of(db, team=team, current=current)]


@router.post(
    "/teams/{team_id:int}/members",
    response_model=MemberOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def add_member(
    request: Request,
    team_id: TeamId,
    body: MemberIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> MemberOut:
    """Record a patrol's or committee's member (an informant network keeps none)."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    member = service.add_member(
        db, team=team, data=body, cipher=get_cipher(request), actor=actor, now=utcnow()
    )
    return member_out(member, request)


@router.post(
    "/teams/{team_id:int}/members/{member_id:int}/leave",
    response_model=MemberOut,
    dependencies=[requires(perms.WRITE)],
)
def member_leaves(
    request: Request,
    team_id: TeamId,
    member_id: MemberId,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> MemberOut:
    """The member left: their name and phone go at the next purge."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    member = service.get_member_or_raise(db, team=team, member_id=member_id)
    service.member_leaves(db, team=team, member=member, actor=actor, now=utcnow())
    return member_out(member, request)


@router.get(
    "/teams/{team_id:int}/members/{member_id:int}/personal",
    response_model=MemberClearOut,
    dependencies=[requires(perms.UNMASK)],
)
def reveal_member(
    request: Request,
    team_id: TeamId,
    member_id: MemberId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> MemberClearOut:
    """A member's name and phone in clear (audited)."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    member = service.get_member_or_raise(db, team=team, member_id=member_id)
    name, phone = community_personal.reveal_member(
        db, member=member, viewer=user, cipher=get_cipher(request), actor=actor
    )
    return MemberClearOut(id=member.id, name=name, phone=phone)


def shift_out(shift: PatrolShift, members: list[int]) -> ShiftOut:
    return ShiftOut(
        id=shift.id,
        team_code=shift.team.code,
        area_code=shift.area.code,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        planned=shift.planned,
        turned_out=shift.turned_out,
        status=shift.status,
        member_ids=members,
    )


@router.post(
    "/teams/{team_id:int}/shifts",
    response_model=ShiftOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def create_shift(
    team_id: TeamId, body: ShiftIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> ShiftOut:
    """Put a patrol shift on the team's roster."""
    team = service.get_or_raise(db, team_id=team_id, scope=scope)
    shift = service.create_shift(db, team=team, data=body, actor=actor, scope=scope)
    db.refresh(shift)
    return shift_out(shift, sorted(set(body.member_ids)))


@router.get("/shifts", response_model=ShiftPage)
def list_shifts(
    db: DbSession,
    scope: UserScope,
    team: Annotated[Text | None, Query(max_length=32, description="A team's code")] = None,
    since: Annotated[Moment | None, Query(alias="from")] = None,
    until: Annotated[Moment | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ShiftPage:
    """Patrol shifts in your areas (those that end after ``from`` and start before ``to``),
    by start."""
    team_id = None
    if team:
        found = service.get_by_code(db, code=team)
        if found is None or not scope.covers(found.area_path):
            raise InvalidInput(
                key="error.community.team_unknown", params={"code": team[:32]}, field="team"
            )
        team_id = found.id
    stmt = service.shifts_select(scope, team_id=team_id, since=since, until=until)
    total = tables.count(db, stmt)
    page = list(
        db.scalars(
            stmt.order_by(PatrolShift.starts_at, PatrolShift.id).limit(limit).offset(offset)
        ).unique()
    )
    roster = service.roster_of(db, shift_ids=[s.id for s in page])
    return ShiftPage(total=total, items=[shift_out(s, roster[s.id]) for s in page])


@router.post(
    "/shifts/{shift_id:int}/report", response_model=ShiftOut, dependencies=[requires(perms.WRITE)]
)
def report_shift(
    shift_id: ShiftId, body: ShiftReportIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> ShiftOut:
    """Record how a shift went (done with how many turned out, or cancelled)."""
    shift = service.get_shift_or_raise(db, shift_id=shift_id, scope=scope)
    service.report_shift(db, shift=shift, data=body, actor=actor)
    return shift_out(shift, service.roster_of(db, shift_ids=[shift.id])[shift.id])


@router.put("/residents/{area_code}", status_code=204, dependencies=[requires(perms.WRITE)])
def set_residents(
    area_code: Annotated[Text, Path(min_length=1, max_length=32)],
    body: ResidentsIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> Response:
    """Enter an area's residents and households (the base of the figures per 100,000)."""
    area = area_service.get_by_code_or_raise(db, code=area_code, scope=scope)
    service.set_residents(db, area=area, data=body, actor=actor)
    return Response(status_code=204)


def figure_out(f: service.Figures, language: str) -> FigureOut:
    return FigureOut(
        area_code=f.area.code,
        area_name=f.area.name_en if language == "en" else f.area.name_zh,
        level=f.area.level.value,
        residents=f.residents,
        forces=f.forces,
        forces_per_100k=f.forces_per_100k,
        forces_target_met=f.forces_target_met,
        committees=f.committees,
        committees_with_3=f.committees_with_3,
        communities=f.communities,
        communities_with_team=f.communities_with_team,
        informants=f.informants,
        buildings=f.buildings,
        households=f.households,
        informants_per_building=f.informants_per_building,
        informants_per_20_households=f.informants_per_20_households,
    )


@router.get("/figures", response_model=list[FigureOut])
def figures(
    db: DbSession, scope: UserScope, language: Language, area: AreaCode = None
) -> list[FigureOut]:
    """Per area of yours (every level; under ``area`` if given): residents, forces and forces
    per 100,000 residents against 1,000, committees with at least 3 members, communities with
    a team, informants per building and per 20 households (docs/community.md)."""
    root = area_service.get_by_code_or_raise(db, code=area, scope=scope).path if area else None
    return [figure_out(f, language) for f in service.figures(db, scope=scope, root_path=root)]


def tip_out(tip: PublicTip, case: Case | None) -> TipOut:
    return TipOut(
        id=tip.id,
        category=tip.category,
        status=tip.status,
        reject_reason=tip.reject_reason,
        received_at=tip.received_at,
        area_code=tip.area.code if tip.area else None,
        case_id=tip.case_id,
        case_number=cases.number(case) if case is not None else None,
        has_photo=tip.has_photo,
        has_contact=tip.contact_encrypted is not None,
        lon=tip.lon,
        lat=tip.lat,
    )


@router.get("/tips", response_model=TipPage)
def list_tips(
    request: Request,
    db: DbSession,
    scope: UserScope,
    language: Language,
    status: Annotated[Text | None, Query(max_length=16)] = None,
    category: Annotated[Text | None, Query(max_length=16)] = None,
    area: AreaCode = None,
    sort: Sort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> TipPage:
    """The public's tips placed in your areas, newest first: their category, outcome and
    case (the text is the case's, the contact is never listed)."""
    table = listing.tip_table(db, scope=scope, language=language)
    query = table.query(sort=sort, values={"status": status, "category": category, "area": area})
    stmt = query.apply(listing.tips_select(scope))
    total = tables.count(db, stmt)
    page = list(db.scalars(stmt.limit(limit).offset(offset)).unique())
    found = (
        {
            c.id: c
            for c in db.query(Case)
            .filter(Case.id.in_([t.case_id for t in page if t.case_id]))
            .all()
        }
        if page
        else {}
    )
    return TipPage(
        total=total,
        items=[tip_out(t, found.get(t.case_id) if t.case_id else None) for t in page],
    )


@router.get("/tips/{tip_id:int}/contact", dependencies=[requires(perms.UNMASK)])
def reveal_tip_contact(
    request: Request,
    tip_id: TipId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> dict[str, str | None]:
    """A tipster's contact in clear (audited)."""
    tip = db.get(PublicTip, tip_id)
    if tip is None or not scope.covers(tip.area_path):
        raise NotFound(key="error.community.tip_not_found", params={"id": tip_id}, field="id")
    return {
        "contact": community_personal.reveal_contact(
            db, tip=tip, viewer=user, cipher=get_cipher(request), actor=actor
        )
    }


@router.post("/teams/import", dependencies=[requires(perms.WRITE)])
def import_teams(
    db: DbSession, scope: UserScope, actor: RequestActor, file: Annotated[UploadFile, File()]
) -> dict[str, Any]:
    """Register or update teams from a CSV or XLSX file with a header row (code, name, kind,
    area, member_count, buildings, households; the export's labels are taken too). Each row
    is checked on its own: the bad ones are answered with their row, column and rule."""
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.community.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    report = importing.import_teams(
        db, name=file.filename or "", data=data, actor=actor, scope=scope, now=utcnow()
    )
    return {
        "created": report.created,
        "updated": report.updated,
        "errors": [_row_error(e) for e in report.errors],
    }


def _row_error(e: RowError) -> dict[str, Any]:
    return {"row": e.row, "field": e.field, "message": e.message}
