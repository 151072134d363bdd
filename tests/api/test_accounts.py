"""Accounts over HTTP (issue 16): lockout and throttling answered 429 with Retry-After,
sessions that end (logout, new password, new role, deactivation, idleness), tokens that expire
and are revoked, the second factor at login and at token creation, the password policy."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, running_server
from fangkong.core import auth, login, totp
from fangkong.core.audit import SYSTEM
from fangkong.core.models import AuditEvent, LoginThrottle, Role, User
from fangkong.core.security import FieldCipher
from fangkong.http import deps

MAX_CLIENT_FAILURES = 30
#: The console clients a test opened, closed after it.
_OPEN: list[httpx.Client] = []


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (its failures must not throttle the shared one) that asks admins
    and commanders for a second factor, as production does."""
    with running_server(
        backend,
        tmp_path_factory.mktemp(f"accounts-{backend}"),
        "_accounts",
        intake_writer="thread",
        second_factor_roles=["admin", "commander"],
        login_client_max_failures=MAX_CLIENT_FAILURES,
    ) as live:
        yield live


@pytest.fixture(autouse=True)
def no_failures_counted(server: LiveServer) -> Iterator[None]:
    """Each test starts with no failed login counted (all come from 127.0.0.1)."""
    _forget_failures(server)
    yield
    _forget_failures(server)
    while _OPEN:
        _OPEN.pop().close()


def _forget_failures(server: LiveServer) -> None:
    with Session(server.engine) as session:
        session.execute(delete(LoginThrottle))
        session.commit()


def _cipher(server: LiveServer) -> FieldCipher:
    return FieldCipher(server.settings.ensure_secret_key())


def _make_user(server: LiveServer, username: str, role: Role = Role.VIEWER, area: str = "T") -> int:
    with Session(server.engine) as session:
        user = auth.get_by_username(session, username=username)
        if user is None:
            user = auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=role,
                area_codes=[area],
                actor=SYSTEM,
            )
            session.commit()
        return user.id


def _enrol(server: LiveServer, username: str, role: Role = Role.ADMIN) -> str:
    """A user of ``role`` with a second factor; its secret."""
    _make_user(server, username, role)
    with Session(server.engine) as session:
        user = auth.get_by_username(session, username=username)
        assert user is not None
        enrolment = login.begin_enrolment(session, user=user, cipher=_cipher(server))
        code = totp.totp(totp.key_of(enrolment.secret), time.time())
        login.confirm_enrolment(session, user=user, code=code, cipher=_cipher(server), actor=SYSTEM)
        user.totp_last_step = None  # the test may use this step's code again
        session.commit()
    return enrolment.secret


def _code(secret: str) -> str:
    return totp.totp(totp.key_of(secret), time.time())


def _admin(server: LiveServer) -> httpx.Client:
    """An API client of an enrolled admin of the whole county."""
    secret = _enrol(server, "acc_admin")
    with Session(server.engine) as session:
        user = auth.get_by_username(session, username="acc_admin")
        assert user is not None
        user.totp_last_step = None
        session.commit()
    with server.client() as client:
        answer = client.post(
            "/api/v1/auth/token",
            json={"username": "acc_admin", "password": TEST_PASSWORD, "totp_code": _code(secret)},
        )
    assert answer.status_code == 200, answer.text
    return server.client(answer.json()["access_token"])


def _token(server: LiveServer, username: str) -> str:
    return server.token(username)


def _csrf(client: httpx.Client, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def _console(server: LiveServer, username: str, password: str = TEST_PASSWORD) -> httpx.Client:
    """A browser-like client logged in through the form (no second factor)."""
    client = httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30)
    _OPEN.append(client)
    csrf = _csrf(client)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    client.headers["X-CSRF-Token"] = csrf
    return client


def _events(server: LiveServer, action: str) -> list[AuditEvent]:
    with Session(server.engine) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


# --- Lockout and throttling ---------------------------------------------------------------


def test_sixty_wrong_passwords_then_the_right_one_is_refused(server: LiveServer) -> None:
    _make_user(server, "acc_sixty")
    codes = []
    with server.client() as client:
        for i in range(60):
            answer = client.post(
                "/api/v1/auth/token", json={"username": "acc_sixty", "password": f"wrong-{i}"}
            )
            codes.append((answer.status_code, answer.json().get("code")))
        right = client.post(
            "/api/v1/auth/token", json={"username": "acc_sixty", "password": TEST_PASSWORD}
        )
    assert codes[:5] == [(401, "login.failed")] * 5
    assert set(codes[5:MAX_CLIENT_FAILURES]) == {(429, "login.locked")}
    assert set(codes[MAX_CLIENT_FAILURES:]) == {(429, "login.throttled")}
    assert right.status_code == 429
    assert 0 < int(right.headers["retry-after"]) <= 600


