"""A flagged user (must change the password an administrator gave) and an administrator's
reset, over HTTP on SQLite and PostgreSQL.

- ``/auth/token`` refuses a flagged user with 403 ``password.change_required``: a token of
  theirs could do nothing (every route refuses it), not even the change, so none is issued.
- A token issued before the flag does nothing either: every route of the API that needs a
  credential answers it 403 ``password.change_required``.
- An administrator resets a user's password in the console (the user's page) and through the
  API: a temporary password, the flag set, the user's sessions ended, audited; only a user of
  the administrator's areas (404 outside), only with the right to manage users (403).
"""

from __future__ import annotations

import re

import httpx
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import TEST_PASSWORD, LiveServer
from fangkong.core.models import ApiToken, AuditEvent, Role, User
from web.test_must_change_password_http import CHANGE, _log_in

TEMPORARY = "Temporary-Reset-2026"
CHOSEN = "Chosen-After-Reset-1"


def _users(server: LiveServer, prefix: str) -> dict[str, int]:
    with Session(server.engine) as session:
        made = {
            "admin": add_user(
                session, username=f"{prefix}_admin", role=Role.ADMIN, area_code="T-D1"
            ),
            "target": add_user(
                session, username=f"{prefix}_target", role=Role.VIEWER, area_code="T-D1-S1"
            ),
            "stranger": add_user(
                session, username=f"{prefix}_stranger", role=Role.VIEWER, area_code="T-D2"
            ),
            "officer": add_user(
                session, username=f"{prefix}_officer", role=Role.STATION_OFFICER, area_code="T-D1"
            ),
        }
        session.commit()
        return {k: u.id for k, u in made.items()}


def _user(server: LiveServer, user_id: int) -> User:
    with Session(server.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        session.expunge(user)
        return user


def _token_request(server: LiveServer, username: str, password: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_a_flagged_user_is_refused_a_token(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as api:
        made = api.post(
            "/api/v1/users",
            json={
                "username": "rst_script",
                "display_name": "Script",
                "password": TEMPORARY,
                "role": "viewer",
                "area_codes": ["T-D1"],
            },
        )
        assert made.status_code == 201, made.text
    refused = _token_request(live_server, "rst_script", TEMPORARY)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "password_change_required"
    assert refused.json()["code"] == "password.change_required"
    with Session(live_server.engine) as session:
        user_id = session.scalars(select(User.id).where(User.username == "rst_script")).one()
        assert session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)).all() == []
    # A wrong password is still the 401 it was (the flag is no oracle).
    assert _token_request(live_server, "rst_script", "Wrong-Password-2026").status_code == 401
    # Changed in the console: a token is issued.
    console, csrf, _ = _log_in(live_server, "rst_script", TEMPORARY)
    done = console.post(
        CHANGE, data={"current_password": TEMPORARY, "new_password": CHOSEN, "csrf_token": csrf}
    )
    assert done.status_code == 303, done.text
    console.close()
    assert _token_request(live_server, "rst_script", CHOSEN).status_code == 200


def _api_routes(server: LiveServer) -> list[tuple[str, str]]:
    from fangkong.web.app import create_app

    routes = []
    for context in iter_route_contexts(create_app(server.settings, engine=server.engine).routes):
        if isinstance(context.original_route, APIRoute) and context.path.startswith("/api/"):
            path = re.sub(r"\{[^}]+\}", "1", context.path)
            for method in sorted(set(context.methods or ()) - {"HEAD", "OPTIONS"}):
                routes.append((method, path))
    return sorted(set(routes))


def test_a_token_from_before_the_flag_does_nothing(live_server: LiveServer) -> None:
    ids = _users(live_server, "rsa")
    token = live_server.token("rsa_target")
    with live_server.client(token) as client:
        assert client.get("/api/v1/users/me").status_code == 200
    with live_server.client(live_server.token("rsa_admin")) as admin:
        # Not one's own: that change asks for the current password (/users/me/password).
        own = admin.put(f"/api/v1/users/{ids['admin']}/password", json={"password": TEMPORARY})
        assert own.status_code == 409 and own.json()["code"] == "user.self_reset", own.text
        reset = admin.put(f"/api/v1/users/{ids['target']}/password", json={"password": TEMPORARY})
        assert reset.status_code == 204, reset.text
    assert not _user(live_server, ids["admin"]).must_change_password
    assert _user(live_server, ids["target"]).must_change_password
    checked = 0
    with live_server.client() as anonymous, live_server.client(token) as flagged:
        for method, path in _api_routes(live_server):
            if anonymous.request(method, path).status_code != 401:
                continue  # a public route (the token's issuance, a tip, the health check)
            answer = flagged.request(method, path, json={})
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
            assert answer.json()["code"] == "password.change_required", (method, path)
            checked += 1
    assert checked > 100


def test_an_admin_resets_a_password_in_the_console(live_server: LiveServer) -> None:
    ids = _users(live_server, "rsc")
    target_session = live_server.console_client("rsc_target")
    assert target_session.get("/cases").status_code == 200
    admin = live_server.console_client("rsc_admin")
    page = admin.get(f"/users/{ids['target']}")
    assert page.status_code == 200
    assert re.search(r'<form[^>]+id="password-form"', page.text)
    # The policy holds for a temporary password too; the refusal is on the user's page.
    weak = admin.post(f"/users/{ids['target']}/password", data={"password": "short"})
    assert weak.status_code == 422 and 'id="password-form"' in weak.text
    assert not _user(live_server, ids["target"]).must_change_password
    done = admin.post(f"/users/{ids['target']}/password", data={"password": TEMPORARY})
    assert done.status_code == 303 and done.headers["location"] == f"/users/{ids['target']}"
    shown = admin.get(f"/users/{ids['target']}").text
    assert re.search(r'id="user-must-change">[^<]*(yes|Yes|是)', shown), shown
    # Outside the admin's areas: not there; without the right to manage users: forbidden.
    assert (
        admin.post(f"/users/{ids['stranger']}/password", data={"password": TEMPORARY}).status_code
        == 404
    )
    admin.close()
    officer = live_server.console_client("rsc_officer")
    assert (
        officer.post(f"/users/{ids['target']}/password", data={"password": TEMPORARY}).status_code
        == 403
    )
    officer.close()
    target = _user(live_server, ids["target"])
    assert target.must_change_password
    assert not _user(live_server, ids["stranger"]).must_change_password
    with Session(live_server.engine) as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "user",
                AuditEvent.entity_id == str(ids["target"]),
                AuditEvent.action == "change_password",
            )
        ).all()
        assert [(e.username, (e.detail or {}).get("must_change_password")) for e in events] == [
            ("rsc_admin", True)
        ]
        assert all(TEMPORARY not in str(e.detail) for e in events)
    # The user's session ended; the old password is gone; the temporary one leads to the change.
    assert target_session.get("/cases", follow_redirects=False).status_code in (303, 401)
    target_session.close()
    assert _token_request(live_server, "rsc_target", TEST_PASSWORD).status_code == 401
    client, _, went = _log_in(live_server, "rsc_target", TEMPORARY)
    assert went == CHANGE
    client.close()
