"""Users, roles and what each role may do; password login and bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload

from fangkong.core import audit, passwords, permissions
from fangkong.core.audit import Actor
from fangkong.core.db import utcnow
from fangkong.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PasswordChangeRequired,
    Unauthorized,
)
from fangkong.core.models import AREA_NODE, ApiToken, Role, User, UserArea
from fangkong.core.plain_sql import PlainSelect
from fangkong.core.scoping import common_path
from fangkong.core.security import (
    FieldCipher,
    hash_password,
    mask_phone,
    new_token,
    token_digest,
    verify_password,
)

#: The longest life of a token when the settings give none (``token_max_ttl_hours``).
DEFAULT_TOKEN_MAX_TTL = timedelta(days=30)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, read in one plain statement: what a group-committed write needs
    of its user (see :func:`principal_for`), without loading the mapped user."""

    id: int
    username: str
    role: Role
    is_active: bool
    language: str | None
    #: See :func:`require_password_changed`.
    must_change_password: bool = False
    #: The materialised paths of the areas bound to the user (see :func:`scoping.scope_of`).
    area_paths: tuple[str, ...] = ()


def can(user: User | Principal, permission: str) -> bool:
    return user.is_active and permissions.held(user.role, permission)


def require(user: User | Principal, permission: str) -> None:
    if not can(user, permission):
        raise Forbidden(
            key="error.auth.lacks_permission",
            params={"role": user.role.value, "permission": permission},
        )


def get(session: Session, *, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_or_raise(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(key="error.user.no_such_id", params={"user_id": user_id}, field="user_id")
    return user


def get_by_username(session: Session, *, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def get_all(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def area_path_of(session: Session, *, user_id: int) -> str | None:
    """Where the audit events about a user belong: the deepest area that holds all of the
    user's areas (None, the whole system, when they share no root)."""
    paths = session.execute(
        select(AREA_NODE.c.path)
        .join(UserArea, UserArea.area_id == AREA_NODE.c.id)
        .where(UserArea.user_id == user_id)
    ).scalars()
    return common_path(paths)


def _area_ids_by_code(session: Session, codes: list[str]) -> list[int]:
    if not codes:
        raise InvalidInput(key="error.user.no_area", field="area_codes")
    selected = select(AREA_NODE.c.code, AREA_NODE.c.id).where(AREA_NODE.c.code.in_(codes))
    found: dict[str, int] = {code: area_id for code, area_id in session.execute(selected)}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise InvalidInput(
            key="error.user.unknown_areas", params={"codes": ", ".join(missing)}, field="area_codes"
        )
    return [found[code] for code in codes]


def create(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    role: Role,
    area_codes: list[str],
    actor: Actor,
    phone: str | None = None,
    cipher: FieldCipher | None = None,
    min_length: int = passwords.DEFAULT_MIN_LENGTH,
    must_change_password: bool = False,
) -> User:
    """Create a user bound to the areas with the given codes; the password must pass the
    policy (:func:`fangkong.core.passwords.check`). ``must_change_password``: the password
    is one an administrator gave (the console's, the API's and the CLI's new users), to be
    changed at the first login (see :func:`require_password_changed`)."""
    if not username or len(username) > 64 or not username.replace("_", "").isalnum():
        raise InvalidInput(key="error.user.username_invalid", field="username")
    passwords.check(password, username=username, min_length=min_length)
    if get_by_username(session, username=username) is not None:
        raise Conflict(
            key="error.user.username_taken", params={"username": username}, field="username"
        )
    area_ids = _area_ids_by_code(session, sorted(set(area_codes)))
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        area_links=[UserArea(area_id=area_id) for area_id in area_ids],
        must_change_password=must_change_password,
    )
    if phone:
        if cipher is None:
            raise ValueError("a cipher is needed to store a phone number")
        user.phone_encrypted = cipher.encrypt(phone)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="user",
        entity_id=user.id,
        detail={"username": username, "role": role.value, "areas": sorted(area_codes)}
        | ({"must_change_password": True} if must_change_password else {}),
        area_path=area_path_of(session, user_id=user.id),
    )
    return user


def _audit_user(
    session: Session, *, user: User, action: str, actor: Actor, **detail: object
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        entity="user",
        entity_id=user.id,
        detail=detail or None,
        area_path=area_path_of(session, user_id=user.id),
    )


def end_sessions(session: Session, *, user: User) -> None:
    """End every console session of ``user`` at once (logout, a new password or role,
    deactivation): the sessions carry the version they began under."""
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user, ["session_version"])


def set_active(session: Session, *, user: User, active: bool, actor: Actor) -> None:
    """Deactivate a user (their sessions end and their tokens are revoked, at once) or let
    them log in again; audited. Nobody deactivates themselves."""
    if not active and actor.user_id == user.id:
        raise Conflict(key="error.user.self", field="user_id")
    if user.is_active == active:
        return
    user.is_active = active
    session.flush()
    _audit_user(session, user=user, action="activate" if active else "deactivate", actor=actor)
    if not active:
        end_sessions(session, user=user)
        revoke_tokens(session, user=user, actor=actor)


def set_password(
    session: Session,
    *,
    user: User,
    password: str,
    actor: Actor,
    min_length: int = passwords.DEFAULT_MIN_LENGTH,
    must_change_password: bool | None = None,
) -> None:
    """Give ``user`` a new password (policy-checked); their sessions end. Audited.

    ``must_change_password`` (None: whether ``actor`` is someone else, an administrator's
    reset or the CLI): the user must change it at their next login; False (their own change)
    meets that demand."""
    passwords.check(password, username=user.username, min_length=min_length)
    user.password_hash = hash_password(password)
    user.must_change_password = (
        actor.user_id != user.id if must_change_password is None else must_change_password
    )
    session.flush()
    end_sessions(session, user=user)
    flagged: dict[str, object] = {"must_change_password": True} if user.must_change_password else {}
    _audit_user(session, user=user, action="change_password", actor=actor, **flagged)


def reset_password(
    session: Session,
    *,
    user: User,
    password: str,
    actor: Actor,
    min_length: int = passwords.DEFAULT_MIN_LENGTH,
) -> None:
    """An administrator's reset of another user's password: ``password`` is temporary,
    ``user`` must change it at their next login; their sessions end. Audited. One's own is
    refused (:class:`Conflict`): that change asks for the current password
    (:func:`change_password`)."""
    if actor.user_id is not None and actor.user_id == user.id:
        raise Conflict(key="error.user.self_reset", field="user_id")
    set_password(
        session,
        user=user,
        password=password,
        actor=actor,
        min_length=min_length,
        must_change_password=True,
    )


def require_password_changed(user: User | Principal) -> None:
    """Refuse a user who must first change the password an administrator gave them."""
    if user.must_change_password:
        raise PasswordChangeRequired(key="error.password.change_required")


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    new: str,
    actor: Actor,
    min_length: int = passwords.DEFAULT_MIN_LENGTH,
) -> None:
    """A user's own change: the current password first, then :func:`set_password` (a
    password an administrator gave need not be changed any more)."""
    if not verify_password(user.password_hash, current):
        raise Unauthorized(key="error.password.wrong_current", field="current_password")
    set_password(
        session,
        user=user,
        password=new,
        actor=actor,
        min_length=min_length,
        must_change_password=False,
    )


