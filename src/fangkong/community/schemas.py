"""API shapes of the community safety forces and the public's tips: every input bounded
where it enters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from fangkong.community.models import ShiftStatus, TeamKind, TipCategory, TipStatus
from fangkong.core.bounds import Id, Latitude, Longitude, Moment, NotBool, Text

Code = Annotated[Text, Field(min_length=1, max_length=32)]
AreaCode = Annotated[Text, Field(min_length=1, max_length=32)]
Count = Annotated[int, NotBool, Field(ge=0, le=10_000_000)]
Phone = Annotated[Text, Field(min_length=3, max_length=32, pattern=r"^[0-9+\- ]{3,32}$")]


class TeamIn(BaseModel):
    code: Code
    name: Annotated[Text, Field(min_length=1, max_length=128)]
    kind: TeamKind
    area: AreaCode = Field(description="The code of the area the team serves")
    member_count: Count = 0
    buildings: Count = Field(default=0, description="Buildings the team covers")
    households: Count = Field(default=0, description="Households the team covers")
    active: StrictBool = True


class TeamOut(BaseModel):
    id: int
    code: str
    name: str
    kind: TeamKind
    area_code: str
    area_name: str
    member_count: int
    members_recorded: int
    buildings: int
    households: int
    active: bool


class TeamPage(BaseModel):
    total: int
    items: list[TeamOut]


class MemberIn(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=64)]
    phone: Phone | None = None
    joined_at: Moment | None = None


class MemberOut(BaseModel):
    """A member as every reader sees them: masked."""

    id: int
    name: str | None
    phone: str | None
    joined_at: datetime
    left_at: datetime | None


class MemberClearOut(BaseModel):
    id: int
    name: str | None
    phone: str | None


class ShiftIn(BaseModel):
    starts_at: Moment
    ends_at: Moment
    area: AreaCode | None = Field(default=None, description="Where (default: the team's area)")
    planned: Count = 0
    member_ids: list[Id] = Field(default_factory=list, max_length=200)


class ShiftReportIn(BaseModel):
    status: ShiftStatus
    turned_out: Count | None = None


class ShiftOut(BaseModel):
    id: int
    team_code: str
    area_code: str
    starts_at: datetime
    ends_at: datetime
    planned: int
    turned_out: int | None
    status: ShiftStatus
    member_ids: list[int]


class ShiftPage(BaseModel):
    total: int
    items: list[ShiftOut]


class ResidentsIn(BaseModel):
    residents: Count
    households: Count = 0


class FigureOut(BaseModel):
    """One area's figures against the targets (docs/community.md gives each formula)."""

    area_code: str
    area_name: str
    level: str
    residents: int | None
    forces: int
    forces_per_100k: float | None
    forces_target_met: bool | None
    committees: int
    committees_with_3: int
    communities: int
    communities_with_team: int
    informants: int
    buildings: int
    households: int
    informants_per_building: float | None
    informants_per_20_households: float | None


class TipOut(BaseModel):
    """A tip as the console shows it (the text is the case's)."""

    id: int
    category: TipCategory
    status: TipStatus
    reject_reason: str | None
    received_at: datetime
    area_code: str | None
    case_id: int | None
    case_number: str | None
    has_photo: bool
    has_contact: bool
    lon: float
    lat: float


class TipPage(BaseModel):
    total: int
    items: list[TipOut]


# --- the public's side: what an anonymous caller sends and sees -------------------------------


class FormTokenOut(BaseModel):
    token: str
    difficulty: int = Field(description="Leading zero bits SHA-256(token:nonce) must have")
    expires_in_s: int


class PublicTipIn(BaseModel):
    category: TipCategory
    text: Annotated[Text, Field(min_length=1, max_length=2000)]
    lon: Longitude
    lat: Latitude
    place: Annotated[Text, Field(max_length=200)] = ""
    contact: Annotated[Text, Field(max_length=64)] = ""
    token: Annotated[str, Field(min_length=1, max_length=200)]
    nonce: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9a-z]{1,32}$")]
    language: Annotated[str, Field(max_length=8)] = "zh-CN"


class PublicReceiptOut(BaseModel):
    receipt: str | None
    status: TipStatus
    reason: str | None
    message: str


class PublicStatusOut(BaseModel):
    """What a tipster may follow: when it came, whether it was taken, where it stands."""

    received_on: str
    status: TipStatus
    stage: str
    stage_label: str
