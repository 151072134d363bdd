"""Tables of the community safety forces (群防群治) and of the public's tips (群众举报).

Teams are counted, not listed: a team records how many members it has, the buildings and
households it covers and the area it serves. Patrols and committees may keep a minimal member
record (name and phone, encrypted, cleared when the member leaves) for their rosters; an
informant network never does (SCOPE: no register of people). A public tip keeps its category,
its place and its outcome; its text and photo go to the hazard case it became (and are purged
with it), its contact (when one was left) is encrypted and cleared on schedule.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area, LocatedMixin
from fangkong.core.county import county_from_parent, county_from_path
from fangkong.core.db import Base, TimestampMixin
from fangkong.core.models import enum_column


class TeamKind(StrEnum):
    VOLUNTEER_PATROL = "volunteer_patrol"
    SAFETY_COMMITTEE = "safety_committee"
    INFORMANT_NETWORK = "informant_network"


class SafetyTeam(TimestampMixin, Base):
    """A community safety team (平安志愿者巡逻队, 治保会, 治安信息员网络) serving an area:
    its counts, never its people (member records are optional and minimal)."""

    __tablename__ = "safety_team"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[TeamKind] = mapped_column(enum_column(TeamKind, 24), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    #: How many members the team has (a count kept by the team's area, whether or not its
    #: members are recorded one by one).
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    #: What an informant network covers: buildings and households (one informant per building
    #: or per 20 households is the measure); patrols and committees may leave them at 0.
    buildings: Mapped[int] = mapped_column(Integer, default=0)
    households: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disbanded_at: Mapped[datetime | None] = mapped_column(default=None)

    area: Mapped[Area] = relationship(
        foreign_keys="SafetyTeam.area_id", lazy="joined", viewonly=True
    )


class SafetyMember(TimestampMixin, Base):
    """The minimal record of a patrol's or committee's member, for its rosters: name and
    phone encrypted (shown masked, read in clear only with the permission, audited), both
    cleared at the first purge after the member left; the row stays, nameless, so that past
    shifts keep their counts."""

    __tablename__ = "safety_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("safety_team.id", ondelete="CASCADE"), index=True
    )
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    name_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    phone_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class ShiftStatus(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


class PatrolShift(TimestampMixin, Base):
    """A patrol shift of a team's roster: when, where (an area), how many are planned and how
    many turned out; the members put on it are :class:`ShiftMember` rows."""

    __tablename__ = "safety_shift"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("safety_team.id", ondelete="CASCADE"), index=True
    )
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    planned: Mapped[int] = mapped_column(Integer, default=0)
    turned_out: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[ShiftStatus] = mapped_column(
        enum_column(ShiftStatus, 16), default=ShiftStatus.PLANNED
    )

    team: Mapped[SafetyTeam] = relationship(lazy="joined", viewonly=True)
    area: Mapped[Area] = relationship(
        foreign_keys="PatrolShift.area_id", lazy="joined", viewonly=True
    )


class ShiftMember(Base):
    """A member put on a shift (the roster)."""

    __tablename__ = "safety_shift_member"
    __table_args__ = (UniqueConstraint("shift_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(
        ForeignKey("safety_shift.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("safety_shift", "shift_id")
    member_id: Mapped[int] = mapped_column(
        ForeignKey("safety_member.id", ondelete="CASCADE"), index=True
    )


class AreaResidents(TimestampMixin, Base):
    """The residents (and households) of an area, entered by hand: the base of the figures
    per 100,000 residents."""

    __tablename__ = "area_residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="CASCADE"), unique=True)
    area_path: Mapped[str] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    residents: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class TipCategory(StrEnum):
    """What a tip is about: the hazard categories of the case engine."""

    FIRE = "fire"
    TRAFFIC = "traffic"
    STRUCTURAL = "structural"
    CHEMICAL = "chemical"
    CROWD = "crowd"
    PUBLIC_ORDER = "public_order"
    OTHER = "other"


class TipStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class PublicTip(LocatedMixin, TimestampMixin, Base):
    """A tip from the public about a hazard or a concern at a place. It holds no text: the
    text and photo of an accepted tip are the hazard case's (``case_id``); a rejected one keeps
    only its reason. The receipt code given to the tipster is kept as a keyed digest."""

    __tablename__ = "public_tip"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: The form token's nonce: each token is taken once.
    form_nonce: Mapped[str] = mapped_column(String(32), unique=True)
    category: Mapped[TipCategory] = mapped_column(enum_column(TipCategory, 16), index=True)
    status: Mapped[TipStatus] = mapped_column(enum_column(TipStatus, 16), index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    received_at: Mapped[datetime] = mapped_column(index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_record.id", ondelete="SET NULL"), index=True, default=None
    )
    has_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")

    area: Mapped[Area | None] = relationship(
        foreign_keys="PublicTip.area_id", lazy="joined", viewonly=True
    )
