"""Tables of the core: users, their areas, API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    column,
    false,
    table,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.core.county import county_from_path, partition_key
from fangkong.core.db import Base, TimestampMixin, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    COMMANDER = "commander"
    STATION_OFFICER = "station_officer"
    GRID_WORKER = "grid_worker"
    MEDIATOR = "mediator"
    INSPECTOR = "inspector"
    EVALUATOR = "evaluator"
    VIEWER = "viewer"


def enum_column(enum: type[StrEnum], length: int = 32) -> Enum:
    """A portable string-backed enum column (no native PostgreSQL type to migrate)."""
    return Enum(
        enum,
        native_enum=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class User(TimestampMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    is_active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    # Work phone of the staff member (personal data): Fernet ciphertext, never plain text.
    phone_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    #: Console sessions carry the version they began under; raising it (logout, a new
    #: password, a new role, deactivation) ends every session of the user at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The second factor's TOTP secret (field cipher), once enrolment is confirmed; the
    #: secret of an enrolment begun and not yet confirmed; the step of the last code used.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    totp_pending_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    totp_last_step: Mapped[int | None] = mapped_column(default=None)
    #: Set when an administrator gave the password (a new user, a reset): until the user
    #: changes it, a console login leads only to the change and their tokens are refused.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())

    area_links: Mapped[list[UserArea]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def area_ids(self) -> list[int]:
        return [link.area_id for link in self.area_links]


#: The jurisdiction tree's nodes as core sees them. The table belongs to the areas domain, which
#: core never imports; binding users to areas and scoping by area path read only these columns.
AREA_NODE = table("area", column("id", Integer), column("code", String), column("path", String))


class UserArea(Base):
    __tablename__ = "user_area"
    __table_args__ = (UniqueConstraint("user_id", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)

    user: Mapped[User] = relationship(back_populates="area_links")


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    # Only the SHA-256 of the token is kept: a stolen database yields no usable token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Every token expires (the settings' token_max_ttl_hours at most).
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class LoginThrottle(Base):
    """Failed logins counted per username (``kind`` "user": consecutive, reset by a success;
    names of no account too, so that a lock tells nothing of who exists) and per client
    address (``kind`` "client": within a window)."""

    __tablename__ = "login_throttle"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One event of the audit log, a link of its hash chain (see :mod:`fangkong.core.audit`)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # RESTRICT: a user with events is deactivated, never deleted (SET NULL would alter them).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="RESTRICT"), index=True
    )
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The area path of what the event concerns (the incident's, the case's, the user's
    #: areas' deepest common one); None for what concerns the whole system. Reads are scoped
    #: by it, as every other read.
    area_path: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    county_id: Mapped[int | None] = county_from_path()
    #: The partition key (PostgreSQL partitions the log by county and month).
    partition_county: Mapped[int] = partition_key()
    #: The chain: the hash of the event before it (or of the purge anchor) and its own,
    #: SHA-256 over that and the event's canonical form (hex).
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    chain_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditReaderCounty(Base):
    """A county (or ``0``, none) whose partition of the audit log holds an event of a user:
    where a reader's own events lie, so that their audit list reads those counties'
    partitions and their scope's alone, not every county's (issue 23). Kept by the database
    at every insert of an event, by any writer (triggers of migration 0030); never removed
    (a purge leaves a county that no longer holds the user's events: one partition more to
    read, nothing missed)."""

    __tablename__ = "audit_reader_county"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    county: Mapped[int] = mapped_column(primary_key=True)


class AuditChain(Base):
    """The head of the audit chain (one row, id 1): appends take its row lock, so that they
    are serialised on every backend; the purge anchor is where the chain now starts."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int | None] = mapped_column(default=None)
    last_hash: Mapped[str] = mapped_column(String(64))
    anchor_id: Mapped[int | None] = mapped_column(default=None)
    anchor_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
