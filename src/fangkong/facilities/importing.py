"""Loading the key-facility register from a spreadsheet (CSV or XLSX), each row checked on
its own: a bad row is reported with its number, column and rule, and the others still load.
Rows whose code exists update that facility; new codes register facilities. One audit event
per file. :func:`export_rows` writes the import's columns, so an export reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
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
from fangkong.http.sheets import (
    Cell,
    ImportReport,
    Register,
    column_aliases,
    flag,
    import_register,
    parse_row,
    read_rows,
    require_keys,
    whole,
)


def _aliases() -> dict[str, str]:
    return column_aliases(IMPORT_COLUMNS, "facilities.field.")


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
    require_keys(rows, _aliases(), REQUIRED_COLUMNS)

    def create(data_in: FacilityIn) -> Facility:
        return register.create(
            session, data=data_in, actor=actor, scope=scope, source=source, audited=False
        )

    def update(facility: Facility, data_in: FacilityIn) -> None:
        register.update(
            session, facility=facility, data=data_in, actor=actor, scope=scope, audited=False
        )

    facilities: Register[FacilityIn, Facility] = Register(
        entity="facility",
        parse=lambda cells: parse_row(FacilityIn, normalise(cells)),
        find=lambda data_in: register.get_by_code(session, code=data_in.code.strip(), scope=None),
        create=create,
        update=update,
        area_path=lambda facility: facility.area_path,
        exists_elsewhere=lambda facility: InvalidInput(
            key="error.facilities.exists", params={"code": facility.code}, field="code"
        ),
    )
    return import_register(session, facilities, name=name, rows=rows, actor=actor, scope=scope)


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
