"""The key-facility register: facilities placed in their areas with their protection; their
inspections (cases of the ``inspection`` type linked to them) and the rates per area and
facility type.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, and_, cast, func, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case, CaseLink
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope, as_system
from fangkong.core.text_match import contains_text
from fangkong.facilities._common import check_code, check_name, place
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.rules import RuleDecl, active_rules, evaluate
from fangkong.facilities.schemas import FacilityIn, InspectionIn

INSPECTION = "inspection"
LINK_KIND = "facility"
#: The inspection's states in which a rectification is under way.
RECTIFYING = "rectifying"


def get(session: Session, *, facility_id: int, scope: Scope | None) -> Facility | None:
    facility = session.get(Facility, facility_id)
    if facility is None or (scope is not None and not scope.covers(facility.area_path)):
        return None
    return facility


def get_or_raise(session: Session, *, facility_id: int, scope: Scope | None) -> Facility:
    """The facility; one outside ``scope`` reads as not found."""
    facility = get(session, facility_id=facility_id, scope=scope)
    if facility is None:
        raise NotFound(
            key="error.facilities.not_found", params={"id": facility_id}, field="facility_id"
        )
    return facility


def get_by_code(session: Session, *, code: str, scope: Scope | None) -> Facility | None:
    facility = session.scalars(select(Facility).where(Facility.code == code)).one_or_none()
    if facility is None or (scope is not None and not scope.covers(facility.area_path)):
        return None
    return facility


@dataclass(frozen=True)
class FacilityFilter:
    text: str | None = None
    facility_type: FacilityType | None = None
    area_path: str | None = None


def facilities_query(scope: Scope, filters: FacilityFilter = FacilityFilter()) -> Select[Facility]:
    """Facilities in ``scope`` matching ``filters`` (a select to page, sort or export)."""
    query = select(Facility).where(scope.clause(Facility.area_path))
    if filters.text:
        query = query.where(
            contains_text(filters.text, Facility.code, Facility.name, Facility.address)
        )
    if filters.facility_type is not None:
        query = query.where(Facility.facility_type == filters.facility_type)
    if filters.area_path:
        query = query.where(Facility.area_path.startswith(filters.area_path, autoescape=True))
    return query


def get_all(
    session: Session,
    *,
    scope: Scope,
    filters: FacilityFilter = FacilityFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Facility]]:
    """Facilities by code: (total, page)."""
    query = facilities_query(scope, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Facility.code).limit(limit).offset(offset))
    return int(total), list(page)


def _apply(facility: Facility, data: FacilityIn) -> None:
    facility.name = check_name(data.name)
    facility.facility_type = data.facility_type
    facility.address = data.address.strip()
    for name in (
        "staff_count",
        "guards_full_time",
        "guards_part_time",
        "physical_barriers",
        "alarm_networked",
        "video_networked",
        "school_gate_post",
        "closed_management",
    ):
        setattr(facility, name, getattr(data, name))


def create(
    session: Session,
    *,
    data: FacilityIn,
    actor: Actor,
    scope: Scope | None,
    source: str = "manual",
    source_ref: str | None = None,
    audited: bool = True,
) -> Facility:
    """Register a key facility at its point (in ``scope``)."""
    code = check_code(data.code)
    with as_system(session):  # a code is unique across the county, seen or not
        taken = session.scalars(select(Facility.id).where(Facility.code == code)).first()
    if taken is not None:
        raise Conflict(key="error.facilities.exists", params={"code": code}, field="code")
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=scope)
    facility = Facility(
        code=code,
        lon=data.lon,
        lat=data.lat,
        h3_cell=cell,
        area_id=area_id,
        area_path=area_path,
        source=source,
        source_ref=source_ref,
    )
    _apply(facility, data)
    session.add(facility)
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="facility",
            entity_id=facility.id,
            detail={"code": code},
            area_path=area_path,
        )
    return facility


def update(
    session: Session,
    *,
    facility: Facility,
    data: FacilityIn,
    actor: Actor,
    scope: Scope | None,
    audited: bool = True,
) -> Facility:
    """Change a facility's record (its code stays)."""
    if data.code.strip() != facility.code:
        raise InvalidInput(key="error.facilities.code_fixed", field="code")
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=scope)
    _apply(facility, data)
    facility.lon, facility.lat, facility.h3_cell = data.lon, data.lat, cell
    facility.area_id, facility.area_path = area_id, area_path
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="facility",
            entity_id=facility.id,
            detail={"code": facility.code},
            area_path=area_path,
        )
    return facility


# --- inspections -------------------------------------------------------------------------------


def inspections_of(session: Session, *, facility_ids: list[int]) -> dict[int, list[Case]]:
    """The inspection cases linked to each facility, latest first."""
    found: dict[int, list[Case]] = {i: [] for i in facility_ids}
    if not facility_ids:
        return found
    rows = session.execute(
        select(CaseLink.ref_id, Case)
        .join(Case, Case.id == CaseLink.case_id)
        .where(
            CaseLink.kind == LINK_KIND,
            CaseLink.ref_id.in_([str(i) for i in facility_ids]),
            Case.case_type == INSPECTION,
        )
        .order_by(Case.opened_at.desc(), Case.id.desc())
    ).all()
    for ref, case in rows:
        found[int(ref)].append(case)
    return found