def test_a_locked_account_is_unlocked_by_an_admin(server: LiveServer) -> None:
    user_id = _make_user(server, "acc_locked", area="T-D1-S1")
    with server.client() as client:
        for _ in range(5):
            client.post(
                "/api/v1/auth/token", json={"username": "acc_locked", "password": "wrong-one"}
            )
        locked = client.post(
            "/api/v1/auth/token", json={"username": "acc_locked", "password": TEST_PASSWORD}
        )
        assert locked.status_code == 429 and locked.json()["code"] == "login.locked"
    with server.client(_token(server, _make_user_name(server, "acc_viewer"))) as viewer:
        assert viewer.post(f"/api/v1/users/{user_id}/unlock").status_code == 403
    with _admin(server) as admin:
        listed = {u["username"]: u for u in admin.get("/api/v1/users").json()}
        assert listed["acc_locked"]["locked"] is True
        assert admin.post(f"/api/v1/users/{user_id}/unlock").status_code == 204
        assert {u["username"]: u for u in admin.get("/api/v1/users").json()}["acc_locked"][
            "locked"
        ] is False
    assert server.token("acc_locked")
    assert [e.entity_id for e in _events(server, "unlock")][-1] == str(user_id)


def _make_user_name(server: LiveServer, username: str) -> str:
    _make_user(server, username)
    return username


def test_a_client_is_throttled_with_retry_after(server: LiveServer) -> None:
    started = time.monotonic()
    with server.client() as client:
        for i in range(MAX_CLIENT_FAILURES):
            answer = client.post(
                "/api/v1/auth/token", json={"username": f"nobody{i}", "password": "wrong-one"}
            )
            assert answer.status_code == 401
        held = client.post(
            "/api/v1/auth/token", json={"username": "someone", "password": "wrong-one"}
        )
    assert held.status_code == 429 and held.json()["code"] == "login.throttled"
    # The window began at the first failure: what is left of its 600 s.
    assert 600 - (time.monotonic() - started) - 1 <= int(held.headers["retry-after"]) <= 600


def test_the_console_shows_the_lock(server: LiveServer) -> None:
    _make_user(server, "acc_console_lock")
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as browser:
        csrf = _csrf(browser)
        for _ in range(5):
            wrong = browser.post(
                "/login",
                data={"username": "acc_console_lock", "password": "wrong", "csrf_token": csrf},
            )
            assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
        locked = browser.post(
            "/login",
            data={"username": "acc_console_lock", "password": TEST_PASSWORD, "csrf_token": csrf},
        )
        assert locked.status_code == 429 and "retry-after" in locked.headers
        assert "登录失败次数过多" in locked.text


# --- Sessions end -------------------------------------------------------------------------


def test_logout_ends_the_session(server: LiveServer) -> None:
    _make_user(server, "acc_logout")
    browser = _console(server, "acc_logout")
    stolen = dict(browser.cookies)
    assert browser.get("/api/v1/users/me").status_code == 200
    assert browser.post("/logout").status_code == 303
    with httpx.Client(base_url=server.base_url, cookies=stolen) as replay:
        assert replay.get("/api/v1/users/me").status_code == 401


def test_a_new_password_ends_the_other_sessions(server: LiveServer) -> None:
    _make_user(server, "acc_password")
    first = _console(server, "acc_password")
    second = _console(server, "acc_password")
    weak = first.post(
        "/api/v1/users/me/password",
        json={"current_password": TEST_PASSWORD, "new_password": "password123"},
    )
    assert weak.status_code == 422 and weak.json()["code"] == "password.common"
    wrong = first.post(
        "/api/v1/users/me/password",
        json={"current_password": "not-it", "new_password": "a-fresh-long-phrase"},
    )
    assert wrong.status_code == 401 and wrong.json()["field"] == "current_password"
    changed = first.post(
        "/api/v1/users/me/password",
        json={"current_password": TEST_PASSWORD, "new_password": "a-fresh-long-phrase"},
    )
    assert changed.status_code == 204
    assert first.get("/api/v1/users/me").status_code == 200  # the session that changed it
    assert second.get("/api/v1/users/me").status_code == 401
    assert server.token("acc_password", "a-fresh-long-phrase")