def set_role(session: Session, *, user: User, role: Role, actor: Actor) -> None:
    """Give ``user`` another role; their sessions end (a session never outlives its rights).
    Audited."""
    if user.role == role:
        return
    before = user.role
    user.role = role
    session.flush()
    end_sessions(session, user=user)
    _audit_user(
        session, user=user, action="set_role", actor=actor, before=before.value, after=role.value
    )


def issue_token(
    session: Session,
    *,
    user: User,
    name: str,
    ttl: timedelta | None,
    actor: Actor,
    max_ttl: timedelta = DEFAULT_TOKEN_MAX_TTL,
) -> tuple[ApiToken, str]:
    """Create a bearer token living ``ttl`` (None: ``max_ttl``, the longest allowed); the
    plain token is returned once and never stored."""
    if ttl is not None and ttl > max_ttl:
        hours = int(max_ttl.total_seconds() // 3600)
        raise InvalidInput(key="error.token.too_long", params={"hours": hours}, field="ttl_hours")
    plain = new_token()
    expires = utcnow() + (max_ttl if ttl is None else ttl)
    token = ApiToken(user_id=user.id, name=name, token_hash=token_digest(plain), expires_at=expires)
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="api_token",
        entity_id=token.id,
        detail={"name": name},
        area_path=area_path_of(session, user_id=user.id),
    )
    return token, plain


def get_token(session: Session, *, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def get_tokens(session: Session, *, user_id: int) -> list[ApiToken]:
    """A user's tokens, the newest first (the token itself is never stored)."""
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(session.scalars(query))


def revoke_token(session: Session, *, token: ApiToken, actor: Actor) -> None:
    """Refuse ``token`` from now on; audited (revoking it again changes nothing)."""
    if token.revoked:
        return
    token.revoked = True
    token.revoked_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="revoke",
        entity="api_token",
        entity_id=token.id,
        detail={"name": token.name, "user_id": token.user_id},
        area_path=area_path_of(session, user_id=token.user_id),
    )