def open_inspection(
    session: Session,
    *,
    facility: Facility,
    data: InspectionIn,
    user: User | None,
    actor: Actor,
    now: datetime,
    calendar: BusinessCalendar,
    rules: list[RuleDecl] | None = None,
) -> Case:
    """Open an inspection case for ``facility``, linked to it, in its area. With the trigger
    ``rule_failure`` and no rules named, it names every rule the facility fails now (and
    there must be one)."""
    named = list(data.rules or [])
    if data.trigger == "rule_failure" and not named:
        named = [r.code for r in evaluate(facility, rules or active_rules(session)) if not r.passed]
        if not named:
            raise InvalidInput(key="error.facilities.no_failed_rule", field="rules")
    area = session.get_one(Area, facility.area_id) if facility.area_id else None
    if area is None:
        raise InvalidInput(key="error.facilities.no_area", field="facility_id")
    fields: dict[str, object] = {"trigger": data.trigger}
    if named:
        fields["rules"] = ", ".join(named)[:500]
    case = cases.create(
        session,
        case_type=INSPECTION,
        title=f"{facility.code} {facility.name}"[:200],
        area=area,
        fields=fields,
        user=user,
        actor=actor,
        now=now,
        calendar=calendar,
        lon=facility.lon,
        lat=facility.lat,
    )
    cases.add_link(
        session,
        case=case,
        kind=LINK_KIND,
        ref_id=str(facility.id),
        label=facility.code,
        user=user,
        actor=actor,
        now=now,
    )
    return case


# --- rates per area and facility type --------------------------------------------------------


@dataclass
class Rates:
    """One area and facility type (``all``: every type)."""

    area_code: str
    area_name_zh: str
    area_name_en: str
    level: str
    facility_type: str
    facilities: int = 0
    compliant: int = 0
    inspected: int = 0
    overdue_rectifications: int = 0
    open_inspections: int = 0

    @property
    def compliant_share(self) -> float | None:
        return self.compliant / self.facilities if self.facilities else None

    @property
    def inspected_share(self) -> float | None:
        return self.inspected / self.facilities if self.facilities else None


def quarter_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The first moment of ``now``'s quarter in ``zone``."""
    local = now.astimezone(zone)
    month = 3 * ((local.month - 1) // 3) + 1
    return local.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)


def rates(
    session: Session,
    *,
    scope: Scope,
    now: datetime,
    zone: ZoneInfo,
    root_path: str | None = None,
) -> list[Rates]:
    """Per area of ``scope`` (every level, under ``root_path``) and facility type: the
    facilities, how many comply with every rule that applies to them, how many had an
    inspection opened this quarter (not cancelled), and their inspections open and those
    whose rectification is overdue. Formula: compliant share = compliant / facilities;
    inspected share = inspected this quarter / facilities."""
    areas = session.scalars(
        select(Area)
        .where(scope.clause(Area.path))
        .where(Area.path.startswith(root_path, autoescape=True) if root_path else and_(True))
        .order_by(Area.path)
    ).all()
    facilities = session.scalars(
        facilities_query(scope).where(
            Facility.area_path.startswith(root_path, autoescape=True) if root_path else and_(True)
        )
    ).all()
    rules = active_rules(session)
    since = quarter_start(now, zone).astimezone(UTC)
    inspected: set[int] = set()
    overdue: dict[int, int] = defaultdict(int)
    open_count: dict[int, int] = defaultdict(int)
    ids = [f.id for f in facilities]
    for start in range(0, len(ids), 1000):
        chunk = [str(i) for i in ids[start : start + 1000]]
        for ref, opened, state, closed, due in session.execute(
            select(
                cast(CaseLink.ref_id, String),
                Case.opened_at,
                Case.state,
                Case.closed_at,
                Case.due_at,
            )
            .join(Case, Case.id == CaseLink.case_id)
            .where(
                CaseLink.kind == LINK_KIND,
                CaseLink.ref_id.in_(chunk),
                Case.case_type == INSPECTION,
            )
        ):
            fid = int(ref)
            if opened >= since and state != "cancelled":
                inspected.add(fid)
            if closed is None:
                open_count[fid] += 1
                if state == RECTIFYING and due is not None and due < now:
                    overdue[fid] += 1
    table: dict[tuple[str, str], Rates] = {}
    by_path = {a.path: a for a in areas}
    for area in areas:
        for kind in ("all", *(t.value for t in FacilityType)):
            table[(area.path, kind)] = Rates(
                area.code, area.name_zh, area.name_en, area.level.value, kind
            )
    for facility in facilities:
        ok = all(r.passed for r in evaluate(facility, rules))
        path = facility.area_path or ""
        parts = [p for p in path.strip("/").split("/") if p]
        for depth in range(1, len(parts) + 1):
            ancestor = "/" + "/".join(parts[:depth]) + "/"
            if ancestor not in by_path:
                continue
            for kind in ("all", facility.facility_type.value):
                row = table[(ancestor, kind)]
                row.facilities += 1
                row.compliant += int(ok)
                row.inspected += int(facility.id in inspected)
                row.overdue_rectifications += overdue.get(facility.id, 0)
                row.open_inspections += open_count.get(facility.id, 0)
    return list(table.values())