def test_a_new_role_and_deactivation_end_sessions_and_tokens(server: LiveServer) -> None:
    user_id = _make_user(server, "acc_role", Role.STATION_OFFICER, "T-D1-S1")
    browser = _console(server, "acc_role")
    token = _token(server, "acc_role")
    with _admin(server) as admin:
        assert (
            admin.put(f"/api/v1/users/{user_id}/role", json={"role": "grid_worker"}).json()["role"]
            == "grid_worker"
        )
        assert browser.get("/api/v1/users/me").status_code == 401
        with server.client(token) as api:
            assert api.get("/api/v1/users/me").json()["role"] == "grid_worker"
        browser = _console(server, "acc_role")
        assert admin.post(f"/api/v1/users/{user_id}/deactivate").status_code == 204
        assert browser.get("/api/v1/users/me").status_code == 401
        with server.client(token) as api:
            assert api.get("/api/v1/users/me").status_code == 401
        assert admin.post(f"/api/v1/users/{user_id}/activate").status_code == 204
        with server.client(token) as api:  # revoked at deactivation, for good
            assert api.get("/api/v1/users/me").status_code == 401
        me = admin.get("/api/v1/users/me").json()
        itself = admin.post(f"/api/v1/users/{me['id']}/deactivate")
        assert itself.status_code == 409 and itself.json()["code"] == "user.self"


