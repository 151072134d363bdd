"""Indicators per area and period, checked against a cohort whose answer is known by hand."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, CIPHER, T0, UserFactory, area
from fangkong.cases import indicators, registry, service
from fangkong.cases.case_types.hazard import HAZARD
from fangkong.cases.declaration import parse
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

STATION = "T-D1-S1"
GRID = "T-D1-S1-B2-G1"


def _hazard(db: Session, at: datetime, code: str = GRID, case_type: str = "hazard") -> Case:
    return service.create(
        db,
        case_type=case_type,
        title="隐患",
        area=area(db, code),
        fields={"finding_route": "data", "category": "traffic"},
        user=None,
        actor=SYSTEM,
        now=at,
        calendar=CALENDAR,
    )


def _move(db: Session, case: Case, name: str, at: datetime, **fields: object) -> None:
    service.transition(
        db,
        case=case,
        name=name,
        fields=dict(fields),
        user=None,
        actor=SYSTEM,
        now=at,
        calendar=CALENDAR,
        cipher=CIPHER,
    )


def _close(
    db: Session, case: Case, start: datetime, reinspection: str = "pass_reinspection"
) -> None:
    _move(db, case, "assess", start + timedelta(hours=1), assessment_level="grid", risk_grade="low")
    _move(db, case, "route_internal", start + timedelta(hours=2), department="警务室")
    _move(db, case, "report_handled", start + timedelta(hours=3), measures="整改")
    _move(db, case, reinspection, start + timedelta(hours=4), reinspection_result="好")


def test_hazard_indicators(db: Session) -> None:
    on_time = _hazard(db, T0)
    _close(db, on_time, T0)
    late = _hazard(db, T0)
    _close(db, late, T0 + timedelta(days=3))  # assessed after its deadline
    waiting = _hazard(db, T0)  # still found, past due at the end
    _hazard(db, T0 + timedelta(days=9))  # found late in the period, not yet due
    dismissed = _hazard(db, T0)
    _move(db, dismissed, "dismiss", T0 + timedelta(hours=1), reason="误报")
    reopened = _hazard(db, T0)
    _close(db, reopened, T0)
    _move(db, reopened, "reopen", T0 + timedelta(hours=5), reason="复发")
    _hazard(db, T0 - timedelta(days=2))  # before the period
    _hazard(db, T0, code="T-D2-S1-B1-G1")  # another district
    now = T0 + timedelta(days=10)
    result = indicators.compute(
        db,
        case_type="hazard",
        area=area(db, STATION),
        start=T0 - timedelta(days=1),
        end=now,
        now=now,
    )
    assert (result.found, result.resolved, result.resolved_within_deadline) == (6, 2, 1)
    assert result.resolution_rate == pytest.approx(1 / 6)
    assert result.overdue == 2 and waiting.due_at is not None and waiting.due_at < now
    assert result.median_hours_to_close == pytest.approx(4.0)  # of 1 h, 4 h and 76 h
    assert result.reopen_rate == pytest.approx(1 / 4)
    assert result.rates == {}  # a hazard declares no rates of its own
    rows = indicators.by_child_area(
        db,
        case_type="hazard",
        parent=area(db, STATION),
        start=T0 - timedelta(days=1),
        end=now,
        now=now,
    )
    assert [r.area_code for r in rows] == [STATION, "T-D1-S1-B1", "T-D1-S1-B2"]
    assert [r.found for r in rows] == [6, 0, 6]
    assert rows[1].resolution_rate is None and rows[1].median_hours_to_close is None


def test_dispute_indicators(db: Session, make_user: UserFactory) -> None:
    mediator = make_user(Role.MEDIATOR, STATION)

    def dispute() -> Case:
        case = service.create(
            db,
            case_type="dispute",
            title="纠纷",
            area=area(db, GRID),
            fields={"category": "labour", "channel": "people", "source": "hotline"},
            parties=[service.PartyIn("applicant", "甲"), service.PartyIn("respondent", "乙")],
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=CALENDAR,
            cipher=CIPHER,
        )
        _move(db, case, "assign_mediator", T0 + timedelta(hours=1), mediator=mediator.id)
        return case

    followed = dispute()
    _move(db, followed, "record_agreement", T0 + timedelta(days=2), agreement_text="赔偿")
    _move(db, followed, "follow_up", T0 + timedelta(days=33), follow_up_result="fulfilled")
    waiting = dispute()
    _move(db, waiting, "record_agreement", T0 + timedelta(days=5), agreement_text="道歉")
    failed = dispute()
    _move(
        db,
        failed,
        "record_no_agreement",
        T0 + timedelta(days=3),
        referral="litigation",
        reason="分歧大",
    )
    withdrawn = dispute()
    _move(db, withdrawn, "withdraw", T0 + timedelta(days=1), reason="撤回")
    now = T0 + timedelta(days=40)
    result = indicators.compute(
        db,
        case_type="dispute",
        area=area(db, "T"),
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=1),
        now=now,
    )
    assert (result.found, result.resolved) == (4, 1)
    assert result.rates == {
        "agreement_rate": pytest.approx(2 / 3),
        "follow_up_rate": pytest.approx(1 / 2),
    }
    early = indicators.compute(
        db,
        case_type="dispute",
        area=area(db, "T"),
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=1),
        now=T0 + timedelta(days=4),
    )
    # As of day 4: one agreement, one failure; no follow-up due yet.
    assert early.rates == {"agreement_rate": pytest.approx(1 / 2), "follow_up_rate": None}


def test_a_rate_declared_with_a_type_is_computed_by_the_one_engine(db: Session) -> None:
    """A type's own rates are data: a hazard-like type declaring the share of reinspections
    that failed gets it with its indicators, with no code that knows the type."""
    data = copy.deepcopy(HAZARD)
    data.update(name="inspection_finding", prefix="IF")
    data["rates"] = [
        {
            "name": "reinspection_failure_rate",
            "of": ["pass_reinspection", "fail_reinspection"],
            "hit": ["fail_reinspection"],
        }
    ]
    registry.register(parse(data))
    try:
        passed, failed = (_hazard(db, T0, case_type="inspection_finding") for _ in range(2))
        _close(db, passed, T0)
        _close(db, failed, T0, reinspection="fail_reinspection")
        _hazard(db, T0, case_type="inspection_finding")  # not reinspected: not counted
        result = indicators.compute(
            db,
            case_type="inspection_finding",
            area=area(db, STATION),
            start=T0 - timedelta(days=1),
            end=T0 + timedelta(days=1),
            now=T0 + timedelta(days=1),
        )
        assert result.rates == {"reinspection_failure_rate": pytest.approx(1 / 2)}
    finally:
        registry._TYPES.pop("inspection_finding")
