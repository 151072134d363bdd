"""The API of accounts: one's tokens, password and second factor; an administrator's
deactivation, unlock, role change, token revocation and second-factor reset (issue 16).

Users are managed within one's areas: a user none of whose areas lie in the manager's scope
answers 404, as every record out of scope does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import auth, login, permissions
from fangkong.core.bounds import Id
from fangkong.core.errors import NotFound
from fangkong.core.models import ApiToken, User
from fangkong.core.scoping import Scope
from fangkong.http.deps import (
    SESSION_VERSION,
    CurrentUser,
    DbSession,
    RequestActor,
    UserScope,
    credential_of,
    get_cipher,
    get_settings,
    login_policy,
    requires,
)
from fangkong.web.api import user_out
from fangkong.web.schemas import (
    PasswordChangeIn,
    PasswordResetIn,
    RoleIn,
    TokenInfoOut,
    TotpCodeIn,
    TotpEnrolmentOut,
    UserOut,
)

router = APIRouter()
_MANAGE = [requires(permissions.MANAGE_USERS)]
_NO_CONTENT = 204


def in_scope(db: Session, user: User, scope: Scope) -> bool:
    """Whether one of ``user``'s areas lies in ``scope``."""
    paths = db.scalars(select(Area.path).where(Area.id.in_(user.area_ids)))
    return any(scope.covers(p) for p in paths)


def managed_user(db: Session, user_id: Id, scope: Scope) -> User:
    """The user ``user_id`` if within ``scope``; :class:`NotFound` otherwise."""
    user = auth.get(db, user_id=user_id)
    if user is None or not in_scope(db, user, scope):
        raise NotFound(key="error.user.not_found", params={"user_id": user_id}, field="user_id")
    return user


def _token_out(token: ApiToken) -> TokenInfoOut:
    return TokenInfoOut.model_validate(token)


@router.get("/tokens", response_model=list[TokenInfoOut], tags=["auth"])
def list_my_tokens(user: CurrentUser, db: DbSession) -> list[TokenInfoOut]:
    """Your tokens, the newest first (their names and lives; the tokens are never stored)."""
    return [_token_out(t) for t in auth.get_tokens(db, user_id=user.id)]


