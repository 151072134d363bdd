"""API shapes of the dispatch domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from fangkong.core.bounds import Day, Id, Latitude, Longitude, Text
from fangkong.dispatch import replay as replay_service
from fangkong.dispatch.models import (
    IncidentStatus,
    PostKind,
    Priority,
    Source,
    UnitStatus,
    UnitType,
)


class SubtypeOut(BaseModel):
    subtype: str
    label: str


class CategoryOut(BaseModel):
    category: str
    label: str
    subtypes: list[SubtypeOut]


class IncidentIn(BaseModel):
    category: Text = Field(max_length=32, description="See /incidents/categories")
    subtype: Text = Field(max_length=32)
    priority: Priority
    source: Source
    lon: Longitude | None = Field(
        default=None, description="WGS-84; give lon and lat, or address_code"
    )
    lat: Latitude | None = None
    address_code: Text | None = Field(
        default=None,
        max_length=32,
        description="A standard address (标准地址) in your areas: "
        "the incident is placed at its point",
    )
    description: Text = Field(default="", max_length=4000)
    caller_contact: Text | None = Field(
        default=None, max_length=64, description="Stored encrypted, shown masked"
    )
    idempotency_key: Text | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Or the Idempotency-Key header: a retry with the same key returns the "
        "original incident (200), never a duplicate",
    )


class AssignmentOut(BaseModel):
    id: int
    unit_id: int
    call_sign: str
    dispatched_at: datetime
    predicted_s: float | None
    arrived_at: datetime | None
    released_at: datetime | None


class EventOut(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    username: str | None
    note: str | None


class TimesOut(BaseModel):
    call_to_dispatch_s: float | None
    dispatch_to_arrival_s: float | None
    call_to_arrival_s: float | None


class IncidentOut(BaseModel):
    id: int
    category: str
    subtype: str
    category_label: str
    subtype_label: str
    priority: Priority
    source: Source
    status: IncidentStatus
    description: str
    lon: float
    lat: float
    h3_cell: str
    area_code: str | None
    caller_contact_masked: str | None
    received_at: datetime
    dispatched_at: datetime | None
    en_route_at: datetime | None
    on_scene_at: datetime | None
    cleared_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    merged_into_id: int | None
    times: TimesOut


class RoadAccessOut(BaseModel):
    lon: float
    lat: float
    distance_m: float = Field(description="Metres from the scene to this point on the road")


class IncidentDetail(IncidentOut):
    events: list[EventOut]
    assignments: list[AssignmentOut]
    road: RoadAccessOut | None = Field(
        default=None,
        description="The scene snapped to the road network: the nearest point "
        "on a road, where units arrive; null without an imported road network or when no road "
        "lies within 1 km",
    )


class IncidentPage(BaseModel):
    total: int
    items: list[IncidentOut]


class TransitionIn(BaseModel):
    to: IncidentStatus
    note: Text | None = Field(default=None, max_length=2000)
    merged_into_id: Id | None = None


class DispatchIn(BaseModel):
    unit_ids: list[Id] = Field(min_length=1, max_length=20)


class CandidateOut(BaseModel):
    rank: int
    unit_id: int
    call_sign: str
    unit_type: UnitType
    staged: bool
    time_s: float
    eta: datetime
    ring: Literal["1min", "3min", "5min", "beyond"]
    role: Literal["primary", "reinforcement", "alternative"]
    suggested: bool


class RecommendationOut(BaseModel):
    incident_id: int
    priority: Priority
    candidates: list[CandidateOut]


class ContactOut(BaseModel):
    incident_id: int
    caller_contact: str | None


class UnitIn(BaseModel):
    call_sign: Text = Field(min_length=1, max_length=32)
    type: UnitType
    home_area_code: Text = Field(max_length=32)
    home_post_code: Text | None = Field(
        default=None,
        max_length=32,
        description="The post the unit is based at; the unit starts at its position",
    )
    staged: StrictBool = False


class UnitOut(BaseModel):
    id: int
    call_sign: str
    type: UnitType
    home_area_id: int
    status: UnitStatus
    staged: bool
    home_post_id: int | None
    lon: float | None
    lat: float | None
    position_at: datetime | None


class PostIn(BaseModel):
    code: Text = Field(min_length=1, max_length=32)
    name: Text = Field(min_length=1, max_length=128)
    kind: PostKind
    lon: Longitude
    lat: Latitude


class PostOut(BaseModel):
    id: int
    code: str
    name: str
    kind: PostKind
    lon: float
    lat: float
    area_id: int | None


class PositionIn(BaseModel):
    lon: Longitude
    lat: Latitude
    staged: StrictBool | None = None
    status: Literal["available", "out_of_service"] | None = None


class SummaryOut(BaseModel):
    count: int
    p50_s: float | None
    p90_s: float | None


class KpisOut(BaseModel):
    area_code: str | None
    start: datetime
    end: datetime
    basis: Literal["dispatch", "call"]
    incidents: int
    ring_share: dict[str, float | None]
    call_to_dispatch: SummaryOut
    dispatch_to_arrival: SummaryOut
    call_to_arrival: SummaryOut
    by_category: dict[str, int]


class RowErrorOut(BaseModel):
    row: int = Field(
        description="CSV: line number in the file (the header is line 1); "
        "JSON: the item's position in the array, from 1"
    )
    field: str | None
    message: str
    code: str | None = Field(default=None, description="A stable code of the rule broken")
    params: dict[str, Any] | None = Field(default=None, description="The message's values")


class ImportOut(BaseModel):
    created: list[int]
    existing: list[int]
    errors: list[RowErrorOut]


class LiveIncidentOut(BaseModel):
    id: int
    priority: Priority
    status: IncidentStatus
    open: bool
    category: str
    subtype: str
    lon: float
    lat: float
    area_id: int | None
    received_at: datetime
    dispatched_at: datetime | None
    on_scene_at: datetime | None


class LiveUnitOut(BaseModel):
    id: int
    call_sign: str
    type: UnitType
    status: UnitStatus
    staged: bool
    lon: float | None
    lat: float | None
    home_post_id: int | None
    position_at: datetime | None


class BreachOut(BaseModel):
    incident_id: int
    priority: Priority
    ring: Literal["1min", "3min", "5min", "beyond"] = Field(
        description="The largest response ring passed without a unit on scene"
    )
    waited_s: float


class LiveOut(BaseModel):
    """What the live command map shows; the stream sends this first (``snapshot``), then
    ``incident``, ``unit``, ``post`` and ``alert`` events shaped like its items."""

    at: datetime
    incidents: list[LiveIncidentOut]
    units: list[LiveUnitOut]
    posts: list[PostOut]
    alerts: list[BreachOut]


class ReplayIn(BaseModel):
    day: Day = Field(
        description="The recorded day, YYYY-MM-DD, local date in the county's time zone",
        examples=["2026-05-01"],
    )
    area_code: Text | None = Field(
        default=None, max_length=32, description="Replay only the incidents in this area's subtree"
    )
    turnout_s: float = Field(
        default=0.0,
        ge=0.0,
        le=replay_service.MAX_TURNOUT_S,
        description="Seconds from dispatch to rolling, added to every "
        "drive (0: arrival = dispatch + road time)",
    )


class ReplaySummaryOut(BaseModel):
    id: int
    day: str
    area_code: str | None
    created_at: datetime
    created_by_id: int | None
    replayed: int


class ReplayOut(ReplaySummaryOut):
    report: replay_service.ReplayReport
