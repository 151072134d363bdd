"""Users, login, bearer tokens, personal reads and jurisdiction scopes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import permissions as area_perms
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import auth, login, permissions, security
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from fangkong.core.models import ApiToken, AuditEvent, Role, User
from fangkong.core.scoping import scope_for, scope_of
from fangkong.core.security import FieldCipher, verify_password

PASSWORD = "correct-horse-battery"
CIPHER = FieldCipher("t" * 40)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest: these tests are about the flow, not the hash's cost."""
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def _user(
    db: Session,
    username: str = "alice",
    *,
    role: Role = Role.STATION_OFFICER,
    areas: tuple[str, ...] = ("T-D1-S1",),
    phone: str | None = None,
) -> User:
    return auth.create(
        db,
        username=username,
        display_name=username.title(),
        password=PASSWORD,
        role=role,
        area_codes=list(areas),
        actor=SYSTEM,
        phone=phone,
        cipher=CIPHER if phone else None,
    )


def _events(db: Session, action: str) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


# ------------------------------------------------------------------------------------------
# Creating users
# ------------------------------------------------------------------------------------------


def test_create_binds_areas_hashes_password_and_audits(db: Session) -> None:
    user = _user(db, areas=("T-D1-S1", "T-D2"))
    assert user.id is not None
    assert verify_password(user.password_hash, PASSWORD)
    assert PASSWORD not in user.password_hash
    bound = {area_service.get_by_code_or_raise(db, code=c).id for c in ("T-D1-S1", "T-D2")}
    assert set(user.area_ids) == bound
    assert auth.get_by_username(db, username="alice") is user
    assert auth.get_or_raise(db, user_id=user.id) is user
    (event,) = [e for e in _events(db, "create") if e.entity == "user"]
    assert (event.entity_id, event.username) == (str(user.id), "system")
    assert event.detail == {
        "username": "alice",
        "role": "station_officer",
        "areas": ["T-D1-S1", "T-D2"],
    }


@pytest.mark.parametrize("password", ["", "short", "1234567", "x7#Kp2qL9"])
def test_short_password_is_refused(db: Session, password: str) -> None:
    with pytest.raises(InvalidInput, match="at least 10 characters") as exc:
        auth.create(
            db,
            username="bob",
            display_name="Bob",
            password=password,
            role=Role.VIEWER,
            area_codes=["T"],
            actor=SYSTEM,
        )
    assert exc.value.field == "password"


