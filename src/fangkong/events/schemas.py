"""API shapes of large-event security and emergency plans: every input bounded where it
enters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from fangkong.core.bounds import AwareMoment, Id, Latitude, Longitude, NotBool, Text
from fangkong.dispatch.models import Priority, UnitType
from fangkong.events.models import RiskGrade, SecurityPostKind, StepKind, VenueKind

Code = Annotated[Text, Field(min_length=1, max_length=32)]
Name = Annotated[Text, Field(min_length=1, max_length=128)]
People = Annotated[int, NotBool, Field(ge=1, le=10_000_000)]
Seconds = Annotated[int, NotBool, Field(ge=1, le=86_400)]
Corner = Annotated[list[Annotated[float, NotBool]], Field(min_length=2, max_length=2)]


class EventIn(BaseModel):
    code: Code
    name: Name
    organiser: Name
    contact_name: Annotated[Text, Field(max_length=64)] | None = None
    contact_phone: Annotated[Text, Field(max_length=32, pattern=r"^[0-9+\- ]{5,32}$")] | None = None
    facility_id: Id | None = Field(default=None, description="The venue: a key facility ...")
    venue_polygon: list[Corner] | None = Field(
        default=None, max_length=201, description="... or a drawn ring of [lon, lat] corners"
    )
    venue_kind: VenueKind
    capacity: People
    expected_attendance: People
    starts_at: AwareMoment
    ends_at: AwareMoment


class FactorOut(BaseModel):
    factor: str
    value: float
    points: int
    band: str


class PostIn(BaseModel):
    kind: SecurityPostKind = SecurityPostKind.POST
    name: Annotated[Text, Field(min_length=1, max_length=64)]
    lon: Longitude
    lat: Latitude
    staffing: Annotated[int, NotBool, Field(ge=0, le=10_000)] = 0
    unit_ids: list[Id] = Field(default_factory=list, max_length=50)


class PostOut(BaseModel):
    id: int
    kind: SecurityPostKind
    name: str
    lon: float
    lat: float
    staffing: int
    unit_ids: list[int]
    call_signs: list[str]


class EventOut(BaseModel):
    id: int
    code: str
    name: str
    organiser: str
    contact_name: str | None
    contact_phone: str | None
    facility_id: int | None
    venue_polygon: list[list[float]] | None
    venue_kind: VenueKind
    capacity: int
    expected_attendance: int
    starts_at: datetime
    ends_at: datetime
    lon: float
    lat: float
    area_code: str | None
    risk_grade: RiskGrade
    risk_score: int
    risk_factors: list[FactorOut]
    case_id: int | None
    case_number: str | None
    case_state: str | None
    staffing: int
    posts: list[PostOut]


class EventPage(BaseModel):
    total: int
    items: list[EventOut]


class ContactOut(BaseModel):
    contact_name: str | None
    contact_phone: str | None


class RingPointOut(BaseModel):
    lon: float
    lat: float
    time_s: float | None
    ring: str
    post: str | None


class RingCheckOut(BaseModel):
    event_id: int
    posts: int
    posts_off_road: list[str]
    points: list[RingPointOut]
    within_1min: float
    within_3min: float
    within_5min: float
    passed: bool


class TierIn(BaseModel):
    unit_types: list[UnitType] = Field(default_factory=list, max_length=len(UnitType))
    post_codes: list[Code] = Field(default_factory=list, max_length=50)
    station_codes: list[Code] = Field(
        default_factory=list, max_length=20, description="Areas the units are based in"
    )
    call_signs: list[Code] = Field(
        default_factory=list, max_length=50, description="Named units (none: any unit)"
    )
    count: Annotated[int, NotBool, Field(ge=1, le=50)] = 1
    max_travel_s: Seconds | None = None


class PlanIn(BaseModel):
    code: Code
    name: Name
    category: Annotated[Text, Field(min_length=1, max_length=32)]
    level: Annotated[int, NotBool, Field(ge=1, le=4)]
    area_code: Annotated[Text, Field(min_length=1, max_length=32)]
    tiers: list[TierIn] = Field(min_length=1, max_length=10)
    checkpoint_codes: list[Code] = Field(default_factory=list, max_length=100)
    facility_codes: list[Code] = Field(default_factory=list, max_length=100)
    target_first_s: Seconds
    target_full_s: Seconds
    active: bool = True


class TierOut(TierIn):
    order: int


class NamedOut(BaseModel):
    id: int
    code: str
    name: str
    lon: float
    lat: float


class PlanOut(BaseModel):
    id: int
    code: str
    name: str
    category: str
    level: int
    area_code: str | None
    tiers: list[TierOut]
    checkpoints: list[NamedOut]
    facilities: list[NamedOut]
    target_first_s: int
    target_full_s: int
    active: bool


class PlanPage(BaseModel):
    total: int
    items: list[PlanOut]


class ActivateIn(BaseModel):
    plan_id: Id
    incident_id: Id


class DrillIn(BaseModel):
    plan_id: Id
    lon: Longitude
    lat: Latitude
    subtype: Annotated[Text, Field(min_length=1, max_length=32)] = "other"
    priority: Priority | None = None


class ConfirmIn(BaseModel):
    unit_ids: list[Id] | None = Field(
        default=None, max_length=50, description="The proposed units to send (default: all)"
    )


class FindingIn(BaseModel):
    aspect: Literal["timing", "dispatch", "checkpoints", "notification", "equipment", "other"]
    severity: Literal["major", "general", "minor"]
    finding: Annotated[Text, Field(max_length=2000)] = ""


class StepIn(BaseModel):
    """Mark one of the plan's checkpoints closed or facilities notified (once, no undo)."""

    kind: StepKind
    ref_id: Id
    note: Annotated[Text, Field(max_length=500)] = ""


class StepOut(BaseModel):
    kind: StepKind
    ref_id: int
    code: str
    name: str
    done: bool
    done_at: datetime | None
    done_by: str | None
    after_s: float | None
    note: str | None


class ProposalOut(BaseModel):
    tier: int
    unit_id: int
    call_sign: str
    unit_type: str
    time_s: float
    ring: str


class ShortfallOut(BaseModel):
    tier: int
    wanted: int
    found: int


class TimingOut(BaseModel):
    first_arrival_s: float | None
    full_arrival_s: float | None
    target_first_s: int
    target_full_s: int
    first_met: bool | None
    full_met: bool | None


class FindingOut(BaseModel):
    case_id: int
    number: str
    state: str


class ActivationOut(BaseModel):
    id: int
    plan_id: int
    plan_code: str
    incident_id: int | None
    drill: bool
    started_at: datetime
    confirmed_at: datetime | None
    ended_at: datetime | None
    proposals: list[ProposalOut]
    shortfalls: list[ShortfallOut]
    confirmed_unit_ids: list[int]
    timing: TimingOut
    findings: list[FindingOut]
    steps: list[StepOut]


class ActivationPage(BaseModel):
    total: int
    items: list[ActivationOut]


class ActivationKpisOut(BaseModel):
    drill: bool
    activations: int
    timed: int
    first_met: int
    full_met: int
    mean_first_arrival_s: float | None
    first_met_share: float | None


class RowErrorOut(BaseModel):
    row: int
    field: str | None
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: list[RowErrorOut]
