"""Request dependencies: the database session, the current user, scope, language and CSRF."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Request, params
from sqlalchemy.orm import Session, sessionmaker

from fangkong.core import auth, login
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.errors import Forbidden, Unauthorized
from fangkong.core.i18n import negotiate
from fangkong.core.models import User
from fangkong.core.scoping import Scope, bind_scope, scope_for
from fangkong.core.security import FieldCipher, tokens_equal

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LANGUAGE_COOKIE = "fangkong_lang"
#: What the signed session cookie holds: the user, the session version they logged in under
#: (see :func:`fangkong.core.auth.end_sessions`), when they logged in and when they were last
#: active (Unix seconds), and between a login's password and its second factor, the login
#: waiting for it.
SESSION_USER = "user_id"
SESSION_VERSION = "session_version"
SESSION_SEEN = "seen_at"
SESSION_BEGAN = "began_at"
SESSION_PENDING = "pending_login"
#: Sent by the console's own refreshes (a board polling its rows): they are not the user's
#: activity, so they keep no session from its idle timeout.
BACKGROUND_HEADER = "X-Fangkong-Background"
#: What a console session may reach while its user must change the password an administrator
#: gave them (every other page leads to the change; see
#: :func:`fangkong.core.auth.require_password_changed`).
PASSWORD_CHANGE_PAGE = "/account/password"
#: (The session's clock too: the change's page warns before its session ends, as every page.)
PASSWORD_CHANGE_PATHS = frozenset({PASSWORD_CHANGE_PAGE, "/logout", "/session", "/session/refresh"})
#: The clock of the idle timeout (tests move it).
clock = time.time


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


def _finish(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed before the response when the handler succeeds.

    Async, so that opening the session (no I/O) and closing one that the handler already
    committed cost no hop to the thread pool; the commit or rollback, which do I/O, go there.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    # Its own limiter, as FastAPI gives a generator's exit: a commit must not wait for a
    # thread behind handlers that wait for a connection this session holds.
    limiter = anyio.CapacityLimiter(1)
    try:
        yield session
    except BaseException:
        await anyio.to_thread.run_sync(partial(_finish, session, commit=False), limiter=limiter)
        raise
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        await anyio.to_thread.run_sync(partial(_finish, session, commit=True), limiter=limiter)
    else:
        session.close()


# scope="function": the commit runs when the handler returns, before the response is sent
# (the default request scope would commit after the client already has its 2xx).
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe cookie-authenticated request without the session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    require_csrf(request, sent)


def require_csrf(request: Request, sent: str | None) -> None:
    """Refuse ``sent`` unless it is the session's CSRF token (for a handler that read its form
    itself, in a plain function)."""
    expected = request.session.get(CSRF_FIELD)
    if not isinstance(expected, str) or sent is None or not tokens_equal(expected, sent):
        raise Forbidden(key="error.csrf", field=CSRF_FIELD)


def bearer_credential(authorization: str) -> auth.Credential | None:
    """The token of an ``Authorization: Bearer`` header's value, if it is one."""
    if authorization[:7].lower() == "bearer ":
        return auth.Credential(token=authorization[7:].strip())
    return None


