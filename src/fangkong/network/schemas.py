"""API shapes of the road network: points, travel times, nearest targets, matrices."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from fangkong.areas.coords import CoordSystem
from fangkong.core.bounds import Latitude, Longitude


class Point(BaseModel):
    lon: Longitude
    lat: Latitude

    def pair(self) -> tuple[float, float]:
        return self.lon, self.lat


class TravelTimesIn(BaseModel):
    source: Point
    targets: list[Point] = Field(min_length=1)
    cutoff_s: float = Field(default=math.inf, gt=0, description="Seconds; farther is null")
    crs: CoordSystem = CoordSystem.WGS84


class TravelTimesOut(BaseModel):
    time_s: list[float | None] = Field(description="Seconds per target; null beyond the cutoff")


class NearestIn(TravelTimesIn):
    k: int = Field(default=3, ge=1, le=100)


class NearestItem(BaseModel):
    target: int = Field(description="Index into targets")
    time_s: float


class MatrixIn(BaseModel):
    sources: list[Point] = Field(min_length=1)
    targets: list[Point] = Field(min_length=1)
    cutoff_s: float = Field(gt=0, le=3600, description="Seconds; pairs beyond are left out")
    crs: CoordSystem = CoordSystem.WGS84


class MatrixOut(BaseModel):
    shape: tuple[int, int]
    source: list[int]
    target: list[int]
    time_s: list[float]
