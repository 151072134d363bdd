"""API shapes of the hazardous-material registers: every input bounded where it enters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from fangkong.core.bounds import AwareMoment, Day, Id, Latitude, Longitude, NotBool, Text
from fangkong.materials.models import (
    BaseUnit,
    CorrectionReason,
    DiscrepancyKind,
    HolderKind,
    MaterialClass,
    MovementKind,
    SiteKind,
)

Code = Annotated[Text, Field(min_length=1, max_length=32)]
Name = Annotated[Text, Field(min_length=1, max_length=128)]
Unit = Annotated[Text, Field(min_length=1, max_length=16)]
Document = Annotated[Text, Field(min_length=1, max_length=64)]
#: A quantity as recorded: finite, positive, at most a thousand million (of its unit).
Quantity = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=False)]
Counted = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class MaterialIn(BaseModel):
    code: Code
    name_zh: Name
    name_en: Text = Field(default="", max_length=128)
    material_class: MaterialClass
    base_unit: BaseUnit
    units: dict[Annotated[Text, Field(max_length=16)], float] = Field(
        default_factory=dict,
        max_length=20,
        description="The material's own units: name -> base units per unit (e.g. a box of 24)",
    )


class MaterialOut(BaseModel):
    id: int
    code: str
    name_zh: str
    name_en: str
    material_class: MaterialClass
    base_unit: BaseUnit
    units: dict[str, float]


class HolderIn(BaseModel):
    code: Code
    name: Name
    kind: HolderKind
    licence_no: Text = Field(default="", max_length=64)
    licence_classes: list[MaterialClass] = Field(default_factory=list, max_length=4)
    licence_from: Day | None = None
    licence_until: Day | None = None
    address: Text = Field(default="", max_length=255)
    lon: Longitude
    lat: Latitude
    contact_name: Text | None = Field(
        default=None, max_length=64, description="Personal data: stored encrypted, shown masked"
    )
    contact_phone: Text | None = Field(
        default=None, max_length=32, description="Personal data: stored encrypted, shown masked"
    )


class HolderOut(BaseModel):
    id: int
    code: str
    name: str
    kind: HolderKind
    licence_no: str
    licence_classes: list[MaterialClass]
    licence_from: date | None
    licence_until: date | None
    address: str
    lon: float
    lat: float
    area_code: str | None
    contact_name: str | None = Field(description="Masked")
    contact_phone: str | None = Field(description="Masked")
    deregistered_at: datetime | None
    sites: int


class HolderPage(BaseModel):
    total: int
    items: list[HolderOut]


class ContactOut(BaseModel):
    """A holder's responsible contact in clear (the read is audited)."""

    contact_name: str | None
    contact_phone: str | None


class CapacityIn(BaseModel):
    material_class: MaterialClass
    unit: BaseUnit
    capacity: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]


class CapacityOut(BaseModel):
    material_class: MaterialClass
    unit: BaseUnit
    capacity: float


class SiteIn(BaseModel):
    code: Code
    holder_code: Code
    name: Name
    kind: SiteKind
    lon: Longitude
    lat: Latitude
    capacities: list[CapacityIn] = Field(default_factory=list, max_length=16)


class SiteOut(BaseModel):
    id: int
    code: str
    holder_id: int
    holder_code: str
    name: str
    kind: SiteKind
    lon: float
    lat: float
    area_code: str | None
    capacities: list[CapacityOut]


class MovementIn(BaseModel):
    site_code: Code = Field(description="The holder's site where the stock changes")
    material_code: Code
    kind: MovementKind
    quantity: Quantity
    unit: Unit = Field(
        description="A unit of the material: its base unit, a standard unit of "
        "its dimension (g, t; ml, m3; km) or one of its own"
    )
    occurred_at: AwareMoment
    document_no: Document
    counterparty_code: Code | None = Field(
        default=None,
        description="A transfer's other holder: where an out-end (sell, transport) went, where "
        "an in-end (receive, store) came from; the holder itself between two of its sites",
    )
    counterparty_site_code: Code | None = None


class CorrectionIn(BaseModel):
    """A correction of a ledger row: the row as it should have been (it replaces the
    corrected one), or ``void`` to cancel it. The corrected row stays in the ledger."""

    reason: CorrectionReason
    void: bool = False
    row: MovementIn | None = None


class MovementOut(BaseModel):
    id: int
    holder_id: int
    holder_code: str
    site_code: str
    material_code: str
    kind: MovementKind
    quantity: float
    unit: str
    quantity_base: float
    base_unit: BaseUnit
    occurred_at: datetime
    document_no: str
    counterparty_code: str | None
    counterparty_site_code: str | None
    corrects_id: int | None
    void: bool
    reason: CorrectionReason | None
    superseded_by: int | None
    recorded_at: datetime
    recorded_by: str | None


class MovementPage(BaseModel):
    total: int
    items: list[MovementOut]


class CountIn(BaseModel):
    site_code: Code
    material_code: Code
    quantity: Counted
    unit: Unit
    counted_at: AwareMoment
    document_no: Text = Field(default="", max_length=64)
    corrects_id: Id | None = Field(default=None, description="A count this one corrects")
    void: bool = False


class CountOut(BaseModel):
    id: int
    site_code: str
    material_code: str
    quantity: float
    unit: str
    quantity_base: float
    counted_at: datetime
    document_no: str
    corrects_id: int | None
    void: bool


class ToleranceIn(BaseModel):
    relative: Annotated[float, NotBool] = Field(ge=0, le=0.5, allow_inf_nan=False)
    absolute: Annotated[float, NotBool] = Field(
        ge=0, le=1e6, allow_inf_nan=False, description="Base units"
    )
    window_hours: Annotated[float, NotBool] = Field(gt=0, le=24 * 90, allow_inf_nan=False)


class ToleranceOut(BaseModel):
    material_class: MaterialClass
    relative: float
    absolute: float
    window_hours: float
    default: bool


class BalanceOut(BaseModel):
    holder_code: str
    site_code: str
    material_code: str
    base_unit: BaseUnit
    opening: float
    inflow: float
    outflow: float
    closing: float
    counted: float | None
    counted_at: datetime | None
    book_at_count: float | None
    difference: float | None


class DiscrepancyOut(BaseModel):
    kind: DiscrepancyKind
    fingerprint: str
    holder_code: str
    site_code: str | None
    material_code: str | None
    at: datetime
    movement_ids: list[int]
    count_id: int | None
    expected: float | None
    actual: float | None
    counterparty_code: str | None
    rows: int
    message: str
    case_id: int | None


class ReconciliationOut(BaseModel):
    start: datetime
    end: datetime
    rows: int
    transfers_paired: int
    transfers_pending: int
    balances: list[BalanceOut]
    discrepancies: list[DiscrepancyOut]


class OpenCasesIn(BaseModel):
    start: AwareMoment
    end: AwareMoment
    holder_code: Code | None = None


class OpenCasesOut(BaseModel):
    opened: list[int]
    existing: int


class RowErrorOut(BaseModel):
    row: int
    field: str | None
    message: str


class ImportOut(BaseModel):
    created: int
    updated: int = 0
    existing: int = Field(default=0, description="Ledger rows or counts held already")
    errors: list[RowErrorOut]
