"""Tables of key facilities (重点单位): the facilities with their protection, and the county's
compliance rules (overrides of the declared defaults)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area, LocatedMixin
from fangkong.core.db import Base, TimestampMixin
from fangkong.core.models import enum_column


class FacilityType(StrEnum):
    SCHOOL = "school"
    KINDERGARTEN = "kindergarten"
    HOSPITAL = "hospital"
    BANK = "bank"
    FUEL_STATION = "fuel_station"
    CHEMICAL_PLANT = "chemical_plant"
    GOVERNMENT = "government"
    TRANSPORT_HUB = "transport_hub"
    PORT = "port"
    MARKET = "market"
    ENTERTAINMENT = "entertainment"


class Facility(LocatedMixin, TimestampMixin, Base):
    """A key facility (a place, not its people): what it is, how many work there and its
    protection: guards (人防), physical barriers (物防), technical protection (技防: the
    alarm button and the video networked to the police), a school-gate post and closed
    management."""

    __tablename__ = "facility"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    facility_type: Mapped[FacilityType] = mapped_column(enum_column(FacilityType, 24), index=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    staff_count: Mapped[int] = mapped_column(Integer, default=0)
    guards_full_time: Mapped[int] = mapped_column(Integer, default=0)
    guards_part_time: Mapped[int] = mapped_column(Integer, default=0)
    physical_barriers: Mapped[bool] = mapped_column(Boolean, default=False)
    alarm_networked: Mapped[bool] = mapped_column(Boolean, default=False)
    video_networked: Mapped[bool] = mapped_column(Boolean, default=False)
    school_gate_post: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_management: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Where the record came from: an import, the console, an OpenStreetMap extract (with the
    #: element's id in ``source_ref``).
    source: Mapped[str] = mapped_column(String(16), default="manual")
    source_ref: Mapped[str | None] = mapped_column(String(64), default=None)

    area: Mapped[Area | None] = relationship(
        foreign_keys="Facility.area_id", lazy="joined", viewonly=True
    )


class FacilityRule(TimestampMixin, Base):
    """The county's version of a compliance rule: a declared default changed or switched off
    (same code), or a rule of its own. ``definition`` has the shape of
    :class:`fangkong.facilities.rules.RuleDecl`."""

    __tablename__ = "facility_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
