"""Large-event security applications: registered by the organiser's details with the venue (a
key facility or a drawn polygon), graded by the rule of :mod:`~fangkong.events.risk`, and
approved on the case engine (an ``event_approval`` case linked to the application); the
security plan's posts; the posts of the events running at a moment for the command map.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope, as_system
from fangkong.core.security import FieldCipher
from fangkong.core.text_match import contains_text
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Unit
from fangkong.events import risk
from fangkong.events._common import centroid, check_code, check_name, check_polygon, place
from fangkong.events.models import EventApplication, SecurityPost
from fangkong.events.schemas import EventIn, PostIn
from fangkong.facilities import register as facilities

APPROVAL = "event_approval"
LINK_KIND = "event"
#: The approval's state in which an event may run (its posts go on the command map).
APPROVED = "approved"


def get(session: Session, *, event_id: int, scope: Scope | None) -> EventApplication | None:
    event = session.get(EventApplication, event_id)
    if event is None or (scope is not None and not scope.covers(event.area_path)):
        return None
    return event


def get_or_raise(session: Session, *, event_id: int, scope: Scope | None) -> EventApplication:
    """The application; one outside ``scope`` reads as not found."""
    event = get(session, event_id=event_id, scope=scope)
    if event is None:
        raise NotFound(key="error.events.not_found", params={"id": event_id}, field="event_id")
    return event


def get_by_code(session: Session, *, code: str, scope: Scope | None) -> EventApplication | None:
    event = session.scalars(
        select(EventApplication).where(EventApplication.code == code)
    ).one_or_none()
    if event is None or (scope is not None and not scope.covers(event.area_path)):
        return None
    return event


def base_select(scope: Scope) -> Select[EventApplication]:
    return select(EventApplication).where(scope.clause(EventApplication.area_path))


def get_all(
    session: Session, *, scope: Scope, text: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[int, list[EventApplication]]:
    """Applications of ``scope``, latest start first: (total, page)."""
    query = base_select(scope)
    if text:
        query = query.where(
            contains_text(
                text, EventApplication.code, EventApplication.name, EventApplication.organiser
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(EventApplication.starts_at.desc(), EventApplication.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(total), list(page)


@dataclass(frozen=True)
class Venue:
    """Where an event is held: its point (the facility's or the polygon's centre) and the
    points that stand for it (the facility's point, or the polygon's corners and centre)."""

    lon: float
    lat: float
    facility_id: int | None
    polygon: list[list[float]] | None

    @property
    def points(self) -> list[tuple[float, float]]:
        corners = [(p[0], p[1]) for p in self.polygon or []]
        return [(self.lon, self.lat), *corners]


def venue_of(session: Session, data: EventIn, scope: Scope | None) -> Venue:
    """The venue the application names: a facility of the reader's areas or a polygon (one of
    the two)."""
    if (data.facility_id is None) == (data.venue_polygon is None):
        raise InvalidInput(key="error.events.venue_one", field="facility_id")
    if data.facility_id is not None:
        facility = facilities.get_or_raise(session, facility_id=data.facility_id, scope=scope)
        return Venue(facility.lon, facility.lat, facility.id, None)
    corners = check_polygon([list(p) for p in data.venue_polygon or []])
    lon, lat = centroid(corners)
    return Venue(lon, lat, None, corners)


def venue_of_event(event: EventApplication) -> Venue:
    return Venue(event.lon, event.lat, event.facility_id, event.venue_polygon)


def _check(data: EventIn) -> None:
    if data.ends_at <= data.starts_at:
        raise InvalidInput(key="error.events.ends_before", field="ends_at")


def assess(session: Session, *, data: EventIn, venue: Venue, now: datetime) -> risk.Assessment:
    """The rule applied to the application at ``now`` (its incident history counted then)."""
    incidents = risk.incident_history(session, points=venue.points, now=now)
    return risk.assess(
        attendance=data.expected_attendance,
        capacity=data.capacity,
        venue_kind=data.venue_kind,
        incidents=incidents,
    )


def _apply(
    session: Session,
    event: EventApplication,
    data: EventIn,
    venue: Venue,
    cipher: FieldCipher,
    scope: Scope | None,
    now: datetime,
) -> None:
    event.name = check_name(data.name)
    event.organiser = check_name(data.organiser, field="organiser")
    # A contact left out keeps the one on record (an import without the columns).
    if data.contact_name:
        event.contact_name_encrypted = cipher.encrypt(data.contact_name.strip())
    if data.contact_phone:
        event.contact_phone_encrypted = cipher.encrypt(data.contact_phone.strip())
    event.facility_id, event.venue_polygon = venue.facility_id, venue.polygon
    event.venue_kind = data.venue_kind
    event.capacity, event.expected_attendance = data.capacity, data.expected_attendance
    event.starts_at, event.ends_at = data.starts_at, data.ends_at
    area_id, area_path, cell = place(session, lon=venue.lon, lat=venue.lat, scope=scope)
    event.lon, event.lat, event.h3_cell = venue.lon, venue.lat, cell
    event.area_id, event.area_path = area_id, area_path
    graded = assess(session, data=data, venue=venue, now=now)
    event.risk_grade, event.risk_score = graded.grade, graded.score
    event.risk_factors = graded.factors_json()


def create(
    session: Session,
    *,
    data: EventIn,
    user: User | None,
    actor: Actor,
    cipher: FieldCipher,
    scope: Scope | None,
    now: datetime,
    calendar: BusinessCalendar,
    audited: bool = True,
) -> EventApplication:
    """Register an application, grade it and open its approval case (linked to it), whose
    review deadline runs from now."""
    _check(data)
    code = check_code(data.code)
    with as_system(session):  # a code is unique across the county, seen or not
        taken = session.scalars(
            select(EventApplication.id).where(EventApplication.code == code)
        ).first()
    if taken is not None:
        raise Conflict(key="error.events.exists", params={"code": code}, field="code")
    venue = venue_of(session, data, scope)
    event = EventApplication(code=code)
    _apply(session, event, data, venue, cipher, scope, now)
    session.add(event)
    session.flush()
    area = session.get_one(Area, event.area_id) if event.area_id else None
    if area is None:  # placed above: never
        raise InvalidInput(key="error.events.point_range", field="lon")
    case = cases.create(
        session,
        case_type=APPROVAL,
        title=f"{event.code} {event.name}"[:200],
        area=area,
        fields={"risk_grade": event.risk_grade.value},
        user=user,
        actor=actor,
        now=now,
        calendar=calendar,
        lon=event.lon,
        lat=event.lat,
    )
    cases.add_link(
        session,
        case=case,
        kind=LINK_KIND,
        ref_id=str(event.id),
        label=event.code,
        user=user,
        actor=actor,
        now=now,
    )
    event.case_id = case.id
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="event_application",
            entity_id=event.id,
            detail={"code": code, "risk_grade": event.risk_grade.value},
            area_path=event.area_path,
        )
    return event


def update(
    session: Session,
    *,
    event: EventApplication,
    data: EventIn,
    actor: Actor,
    cipher: FieldCipher,
    scope: Scope | None,
    now: datetime,
    audited: bool = True,
) -> EventApplication:
    """Change an application (its code stays) and grade it again; refused once it is
    approved (what was approved is what is held: reconsidering the decision takes it back
    to review first)."""
    if approved(session, event):
        raise Conflict(key="error.events.approved_fixed", params={"code": event.code})
    if data.code.strip() != event.code:
        raise InvalidInput(key="error.events.code_fixed", field="code")
    _check(data)
    _apply(session, event, data, venue_of(session, data, scope), cipher, scope, now)
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="event_application",
            entity_id=event.id,
            detail={"code": event.code, "risk_grade": event.risk_grade.value},
            area_path=event.area_path,
        )
    return event


def case_of(session: Session, event: EventApplication) -> Case | None:
    return session.get(Case, event.case_id) if event.case_id else None


def approved(session: Session, event: EventApplication) -> bool:
    case = case_of(session, event)
    return case is not None and case.state == APPROVED


# --- the security plan -------------------------------------------------------------------------


def _units(session: Session, ids: list[int], scope: Scope | None) -> list[Unit]:
    if len(set(ids)) != len(ids):
        raise InvalidInput(key="error.events.unit_twice", field="unit_ids")
    return [dispatch.get_unit_or_raise(session, unit_id=i, scope=scope) for i in ids]


def add_post(
    session: Session,
    *,
    event: EventApplication,
    data: PostIn,
    actor: Actor,
    scope: Scope | None,
) -> SecurityPost:
    """Add a point to the event's security plan, with its staffing and assigned units (of the
    reader's areas)."""
    units = _units(session, list(data.unit_ids), scope)
    post = SecurityPost(
        event_id=event.id,
        kind=data.kind,
        name=check_name(data.name, limit=64),
        lon=data.lon,
        lat=data.lat,
        staffing=data.staffing,
        unit_ids=[u.id for u in units],
    )
    event.posts.append(post)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="event_application",
        entity_id=event.id,
        detail={"post_added": post.name, "kind": post.kind.value},
        area_path=event.area_path,
    )
    return post


