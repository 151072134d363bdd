"""Tables of the case engine: cases, their timeline, parties, attachments, links and deadlines."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area
from fangkong.core.county import county_from_parent, county_from_path
from fangkong.core.db import Base, TimestampMixin, utcnow
from fangkong.core.models import enum_column


class EventKind(StrEnum):
    CREATE = "create"
    TRANSITION = "transition"
    COMMENT = "comment"
    SUPERVISE = "supervise"
    ATTACHMENT = "attachment"
    LINK = "link"
    REMIND = "remind"
    OVERDUE = "overdue"
    ESCALATE = "escalate"
    RISK = "risk"
    PURGE = "purge"


class Case(TimestampMixin, Base):
    """One case of a declared type, placed in an area (scoped by its ``area_path``)."""

    __tablename__ = "case_record"
    __table_args__ = (
        Index("ix_case_record_type_state", "case_type", "state"),
        # an area's cases opened in a period (the indicators' reads by area id)
        Index("ix_case_record_area_opened", "area_id", "opened_at"),
        # the deadline tick's cases to look at: those due or changed since it last ran
        # (migration 0027)
        Index(
            "ix_case_record_next_check",
            "next_check_at",
            postgresql_where=text("next_check_at IS NOT NULL"),
            sqlite_where=text("next_check_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(48))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    h3_cell: Mapped[str | None] = mapped_column(String(16), default=None)
    # Non-personal field values, latest value per field (what indicators may read).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Personal field values: Fernet ciphertext of a JSON object; None once purged.
    personal_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    assignee_org: Mapped[str | None] = mapped_column(String(128), default=None)
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True, default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    opened_at: Mapped[datetime] = mapped_column(index=True)
    state_entered_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True, default=None)
    # Raised on every state entry and every supervision: a deadline period of its own.
    deadline_round: Mapped[int] = mapped_column(Integer, default=0)
    #: When the deadline tick next looks at the case: the earliest of its deadline's actions
    #: not yet done, or when its deadline changed; None when nothing is left to do.
    next_check_at: Mapped[datetime | None] = mapped_column(default=None)
    is_overdue: Mapped[bool] = mapped_column(default=False)
    # Ever late: a deadline passed before the case left the state (kept for the indicators).
    late: Mapped[bool] = mapped_column(default=False)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    supervised_at: Mapped[datetime | None] = mapped_column(default=None)
    supervision_count: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(index=True, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_risk: Mapped[bool] = mapped_column(default=False)
    risk_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)

    area: Mapped[Area] = relationship(foreign_keys="Case.area_id", lazy="selectin", viewonly=True)
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        order_by="CaseEvent.id",
        passive_deletes=True,
    )
    parties: Mapped[list[CaseParty]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        order_by="CaseParty.id",
        passive_deletes=True,
    )
    attachments: Mapped[list[CaseAttachment]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        order_by="CaseAttachment.id",
        passive_deletes=True,
    )
    links: Mapped[list[CaseLink]] = relationship(
        back_populates="case",
        cascade="all, delete-orphan",
        order_by="CaseLink.id",
        passive_deletes=True,
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's mapping


class CaseEvent(Base):
    """One line of a case's timeline: who did what, when (transitions, comments, deadlines)."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_record.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("case_record", "case_id")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, 16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    transition: Mapped[str | None] = mapped_column(String(48), default=None)
    from_state: Mapped[str | None] = mapped_column(String(48), default=None)
    to_state: Mapped[str | None] = mapped_column(String(48), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    personal_encrypted: Mapped[str | None] = mapped_column(Text, default=None)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseParty(Base):
    """A party of a case (e.g. of a dispute). Name and contact are encrypted; nothing else is
    kept about the person, and no score or grade of any kind."""

    __tablename__ = "case_party"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_record.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("case_record", "case_id")
    role: Mapped[str] = mapped_column(String(32))
    name_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    contact_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    anonymised_at: Mapped[datetime | None] = mapped_column(default=None)

    case: Mapped[Case] = relationship(back_populates="parties")


class CaseAttachment(Base):
    """A file of a case. Its bytes are sealed on disk with a key of their own (AES-256-GCM);
    the key is kept here encrypted with the field cipher. ``sha256`` is a keyed digest
    (HMAC-SHA256) of the content, never a plain hash of what may show people."""

    __tablename__ = "case_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_record.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("case_record", "case_id")
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    # The file's key, encrypted with the field cipher; None: a file stored in clear before
    # files were sealed, until the purge job seals it.
    key_encrypted: Mapped[str | None] = mapped_column(String(255), default=None)
    uploaded_by: Mapped[str | None] = mapped_column(String(64), default=None)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="attachments")


class CaseLink(Base):
    """A typed reference to a record of another domain (incident, facility, case): kind, id,
    label. The other domain's table need not exist yet."""

    __tablename__ = "case_link"
    __table_args__ = (UniqueConstraint("case_id", "kind", "ref_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_record.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("case_record", "case_id")
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="links")


class DeadlineAction(Base):
    """A deadline action done once: (case, deadline round, action) is unique, so a second tick
    over the same moment finds the row and does nothing."""

    __tablename__ = "case_deadline_action"
    __table_args__ = (UniqueConstraint("case_id", "deadline_round", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id", ondelete="CASCADE"))
    county_id: Mapped[int | None] = county_from_parent("case_record", "case_id")
    deadline_round: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime]


class CaseNotice(Base):
    """A notice to one staff member about a case: reminder, overdue, escalation, risk alert."""

    __tablename__ = "case_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_record.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("case_record", "case_id")
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, 16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
