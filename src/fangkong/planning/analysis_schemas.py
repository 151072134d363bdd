"""API shapes of Planning II (hotspots, deployment, beats); every input bounded here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt

from fangkong.core.bounds import AwareMoment, Text
from fangkong.planning.analysis_models import AnalysisKind
from fangkong.planning.hotspot_runs import MAX_PERMUTATIONS
from fangkong.planning.schemas import Code, Number

Category = Annotated[Text, Field(min_length=1, max_length=32)]
HourOfWeek = Annotated[StrictInt, Field(ge=0, le=167)]


class HotspotIn(BaseModel):
    """Where incidents concentrate: Gi* over H3 cells, road segments per km, density."""

    area_code: Code | None = Field(default=None, description="Limit to this area's subtree")
    start: AwareMoment | None = Field(default=None, description="From (default: 90 days ago)")
    end: AwareMoment | None = Field(default=None, description="Until (default: now)")
    resolution: Literal[8, 9] = 9
    categories: list[Category] = Field(default_factory=list, max_length=50)
    priorities: list[Literal["P1", "P2", "P3", "P4"]] = Field(default_factory=list, max_length=4)
    hours: list[HourOfWeek] = Field(
        default_factory=list, max_length=168, description="Hours of week (Monday 00:00 is 0)"
    )
    permutations: Annotated[StrictInt, Field(ge=0, le=MAX_PERMUTATIONS)] = 999
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 12345
    alpha: Annotated[Number, Field(gt=0, le=0.5)] = 0.05
    inference: Literal["sim", "norm"] = "sim"
    compare_start: AwareMoment | None = Field(default=None, description="Earlier period from")
    compare_end: AwareMoment | None = Field(default=None, description="... until")
    bandwidth_m: Annotated[Number, Field(ge=50, le=20_000)] | None = Field(
        default=None, description="Kernel bandwidth (default: Scott's rule)"
    )
    segments: bool = Field(default=True, description="Count per road segment (needs the roads)")


class DeploymentIn(BaseModel):
    """Hour-of-week deployment of the stations in scope (or under ``area_code``)."""

    area_code: Code | None = Field(default=None, description="A station, or an area above it")
    weeks: Annotated[StrictInt, Field(ge=2, le=104)] = 8
    end: AwareMoment | None = Field(default=None, description="History until (default: now)")
    target: Annotated[Number, Field(gt=0, lt=1)] = 0.8
    prior_weeks: Annotated[Number, Field(ge=0, le=52)] = 2.0
    held_weeks: Annotated[StrictInt, Field(ge=1, le=26)] = 2
    sim_hours: Annotated[StrictInt, Field(ge=5, le=500)] = 60
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 21
    max_units: Annotated[StrictInt, Field(ge=1, le=100)] = 30


class BeatsIn(BaseModel):
    """k patrol beats for a station (or a district) from its grids."""

    area_code: Code = Field(description="The station (or a district: drawn, not adopted)")
    k: Annotated[StrictInt, Field(ge=1, le=100)]
    start: AwareMoment | None = Field(default=None, description="Incidents from (default: 90 days)")
    end: AwareMoment | None = Field(default=None, description="... until (default: now)")
    facility_hours: Annotated[Number, Field(ge=0, le=168)] = 1.0
    mu: Annotated[Number, Field(ge=0, le=100)] = 0.2
    time_limit_s: Annotated[Number, Field(gt=0, le=120)] = 5.0
    seed: Annotated[StrictInt, Field(ge=0, le=2**31 - 1)] = 0


class AdoptOut(BaseModel):
    analysis_id: int
    adopted: int
    detail: dict[str, Any] = Field(default_factory=dict)


class AnalysisOut(BaseModel):
    id: int
    kind: AnalysisKind
    title: str
    area_path: str
    created_at: datetime
    accepted_at: datetime | None = None
    params: dict[str, Any]
    result: dict[str, Any] | None = None
