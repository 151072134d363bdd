"""The jurisdiction tree and the standard addresses as tables of :mod:`fangkong.http.tables`:
the areas of the user's scope sorted by code (the tree's order: a child's code extends its
parent's) or, on request, by name, level or size; the addresses by code, text or area."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, case, or_, select
from sqlalchemy.orm import Session, aliased

from fangkong.areas import service
from fangkong.areas.models import LEVELS, Area, StandardAddress
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.http.tables import Column, Filter, Table

#: A level's depth in the tree, for sorting by level (city first).
LEVEL_DEPTH = case({level.value: level.depth for level in LEVELS}, value=Area.level, else_=99)


def area_select(scope: Scope) -> Select[Area, str | None]:
    """The areas of ``scope`` with their parent's code."""
    parent = aliased(Area)
    return (
        select(Area, parent.code)
        .outerjoin(parent, parent.id == Area.parent_id)
        .where(scope.clause(Area.path))
    )


def _text(*columns: Any) -> Any:
    def build(value: str) -> ColumnElement[bool]:
        return or_(*(c.icontains(value, autoescape=True) for c in columns))

    return build


def _subtree(session: Session, scope: Scope, column: Any) -> Any:
    def build(code: str) -> ColumnElement[bool]:
        area = service.get_by_code_or_raise(session, code=code, scope=scope)
        return column.startswith(area.path, autoescape=True)  # type: ignore[no-any-return]

    return build


def area_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The areas' table in ``language``: rows ``(area, parent code)``, sorted by code."""

    def t(key: str) -> str:
        return translate(key, language)

    # Chinese names in pinyin order (安 "an" before 中 "zhong"), not by code point.
    name = Area.name_en if language == "en" else pinyin(Area.name_zh)
    return Table(
        name="area",
        columns=(
            Column("name", t("areas.name"), lambda r: r[0].name(language), sort=name),
            Column("code", t("areas.code"), lambda r: r[0].code, sort=Area.code),
            Column(
                "level",
                t("areas.level"),
                lambda r: t(f"level.{r[0].level.value}"),
                sort=LEVEL_DEPTH,
            ),
            Column("parent", t("areas.parent"), lambda r: r[1] or ""),
            Column(
                "area_km2",
                t("areas.area_km2"),
                lambda r: round(r[0].area_m2 / 1e6, 6),
                sort=Area.area_m2,
                numeric=True,
                fmt="%.3f",
            ),
        ),
        filters=(
            Filter(
                "q",
                t("areas.search"),
                where=_text(Area.code, Area.name_zh, Area.name_en),
                max_length=64,
            ),
            Filter(
                "level",
                t("areas.level"),
                "choice",
                where=lambda v: Area.level == v,
                choices=tuple((lv.value, t(f"level.{lv.value}")) for lv in LEVELS),
            ),
            Filter(
                "within",
                t("areas.within"),
                where=_subtree(session, scope, Area.path),
                max_length=32,
            ),
        ),
        default_sort="code",
        tiebreak=(Area.id,),
        per_page=100,
    )


def address_select(scope: Scope) -> Select[StandardAddress, str | None]:
    """The standard addresses of ``scope`` with their area's code."""
    return (
        select(StandardAddress, Area.code)
        .outerjoin(Area, Area.id == StandardAddress.area_id)
        .where(scope.clause(StandardAddress.area_path))
    )


def address_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The addresses' table in ``language``: rows ``(address, area code)``, by code."""

    def t(key: str) -> str:
        return translate(key, language)

    text = StandardAddress.text_en if language == "en" else pinyin(StandardAddress.text_zh)
    return Table(
        name="standard_address",
        columns=(
            Column("code", t("areas.code"), lambda r: r[0].code, sort=StandardAddress.code),
            Column(
                "text",
                t("addresses.text"),
                lambda r: r[0].text_en if language == "en" else r[0].text_zh,
                sort=text,
            ),
            Column(
                "lon", "lon", lambda r: r[0].lon, sort=StandardAddress.lon, numeric=True, fmt="%.6f"
            ),
            Column(
                "lat", "lat", lambda r: r[0].lat, sort=StandardAddress.lat, numeric=True, fmt="%.6f"
            ),
            Column("area", t("addresses.area"), lambda r: r[1] or "", sort=Area.code),
            Column("h3", t("addresses.h3"), lambda r: r[0].h3_cell),
        ),
        filters=(
            Filter(
                "q",
                t("addresses.search"),
                where=_text(StandardAddress.code, StandardAddress.text_zh, StandardAddress.text_en),
                max_length=100,
            ),
            Filter(
                "area",
                t("addresses.area"),
                where=_subtree(session, scope, StandardAddress.area_path),
                max_length=32,
            ),
        ),
        default_sort="code",
        tiebreak=(StandardAddress.id,),
    )
