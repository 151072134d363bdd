"""The demo county's indicator system (issue 20): a year of figures, targets, manual inputs
and a task ledger, so that the prevention office (the ``evaluator`` login) opens a dashboard
with months behind it.

- Figures: every month of the year up to this one computed from the demo's records (its year
  of incidents, its hazards and disputes) and stored; the registers' figures (devices,
  facilities) are the registers as they stand when the demo is built, for every month.
- Targets: the county's own for this year (online rate 92 %, a 3-minute share of 85 % in the
  central district), the others the documents' defaults.
- Manual inputs: each month's value for the county and its districts (where the indicator
  applies to their level) of the indicators fangkong does not hold, drawn near their targets
  (some below, so that red shows; counts whole).
- Task ledger: eight tasks of the year with responsible units; those past their deadline
  are supervised on the case engine (they stand on the supervision board).

Everything is seeded, so a rebuilt demo has the same records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel
from fangkong.cases.calendar import BusinessCalendar
from fangkong.core.audit import Actor
from fangkong.core.scoping import Scope
from fangkong.indicators import catalogue, inputs, store, targets, tasks
from fangkong.indicators.periods import last_months, month_of

OFFICE = Actor(user_id=None, username="evaluator", client="demo")
WHOLE = Scope(paths=("/",))
TASKS = [
    ("视频监控补点（城乡结合部）", "县公安局科信大队", ["devices.density.urban_fringe"]),
    ("卡口联网改造", "县公安局交警大队", ["devices.checkpoint_networked_rate"]),
    ("学校一键报警联网", "县教育局", ["facilities.compliance.school"]),
    ("社区警务室标准化建设", "县公安局治安大队", ["manual.community_police_share"]),
    ("矛盾纠纷调处中心全覆盖", "县司法局", ["manual.mediation_centre_coverage"]),
    ("隐患排查百日行动", "县综治中心", ["cases.hazard.resolution_rate"]),
    ("一村一探头", "各乡镇人民政府", ["manual.village_cameras"]),
    ("快速反应圈层优化", "县公安局指挥中心", ["response.ring_3min", "response.ring_5min"]),
]

#: Plausible values for the manual inputs that have no target (reported figures).
REPORTED: dict[str, float] = {"manual.patrol_daily": 267.0}


@dataclass
class IndicatorsReport:
    months: int = 0
    figures: int = 0
    inputs: int = 0
    tasks: int = 0
    supervised: int = 0


def build_demo_indicators(
    session: Session,
    *,
    now: datetime,
    zone: ZoneInfo,
    calendar: BusinessCalendar,
    rng_seed: int = 20,
) -> IndicatorsReport:
    """The demo's targets, manual inputs, tasks and a year of stored figures (the caller
    commits)."""
    rng = random.Random(rng_seed)
    report = IndicatorsReport()
    this_month = month_of(now, zone)
    months = last_months(this_month, 12)
    county = session.scalars(select(Area).where(Area.parent_id.is_(None)).order_by(Area.id)).first()
    if county is None:
        return report
    districts = list(
        session.scalars(
            select(Area)
            .where(Area.parent_id == county.id, Area.level == AreaLevel.DISTRICT)
            .order_by(Area.code)
        )
    )
    targets.set_target(
        session,
        indicator_id="devices.online_rate",
        year=this_month.year,
        value=0.92,
        area=None,
        note="县2026年度目标",
        actor=OFFICE,
        scope=WHOLE,
        now=now,
    )
    if districts:
        targets.set_target(
            session,
            indicator_id="response.ring_3min",
            year=this_month.year,
            value=0.85,
            area=districts[0],
            note="中心城区从严",
            actor=OFFICE,
            scope=WHOLE,
            now=now,
        )
    manual = [d for d in catalogue.all_indicators() if d.manual]
    for month in months:
        for where in [county, *districts]:
            for decl in manual:
                if where.level.value not in {lv.value for lv in decl.levels}:
                    continue
                goal = decl.target.value or REPORTED.get(decl.id, 1.0)
                spread = 0.12 if decl.unit == "percent" else 0.2
                value = goal * (1 + rng.uniform(-spread, spread / 2))
                if decl.unit == "percent":
                    value = min(1.0, max(0.0, value))
                elif decl.unit == "count":
                    value = float(round(value))
                inputs.enter(
                    session,
                    indicator_id=decl.id,
                    area=where,
                    period=month,
                    value=round(value, 4),
                    actor=OFFICE,
                    now=now,
                )
                report.inputs += 1
    today = now.astimezone(zone).date()
    places = [county, *districts]
    for n, (title, unit, linked) in enumerate(TASKS, start=1):
        deadline = today + timedelta(days=rng.randint(-90, 150))
        progress = 100 if deadline < today and rng.random() < 0.4 else rng.randint(0, 90)
        tasks.create(
            session,
            code=f"RW-{this_month.year}-{n:02d}",
            title=title,
            responsible_unit=unit,
            area=places[n % len(places)],
            deadline=deadline,
            progress=progress,
            indicator_ids=linked,
            actor=OFFICE,
        )
        report.tasks += 1
    report.supervised = len(
        tasks.supervise_overdue(
            session, scope=WHOLE, actor=OFFICE, now=now, zone=zone, calendar=calendar
        )
    )
    for month in months:
        report.figures += len(store.figures(session, period=month, scope=WHOLE, now=now, zone=zone))
        report.months += 1
    return report
