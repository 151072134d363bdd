"""Tables of the jurisdiction tree and the standard-address register."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from fangkong.core.county import county_from_path
from fangkong.core.db import Base, TimestampMixin
from fangkong.core.models import enum_column


class AreaLevel(StrEnum):
    """Levels of the jurisdiction tree, from the top down."""

    CITY = "city"
    DISTRICT = "district"
    STATION = "station"
    BEAT = "beat"
    GRID = "grid"

    @property
    def depth(self) -> int:
        return LEVELS.index(self)


LEVELS: tuple[AreaLevel, ...] = tuple(AreaLevel)


class Area(TimestampMixin, Base):
    """One node of the jurisdiction tree with its polygon (WGS-84, WKB)."""

    __tablename__ = "area"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    level: Mapped[AreaLevel] = mapped_column(enum_column(AreaLevel, 16), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("area.id", ondelete="RESTRICT"), index=True
    )
    # Materialised path of ids, "/1/4/17/": descendants are a prefix match, on every backend.
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    county_id: Mapped[int | None] = county_from_path("path")
    geometry_wkb: Mapped[bytes] = mapped_column(LargeBinary)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32), default="import")

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_zh


#: The id of ``area_version``'s one row.
AREA_VERSION_ROW = 1


class AreaVersion(Base):
    """One row whose number the database raises at every write of ``area``, whoever writes
    (the ORM, an import's COPY, another process, psql): triggers of migration 0028. The area
    index asks this row, not the province's areas, whether to rebuild (``areas.index``)."""

    __tablename__ = "area_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class LocatedMixin:
    """Columns of every record that has a place: its point, its H3 cell and its areas."""

    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    h3_cell: Mapped[str] = mapped_column(String(16), index=True)
    # The deepest area holding the point and that area's path, so scoping needs no join.
    area_path: Mapped[str | None] = mapped_column(String(255), index=True)

    @declared_attr
    def area_id(cls) -> Mapped[int | None]:  # noqa: N805 - SQLAlchemy's declared_attr signature
        return mapped_column(ForeignKey("area.id", ondelete="SET NULL"), index=True)

    @declared_attr
    def county_id(cls) -> Mapped[int | None]:  # noqa: N805 - SQLAlchemy's declared_attr signature
        """The county of ``area_path`` (:mod:`fangkong.core.county`)."""
        return county_from_path()  # type: ignore[no-any-return]


class StandardAddress(LocatedMixin, TimestampMixin, Base):
    """标准地址: a normalised address with a point, the key for places."""

    __tablename__ = "standard_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    text_zh: Mapped[str] = mapped_column(String(255))
    text_en: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(32), default="import")
    # Folded texts, full pinyin and initials (areas.search.search_key): what the search matches.
    search_key: Mapped[str] = mapped_column(Text, default="", server_default="")
