"""Reading a spreadsheet that people upload or give the command line: CSV or XLSX, one header
row naming the columns, then a row per record; the counterpart of the exports of
:mod:`fangkong.http.tables`, whose files read back.

:func:`read_rows` gives each row as its number as people see it (the header is row 1) and
its cells by column name; an empty row is skipped. CSV is UTF-8 (with or without a BOM) or,
failing that, GB18030 (what a spreadsheet program in Chinese saves); XLSX is read from its
first sheet, values as they were last computed. What a domain makes of the cells, and the
errors of each row, is the domain's (see :class:`RowError`).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fangkong.core.errors import FangkongError, InvalidInput

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
