"""A password an administrator gave must be changed at the first login: the flag is set by an
administrator's create and reset (not by a user's own change), refuses the user's tokens and
the principal of any credential, and is cleared, audited, by the user's own change."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core import auth, security
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.errors import Forbidden, PasswordChangeRequired, Unauthorized
from fangkong.core.models import AuditEvent, Role, User

GIVEN = "given-by-the-admin"
CHOSEN = "chosen-by-myself-now"
ADMIN = Actor(user_id=None, username="root", client="cli")


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    import argon2

    monkeypatch.setattr(
        security, "_hasher", argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


def _create(db: Session, *, flagged: bool, username: str = "newbie") -> User:
    return auth.create(
        db,
        username=username,
        display_name=username.title(),
        password=GIVEN,
        role=Role.STATION_OFFICER,
        area_codes=["T-D1-S1"],
        actor=ADMIN,
        must_change_password=flagged,
    )


def _events(db: Session, action: str, user: User) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.entity_id == str(user.id))
        .order_by(AuditEvent.id)
    )
    return list(db.scalars(query))


def test_an_administrators_user_must_change_and_is_refused_until_then(db: Session) -> None:
    user = _create(db, flagged=True)
    assert user.must_change_password
    (created,) = _events(db, "create", user)
    assert created.detail is not None and created.detail["must_change_password"] is True
    _, plain = auth.issue_token(db, user=user, name="script", ttl=None, actor=ADMIN)
    token = auth.Credential(token=plain)
    cookie = auth.Credential(user_id=user.id, session_version=user.session_version)

    with pytest.raises(PasswordChangeRequired) as refused:
        auth.user_for(db, token)
    assert isinstance(refused.value, Forbidden) and refused.value.status_code == 403
    assert refused.value.to_dict()["code"] == "password.change_required"
    assert "changed first" in refused.value.message
    with pytest.raises(PasswordChangeRequired):
        auth.principal_for(db, token)
    with pytest.raises(PasswordChangeRequired):
        auth.principal_for(db, cookie)
    # The console session resolves (the web layer leads it to the change of password).
    assert auth.user_for(db, cookie).id == user.id

    # A wrong current password changes nothing.
    with pytest.raises(Unauthorized):
        auth.change_password(db, user=user, current="not-it-at-all", new=CHOSEN, actor=SYSTEM)
    assert user.must_change_password

    me = Actor(user_id=user.id, username=user.username, client="10.0.0.9")
    auth.change_password(db, user=user, current=GIVEN, new=CHOSEN, actor=me)
    db.expire_all()
    assert not user.must_change_password
    assert security.verify_password(user.password_hash, CHOSEN)
    # Its other sessions ended as a change of password ends them; the token is accepted now.
    with pytest.raises(Unauthorized):
        auth.user_for(db, cookie)
    assert auth.user_for(db, token).id == user.id
    assert auth.principal_for(db, token).id == user.id
    changed = _events(db, "change_password", user)
    assert len(changed) == 1 and changed[0].user_id == user.id
    assert not (changed[0].detail or {}).get("must_change_password")


def test_a_reset_by_someone_else_flags_and_ones_own_does_not(db: Session) -> None:
    user = _create(db, flagged=False)
    assert not user.must_change_password
    assert auth.principal_for(
        db, auth.Credential(user_id=user.id, session_version=user.session_version)
    )
    # An administrator (here the CLI's actor, no user) resets it.
    auth.set_password(db, user=user, password="a-reset-by-the-admin", actor=ADMIN)
    assert user.must_change_password
    (reset,) = _events(db, "change_password", user)
    assert reset.detail == {"must_change_password": True}
    # The user sets their own (their own actor): no demand.
    me = Actor(user_id=user.id, username=user.username, client=None)
    auth.set_password(db, user=user, password="my-own-long-phrase", actor=me)
    assert not user.must_change_password


def test_seeded_and_plain_users_are_not_flagged(db: Session) -> None:
    assert not _create(db, flagged=False, username="plain").must_change_password
    # The tests' seeded users (conftest) and what create gives by default.
    flagged = db.scalars(select(User).where(User.must_change_password)).all()
    assert flagged == []
