"""API shapes of the case engine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fangkong.cases.models import EventKind
from fangkong.core.bounds import AwareMoment, Count, Id, JsonObject, Latitude, Longitude, Text


class FieldOut(BaseModel):
    name: str
    kind: str
    label: str
    options: list[tuple[str, str]] = Field(description="(value, label) pairs of a choice")
    personal: bool


class TransitionOut(BaseModel):
    name: str
    label: str
    target: str | None
    stay: bool
    fields: list[FieldOut]
    optional_fields: list[FieldOut]
    note_required: bool
    style: str


class StateOut(BaseModel):
    name: str
    label: str
    closing: bool
    resolved: bool
    deadline_hours: float | None
    deadline_clock: str | None


class PartiesOut(BaseModel):
    minimum: int
    maximum: int
    roles: list[str]


class CaseTypeOut(BaseModel):
    name: str
    prefix: str
    label: str
    initial: str
    states: list[StateOut]
    create_fields: list[FieldOut]
    create_optional: list[FieldOut]
    transitions: list[TransitionOut]
    parties: PartiesOut | None
    retention_days: int | None


class PartyIn(BaseModel):
    role: Text = Field(max_length=32)
    name: Text = Field(min_length=1, max_length=64)
    contact: Text | None = Field(default=None, max_length=64)


class CaseIn(BaseModel):
    type: Text = Field(max_length=32, description="A declared case type (see /cases/types)")
    title: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=4000)
    area_code: Text | None = Field(
        default=None, max_length=32, description="The case's area, or give lon/lat"
    )
    lon: Longitude | None = None
    lat: Latitude | None = None
    fields: JsonObject = Field(default_factory=dict)
    parties: list[PartyIn] = Field(default_factory=list, max_length=50)


class CaseSummary(BaseModel):
    id: int
    number: str
    type: str
    title: str
    state: str
    area_code: str
    opened_at: datetime
    due_at: datetime | None
    overdue: bool = Field(description="Open and past its current due time")
    closed_at: datetime | None
    escalation_risk: bool
    supervision_count: int
    assignee_org: str | None
    assignee_user_id: int | None


class CasePage(BaseModel):
    total: int
    items: list[CaseSummary]


class EventOut(BaseModel):
    id: int
    at: datetime
    kind: EventKind
    username: str | None
    transition: str | None
    from_state: str | None
    to_state: str | None
    note: str | None
    data: dict[str, Any]
    personal: dict[str, str] | None = Field(description="Personal values, masked")


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str | None
    uploaded_at: datetime


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    ref_id: str
    label: str


class PartyOut(BaseModel):
    id: int
    role: str
    name: str | None
    contact: str | None


class CaseDetail(CaseSummary):
    description: str
    version: int
    data: dict[str, Any]
    personal: dict[str, str] = Field(description="Personal field values, masked")
    parties: list[PartyOut] = Field(description="Names and contacts, masked")
    late: bool
    reopen_count: int
    risk_reasons: list[str]
    purged: bool
    timeline: list[EventOut]
    allowed_transitions: list[TransitionOut]
    attachments: list[AttachmentOut]
    links: list[LinkOut]


class TransitionIn(BaseModel):
    transition: Text = Field(max_length=48)
    fields: JsonObject = Field(default_factory=dict)
    note: Text | None = Field(default=None, max_length=4000)
    version: Count | None = Field(default=None, description="Refuse if the case changed since")


class CommentIn(BaseModel):
    text: Text = Field(min_length=1, max_length=4000)


class SuperviseIn(BaseModel):
    due_at: AwareMoment
    note: Text = Field(min_length=1, max_length=4000)


class LinkIn(BaseModel):
    kind: Text = Field(max_length=32)
    ref_id: Text = Field(min_length=1, max_length=64)
    label: Text = Field(min_length=1, max_length=200)


class PersonalOut(BaseModel):
    parties: list[PartyOut]
    fields: dict[str, str]
    events: dict[int, dict[str, str]]


class IndicatorsOut(BaseModel):
    case_type: str
    area_code: str
    start: datetime
    end: datetime
    found: int
    resolved: int
    resolved_within_deadline: int
    resolution_rate: float | None
    overdue: int
    median_hours_to_close: float | None
    reopen_rate: float | None
    rates: dict[str, float | None] = Field(
        description="The rates the case type declares, by name (disputes: agreement_rate, "
        "follow_up_rate)"
    )


class BoardRowOut(BaseModel):
    area_code: str
    area_name: str
    open: int
    by_age: list[int]
    overdue: int
    supervised: int
    escalated: int
    escalation_risk: int


class BoardOut(BaseModel):
    area_code: str | None
    age_buckets_days: list[tuple[int, int | None]]
    rows: list[BoardRowOut]


class NoticeOut(BaseModel):
    id: int
    case_id: int
    number: str
    kind: EventKind
    at: datetime
    read_at: datetime | None
    title: str


class NoticesReadIn(BaseModel):
    ids: list[Id] | None = Field(
        default=None, max_length=1000, description="Notices to mark read; null for all of yours"
    )


class NoticesReadOut(BaseModel):
    marked: int


class TickOut(BaseModel):
    checked: int
    reminded: int
    flagged_overdue: int
    escalated: int
    notices: int


class PurgeOut(BaseModel):
    cases: int
    parties: int
    attachments: int
