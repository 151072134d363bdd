"""Who may supervise (督办): the inspector's job in the source documents, as well as the
commander's and the administrator's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, CIPHER, T0, UserFactory, actor_of, area
from fangkong.cases import service
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Forbidden
from fangkong.core.models import Role


@pytest.mark.parametrize(
    ("role", "may"),
    [
        (Role.INSPECTOR, True),
        (Role.COMMANDER, True),
        (Role.ADMIN, True),
        (Role.STATION_OFFICER, False),
        (Role.GRID_WORKER, False),
        (Role.MEDIATOR, False),
        (Role.EVALUATOR, False),
        (Role.VIEWER, False),
    ],
)
def test_supervision_by_role(db: Session, make_user: UserFactory, role: Role, may: bool) -> None:
    user = make_user(role, "T-D1-S1")
    case = service.create(
        db,
        case_type="hazard",
        title="消防通道堵塞",
        area=area(db, "T-D1-S1-B1-G1"),
        fields={"finding_route": "on_foot", "category": "fire"},
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
        cipher=CIPHER,
    )

    def supervise() -> None:
        service.supervise(
            db,
            case=case,
            due_at=T0 + timedelta(days=2),
            note="限期整改",
            user=user,
            actor=actor_of(user),
            now=T0,
        )

    if may:
        supervise()
        assert case.supervision_count == 1
    else:
        with pytest.raises(Forbidden):
            supervise()
