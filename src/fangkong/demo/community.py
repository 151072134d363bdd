"""The demo county's community safety forces, public tips and seized property (issue 22).

- Teams: a safety committee and a volunteer patrol in most communities (beat areas; about
  one in six has no team, so that the figure "one team per community" has something to
  show; a few committees have fewer than three members), an informant network per station
  counted over its buildings and households; residents entered per community.
- Members and rosters: three patrols record a few members (made-up names and phones) and
  have shifts in the coming week, one already reported.
- Tips: a handful from the public, each a hazard case (one rejected for its link).
- Seized property: items at each station with chains of every kind — stored, moved,
  examined, returned, disposed — one corrected, and some overdue (received days ago and
  never stored), whose alerts are opened on the supervision board.

Everything is seeded, so a rebuilt demo has the same records.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.storage import AttachmentStorage
from fangkong.community import service as community
from fangkong.community import tips
from fangkong.community.models import ShiftStatus, TeamKind, TipCategory
from fangkong.community.schemas import (
    MemberIn,
    PublicTipIn,
    ResidentsIn,
    ShiftIn,
    ShiftReportIn,
    TeamIn,
)
from fangkong.core.audit import SYSTEM
from fangkong.core.security import FieldCipher
from fangkong.custody import service as custody
from fangkong.custody.models import ItemCategory, RefKind, Stage
from fangkong.custody.schemas import CorrectionIn, ItemIn, StepIn

RNG_SEED = 22
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["建国", "秀英", "志强", "丽华", "海燕", "国庆", "桂兰", "明"]
TIP_TEXTS = [
    (TipCategory.FIRE, "楼道里堆满纸箱和旧家具，消防通道被堵住了"),
    (TipCategory.TRAFFIC, "学校门口的斑马线看不清了，早上孩子过马路很危险"),
    (TipCategory.STRUCTURAL, "老房子外墙有裂缝，下雨后掉了几块砖"),
    (TipCategory.PUBLIC_ORDER, "夜市收摊后常有人在路口聚集喝酒争吵"),
    (TipCategory.CHEMICAL, "小区旁边的空地上放着几桶没有标签的液体"),
    (TipCategory.OTHER, "看这里 http://example.com 有便宜货"),
]


@dataclass
class CommunityReport:
    teams: int = 0
    members: int = 0
    shifts: int = 0
    tips: int = 0
    items: int = 0
    alerts: int = 0


def _levels(session: Session, level: AreaLevel) -> list[Area]:
    return list(session.scalars(select(Area).where(Area.level == level).order_by(Area.code)))


def build_teams(
    session: Session, *, now: datetime, cipher: FieldCipher, rng: random.Random
) -> tuple[int, int, int]:
    """Teams, residents, members and shifts; (teams, members, shifts)."""
    teams = members = shifts = 0
    for station in _levels(session, AreaLevel.STATION):
        community.create_team(
            session,
            data=TeamIn(
                code=f"XX-{station.code}",
                name=f"{station.name_zh}治安信息员",
                kind=TeamKind.INFORMANT_NETWORK,
                area=station.code,
                member_count=rng.randint(8, 40),
                buildings=rng.randint(20, 80),
                households=rng.randint(600, 2400),
            ),
            actor=SYSTEM,
            scope=None,
        )
        teams += 1
    patrols = []
    for i, beat in enumerate(_levels(session, AreaLevel.BEAT)):
        community.set_residents(
            session,
            area=beat,
            data=ResidentsIn(residents=rng.randint(2000, 12000), households=rng.randint(700, 4000)),
            actor=SYSTEM,
        )
        if i % 6 == 5:
            continue  # a community with no team at all: the gap the figures show
        community.create_team(
            session,
            data=TeamIn(
                code=f"ZB-{beat.code}",
                name=f"{beat.name_zh}治保会",
                kind=TeamKind.SAFETY_COMMITTEE,
                area=beat.code,
                member_count=2 if i % 7 == 3 else rng.randint(3, 7),
            ),
            actor=SYSTEM,
            scope=None,
        )
        teams += 1
        patrols.append(
            community.create_team(
                session,
                data=TeamIn(
                    code=f"XL-{beat.code}",
                    name=f"{beat.name_zh}平安志愿者巡逻队",
                    kind=TeamKind.VOLUNTEER_PATROL,
                    area=beat.code,
                    member_count=rng.randint(10, 90),
                ),
                actor=SYSTEM,
                scope=None,
            )
        )
        teams += 1
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    for team in patrols[:3]:
        recorded = []
        for _ in range(3):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            phone = "139" + "".join(rng.choice("0123456789") for _ in range(8))
            recorded.append(
                community.add_member(
                    session,
                    team=team,
                    data=MemberIn(name=name, phone=phone),
                    cipher=cipher,
                    actor=SYSTEM,
                    now=now,
                )
            )
            members += 1
        for day in range(-1, 3):
            shift = community.create_shift(
                session,
                team=team,
                data=ShiftIn(
                    starts_at=start + timedelta(days=day),
                    ends_at=start + timedelta(days=day, hours=3),
                    member_ids=[m.id for m in recorded[: 2 + day % 2]],
                ),
                actor=SYSTEM,
                scope=None,
            )
            shifts += 1
            if day < 0:
                community.report_shift(
                    session,
                    shift=shift,
                    data=ShiftReportIn(status=ShiftStatus.DONE, turned_out=2),
                    actor=SYSTEM,
                )
    return teams, members, shifts


def build_tips(
    session: Session,
    *,
    now: datetime,
    cipher: FieldCipher,
    storage: AttachmentStorage,
    calendar: BusinessCalendar,
    rng: random.Random,
) -> int:
    """A few tips from the public, through the same intake as the public page's."""
    grids = _levels(session, AreaLevel.GRID)
    if not grids:
        return 0
    taken = 0
    for k, (category, text) in enumerate(TIP_TEXTS):
        grid = grids[(k * 7) % len(grids)]
        lon, lat = _inside(grid)
        token = tips.issue_token(cipher, now_s=time.time() - 60)
        tips.take_tip(
            session,
            data=PublicTipIn(
                category=category,
                text=text,
                lon=lon,
                lat=lat,
                contact="" if k % 2 else "1371234" + f"{k:04d}",
                token=token,
                nonce=tips.solve(token, 4),
            ),
            photo=None,
            cipher=cipher,
            storage=storage,
            calendar=calendar,
            now=now - timedelta(hours=rng.randint(1, 72)),
            difficulty=4,
        )
        taken += 1
    return taken