@pytest.mark.parametrize("username", ["", "bob smith", "bob-smith", "bob@x", "b" * 65, "../x"])
def test_bad_username_is_refused(db: Session, username: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        auth.create(
            db,
            username=username,
            display_name="Bob",
            password=PASSWORD,
            role=Role.VIEWER,
            area_codes=["T"],
            actor=SYSTEM,
        )
    assert exc.value.field == "username"
    assert auth.get_by_username(db, username=username) is None


def test_username_with_underscores_and_digits_is_accepted(db: Session) -> None:
    assert _user(db, "grid_worker_07").username == "grid_worker_07"


def test_duplicate_username_is_a_conflict(db: Session) -> None:
    _user(db)
    with pytest.raises(Conflict) as exc:
        _user(db, areas=("T",))
    assert exc.value.field == "username"
    assert exc.value.status_code == 409
    assert len(auth.get_all(db)) == 1


def test_unknown_area_codes_are_named(db: Session) -> None:
    with pytest.raises(InvalidInput) as exc:
        _user(db, areas=("T-D1", "NOPE-2", "NOPE-1"))
    assert exc.value.field == "area_codes"
    assert "NOPE-1, NOPE-2" in exc.value.message
    assert "T-D1" not in exc.value.message
    assert auth.get_by_username(db, username="alice") is None


def test_a_user_needs_an_area(db: Session) -> None:
    with pytest.raises(InvalidInput) as exc:
        _user(db, areas=())
    assert exc.value.field == "area_codes"


def test_phone_needs_a_cipher(db: Session) -> None:
    with pytest.raises(ValueError, match="cipher"):
        auth.create(
            db,
            username="bob",
            display_name="Bob",
            password=PASSWORD,
            role=Role.VIEWER,
            area_codes=["T"],
            actor=SYSTEM,
            phone="13800001234",
        )


def test_get_or_raise_unknown_user(db: Session) -> None:
    with pytest.raises(NotFound) as exc:
        auth.get_or_raise(db, user_id=999_999)
    assert exc.value.field == "user_id"
    assert auth.get(db, user_id=999_999) is None


# ------------------------------------------------------------------------------------------
# Login
# ------------------------------------------------------------------------------------------


def test_authenticate_success_is_audited(db: Session) -> None:
    user = _user(db)
    assert login.authenticate(db, username="alice", password=PASSWORD, client="10.0.0.7") is user
    (event,) = _events(db, "login")
    assert (event.user_id, event.username, event.client) == (user.id, "alice", "10.0.0.7")
    assert (event.entity, event.entity_id) == ("user", str(user.id))
    assert _events(db, "login_failed") == []


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "inactive user"])
def test_authenticate_failures_answer_alike_and_are_audited(db: Session, case: str) -> None:
    user = _user(db)
    username, password = "alice", PASSWORD
    if case == "wrong password":
        password = PASSWORD + "!"
    elif case == "unknown user":
        username = "mallory"
    else:
        user.is_active = False
        db.flush()
    with pytest.raises(Unauthorized) as exc:
        login.authenticate(db, username=username, password=password, client="10.0.0.8")
    assert exc.value.message == "wrong username or password"
    assert exc.value.status_code == 401
    (event,) = _events(db, "login_failed")
    assert (event.user_id, event.username, event.client) == (None, username, "10.0.0.8")
    assert _events(db, "login") == []


def test_failed_login_with_a_huge_username_is_audited_truncated(db: Session) -> None:
    with pytest.raises(Unauthorized):
        login.authenticate(db, username="x" * 500, password=PASSWORD, client=None)
    (event,) = _events(db, "login_failed")
    assert event.username == "x" * 64


# ------------------------------------------------------------------------------------------
# Tokens
# ------------------------------------------------------------------------------------------


def test_token_resolves_to_its_user_and_is_stored_hashed(db: Session) -> None:
    user = _user(db)
    actor = Actor(user_id=user.id, username=user.username, client="t")
    token, plain = auth.issue_token(db, user=user, name="cli", ttl=timedelta(hours=1), actor=actor)
    assert plain.startswith("fk_")
    assert token.token_hash != plain and plain not in token.token_hash
    db.expire_all()  # read the row back from the database, not the identity map
    assert auth.user_for_token(db, token=plain).id == user.id
    stored = db.get(ApiToken, token.id)
    assert stored is not None and stored.expires_at is not None
    assert stored.expires_at.tzinfo is not None
    assert [e.entity_id for e in _events(db, "create") if e.entity == "api_token"] == [
        str(token.id)
    ]


def test_token_without_expiry_is_accepted(db: Session) -> None:
    user = _user(db)
    _token, plain = auth.issue_token(db, user=user, name="svc", ttl=None, actor=SYSTEM)
    db.expire_all()
    assert auth.user_for_token(db, token=plain).id == user.id


def test_unknown_token_is_refused(db: Session) -> None:
    with pytest.raises(Unauthorized):
        auth.user_for_token(db, token="fk_not-a-real-token")


def test_expired_token_is_refused(db: Session) -> None:
    user = _user(db)
    _token, plain = auth.issue_token(
        db, user=user, name="old", ttl=timedelta(seconds=-1), actor=SYSTEM
    )
    db.expire_all()
    with pytest.raises(Unauthorized, match="invalid or expired token"):
        auth.user_for_token(db, token=plain)


