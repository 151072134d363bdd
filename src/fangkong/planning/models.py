"""Tables of planning: checkpoints, scenarios and their site changes, runs, demand weights,
settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import LocatedMixin
from fangkong.core.county import county_from_parent, county_from_path
from fangkong.core.db import Base, TimestampMixin, utcnow
from fangkong.core.models import enum_column


class Direction(StrEnum):
    """Which traffic a checkpoint controls."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BOTH = "both"


class CheckpointStatus(StrEnum):
    ACTIVE = "active"
    PLANNED = "planned"
    INACTIVE = "inactive"


class Checkpoint(LocatedMixin, TimestampMixin, Base):
    """卡口: a fixed control point on a road. ``area_path`` is the area it lies in, or the
    area it is filed under when it stands just outside every area (at the boundary)."""

    __tablename__ = "planning_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    road: Mapped[str] = mapped_column(String(128), default="")
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, 16))
    status: Mapped[CheckpointStatus] = mapped_column(enum_column(CheckpointStatus, 16))


class SiteAction(StrEnum):
    """What a scenario does to a post: adds a new one, moves or removes an existing one."""

    ADD = "add"
    MOVE = "move"
    REMOVE = "remove"


class Scenario(TimestampMixin, Base):
    """A plan: the current posts with some added, moved or removed."""

    __tablename__ = "planning_scenario"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    # The area the plan concerns: it is read by the users whose scope covers it.
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    area_id: Mapped[int | None] = mapped_column(
        ForeignKey("area.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )

    sites: Mapped[list[ScenarioSite]] = relationship(
        back_populates="scenario",
        cascade="all, delete-orphan",
        order_by="ScenarioSite.id",
        passive_deletes=True,
        lazy="selectin",
    )


class ScenarioSite(Base):
    """One change of a scenario: a post added (code, name, point), moved (its post and the new
    point) or removed (its post)."""

    __tablename__ = "planning_scenario_site"

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("planning_scenario.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("planning_scenario", "scenario_id")
    action: Mapped[SiteAction] = mapped_column(enum_column(SiteAction, 8))
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("police_post.id", ondelete="CASCADE"), default=None
    )
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128), default="")
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)

    scenario: Mapped[Scenario] = relationship(back_populates="sites")


class RunKind(StrEnum):
    COVERAGE = "coverage"
    PLACEMENT = "placement"
    RING = "ring"
    COMPARE = "compare"
    REPLAY = "replay"
    #: hour-of-week deployment run as a province batch's task (issue 23)
    DEPLOYMENT = "deployment"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Run(Base):
    """One planning computation with its inputs and its result (JSON), so that it can be
    reopened and exported. Long ones (placements) run in the background: ``progress`` (0-1)
    and ``stage`` follow them, ``cancel_requested`` stops them."""

    __tablename__ = "planning_run"
    __table_args__ = (Index("ix_planning_run_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RunKind] = mapped_column(enum_column(RunKind, 16), index=True)
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus, 16))
    title: Mapped[str] = mapped_column(String(200), default="")
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    scenario_id: Mapped[int | None] = mapped_column(
        ForeignKey("planning_scenario.id", ondelete="SET NULL"), default=None, index=True
    )
    params: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(64), default="")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AddressWeight(Base):
    """A numeric column of the address import (e.g. ``households``) for one standard address:
    demand weights for coverage and placement."""

    __tablename__ = "planning_address_weight"
    __table_args__ = (UniqueConstraint("address_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address_id: Mapped[int] = mapped_column(
        ForeignKey("standard_address.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("standard_address", "address_id")
    name: Mapped[str] = mapped_column(String(32), index=True)
    value: Mapped[float] = mapped_column(Float)


class Setting(Base):
    """An editable planning setting (JSON), e.g. the control ring's road-class weights."""

    __tablename__ = "planning_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
