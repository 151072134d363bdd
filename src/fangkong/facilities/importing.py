"""Loading the key-facility register from a spreadsheet (CSV or XLSX), each row checked on
its own: a bad row is reported with its number, column and rule, and the others still load.
Rows whose code exists update that facility; new codes register facilities. One audit event
per file. :func:`export_rows` writes the import's columns, so an export reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope, common_path
from fangkong.facilities import register
from fangkong.facilities.listing import (
    COUNTS,
    FLAGS,
    IMPORT_COLUMNS,
    REQUIRED_COLUMNS,
    base_select,
)
from fangkong.facilities.models import Facility, FacilityType
from fangkong.facilities.schemas import FacilityIn
from fangkong.http.sheets import Cell, RowError, flag, parse_row, read_rows, require_columns, whole


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def _aliases() -> dict[str, str]:
    found: dict[str, str] = {}
    for key in IMPORT_COLUMNS:
        found[key] = key
        for language in ("zh-CN", "en"):
            found[translate(f"facilities.field.{key}", language)] = key
    return found


def _types() -> dict[str, str]:
    return {
        translate(f"facilities.type.{t.value}", language): t.value
        for t in FacilityType
        for language in ("zh-CN", "en")
    }


def normalise(cells: dict[str, Cell]) -> dict[str, Any]:
    """A row's cells by key, with yes/no, counts and type labels read as values."""
    names = _aliases()
    types = _types()
    out: dict[str, Any] = {}
    for column, value in cells.items():
        key = names.get(column)
        if key is None:
            continue
        if key in FLAGS and value is not None:
            value = flag(value)
        elif key in COUNTS:
            value = whole(value)
        elif key == "facility_type" and isinstance(value, str):
            value = types.get(value, value)
        out[key] = value
    return out


def import_facilities(
    session: Session,
    *,
    name: str,
    data: bytes,
    actor: Actor,
    scope: Scope | None,
    source: str = "import",
) -> ImportReport:
    """Register or update the facilities of a CSV or XLSX file (columns
    :data:`~fangkong.facilities.listing.IMPORT_COLUMNS`, by key or label)."""
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
            data_in = parse_row(FacilityIn, normalise(cells))
            facility = register.get_by_code(session, code=data_in.code.strip(), scope=None)
            if facility is None:
                facility = register.create(
                    session, data=data_in, actor=actor, scope=scope, source=source, audited=False
                )
                report.created += 1
            else:
                if scope is not None and not scope.covers(facility.area_path):
                    raise InvalidInput(
                        key="error.facilities.exists", params={"code": facility.code}, field="code"
                    )
                register.update(
                    session,
                    facility=facility,
                    data=data_in,
                    actor=actor,
                    scope=scope,
                    audited=False,
                )
                report.updated += 1
            session.flush()
            nested.commit()
            if facility.area_path:
                paths.add(facility.area_path)
        except FangkongError as exc:
            nested.rollback()
            report.errors.append(RowError.of(number, exc))
    if report.created or report.updated:
        audit.record(
            session,
            actor=actor,
            action="import",
            entity="facility",
            detail={"created": report.created, "updated": report.updated, "file": name[:100]},
            area_path=common_path(paths),
        )
    return report


def export_rows(session: Session, *, scope: Scope) -> tuple[list[str], Iterator[list[Any]]]:
    """The register in the import's columns (values, not labels): what the CLI writes."""

    def rows() -> Iterator[list[Any]]:
        for f in session.scalars(
            base_select(scope).order_by(Facility.code).execution_options(yield_per=1000)
        ):
            yield [
                f.code,
                f.name,
                f.facility_type.value,
                f.address,
                *(getattr(f, c) for c in COUNTS),
                *("1" if getattr(f, c) else "0" for c in FLAGS),
                f.lon,
                f.lat,
            ]

    return list(IMPORT_COLUMNS), rows()
