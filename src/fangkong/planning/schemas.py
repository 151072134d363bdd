"""API shapes of planning; every input bounded here, so that no value reaches a service that
it cannot take."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictFloat, StrictInt

from fangkong.core.bounds import MAX_ID, Text
from fangkong.dispatch.models import UnitType
from fangkong.planning import coverage, placement, ring
from fangkong.planning.demand import MAX_COLUMN
from fangkong.planning.models import CheckpointStatus, Direction, RunKind, SiteAction


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Code = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_no_nul)]
Name = Annotated[str, Field(max_length=128), AfterValidator(_no_nul)]
Number = StrictInt | StrictFloat
Longitude = Annotated[Number, Field(ge=-180, le=180)]
Latitude = Annotated[Number, Field(ge=-90, le=90)]
Ring = Annotated[Number, Field(ge=1, le=coverage.MAX_RING_S)]
Moment = Annotated[
    datetime,
    Field(ge=datetime(2000, 1, 1), le=datetime(2100, 12, 31)),
]


class DemandIn(BaseModel):
    """Which demand: the incidents of a period (weighted by priority) or the standard
    addresses (each 1, or a column of the address import)."""

    demand: Literal["incidents", "addresses"] = "addresses"
    area_code: Code | None = Field(default=None, description="Limit to this area's subtree")
    start: datetime | None = Field(
        default=None, description="Incidents received from (default: 30 days before end)"
    )
    end: datetime | None = Field(default=None, description="... until (default: now)")
    priority_weights: dict[
        Literal["P1", "P2", "P3", "P4"], Annotated[Number, Field(ge=0, le=1000)]
    ] = Field(default_factory=dict, description="Weight per priority (default P1 4 … P4 1)")
    weight_column: Annotated[Text, Field(min_length=1, max_length=MAX_COLUMN)] | None = Field(
        default=None, description="Weight addresses by this imported column (e.g. households)"
    )
    unit_type: UnitType = Field(default=UnitType.CAR, description="Travel as this unit type")


class CoverageIn(DemandIn):
    rings_s: list[Ring] = Field(
        default_factory=lambda: list(coverage.DEFAULT_RINGS_S), min_length=1, max_length=5
    )
    scenario_id: Id | None = Field(
        default=None, description="Cover with a scenario's sites instead of today's posts"
    )


CandidateSource = Literal["posts", "road", "addresses", "points"]


def _default_candidates() -> list[CandidateSource]:
    return ["posts", "road"]


class PlacementIn(DemandIn):
    method: Literal["mclp", "lscp", "p_median"] = "mclp"
    p: Annotated[StrictInt, Field(ge=1, le=placement.MAX_P)] | None = Field(
        default=None, description="Sites to open, fixed ones included (MCLP, p-median)"
    )
    ring_s: Ring = 180.0
    candidates: list[CandidateSource] = Field(
        default_factory=_default_candidates, min_length=1, max_length=4
    )
    posts: Literal["fixed", "free", "none"] = Field(
        default="fixed", description="Existing posts kept open, free to move, or left out"
    )
    spacing_m: Annotated[Number, Field(ge=placement.MIN_SPACING_M, le=placement.MAX_SPACING_M)] = (
        500.0
    )
    points: list[tuple[Longitude, Latitude]] = Field(
        default_factory=list, max_length=placement.MAX_DRAWN, description="Drawn candidates"
    )
    max_time_s: Ring = Field(
        default=placement.DEFAULT_MAX_TIME_S, description="p-median: cost of unreached demand"
    )
    time_limit_s: Annotated[Number, Field(ge=0.1, le=600)] = 60.0
    gap: Annotated[Number, Field(ge=0, le=0.5)] = 1e-4
    exact: bool = True


class RunOut(BaseModel):
    id: int
    kind: RunKind
    status: str
    title: str
    area_path: str
    scenario_id: int | None
    progress: float
    stage: str
    #: A failed run's error in English; by its stable code and values; in the reader's language.
    error: str | None
    error_code: str | None = None
    error_params: dict[str, Any] = Field(default_factory=dict)
    error_text: str | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: dict[str, Any]
    result: dict[str, Any] | None = None


class ChangeIn(BaseModel):
    action: SiteAction
    post_code: Code | None = Field(default=None, description="The post moved or removed")
    code: Code | None = Field(default=None, description="An added post's code")
    name: Name = ""
    lon: Longitude | None = None
    lat: Latitude | None = None


class ScenarioIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]
    description: Annotated[str, Field(max_length=4000), AfterValidator(_no_nul)] = ""
    area_code: Code | None = None
    changes: list[ChangeIn] = Field(default_factory=list, max_length=500)


class ChangesIn(BaseModel):
    changes: list[ChangeIn] = Field(default_factory=list, max_length=500)


class ChangeOut(BaseModel):
    action: SiteAction
    code: str
    name: str
    lon: float | None
    lat: float | None


class ScenarioOut(BaseModel):
    id: int
    name: str
    description: str
    area_path: str
    created_at: datetime
    changes: list[ChangeOut]


class CompareIn(DemandIn):
    rings_s: list[Ring] = Field(
        default_factory=lambda: list(coverage.DEFAULT_RINGS_S), min_length=1, max_length=5
    )


class ScenarioReplayIn(BaseModel):
    day: Annotated[Text, Field(min_length=10, max_length=10)] = Field(examples=["2026-05-01"])
    area_code: Code | None = None
    units_per_added_site: Annotated[StrictInt, Field(ge=0, le=10)] = 1
    turnout_s: Annotated[Number, Field(ge=0, le=600)] = 0.0


class FromRunIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]
    area_code: Code | None = None


class CheckpointIn(BaseModel):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]
    road: Name = ""
    direction: Direction = Direction.BOTH
    status: CheckpointStatus = CheckpointStatus.ACTIVE
    lon: Longitude
    lat: Latitude
    area_code: Code | None = Field(
        default=None, description="Where it is filed when it stands outside every area"
    )


class CheckpointPatch(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)] | None = None
    road: Name | None = None
    direction: Direction | None = None
    status: CheckpointStatus | None = None
    lon: Longitude | None = None
    lat: Latitude | None = None
    area_code: Code | None = None


class CheckpointOut(BaseModel):
    id: int
    code: str
    name: str
    road: str
    direction: Direction
    status: CheckpointStatus
    lon: float
    lat: float
    area_id: int | None


Weights = dict[Annotated[Text, Field(max_length=32)], Annotated[Number, Field(ge=0, le=1000)]]


class RingIn(BaseModel):
    area_code: Code = Field(description="The county (city) or a district whose boundary")
    snap_m: Annotated[Number, Field(gt=0, le=ring.MAX_SNAP_M)] = ring.DEFAULT_SNAP_M
    k: Annotated[StrictInt, Field(ge=0, le=ring.MAX_K)] = 5
    weights: Weights | None = Field(default=None, max_length=32)
    target: Annotated[Number, Field(gt=0, le=1)] | None = None


class RingSettings(BaseModel):
    weights: Weights = Field(max_length=32)
    target: Annotated[Number, Field(gt=0, le=1)]


class WeightColumnsOut(BaseModel):
    columns: list[str]
