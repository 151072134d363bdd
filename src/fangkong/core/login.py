"""Logging in: the password, the second factor, and the limits on trying.

- **Lockout** (CJIS Security Policy 5.5.3, NIST SP 800-53 AC-7): after ``max_failures``
  consecutive failures (wrong passwords or wrong one-time codes) a username is refused for
  ``lockout`` (zero: until an administrator unlocks it), whatever password comes. Names with no
  account are counted and locked alike, so that a lock tells nothing of who has an account.
- **Throttling** of a client address: ``client_max_failures`` failures within
  ``client_window``, whatever the usernames, and it waits for the window's end.
- **The cost of a failure** is the same for every username: a name of no account, or of a
  deactivated one, verifies the password against a hash of the same argon2 parameters.
- **Second factor**: a TOTP code (:mod:`fangkong.core.totp`) for the roles that need one and
  for every user who enrolled one; a user of such a role with none enrols at the next login.

Refusals answer :class:`Throttled` (429, with the seconds to wait); every failure and refusal is
audited as ``login_failed``, a lock as ``lock`` and an unlock as ``unlock``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong.core import audit, auth, security, totp
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.db import utcnow
from fangkong.core.errors import Forbidden, InvalidInput, Throttled, Unauthorized
from fangkong.core.models import LoginThrottle, User
from fangkong.core.security import FieldCipher

_USER = "user"
_CLIENT = "client"
_KEY_LENGTH = 64
ISSUER = "fangkong"


@dataclass(frozen=True)
class LoginPolicy:
    """The limits on logging in (see the module), from the settings by :meth:`of`."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=10)
    client_max_failures: int = 20
    client_window: timedelta = timedelta(minutes=10)
    #: Roles that must log in with a second factor (``Role`` values).
    second_factor_roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Settings) -> LoginPolicy:
        return cls(
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_s),
            client_max_failures=settings.login_client_max_failures,
            client_window=timedelta(seconds=settings.login_client_window_s),
            second_factor_roles=settings.required_second_factor_roles,
        )


DEFAULT_POLICY = LoginPolicy()


class Step(StrEnum):
    """What a login needs after a right password."""

    DONE = "done"
    SECOND_FACTOR = "second_factor"
    ENROL = "enrol"


@dataclass(frozen=True)
class Outcome:
    user: User
    step: Step


@dataclass(frozen=True)
class Enrolment:
    """A second factor's secret, shown once: as base32 to type and as an otpauth URI."""

    secret: str
    uri: str


# A hash of the same parameters as every user's, verified when the name has no account: made
# on first use (a module-level hash would cost every import 100 ms).
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = security.hash_password(security.new_token())
    return _dummy_hash


def _user_key(username: str) -> str:
    return username[:_KEY_LENGTH]


def _client_key(client: str | None) -> str:
    return (client or "unknown")[:_KEY_LENGTH]


