"""API shapes of the indicator system: every input bounded where it enters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fangkong.core.bounds import Day, NotBool, Text

Code = Annotated[Text, Field(min_length=1, max_length=32)]
IndicatorId = Annotated[Text, Field(min_length=1, max_length=64)]
PeriodText = Annotated[str, Field(pattern=r"^\d{4}(-\d{2})?$", max_length=7)]
Number = Annotated[float, NotBool, Field(ge=0, le=1e9, allow_inf_nan=False)]
Year = Annotated[int, NotBool, Field(ge=2000, le=2100)]
Percent = Annotated[int, NotBool, Field(ge=0, le=100)]


class TargetOut(BaseModel):
    value: float | None
    origin: str = Field(description="default, all, or the code of the area it was set for")
    note: str


class IndicatorOut(BaseModel):
    id: str
    name: str
    name_zh: str
    name_en: str
    group: str
    unit: str
    direction: str
    manual: bool
    guideline: bool
    levels: list[str]
    definition: str
    formula: dict[str, object]
    records: str | None
    target: TargetOut
    sources: list[str]


class FigureOut(BaseModel):
    indicator_id: str
    area_code: str
    level: str
    period: str
    value: float | None
    numerator: float | None
    denominator: float | None
    target: float | None
    status: str


class GridRowOut(BaseModel):
    area_code: str
    level: str
    met: int
    near: int
    missed: int
    share_met: float | None
    meets_guideline: bool | None
    figures: list[FigureOut]


class PointOut(BaseModel):
    period: str
    value: float | None
    target: float | None
    status: str


class TargetIn(BaseModel):
    indicator_id: IndicatorId
    year: Year
    value: Number | None = Field(description="In the indicator's unit (a share: 0-1); null: off")
    area_code: Code | None = Field(default=None, description="null: every area")
    note: Text = Field(default="", max_length=255)


class TargetSettingOut(BaseModel):
    id: int
    indicator_id: str
    year: int
    value: float | None
    area_code: str | None
    note: str
    set_by: str
    set_at: datetime


class InputIn(BaseModel):
    indicator_id: IndicatorId
    area_code: Code
    period: PeriodText
    value: Number


class InputOut(BaseModel):
    id: int
    indicator_id: str
    area_code: str
    period: str
    value: float
    entered_by: str
    entered_at: datetime


class ComputedOut(BaseModel):
    period: str
    figures: int


class RecordPage(BaseModel):
    kind: str
    total: int
    items: list[dict[str, object]]


class TaskIn(BaseModel):
    code: Code
    title: Text = Field(min_length=1, max_length=200)
    responsible_unit: Text = Field(min_length=1, max_length=128)
    area_code: Code
    deadline: Day
    progress: Percent = 0
    indicator_ids: list[IndicatorId] = Field(default_factory=list, max_length=20)


class ProgressIn(BaseModel):
    progress: Percent
    status: str | None = Field(default=None, pattern=r"^(open|done|cancelled)$")


class TaskOut(BaseModel):
    id: int
    code: str
    title: str
    responsible_unit: str
    area_code: str
    deadline: date
    progress: int
    status: str
    overdue: bool
    indicator_ids: list[str]
    case_id: int | None
