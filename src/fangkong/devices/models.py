"""Tables of sensing and alarm devices as assets (一机一档): one record per device, its status
history and the zone type of each area (for density against the targets).

A device is an asset: what it is, where, whose, whether networked and whether it works. No
image, capture, recognition result or record of a person is ever stored here, and nothing
here refers to one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area, LocatedMixin
from fangkong.core.county import county_from_parent, partition_key
from fangkong.core.db import Base, TimestampMixin, utcnow
from fangkong.core.models import enum_column
from fangkong.facilities.models import Facility


class DeviceType(StrEnum):
    CAMERA = "camera"
    ALARM_BUTTON = "alarm_button"
    VEHICLE_CHECKPOINT = "vehicle_checkpoint"
    ACCESS_CONTROL = "access_control"
    PERIMETER_SENSOR = "perimeter_sensor"


class OwnerKind(StrEnum):
    """Public (the public video programme, 雪亮工程) or a social unit's (a facility's own)."""

    PUBLIC = "public"
    SOCIAL = "social"


class ZoneType(StrEnum):
    """Where a device stands, for the density targets (TARGETS.md, Rugao): central urban,
    urban-rural fringe, rural settlement; key sites have coverage targets instead."""

    CENTRAL_URBAN = "central_urban"
    URBAN_FRINGE = "urban_fringe"
    RURAL = "rural"
    KEY_SITE = "key_site"


class DeviceStatus(StrEnum):
    WORKING = "working"
    FAULT = "fault"
    OFFLINE = "offline"


class Device(LocatedMixin, TimestampMixin, Base):
    """One device record (一机一档)."""

    __tablename__ = "device"
    __table_args__ = (
        Index("ix_device_type_status", "device_type", "status"),
        # The figures count devices per area and kind from this index alone, in its order
        # (:func:`fangkong.devices.figures.load`; migration 0014).
        Index(
            "ix_device_figures",
            "area_id",
            "zone_type",
            "device_type",
            "owner_kind",
            "networked",
            "status",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    device_type: Mapped[DeviceType] = mapped_column(enum_column(DeviceType, 24))
    owner_kind: Mapped[OwnerKind] = mapped_column(enum_column(OwnerKind, 8))
    #: The facility a social unit's device belongs to.
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facility.id", ondelete="SET NULL"), index=True, default=None
    )
    zone_type: Mapped[ZoneType] = mapped_column(enum_column(ZoneType, 16))
    networked: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[DeviceStatus] = mapped_column(enum_column(DeviceStatus, 8))
    #: When the current status took effect (the last change's moment).
    status_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    area: Mapped[Area | None] = relationship(
        foreign_keys="Device.area_id", lazy="joined", viewonly=True
    )
    facility: Mapped[Facility | None] = relationship(lazy="joined", viewonly=True)


class StatusSource(StrEnum):
    REGISTER = "register"
    API = "api"
    IMPORT = "import"
    CONSOLE = "console"


class DeviceStatusEvent(Base):
    """A change of a device's status at a moment: the asset's uptime record. One per device
    and moment, so a status sent again is recognised and nothing is written twice."""

    __tablename__ = "device_status_event"
    __table_args__ = (UniqueConstraint("device_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    county_id: Mapped[int | None] = county_from_parent("device", "device_id")
    #: The partition key (PostgreSQL partitions the history by county).
    partition_county: Mapped[int] = partition_key()
    at: Mapped[datetime]
    status: Mapped[DeviceStatus] = mapped_column(enum_column(DeviceStatus, 8))
    previous: Mapped[DeviceStatus | None] = mapped_column(
        enum_column(DeviceStatus, 8), default=None
    )
    source: Mapped[StatusSource] = mapped_column(enum_column(StatusSource, 16))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(64), default=None)


class AreaZone(TimestampMixin, Base):
    """The zone type of an area (set on leaves, the grids): how many km² of each zone an area
    holds, the denominator of camera density."""

    __tablename__ = "device_area_zone"

    area_id: Mapped[int] = mapped_column(
        ForeignKey("area.id", ondelete="CASCADE"), primary_key=True
    )
    zone_type: Mapped[ZoneType] = mapped_column(enum_column(ZoneType, 16))
