"""The custody register as a table of :mod:`fangkong.http.tables`: the items of the user's
areas, searched by code or reference number, filtered by stage, category, area and whether
overdue, sorted by any column, exported (never the description: free text)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.core.db import utcnow
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.text_match import contains_text
from fangkong.custody.models import CustodyItem, ItemCategory, Stage
from fangkong.http.tables import Column, Filter, Table

#: The columns of an import (and of an export): an item and its ``received`` step.
IMPORT_COLUMNS = (
    "code",
    "category",
    "quantity",
    "unit",
    "ref_kind",
    "ref_number",
    "area",
    "received_at",
    "handled_by",
    "location",
)
REQUIRED_COLUMNS = (
    "code",
    "category",
    "ref_kind",
    "ref_number",
    "area",
    "received_at",
    "handled_by",
)


def base_select(scope: Scope) -> Select[CustodyItem]:
    return select(CustodyItem).where(scope.clause(CustodyItem.area_path))


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(
        CustodyItem.closed_at.is_(None),
        CustodyItem.due_at.is_not(None),
        CustodyItem.due_at < now,
    )


def table(session: Session, *, scope: Scope, language: str) -> Table:
    """The items of ``scope`` in ``language``, by code."""

    def t(key: str) -> str:
        return translate(key, language)

    def area(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        return CustodyItem.area_path.startswith(found.path, autoescape=True)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(value, CustodyItem.code, CustodyItem.ref_number)

    def overdue(value: str) -> ColumnElement[bool]:
        clause = overdue_clause(utcnow())
        return clause if value == "yes" else ~clause

    return Table(
        name="custody_item",
        columns=(
            Column("code", t("custody.field.code"), lambda r: r.code, sort=CustodyItem.code),
            Column(
                "category",
                t("custody.field.category"),
                lambda r: t(f"custody.category.{r.category.value}"),
                sort=CustodyItem.category,
            ),
            Column(
                "quantity",
                t("custody.field.quantity"),
                lambda r: r.quantity,
                sort=CustodyItem.quantity,
                numeric=True,
            ),
            Column("unit", t("custody.field.unit"), lambda r: r.unit, show=False),
            Column(
                "ref_kind",
                t("custody.field.ref_kind"),
                lambda r: t(f"custody.ref.{r.ref_kind.value}"),
                show=False,
            ),
            Column(
                "ref_number",
                t("custody.field.ref_number"),
                lambda r: r.ref_number,
                sort=CustodyItem.ref_number,
            ),
            Column(
                "stage",
                t("custody.field.stage"),
                lambda r: t(f"custody.stage.{r.stage.value}"),
                sort=CustodyItem.stage,
            ),
            Column(
                "stage_at",
                t("custody.field.stage_at"),
                lambda r: r.stage_at,
                sort=CustodyItem.stage_at,
            ),
            Column(
                "location",
                t("custody.field.location"),
                lambda r: r.location,
                sort=CustodyItem.location,
            ),
            Column(
                "due_at", t("custody.field.due_at"), lambda r: r.due_at, sort=CustodyItem.due_at
            ),
            Column(
                "area",
                t("custody.field.area"),
                lambda r: r.area.code if r.area else None,
                sort=CustodyItem.area_path,
            ),
        ),
        filters=(
            Filter("q", t("custody.search"), where=text, max_length=64),
            Filter(
                "stage",
                t("custody.field.stage"),
                "choice",
                where=lambda v: CustodyItem.stage == v,
                choices=tuple((s.value, t(f"custody.stage.{s.value}")) for s in Stage),
            ),
            Filter(
                "category",
                t("custody.field.category"),
                "choice",
                where=lambda v: CustodyItem.category == v,
                choices=tuple((c.value, t(f"custody.category.{c.value}")) for c in ItemCategory),
            ),
            Filter(
                "overdue",
                t("custody.overdue"),
                "choice",
                where=overdue,
                choices=(("yes", t("custody.yes")), ("no", t("custody.no"))),
            ),
            Filter("area", t("custody.field.area"), where=area, max_length=32),
        ),
        default_sort="code",
        tiebreak=(CustodyItem.id,),
    )
