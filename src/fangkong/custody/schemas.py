"""API shapes of the custody of seized property: every input bounded where it enters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fangkong.core.bounds import Id, Moment, NotBool, Text
from fangkong.custody.models import ItemCategory, RefKind, Stage

Code = Annotated[Text, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Label = Annotated[Text, Field(max_length=128)]


class ItemIn(BaseModel):
    code: Code
    category: ItemCategory
    description: Annotated[Text, Field(max_length=500)] = ""
    quantity: Annotated[int, NotBool, Field(ge=1, le=1_000_000_000)] = 1
    unit: Annotated[Text, Field(min_length=1, max_length=16)] = "piece"
    ref_kind: RefKind
    ref_number: Annotated[
        Text, Field(min_length=1, max_length=48, description="The incident's or case's number")
    ]
    area: Annotated[Text, Field(min_length=1, max_length=32, description="The holding station")]
    received_at: Moment
    handled_by: Annotated[Text, Field(min_length=1, max_length=64)]
    location: Label = ""
    document: Annotated[Text, Field(max_length=64)] = ""


class StepIn(BaseModel):
    stage: Stage
    occurred_at: Moment
    handled_by: Annotated[Text, Field(min_length=1, max_length=64)]
    location: Label = ""
    document: Annotated[Text, Field(max_length=64)] = ""


class CorrectionIn(BaseModel):
    """A correction of a step: its values as they should have been, or ``void`` (recorded
    in error)."""

    void: bool = False
    stage: Stage | None = None
    occurred_at: Moment | None = None
    handled_by: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    location: Label | None = None
    document: Annotated[Text, Field(max_length=64)] | None = None


class StepOut(BaseModel):
    id: int
    seq: int
    stage: Stage
    location: str
    handled_by: str
    document: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    corrects_id: int | None
    void: bool
    effective: bool


class ItemOut(BaseModel):
    id: int
    code: str
    category: ItemCategory
    description: str | None
    quantity: int
    unit: str
    ref_kind: RefKind
    ref_number: str
    area_code: str
    stage: Stage
    stage_at: datetime
    location: str
    due_at: datetime | None
    overdue: bool
    closed_at: datetime | None
    alert_case_id: int | None


class ItemDetailOut(ItemOut):
    steps: list[StepOut]


class ItemPage(BaseModel):
    total: int
    items: list[ItemOut]


class AlertsOut(BaseModel):
    opened: list[int]


class RowErrorOut(BaseModel):
    row: int
    field: str | None
    message: str


class ImportOut(BaseModel):
    created: int
    errors: list[RowErrorOut]


IdList = Annotated[list[Id], Field(max_length=100)]