def test_revoked_token_is_refused(db: Session) -> None:
    user = _user(db)
    token, plain = auth.issue_token(db, user=user, name="cli", ttl=timedelta(days=1), actor=SYSTEM)
    token.revoked = True
    db.flush()
    db.expire_all()
    with pytest.raises(Unauthorized):
        auth.user_for_token(db, token=plain)


def test_token_of_an_inactive_user_is_refused(db: Session) -> None:
    user = _user(db)
    _token, plain = auth.issue_token(db, user=user, name="cli", ttl=None, actor=SYSTEM)
    user.is_active = False
    db.flush()
    db.expire_all()
    with pytest.raises(Unauthorized):
        auth.user_for_token(db, token=plain)


RESOLVERS = {"user": auth.user_for, "principal": auth.principal_for}


@pytest.mark.parametrize("resolver", sorted(RESOLVERS))
def test_a_credential_resolves_to_its_user_or_principal(db: Session, resolver: str) -> None:
    user = _user(db)
    user.language = "en"
    _token, plain = auth.issue_token(db, user=user, name="cli", ttl=timedelta(days=1), actor=SYSTEM)
    db.flush()
    db.expire_all()
    for credential in (
        auth.Credential(token=plain),
        auth.Credential(user_id=user.id, session_version=0),
    ):
        found = RESOLVERS[resolver](db, credential)
        assert (found.id, found.username, found.role, found.is_active, found.language) == (
            user.id,
            user.username,
            user.role,
            True,
            "en",
        )
    assert auth.can(auth.principal_for(db, auth.Credential(token=plain)), "areas.read")


def test_a_principal_carries_the_scope_of_its_user(db: Session) -> None:
    user = _user(db)
    _token, plain = auth.issue_token(db, user=user, name="cli", ttl=None, actor=SYSTEM)
    db.flush()
    by_token = auth.principal_for(db, auth.Credential(token=plain))
    by_id = auth.principal_for(db, auth.Credential(user_id=user.id, session_version=0))
    assert by_token.area_paths and sorted(by_token.area_paths) == sorted(by_id.area_paths)
    assert scope_of(by_token.area_paths) == scope_for(db, user)


@pytest.mark.parametrize("resolver", sorted(RESOLVERS))
@pytest.mark.parametrize("case", ["unknown", "expired", "revoked", "inactive", "no user"])
def test_both_resolvers_refuse_alike(db: Session, resolver: str, case: str) -> None:
    user = _user(db)
    token, plain = auth.issue_token(
        db,
        user=user,
        name="cli",
        ttl=timedelta(seconds=-1 if case == "expired" else 60),
        actor=SYSTEM,
    )
    credential = auth.Credential(token=plain)
    if case == "unknown":
        credential = auth.Credential(token="fk_not-a-real-token")
    elif case == "revoked":
        token.revoked = True
    elif case == "inactive":
        user.is_active = False
    elif case == "no user":
        credential = auth.Credential(user_id=user.id + 1000)
    db.flush()
    db.expire_all()
    with pytest.raises(Unauthorized):
        RESOLVERS[resolver](db, credential)


# ------------------------------------------------------------------------------------------
# Permissions and personal data
# ------------------------------------------------------------------------------------------


def test_roles_and_inactive_users(db: Session) -> None:
    admin = _user(db, "admin1", role=Role.ADMIN, areas=("T",))
    viewer = _user(db, "viewer1", role=Role.VIEWER, areas=("T",))
    assert auth.can(admin, permissions.MANAGE_USERS)
    assert not auth.can(viewer, permissions.MANAGE_USERS)
    auth.require(viewer, area_perms.READ)
    with pytest.raises(Forbidden, match=re.escape("'viewer' lacks the permission 'users.manage'")):
        auth.require(viewer, permissions.MANAGE_USERS)
    admin.is_active = False
    assert not auth.can(admin, area_perms.READ)
    # Every role holds at least the area reads, so no role is silently without permissions.
    assert all(area_perms.READ in permissions.of_role(role) for role in Role)


