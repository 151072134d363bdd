"""Case field values checked at the edge: dates within the calendar the system takes, users
named only where the caller may know them (issue 16, items 10 and 11)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import UserFactory, area
from fangkong.cases import registry
from fangkong.cases.fields import coerce_fields
from fangkong.core.errors import InvalidInput
from fangkong.core.models import Role

ZONE = ZoneInfo("Asia/Shanghai")
GRID = "T-D1-S1-B1-G1"


def _session_fields(db: Session, **raw: object) -> dict[str, object]:
    plain, _ = coerce_fields(
        db,
        registry.get("dispute"),
        required=["session_at", "session_result"],
        optional=["mediator"],
        raw={"session_result": "progress", **raw},
        zone=ZONE,
        case_path=area(db, GRID).path,
    )
    return plain


@pytest.mark.parametrize(
    "moment",
    ["9999-12-31T10:00:00+08:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59", "1999-12-31"],
)
def test_a_dispute_session_outside_the_years_the_system_takes_is_refused(
    db: Session, moment: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _session_fields(db, session_at=moment)
    assert refused.value.field == "fields.session_at"
    assert "2000" in refused.value.message and "2100" in refused.value.message
    assert _session_fields(db, session_at="2026-11-23T15:00:00+08:00")["session_at"]


def test_a_user_outside_the_case_is_answered_as_one_that_does_not_exist(
    db: Session, make_user: UserFactory
) -> None:
    """A mediator of another precinct named as the session's mediator: the refusal neither
    names them nor tells them from a user that does not exist."""
    here = make_user(Role.MEDIATOR, "T-D1-S1")
    there = make_user(Role.MEDIATOR, "T-D2-S2")
    moment = "2026-11-23T15:00:00+08:00"
    assert _session_fields(db, session_at=moment, mediator=str(here.id))["mediator"] == here.id
    refusals = []
    for user_id in (there.id, 987_654_321, 2**63, 2**70):
        with pytest.raises(InvalidInput) as refused:
            _session_fields(db, session_at=moment, mediator=str(user_id))
        assert refused.value.field == "fields.mediator"
        assert there.username not in str(refused.value.to_dict())
        refusals.append(refused.value.message.replace(str(user_id), "?"))
    assert len(set(refusals[:2])) == 1
    # A user of the case's area with another role is named by the id given, not by name.
    officer = make_user(Role.STATION_OFFICER, "T-D1-S1")
    with pytest.raises(InvalidInput) as role:
        _session_fields(db, session_at=moment, mediator=str(officer.id))
    assert officer.username not in role.value.message and str(officer.id) in role.value.message
