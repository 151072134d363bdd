"""API shapes of the device register: every input bounded where it enters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from fangkong.core.bounds import AwareMoment, Latitude, Longitude, Text
from fangkong.devices.models import DeviceStatus, DeviceType, OwnerKind, StatusSource, ZoneType

Code = Annotated[Text, Field(min_length=1, max_length=32)]


class DeviceIn(BaseModel):
    code: Code
    name: Text = Field(default="", max_length=128)
    device_type: DeviceType
    owner_kind: OwnerKind
    facility_code: Code | None = Field(
        default=None, description="The key facility a social unit's device belongs to"
    )
    zone_type: ZoneType | None = Field(
        default=None,
        description="Left out: key_site for a facility's device, else the zone of its area",
    )
    networked: bool = False
    status: DeviceStatus = DeviceStatus.WORKING
    lon: Longitude
    lat: Latitude


class DeviceOut(BaseModel):
    id: int
    code: str
    name: str
    device_type: DeviceType
    owner_kind: OwnerKind
    facility_id: int | None
    facility_code: str | None
    zone_type: ZoneType
    networked: bool
    status: DeviceStatus
    status_at: datetime
    last_heartbeat_at: datetime | None
    lon: float
    lat: float
    area_code: str | None


class DevicePage(BaseModel):
    total: int
    items: list[DeviceOut]


class StatusIn(BaseModel):
    """A status report: the status at a moment (and a heartbeat). Sent again, it changes
    nothing; older than the device's current status, it is stale and not applied."""

    code: Code
    status: DeviceStatus | None = Field(default=None, description="Left out: a heartbeat only")
    at: AwareMoment
    heartbeat_at: AwareMoment | None = None


class BulkStatusIn(BaseModel):
    items: list[StatusIn] = Field(min_length=1, max_length=10_000)


Outcome = Literal["changed", "unchanged", "stale", "heartbeat", "error"]


class StatusResultOut(BaseModel):
    index: int
    code: str
    outcome: Outcome
    status: DeviceStatus | None = None
    field: str | None = None
    message: str | None = None


class BulkStatusOut(BaseModel):
    changed: int
    unchanged: int
    stale: int
    errors: int
    items: list[StatusResultOut]


class StatusEventOut(BaseModel):
    at: datetime
    status: DeviceStatus
    previous: DeviceStatus | None
    source: StatusSource
    recorded_by: str | None


class UptimeOut(BaseModel):
    start: datetime
    end: datetime
    working_share: float
    fault_share: float
    offline_share: float
    unknown_share: float


class ZoneIn(BaseModel):
    area_code: Code
    zone_type: Literal["central_urban", "urban_fringe", "rural"] | None = Field(
        description="null: no zone (the area counts in no zone's km²)"
    )


class ZonesIn(BaseModel):
    items: list[ZoneIn] = Field(min_length=1, max_length=10_000)


class ZoneFiguresOut(BaseModel):
    zone: str
    devices: int
    by_type: dict[str, int]
    networked: int
    online: int
    working: int
    networked_rate: float | None
    online_rate: float | None
    working_rate: float | None
    public_cameras: int
    km2: float | None
    density: float | None
    density_target: float | None
    meets_density: bool | None


class FacilityCoverageOut(BaseModel):
    facility_type: str
    facilities: int
    covered: int
    share: float | None


class AreaFiguresOut(BaseModel):
    area_code: str
    area_name: str
    level: str
    zones: list[ZoneFiguresOut]
    facilities: list[FacilityCoverageOut]


class RowErrorOut(BaseModel):
    row: int
    field: str | None
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: list[RowErrorOut]
