"""Demo cases for the demo county: hazards and disputes across every state, some overdue.

Cases are walked through the real engine with a simulated clock: each one is found at a random
time in the last 120 days and moves on after a random share of its state's deadline (about one
step in five runs late), stopping where the next step would lie in the future. A final tick at
``now`` flags what is overdue and escalates. Party names and contacts are synthetic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel
from fangkong.cases import registry, service
from fangkong.cases.calendar import BusinessCalendar, shift
from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.models import Role, User
from fangkong.core.security import FieldCipher

HISTORY_DAYS = 120
HAZARD_TITLES = {
    "fire": ["消防通道堵塞", "电动车楼道充电", "灭火器过期", "疏散指示灯损坏"],
    "traffic": ["路口信号灯故障", "学校门口缺少减速带", "道路坑洼积水", "夜间路灯不亮"],
    "structural": ["老旧房屋墙体开裂", "广告牌松动", "围墙倾斜", "危桥护栏缺失"],
    "chemical": ["加油站油气回收异常", "危化品存放不规范", "小作坊违规存放溶剂"],
    "crowd": ["集市人员密集无疏导", "商场安全出口上锁", "广场活动无安保方案"],
    "public_order": ["出租屋管理混乱", "娱乐场所噪音扰民", "夜市无照经营聚集"],
    "other": ["井盖缺失", "河道护栏损坏", "工地围挡破损"],
}
DISPUTE_TITLES = {
    "neighbour": "邻里纠纷",
    "family": "家庭纠纷",
    "domestic_violence": "家庭暴力求助",
    "marriage": "婚姻纠纷",
    "property": "物业服务纠纷",
    "labour": "拖欠工资纠纷",
    "land": "宅基地纠纷",
    "contract": "合同纠纷",
    "consumer": "消费纠纷",
    "other": "其他纠纷",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
DEPARTMENTS_INTERNAL = ["派出所治安组", "社区警务室", "巡特警大队"]
DEPARTMENTS_EXTERNAL = ["住建局", "消防救援大队", "应急管理局", "市场监管所", "交通运输局"]


@dataclass
class DemoCasesReport:
    hazards: int = 0
    disputes: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    overdue: int = 0


class _Walker:
    def __init__(
        self,
        session: Session,
        rng: random.Random,
        now: datetime,
        calendar: BusinessCalendar,
        cipher: FieldCipher,
    ) -> None:
        self.session = session
        self.rng = rng
        self.now = now
        self.calendar = calendar
        self.cipher = cipher
        users = list(session.scalars(select(User).where(User.is_active).order_by(User.id)))
        self.actors = {role: [u for u in users if u.role is role] for role in Role}

    def actor(self, roles: tuple[Role, ...]) -> Actor:
        for role in roles:
            if role is not Role.ADMIN and self.actors.get(role):
                user = self.rng.choice(self.actors[role])
                return Actor(user_id=user.id, username=user.username, client="demo")
        return SYSTEM

    def step_time(self, decl: CaseTypeDecl, case: Case, at: datetime) -> datetime:
        """When the case moves on: a random share of its deadline, late about one time in 5."""
        deadline = decl.state(case.state).deadline
        if deadline is None or case.due_at is None:
            return at + timedelta(hours=self.rng.uniform(2, 72))
        share = (
            self.rng.uniform(1.05, 2.5)
            if self.rng.random() < 0.2
            else (self.rng.uniform(0.1, 0.95))
        )
        total = (
            (case.due_at - at).total_seconds() / 3600
            if deadline.clock == "calendar"
            else (self.calendar.working_hours_between(at, case.due_at))
        )
        return shift(at, max(total * share, 0.25), clock=deadline.clock, calendar=self.calendar)

    def move(
        self, case: Case, name: str, at: datetime, fields: dict[str, Any], note: str | None = None
    ) -> bool:
        """Take the transition at ``at`` unless that lies in the future."""
        if at >= self.now:
            return False
        decl = service.decl_of(case)
        spec = decl.transition(name)
        assert spec is not None
        service.transition(
            self.session,
            case=case,
            name=name,
            fields=fields,
            note=note,
            user=None,
            actor=self.actor(spec.roles),
            now=at,
            calendar=self.calendar,
            cipher=self.cipher,
        )
        return True


def _hazard(w: _Walker, area: Area, opened: datetime) -> Case:
    rng = w.rng
    decl = registry.get("hazard")
    category = rng.choice(list(HAZARD_TITLES))
    case = service.create(
        w.session,
        case_type="hazard",
        title=rng.choice(HAZARD_TITLES[category]),
        area=area,
        fields={
            "finding_route": rng.choice(decl.field("finding_route").options),
            "category": category,
            "place": f"{area.name_zh}",
        },
        user=None,
        actor=w.actor(decl.create_roles),
        now=opened,
        calendar=w.calendar,
    )
    at = w.step_time(decl, case, opened)
    if rng.random() < 0.05:
        w.move(case, "dismiss", at, {"reason": "经核查不构成隐患"})
        return case
    grade = rng.choices(["major", "significant", "general", "low"], [1, 3, 8, 6])[0]
    if not w.move(
        case,
        "assess",
        at,
        {"assessment_level": rng.choice(["grid", "station", "county"]), "risk_grade": grade},
    ):
        return case
    at = w.step_time(decl, case, at)
    if rng.random() < 0.7:
        moved = w.move(case, "route_internal", at, {"department": rng.choice(DEPARTMENTS_INTERNAL)})
    else:
        moved = w.move(case, "route_external", at, {"department": rng.choice(DEPARTMENTS_EXTERNAL)})
    if not moved:
        return case
    for _ in range(3):
        at = w.step_time(decl, case, at)
        if not w.move(case, "report_handled", at, {"measures": "已现场整改并落实防范措施"}):
            return case
        at = w.step_time(decl, case, at)
        passed = rng.random() < 0.85
        if not w.move(
            case,
            "pass_reinspection" if passed else "fail_reinspection",
            at,
            {"reinspection_result": "整改到位" if passed else "整改不彻底"},
        ):
            return case
        if passed:
            break
    if case.closed_at is not None and rng.random() < 0.05:
        w.move(case, "reopen", at + timedelta(days=rng.uniform(3, 20)), {"reason": "隐患复发"})
    return case


def _person(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))
    return name, "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))


def _dispute(w: _Walker, area: Area, opened: datetime, mediators: list[User]) -> Case:
    rng = w.rng
    decl = registry.get("dispute")
    category = rng.choices(list(DISPUTE_TITLES), [8, 4, 1, 2, 3, 3, 2, 2, 2, 1])[0]
    parties = [
        service.PartyIn("applicant", *_person(rng)),
        service.PartyIn("respondent", *_person(rng)),
    ]
    threats = rng.random() < 0.05
    case = service.create(
        w.session,
        case_type="dispute",
        title=DISPUTE_TITLES[category],
        area=area,
        fields={
            "category": category,
            "channel": rng.choices(["people", "administrative", "judicial"], [6, 2, 1])[0],
            "source": rng.choice(decl.field("source").options),
            "threats_recorded": threats,
            "weapons_recorded": False,
        },
        parties=parties,
        user=None,
        actor=w.actor(decl.create_roles),
        now=opened,
        calendar=w.calendar,
        cipher=w.cipher,
    )
    at = w.step_time(decl, case, opened)
    if not mediators or rng.random() < 0.04:
        w.move(case, "withdraw", at, {"reason": "当事人自行和解"})
        return case
    if not w.move(case, "assign_mediator", at, {"mediator": rng.choice(mediators).id}):
        return case
    for _ in range(rng.choice([1, 1, 2, 3])):
        at += timedelta(days=rng.uniform(1, 8))
        failed = rng.random() < 0.3
        if not w.move(
            case,
            "hold_session",
            at,
            {
                "session_at": at.isoformat(),
                "session_result": "failed" if failed else "progress",
                "session_note": "双方陈述意见，调解员释法说理",
            },
        ):
            return case
    at = w.step_time(decl, case, at)
    outcome = rng.random()
    if outcome < 0.78:
        if not w.move(
            case,
            "record_agreement",
            at,
            {
                "agreement_text": f"{parties[1].name}于十日内向{parties[0].name}"
                f"赔偿并书面致歉，双方不再追究。"
            },
        ):
            return case
        at += timedelta(days=rng.uniform(20, 40))
        if rng.random() < 0.06:
            w.move(case, "follow_up_broken", at, {"reason": "协议未履行"})
        else:
            w.move(
                case,
                "follow_up",
                at,
                {"follow_up_result": rng.choice(["fulfilled", "fulfilled", "partially_fulfilled"])},
            )
    elif outcome < 0.93:
        w.move(
            case,
            "record_no_agreement",
            at,
            {"referral": rng.choice(decl.field("referral").options), "reason": "双方分歧较大"},
        )
    else:
        w.move(case, "withdraw", at, {"reason": "申请人撤回"})
    return case


def build_demo_cases(
    session: Session,
    *,
    rng_seed: int,
    now: datetime,
    cipher: FieldCipher,
    hazards: int = 240,
    disputes: int = 160,
    calendar: BusinessCalendar | None = None,
) -> DemoCasesReport:
    """Add demo hazards and disputes to the areas in ``session`` (the caller commits).

    Hazards go to every grid (or the deepest level there is); disputes to the grids that a
    mediator can see, so that each can be assigned (none are mediated where there is no
    mediator: those are withdrawn). Deterministic for a given ``rng_seed`` and ``now``.
    """
    rng = random.Random(rng_seed)
    calendar = calendar or BusinessCalendar()
    walker = _Walker(session, rng, now, calendar, cipher)
    areas = list(
        session.scalars(select(Area).where(Area.level == AreaLevel.GRID).order_by(Area.code))
    )
    if not areas:
        areas = list(session.scalars(select(Area).order_by(Area.code)))
    if not areas:
        return DemoCasesReport()
    seeing = {
        a.id: service.assignable_users(session, case_path=a.path, roles=[Role.MEDIATOR])
        for a in areas
    }
    mediated = [a for a in areas if seeing[a.id]]
    report = DemoCasesReport()

    def opened_at() -> datetime:
        return now - timedelta(hours=rng.uniform(1, HISTORY_DAYS * 24))

    for _ in range(hazards):
        _hazard(walker, rng.choice(areas), opened_at())
        report.hazards += 1
    for _ in range(disputes):
        # Most disputes go where a mediator works, so that most can be mediated.
        area = rng.choice(mediated if mediated and rng.random() < 0.9 else areas)
        _dispute(walker, area, opened_at(), seeing[area.id])
        report.disputes += 1
    service.tick(session, now=now, calendar=calendar)
    for case in session.scalars(select(Case)):
        report.by_state[f"{case.case_type}.{case.state}"] = (
            report.by_state.get(f"{case.case_type}.{case.state}", 0) + 1
        )
        report.overdue += int(service.is_overdue(case, now))
    return report