def revoke_tokens(session: Session, *, user: User, actor: Actor) -> int:
    """Revoke every live token of ``user``; how many."""
    live = [t for t in get_tokens(session, user_id=user.id) if not t.revoked]
    for token in live:
        revoke_token(session, token=token, actor=actor)
    return len(live)


# Built once: building a statement (and its cache key) costs more than running it, and this
# one runs before every API request. The user's area links (eager by default) wait until
# read: scoping reads the areas in one query of its own.
_USER_BY_TOKEN = (
    select(User, ApiToken.revoked, ApiToken.expires_at)
    .join(ApiToken, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
    .options(lazyload(User.area_links))
)


def _live_token(found: tuple[bool, datetime | None, bool] | None) -> None:
    """Refuse a token not found, revoked, expired or of an inactive user (one answer for all:
    which one it was is not the caller's to learn)."""
    if found is None:
        raise Unauthorized(key="error.token.invalid")
    revoked, expires_at, active = found
    if revoked or (expires_at is not None and expires_at <= utcnow()) or not active:
        raise Unauthorized(key="error.token.invalid")


def user_for_token(session: Session, *, token: str) -> User:
    """Resolve a bearer token to its active user; a user who must first change their password
    is refused (403, :class:`PasswordChangeRequired`)."""
    found = session.execute(_USER_BY_TOKEN, {"digest": token_digest(token)}).one_or_none()
    _live_token(None if found is None else (found[1], found[2], found[0].is_active))
    assert found is not None
    user: User = found[0]
    require_password_changed(user)
    return user


@dataclass(frozen=True)
class Credential:
    """What a request showed: a bearer token, or the user id of its signed session cookie
    and the session version it began under (see :func:`end_sessions`)."""

    token: str | None = None
    user_id: int | None = None
    session_version: int | None = None


def user_for(session: Session, credential: Credential) -> User:
    """The active user of ``credential``; :class:`Unauthorized` otherwise."""
    if credential.token is not None:
        return user_for_token(session, token=credential.token)
    found = get(session, user_id=credential.user_id) if credential.user_id is not None else None
    if found is None or not found.is_active or found.session_version != credential.session_version:
        raise Unauthorized(key="error.login.first")
    return found


# The user with the paths of their areas (a row per area, one with no path when there is none),
# run as plain SQL: the intake writer reads it for every batch.
_PRINCIPAL_COLUMNS = (
    select(
        User.id,
        User.username,
        User.role,
        User.is_active,
        User.language,
        User.session_version,
        User.must_change_password,
        AREA_NODE.c.path,
    )
    .outerjoin(UserArea, UserArea.user_id == User.id)
    .outerjoin(AREA_NODE, AREA_NODE.c.id == UserArea.area_id)
)
_PRINCIPAL_BY_TOKEN = PlainSelect(
    _PRINCIPAL_COLUMNS.add_columns(ApiToken.revoked, ApiToken.expires_at)
    .join(ApiToken, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
_PRINCIPAL_BY_ID = PlainSelect(_PRINCIPAL_COLUMNS.where(User.id == bindparam("id")))


def principal_for(session: Session, credential: Credential) -> Principal:
    """What :func:`user_for` checks, as a :class:`Principal` with the user's area paths: one
    plain statement."""
    conn = session.connection()
    if credential.token is not None:
        rows = _PRINCIPAL_BY_TOKEN.run(conn, {"digest": token_digest(credential.token)})
        _live_token((rows[0].revoked, rows[0].expires_at, rows[0].is_active) if rows else None)
    else:
        rows = _PRINCIPAL_BY_ID.run(conn, {"id": credential.user_id})
        if (
            not rows
            or not rows[0].is_active
            or rows[0].session_version != credential.session_version
        ):
            raise Unauthorized(key="error.login.first")
    row = rows[0]
    # No console page is served from here (intake and its fast path): refused either way.
    if row.must_change_password:
        raise PasswordChangeRequired(key="error.password.change_required")
    return Principal(
        id=row.id,
        username=row.username,
        role=row.role,
        is_active=row.is_active,
        language=row.language,
        must_change_password=bool(row.must_change_password),
        area_paths=tuple(r.path for r in rows if r.path is not None),
    )


def masked_phone(user: User, cipher: FieldCipher) -> str | None:
    if user.phone_encrypted is None:
        return None
    return cipher.masked(user.phone_encrypted, mask_phone)


def reveal_phone(
    session: Session, *, viewer: User, user: User, cipher: FieldCipher, actor: Actor
) -> str | None:
    """Unmask a staff member's phone; allowed to roles that need it, and always audited."""
    require(viewer, permissions.UNMASK_PERSONAL)
    if user.phone_encrypted is None:
        return None
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="user",
        entity_id=user.id,
        detail={"field": "phone"},
        area_path=area_path_of(session, user_id=user.id),
    )
    return cipher.decrypt(user.phone_encrypted)
