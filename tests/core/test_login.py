"""Logging in: lockout of a username, throttling of a client, the cost of a failure, the
second factor, sessions that end, and tokens that expire and can be revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import argon2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core import auth, login, security, totp
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.errors import Conflict, Forbidden, InvalidInput, Throttled, Unauthorized
from fangkong.core.models import ApiToken, AuditEvent, Role, User
from fangkong.core.security import FieldCipher

PASSWORD = "correct-horse-battery"
CIPHER = FieldCipher("t" * 40)
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
POLICY = login.LoginPolicy(
    max_failures=5,
    lockout=timedelta(minutes=10),
    client_max_failures=20,
    client_window=timedelta(minutes=10),
    second_factor_roles=frozenset({"admin", "commander"}),
)


class CountingHasher(argon2.PasswordHasher):
    """Argon2 at its cheapest, recording the parameters of every hash it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[argon2.Parameters] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(argon2.extract_parameters(str(hash)))
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(security, "_hasher", counting)
    monkeypatch.setattr(login, "_dummy_hash", None)  # made again with the cheap hasher
    return counting


def _user(db: Session, username: str = "alice", role: Role = Role.STATION_OFFICER) -> User:
    return auth.create(
        db,
        username=username,
        display_name=username.title(),
        password=PASSWORD,
        role=role,
        area_codes=["T-D1-S1"],
        actor=SYSTEM,
    )


