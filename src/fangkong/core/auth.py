"""Users, roles and what each role may do; password login and bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from fangkong.core import audit, permissions
from fangkong.core.audit import Actor
from fangkong.core.db import utcnow
from fangkong.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from fangkong.core.models import AREA_NODE, ApiToken, Role, User, UserArea
from fangkong.core.plain_sql import PlainSelect
from fangkong.core.scoping import common_path
from fangkong.core.security import (
    MIN_PASSWORD_LENGTH,
    FieldCipher,
    hash_password,
    mask_phone,
    new_token,
    token_digest,
    verify_password,
)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, read in one plain statement: what a group-committed write needs
    of its user (see :func:`principal_for`), without loading the mapped user."""

    id: int
    username: str
    role: Role
    is_active: bool
    language: str | None
    #: The materialised paths of the areas bound to the user (see :func:`scoping.scope_of`).
    area_paths: tuple[str, ...] = ()


def can(user: User | Principal, permission: str) -> bool:
    return user.is_active and permissions.held(user.role, permission)


def require(user: User | Principal, permission: str) -> None:
    if not can(user, permission):
        raise Forbidden(f"role {user.role.value!r} lacks the permission {permission!r}")


def get(session: Session, *, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_or_raise(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist", field="user_id")
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
        raise InvalidInput("a user must be bound to at least one area", field="area_codes")
    selected = select(AREA_NODE.c.code, AREA_NODE.c.id).where(AREA_NODE.c.code.in_(codes))
    found: dict[str, int] = {code: area_id for code, area_id in session.execute(selected)}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise InvalidInput(f"unknown area codes: {', '.join(missing)}", field="area_codes")
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
) -> User:
    """Create a user bound to the areas with the given codes."""
    if not username or len(username) > 64 or not username.replace("_", "").isalnum():
        raise InvalidInput("username must be 1-64 letters, digits or underscores", field="username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if get_by_username(session, username=username) is not None:
        raise Conflict(f"username {username!r} is taken", field="username")
    area_ids = _area_ids_by_code(session, sorted(set(area_codes)))
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hash_password(password),
        role=role,
        area_links=[UserArea(area_id=area_id) for area_id in area_ids],
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
        detail={"username": username, "role": role.value, "areas": sorted(area_codes)},
        area_path=area_path_of(session, user_id=user.id),
    )
    return user


def authenticate(session: Session, *, username: str, password: str, client: str | None) -> User:
    """Check a username and password; every failure is audited and answers the same."""
    user = get_by_username(session, username=username)
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        audit.record(
            session,
            actor=Actor(user_id=None, username=username[:64], client=client),
            action="login_failed",
            entity="user",
            # A known name's failures belong to its areas; an unknown one's to no area.
            area_path=None if user is None else area_path_of(session, user_id=user.id),
        )
        raise Unauthorized("wrong username or password")
    audit.record(
        session,
        actor=Actor(user_id=user.id, username=user.username, client=client),
        action="login",
        entity="user",
        entity_id=user.id,
        area_path=area_path_of(session, user_id=user.id),
    )
    return user


def issue_token(
    session: Session, *, user: User, name: str, ttl: timedelta | None, actor: Actor
) -> tuple[ApiToken, str]:
    """Create a bearer token; the plain token is returned once and never stored."""
    plain = new_token()
    expires: datetime | None = utcnow() + ttl if ttl is not None else None
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
        raise Unauthorized("invalid or expired token")
    revoked, expires_at, active = found
    if revoked or (expires_at is not None and expires_at <= utcnow()) or not active:
        raise Unauthorized("invalid or expired token")


def user_for_token(session: Session, *, token: str) -> User:
    """Resolve a bearer token to its active user."""
    found = session.execute(_USER_BY_TOKEN, {"digest": token_digest(token)}).one_or_none()
    _live_token(None if found is None else (found[1], found[2], found[0].is_active))
    assert found is not None
    user: User = found[0]
    return user


@dataclass(frozen=True)
class Credential:
    """What a request showed: a bearer token, or the user id of its signed session cookie."""

    token: str | None = None
    user_id: int | None = None


def user_for(session: Session, credential: Credential) -> User:
    """The active user of ``credential``; :class:`Unauthorized` otherwise."""
    if credential.token is not None:
        return user_for_token(session, token=credential.token)
    found = get(session, user_id=credential.user_id) if credential.user_id is not None else None
    if found is None or not found.is_active:
        raise Unauthorized("log in first")
    return found


# The user with the paths of their areas (a row per area, one with no path when there is none),
# run as plain SQL: the intake writer reads it for every batch.
_PRINCIPAL_COLUMNS = (
    select(User.id, User.username, User.role, User.is_active, User.language, AREA_NODE.c.path)
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
        if not rows or not rows[0].is_active:
            raise Unauthorized("log in first")
    row = rows[0]
    return Principal(
        id=row.id,
        username=row.username,
        role=row.role,
        is_active=row.is_active,
        language=row.language,
        area_paths=tuple(r.path for r in rows if r.path is not None),
    )


def masked_phone(user: User, cipher: FieldCipher) -> str | None:
    if user.phone_encrypted is None:
        return None
    return mask_phone(cipher.decrypt(user.phone_encrypted))


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
