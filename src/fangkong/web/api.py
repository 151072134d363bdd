"""Core API: tokens, users, the audit log and the map's base layers."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import audit, auth, login, permissions
from fangkong.core.audit import Actor
from fangkong.core.bounds import Id, Text
from fangkong.core.errors import Forbidden, NotFound, Throttled, Unauthorized
from fangkong.core.models import User
from fangkong.core.scoping import Scope, whole_tree
from fangkong.core.security import FieldCipher
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    client_address,
    get_cipher,
    get_settings,
    login_policy,
    requires,
)
from fangkong.web.schemas import (
    AuditEventOut,
    AuditFaultOut,
    AuditVerifyOut,
    PhoneOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)

router = APIRouter()


def user_out(db: Session, user: User, cipher: FieldCipher, *, locked: bool = False) -> UserOut:
    codes = list(db.scalars(select(Area.code).where(Area.id.in_(user.area_ids))))
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        is_active=user.is_active,
        area_codes=sorted(codes),
        phone_masked=auth.masked_phone(user, cipher),
        permissions=sorted(permissions.of_role(user.role)),
        locked=locked,
        second_factor=user.totp_secret_encrypted is not None,
        must_change_password=user.must_change_password,
    )


def _user_in_scope(db: Session, user: User, scope: Scope) -> bool:
    paths = db.scalars(select(Area.path).where(Area.id.in_(user.area_ids)))
    return any(scope.covers(p) for p in paths)


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
def create_token(body: TokenIn, request: Request, db: DbSession) -> TokenOut:
    """Exchange a username and password (and the one-time code of a second factor, where the
    account has one) for a bearer token. Five failures in a row lock the username, many from
    one address hold it back: both answer 429 with ``Retry-After``. A user who must first
    change the password an administrator gave them is refused (403
    ``password.change_required``): the change is made in the console."""
    settings = get_settings(request)
    try:
        user = login.authenticate(
            db,
            username=body.username,
            password=body.password,
            client=client_address(request),
            policy=login_policy(request),
            cipher=get_cipher(request),
            code=body.totp_code,
        )
    except (Unauthorized, Throttled, Forbidden):
        db.commit()  # keep the failed-login audit row and the count although the request fails
        raise
    # A flagged user's token would be refused by every route, the change of password too (it
    # is made in the console): none is issued.
    auth.require_password_changed(user)
    actor = Actor(user_id=user.id, username=user.username, client=client_address(request))
    token, plain = auth.issue_token(
        db,
        user=user,
        name=body.name,
        ttl=timedelta(hours=body.ttl_hours),
        actor=actor,
        max_ttl=timedelta(hours=settings.token_max_ttl_hours),
    )
    return TokenOut(access_token=plain, expires_at=token.expires_at)


@router.get("/users/me", response_model=UserOut, tags=["users"])
def read_me(user: CurrentUser, request: Request, db: DbSession) -> UserOut:
    return user_out(db, user, get_cipher(request))


@router.get(
    "/users",
    response_model=list[UserOut],
    tags=["users"],
    dependencies=[requires(permissions.MANAGE_USERS)],
)
def list_users(request: Request, db: DbSession, scope: UserScope) -> list[UserOut]:
    """Users bound to at least one area within your scope."""
    cipher = get_cipher(request)
    users = [u for u in auth.get_all(db) if _user_in_scope(db, u, scope)]
    locked = login.locked_usernames(db, [u.username for u in users], policy=login_policy(request))
    return [user_out(db, u, cipher, locked=u.username in locked) for u in users]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    tags=["users"],
    dependencies=[requires(permissions.MANAGE_USERS)],
)
def create_user(
    body: UserIn, request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> UserOut:
    """Create a user bound to areas within your scope."""
    for code in body.area_codes:
        area = db.scalars(select(Area).where(Area.code == code)).one_or_none()
        if area is None or not scope.covers(area.path):
            raise NotFound(
                key="error.areas.area_not_found", params={"code": code}, field="area_codes"
            )
    cipher = get_cipher(request)
    user = auth.create(
        db,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        role=body.role,
        area_codes=body.area_codes,
        phone=body.phone,
        cipher=cipher,
        actor=actor,
        min_length=get_settings(request).password_min_length,
        must_change_password=True,
    )
    return user_out(db, user, cipher)


@router.get("/users/{user_id:int}/phone", response_model=PhoneOut, tags=["users"])
def reveal_phone(
    user_id: Id,
    request: Request,
    db: DbSession,
    viewer: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> PhoneOut:
    """Unmask a staff member's work phone (roles that need it; every read is audited)."""
    auth.require(viewer, permissions.UNMASK_PERSONAL)
    user = auth.get(db, user_id=user_id)
    if user is None or not _user_in_scope(db, user, scope):
        raise NotFound(key="error.user.not_found", params={"user_id": user_id}, field="user_id")
    phone = auth.reveal_phone(db, viewer=viewer, user=user, cipher=get_cipher(request), actor=actor)
    return PhoneOut(user_id=user.id, phone=phone)


@router.get(
    "/audit",
    response_model=list[AuditEventOut],
    tags=["audit"],
    dependencies=[requires(permissions.READ_AUDIT)],
)
def list_audit(
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    entity: Text | None = None,
    action: Text | None = None,
    limit: int = 200,
) -> list[AuditEventOut]:
    """The newest audit events first: those of your areas, your own, and (to readers of the
    whole tree) those of no area."""
    events = audit.get_all(
        db,
        scope=scope,
        reader_id=user.id,
        entity=entity,
        action=action,
        limit=max(1, min(limit, 1000)),
    )
    return [AuditEventOut.model_validate(e) for e in events]


@router.get(
    "/audit/verify",
    response_model=AuditVerifyOut,
    tags=["audit"],
    dependencies=[requires(permissions.VERIFY_AUDIT)],
)
def verify_audit(
    request: Request, db: DbSession, scope: UserScope, language: Language
) -> AuditVerifyOut:
    """Check the audit log's hash chain end to end (administrators of the whole tree): an
    altered event, a deleted one and a truncated tail are each a fault."""
    if not whole_tree(db, scope):
        raise Forbidden(key="audit.verify_whole_tree")
    report = audit.verify(db, head_file=audit.head_file_of(get_settings(request).data_dir))
    return AuditVerifyOut(
        ok=report.ok,
        checked=report.checked,
        anchor_id=report.anchor_id,
        last_id=report.last_id,
        head_file_id=None if report.head_file is None else report.head_file.id,
        faults=[
            AuditFaultOut(code=f.code, event_id=f.event_id, message=f.text(language))
            for f in report.faults
        ],
    )


@router.get("/map/roads", tags=["map"], response_class=Response)
def roads(request: Request, user: CurrentUser) -> Response:
    """The road network drawn under the command map (GeoJSON FeatureCollection, simplified)."""
    path = get_settings(request).data_dir / "roads.geojson"
    if not path.exists():
        return Response(
            '{"type":"FeatureCollection","features":[]}', media_type="application/geo+json"
        )
    return FileResponse(path, media_type="application/geo+json")
