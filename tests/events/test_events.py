"""Large-event security on both backends: the risk rule's bands and factors, applications on
a facility or a drawn polygon with their approval case and deadline, the organiser's contact
encrypted, masked and read with an audit event, the security plan's rings checked on the
road network, and the posts of approved events on the day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from dispatch.dispatch_helpers import scope_of
from events.events_helpers import (
    ACTOR,
    CIPHER,
    GRID,
    T0,
    add_event,
    event_in,
    square,
    street_network,
)
from factories import grid_centre
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Priority, Source
from fangkong.events import personal, register, rings
from fangkong.events.models import RiskGrade, SecurityPostKind, VenueKind
from fangkong.events.risk import assess
from fangkong.events.schemas import PostIn
from fangkong.facilities import register as facilities
from fangkong.facilities.models import FacilityType
from fangkong.facilities.schemas import FacilityIn
from fangkong.network.service import Network


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return street_network(Path(tmp_path_factory.mktemp("events-network")))


def points(attendance: int, capacity: int, kind: VenueKind, incidents: int) -> dict[str, int]:
    graded = assess(attendance=attendance, capacity=capacity, venue_kind=kind, incidents=incidents)
    return {f.factor: f.points for f in graded.factors}


def test_the_rule_bands_each_factor_at_its_limits() -> None:
    hall = VenueKind.INDOOR_HALL
    assert points(999, 10**6, hall, 0)["attendance"] == 0
    assert points(1_000, 10**6, hall, 0)["attendance"] == 1
    assert points(4_999, 10**6, hall, 0)["attendance"] == 1
    assert points(5_000, 10**6, hall, 0)["attendance"] == 2
    assert points(19_999, 10**6, hall, 0)["attendance"] == 2
    assert points(20_000, 10**6, hall, 0)["attendance"] == 3
    assert points(700, 1_000, hall, 0)["occupancy"] == 0
    assert points(701, 1_000, hall, 0)["occupancy"] == 1
    assert points(900, 1_000, hall, 0)["occupancy"] == 1
    assert points(1_000, 1_000, hall, 0)["occupancy"] == 2
    assert points(1_001, 1_000, hall, 0)["occupancy"] == 3
    assert points(10, 100, hall, 9)["incident_history"] == 1
    assert points(10, 100, hall, 10)["incident_history"] == 2
    assert points(10, 100, hall, 50)["incident_history"] == 3
    assert points(10, 100, VenueKind.STREET, 0)["venue_kind"] == 3


def test_the_grade_is_the_banded_sum_with_its_floor() -> None:
    low = assess(attendance=800, capacity=2_000, venue_kind=VenueKind.THEATRE, incidents=0)
    assert (low.grade, low.score) == (RiskGrade.LOW, 1)
    medium = assess(attendance=3_000, capacity=4_000, venue_kind=VenueKind.STADIUM, incidents=3)
    assert (medium.grade, medium.score) == (RiskGrade.MEDIUM, 5)  # 1 + 1 + 2 + 1
    very = assess(attendance=30_000, capacity=31_000, venue_kind=VenueKind.STREET, incidents=60)
    assert (very.grade, very.score) == (RiskGrade.VERY_HIGH, 11)
    # A small gathering over the venue's capacity is at least high whatever the sum.
    over = assess(attendance=500, capacity=400, venue_kind=VenueKind.THEATRE, incidents=0)
    assert (over.score, over.grade) == (4, RiskGrade.HIGH)
    assert [f.band for f in over.factors] == ["< 1000", "> 1", "theatre", "< 1"]


def test_an_application_is_graded_with_the_place_history_and_opens_its_approval(
    db: Session,
) -> None:
    lon, lat = grid_centre(GRID)
    for i in range(12):  # within 500 m of the venue in the past year
        dispatch.create(
            db,
            key=f"ev-hist-{i}",
            data=dispatch.IncidentIn(
                category="public_order",
                subtype="fight",
                priority=Priority.P3,
                source=Source.CALL,
                lon=lon + 0.001,
                lat=lat,
            ),
            actor=SYSTEM,
            now=T0 - timedelta(days=30),
            cipher=CIPHER,
        )
    for key, source, when in (
        ("ev-hist-sim", Source.SIMULATED, T0 - timedelta(days=3)),  # a drill: not counted
        ("ev-hist-old", Source.CALL, T0 - timedelta(days=400)),  # too old
    ):
        dispatch.create(
            db,
            key=key,
            data=dispatch.IncidentIn(
                category="public_order",
                subtype="fight",
                priority=Priority.P3,
                source=source,
                lon=lon,
                lat=lat,
            ),
            actor=SYSTEM,
            now=when,
            cipher=CIPHER,
        )
    event = add_event(db, "EV-1")
    factors = {f["factor"]: f for f in event.risk_factors}
    assert factors["incident_history"]["value"] == 12
    assert factors["incident_history"]["points"] == 2
    assert factors["attendance"]["points"] == 2 and factors["occupancy"]["points"] == 0
    assert (event.risk_score, event.risk_grade) == (6, RiskGrade.MEDIUM)
    assert (round(event.lon, 6), round(event.lat, 6)) == (round(lon, 6), round(lat, 6))
    case = db.get_one(Case, event.case_id)
    assert (case.case_type, case.state, case.data["risk_grade"]) == (
        "event_approval",
        "reviewing",
        "medium",
    )
    assert case.due_at is not None and case.due_at > T0
    assert [(link.kind, link.ref_id) for link in case.links] == [("event", str(event.id))]
    with pytest.raises(Conflict):
        add_event(db, "EV-1")


def test_the_contact_is_encrypted_masked_and_read_with_an_audit_event(db: Session) -> None:
    event = add_event(db, "EV-2")
    assert "李四" not in (event.contact_name_encrypted or "")
    assert "13700001111" not in (event.contact_phone_encrypted or "")
    assert personal.masked_contact(event, CIPHER) == ("李*", "137******11")
    assert personal.reveal_contact(db, event=event, viewer=None, cipher=CIPHER, actor=ACTOR) == (
        "李四",
        "13700001111",
    )
    read = db.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "read_personal", AuditEvent.entity_id == str(event.id)
        )
    ).all()
    assert len(read) == 1
    # Kept a year after the event ended, then cleared.
    ended = event.ends_at
    personal.purge(db, now=ended + timedelta(days=364), actor=SYSTEM)
    db.refresh(event)
    assert event.contact_phone_encrypted is not None
    cleared = personal.purge(db, now=ended + timedelta(days=366), actor=SYSTEM)
    db.refresh(event)
    assert cleared[personal.CONTACT_PHONE] >= 1
    assert (event.contact_name_encrypted, event.contact_phone_encrypted) == (None, None)


def test_a_venue_is_a_facility_or_a_polygon_in_the_readers_areas(db: Session) -> None:
    lon, lat = grid_centre(GRID)
    facility = facilities.create(
        db,
        data=FacilityIn(
            code="EV-F1", name="体育馆", facility_type=FacilityType.ENTERTAINMENT, lon=lon, lat=lat
        ),
        actor=ACTOR,
        scope=None,
    )
    event = add_event(
        db,
        "EV-3",
        venue_polygon=None,
        facility_id=facility.id,
        venue_kind=VenueKind.STADIUM,
        capacity=5_000,
        expected_attendance=5_000,
    )
    assert (event.facility_id, event.venue_polygon, event.lon) == (facility.id, None, lon)
    with pytest.raises(InvalidInput) as both:
        add_event(db, "EV-4", facility_id=facility.id)
    assert both.value.key == "error.events.venue_one"
    with pytest.raises(InvalidInput) as line:
        add_event(db, "EV-5", venue_polygon=[[lon, lat], [lon + 0.001, lat], [lon + 0.002, lat]])
    assert line.value.key == "error.events.polygon"
    with pytest.raises(InvalidInput) as backwards:
        add_event(db, "EV-6", ends_at=T0)
    assert backwards.value.key == "error.events.ends_before"
    other = scope_of(db, "T-D2")
    with pytest.raises(InvalidInput) as outside:
        register.create(
            db,
            data=event_in("EV-7"),
            user=None,
            actor=ACTOR,
            cipher=CIPHER,
            scope=other,
            now=T0,
            calendar=CALENDAR,
        )
    assert outside.value.key == "error.events.point_outside"
    assert register.get(db, event_id=event.id, scope=other) is None
    with pytest.raises(NotFound):
        register.get_or_raise(db, event_id=event.id, scope=other)


def test_the_plans_rings_are_checked_against_the_venue_on_the_roads(
    db: Session, network: Network
) -> None:
    lon, lat = grid_centre(GRID)
    event = add_event(db, "EV-8", venue_polygon=square(lon, lat, 0.004))
    far = register.add_post(
        db,
        event=event,
        data=PostIn(name="远端岗", lon=lon + 0.03, lat=lat + 0.03, staffing=4),
        actor=ACTOR,
        scope=None,
    )
    alone = rings.check(network, event)
    assert alone.posts == 1 and not alone.passed
    assert all(p.time_s is None or p.time_s > 180 for p in alone.points)
    register.add_post(
        db,
        event=event,
        data=PostIn(
            kind=SecurityPostKind.ENTRANCE, name="东门", lon=lon + 0.004, lat=lat, staffing=6
        ),
        actor=ACTOR,
        scope=None,
    )
    register.add_post(
        db,
        event=event,
        data=PostIn(kind=SecurityPostKind.COMMAND, name="指挥部", lon=lon, lat=lat, staffing=3),
        actor=ACTOR,
        scope=None,
    )
    both = rings.check(network, event)
    assert both.posts == 3 and len(both.points) == 5  # the centre and four corners
    assert both.passed and both.share(180) == 1.0
    assert all(p.post in ("东门", "指挥部") for p in both.points)
    centre = both.points[0]
    assert centre.post == "指挥部" and centre.time_s is not None and centre.time_s < 30
    register.remove_post(db, event=event, post_id=far.id, actor=ACTOR)
    assert [p.name for p in event.posts] == ["东门", "指挥部"]


def test_only_approved_events_under_way_put_their_posts_on_the_map(db: Session) -> None:
    event = add_event(db, "EV-9")
    lon, lat = grid_centre(GRID)
    register.add_post(
        db, event=event, data=PostIn(name="北门", lon=lon, lat=lat), actor=ACTOR, scope=None
    )
    during = event.starts_at + timedelta(hours=1)
    assert event not in register.running(db, scope=SYSTEM_SCOPE, at=during)
    case = db.get_one(Case, event.case_id)
    cases.transition(
        db,
        case=case,
        name="approve",
        fields={"conditions": "限流 8,000 人"},
        user=None,
        actor=ACTOR,
        now=T0 + timedelta(days=1),
        calendar=CALENDAR,
    )
    assert event in register.running(db, scope=SYSTEM_SCOPE, at=during)
    assert event not in register.running(db, scope=SYSTEM_SCOPE, at=event.ends_at + timedelta(1))
    assert event not in register.running(db, scope=scope_of(db, "T-D2"), at=during)


def test_an_application_is_edited_until_it_is_approved(db: Session) -> None:
    event = add_event(db, "EV-10")
    changed = register.update(
        db,
        event=event,
        data=event_in("EV-10", expected_attendance=25_000, capacity=30_000),
        actor=ACTOR,
        cipher=CIPHER,
        scope=None,
        now=T0,
    )
    assert changed.expected_attendance == 25_000 and changed.risk_grade != RiskGrade.LOW
    cases.transition(
        db,
        case=db.get_one(Case, event.case_id),
        name="approve",
        fields={"conditions": "限流"},
        user=None,
        actor=ACTOR,
        now=T0 + timedelta(days=1),
        calendar=CALENDAR,
    )
    with pytest.raises(Conflict) as refused:
        register.update(
            db,
            event=event,
            data=event_in("EV-10", expected_attendance=40_000, capacity=30_000),
            actor=ACTOR,
            cipher=CIPHER,
            scope=None,
            now=T0 + timedelta(days=2),
        )
    assert refused.value.key == "error.events.approved_fixed"
    db.refresh(event)
    assert event.expected_attendance == 25_000
