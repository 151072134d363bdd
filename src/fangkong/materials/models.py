"""Tables of hazardous materials (危爆物品): the catalogue of materials and their units,
licensed holders, their storage sites and capacities, the append-only movement ledger, stock
counts, the tolerances of the reconciliation and the discrepancies it found.

Quantities are kept in thousandths of the material's base unit (``*_milli``, integers): a
gram of an explosive in kilograms, a millilitre of a chemical in litres. Sums of integers are
exact, so a reconciliation adds up to the same number however its rows are grouped.

Ledger rows (:class:`Movement`, :class:`StockCount`) are never updated or deleted: a
correction is a new row whose ``corrects_id`` names the row it replaces (each row is
corrected at most once, so corrections form a chain; the last one counts, and a ``void``
correction cancels). Triggers refuse UPDATE and DELETE on both backends (migration 0010).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fangkong.areas.models import Area, LocatedMixin
from fangkong.core.county import county_from_parent, county_from_path, partition_key
from fangkong.core.db import Base, TimestampMixin, utcnow
from fangkong.core.models import enum_column


class MaterialClass(StrEnum):
    """The regulated classes (民爆物品, 剧毒化学品, 易制爆危险化学品, 烟花爆竹)."""

    CIVIL_EXPLOSIVE = "civil_explosive"
    TOXIC_CHEMICAL = "toxic_chemical"
    EXPLOSIVE_PRECURSOR = "explosive_precursor"
    FIREWORKS = "fireworks"


class BaseUnit(StrEnum):
    """What a material is counted in: its ledger's quantities are converted to it."""

    KG = "kg"
    LITRE = "l"
    PIECE = "piece"
    METRE = "m"


class HolderKind(StrEnum):
    PRODUCER = "producer"
    DISTRIBUTOR = "distributor"
    USER = "user"
    BLASTING = "blasting"
    STORAGE = "storage"
    TRANSPORT = "transport"
    RETAIL = "retail"


class SiteKind(StrEnum):
    MAGAZINE = "magazine"
    WAREHOUSE = "warehouse"
    WORKSHOP = "workshop"
    SHOP = "shop"
    VEHICLE = "vehicle"


class MovementKind(StrEnum):
    """What a ledger row records; :data:`SIGN` says how it moves the site's stock."""

    PRODUCE = "produce"
    RECEIVE = "receive"
    STORE = "store"
    ISSUE = "issue"
    USE = "use"
    SELL = "sell"
    TRANSPORT = "transport"
    RETURN = "return"
    DESTROY = "destroy"


#: +1: into the site's stock; -1: out of it.
SIGN: dict[MovementKind, int] = {
    MovementKind.PRODUCE: 1,
    MovementKind.RECEIVE: 1,
    MovementKind.STORE: 1,
    MovementKind.RETURN: 1,
    MovementKind.ISSUE: -1,
    MovementKind.USE: -1,
    MovementKind.SELL: -1,
    MovementKind.TRANSPORT: -1,
    MovementKind.DESTROY: -1,
}
#: The ends of a transfer between holders (or between two sites of one holder): an out-end
#: names the holder it goes to, an in-end the holder it came from.
OUT_ENDS = frozenset({MovementKind.SELL, MovementKind.TRANSPORT})
IN_ENDS = frozenset({MovementKind.RECEIVE, MovementKind.STORE})


class CorrectionReason(StrEnum):
    QUANTITY = "quantity"
    MATERIAL = "material"
    TIME = "time"
    DOCUMENT = "document"
    SITE = "site"
    COUNTERPARTY = "counterparty"
    DUPLICATE = "duplicate"
    OTHER = "other"


class Material(TimestampMixin, Base):
    """A regulated material: its class, its base unit and the units it is also recorded in
    (``units``: name -> base units per unit, beyond the standard ones of its dimension)."""

    __tablename__ = "material"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    material_class: Mapped[MaterialClass] = mapped_column(enum_column(MaterialClass, 24))
    base_unit: Mapped[BaseUnit] = mapped_column(enum_column(BaseUnit, 8))
    units: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh


class Holder(LocatedMixin, TimestampMixin, Base):
    """A licensed unit (never a person) that holds regulated materials. The responsible
    contact's name and phone are personal data: encrypted, shown masked, purged a while after
    the holder is deregistered or its licence ended (:mod:`fangkong.materials.personal`)."""

    __tablename__ = "material_holder"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[HolderKind] = mapped_column(enum_column(HolderKind, 16))
    licence_no: Mapped[str] = mapped_column(String(64), default="")
    #: The material classes the licence covers (values of :class:`MaterialClass`).
    licence_classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    licence_from: Mapped[date | None] = mapped_column(Date, default=None)
    licence_until: Mapped[date | None] = mapped_column(Date, default=None)
    address: Mapped[str] = mapped_column(String(255), default="")
    contact_name_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    contact_phone_encrypted: Mapped[str | None] = mapped_column(String(512), default=None)
    deregistered_at: Mapped[datetime | None] = mapped_column(default=None)

    area: Mapped[Area | None] = relationship(
        foreign_keys="Holder.area_id", lazy="joined", viewonly=True
    )


