"""Community safety forces (群防群治): teams and their counts, the minimal member records of
patrols and committees, patrol shifts and their rosters, the residents per area (entered by
hand) and the figures against the targets.

Teams are counts: a team says how many members it has and which buildings and households it
covers. An informant network (治安信息员) is never a register of people: it keeps no member
record at all, only its counts. Services flush, never commit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area, AreaLevel
from fangkong.community.models import (
    AreaResidents,
    PatrolShift,
    SafetyMember,
    SafetyTeam,
    ShiftMember,
    ShiftStatus,
    TeamKind,
)
from fangkong.community.schemas import MemberIn, ResidentsIn, ShiftIn, ShiftReportIn, TeamIn
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, as_system
from fangkong.core.security import FieldCipher

#: The level of the jurisdiction tree that is a "community" for the target "one team per
#: community": the beat area (警务责任区), which covers whole community grids (grid fusion).
COMMUNITY_LEVEL = AreaLevel.BEAT
#: Forces per 100,000 residents the standard asks for (at least).
FORCES_PER_100K_TARGET = 1000
#: Members a safety committee must have (at least).
COMMITTEE_MIN_MEMBERS = 3
#: The longest shift (hours).
MAX_SHIFT_HOURS = 24


# --- teams --------------------------------------------------------------------------------------


def _area_in_scope(session: Session, code: str, scope: Scope | None) -> Area:
    """The area by code; one unknown or outside ``scope`` names the field ``area``."""
    found = area_service.get_by_code(session, code=code.strip())
    if found is None or (scope is not None and not scope.covers(found.path)):
        raise NotFound(
            key="error.areas.area_not_found", params={"code": code.strip()}, field="area"
        )
    return found


def get(session: Session, *, team_id: int, scope: Scope | None) -> SafetyTeam | None:
    team = session.get(SafetyTeam, team_id)
    if team is None or (scope is not None and not scope.covers(team.area_path)):
        return None
    return team


def get_or_raise(session: Session, *, team_id: int, scope: Scope | None) -> SafetyTeam:
    """The team; one outside ``scope`` reads as not found."""
    team = get(session, team_id=team_id, scope=scope)
    if team is None:
        raise NotFound(key="error.community.team_not_found", params={"id": team_id}, field="id")
    return team


def get_by_code(session: Session, *, code: str) -> SafetyTeam | None:
    with as_system(session):
        return session.scalars(select(SafetyTeam).where(SafetyTeam.code == code)).one_or_none()


def teams_select(scope: Scope) -> Select[SafetyTeam]:
    return select(SafetyTeam).where(scope.clause(SafetyTeam.area_path))


def _check_counts(data: TeamIn) -> None:
    if data.kind is TeamKind.SAFETY_COMMITTEE and data.buildings:
        raise InvalidInput(key="error.community.committee_buildings", field="buildings")


def create_team(
    session: Session, *, data: TeamIn, actor: Actor, scope: Scope | None, audited: bool = True
) -> SafetyTeam:
    """Register a team serving an area of ``scope``."""
    code = data.code.strip()
    if get_by_code(session, code=code) is not None:
        raise Conflict(key="error.community.team_exists", params={"code": code}, field="code")
    _check_counts(data)
    area = _area_in_scope(session, data.area, scope)
    team = SafetyTeam(
        code=code,
        name=data.name.strip(),
        kind=data.kind,
        area_id=area.id,
        area_path=area.path,
        member_count=data.member_count,
        buildings=data.buildings,
        households=data.households,
        active=data.active,
    )
    session.add(team)
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="safety_team",
            entity_id=team.id,
            detail={"code": code},
            area_path=team.area_path,
        )
    return team


def update_team(
    session: Session,
    *,
    team: SafetyTeam,
    data: TeamIn,
    actor: Actor,
    scope: Scope | None,
    now: datetime,
    audited: bool = True,
) -> SafetyTeam:
    """Change a team's counts, name, area or whether it is active (its code and kind stay)."""
    if data.code.strip() != team.code:
        raise InvalidInput(key="error.community.code_fixed", field="code")
    if data.kind is not team.kind:
        raise InvalidInput(key="error.community.kind_fixed", field="kind")
    _check_counts(data)
    area = _area_in_scope(session, data.area, scope)
    team.name = data.name.strip()
    team.area_id, team.area_path = area.id, area.path
    team.member_count, team.buildings, team.households = (
        data.member_count,
        data.buildings,
        data.households,
    )
    if team.active and not data.active:
        team.disbanded_at = now
    elif data.active:
        team.disbanded_at = None
    team.active = data.active
    # The members follow their team's area (scoping needs no join).
    for member in session.scalars(select(SafetyMember).where(SafetyMember.team_id == team.id)):
        member.area_path = area.path
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="safety_team",
            entity_id=team.id,
            detail={"code": team.code},
            area_path=team.area_path,
        )
    return team