def test_an_idle_session_ends(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_user(server, "acc_idle")
    browser = _console(server, "acc_idle")
    assert browser.get("/api/v1/users/me").status_code == 200
    later = time.time() + server.settings.session_idle_timeout_s - 60
    monkeypatch.setattr(deps, "clock", lambda: later)
    assert browser.get("/api/v1/users/me").status_code == 200  # activity keeps it alive
    monkeypatch.setattr(deps, "clock", lambda: later + server.settings.session_idle_timeout_s + 1)
    idle = browser.get("/api/v1/users/me")
    assert idle.status_code == 401 and idle.json()["code"] == "login.idle"
    monkeypatch.undo()
    assert browser.get("/").status_code == 303  # the cookie is gone: log in again


# --- Tokens -------------------------------------------------------------------------------


def test_tokens_expire_are_listed_and_revoked(server: LiveServer) -> None:
    _make_user(server, "acc_tokens", Role.STATION_OFFICER, "T-D1-S1")
    _make_user(server, "acc_other", Role.STATION_OFFICER, "T-D2-S2")
    with server.client() as client:
        body = {"username": "acc_tokens", "password": TEST_PASSWORD, "name": "svc"}
        forever = client.post("/api/v1/auth/token", json={**body, "ttl_hours": None})
        assert forever.status_code == 422 and forever.json()["field"] == "body.ttl_hours"
        too_long = client.post("/api/v1/auth/token", json={**body, "ttl_hours": 24 * 365})
        assert too_long.status_code == 422 and too_long.json()["code"] == "token.too_long"
        made = client.post("/api/v1/auth/token", json={**body, "ttl_hours": 48})
        assert made.status_code == 200 and made.json()["expires_at"]
    plain = made.json()["access_token"]
    other = _token(server, "acc_other")
    with server.client(plain) as api:
        mine = api.get("/api/v1/tokens").json()
        assert [t["name"] for t in mine][:1] == ["svc"]
        assert all("token" not in t and "token_hash" not in t for t in mine)
        assert mine[0]["revoked"] is False and mine[0]["expires_at"]
        with server.client(other) as stranger:
            foreign = stranger.delete(f"/api/v1/tokens/{mine[0]['id']}")
            assert foreign.status_code == 404
        assert api.delete(f"/api/v1/tokens/{mine[0]['id']}").status_code == 204
        assert api.get("/api/v1/tokens").status_code == 401
    with _admin(server) as admin:
        other_id = admin.get("/api/v1/users").json()
        target = next(u["id"] for u in other_id if u["username"] == "acc_other")
        listed = admin.get(f"/api/v1/users/{target}/tokens").json()
        assert listed and all(t["revoked"] is False for t in listed)
        assert admin.delete(f"/api/v1/tokens/{listed[0]['id']}").status_code == 204
    with server.client(other) as stranger:
        assert stranger.get("/api/v1/users/me").status_code == 401


# --- Second factor ------------------------------------------------------------------------


def test_an_admin_enrols_at_the_next_console_login(server: LiveServer) -> None:
    _make_user(server, "acc_newboss", Role.ADMIN)
    with server.client() as client:
        refused = client.post(
            "/api/v1/auth/token", json={"username": "acc_newboss", "password": TEST_PASSWORD}
        )
    assert refused.status_code == 403 and refused.json()["code"] == "totp.enrol_first"
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as browser:
        csrf = _csrf(browser)
        first = browser.post(
            "/login",
            data={"username": "acc_newboss", "password": TEST_PASSWORD, "csrf_token": csrf},
        )
        assert first.status_code == 303 and first.headers["location"] == "/login/enrol"
        assert browser.get("/").status_code == 303  # not logged in yet
        page = browser.get("/login/enrol")
        secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
        assert secret and "otpauth://totp/" in page.text
        wrong = browser.post("/login/enrol", data={"code": "000000", "csrf_token": csrf})
        assert wrong.status_code == 422
        done = browser.post(
            "/login/enrol", data={"code": _code(secret.group(1)), "csrf_token": csrf}
        )
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert browser.get("/").status_code == 200
    assert _events(server, "enrol_totp")


def test_an_enrolled_user_logs_in_with_a_code(server: LiveServer) -> None:
    secret = _enrol(server, "acc_boss")
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as browser:
        csrf = _csrf(browser)
        first = browser.post(
            "/login", data={"username": "acc_boss", "password": TEST_PASSWORD, "csrf_token": csrf}
        )
        assert first.status_code == 303 and first.headers["location"] == "/login/code"
        assert browser.get("/api/v1/users/me").status_code == 401
        wrong = browser.post("/login/code", data={"code": "000000", "csrf_token": csrf})
        assert wrong.status_code == 401 and "动态验证码" in wrong.text
        right = browser.post("/login/code", data={"code": _code(secret), "csrf_token": csrf})
        assert right.status_code == 303 and right.headers["location"] == "/"
        assert browser.get("/api/v1/users/me").json()["second_factor"] is True
        again = browser.post("/login/code", data={"code": _code(secret), "csrf_token": csrf})
        assert again.status_code == 303 and again.headers["location"] == "/login"
    with server.client() as client:
        body = {"username": "acc_boss", "password": TEST_PASSWORD}
        no_code = client.post("/api/v1/auth/token", json=body)
        assert no_code.status_code == 401 and no_code.json()["code"] == "totp.code_required"
        # The console used this step's code: forget it, so that the API may use it.
        with Session(server.engine) as session:
            user = session.scalars(select(User).where(User.username == "acc_boss")).one()
            user.totp_last_step = None
            session.commit()
        ok = client.post("/api/v1/auth/token", json={**body, "totp_code": _code(secret)})
        assert ok.status_code == 200


def test_a_user_enrols_over_the_api_and_an_admin_resets_it(server: LiveServer) -> None:
    user_id = _make_user(server, "acc_self_enrol", Role.STATION_OFFICER, "T-D1-S1")
    with server.client(_token(server, "acc_self_enrol")) as api:
        begun = api.post("/api/v1/users/me/totp").json()
        assert begun["otpauth_uri"].startswith("otpauth://totp/") and begun["secret"]
        wrong = api.post("/api/v1/users/me/totp/confirm", json={"code": "000000"})
        assert wrong.status_code == 422 and wrong.json()["code"] == "totp.wrong_code"
        confirmed = api.post("/api/v1/users/me/totp/confirm", json={"code": _code(begun["secret"])})
        assert confirmed.status_code == 204
    with server.client() as client:
        no_code = client.post(
            "/api/v1/auth/token", json={"username": "acc_self_enrol", "password": TEST_PASSWORD}
        )
        assert no_code.status_code == 401
    with _admin(server) as admin:
        assert admin.delete(f"/api/v1/users/{user_id}/totp").status_code == 204
    assert server.token("acc_self_enrol")


# --- Password policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("password", "password.short"),
        ("12345678", "password.short"),
        ("password1234", "password.common"),
        ("acc_weakling99", "password.username"),
    ],
)
def test_weak_passwords_are_refused(server: LiveServer, password: str, code: str) -> None:
    with _admin(server) as admin:
        answer = admin.post(
            "/api/v1/users",
            json={
                "username": "acc_weakling",
                "display_name": "weak",
                "password": password,
                "role": "viewer",
                "area_codes": ["T"],
            },
        )
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == (code, "password")


# --- Console pages of accounts ------------------------------------------------------------


