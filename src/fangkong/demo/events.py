"""The demo county's large events and emergency plans (issue 22).

Three applications: a lantern festival on a square drawn around the county's busiest key
facility, under way today and approved, with its security plan (entrances, a command post, a
medical point) on the command map; a city marathon on the streets next month, under review;
a concert at a key facility, sent back for documents. Emergency plans for five incident
categories over the whole county, their tiers drawn from the demo's posts, the planning
checkpoints to close and the hospitals to notify; one drill three days ago, confirmed, its
units on scene in their road time (a fifth slower), closed, with a finding.

Deterministic for a given ``now`` (no random draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Incident, IncidentStatus, Post, UnitStatus
from fangkong.events import activations, plans, register
from fangkong.events.models import EmergencyPlan, SecurityPostKind, StepKind, VenueKind
from fangkong.events.schemas import EventIn, FindingIn, PlanIn, PostIn
from fangkong.facilities.models import Facility, FacilityType
from fangkong.network.service import Network
from fangkong.planning.models import Checkpoint

#: Half the side of the festival's square (degrees, about 220 m).
HALF = 0.002
PLAN_SPECS: tuple[tuple[str, str, str, int, int, int], ...] = (
    # code, name, category, level, first target (s), first tier target (s)
    ("YA-ZA-2", "大型活动人群聚集处置预案", "public_order", 2, 300, 600),
    ("YA-HZ-2", "火灾事故联动处置预案", "fire", 2, 300, 480),
    ("YA-JY-1", "踩踏及群死群伤救援预案", "rescue", 1, 240, 480),
    ("YA-JT-3", "重大交通事故处置预案", "traffic", 3, 420, 900),
    ("YA-XS-1", "持械暴力犯罪处置预案", "criminal", 1, 180, 420),
)


@dataclass
class EventsReport:
    events: int = 0
    posts: int = 0
    plans: int = 0
    drills: int = 0


def _venue(session: Session) -> Facility | None:
    """The key facility the festival is held beside: a market or an entertainment venue, else
    any."""
    for kind in (FacilityType.MARKET, FacilityType.ENTERTAINMENT, FacilityType.TRANSPORT_HUB):
        found = session.scalars(
            select(Facility).where(Facility.facility_type == kind).order_by(Facility.code)
        ).first()
        if found is not None:
            return found
    return session.scalars(select(Facility).order_by(Facility.code)).first()


def _approve(
    session: Session, case_id: int | None, now: datetime, calendar: BusinessCalendar
) -> None:
    if case_id is None:
        return
    case = session.get_one(Case, case_id)
    cases.transition(
        session,
        case=case,
        name="approve",
        fields={"conditions": "限流 9,000 人；主入口安检；19:30 后单向疏散"},
        user=None,
        actor=SYSTEM,
        now=now,
        calendar=calendar,
    )


def build_events(
    session: Session, *, now: datetime, cipher: FieldCipher, calendar: BusinessCalendar
) -> tuple[int, int]:
    """The three applications; (applications, posts)."""
    venue = _venue(session)
    if venue is None:
        return 0, 0
    lon, lat = venue.lon, venue.lat
    ring = [
        [lon - HALF, lat - HALF],
        [lon + HALF, lat - HALF],
        [lon + HALF, lat + HALF],
        [lon - HALF, lat + HALF],
    ]
    today = now.replace(minute=0, second=0, microsecond=0)
    festival = register.create(
        session,
        data=EventIn(
            code="HD-2026-001",
            name="元宵灯会",
            organiser="县文化旅游发展有限公司",
            contact_name="周敏",
            contact_phone="13905550101",
            venue_polygon=ring,
            venue_kind=VenueKind.SQUARE,
            capacity=12_000,
            expected_attendance=9_000,
            starts_at=today - timedelta(hours=2),
            ends_at=today + timedelta(hours=6),
        ),
        user=None,
        actor=SYSTEM,
        cipher=cipher,
        scope=None,
        now=now - timedelta(days=10),
        calendar=calendar,
    )
    _approve(session, festival.case_id, now - timedelta(days=6), calendar)
    posts = [
        (SecurityPostKind.ENTRANCE, "北入口", lon, lat + HALF, 8),
        (SecurityPostKind.ENTRANCE, "南入口", lon, lat - HALF, 8),
        (SecurityPostKind.ENTRANCE, "东入口", lon + HALF, lat, 6),
        (SecurityPostKind.ENTRANCE, "西入口", lon - HALF, lat, 6),
        (SecurityPostKind.COMMAND, "现场指挥部", lon, lat, 5),
        (SecurityPostKind.MEDICAL, "医疗点", lon + HALF / 2, lat - HALF / 2, 3),
    ]
    for post_kind, name, x, y, staff in posts:
        register.add_post(
            session,
            event=festival,
            data=PostIn(kind=post_kind, name=name, lon=x, lat=y, staffing=staff),
            actor=SYSTEM,
            scope=None,
        )
    made = 1
    for code, name, kind, capacity, attendance, days, shift_lon in (
        ("HD-2026-002", "县城半程马拉松", VenueKind.STREET, 20_000, 15_000, 30, 0.01),
        ("HD-2026-003", "新年音乐会", VenueKind.INDOOR_HALL, 3_000, 2_800, 12, -0.01),
    ):
        corners = [[x + shift_lon, y] for x, y in ring]
        try:
            event = register.create(
                session,
                data=EventIn(
                    code=code,
                    name=name,
                    organiser="县体育总会" if kind == VenueKind.STREET else "县文化馆",
                    contact_phone="13905550102",
                    venue_polygon=corners,
                    venue_kind=kind,
                    capacity=capacity,
                    expected_attendance=attendance,
                    starts_at=today + timedelta(days=days),
                    ends_at=today + timedelta(days=days, hours=5),
                ),
                user=None,
                actor=SYSTEM,
                cipher=cipher,
                scope=None,
                now=now - timedelta(days=1),
                calendar=calendar,
            )
        except FangkongError:  # a corner off the county's areas: that event is left out
            continue
        made += 1
        if kind == VenueKind.INDOOR_HALL and event.case_id is not None:
            cases.transition(
                session,
                case=session.get_one(Case, event.case_id),
                name="ask_more",
                fields={"missing": "场馆消防验收合格证明；安保人员名单"},
                user=None,
                actor=SYSTEM,
                now=now - timedelta(hours=20),
                calendar=calendar,
            )
    return made, len(posts)


def build_plans(session: Session) -> list[EmergencyPlan]:
    """The five plans over the whole county, tiers from the demo's posts."""
    post_codes = list(session.scalars(select(Post.code).order_by(Post.code).limit(6)))
    checkpoints = list(session.scalars(select(Checkpoint.code).order_by(Checkpoint.code).limit(3)))
    hospitals = list(
        session.scalars(
            select(Facility.code)
            .where(Facility.facility_type == FacilityType.HOSPITAL)
            .order_by(Facility.code)
            .limit(2)
        )
    )
    city = session.scalars(select(Area).where(Area.parent_id.is_(None)).order_by(Area.id)).first()
    if city is None:
        return []
    made = []
    for code, name, category, level, first, full in PLAN_SPECS:
        tiers: list[dict[str, object]] = [
            {"unit_types": ["car"], "count": 2, "max_travel_s": 600},
            {"unit_types": ["car", "motorcycle"], "count": 2, "max_travel_s": 900},
        ]
        if post_codes:
            tiers.append({"unit_types": ["foot"], "post_codes": post_codes[:3], "count": 2})
        made.append(
            plans.create_plan(
                session,
                data=PlanIn.model_validate(
                    {
                        "code": code,
                        "name": name,
                        "category": category,
                        "level": level,
                        "area_code": city.code,
                        "tiers": tiers,
                        "checkpoint_codes": checkpoints if category != "fire" else [],
                        "facility_codes": hospitals,
                        "target_first_s": first,
                        "target_full_s": full,
                    }
                ),
                actor=SYSTEM,
                scope=None,
            )
        )
    return made