def recorded_members(session: Session, *, team_ids: list[int]) -> dict[int, int]:
    """Members recorded and not left, per team."""
    found: dict[int, int] = {i: 0 for i in team_ids}
    if not team_ids:
        return found
    for team_id, n in session.execute(
        select(SafetyMember.team_id, func.count())
        .where(SafetyMember.team_id.in_(team_ids), SafetyMember.left_at.is_(None))
        .group_by(SafetyMember.team_id)
    ):
        found[int(team_id)] = int(n)
    return found


# --- members ------------------------------------------------------------------------------------


def add_member(
    session: Session,
    *,
    team: SafetyTeam,
    data: MemberIn,
    cipher: FieldCipher,
    actor: Actor,
    now: datetime,
) -> SafetyMember:
    """Record a patrol's or committee's member (name and phone encrypted). An informant
    network keeps no member record: it is counted, never listed."""
    if team.kind is TeamKind.INFORMANT_NETWORK:
        raise InvalidInput(key="error.community.informants_counted", field="team_id")
    if not team.active:
        raise Conflict(key="error.community.team_inactive", params={"code": team.code})
    member = SafetyMember(
        team_id=team.id,
        area_path=team.area_path,
        name_encrypted=cipher.encrypt(data.name.strip()),
        phone_encrypted=cipher.encrypt(data.phone.strip()) if data.phone else None,
        joined_at=data.joined_at or now,
    )
    session.add(member)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="safety_member",
        entity_id=member.id,
        detail={"team": team.code},
        area_path=team.area_path,
    )
    return member


def members_of(session: Session, *, team: SafetyTeam, current: bool = True) -> list[SafetyMember]:
    query = select(SafetyMember).where(SafetyMember.team_id == team.id)
    if current:
        query = query.where(SafetyMember.left_at.is_(None))
    return list(session.scalars(query.order_by(SafetyMember.id)))


def get_member_or_raise(session: Session, *, team: SafetyTeam, member_id: int) -> SafetyMember:
    member = session.get(SafetyMember, member_id)
    if member is None or member.team_id != team.id:
        raise NotFound(
            key="error.community.member_not_found", params={"id": member_id}, field="member_id"
        )
    return member


def member_leaves(
    session: Session, *, team: SafetyTeam, member: SafetyMember, actor: Actor, now: datetime
) -> SafetyMember:
    """The member left: their name and phone go at the next purge (the register's rule)."""
    if member.left_at is None:
        member.left_at = now
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="leave",
            entity="safety_member",
            entity_id=member.id,
            detail={"team": team.code},
            area_path=team.area_path,
        )
    return member


# --- shifts and rosters -------------------------------------------------------------------------


