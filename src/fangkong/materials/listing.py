"""The hazardous-material registers as tables of :mod:`fangkong.http.tables`: holders and the
movement ledger of the user's areas, searched and filtered, sorted by any column, exported as
CSV or XLSX. No contact is a column: it is personal data (shown masked on a holder's page).
The ledger's columns' keys are its import's, so an export of it reads back."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, String, cast, select
from sqlalchemy.orm import Session, aliased

from fangkong.areas import service as area_service
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope, as_system
from fangkong.core.text_match import contains_literal, contains_text
from fangkong.http.tables import Column, Filter, Table
from fangkong.materials.models import (
    Holder,
    HolderKind,
    Material,
    MaterialClass,
    Movement,
    MovementKind,
    Site,
)
from fangkong.materials.units import from_milli

HOLDER_COLUMNS = (
    "code",
    "name",
    "kind",
    "licence_no",
    "licence_classes",
    "licence_from",
    "licence_until",
    "address",
    "lon",
    "lat",
    "contact_name",
    "contact_phone",
)
MOVEMENT_COLUMNS = (
    "site_code",
    "material_code",
    "kind",
    "quantity",
    "unit",
    "occurred_at",
    "document_no",
    "counterparty_code",
    "counterparty_site_code",
)


def holders_select(scope: Scope) -> Select[Holder]:
    return select(Holder).where(scope.clause(Holder.area_path))


def holders_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The holders' table for a reader with ``scope`` in ``language``, by code."""

    def t(key: str) -> str:
        return translate(key, language)

    def area(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        return Holder.area_path.startswith(found.path, autoescape=True)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(value, Holder.code, Holder.name, Holder.licence_no)

    def classes(h: Holder) -> str:
        return ", ".join(t(f"materials.class.{c}") for c in h.licence_classes or [])

    return Table(
        name="material_holder",
        columns=(
            Column("code", t("materials.field.code"), lambda h: h.code, sort=Holder.code),
            Column("name", t("materials.field.name"), lambda h: h.name, sort=pinyin(Holder.name)),
            Column(
                "kind",
                t("materials.field.holder_kind"),
                lambda h: t(f"materials.holder_kind.{h.kind.value}"),
                sort=Holder.kind,
            ),
            Column(
                "licence_no",
                t("materials.field.licence_no"),
                lambda h: h.licence_no,
                sort=Holder.licence_no,
            ),
            Column("licence_classes", t("materials.field.licence_classes"), classes),
            Column(
                "licence_until",
                t("materials.field.licence_until"),
                lambda h: h.licence_until,
                sort=Holder.licence_until,
                fmt="date",
            ),
            Column(
                "area",
                t("materials.field.area"),
                lambda h: h.area.code if h.area else None,
                sort=Holder.area_path,
            ),
            Column(
                "deregistered_at",
                t("materials.field.deregistered_at"),
                lambda h: h.deregistered_at,
                sort=Holder.deregistered_at,
                show=False,
            ),
        ),
        filters=(
            Filter("q", t("materials.search_holder"), where=text, max_length=64),
            Filter(
                "kind",
                t("materials.field.holder_kind"),
                "choice",
                where=lambda v: Holder.kind == v,
                choices=tuple((k.value, t(f"materials.holder_kind.{k.value}")) for k in HolderKind),
            ),
            Filter(
                "material_class",
                t("materials.field.licence_classes"),
                "choice",
                where=lambda v: contains_literal(f'"{v}"', cast(Holder.licence_classes, String)),
                choices=tuple((c.value, t(f"materials.class.{c.value}")) for c in MaterialClass),
            ),
            Filter("area", t("materials.field.area"), where=area, max_length=32),
            Filter(
                "active",
                t("materials.field.active"),
                "choice",
                where=lambda v: (
                    Holder.deregistered_at.is_(None)
                    if v == "1"
                    else Holder.deregistered_at.is_not(None)
                ),
                choices=(("1", t("materials.active")), ("0", t("materials.deregistered"))),
            ),
        ),
        default_sort="code",
        tiebreak=(Holder.id,),
    )


def movements_select(scope: Scope) -> Select[Movement, Holder, Site, Material]:
    return (
        select(Movement, Holder, Site, Material)
        .join(Holder, Holder.id == Movement.holder_id)
        .join(Site, Site.id == Movement.site_id)
        .join(Material, Material.id == Movement.material_id)
        .where(scope.clause(Movement.area_path))
    )


def movements_table(session: Session, *, scope: Scope, language: str) -> Table:
    """The ledger's table for a reader with ``scope`` in ``language``, latest first. Each row
    is (movement, holder, site, material)."""

    def t(key: str) -> str:
        return translate(key, language)

    replaced = aliased(Movement)

    def holder(code: str) -> ColumnElement[bool]:
        return Holder.code == code

    def effective(v: str) -> ColumnElement[bool]:
        superseded = select(replaced.id).where(replaced.corrects_id == Movement.id).exists()
        if v == "1":
            return Movement.void.is_(False) & ~superseded
        return Movement.void.is_(True) | superseded

    return Table(
        name="material_movement",
        columns=(
            Column(
                "id", t("materials.field.row"), lambda r: r[0].id, sort=Movement.id, numeric=True
            ),
            Column(
                "holder_code", t("materials.field.holder"), lambda r: r[1].code, sort=Holder.code
            ),
            Column("site_code", t("materials.field.site"), lambda r: r[2].code, sort=Site.code),
            Column(
                "material_code",
                t("materials.field.material"),
                lambda r: r[3].code,
                sort=Material.code,
            ),
            Column(
                "kind",
                t("materials.field.movement_kind"),
                lambda r: t(f"materials.kind.{r[0].kind.value}"),
                sort=Movement.kind,
            ),
            Column(
                "quantity",
                t("materials.field.quantity"),
                lambda r: r[0].quantity,
                numeric=True,
                sort=Movement.quantity_milli,
            ),
            Column("unit", t("materials.field.unit"), lambda r: r[0].unit),
            Column(
                "quantity_base",
                t("materials.field.quantity_base"),
                lambda r: from_milli(r[0].quantity_milli),
                numeric=True,
                show=False,
            ),
            Column(
                "occurred_at",
                t("materials.field.occurred_at"),
                lambda r: r[0].occurred_at,
                sort=Movement.occurred_s,
            ),
            Column(
                "document_no",
                t("materials.field.document_no"),
                lambda r: r[0].document_no,
                sort=Movement.document_no,
            ),
            Column(
                "counterparty_code",
                t("materials.field.counterparty"),
                lambda r: _code(session, r[0].counterparty_id),
            ),
            Column(
                "corrects_id",
                t("materials.field.corrects"),
                lambda r: r[0].corrects_id,
                numeric=True,
                show=False,
            ),
            Column(
                "void",
                t("materials.field.void"),
                lambda r: t("materials.yes") if r[0].void else "",
                show=False,
            ),
        ),
        filters=(
            Filter("holder", t("materials.field.holder"), where=holder, max_length=32),
            Filter(
                "kind",
                t("materials.field.movement_kind"),
                "choice",
                where=lambda v: Movement.kind == v,
                choices=tuple((k.value, t(f"materials.kind.{k.value}")) for k in MovementKind),
            ),
            Filter(
                "material",
                t("materials.field.material"),
                where=lambda v: Material.code == v,
                max_length=32,
            ),
            Filter(
                "document_no",
                t("materials.field.document_no"),
                where=lambda v: Movement.document_no == v,
                max_length=64,
            ),
            Filter(
                "from",
                t("materials.from"),
                "date_from",
                where=lambda v: Movement.occurred_at >= v,
            ),
            Filter("to", t("materials.to"), "date_to", where=lambda v: Movement.occurred_at < v),
            Filter(
                "effective",
                t("materials.field.effective"),
                "choice",
                where=effective,
                choices=(("1", t("materials.effective")), ("0", t("materials.replaced"))),
            ),
        ),
        default_sort="-occurred_at",
        tiebreak=(Movement.id.desc(),),
    )


def _code(session: Session, holder_id: int | None) -> str | None:
    """A holder's code (the session's identity map keeps each holder read once)."""
    if holder_id is None:
        return None
    with as_system(session):  # the other end's holder may lie outside the reader's areas
        found = session.get(Holder, holder_id)
    return found.code if found else None
