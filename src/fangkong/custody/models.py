"""Tables of the custody of seized property (涉案财物): items as assets and their chain of
custody, append-only.

An item links to an incident or a case by its number only: no suspect, owner or any other
person is recorded. Its chain (:class:`CustodyStep`) is written once per step and never
changed: triggers refuse ``UPDATE`` and ``DELETE`` on both backends (migration 0018); a
mistake is corrected by a new step that names the one it replaces, as the materials ledger
does. The item's ``stage``, ``location`` and ``due_at`` are what its chain says now, kept on
the item so that lists and alerts need no walk.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area
from fangkong.core.county import county_from_path
from fangkong.core.db import Base, TimestampMixin
from fangkong.core.models import enum_column


class ItemCategory(StrEnum):
    CASH = "cash"
    VEHICLE = "vehicle"
    ELECTRONICS = "electronics"
    DOCUMENT = "document"
    WEAPON = "weapon"
    DRUG = "drug"
    VALUABLES = "valuables"
    OTHER = "other"


class RefKind(StrEnum):
    """What an item is held for: an incident's number or a case's."""

    INCIDENT = "incident"
    CASE = "case"


class Stage(StrEnum):
    """The steps of the chain; ``returned`` and ``disposed`` end it."""

    RECEIVED = "received"
    STORED = "stored"
    MOVED = "moved"
    EXAMINED = "examined"
    RETURNED = "returned"
    DISPOSED = "disposed"


class CustodyItem(TimestampMixin, Base):
    """A seized item held by a station (its area): what it is, how many, what it is held for,
    and where its chain stands now."""

    __tablename__ = "custody_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[ItemCategory] = mapped_column(enum_column(ItemCategory, 16), index=True)
    #: What it is ("black bicycle"): free text where a name may be written, purged on schedule.
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit: Mapped[str] = mapped_column(String(16), default="piece")
    ref_kind: Mapped[RefKind] = mapped_column(enum_column(RefKind, 16))
    ref_number: Mapped[str] = mapped_column(String(48), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, 16), index=True)
    stage_at: Mapped[datetime]
    location: Mapped[str] = mapped_column(String(128), default="")
    due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    #: The overdue-alert case opened for the current stage (cleared when the stage moves on).
    alert_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_record.id", ondelete="SET NULL"), default=None
    )

    area: Mapped[Area] = relationship(
        foreign_keys="CustodyItem.area_id", lazy="joined", viewonly=True
    )


class CustodyStep(Base):
    """One step of an item's chain: what happened, where, who recorded it (a staff account)
    and who handled it (a staff member's name or a unit), when it happened and when it was
    recorded. Append-only; ``corrects_id`` names the step a correction replaces (each step
    is corrected at most once)."""

    __tablename__ = "custody_step"
    __table_args__ = (UniqueConstraint("item_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("custody_item.id", ondelete="RESTRICT"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, 16))
    location: Mapped[str] = mapped_column(String(128), default="")
    handled_by: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(String(64), default="")
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("custody_step.id", ondelete="RESTRICT"), default=None, unique=True
    )
    #: A correction that cancels the step it corrects (a step recorded in error).
    void: Mapped[bool] = mapped_column(Boolean, default=False)
