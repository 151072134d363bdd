"""The demo's indicator system on the test county, on both backends: a year of stored figures,
the county's targets, manual inputs for every month, the task ledger with its overdue tasks
supervised; the dashboard then shows targets missed and met."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from fangkong.cases.models import Case
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.demo.indicators import build_demo_indicators
from fangkong.indicators import catalogue, dashboard, tasks
from fangkong.indicators.models import IndicatorInput, IndicatorTask, IndicatorValue
from fangkong.indicators.periods import month_of
from indicators.indicator_helpers import NOW, ZONE, a_month


def test_a_year_of_figures_for_the_demo(db: Session) -> None:
    a_month(db, seed=31, incidents=8, hazards=4)
    report = build_demo_indicators(db, now=NOW, zone=ZONE, calendar=CALENDAR)
    assert report.months == 12
    periods = db.scalars(select(IndicatorValue.period).distinct()).all()
    assert len(set(periods)) == 12 and max(periods) == month_of(NOW, ZONE).key
    manual = [d for d in catalogue.all_indicators() if d.manual]
    # the county and its two districts, each where the indicator applies to its level
    per_month = sum(
        1 + 2 * any(lv.value == "district" for lv in d.levels)
        for d in manual
        if any(lv.value == "city" for lv in d.levels)
    )
    assert report.inputs == 12 * per_month
    assert per_month > 3 * 30  # the targets of TARGETS.md entered by hand are in the demo
    entered = set(db.scalars(select(IndicatorInput.indicator_id).distinct()))
    assert entered == {d.id for d in manual}
    assert db.scalar(select(func.count()).select_from(IndicatorInput)) == report.inputs
    assert db.scalar(select(func.count()).select_from(IndicatorTask)) == report.tasks == 8
    overdue = tasks.get_all(db, scope=SYSTEM_SCOPE, overdue_on=tasks.today(NOW, ZONE))
    assert report.supervised == len(overdue)
    for task in overdue:
        case = db.get(Case, task.case_id)
        assert case is not None and case.case_type == "task_supervision"
    rows = dashboard.grid(db, period=month_of(NOW, ZONE), scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    statuses = {c.status for r in rows for c in r.cells.values()}
    assert {"met", "missed"} <= statuses
    online = rows[0].cells["devices.online_rate"]
    assert online.target.value == 0.92 and online.target.origin == "all"