def create_shift(
    session: Session, *, team: SafetyTeam, data: ShiftIn, actor: Actor, scope: Scope | None
) -> PatrolShift:
    """Put a shift on the team's roster, with the members on it (current members of the
    team); ``planned`` defaults to the members put on it."""
    if team.kind is TeamKind.INFORMANT_NETWORK:
        raise InvalidInput(key="error.community.informants_no_shift", field="team_id")
    if not team.active:
        raise Conflict(key="error.community.team_inactive", params={"code": team.code})
    hours = (data.ends_at - data.starts_at).total_seconds() / 3600
    if not 0 < hours <= MAX_SHIFT_HOURS:
        raise InvalidInput(
            key="error.community.shift_length", params={"max": MAX_SHIFT_HOURS}, field="ends_at"
        )
    area = (
        _area_in_scope(session, data.area, scope)
        if data.area
        else session.get_one(Area, team.area_id)
    )
    if not area.path.startswith(team.area_path):
        raise InvalidInput(
            key="error.community.shift_area", params={"code": area.code}, field="area"
        )
    ids = sorted(set(data.member_ids))
    members = (
        list(
            session.scalars(
                select(SafetyMember).where(
                    SafetyMember.id.in_(ids),
                    SafetyMember.team_id == team.id,
                    SafetyMember.left_at.is_(None),
                )
            )
        )
        if ids
        else []
    )
    if len(members) != len(ids):
        missing = sorted(set(ids) - {m.id for m in members})
        raise InvalidInput(
            key="error.community.shift_members",
            params={"ids": ", ".join(map(str, missing[:10]))},
            field="member_ids",
        )
    shift = PatrolShift(
        team_id=team.id,
        area_id=area.id,
        area_path=area.path,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        planned=data.planned or len(ids),
    )
    session.add(shift)
    session.flush()
    session.add_all([ShiftMember(shift_id=shift.id, member_id=i) for i in ids])
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="safety_shift",
        entity_id=shift.id,
        detail={"team": team.code, "members": len(ids)},
        area_path=area.path,
    )
    return shift


def get_shift_or_raise(session: Session, *, shift_id: int, scope: Scope | None) -> PatrolShift:
    shift = session.get(PatrolShift, shift_id)
    if shift is None or (scope is not None and not scope.covers(shift.area_path)):
        raise NotFound(
            key="error.community.shift_not_found", params={"id": shift_id}, field="shift_id"
        )
    return shift


def report_shift(
    session: Session, *, shift: PatrolShift, data: ShiftReportIn, actor: Actor
) -> PatrolShift:
    """Record how a shift went: done (with how many turned out) or cancelled."""
    if shift.status is not ShiftStatus.PLANNED:
        raise Conflict(
            key="error.community.shift_reported", params={"id": shift.id}, field="status"
        )
    if data.status is ShiftStatus.DONE:
        if data.turned_out is None:
            raise InvalidInput(key="error.community.turned_out_missing", field="turned_out")
        shift.turned_out = data.turned_out
    elif data.status is ShiftStatus.CANCELLED:
        shift.turned_out = None
    else:
        raise InvalidInput(key="error.community.shift_status", field="status")
    shift.status = data.status
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="report",
        entity="safety_shift",
        entity_id=shift.id,
        detail={"status": data.status.value, "turned_out": shift.turned_out},
        area_path=shift.area_path,
    )
    return shift


def shifts_select(
    scope: Scope,
    *,
    team_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[PatrolShift]:
    query = select(PatrolShift).where(scope.clause(PatrolShift.area_path))
    if team_id is not None:
        query = query.where(PatrolShift.team_id == team_id)
    if since is not None:
        query = query.where(PatrolShift.ends_at > since)
    if until is not None:
        query = query.where(PatrolShift.starts_at < until)
    return query


def roster_of(session: Session, *, shift_ids: list[int]) -> dict[int, list[int]]:
    """The members on each shift."""
    found: dict[int, list[int]] = {i: [] for i in shift_ids}
    if shift_ids:
        for shift_id, member_id in session.execute(
            select(ShiftMember.shift_id, ShiftMember.member_id)
            .where(ShiftMember.shift_id.in_(shift_ids))
            .order_by(ShiftMember.member_id)
        ):
            found[int(shift_id)].append(int(member_id))
    return found


# --- residents per area -------------------------------------------------------------------------


def set_residents(
    session: Session, *, area: Area, data: ResidentsIn, actor: Actor
) -> AreaResidents:
    """Enter (or change) an area's residents and households."""
    row = session.scalars(
        select(AreaResidents).where(AreaResidents.area_id == area.id)
    ).one_or_none()
    if row is None:
        row = AreaResidents(area_id=area.id, area_path=area.path, residents=0)
        session.add(row)
    row.residents, row.households = data.residents, data.households
    row.area_path = area.path
    row.updated_by = (actor.username or "")[:64]
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="residents",
        entity="area",
        entity_id=area.id,
        detail={"residents": data.residents, "households": data.households},
        area_path=area.path,
    )
    return row