def remove_post(session: Session, *, event: EventApplication, post_id: int, actor: Actor) -> None:
    post = next((p for p in event.posts if p.id == post_id), None)
    if post is None:
        raise NotFound(key="error.events.post_not_found", params={"id": post_id}, field="post_id")
    event.posts.remove(post)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="event_application",
        entity_id=event.id,
        detail={"post_removed": post.name},
        area_path=event.area_path,
    )


def call_signs(session: Session, posts: list[SecurityPost]) -> dict[int, str]:
    """Call signs of the units the posts name, by unit id."""
    ids = sorted({i for p in posts for i in p.unit_ids})
    if not ids:
        return {}
    with as_system(session):  # the plan names them; their records are not shown
        rows = session.execute(select(Unit.id, Unit.call_sign).where(Unit.id.in_(ids))).all()
    return {int(i): str(c) for i, c in rows}


def running(session: Session, *, scope: Scope, at: datetime) -> list[EventApplication]:
    """Approved events of ``scope`` under way at ``at`` (their posts go on the command map)."""
    rows = session.scalars(
        base_select(scope)
        .join(Case, Case.id == EventApplication.case_id)
        .where(
            EventApplication.starts_at <= at,
            EventApplication.ends_at >= at,
            Case.state == APPROVED,
        )
        .order_by(EventApplication.starts_at)
    )
    return list(rows)