def _events(db: Session, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


def _try(
    db: Session, username: str, password: str, *, client: str = "10.0.0.1", at: datetime = T0
) -> User:
    return login.authenticate(
        db, username=username, password=password, client=client, policy=POLICY, now=at
    )


# ------------------------------------------------------------------------------------------
# Lockout (CJIS AC-7) and throttling
# ------------------------------------------------------------------------------------------


def test_sixty_wrong_passwords_then_the_right_one_is_refused(db: Session) -> None:
    _user(db)
    answers: list[type[Exception]] = []
    for i in range(60):
        with pytest.raises((Unauthorized, Throttled)) as exc:
            _try(db, "alice", f"wrong-{i}", client=f"10.0.{i}.1", at=T0 + timedelta(seconds=i))
        answers.append(type(exc.value))
    assert answers[:5] == [Unauthorized] * 5 and set(answers[5:]) == {Throttled}
    with pytest.raises(Throttled) as locked:
        _try(db, "alice", PASSWORD, client="10.9.9.9", at=T0 + timedelta(seconds=61))
    assert locked.value.key == "error.login.locked"
    assert 0 < (locked.value.retry_after_s or 0) <= 600
    assert locked.value.status_code == 429
    (event,) = _events(db, "lock")
    assert (event.entity, event.username) == ("user", "alice")


def test_a_lock_ends_after_the_lockout(db: Session) -> None:
    _user(db)
    for i in range(5):
        with pytest.raises(Unauthorized):
            _try(db, "alice", "wrong", client=f"10.1.{i}.1")
    with pytest.raises(Throttled):
        _try(db, "alice", PASSWORD, at=T0 + timedelta(minutes=9))
    assert _try(db, "alice", PASSWORD, at=T0 + timedelta(minutes=10, seconds=1)).username == "alice"


def test_a_lock_until_unlocked_waits_for_an_administrator(db: Session) -> None:
    user = _user(db)
    forever = login.LoginPolicy(max_failures=3, lockout=timedelta(0))
    for _ in range(3):
        with pytest.raises(Unauthorized):
            login.authenticate(
                db, username="alice", password="x", client="c", policy=forever, now=T0
            )
    with pytest.raises(Throttled) as exc:
        login.authenticate(
            db,
            username="alice",
            password=PASSWORD,
            client="c",
            policy=forever,
            now=T0 + timedelta(days=30),
        )
    assert exc.value.retry_after_s is None and exc.value.key == "error.login.locked_until_unlocked"
    assert login.locked_usernames(db, ["alice", "bob"], policy=forever, now=T0) == {"alice"}
    admin = Actor(user_id=None, username="root", client="local")
    login.unlock(db, username="alice", actor=admin)
    assert login.locked_usernames(db, ["alice"], policy=forever, now=T0) == set()
    assert (
        login.authenticate(
            db, username="alice", password=PASSWORD, client="c", policy=forever, now=T0
        )
        is user
    )
    (event,) = _events(db, "unlock")
    assert (event.username, event.entity_id) == ("root", str(user.id))


def test_a_success_resets_the_count(db: Session) -> None:
    _user(db)
    for round_ in range(3):
        for i in range(4):
            with pytest.raises(Unauthorized):
                _try(db, "alice", "wrong", client=f"10.2.{round_}.{i}")
        _try(db, "alice", PASSWORD)
    assert _events(db, "lock") == []


def test_an_unknown_username_locks_alike(db: Session) -> None:
    """The lock tells nothing of who has an account: a name of none locks the same way."""
    _user(db)
    for name in ("alice", "mallory"):
        for i in range(5):
            with pytest.raises(Unauthorized) as failed:
                _try(db, name, "wrong", client=f"10.3.{i}.1")
            assert failed.value.key == "error.login.failed"
        with pytest.raises(Throttled) as exc:
            _try(db, name, "wrong", client="10.3.9.1")
        assert exc.value.key == "error.login.locked" and exc.value.message


def test_a_client_is_throttled_across_usernames(db: Session) -> None:
    for i in range(20):
        with pytest.raises(Unauthorized):
            _try(db, f"name{i}", "wrong", client="10.4.0.1", at=T0 + timedelta(seconds=i))
    with pytest.raises(Throttled) as exc:
        _try(db, "other", "wrong", client="10.4.0.1", at=T0 + timedelta(seconds=30))
    assert exc.value.key == "error.login.throttled"
    assert exc.value.retry_after_s == 600 - 30
    # Another client is not held up, and the window's end frees this one.
    with pytest.raises(Unauthorized):
        _try(db, "other", "wrong", client="10.4.0.2", at=T0 + timedelta(seconds=30))
    with pytest.raises(Unauthorized):
        _try(db, "other2", "wrong", client="10.4.0.1", at=T0 + timedelta(seconds=601))


def test_an_unknown_user_costs_what_a_known_one_costs(db: Session, hasher: CountingHasher) -> None:
    """Timing: every failure verifies one argon2 hash of the same parameters, a name of no
    account and a deactivated user's too (today's 21 ms against 110 ms told names apart)."""
    user = _user(db)
    known = argon2.extract_parameters(user.password_hash)
    for case in ("wrong password", "unknown user", "inactive user"):
        hasher.verified.clear()
        username = "mallory" if case == "unknown user" else "alice"
        if case == "inactive user":
            user.is_active = False
            db.flush()
        with pytest.raises(Unauthorized) as exc:
            _try(db, username, "wrong-password" if case == "wrong password" else PASSWORD)
        assert exc.value.message == "wrong username or password"
        assert hasher.verified == [known], case


def test_refusals_are_audited_with_their_reason(db: Session) -> None:
    _user(db)
    for i in range(6):
        with pytest.raises((Unauthorized, Throttled)):
            _try(db, "alice", "wrong", client=f"10.5.{i}.1")
    failed = _events(db, "login_failed")
    assert len(failed) == 6
    assert failed[-1].detail == {"reason": "locked"}
    assert all(e.detail is None for e in failed[:5])


# ------------------------------------------------------------------------------------------
# Second factor
# ------------------------------------------------------------------------------------------


def _enrolled(db: Session, username: str = "boss", role: Role = Role.ADMIN) -> tuple[User, str]:
    user = _user(db, username, role)
    enrolment = login.begin_enrolment(db, user=user, cipher=CIPHER)
    code = totp.totp(totp.key_of(enrolment.secret), T0.timestamp())
    login.confirm_enrolment(db, user=user, code=code, cipher=CIPHER, actor=SYSTEM, now=T0)
    return user, enrolment.secret


def test_an_admin_without_a_second_factor_is_asked_to_enrol(db: Session) -> None:
    user = _user(db, "boss", Role.ADMIN)
    outcome = login.check_password(
        db, username="boss", password=PASSWORD, client="c", policy=POLICY, now=T0
    )
    assert (outcome.user, outcome.step) == (user, login.Step.ENROL)
    # One call (the API's token) cannot enrol: it says where to.
    with pytest.raises(Forbidden) as exc:
        login.authenticate(
            db, username="boss", password=PASSWORD, client="c", policy=POLICY, cipher=CIPHER
        )
    assert exc.value.key == "error.totp.enrol_first"
    # Other roles need none.
    _user(db, "pat")
    assert (
        login.check_password(
            db, username="pat", password=PASSWORD, client="c", policy=POLICY, now=T0
        ).step
        is login.Step.DONE
    )


def test_enrolment_stores_the_secret_encrypted_and_shows_it_once(db: Session) -> None:
    user = _user(db, "boss", Role.ADMIN)
    enrolment = login.begin_enrolment(db, user=user, cipher=CIPHER)
    assert enrolment.uri.startswith("otpauth://totp/fangkong:boss?secret=" + enrolment.secret)
    assert user.totp_secret_encrypted is None
    assert user.totp_pending_encrypted and enrolment.secret not in user.totp_pending_encrypted
    with pytest.raises(InvalidInput) as wrong:
        login.confirm_enrolment(db, user=user, code="000000", cipher=CIPHER, actor=SYSTEM, now=T0)
    assert wrong.value.key == "error.totp.wrong_code" and wrong.value.field == "code"
    code = totp.totp(totp.key_of(enrolment.secret), T0.timestamp())
    login.confirm_enrolment(db, user=user, code=code, cipher=CIPHER, actor=SYSTEM, now=T0)
    assert user.totp_pending_encrypted is None
    assert user.totp_secret_encrypted and enrolment.secret not in user.totp_secret_encrypted
    assert CIPHER.decrypt(user.totp_secret_encrypted) == enrolment.secret
    assert [e.entity_id for e in _events(db, "enrol_totp")] == [str(user.id)]


def test_an_enrolled_user_needs_a_fresh_code(db: Session) -> None:
    user, secret = _enrolled(db)
    at = T0 + timedelta(minutes=5)
    code = totp.totp(totp.key_of(secret), at.timestamp())
    outcome = login.check_password(
        db, username="boss", password=PASSWORD, client="c", policy=POLICY, now=at
    )
    assert outcome.step is login.Step.SECOND_FACTOR
    login.check_second_factor(
        db, user=user, code=code, client="c", policy=POLICY, cipher=CIPHER, now=at
    )
    # The same code again is refused (RFC 6238 5.2), and counts as a failure.
    with pytest.raises(Unauthorized) as replay:
        login.check_second_factor(
            db, user=user, code=code, client="c", policy=POLICY, cipher=CIPHER, now=at
        )
    assert replay.value.key == "error.totp.wrong_code"
    assert login.failures_of(db, username="boss") == 1
    later = at + timedelta(seconds=30)
    assert (
        login.authenticate(
            db,
            username="boss",
            password=PASSWORD,
            client="c",
            policy=POLICY,
            cipher=CIPHER,
            code=totp.totp(totp.key_of(secret), later.timestamp()),
            now=later,
        )
        is user
    )
    assert login.failures_of(db, username="boss") == 0


def test_wrong_codes_lock_like_wrong_passwords(db: Session) -> None:
    user, _secret = _enrolled(db)
    for i in range(5):
        with pytest.raises(Unauthorized):
            login.authenticate(
                db,
                username="boss",
                password=PASSWORD,
                client=f"10.6.{i}.1",
                policy=POLICY,
                cipher=CIPHER,
                code="123456",
                now=T0,
            )
    with pytest.raises(Throttled):
        login.check_second_factor(
            db, user=user, code="654321", client="c", policy=POLICY, cipher=CIPHER, now=T0
        )


def test_a_voluntary_second_factor_is_asked_of_any_role(db: Session) -> None:
    _enrolled(db, "pat", Role.VIEWER)
    outcome = login.check_password(
        db, username="pat", password=PASSWORD, client="c", policy=POLICY, now=T0
    )
    assert outcome.step is login.Step.SECOND_FACTOR


def test_a_reset_second_factor_is_enrolled_again(db: Session) -> None:
    user, _ = _enrolled(db)
    login.reset_second_factor(db, user=user, actor=SYSTEM)
    assert user.totp_secret_encrypted is None and user.totp_last_step is None
    outcome = login.check_password(
        db, username="boss", password=PASSWORD, client="c", policy=POLICY, now=T0
    )
    assert outcome.step is login.Step.ENROL
    assert [e.entity_id for e in _events(db, "reset_totp")] == [str(user.id)]


# ------------------------------------------------------------------------------------------
# Sessions end
# ------------------------------------------------------------------------------------------


def _session_of(user: User) -> auth.Credential:
    return auth.Credential(user_id=user.id, session_version=user.session_version)


@pytest.mark.parametrize("resolver", ["user_for", "principal_for"])
@pytest.mark.parametrize("change", ["logout", "password", "role", "deactivate"])
def test_sessions_end_at_once(db: Session, resolver: str, change: str) -> None:
    user = _user(db)
    credential = _session_of(user)
    resolve = getattr(auth, resolver)
    assert resolve(db, credential).id == user.id
    if change == "logout":
        auth.end_sessions(db, user=user)
    elif change == "password":
        auth.change_password(
            db, user=user, current=PASSWORD, new="another-long-phrase", actor=SYSTEM
        )
    elif change == "role":
        auth.set_role(db, user=user, role=Role.VIEWER, actor=SYSTEM)
    else:
        auth.set_active(db, user=user, active=False, actor=SYSTEM)
    db.expire_all()
    with pytest.raises(Unauthorized):
        resolve(db, credential)
    if change != "deactivate":
        assert resolve(db, _session_of(user)).id == user.id


def test_a_password_change_checks_the_current_one_and_the_policy(db: Session) -> None:
    user = _user(db)
    with pytest.raises(Unauthorized):
        auth.change_password(
            db, user=user, current="wrong", new="another-long-phrase", actor=SYSTEM
        )
    with pytest.raises(InvalidInput) as weak:
        auth.change_password(db, user=user, current=PASSWORD, new="password123", actor=SYSTEM)
    assert weak.value.key == "error.password.common"
    auth.change_password(db, user=user, current=PASSWORD, new="another-long-phrase", actor=SYSTEM)
    assert security.verify_password(user.password_hash, "another-long-phrase")
    assert [e.entity_id for e in _events(db, "change_password")] == [str(user.id)]


def test_weak_passwords_are_refused_at_creation(db: Session) -> None:
    for weak, key in (("password", "error.password.short"), ("12345678", "error.password.short")):
        with pytest.raises(InvalidInput) as exc:
            auth.create(
                db,
                username="weak",
                display_name="Weak",
                password=weak,
                role=Role.VIEWER,
                area_codes=["T"],
                actor=SYSTEM,
            )
        assert exc.value.key == key
    for weak, key in (
        ("password123", "error.password.common"),
        ("weak_user_1", "error.password.username"),
    ):
        with pytest.raises(InvalidInput) as exc:
            auth.create(
                db,
                username="weak_user",
                display_name="Weak",
                password=weak,
                role=Role.VIEWER,
                area_codes=["T"],
                actor=SYSTEM,
                min_length=8,
            )
        assert exc.value.key == key


def test_deactivation_is_audited_and_not_of_oneself(db: Session) -> None:
    user = _user(db)
    me = Actor(user_id=user.id, username=user.username)
    with pytest.raises(Conflict) as exc:
        auth.set_active(db, user=user, active=False, actor=me)
    assert exc.value.key == "error.user.self"
    auth.set_active(db, user=user, active=False, actor=SYSTEM)
    auth.set_active(db, user=user, active=False, actor=SYSTEM)  # once is enough
    auth.set_active(db, user=user, active=True, actor=SYSTEM)
    assert [e.action for e in _events(db, "deactivate") + _events(db, "activate")] == [
        "deactivate",
        "activate",
    ]


# ------------------------------------------------------------------------------------------
# Tokens
# ------------------------------------------------------------------------------------------


def test_every_token_expires_within_the_longest_life(db: Session) -> None:
    user = _user(db)
    longest = timedelta(hours=24 * 30)
    token, _ = auth.issue_token(db, user=user, name="svc", ttl=None, actor=SYSTEM, max_ttl=longest)
    assert token.expires_at is not None
    assert token.expires_at - token.created_at == pytest.approx(longest, abs=timedelta(seconds=5))
    with pytest.raises(InvalidInput) as exc:
        auth.issue_token(db, user=user, name="svc", ttl=longest * 2, actor=SYSTEM, max_ttl=longest)
    assert exc.value.key == "error.token.too_long" and exc.value.params == {"hours": 720}
    assert exc.value.field == "ttl_hours"


def test_tokens_are_listed_and_revoked(db: Session) -> None:
    user = _user(db)
    other = _user(db, "bob")
    first, plain = auth.issue_token(db, user=user, name="one", ttl=timedelta(hours=1), actor=SYSTEM)
    auth.issue_token(db, user=user, name="two", ttl=timedelta(hours=1), actor=SYSTEM)
    auth.issue_token(db, user=other, name="bobs", ttl=timedelta(hours=1), actor=SYSTEM)
    assert [t.name for t in auth.get_tokens(db, user_id=user.id)] == ["two", "one"]
    auth.revoke_token(db, token=first, actor=SYSTEM)
    db.expire_all()
    with pytest.raises(Unauthorized):
        auth.user_for_token(db, token=plain)
    stored = db.get(ApiToken, first.id)
    assert stored is not None and stored.revoked and stored.revoked_at is not None
    revoked = [e for e in _events(db, "revoke") if e.entity == "api_token"]
    assert [e.entity_id for e in revoked] == [str(first.id)]
    # Revoking all of a user's tokens (deactivation keeps them refused anyway).
    assert auth.revoke_tokens(db, user=user, actor=SYSTEM) == 1
    assert all(t.revoked for t in auth.get_tokens(db, user_id=user.id))