def credential_of(request: Request) -> auth.Credential:
    """The request's bearer token, else its session cookie's user (no I/O).

    A session idle for longer than ``session_idle_timeout_s`` ends here (CJIS AC-11); each
    request of the user's own (not :data:`BACKGROUND_HEADER`) counts as activity. A session
    ends ``session_max_age_s`` after its login whatever its activity.
    """
    bearer = bearer_credential(request.headers.get("authorization", ""))
    if bearer is not None:
        return bearer
    session = request.session
    user_id = session.get(SESSION_USER)
    version = session.get(SESSION_VERSION)
    if not isinstance(user_id, int) or not isinstance(version, int):
        raise Unauthorized(key="error.login.first")
    now = clock()
    seen = session.get(SESSION_SEEN)
    settings = get_settings(request)
    idle_s = settings.session_idle_timeout_s
    if not isinstance(seen, int | float) or now - seen > idle_s:
        session.clear()
        raise Unauthorized(key="error.login.idle", params={"minutes": idle_s // 60})
    began = session.get(SESSION_BEGAN)
    if not isinstance(began, int | float):
        # A session of a server before the absolute limit was kept: it counts from now.
        began = session[SESSION_BEGAN] = int(now)
    if now - began > settings.session_max_age_s:
        session.clear()
        raise Unauthorized(
            key="error.login.expired", params={"hours": _hours(settings.session_max_age_s)}
        )
    if BACKGROUND_HEADER not in request.headers:
        session[SESSION_SEEN] = int(now)
    return auth.Credential(user_id=user_id, session_version=version)


def begin_session(request: Request, user: User) -> None:
    """Log ``user`` in on this browser: a fresh session (the CSRF token kept)."""
    csrf = request.session.get(CSRF_FIELD)
    request.session.clear()
    now = int(clock())
    request.session.update(
        {
            SESSION_USER: user.id,
            SESSION_VERSION: user.session_version,
            SESSION_SEEN: now,
            SESSION_BEGAN: now,
        }
    )
    if csrf:
        request.session[CSRF_FIELD] = csrf


def _hours(seconds: int) -> str:
    """Hours as people write them: "8", "0.5"."""
    return f"{seconds / 3600:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class SessionClock:
    """How long the request's console session has left (seconds), and when to warn."""

    idle_s: int
    idle_left_s: int
    left_s: int
    warn_s: int
    max_age_h: str


def session_clock(request: Request) -> SessionClock | None:
    """The console session's time left before its idle timeout and before its absolute end
    (None for a request that is not of a logged-in console session); reads no clock but
    :data:`clock` and changes nothing."""
    session = request.scope.get("session")
    if not session or not isinstance(session.get(SESSION_USER), int):
        return None
    now = int(clock())
    settings = get_settings(request)
    seen, began = session.get(SESSION_SEEN), session.get(SESSION_BEGAN)
    seen = seen if isinstance(seen, int | float) else now
    began = began if isinstance(began, int | float) else now
    return SessionClock(
        idle_s=settings.session_idle_timeout_s,
        idle_left_s=max(0, int(seen + settings.session_idle_timeout_s - now)),
        left_s=max(0, int(began + settings.session_max_age_s - now)),
        warn_s=min(
            settings.session_warning_s,
            min(settings.session_idle_timeout_s, settings.session_max_age_s) // 2,
        ),
        max_age_h=_hours(settings.session_max_age_s),
    )


def login_policy(request: Request) -> login.LoginPolicy:
    return login.LoginPolicy.of(get_settings(request))


def _authenticate(request: Request, db: DbSession) -> tuple[User, bool]:
    """The user of a bearer token or of the session cookie, and whether it came by cookie.

    A plain function: FastAPI runs it in the thread pool, so the database is never read on the
    event loop (a query there stalls every request in flight).
    """
    credential = credential_of(request)
    return auth.user_for(db, credential), credential.token is None


async def get_current_user(
    request: Request, found: Annotated[tuple[User, bool], Depends(_authenticate)]
) -> User:
    """The authenticated user; a cookie-authenticated write must carry the CSRF token. A user
    who must change their password reaches only the change and the logout (a token of theirs
    was refused already, in :func:`fangkong.core.auth.user_for`)."""
    user, by_cookie = found
    if by_cookie:
        if request.url.path not in PASSWORD_CHANGE_PATHS:
            auth.require_password_changed(user)
        await check_csrf(request)
    # Plain values too: after an error the session is closed and the user object detached.
    request.state.user_id = user.id
    request.state.user_language = user.language
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_scope(db: DbSession, user: CurrentUser) -> Scope:
    """The user's scope; on PostgreSQL the database's row-level security is narrowed to it
    too for the request's transaction (the second wall under the services' scoping)."""
    scope = scope_for(db, user)
    bind_scope(db, scope, reader_id=user.id)
    return scope


UserScope = Annotated[Scope, Depends(get_scope)]


# The small dependencies below do no I/O: async, so that each costs no thread-pool hop.


def actor_of(request: Request, user: User) -> Actor:
    return Actor(user_id=user.id, username=user.username, client=client_address(request))


async def get_actor(request: Request, user: CurrentUser) -> Actor:
    return actor_of(request, user)


RequestActor = Annotated[Actor, Depends(get_actor)]


def language_of(request: Request) -> str:
    """The cookie's language, else the user's, else the default."""
    return preferred_language(
        request.cookies.get(LANGUAGE_COOKIE),
        getattr(request.state, "user_language", None),
        get_settings(request).default_language,
    )


def console_language(request: Request) -> str | None:
    """The reader's language when the request comes from the console (a logged-in browser
    session, or a language chosen there); None for a program, whose answers stay English."""
    from_console = LANGUAGE_COOKIE in request.cookies or (
        "session" in request.scope and request.session.get("user_id") is not None
    )
    return language_of(request) if from_console else None


def preferred_language(cookie: str | None, user_language: object, default: str) -> str:
    """The cookie's language, else the user's, else ``default``."""
    if cookie:
        return negotiate(cookie, default)
    if isinstance(user_language, str) and user_language:
        return negotiate(user_language, default)
    return default


async def get_language(request: Request) -> str:
    return language_of(request)


Language = Annotated[str, Depends(get_language)]


def requires(permission: str) -> params.Depends:
    """A dependency that refuses users whose role lacks ``permission``."""

    async def check(user: CurrentUser) -> User:
        auth.require(user, permission)
        return user

    dependency: params.Depends = Depends(check)
    return dependency