def test_background_refreshes_do_not_keep_a_session_alive(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A board polling its rows is not the user's activity (CJIS AC-11 locks the session of an
    absent user); once idle, an htmx refresh sends the whole page to the login."""
    _make_user(server, "acc_board")
    browser = _console(server, "acc_board")
    start = time.time()
    idle = server.settings.session_idle_timeout_s
    background = {"X-Fangkong-Background": "1", "HX-Request": "true"}
    monkeypatch.setattr(deps, "clock", lambda: start + idle - 30)
    assert browser.get("/api/v1/users/me", headers=background).status_code == 200
    monkeypatch.setattr(deps, "clock", lambda: start + idle + 30)
    ended = browser.get(
        "/areas", headers={**background, "HX-Current-URL": f"{server.base_url}/areas"}
    )
    assert ended.status_code == 401 and ended.headers["hx-redirect"] == "/login?next=/areas"


def test_the_console_manages_accounts(server: LiveServer) -> None:
    target = _make_user(server, "acc_managed", Role.GRID_WORKER, "T-D1-S1-B1-G1")
    token = _token(server, "acc_managed")
    _enrol(server, "acc_console_admin")
    with Session(server.engine) as session:
        admin = auth.get_by_username(session, username="acc_console_admin")
        assert admin is not None
        admin_id = admin.id
    # An admin of the console (second factor done): a session begun as the login does.
    browser = httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30)
    _OPEN.append(browser)
    csrf = _csrf(browser)
    with Session(server.engine) as session:
        secret_user = session.get(User, admin_id)
        assert secret_user is not None
        secret = FieldCipher(server.settings.ensure_secret_key()).decrypt(
            secret_user.totp_secret_encrypted or ""
        )
    browser.post(
        "/login",
        data={"username": "acc_console_admin", "password": TEST_PASSWORD, "csrf_token": csrf},
    )
    done = browser.post("/login/code", data={"code": _code(secret), "csrf_token": csrf})
    assert done.status_code == 303, done.text
    listing = browser.get("/users")
    assert listing.status_code == 200 and 'data-user="acc_managed"' in listing.text
    page = browser.get(f"/users/{target}")
    assert page.status_code == 200 and "<td>" in page.text  # the target's token
    with Session(server.engine) as session:
        (token_row,) = auth.get_tokens(session, user_id=target)
    revoked = browser.post(
        f"/users/{target}/tokens/{token_row.id}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    with server.client(token) as api:
        assert api.get("/api/v1/users/me").status_code == 401
    for action in ("deactivate", "activate", "unlock", "reset-totp"):
        answer = browser.post(f"/users/{target}/{action}", data={"csrf_token": csrf})
        assert answer.status_code == 303, action
    assert browser.post(f"/users/{target}/deactivate").status_code == 403  # no CSRF token
    actions = [e.action for e in _events(server, "deactivate") + _events(server, "activate")]
    assert {"deactivate", "activate"} <= set(actions)

    # One's own account: the password, the tokens.
    own = _token(server, "acc_managed")
    user_browser = _console(server, "acc_managed")
    account = user_browser.get("/account")
    assert account.status_code == 200 and "API 令牌" in account.text
    weak = user_browser.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "mnopqrstuvw", "csrf_token": csrf},
    )
    assert weak.status_code == 422 and "重复字符或连续序列" in weak.text
    with Session(server.engine) as session:
        (live,) = [t for t in auth.get_tokens(session, user_id=target) if not t.revoked]
    assert user_browser.post(f"/account/tokens/{live.id}/revoke").status_code == 303
    with server.client(own) as api:
        assert api.get("/api/v1/users/me").status_code == 401
    changed = user_browser.post(
        "/account/password",
        data={"current_password": TEST_PASSWORD, "new_password": "another-long-phrase"},
    )
    assert changed.status_code == 200 and "密码已修改" in changed.text
    assert user_browser.get("/account").status_code == 200


def test_a_live_stream_ends_with_its_session(server: LiveServer) -> None:
    """Logout (here: from another browser: every session ends) closes an open live stream
    within its next look (2 s), and so does the revocation of a stream's token."""
    _make_user(server, "acc_stream", Role.STATION_OFFICER, "T-D1-S1")
    with Session(server.engine) as session:
        user = auth.get_by_username(session, username="acc_stream")
        assert user is not None
        user_id = user.id
    watcher = _console(server, "acc_stream", password=TEST_PASSWORD)
    other = _console(server, "acc_stream")
    token = _token(server, "acc_stream")
    for client, end in ((watcher, "logout"), (server.client(token), "revoke")):
        _OPEN.append(client)
        started = time.monotonic()
        with client.stream("GET", "/api/v1/dispatch/stream", timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            if end == "logout":
                assert other.post("/logout").status_code == 303
            else:
                with Session(server.engine) as session:
                    auth.revoke_tokens(session, user=session.get(User, user_id), actor=SYSTEM)
                    session.commit()
            for _ in lines:  # the server closes the stream: the loop ends
                assert time.monotonic() - started < 20
        assert time.monotonic() - started < 20, end
