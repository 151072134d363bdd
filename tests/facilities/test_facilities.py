"""Key facilities: the compliance rules with the sources' numbers (5 ‰ rounded up, schools'
protection), the county's own version of a rule, inspections as cases linked to their facility,
and the rates per area and type (compliant, inspected this quarter, overdue rectifications)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import SYSTEM_SCOPE, Scope
from fangkong.facilities import register, rules
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.schemas import FacilityIn, InspectionIn

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)
ACTOR = Actor(user_id=None, username="inspector", client="test")
GRID = "T-D1-S1-B1-G1"


def facility_in(code: str, grid: str = GRID, **values: object) -> FacilityIn:
    lon, lat = grid_centre(grid)
    base: dict[str, object] = {
        "code": code,
        "name": f"{code} 单位",
        "facility_type": FacilityType.BANK,
        "lon": lon,
        "lat": lat,
    }
    return FacilityIn.model_validate(base | values)


def add(db: Session, code: str, grid: str = GRID, **values: object) -> Facility:
    return register.create(db, data=facility_in(code, grid, **values), actor=ACTOR, scope=None)


def failed(db: Session, facility: Facility) -> dict[str, list[tuple[str, int, int]]]:
    return {
        r.code: [(s.field, s.required, s.actual) for s in r.shortfalls]
        for r in rules.evaluate(facility, rules.active_rules(db))
        if not r.passed
    }


def test_guards_by_staff_count_with_the_sources_numbers(db: Session) -> None:
    small = add(db, "F1", staff_count=199, guards_full_time=1, video_networked=True)
    assert failed(db, small) == {"guards_under_200": [("guards_part_time", 1, 0)]}
    big = add(
        db,
        "F2",
        staff_count=1001,
        guards_full_time=5,
        guards_part_time=6,
        video_networked=True,
    )
    # 5 ‰ of 1,001 is 5.005: six of each.
    assert failed(db, big) == {"guards_200_plus": [("guards_full_time", 6, 5)]}
    exact = add(
        db, "F3", staff_count=200, guards_full_time=1, guards_part_time=1, video_networked=True
    )
    assert failed(db, exact) == {}
    school = add(
        db,
        "F4",
        facility_type=FacilityType.SCHOOL,
        staff_count=80,
        guards_full_time=1,
        guards_part_time=1,
        video_networked=True,
        alarm_networked=True,
    )
    assert failed(db, school) == {
        "school_protection": [("school_gate_post", 1, 0), ("closed_management", 1, 0)]
    }
    every = {r.decl.code: r.decl.source for r in rules.get_rules(db)}
    assert all(source[:2] in ("C:", "Y:", "R:") for source in every.values())


def test_a_county_changes_a_rule_switches_one_off_and_adds_its_own(db: Session) -> None:
    bank = add(db, "F5", staff_count=50, guards_full_time=1)
    assert set(failed(db, bank)) == {"guards_under_200", "internal_security_video"}
    default = rules.DEFAULTS_BY_CODE["guards_under_200"]
    looser = default.model_copy(
        update={"require": (rules.Requirement(field="guards_full_time", at_least=1),)}
    )
    saved = rules.save_rule(db, decl=looser, enabled=True, actor=ACTOR)
    assert saved.changed and saved.default
    rules.save_rule(
        db,
        decl=rules.DEFAULTS_BY_CODE["internal_security_video"],
        enabled=False,
        actor=ACTOR,
    )
    own = rules.parse(
        {
            "code": "bank_alarm",
            "name_zh": "银行一键报警联网",
            "name_en": "Banks: alarm networked",
            "types": ["bank"],
            "require": [{"field": "alarm_networked"}],
            "source": "county order 2026-3",
        }
    )
    rules.save_rule(db, decl=own, enabled=True, actor=ACTOR)
    assert failed(db, bank) == {"bank_alarm": [("alarm_networked", 1, 0)]}
    rules.reset_rule(db, code="guards_under_200", actor=ACTOR)
    assert "guards_under_200" in failed(db, bank)
    with pytest.raises(NotFound):
        rules.reset_rule(db, code="guards_under_200", actor=ACTOR)
    with pytest.raises(InvalidInput) as bad:
        rules.parse(
            {
                "code": "x",
                "name_zh": "x",
                "name_en": "x",
                "source": "s",
                "require": [{"field": "school_gate_post", "at_least": 2}],
            }
        )
    assert bad.value.field == "rule.require.0"


def test_a_facility_code_is_registered_once(db: Session) -> None:
    with pytest.raises(Conflict):
        add(db, "R1")
        add(db, "R1")


def test_inspections_are_linked_cases_and_rates_count_them(db: Session) -> None:
    ok = add(db, "R2", staff_count=10, guards_full_time=1, guards_part_time=1, video_networked=True)
    bad = add(db, "R3", staff_count=10)
    other = add(
        db,
        "R4",
        "T-D2-S2-B2-G2",
        facility_type=FacilityType.MARKET,
        staff_count=10,
        guards_full_time=1,
        guards_part_time=1,
    )
    assert not failed(db, other)
    with pytest.raises(InvalidInput):  # nothing fails: name the rules
        register.open_inspection(
            db,
            facility=ok,
            data=InspectionIn(trigger="rule_failure"),
            user=None,
            actor=ACTOR,
            now=T0,
            calendar=CALENDAR,
        )
    case = register.open_inspection(
        db,
        facility=bad,
        data=InspectionIn(trigger="rule_failure"),
        user=None,
        actor=ACTOR,
        now=T0,
        calendar=CALENDAR,
    )
    assert case.data["rules"] == "guards_under_200, internal_security_video"
    assert [(link.kind, link.ref_id) for link in case.links] == [("facility", str(bad.id))]
    cases.transition(
        db,
        case=case,
        name="find",
        fields={"severity": "major", "findings": "无保卫"},
        user=None,
        actor=ACTOR,
        now=T0 + timedelta(hours=1),
        calendar=CALENDAR,
    )
    assert case.state == "rectifying" and case.due_at is not None
    last_quarter = register.open_inspection(
        db,
        facility=ok,
        data=InspectionIn(),
        user=None,
        actor=ACTOR,
        now=T0 - timedelta(days=60),
        calendar=CALENDAR,
    )
    cases.transition(
        db,
        case=last_quarter,
        name="pass",
        fields={},
        user=None,
        actor=ACTOR,
        now=T0 - timedelta(days=59),
        calendar=CALENDAR,
    )
    assert register.inspections_of(db, facility_ids=[bad.id])[bad.id] == [case]

    later = T0 + timedelta(days=5)  # the major finding's 72 h have passed
    table = {
        (r.area_code, r.facility_type): r
        for r in register.rates(db, scope=SYSTEM_SCOPE, now=later, zone=ZONE)
    }
    grid = table[(GRID, "bank")]
    assert (grid.facilities, grid.compliant, grid.inspected) == (2, 1, 1)
    assert grid.overdue_rectifications == 1 and grid.open_inspections == 1
    assert grid.compliant_share == 0.5
    city = table[("T", "all")]
    assert (city.facilities, city.compliant) == (3, 2)
    assert table[("T", "market")].facilities == 1
    # A station's user sees its own areas only.
    station = Scope(paths=(db.scalars(select(Area.path).where(Area.code == "T-D1-S1")).one(),))
    codes = {r.area_code for r in register.rates(db, scope=station, now=later, zone=ZONE)}
    assert "T" not in codes and GRID in codes and "T-D2-S2-B2-G2" not in codes
