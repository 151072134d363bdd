"""An administrator creates a user in the console (issue 18, item 6), on SQLite and
PostgreSQL: the form reached from the list, the user stored with the areas picked and
audited as the API's create (the password nowhere in the audit), able to log in; a taken
username, an area outside the administrator's own areas, a weak password and empty fields
refused beside their fields in the reader's language; a role that cannot manage users
refused."""

from __future__ import annotations

import html
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer
from fangkong.core.models import AuditEvent, Role, User
from fangkong.http.deps import LANGUAGE_COOKIE

FIRST_PASSWORD = "Plum-Orchard-1987"


def _fault(page: str, field: str) -> str:
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', page)
    assert found is not None, f"no fault beside {field}"
    return html.unescape(found.group(1))


def _form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "username": "new_clerk",
        "display_name": "新文员",
        "role": "viewer",
        "password": FIRST_PASSWORD,
        "area_codes": ["T-D1-S1"],
    }
    return data | changes


def test_an_admin_creates_a_user_in_the_console(live_server: LiveServer) -> None:
    with Session(live_server.engine) as session:
        add_user(session, username="new_admin", role=Role.ADMIN, area_code="T-D1")
        add_user(session, username="new_officer", role=Role.STATION_OFFICER, area_code="T-D1")
        session.commit()
    client = live_server.console_client("new_admin")
    listing = client.get("/users")
    assert listing.status_code == 200 and 'href="/users/new"' in listing.text
    page = client.get("/users/new")
    assert page.status_code == 200
    assert re.search(r'<form[^>]+id="user-form"', page.text)
    assert 'name="csrf_token"' in page.text
    assert ">只读用户<" in page.text  # roles in the reader's language
    # Only the admin's own areas are offered.
    offered = set(re.findall(r'name="area_codes" value="([^"]+)"', page.text))
    assert "T-D1-S1" in offered and "T-D1" in offered and "T-D2" not in offered

    # Empty: each required field refused beside it, in Chinese.
    empty = client.post("/users/new", data={})
    assert empty.status_code == 422
    for field in ("username", "display_name", "role", "password", "area_codes"):
        assert _fault(empty.text, field) == "必填项：请填写"
    # An area outside the admin's areas: refused beside the areas, nothing created.
    outside = client.post("/users/new", data=_form(area_codes=["T-D1-S1", "T-D2"]))
    assert outside.status_code == 422
    assert "T-D2" in _fault(outside.text, "area_codes")
    assert "不在您的辖区内" in _fault(outside.text, "area_codes")
    assert FIRST_PASSWORD not in outside.text  # never sent back
    assert 'value="新文员"' in outside.text  # the rest as typed
    # A role that does not exist, an area that does not exist, an overlong name and a
    # username of other characters: each beside its field, none a server error.
    odd = client.post(
        "/users/new",
        data=_form(
            username="new clerk!",
            display_name="名" * 200,
            role="king",
            area_codes=["X" * 5000],
        ),
    )
    assert odd.status_code == 422
    assert _fault(odd.text, "role") and _fault(odd.text, "display_name")
    strange = client.post("/users/new", data=_form(username="new clerk!"))
    assert strange.status_code == 422 and _fault(strange.text, "username")
    unknown = client.post("/users/new", data=_form(area_codes=["X" * 99]))
    assert unknown.status_code == 422 and "X" * 60 in _fault(unknown.text, "area_codes")
    # A weak password, beside the password.
    weak = client.post("/users/new", data=_form(password="short"))
    assert weak.status_code == 422 and _fault(weak.text, "password")

    # Without the session's CSRF token: refused, nothing created.
    token = client.headers.pop("X-CSRF-Token")
    forged = client.post("/users/new", data=_form())
    assert forged.status_code == 403
    client.headers["X-CSRF-Token"] = token

    created = client.post("/users/new", data=_form())
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert re.fullmatch(r"/users/\d+", location)
    user_id = int(location.rsplit("/", 1)[1])
    assert "new_clerk" in client.get(location).text
    assert "new_clerk" in client.get("/users").text

    # The same username again: refused beside it, in English for an English reader.
    client.cookies.set(LANGUAGE_COOKIE, "en")
    again = client.post("/users/new", data=_form(display_name="Another"))
    assert again.status_code == 422
    assert _fault(again.text, "username") == "username 'new_clerk' is taken"
    assert ">Viewer<" in again.text
    client.close()

    with Session(live_server.engine) as session:
        user = session.get(User, user_id)
        assert user is not None and user.role == Role.VIEWER and user.display_name == "新文员"
        assert session.scalars(select(User).where(User.username == "new_clerk")).one().id == user_id
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "user", AuditEvent.entity_id == str(user_id)
            )
        ).all()
        creates = [e for e in events if e.action == "create"]
        assert len(creates) == 1
        assert creates[0].username == "new_admin"
        assert FIRST_PASSWORD not in str(creates[0].detail)

    # The new user logs in with the first password.
    newcomer = live_server.client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', newcomer.get("/login").text)
    assert token is not None
    login = newcomer.post(
        "/login",
        data={
            "username": "new_clerk",
            "password": FIRST_PASSWORD,
            "csrf_token": token.group(1),
            "next": "/",
        },
    )
    assert login.status_code == 303, login.text
    newcomer.close()

    # A role that cannot manage users: refused, and nothing created.
    officer = live_server.console_client("new_officer")
    assert officer.get("/users/new").status_code == 403
    refused = officer.post("/users/new", data=_form(username="officer_made"))
    assert refused.status_code == 403
    officer.close()
    with Session(live_server.engine) as session:
        assert session.scalars(select(User).where(User.username == "officer_made")).all() == []
