"""A password an administrator gave, over HTTP on SQLite and PostgreSQL: the console's new user
logs in only into the change of password (every other page, a board's htmx refresh and the
API by cookie lead or answer there; logout works); the API's new user gets no token (403
naming the change), and a token of theirs from before is refused with the same 403 until the
password is changed in the console; the other
sessions end with the change, and the change is audited."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import AuditEvent, Role, User

GIVEN = "Given-By-Admin-2026"
CHOSEN = "Chosen-By-Me-Myself"
CHANGE = "/account/password"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _log_in(server: LiveServer, username: str, password: str) -> tuple[httpx.Client, str, str]:
    """A client that logged in through the console's form; its CSRF token and where the login
    went."""
    client = server.client()
    token = _csrf(client.get("/login").text)
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": token,
            "next": "/facilities",
        },
    )
    assert answer.status_code == 303, answer.text
    client.headers["X-CSRF-Token"] = token
    return client, token, answer.headers["location"]


def _flagged(server: LiveServer, username: str) -> bool:
    with Session(server.engine) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return user.must_change_password


def test_a_console_users_first_login_leads_only_to_the_change(live_server: LiveServer) -> None:
    with Session(live_server.engine) as session:
        add_user(session, username="mcp_admin", role=Role.ADMIN, area_code="T-D1")
        session.commit()
    admin = live_server.console_client("mcp_admin")
    created = admin.post(
        "/users/new",
        data={
            "username": "mcp_clerk",
            "display_name": "MCP Clerk",
            "role": "station_officer",
            "password": GIVEN,
            "area_codes": ["T-D1-S1"],
        },
    )
    assert created.status_code == 303, created.text
    shown = admin.get(created.headers["location"]).text
    assert re.search(r'id="user-must-change">是<', shown), shown
    admin.close()
    assert _flagged(live_server, "mcp_clerk")

    first, csrf, went = _log_in(live_server, "mcp_clerk", GIVEN)
    second, _, _ = _log_in(live_server, "mcp_clerk", GIVEN)
    assert went == CHANGE
    for path in ("/", "/facilities", "/cases", "/account", "/users", "/audit"):
        answer = first.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == CHANGE, path
    refresh = first.get("/", headers={"HX-Request": "true"})
    assert refresh.headers.get("HX-Redirect") == CHANGE
    by_cookie = first.get("/api/v1/users/me")
    assert by_cookie.status_code == 403
    assert by_cookie.json()["code"] == "password.change_required"
    assert "须先修改密码" in by_cookie.json()["text"]  # the console's reader reads Chinese

    # The session's clock still answers (the change's page warns before its session ends).
    assert first.get("/session").status_code == 200

    page = first.get(CHANGE)
    assert page.status_code == 200
    assert "修改密码" in page.text and 'name="new_password"' in page.text
    wrong = first.post(
        CHANGE, data={"current_password": "not-it", "new_password": CHOSEN, "csrf_token": csrf}
    )
    assert wrong.status_code == 401 and "当前密码" in wrong.text
    weak = first.post(
        CHANGE, data={"current_password": GIVEN, "new_password": "short", "csrf_token": csrf}
    )
    assert weak.status_code == 422
    assert _flagged(live_server, "mcp_clerk")

    done = first.post(
        CHANGE, data={"current_password": GIVEN, "new_password": CHOSEN, "csrf_token": csrf}
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert not _flagged(live_server, "mcp_clerk")
    assert first.get("/").status_code == 200
    assert first.get("/account").status_code == 200
    assert first.get(CHANGE).headers["location"] == "/account"
    # The other session ended with the change.
    assert second.get("/account").headers["location"].startswith("/login")
    second.close()
    # Logout works (and a later login with the new password goes where it was going).
    assert first.post("/logout").headers["location"] == "/login"
    first.close()
    again, _, went = _log_in(live_server, "mcp_clerk", CHOSEN)
    assert went == "/facilities"
    again.close()

    with Session(live_server.engine) as session:
        user = session.scalars(select(User).where(User.username == "mcp_clerk")).one()
        changes = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "change_password", AuditEvent.entity_id == str(user.id)
            )
        ).all()
        assert [e.username for e in changes] == ["mcp_clerk"]


def test_logout_works_while_the_change_waits(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as api:
        made = api.post(
            "/api/v1/users",
            json={
                "username": "mcp_leaver",
                "display_name": "Leaver",
                "password": GIVEN,
                "role": "viewer",
                "area_codes": ["T-D1"],
            },
        )
        assert made.status_code in (201, 409), made.text
    client, _, went = _log_in(live_server, "mcp_leaver", GIVEN)
    assert went == CHANGE
    out = client.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get(CHANGE).headers["location"].startswith("/login")
    client.close()


def test_a_token_is_refused_until_the_password_is_changed(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as api:
        made = api.post(
            "/api/v1/users",
            json={
                "username": "mcp_script",
                "display_name": "Script",
                "password": GIVEN,
                "role": "viewer",
                "area_codes": ["T-D1"],
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["must_change_password"] is True
    assert _flagged(live_server, "mcp_script")
    with live_server.client() as anonymous:
        refused_token = anonymous.post(
            "/api/v1/auth/token", json={"username": "mcp_script", "password": GIVEN}
        )
    assert refused_token.status_code == 403  # a token would do nothing: none is issued
    assert refused_token.json()["code"] == "password.change_required"
    # One issued before the flag (an administrator's reset) is refused where it is used.
    with Session(live_server.engine) as session:
        user = session.scalars(select(User).where(User.username == "mcp_script")).one()
        _, token = auth.issue_token(session, user=user, name="old", ttl=None, actor=SYSTEM)
        session.commit()
    with live_server.client(token) as program:
        refused = program.get("/api/v1/users/me")
        assert refused.status_code == 403
        body = refused.json()
        assert body["error"] == "password_change_required"
        assert body["code"] == "password.change_required"
        assert "must be changed first" in body["message"]
        assert "text" not in body  # a program reads the stable code and English

        console, csrf, _ = _log_in(live_server, "mcp_script", GIVEN)
        done = console.post(
            CHANGE, data={"current_password": GIVEN, "new_password": CHOSEN, "csrf_token": csrf}
        )
        assert done.status_code == 303
        console.close()
        accepted = program.get("/api/v1/users/me")
        assert accepted.status_code == 200 and accepted.json()["username"] == "mcp_script"
        assert accepted.json()["must_change_password"] is False
