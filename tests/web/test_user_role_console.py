"""An administrator gives a user another role in the console (issue 18, item 6), on SQLite and
PostgreSQL: the form on the user's page, the role stored and audited, the user's sessions
ended; a role that does not exist and a user outside the administrator's areas refused."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer
from fangkong.core.models import AuditEvent, Role, User


def _users(server: LiveServer) -> tuple[int, int]:
    with Session(server.engine) as session:
        add_user(session, username="role_admin", role=Role.ADMIN, area_code="T-D1")
        mine = add_user(session, username="role_target", role=Role.VIEWER, area_code="T-D1-S1")
        other = add_user(session, username="role_stranger", role=Role.VIEWER, area_code="T-D2")
        session.commit()
        return mine.id, other.id


def test_an_admin_changes_a_role_in_the_console(live_server: LiveServer) -> None:
    mine, other = _users(live_server)
    target_client = live_server.console_client("role_target")
    assert target_client.get("/cases").status_code == 200
    client = live_server.console_client("role_admin")
    page = client.get(f"/users/{mine}")
    assert page.status_code == 200
    assert re.search(r'<form[^>]+id="role-form"', page.text)
    assert 'value="station_officer"' in page.text
    answer = client.post(f"/users/{mine}/role", data={"role": "station_officer"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/users/{mine}"
    assert "role_target" in client.get(f"/users/{mine}").text
    # A role that does not exist; a user outside the admin's areas (read as not there).
    assert client.post(f"/users/{mine}/role", data={"role": "king"}).status_code == 422
    assert client.post(f"/users/{other}/role", data={"role": "admin"}).status_code == 404
    client.close()
    with Session(live_server.engine) as session:
        user = session.get(User, mine)
        assert user is not None and user.role == Role.STATION_OFFICER
        assert session.get(User, other).role == Role.VIEWER  # type: ignore[union-attr]
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "user", AuditEvent.entity_id == str(mine))
        ).all()
        assert any(e.action == "set_role" for e in events), [e.action for e in events]
    # Their session ended with their old rights.
    assert target_client.get("/cases", follow_redirects=False).status_code in (303, 401)
    target_client.close()
