"""Loading seized items from a spreadsheet (CSV or XLSX): each row registers an item with its
``received`` step, checked on its own (a bad row is reported with its number, column and rule;
the others load; an existing code is refused, never overwritten: the chain is append-only).
One audit event per file. :func:`export_rows` writes the import's columns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope, common_path
from fangkong.custody import service
from fangkong.custody.listing import IMPORT_COLUMNS, REQUIRED_COLUMNS, base_select
from fangkong.custody.models import CustodyItem, ItemCategory, RefKind
from fangkong.custody.schemas import ItemIn
from fangkong.http.sheets import Cell, RowError, parse_row, read_rows, require_columns, whole


@dataclass
class ImportReport:
    created: int = 0
    errors: list[RowError] = field(default_factory=list)


def _aliases() -> dict[str, str]:
    found: dict[str, str] = {}
    for key in IMPORT_COLUMNS:
        found[key] = key
        for language in ("zh-CN", "en"):
            found[translate(f"custody.field.{key}", language)] = key
    return found


def _labels(prefix: str, values: list[str]) -> dict[str, str]:
    return {translate(f"{prefix}.{v}", language): v for v in values for language in ("zh-CN", "en")}


def normalise(cells: dict[str, Cell]) -> dict[str, Any]:
    names = _aliases()
    categories = _labels("custody.category", [c.value for c in ItemCategory])
    refs = _labels("custody.ref", [r.value for r in RefKind])
    out: dict[str, Any] = {}
    for column, value in cells.items():
        key = names.get(column)
        if key is None or value is None:
            continue
        if key == "quantity":
            value = whole(value)
        elif key == "category" and isinstance(value, str):
            value = categories.get(value.strip(), value.strip())
        elif key == "ref_kind" and isinstance(value, str):
            value = refs.get(value.strip(), value.strip())
        elif key in ("code", "area", "ref_number", "unit", "handled_by", "location"):
            value = str(value).strip()
        out[key] = value
    return out


def import_items(
    session: Session, *, name: str, data: bytes, actor: Actor, scope: Scope | None, now: datetime
) -> ImportReport:
    """Register the items of a CSV or XLSX file (columns
    :data:`~fangkong.custody.listing.IMPORT_COLUMNS`, by key or label)."""
    rows = read_rows(name, data)
    names = _aliases()
    if rows:
        present = {names.get(c) for c in rows[0][1]}
        missing = [c for c in REQUIRED_COLUMNS if c not in present]
        if missing:
            require_columns([(rows[0][0], {})], missing)
    report = ImportReport()
    paths: set[str] = set()
    for number, cells in rows:
        nested = session.begin_nested()
        try:
            item_in = parse_row(ItemIn, normalise(cells))
            item = service.create_item(
                session, data=item_in, actor=actor, scope=scope, now=now, audited=False
            )
            nested.commit()
            report.created += 1
            paths.add(item.area_path)
        except FangkongError as exc:
            nested.rollback()
            report.errors.append(RowError.of(number, exc))
    if report.created:
        audit.record(
            session,
            actor=actor,
            action="import",
            entity="custody_item",
            detail={"created": report.created, "file": name[:100]},
            area_path=common_path(paths),
        )
    return report


def export_rows(session: Session, *, scope: Scope) -> tuple[list[str], Iterator[list[Any]]]:
    """The items in the import's columns, each with its first step's time, who and where."""

    def rows() -> Iterator[list[Any]]:
        for item in session.scalars(base_select(scope).order_by(CustodyItem.code)).unique():
            chain = service.effective(service.steps_of(session, item=item))
            first = chain[0].step
            yield [
                item.code,
                item.category.value,
                item.quantity,
                item.unit,
                item.ref_kind.value,
                item.ref_number,
                item.area.code if item.area else "",
                first.occurred_at,
                first.handled_by,
                first.location,
            ]

    return list(IMPORT_COLUMNS), rows()
