"""Reading a spreadsheet that people upload or give the command line: CSV or XLSX, one header
row naming the columns, then a row per record; the counterpart of the exports of
:mod:`fangkong.http.tables`, whose files read back.

:func:`read_rows` gives each row as its number as people see it (the header is row 1) and
its cells by column name; an empty row is skipped. CSV is UTF-8 (with or without a BOM) or,
failing that, GB18030 (what a spreadsheet program in Chinese saves); XLSX is read from its
first sheet, values as they were last computed. What a domain makes of the cells, and the
errors of each row, is the domain's (see :class:`RowError`); :func:`import_register` is the
loop every register's import shares (a savepoint a row, create or update by code, one audit
event a file).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope, common_path

M = TypeVar("M", bound=BaseModel)

#: The most rows one file holds (beyond its header).
MAX_ROWS = 100_000
#: The most columns a header names.
MAX_COLUMNS = 64
#: The longest a cell's text may be.
MAX_CELL = 2000

Cell = str | int | float | bool | datetime | date | None


@dataclass(frozen=True)
class RowError:
    """A row that did not import: its number (the header is row 1), the column at fault and
    what is wrong."""

    row: int
    field: str | None
    message: str

    @classmethod
    def of(cls, row: int, error: FangkongError, language: str = "en") -> RowError:
        return cls(row=row, field=error.field, message=error.text(language))


def kind_of(name: str, data: bytes) -> str:
    """``xlsx`` when the name says so or the bytes are a zip file, else ``csv``."""
    if name.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return "xlsx"
    return "csv"


def _header(cells: Iterable[Any]) -> list[str]:
    names = [str(c).strip().lstrip("\ufeff") if c is not None else "" for c in cells]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InvalidInput(key="error.sheets.no_header", field="file")
    if len(names) > MAX_COLUMNS:
        raise InvalidInput(
            key="error.sheets.too_many_columns", params={"max": MAX_COLUMNS}, field="file"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(
                key="error.sheets.column_twice", params={"name": name[:64]}, field="file"
            )
        seen.add(name)
    return names


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidInput(key="error.sheets.encoding", field="file") from None
    if "\x00" in text:
        raise InvalidInput(key="error.bounds.nul", field="file")
    try:
        yield from csv.reader(io.StringIO(text))
    except csv.Error as exc:
        raise InvalidInput(
            key="error.sheets.csv", params={"reason": str(exc)[:200]}, field="file"
        ) from None


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise InvalidInput(
            key="error.sheets.xlsx", params={"reason": type(exc).__name__}, field="file"
        ) from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        book.close()


def _cell(value: Any) -> Cell:
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_CELL:
            raise InvalidInput(key="error.sheets.cell_long", params={"max": MAX_CELL}, field="file")
        if "\x00" in value:
            raise InvalidInput(key="error.bounds.nul", field="file")
        return value or None
    if value is None or isinstance(value, bool | int | float | datetime | date):
        return value
    return str(value)


def read_rows(
    name: str, data: bytes, *, max_rows: int = MAX_ROWS
) -> list[tuple[int, dict[str, Cell]]]:
    """The rows of a CSV or XLSX file: (row number, cells by column name), empty rows left
    out. A file that cannot be read, has no header, no row under it or more than
    ``max_rows`` rows is refused whole (:class:`InvalidInput` naming ``file``)."""
    rows = _xlsx_rows(data) if kind_of(name, data) == "xlsx" else _csv_rows(data)
    found: list[tuple[int, dict[str, Cell]]] = []
    header: list[str] | None = None
    for number, values in enumerate(rows, start=1):
        if header is None:
            header = _header(values)
            continue
        cells = {
            column: _cell(values[i]) if i < len(values) else None
            for i, column in enumerate(header)
            if column
        }
        if all(v is None for v in cells.values()):
            continue
        if len(found) >= max_rows:
            raise InvalidInput(
                key="error.sheets.too_many_rows", params={"max": max_rows}, field="file"
            )
        found.append((number, cells))
    if header is None:
        raise InvalidInput(key="error.sheets.no_header", field="file")
    if not found:
        raise InvalidInput(key="error.sheets.no_rows", field="file")
    return found


def require_columns(rows: list[tuple[int, dict[str, Cell]]], names: Iterable[str]) -> None:
    """Refuse a file whose header lacks one of ``names`` (checked on its first row)."""
    if not rows:
        return
    missing = [n for n in names if n not in rows[0][1]]
    if missing:
        raise InvalidInput(
            key="error.sheets.columns_missing", params={"names": ", ".join(missing)}, field="file"
        )


#: How people write yes and no in a sheet.
YES = frozenset({"1", "true", "yes", "y", "t", "是", "有", "√", "✓", "on"})
NO = frozenset({"0", "false", "no", "n", "f", "否", "无", "×", "✗", "off"})


def flag(value: Cell) -> bool | Cell:
    """A yes or no as people write it in a sheet (是/否, yes/no, 1/0, √/×); else as given,
    for the schema to refuse."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in YES:
            return True
        if low in NO:
            return False
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def whole(value: Cell) -> Cell:
    """A count as a sheet holds it (12.0 from XLSX) as an integer; else as given."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def parse_row(model: type[M], cells: dict[str, Any]) -> M:
    """``cells`` as ``model``; the first fault is :class:`InvalidInput` naming its column."""
    try:
        return model.model_validate({k: v for k, v in cells.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or None
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        raise InvalidInput(
            key="error.sheets.cell",
            params={"column": where or "", "message": message},
            field=where,
        ) from None


def column_aliases(keys: Iterable[str], prefix: str) -> dict[str, str]:
    """The column names people may use for each key: the key itself and its label in Chinese
    and in English (the translation of ``prefix + key``)."""
    found: dict[str, str] = {}
    for key in keys:
        found[key] = key
        for language in ("zh-CN", "en"):
            found[translate(f"{prefix}{key}", language)] = key
    return found


def require_keys(
    rows: list[tuple[int, dict[str, Cell]]], aliases: dict[str, str], keys: Iterable[str]
) -> None:
    """Refuse a file whose header names none of the aliases of one of ``keys``."""
    if not rows:
        return
    present = {aliases.get(c) for c in rows[0][1]}
    missing = [k for k in keys if k not in present]
    if missing:
        require_columns([(rows[0][0], {})], missing)


@dataclass
class ImportReport:
    """What a register's import did: records created, records updated, rows refused."""

    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


