"""Tables of Planning II (issue 21): analyses of incidents over places (hotspots, hour-of-week
deployment, beats) stored with their inputs and results, and the roster adopted per station
and hour of week."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fangkong.core.county import county_from_path
from fangkong.core.db import Base, utcnow
from fangkong.core.models import enum_column


class AnalysisKind(StrEnum):
    HOTSPOT = "hotspot"
    DEPLOYMENT = "deployment"
    BEATS = "beats"


class Analysis(Base):
    """One hotspot, deployment or beats analysis with its parameters and result (JSON), filed
    under the area it concerns and read in scope."""

    __tablename__ = "planning_analysis"
    __table_args__ = (Index("ix_planning_analysis_kind_created", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[AnalysisKind] = mapped_column(enum_column(AnalysisKind, 16))
    title: Mapped[str] = mapped_column(String(200), default="")
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    params: Mapped[str] = mapped_column(Text)
    result: Mapped[str] = mapped_column(Text)
    #: beats: set when the beats were imported as beat areas
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RosterHour(Base):
    """The units a station fields in one hour of the week (Monday 00:00-01:00 is 0), as
    adopted from a deployment analysis."""

    __tablename__ = "planning_roster_hour"
    __table_args__ = (
        UniqueConstraint("area_id", "hour_of_week"),
        CheckConstraint("hour_of_week >= 0 AND hour_of_week < 168", name="hour_of_week"),
        CheckConstraint("units >= 0", name="units"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    hour_of_week: Mapped[int]
    units: Mapped[int]
    analysis_id: Mapped[int | None] = mapped_column(
        ForeignKey("planning_analysis.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