def build_drill(
    session: Session,
    *,
    plan: EmergencyPlan,
    network: Network,
    now: datetime,
    cipher: FieldCipher,
    calendar: BusinessCalendar,
) -> bool:
    """One drill three days before ``now`` at the festival's venue (or the first post): the
    proposals confirmed, each unit on scene a fifth slower than its road time, the simulated
    incident closed (its units free again), one finding recorded."""
    festival = register.get_by_code(session, code="HD-2026-001", scope=None)
    where = (festival.lon, festival.lat) if festival is not None else None
    if where is None:
        post = session.scalars(select(Post).order_by(Post.code)).first()
        if post is None:
            return False
        where = (post.lon, post.lat)
    started = now - timedelta(days=3)
    units = dispatch.get_units(session, scope=SYSTEM_SCOPE, status=UnitStatus.AVAILABLE)
    try:
        drill = activations.start_drill(
            session,
            plan=plan,
            lon=where[0],
            lat=where[1],
            subtype="gathering" if plan.category == "public_order" else "other",
            priority=None,
            network=network,
            units=units,
            scope=None,
            user=None,
            actor=SYSTEM,
            now=started,
            cipher=cipher,
        )
    except FangkongError:  # the point off the roads: no drill in the demo
        return False
    if not drill.proposals:
        return True
    activations.confirm(
        session,
        activation=drill,
        unit_ids=None,
        scope=SYSTEM_SCOPE,
        user=None,
        actor=SYSTEM,
        now=started + timedelta(seconds=40),
    )
    incident = session.get_one(Incident, drill.incident_id)
    for proposal in sorted(drill.proposals, key=lambda p: p["time_s"]):
        unit = dispatch.get_unit_or_raise(session, unit_id=proposal["unit_id"], scope=None)
        dispatch.arrive(
            session,
            incident=incident,
            unit=unit,
            actor=SYSTEM,
            now=started + timedelta(seconds=40 + 1.2 * float(proposal["time_s"])),
        )
    # The facilities told within minutes; the checkpoints closed one by one, the last nine
    # minutes after the activation (the finding below).
    rows = activations.steps_of(session, drill)
    for kind, within in ((StepKind.FACILITY, 4.0), (StepKind.CHECKPOINT, 9.0)):
        ours = [r for r in rows if r.kind == kind]
        for i, row in enumerate(ours):
            activations.mark_step(
                session,
                activation=drill,
                kind=kind,
                ref_id=row.ref_id,
                user=None,
                actor=SYSTEM,
                now=started + timedelta(minutes=within * (i + 1) / len(ours)),
            )
    last = started + timedelta(minutes=45)
    dispatch.transition(
        session, incident=incident, to=IncidentStatus.CLEARED, actor=SYSTEM, now=last
    )
    dispatch.transition(
        session, incident=incident, to=IncidentStatus.CLOSED, actor=SYSTEM, now=last
    )
    activations.end(session, activation=drill, actor=SYSTEM, now=last)
    activations.add_finding(
        session,
        activation=drill,
        data=FindingIn(
            aspect="checkpoints",
            severity="general",
            finding="外围卡口封控指令下达后 9 分钟才全部到位，超出预案 5 分钟要求。",
        ),
        user=None,
        actor=SYSTEM,
        now=last,
        calendar=calendar,
    )
    return True


def build_demo_events(
    session: Session,
    *,
    network: Network,
    now: datetime,
    cipher: FieldCipher,
    calendar: BusinessCalendar,
) -> EventsReport:
    """The demo's events, plans and drill (the caller commits)."""
    report = EventsReport()
    report.events, report.posts = build_events(session, now=now, cipher=cipher, calendar=calendar)
    made = build_plans(session)
    report.plans = len(made)
    if made:
        report.drills = int(
            build_drill(
                session, plan=made[0], network=network, now=now, cipher=cipher, calendar=calendar
            )
        )
    return report
