"""The console session's two ends (issue 18): the idle timeout and the absolute end
``session_max_age_s`` after the login, and what the expiry warning reads of them
(``GET /session``, asked as a background request, keeps nothing alive;
``POST /session/refresh`` is the user's own request and starts the idle time over)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer
from fangkong.core.models import Role
from fangkong.http import deps

BACKGROUND = {deps.BACKGROUND_HEADER: "1"}


def _user(server: LiveServer, username: str) -> None:
    with Session(server.engine) as session:
        add_user(session, username=username, role=Role.VIEWER, area_code="T")
        session.commit()


def test_what_the_warning_reads_and_staying_signed_in(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("sessions are cookies: the same on both backends")
    _user(live_server, "clock_viewer")
    start = time.time()
    now = [start]
    monkeypatch.setattr(deps, "clock", lambda: now[0])
    client = live_server.console_client("clock_viewer")
    idle = live_server.settings.session_idle_timeout_s
    max_age = live_server.settings.session_max_age_s
    state = client.get("/session", headers=BACKGROUND).json()
    assert state == {"idle_left_s": idle, "left_s": max_age, "warn_s": 300}
    # A background look keeps nothing alive.
    now[0] = start + 1000
    state = client.get("/session", headers=BACKGROUND).json()
    assert (state["idle_left_s"], state["left_s"]) == (idle - 1000, max_age - 1000)
    now[0] = start + 1700
    assert client.get("/session", headers=BACKGROUND).json()["idle_left_s"] == idle - 1700
    # Staying signed in starts the idle time over, not the absolute end.
    refreshed = client.post("/session/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["idle_left_s"] == idle
    assert refreshed.json()["left_s"] == max_age - 1700
    # Without the CSRF header the refresh is refused.
    del client.headers["X-CSRF-Token"]
    assert client.post("/session/refresh").status_code == 403
    # Past the idle timeout the warning's look finds the session ended (sent to the login).
    now[0] = start + 1700 + idle + 1
    ended = client.get("/session", headers=BACKGROUND)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    client.close()


def test_a_session_ends_at_its_absolute_end_whatever_its_activity(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("sessions are cookies: the same on both backends")
    _user(live_server, "clock_busy")
    start = time.time()
    now = [start]
    monkeypatch.setattr(deps, "clock", lambda: now[0])
    client = live_server.console_client("clock_busy")
    max_age = live_server.settings.session_max_age_s
    step = live_server.settings.session_idle_timeout_s - 60
    # Active every 29 minutes for 8 hours: never idle.
    while now[0] + step < start + max_age:
        now[0] += step
        assert client.get("/api/v1/users/me").status_code == 200
    assert client.get("/session").json()["left_s"] == int(start + max_age - now[0])
    now[0] = start + max_age + 1
    ended = client.get("/api/v1/users/me")
    assert ended.status_code == 401 and ended.json()["code"] == "login.expired"
    assert ended.json()["params"] == {"hours": "8"}
    assert "8 hours after its login" in ended.json()["message"]
    now[0] = start  # the cookie was cleared: a new look finds no session at all
    assert client.get("/api/v1/users/me").json()["code"] == "login.first"
    client.close()