class Site(LocatedMixin, TimestampMixin, Base):
    """A storage or work site of a holder, where stock is kept and counted."""

    __tablename__ = "material_site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id: Mapped[int] = mapped_column(
        ForeignKey("material_holder.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[SiteKind] = mapped_column(enum_column(SiteKind, 16))


class SiteCapacity(Base):
    """How much of a material class a site may hold, in a base unit (a class whose materials
    come in different units, explosives in kg and detonators in pieces, has one per unit).
    A class and unit a site has no capacity for may not be stored there at all."""

    __tablename__ = "material_site_capacity"
    __table_args__ = (UniqueConstraint("site_id", "material_class", "unit"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(
        ForeignKey("material_site.id", ondelete="CASCADE"), index=True
    )
    county_id: Mapped[int | None] = county_from_parent("material_site", "site_id")
    material_class: Mapped[MaterialClass] = mapped_column(enum_column(MaterialClass, 24))
    unit: Mapped[BaseUnit] = mapped_column(enum_column(BaseUnit, 8))
    capacity_milli: Mapped[int] = mapped_column(BigInteger)


class Movement(Base):
    """One row of the ledger: ``kind`` of ``quantity`` ``unit`` of a material at a holder's
    site at ``occurred_at``, under a document number; never changed once written."""

    __tablename__ = "material_movement"
    __table_args__ = (
        Index("ix_material_movement_holder_occurred", "holder_id", "occurred_s"),
        Index("ix_material_movement_document", "document_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("material_holder.id", ondelete="RESTRICT"))
    site_id: Mapped[int] = mapped_column(
        ForeignKey("material_site.id", ondelete="RESTRICT"), index=True
    )
    material_id: Mapped[int] = mapped_column(
        ForeignKey("material.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[MovementKind] = mapped_column(enum_column(MovementKind, 16))
    #: As recorded: the quantity and the unit it was given in.
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    #: The quantity in thousandths of the material's base unit.
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    #: ``occurred_at`` in whole seconds since 1970 (UTC): what the reconciliation reads, an
    #: integer on every backend (a million rows load without parsing a time each).
    occurred_s: Mapped[int] = mapped_column(BigInteger, index=True)
    document_no: Mapped[str] = mapped_column(String(64))
    #: The other end of a transfer: the holder it went to (out-ends) or came from (in-ends),
    #: and that holder's site where it is known.
    counterparty_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_holder.id", ondelete="RESTRICT"), index=True, default=None
    )
    counterparty_site_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_site.id", ondelete="RESTRICT"), default=None
    )
    #: The row this one replaces (a correction); each row is corrected at most once.
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_movement.id", ondelete="RESTRICT"), unique=True, default=None
    )
    #: A correction that cancels the row it corrects (and counts for nothing itself).
    void: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[CorrectionReason | None] = mapped_column(
        enum_column(CorrectionReason, 16), default=None
    )
    #: The site's area (scoping needs no join).
    area_path: Mapped[str | None] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    #: The partition key (PostgreSQL partitions the ledger by county).
    partition_county: Mapped[int] = partition_key()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(64), default=None)


class StockCount(Base):
    """A count of a material's stock at a site (盘点): what the book is reconciled against.
    Append-only as the ledger; a wrong count is corrected by a new one naming it."""

    __tablename__ = "material_stock_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    holder_id: Mapped[int] = mapped_column(
        ForeignKey("material_holder.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[int] = mapped_column(
        ForeignKey("material_site.id", ondelete="RESTRICT"), index=True
    )
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id", ondelete="RESTRICT"))
    counted_at: Mapped[datetime]
    counted_s: Mapped[int] = mapped_column(BigInteger, index=True)
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    document_no: Mapped[str] = mapped_column(String(64), default="")
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("material_stock_count.id", ondelete="RESTRICT"), unique=True, default=None
    )
    void: Mapped[bool] = mapped_column(Boolean, default=False)
    area_path: Mapped[str | None] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(64), default=None)


class Tolerance(TimestampMixin, Base):
    """The county's tolerances for a material class (a row overrides the defaults of
    :data:`fangkong.materials.reconcile.DEFAULT_TOLERANCES`): a difference is within
    tolerance when it is at most ``absolute_milli`` + ``relative`` x the quantity; the two
    ends of a transfer are matched within ``window_hours``."""

    __tablename__ = "material_tolerance"

    material_class: Mapped[MaterialClass] = mapped_column(
        enum_column(MaterialClass, 24), primary_key=True
    )
    relative: Mapped[float] = mapped_column(Float)
    absolute_milli: Mapped[int] = mapped_column(BigInteger)
    window_hours: Mapped[float] = mapped_column(Float)


class DiscrepancyKind(StrEnum):
    COUNT_MISMATCH = "count_mismatch"
    NEGATIVE_STOCK = "negative_stock"
    OVER_CAPACITY = "over_capacity"
    TRANSFER_UNMATCHED = "transfer_unmatched"
    TRANSFER_QUANTITY = "transfer_quantity"
    TRANSFER_TIME = "transfer_time"
    UNLICENSED = "unlicensed"


class Finding(Base):
    """A discrepancy that opened a case: its fingerprint (what it is about: the kind and the
    rows) is unique, so running the reconciliation again opens no second case for it."""

    __tablename__ = "material_finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[DiscrepancyKind] = mapped_column(enum_column(DiscrepancyKind, 24))
    holder_id: Mapped[int] = mapped_column(
        ForeignKey("material_holder.id", ondelete="RESTRICT"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_record.id", ondelete="SET NULL"), default=None
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    area_path: Mapped[str | None] = mapped_column(String(255), index=True)
    county_id: Mapped[int | None] = county_from_path()
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