# --- figures against the targets ----------------------------------------------------------------


@dataclass
class Figures:
    """One area's figures (every formula in docs/community.md)."""

    area: Area
    residents: int | None = None
    forces: int = 0
    committees: int = 0
    committees_with_3: int = 0
    communities: int = 0
    communities_with_team: int = 0
    informants: int = 0
    buildings: int = 0
    households: int = 0

    @property
    def forces_per_100k(self) -> float | None:
        """Members of active teams per 100,000 residents (None: no residents entered)."""
        return self.forces * 100_000 / self.residents if self.residents else None

    @property
    def forces_target_met(self) -> bool | None:
        per = self.forces_per_100k
        return None if per is None else per >= FORCES_PER_100K_TARGET

    @property
    def informants_per_building(self) -> float | None:
        return self.informants / self.buildings if self.buildings else None

    @property
    def informants_per_20_households(self) -> float | None:
        return self.informants * 20 / self.households if self.households else None


def _ancestors(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/" + "/".join(parts[:depth]) + "/" for depth in range(1, len(parts) + 1)]


def figures(session: Session, *, scope: Scope, root_path: str | None = None) -> list[Figures]:
    """Per area of ``scope`` (every level, under ``root_path``), by path: the residents (the
    area's own entry, else the sum of its children's), the forces (members of active teams),
    committees and those with at least :data:`COMMITTEE_MIN_MEMBERS` members, communities
    (areas of :data:`COMMUNITY_LEVEL`) and those with an active team, and the informant
    networks' members, buildings and households. O(areas + teams × depth)."""
    query = select(Area).where(scope.clause(Area.path))
    if root_path:
        query = query.where(Area.path.startswith(root_path, autoescape=True))
    areas = list(session.scalars(query.order_by(Area.path)))
    table = {a.path: Figures(area=a) for a in areas}
    entered = {
        path: residents
        for path, residents in session.execute(
            select(AreaResidents.area_path, AreaResidents.residents).where(
                scope.clause(AreaResidents.area_path)
            )
        )
    }
    # Residents: bottom-up, an area's own entry or the sum of its children's.
    children: dict[str, list[str]] = defaultdict(list)
    for area in areas:
        parent = _ancestors(area.path)[-2] if len(_ancestors(area.path)) > 1 else None
        if parent is not None and parent in table:
            children[parent].append(area.path)
    for area in sorted(areas, key=lambda a: -a.path.count("/")):
        row = table[area.path]
        if area.path in entered:
            row.residents = int(entered[area.path])
        else:
            below = [table[c].residents for c in children[area.path]]
            known = [b for b in below if b is not None]
            row.residents = sum(known) if known else None
    teams = session.scalars(
        teams_select(scope).where(SafetyTeam.active.is_(True))
        if not root_path
        else teams_select(scope).where(
            SafetyTeam.active.is_(True),
            or_(
                SafetyTeam.area_path.startswith(root_path, autoescape=True),
                SafetyTeam.area_path == root_path,
            ),
        )
    ).all()
    served: set[str] = set()
    for team in teams:
        for ancestor in _ancestors(team.area_path):
            found = table.get(ancestor)
            if found is None:
                continue
            row = found
            row.forces += team.member_count
            if row.area.level is COMMUNITY_LEVEL:
                served.add(ancestor)
            if team.kind is TeamKind.SAFETY_COMMITTEE:
                row.committees += 1
                row.committees_with_3 += int(team.member_count >= COMMITTEE_MIN_MEMBERS)
            elif team.kind is TeamKind.INFORMANT_NETWORK:
                row.informants += team.member_count
                row.buildings += team.buildings
                row.households += team.households
    for area in areas:
        if area.level is not COMMUNITY_LEVEL:
            continue
        for ancestor in _ancestors(area.path):
            above = table.get(ancestor)
            if above is not None:
                above.communities += 1
                above.communities_with_team += int(area.path in served)
    return [table[a.path] for a in areas]
