"""API shapes of the jurisdiction tree and standard addresses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fangkong.areas.coords import CoordSystem
from fangkong.areas.models import AreaLevel
from fangkong.core.bounds import Latitude, Longitude, Text


class AreaOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name_zh: str
    name_en: str
    level: AreaLevel
    parent_id: int | None
    area_m2: float
    source: str


class AreaNode(AreaOut):
    children: list[AreaNode] = Field(default_factory=list)


class LocateOut(BaseModel):
    lon: float = Field(description="WGS-84 longitude, degrees")
    lat: float = Field(description="WGS-84 latitude, degrees")
    h3_cell: str = Field(description="H3 cell id at resolution 9")
    areas: list[AreaOut] = Field(description="Areas holding the point, top down, within scope")


class AddressIn(BaseModel):
    code: Text = Field(min_length=1, max_length=32)
    text_zh: Text = Field(min_length=1, max_length=255)
    text_en: Text = Field(default="", max_length=255)
    lon: Longitude
    lat: Latitude
    crs: CoordSystem = Field(
        default=CoordSystem.WGS84,
        description="Coordinate system of lon/lat: wgs84, gcj02 (Gaode, Tencent) or bd09 (Baidu)",
    )


class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    text_zh: str
    text_en: str
    lon: float
    lat: float
    h3_cell: str
    area_id: int | None
    source: str


class FusionViolationOut(BaseModel):
    kind: str
    codes: list[str]
    area_m2: float
    geometry: dict[str, Any] | None = None


class FusionReportOut(BaseModel):
    checked_stations: int
    checked_beats: int
    tolerance_m2: float
    violations: list[FusionViolationOut]


class ImportReportOut(BaseModel):
    created: int
    by_level: dict[str, int]