def test_reveal_phone_is_audited(db: Session) -> None:
    admin = _user(db, "admin1", role=Role.ADMIN, areas=("T",))
    staff = _user(db, "staff1", phone="13800001234")
    assert staff.phone_encrypted is not None and "13800001234" not in staff.phone_encrypted
    assert auth.masked_phone(staff, CIPHER) == "138******34"
    assert _events(db, "read_personal") == []  # masking is not a personal read
    actor = Actor(user_id=admin.id, username=admin.username, client="10.0.0.9")
    assert (
        auth.reveal_phone(db, viewer=admin, user=staff, cipher=CIPHER, actor=actor) == "13800001234"
    )
    (event,) = _events(db, "read_personal")
    assert (event.user_id, event.username, event.client) == (admin.id, "admin1", "10.0.0.9")
    assert (event.entity, event.entity_id, event.detail) == (
        "user",
        str(staff.id),
        {"field": "phone"},
    )


def test_reveal_phone_is_refused_to_a_viewer(db: Session) -> None:
    viewer = _user(db, "viewer1", role=Role.VIEWER, areas=("T",))
    staff = _user(db, "staff1", phone="13800001234")
    with pytest.raises(Forbidden):
        auth.reveal_phone(
            db,
            viewer=viewer,
            user=staff,
            cipher=CIPHER,
            actor=Actor(user_id=viewer.id, username=viewer.username),
        )
    assert _events(db, "read_personal") == []


def test_no_phone_reveals_nothing(db: Session) -> None:
    admin = _user(db, "admin1", role=Role.ADMIN, areas=("T",))
    staff = _user(db, "staff1")
    assert auth.masked_phone(staff, CIPHER) is None
    assert auth.reveal_phone(db, viewer=admin, user=staff, cipher=CIPHER, actor=SYSTEM) is None
    assert _events(db, "read_personal") == []


# ------------------------------------------------------------------------------------------
# Scopes
# ------------------------------------------------------------------------------------------


def _path(db: Session, code: str) -> str:
    return area_service.get_by_code_or_raise(db, code=code).path


def test_scope_is_the_bound_paths(db: Session) -> None:
    user = _user(db, areas=("T-D2", "T-D1-S2"))
    scope = scope_for(db, user)
    assert set(scope.paths) == {_path(db, "T-D2"), _path(db, "T-D1-S2")}
    assert scope.covers(_path(db, "T-D1-S2-B1-G2"))
    assert scope.covers(_path(db, "T-D2-S1"))
    assert not scope.covers(_path(db, "T-D1-S1-B1"))
    assert not scope.covers(_path(db, "T"))
    assert not scope.covers(None)


def test_nested_bindings_collapse(db: Session) -> None:
    user = _user(db, areas=("T-D1-S1-B2-G1", "T-D1", "T-D1-S1"))
    assert scope_for(db, user).paths == (_path(db, "T-D1"),)


def test_sibling_ids_sharing_a_prefix_do_not_collapse(db: Session) -> None:
    # Paths end with "/", so "/1/2/" never swallows "/1/23/" although "2" prefixes "23".
    user = _user(db, areas=("T-D1-S1", "T-D1-S2", "T-D2-S1", "T-D2-S2"))
    assert len(scope_for(db, user).paths) == 4


def test_scope_clause_filters_a_query(db: Session) -> None:
    user = _user(db, areas=("T-D1-S2",))
    scope = scope_for(db, user)
    codes = set(db.scalars(select(Area.code).where(scope.clause(Area.path))))
    assert codes == {
        "T-D1-S2",
        "T-D1-S2-B1",
        "T-D1-S2-B2",
        "T-D1-S2-B1-G1",
        "T-D1-S2-B1-G2",
        "T-D1-S2-B2-G1",
        "T-D1-S2-B2-G2",
    }