def _ceil_s(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _throttle(session: Session, kind: str, key: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, (kind, key), populate_existing=True)


def _lock_of(row: LoginThrottle | None, policy: LoginPolicy, now: datetime) -> Throttled | None:
    """The refusal a username's count calls for, if any."""
    if row is None or row.failures < policy.max_failures:
        return None
    if policy.lockout <= timedelta(0):
        return Throttled(key="error.login.locked_until_unlocked", retry_after_s=None)
    ends = row.last_failed_at + policy.lockout
    if ends <= now:
        return None
    wait = _ceil_s(ends - now)
    return Throttled(
        key="error.login.locked", params={"minutes": math.ceil(wait / 60)}, retry_after_s=wait
    )


def _client_wait(row: LoginThrottle | None, policy: LoginPolicy, now: datetime) -> Throttled | None:
    if row is None or row.failures < policy.client_max_failures:
        return None
    ends = row.first_failed_at + policy.client_window
    if ends <= now:
        return None
    wait = _ceil_s(ends - now)
    return Throttled(key="error.login.throttled", params={"seconds": wait}, retry_after_s=wait)


def _count(
    session: Session, kind: str, key: str, now: datetime, window: timedelta | None
) -> LoginThrottle:
    """One more failure of ``(kind, key)``, atomically (``window``: a count older than it
    starts again)."""
    if _throttle(session, kind, key) is None:
        try:
            with session.begin_nested():
                session.add(
                    LoginThrottle(
                        kind=kind, key=key, failures=0, first_failed_at=now, last_failed_at=now
                    )
                )
        except IntegrityError:  # another request counted the first failure meanwhile
            pass
    table = LoginThrottle
    values: dict[str, object] = {"failures": table.failures + 1, "last_failed_at": now}
    if window is not None:
        stale = table.first_failed_at <= now - window
        values = {
            "failures": case((stale, 1), else_=table.failures + 1),
            "first_failed_at": case((stale, now), else_=table.first_failed_at),
            "last_failed_at": now,
        }
    session.execute(
        update(table)
        .where(table.kind == kind, table.key == key)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    row = _throttle(session, kind, key)
    assert row is not None
    return row


def _area_path(session: Session, user: User | None) -> str | None:
    return None if user is None else auth.area_path_of(session, user_id=user.id)


def _failed(
    session: Session,
    *,
    username: str,
    user: User | None,
    client: str | None,
    policy: LoginPolicy,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Count and audit a failure; a refusal (``reason``) counts for the client only."""
    actor = Actor(user_id=None, username=username[:_KEY_LENGTH], client=client)
    _count(session, _CLIENT, _client_key(client), now, policy.client_window)
    if reason is None:
        row = _count(session, _USER, _user_key(username), now, None)
        if row.failures == policy.max_failures:
            audit.record(
                session,
                actor=actor,
                action="lock",
                entity="user",
                entity_id=None if user is None else user.id,
                detail={"failures": row.failures},
                area_path=_area_path(session, user),
            )
    audit.record(
        session,
        actor=actor,
        action="login_failed",
        entity="user",
        detail=None if reason is None else {"reason": reason},
        # A known name's failures belong to its areas; an unknown one's to no area.
        area_path=_area_path(session, user),
    )


def _refusal(
    session: Session, *, username: str, client: str | None, policy: LoginPolicy, now: datetime
) -> Throttled | None:
    waiting = _client_wait(_throttle(session, _CLIENT, _client_key(client)), policy, now)
    if waiting is not None:
        return waiting
    return _lock_of(_throttle(session, _USER, _user_key(username)), policy, now)


def _reason(refusal: Throttled) -> str:
    return "throttled" if refusal.key == "error.login.throttled" else "locked"


def _succeeded(session: Session, *, user: User, client: str | None) -> None:
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.kind == _USER, LoginThrottle.key == _user_key(user.username)
        )
    )
    audit.record(
        session,
        actor=Actor(user_id=user.id, username=user.username, client=client),
        action="login",
        entity="user",
        entity_id=user.id,
        area_path=_area_path(session, user),
    )


def complete(session: Session, *, user: User, client: str | None) -> None:
    """A login complete after a step of its own (the console's enrolment): the username's
    failures forgotten, the login audited."""
    _succeeded(session, user=user, client=client)


def needs_second_factor(user: User, policy: LoginPolicy) -> bool:
    return user.totp_secret_encrypted is not None or user.role.value in policy.second_factor_roles


def check_password(
    session: Session,
    *,
    username: str,
    password: str,
    client: str | None,
    policy: LoginPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> Outcome:
    """The first step of a login: the username's and the client's limits, then the password.

    A login that needs no second factor is complete (audited ``login``); otherwise the
    outcome says which step is next and nothing is reset until it succeeds.
    """
    now = now or utcnow()
    refusal = _refusal(session, username=username, client=client, policy=policy, now=now)
    user = auth.get_by_username(session, username=username)
    if refusal is not None:
        _failed(
            session,
            username=username,
            user=user,
            client=client,
            policy=policy,
            now=now,
            reason=_reason(refusal),
        )
        raise refusal
    # One argon2 verification whoever the name is: the answer's time tells nothing.
    right = security.verify_password(user.password_hash if user else _dummy(), password)
    if user is None or not user.is_active or not right:
        _failed(session, username=username, user=user, client=client, policy=policy, now=now)
        raise Unauthorized(key="error.login.failed")
    if user.totp_secret_encrypted is not None:
        return Outcome(user, Step.SECOND_FACTOR)
    if needs_second_factor(user, policy):
        return Outcome(user, Step.ENROL)
    _succeeded(session, user=user, client=client)
    return Outcome(user, Step.DONE)


def check_second_factor(
    session: Session,
    *,
    user: User,
    code: str | None,
    client: str | None,
    policy: LoginPolicy = DEFAULT_POLICY,
    cipher: FieldCipher,
    now: datetime | None = None,
) -> None:
    """The second step: a one-time code of the user's enrolled secret, used once; a wrong code
    counts as a failed login. Completes the login (audited ``login``)."""
    now = now or utcnow()
    refusal = _refusal(session, username=user.username, client=client, policy=policy, now=now)
    if refusal is not None:
        _failed(
            session,
            username=user.username,
            user=user,
            client=client,
            policy=policy,
            now=now,
            reason=_reason(refusal),
        )
        raise refusal
    if user.totp_secret_encrypted is None or not user.is_active:
        raise Unauthorized(key="error.login.failed")
    step = totp.matching_step(
        cipher.decrypt(user.totp_secret_encrypted),
        code,
        at=now.timestamp(),
        after_step=user.totp_last_step,
    )
    if step is None:
        _failed(session, username=user.username, user=user, client=client, policy=policy, now=now)
        raise Unauthorized(key="error.totp.wrong_code", field="code")
    user.totp_last_step = step
    _succeeded(session, user=user, client=client)


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    client: str | None,
    policy: LoginPolicy = DEFAULT_POLICY,
    cipher: FieldCipher | None = None,
    code: str | None = None,
    now: datetime | None = None,
) -> User:
    """A whole login in one call (the API's token): the password and, where needed, the code.

    A user who must enrol a second factor is refused (:class:`Forbidden`): enrolment shows a
    secret, which the console's login does.
    """
    now = now or utcnow()
    outcome = check_password(
        session, username=username, password=password, client=client, policy=policy, now=now
    )
    if outcome.step is Step.ENROL:
        raise Forbidden(key="error.totp.enrol_first", field="totp_code")
    if outcome.step is Step.SECOND_FACTOR:
        if cipher is None:
            raise ValueError("a cipher is needed to read the second factor's secret")
        if not code:  # not a guess: nothing counted
            raise Unauthorized(key="error.totp.code_required", field="totp_code")
        check_second_factor(
            session,
            user=outcome.user,
            code=code,
            client=client,
            policy=policy,
            cipher=cipher,
            now=now,
        )
    return outcome.user


def failures_of(session: Session, *, username: str) -> int:
    """The consecutive failures counted for ``username``."""
    row = _throttle(session, _USER, _user_key(username))
    return 0 if row is None else row.failures


def locked_usernames(
    session: Session,
    usernames: Iterable[str],
    *,
    policy: LoginPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> set[str]:
    """Which of ``usernames`` are locked now."""
    now = now or utcnow()
    keys = {_user_key(name): name for name in usernames}
    if not keys:
        return set()
    rows = session.scalars(
        select(LoginThrottle).where(LoginThrottle.kind == _USER, LoginThrottle.key.in_(keys))
    )
    return {keys[row.key] for row in rows if _lock_of(row, policy, now) is not None}


def unlock(session: Session, *, username: str, actor: Actor) -> bool:
    """Lift a username's lock (and forget its failures); audited. False if there was none."""
    gone = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.kind == _USER, LoginThrottle.key == _user_key(username)
        )
    )
    user = auth.get_by_username(session, username=username)
    audit.record(
        session,
        actor=actor,
        action="unlock",
        entity="user",
        entity_id=None if user is None else user.id,
        detail={"username": username},
        area_path=_area_path(session, user),
    )
    return bool(getattr(gone, "rowcount", 0))


def begin_enrolment(
    session: Session, *, user: User, cipher: FieldCipher, issuer: str = ISSUER
) -> Enrolment:
    """A new secret for ``user``, kept encrypted until a code of it confirms the enrolment.
    Shown once: beginning again replaces it."""
    secret = totp.new_secret()
    user.totp_pending_encrypted = cipher.encrypt(secret)
    session.flush()
    return Enrolment(
        secret=secret, uri=totp.provisioning_uri(secret, account=user.username, issuer=issuer)
    )


def confirm_enrolment(
    session: Session,
    *,
    user: User,
    code: str | None,
    cipher: FieldCipher,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """Make the pending secret the user's second factor, given a code of it; audited."""
    now = now or utcnow()
    if user.totp_pending_encrypted is None:
        raise InvalidInput(key="error.totp.no_enrolment", field="code")
    secret = cipher.decrypt(user.totp_pending_encrypted)
    step = totp.matching_step(secret, code, at=now.timestamp())
    if step is None:
        raise InvalidInput(key="error.totp.wrong_code", field="code")
    user.totp_secret_encrypted = cipher.encrypt(secret)
    user.totp_pending_encrypted = None
    user.totp_last_step = step
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="enrol_totp",
        entity="user",
        entity_id=user.id,
        area_path=_area_path(session, user),
    )


def reset_second_factor(session: Session, *, user: User, actor: Actor) -> None:
    """Forget a user's second factor (a lost phone): they enrol again at the next login, where
    their role needs one. Ends their sessions; audited."""
    user.totp_secret_encrypted = None
    user.totp_pending_encrypted = None
    user.totp_last_step = None
    auth.end_sessions(session, user=user)
    audit.record(
        session,
        actor=actor,
        action="reset_totp",
        entity="user",
        entity_id=user.id,
        area_path=_area_path(session, user),
    )
