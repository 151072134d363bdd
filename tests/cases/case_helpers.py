"""Helpers of the case-engine tests: the frozen clock, users bound to areas, the live server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.areas.models import Area
from fangkong.cases.calendar import BusinessCalendar
from fangkong.core import auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.models import Role, User, UserArea
from fangkong.core.security import FieldCipher, hash_password

# Monday 23 November 2026, 09:00 in Shanghai: the frozen "now" of the engine tests.
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CALENDAR = BusinessCalendar()
CIPHER = FieldCipher("case-tests-" + "k" * 40)


@cache
def _password_hash() -> str:
    return hash_password(TEST_PASSWORD)  # argon2 is slow: hash once, share it


def add_user(session: Session, *, username: str, role: Role, area_code: str) -> User:
    """A user bound to one area; created directly (one shared password hash) for speed."""
    existing = auth.get_by_username(session, username=username)
    if existing is not None:
        return existing
    area = session.scalars(select(Area).where(Area.code == area_code)).one()
    user = User(
        username=username,
        display_name=username,
        password_hash=_password_hash(),
        role=role,
        area_links=[UserArea(area_id=area.id)],
    )
    session.add(user)
    session.flush()
    return user


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.id, username=user.username, client="test")


def area(session: Session, code: str) -> Area:
    return session.scalars(select(Area).where(Area.code == code)).one()


UserFactory = Callable[[Role, str], User]


# --- live server with the case routers --------------------------------------------------------


@dataclass
class CasesServer(LiveServer):
    """The live server with helpers for case tests."""

    def user_token(self, username: str, role: Role, area_code: str) -> str:
        """A bearer token for a user of ``role`` bound to ``area_code`` (created if missing)."""
        with Session(self.engine) as session:
            user = add_user(session, username=username, role=role, area_code=area_code)
            _, plain = auth.issue_token(session, user=user, name="test", ttl=None, actor=SYSTEM)
            session.commit()
        return plain

    @property
    def cipher(self) -> FieldCipher:
        return FieldCipher(self.settings.ensure_secret_key())
