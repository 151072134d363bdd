"""Separation of duties as a rule of the case declaration (``not_by``), on SQLite and
PostgreSQL: whoever reported a hazard handled, or was named its handler, may not pass its
re-inspection; the engine refuses it with a catalogue message and the allowed transitions hide
it from them, while others (and the system) may."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, T0, UserFactory, actor_of, area
from fangkong.cases import service
from fangkong.cases.case_types.hazard import HAZARD
from fangkong.cases.declaration import parse
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Forbidden
from fangkong.core.models import Role, User

GRID = "T-D1-S1-B1-G1"
STATION = "T-D1-S1"


def _move(db: Session, case: Case, name: str, user: User | None, hours: int, **fields: str) -> None:
    service.transition(
        db,
        case=case,
        name=name,
        fields=dict(fields),
        user=user,
        actor=actor_of(user) if user is not None else SYSTEM,
        now=T0 + timedelta(hours=hours),
        calendar=CALENDAR,
    )


def _reinspecting(
    db: Session, *, router: User, reporter: User, handler: User | None = None
) -> Case:
    """A hazard routed by ``router`` (to ``handler``), reported handled by ``reporter``."""
    case = service.create(
        db,
        case_type="hazard",
        title="楼道堆物",
        area=area(db, GRID),
        fields={"finding_route": "on_foot", "category": "fire"},
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
    )
    _move(db, case, "assess", None, 1, assessment_level="grid", risk_grade="low")
    routed = {"department": "社区警务室"}
    if handler is not None:
        routed["handler"] = str(handler.id)
    _move(db, case, "route_internal", router, 2, **routed)
    _move(db, case, "report_handled", reporter, 3, measures="已清理")
    assert case.state == "reinspecting"
    return case


def _names(case: Case, user: User | None) -> list[str]:
    return [t.name for t in service.allowed_transitions(case, user)]


def test_the_officer_who_handled_it_may_not_pass_the_reinspection(
    db: Session, make_user: UserFactory
) -> None:
    officer = make_user(Role.STATION_OFFICER, STATION)
    colleague = make_user(Role.INSPECTOR, STATION)
    case = _reinspecting(db, router=officer, reporter=officer)

    # Hidden from the officer who reported it handled; failing it back stays open to them.
    assert _names(case, officer) == ["fail_reinspection"]
    assert _names(case, colleague) == ["pass_reinspection", "fail_reinspection"]
    assert _names(case, None) == ["pass_reinspection", "fail_reinspection"]
    with pytest.raises(Forbidden) as refused:
        _move(db, case, "pass_reinspection", officer, 4, reinspection_result="整改到位")
    error = refused.value
    number = service.number(case)
    assert error.key == "error.cases.separation_of_duties"
    assert error.params == {
        "number": number,
        "transition": "pass_reinspection",
        "by": "report_handled",
    }
    assert error.field == "transition"
    assert error.message == (
        f"{number}: whoever took report_handled on this case may not take pass_reinspection "
        "(separation of duties: no one passes their own work)"
    )
    assert "职责分离" in error.text("zh-CN") and number in error.text("zh-CN")
    assert case.state == "reinspecting"  # nothing moved

    _move(db, case, "pass_reinspection", colleague, 4, reinspection_result="整改到位")
    assert case.state == "closed"


def test_the_named_handler_may_not_pass_it_either(db: Session, make_user: UserFactory) -> None:
    officer = make_user(Role.STATION_OFFICER, STATION)
    handler = make_user(Role.COMMANDER, "T")
    worker = make_user(Role.GRID_WORKER, GRID)
    # The handler was named by the routing; a grid worker reported the work done.
    case = _reinspecting(db, router=officer, reporter=worker, handler=handler)
    assert "pass_reinspection" not in _names(case, handler)
    with pytest.raises(Forbidden) as refused:
        _move(db, case, "pass_reinspection", handler, 4, reinspection_result="好")
    assert refused.value.key == "error.cases.separation_of_duties_field"
    assert refused.value.params["by"] == "handler"
    assert "the user named in handler" in refused.value.message
    # The officer who routed it neither handled nor reported it: they may pass it.
    assert "pass_reinspection" in _names(case, officer)
    _move(db, case, "pass_reinspection", officer, 4, reinspection_result="好")
    assert case.state == "closed"


def test_a_later_round_remembers_who_handled_it(db: Session, make_user: UserFactory) -> None:
    """Failed back and reported handled again by someone else: whoever reported it in any
    round still does not pass it."""
    first = make_user(Role.STATION_OFFICER, STATION)
    second = make_user(Role.INSPECTOR, STATION)
    boss = make_user(Role.COMMANDER, "T")
    case = _reinspecting(db, router=boss, reporter=first)
    _move(db, case, "fail_reinspection", second, 4, reinspection_result="仍有堆放")
    _move(db, case, "report_handled", second, 5, measures="彻底清理")
    assert _names(case, first) == ["fail_reinspection"]
    assert _names(case, second) == ["fail_reinspection"]
    assert "pass_reinspection" in _names(case, boss)


def test_a_declaration_may_separate_any_transition() -> None:
    """The rule is the declaration's, not the hazard's: another type declares its own."""
    data = {**HAZARD, "name": "hazard_strict", "prefix": "HS"}
    data["transitions"] = [
        {**t, "not_by": ["assess"]} if t["name"] == "route_internal" else t
        for t in HAZARD["transitions"]
    ]
    decl = parse(data)
    assert decl.transition("route_internal").not_by == ("assess",)  # type: ignore[union-attr]
    assert decl.transition("route_external").not_by == ()  # type: ignore[union-attr]
