"""Tables of the indicator system: targets set per area and year (append-only: the history),
manual inputs per area and period (append-only, who and when), the figures computed per area
and period (a store the dashboard and the reports read), the task ledger (重点任务清单) and
the report templates a county edits.

Nothing here holds a person: figures are counts and shares, tasks name a responsible unit
(a department), never a person.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area
from fangkong.core.county import county_from_path
from fangkong.core.db import Base, TimestampMixin, utcnow
from fangkong.core.models import enum_column


class IndicatorTarget(Base):
    """One setting of an indicator's target: for an area (and its subtree, None: every area)
    and a year. Rows are never changed: the latest setting counts, the others are its history.
    ``value`` None switches the target off for that area and year."""

    __tablename__ = "indicator_target"
    __table_args__ = (Index("ix_indicator_target_lookup", "indicator_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[int | None] = mapped_column(
        ForeignKey("area.id", ondelete="CASCADE"), index=True, default=None
    )
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    note: Mapped[str] = mapped_column(String(255), default="")
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)

    area: Mapped[Area | None] = relationship(
        foreign_keys="IndicatorTarget.area_id", lazy="joined", viewonly=True
    )


class IndicatorInput(Base):
    """A manual input: the value of an indicator whose data is not in fangkong, for an area
    and a period (``YYYY-MM``), with who entered it and when. Append-only: the latest entry
    for (indicator, area, period) counts; the earlier ones are its history."""

    __tablename__ = "indicator_input"
    __table_args__ = (Index("ix_indicator_input_lookup", "indicator_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    period: Mapped[str] = mapped_column(String(7))
    value: Mapped[float] = mapped_column(Float)
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)

    area: Mapped[Area] = relationship(
        foreign_keys="IndicatorInput.area_id", lazy="joined", viewonly=True
    )


class IndicatorValue(Base):
    """A figure as computed: an indicator's value in an area (its subtree) for a period, with
    its numerator and denominator where it is a ratio, and when it was computed. Figures
    that describe a state (devices, facilities) are the state when computed: the store keeps
    each month's as it was."""

    __tablename__ = "indicator_value"
    __table_args__ = (
        UniqueConstraint("indicator_id", "area_id", "period"),
        Index("ix_indicator_value_period_path", "period", "area_path"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), index=True)
    area_path: Mapped[str] = mapped_column(String(255))
    county_id: Mapped[int | None] = county_from_path()
    period: Mapped[str] = mapped_column(String(7))
    value: Mapped[float | None] = mapped_column(Float, default=None)
    numerator: Mapped[float | None] = mapped_column(Float, default=None)
    denominator: Mapped[float | None] = mapped_column(Float, default=None)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)

    area: Mapped[Area] = relationship(
        foreign_keys="IndicatorValue.area_id", lazy="joined", viewonly=True
    )


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class IndicatorTask(TimestampMixin, Base):
    """A task of the ledger (重点任务清单): what a responsible unit must deliver in an area by
    a deadline, its progress (0-100 %), the indicators it moves and the supervision case
    opened on the case engine when it runs late."""

    __tablename__ = "indicator_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    responsible_unit: Mapped[str] = mapped_column(String(128))
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    deadline: Mapped[date] = mapped_column(index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus, 16), default=TaskStatus.OPEN)
    indicator_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_record.id", ondelete="SET NULL"), index=True, default=None
    )
    done_at: Mapped[datetime | None] = mapped_column(default=None)

    area: Mapped[Area] = relationship(
        foreign_keys="IndicatorTask.area_id", lazy="joined", viewonly=True
    )


class ReportTemplate(TimestampMixin, Base):
    """A county's version of a report's template (``bulletin``: monthly; ``annual``: the
    evaluation), per language: its title, introduction and sections (each: a heading and the
    indicators it shows). Without a row, the template shipped with fangkong is used."""

    __tablename__ = "indicator_report_template"
    __table_args__ = (UniqueConstraint("kind", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
