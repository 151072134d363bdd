"""Tables of large-event security and emergency plans: event applications and their security
posts; emergency plans, their activations (real or drill)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import LocatedMixin
from fangkong.core.county import county_from_parent, county_from_path, partition_reference
from fangkong.core.db import Base, TimestampMixin
from fangkong.core.models import enum_column


class VenueKind(StrEnum):
    """What kind of place an event is held at (one of the risk rule's factors)."""

    STADIUM = "stadium"
    INDOOR_HALL = "indoor_hall"
    THEATRE = "theatre"
    EXHIBITION = "exhibition"
    SQUARE = "square"
    PARK = "park"
    STREET = "street"
    OTHER = "other"


class RiskGrade(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class SecurityPostKind(StrEnum):
    """A point of an event's security plan."""

    POST = "post"
    ENTRANCE = "entrance"
    COMMAND = "command"
    MEDICAL = "medical"


class EventApplication(LocatedMixin, TimestampMixin, Base):
    """大型活动安保申请: an organisation's application to hold an event at a venue (a key
    facility or a drawn polygon), its risk grade by the rule of :mod:`~.risk` with each
    factor, and its approval case. The point is the facility's or the polygon's centre.
    The organiser's one contact (name and phone) is encrypted (personal-data register)."""

    __tablename__ = "event_application"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    organiser: Mapped[str] = mapped_column(String(128))
    contact_name_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    contact_phone_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"), default=None, index=True
    )
    venue_kind: Mapped[VenueKind] = mapped_column(enum_column(VenueKind, 16))
    #: The drawn venue: one ring of [lon, lat] pairs (closed or not), or None with a facility.
    venue_polygon: Mapped[list[list[float]] | None] = mapped_column(JSON, default=None)
    capacity: Mapped[int] = mapped_column(Integer)
    expected_attendance: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column(index=True)
    risk_grade: Mapped[RiskGrade] = mapped_column(enum_column(RiskGrade, 16))
    risk_score: Mapped[int] = mapped_column(Integer)
    #: Each factor of the rule: {"factor", "value", "points", "band"}.
    risk_factors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_record.id", ondelete="SET NULL"), default=None, index=True
    )

    posts: Mapped[list[SecurityPost]] = relationship(
        back_populates="event",
        cascade="all, delete-orphan",
        order_by="SecurityPost.id",
        passive_deletes=True,
    )


class SecurityPost(Base):
    """One point of an event's security plan: a post, an entrance, the command post; how many
    staff stand there and which units are assigned to it. Filed under its event (scoped
    through it)."""

    __tablename__ = "event_security_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("event_application.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("event_application", "event_id")
    kind: Mapped[SecurityPostKind] = mapped_column(enum_column(SecurityPostKind, 16))
    name: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    staffing: Mapped[int] = mapped_column(Integer, default=0)
    #: Ids of the dispatch units assigned to the post.
    unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)

    event: Mapped[EventApplication] = relationship(back_populates="posts")


class EmergencyPlan(TimestampMixin, Base):
    """应急预案: the response agreed beforehand to incidents of one category at one level in
    an area: tiered reinforcement (:attr:`tiers`, each {"order", "unit_types", "post_codes",
    "count", "max_travel_s"}), checkpoints to close (planning's register), facilities to
    notify, and the targets its activations are timed against."""

    __tablename__ = "emergency_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32), index=True)
    #: 1 (特别重大, I) to 4 (一般, IV).
    level: Mapped[int] = mapped_column(Integer)
    area_id: Mapped[int | None] = mapped_column(
        ForeignKey("area.id", ondelete="SET NULL"), default=None, index=True
    )
    area_path: Mapped[str | None] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    checkpoint_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    facility_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: Seconds from activation to the first unit on scene, and to every first-tier unit.
    target_first_s: Mapped[int] = mapped_column(Integer)
    target_full_s: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Activation(Base):
    """One activation of a plan from an incident: its clock (``started_at``), the dispatches
    the recommender proposed tier by tier, what the commander confirmed, and the checkpoints
    and facilities it named. ``drill``: an exercise on a simulated incident, never counted in
    the real figures."""

    __tablename__ = "emergency_activation"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("emergency_plan.id", ondelete="RESTRICT"), index=True
    )
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL"), default=None, index=True
    )
    #: The incident's partition key (set with ``incident_id``; migration 0026).
    incident_county: Mapped[int | None] = partition_reference("incident", "incident_id")
    drill: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    area_path: Mapped[str | None] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    started_at: Mapped[datetime] = mapped_column(index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    #: [{"tier", "unit_id", "call_sign", "time_s", "ring"}], nearest first within a tier.
    proposals: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    confirmed_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )

    plan: Mapped[EmergencyPlan] = relationship(lazy="joined")
    steps: Mapped[list[ActivationStep]] = relationship(
        back_populates="activation",
        cascade="all, delete-orphan",
        order_by="ActivationStep.id",
        passive_deletes=True,
    )


class StepKind(StrEnum):
    """What an activation's step is about: a checkpoint closed, a facility notified."""

    CHECKPOINT = "checkpoint"
    FACILITY = "facility"


class ActivationStep(Base):
    """One of the plan's checkpoints closed, or one of its facilities notified, during an
    activation: who marked it and when (the time from the activation follows from
    ``started_at``). Marked once: no undo and no re-marking; a mistake is said in the
    ``note`` of the entry or in the activation's findings. Filed under its activation
    (scoped through it)."""

    __tablename__ = "emergency_activation_step"
    __table_args__ = (UniqueConstraint("activation_id", "kind", "ref_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activation_id: Mapped[int] = mapped_column(
        ForeignKey("emergency_activation.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("emergency_activation", "activation_id")
    kind: Mapped[StepKind] = mapped_column(enum_column(StepKind, 16))
    #: The checkpoint's or the facility's id (one of the plan's).
    ref_id: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[datetime] = mapped_column()
    done_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    #: Who marked it, as the audit names them (kept when the user is gone).
    done_by: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str] = mapped_column(String(500), default="")

    activation: Mapped[Activation] = relationship(back_populates="steps")