D = TypeVar("D")
R = TypeVar("R")


@dataclass(frozen=True)
class Register(Generic[D, R]):
    """How one register takes a row: parse its cells, find the record of its code (None:
    every row is new), create one, update one, and the refusal of a code that exists
    outside the importer's scope."""

    entity: str
    parse: Callable[[dict[str, Cell]], D]
    create: Callable[[D], R]
    area_path: Callable[[R], str | None]
    find: Callable[[D], R | None] | None = None
    update: Callable[[R, D], None] | None = None
    exists_elsewhere: Callable[[R], FangkongError] | None = None


def import_register(
    session: Session,
    register: Register[D, R],
    *,
    name: str,
    rows: list[tuple[int, dict[str, Cell]]],
    actor: Actor,
    scope: Scope | None,
) -> ImportReport:
    """Take ``rows`` into ``register``, each in a savepoint of its own: a bad row is reported
    with its number and column and the others still load; a code that exists is updated
    (refused when it lies outside ``scope``). One audit event for the file, at the common
    area of what it touched."""
    report = ImportReport()
    paths: set[str] = set()
    for number, cells in rows:
        nested = session.begin_nested()
        try:
            data = register.parse(cells)
            record = register.find(data) if register.find is not None else None
            if record is None:
                record = register.create(data)
                report.created += 1
            else:
                path = register.area_path(record)
                if scope is not None and not scope.covers(path):
                    assert register.exists_elsewhere is not None
                    raise register.exists_elsewhere(record)
                assert register.update is not None
                register.update(record, data)
                report.updated += 1
            session.flush()
            nested.commit()
            if (path := register.area_path(record)) is not None:
                paths.add(path)
        except FangkongError as exc:
            nested.rollback()
            report.errors.append(RowError.of(number, exc))
    if report.created or report.updated:
        detail: dict[str, Any] = {"created": report.created, "file": name[:100]}
        if register.find is not None:
            detail["updated"] = report.updated
        audit.record(
            session,
            actor=actor,
            action="import",
            entity=register.entity,
            detail=detail,
            area_path=common_path(paths),
        )
    return report
