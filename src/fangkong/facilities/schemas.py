"""API shapes of the key-facility register: every input bounded where it enters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from fangkong.core.bounds import Latitude, Longitude, NotBool, Text
from fangkong.facilities.models import FacilityType
from fangkong.facilities.rules import Condition, Requirement

Code = Annotated[Text, Field(min_length=1, max_length=32)]
Count = Annotated[int, NotBool, Field(ge=0, le=1_000_000)]


class FacilityIn(BaseModel):
    code: Code
    name: Annotated[Text, Field(min_length=1, max_length=128)]
    facility_type: FacilityType
    address: Text = Field(default="", max_length=255)
    staff_count: Count = 0
    guards_full_time: Count = 0
    guards_part_time: Count = 0
    physical_barriers: bool = False
    alarm_networked: bool = Field(default=False, description="Alarm button networked to the police")
    video_networked: bool = Field(default=False, description="Video networked to the police")
    school_gate_post: bool = False
    closed_management: bool = False
    lon: Longitude
    lat: Latitude


class ShortfallOut(BaseModel):
    field: str
    required: int
    actual: int


class RuleResultOut(BaseModel):
    code: str
    passed: bool
    shortfalls: list[ShortfallOut]
    source: str


class InspectionOut(BaseModel):
    case_id: int
    number: str
    state: str
    opened_at: datetime
    due_at: datetime | None
    closed_at: datetime | None
    overdue: bool


class FacilityOut(BaseModel):
    id: int
    code: str
    name: str
    facility_type: FacilityType
    address: str
    staff_count: int
    guards_full_time: int
    guards_part_time: int
    physical_barriers: bool
    alarm_networked: bool
    video_networked: bool
    school_gate_post: bool
    closed_management: bool
    lon: float
    lat: float
    area_code: str | None
    compliant: bool
    rules: list[RuleResultOut]
    inspections: list[InspectionOut]


class FacilityPage(BaseModel):
    total: int
    items: list[FacilityOut]


class RuleIn(BaseModel):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
    name_zh: Annotated[Text, Field(min_length=1, max_length=128)]
    name_en: Annotated[Text, Field(min_length=1, max_length=128)]
    types: list[FacilityType] = Field(default_factory=list, max_length=len(FacilityType))
    when: list[Condition] = Field(default_factory=list, max_length=8)
    require: list[Requirement] = Field(min_length=1, max_length=16)
    source: Annotated[Text, Field(min_length=1, max_length=300)]
    enabled: bool = True


class RuleOut(RuleIn):
    default: bool
    changed: bool


class InspectionIn(BaseModel):
    trigger: Literal["periodic", "rule_failure", "spot_check", "referral"] = "periodic"
    rules: list[Annotated[Text, Field(max_length=48)]] | None = Field(
        default=None,
        max_length=16,
        description="The failed rules it is about; left out with rule_failure: every rule "
        "the facility fails now",
    )


class RateOut(BaseModel):
    area_code: str
    area_name: str
    level: str
    facility_type: str
    facilities: int
    compliant: int
    compliant_share: float | None
    inspected: int
    inspected_share: float | None
    overdue_rectifications: int
    open_inspections: int


class RowErrorOut(BaseModel):
    row: int
    field: str | None
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: list[RowErrorOut]