def _inside(area: Area) -> tuple[float, float]:
    """A point inside the area (of its polygon, not its box)."""
    point = shapely.from_wkb(area.geometry_wkb).representative_point()
    return float(point.x), float(point.y)


ITEMS = [
    (ItemCategory.ELECTRONICS, "手机", [(Stage.STORED, 2, "涉案财物库 A-1", "")]),
    (
        ItemCategory.VEHICLE,
        "电动自行车",
        [
            (Stage.STORED, 3, "停车场 P-4", ""),
            (Stage.MOVED, 200, "分局集中库", ""),
            (Stage.STORED, 205, "分局集中库 C-2", ""),
        ],
    ),
    (
        ItemCategory.CASH,
        "现金",
        [(Stage.STORED, 1, "保险柜 S-1", ""), (Stage.RETURNED, 300, "", "发还清单 2026-031")],
    ),
    (
        ItemCategory.DRUG,
        "疑似毒品",
        [
            (Stage.EXAMINED, 4, "鉴定中心", ""),
            (Stage.STORED, 100, "涉案财物库 D-1", ""),
            (Stage.DISPOSED, 400, "", "销毁决定书 2026-07"),
        ],
    ),
    (ItemCategory.WEAPON, "管制刀具", [(Stage.STORED, 5, "涉案财物库 W-2", "")]),
    (ItemCategory.VALUABLES, "金项链", []),  # received days ago, never stored: overdue
]


def build_custody(session: Session, *, now: datetime, rng: random.Random) -> int:
    """Items at each station with chains of every kind; some overdue."""
    made = 0
    for s, station in enumerate(_levels(session, AreaLevel.STATION)):
        for k, (category, what, steps) in enumerate(ITEMS):
            received = now - timedelta(days=rng.randint(3, 40), hours=k)
            item = custody.create_item(
                session,
                data=ItemIn(
                    code=f"SW-{station.code}-{k + 1:02d}",
                    category=category,
                    description=what,
                    ref_kind=RefKind.INCIDENT if k % 2 else RefKind.CASE,
                    ref_number=f"{'JQ' if k % 2 else 'AJ'}2026{s:02d}{k:03d}",
                    area=station.code,
                    received_at=received,
                    handled_by="值班民警",
                    location="现场",
                ),
                actor=SYSTEM,
                scope=None,
                now=now,
            )
            made += 1
            for stage, hours, location, document in steps:
                at = min(received + timedelta(hours=hours), now)
                custody.record_step(
                    session,
                    item=item,
                    data=StepIn(
                        stage=stage,
                        occurred_at=at,
                        handled_by="保管员",
                        location=location,
                        document=document,
                    ),
                    actor=SYSTEM,
                    now=now,
                )
            if k == 0 and s == 0:  # a shelf written wrongly, corrected
                first_store = custody.steps_of(session, item=item)[1]
                custody.correct_step(
                    session,
                    item=item,
                    step_id=first_store.id,
                    data=CorrectionIn(location="涉案财物库 A-7"),
                    actor=SYSTEM,
                    now=now,
                )
    return made


def build_demo_community(
    session: Session,
    *,
    now: datetime,
    cipher: FieldCipher,
    storage: AttachmentStorage,
    calendar: BusinessCalendar,
) -> CommunityReport:
    """The demo's community forces, tips and seized property (the caller commits)."""
    rng = random.Random(RNG_SEED)
    report = CommunityReport()
    report.teams, report.members, report.shifts = build_teams(
        session, now=now, cipher=cipher, rng=rng
    )
    report.tips = build_tips(
        session, now=now, cipher=cipher, storage=storage, calendar=calendar, rng=rng
    )
    report.items = build_custody(session, now=now, rng=rng)
    report.alerts = len(custody.raise_alerts(session, now=now, calendar=calendar, actor=SYSTEM))
    session.flush()
    return report