@router.delete("/tokens/{token_id:int}", status_code=_NO_CONTENT, tags=["auth"])
def revoke_token(
    token_id: Id, user: CurrentUser, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    """Revoke one of your tokens, or (managing users) a token of a user of your areas."""
    token = auth.get_token(db, token_id=token_id)
    allowed = token is not None and (
        token.user_id == user.id
        or (
            auth.can(user, permissions.MANAGE_USERS)
            and in_scope(db, auth.get_or_raise(db, user_id=token.user_id), scope)
        )
    )
    if token is None or not allowed:
        raise NotFound(key="error.token.not_found", params={"token_id": token_id}, field="token_id")
    auth.revoke_token(db, token=token, actor=actor)
    return Response(status_code=_NO_CONTENT)


@router.post("/users/me/password", status_code=_NO_CONTENT, tags=["users"])
def change_my_password(
    body: PasswordChangeIn,
    request: Request,
    user: CurrentUser,
    db: DbSession,
    actor: RequestActor,
) -> Response:
    """Change your password (your current one first): your other sessions end, this one
    goes on."""
    auth.change_password(
        db,
        user=user,
        current=body.current_password,
        new=body.new_password,
        actor=actor,
        min_length=get_settings(request).password_min_length,
    )
    if credential_of(request).token is None:
        request.session[SESSION_VERSION] = user.session_version
    return Response(status_code=_NO_CONTENT)


@router.post("/users/me/totp", response_model=TotpEnrolmentOut, tags=["users"])
def begin_my_enrolment(request: Request, user: CurrentUser, db: DbSession) -> TotpEnrolmentOut:
    """Begin enrolling a second factor (or a new one): the secret is shown this once; confirm
    it with a code (``/users/me/totp/confirm``)."""
    enrolment = login.begin_enrolment(db, user=user, cipher=get_cipher(request))
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post("/users/me/totp/confirm", status_code=_NO_CONTENT, tags=["users"])
def confirm_my_enrolment(
    body: TotpCodeIn, request: Request, user: CurrentUser, db: DbSession, actor: RequestActor
) -> Response:
    """Confirm the enrolment begun with a code of its secret: from now on, logins and new
    tokens need a one-time code."""
    login.confirm_enrolment(db, user=user, code=body.code, cipher=get_cipher(request), actor=actor)
    return Response(status_code=_NO_CONTENT)


@router.get(
    "/users/{user_id:int}/tokens",
    response_model=list[TokenInfoOut],
    tags=["users"],
    dependencies=_MANAGE,
)
def list_user_tokens(user_id: Id, db: DbSession, scope: UserScope) -> list[TokenInfoOut]:
    """A user's tokens (a user of your areas)."""
    target = managed_user(db, user_id, scope)
    return [_token_out(t) for t in auth.get_tokens(db, user_id=target.id)]


@router.post(
    "/users/{user_id:int}/deactivate", status_code=_NO_CONTENT, tags=["users"], dependencies=_MANAGE
)
def deactivate_user(user_id: Id, db: DbSession, scope: UserScope, actor: RequestActor) -> Response:
    """Deactivate a user: their sessions end and their tokens are revoked at once."""
    target = managed_user(db, user_id, scope)
    auth.set_active(db, user=target, active=False, actor=actor)
    return Response(status_code=_NO_CONTENT)


@router.post(
    "/users/{user_id:int}/activate", status_code=_NO_CONTENT, tags=["users"], dependencies=_MANAGE
)
def activate_user(user_id: Id, db: DbSession, scope: UserScope, actor: RequestActor) -> Response:
    """Let a deactivated user log in again (with new tokens: the old ones stay revoked)."""
    target = managed_user(db, user_id, scope)
    auth.set_active(db, user=target, active=True, actor=actor)
    return Response(status_code=_NO_CONTENT)


@router.post(
    "/users/{user_id:int}/unlock", status_code=_NO_CONTENT, tags=["users"], dependencies=_MANAGE
)
def unlock_user(user_id: Id, db: DbSession, scope: UserScope, actor: RequestActor) -> Response:
    """Lift the lock of a user locked after failed logins."""
    target = managed_user(db, user_id, scope)
    login.unlock(db, username=target.username, actor=actor)
    return Response(status_code=_NO_CONTENT)


@router.put(
    "/users/{user_id:int}/role", response_model=UserOut, tags=["users"], dependencies=_MANAGE
)
def set_user_role(
    user_id: Id,
    body: RoleIn,
    request: Request,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> UserOut:
    """Give a user another role: their sessions end (a session never outlives its rights)."""
    target = managed_user(db, user_id, scope)
    auth.set_role(db, user=target, role=body.role, actor=actor)
    locked = login.locked_usernames(db, [target.username], policy=login_policy(request))
    return user_out(db, target, get_cipher(request), locked=bool(locked))


@router.put(
    "/users/{user_id:int}/password",
    status_code=_NO_CONTENT,
    tags=["users"],
    dependencies=_MANAGE,
)
def reset_user_password(
    user_id: Id,
    body: PasswordResetIn,
    request: Request,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> Response:
    """Give a user of your areas a temporary password (a forgotten one): they must change it
    at their next login, their sessions end and their tokens are refused until then. Audited
    (never the password)."""
    target = managed_user(db, user_id, scope)
    auth.reset_password(
        db,
        user=target,
        password=body.password,
        actor=actor,
        min_length=get_settings(request).password_min_length,
    )
    return Response(status_code=_NO_CONTENT)


@router.delete(
    "/users/{user_id:int}/totp", status_code=_NO_CONTENT, tags=["users"], dependencies=_MANAGE
)
def reset_user_totp(user_id: Id, db: DbSession, scope: UserScope, actor: RequestActor) -> Response:
    """Forget a user's second factor (a lost phone): they enrol again at their next login."""
    target = managed_user(db, user_id, scope)
    login.reset_second_factor(db, user=target, actor=actor)
    return Response(status_code=_NO_CONTENT)
