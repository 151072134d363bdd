"""Lists as tables: sort by a declared column, filter, paginate, export the view as CSV or XLSX.

One mechanism for every list of the console (and the API routes that list the same rows): a
:class:`Table` declares its columns (which may be sorted and by what SQL expression, how a
cell is written in an export) and its filters (kind, choices, bounds, the SQL condition each
makes). :meth:`Table.parse` reads a request's query parameters against them and refuses what
is not declared or out of bounds (:class:`~fangkong.core.errors.InvalidInput`, 422, naming
the parameter): a sort on an undeclared column, a choice not offered, a text past its
length, a day that is no date, a page size past :data:`MAX_PER_PAGE`. :meth:`TableQuery.apply`
adds the filters and the order to the caller's select, which the caller has already scoped to
the user's areas, so that the table never widens what a list shows. :func:`fetch` reads one
page, :func:`export` the whole view (every page, the same filters and order) as CSV or XLSX,
refused past :data:`EXPORT_MAX_ROWS` rows.

The rows of an export are read :data:`_CHUNK` at a time and written to a spooled temporary
file as they come (XLSX through openpyxl's write-only workbook), so that neither the rows nor
the file are held whole in memory; the answer streams that file. The file is written before
the answer starts, inside the request's transaction (which ends before the response is sent).
"""

from __future__ import annotations

import csv
import io
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import IO, Any, Literal, cast
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.models import User
from fangkong.core.scoping import Scope, common_path
from fangkong.http.dates import Style, format_moment
from fangkong.http.deps import actor_of
from fangkong.http.templating import render

#: The largest page a table shows or the API lists through it.
MAX_PER_PAGE = 200
#: The page sizes the console offers.
PER_PAGE_CHOICES = (25, 50, 100, 200)
#: The last page number taken (with :data:`MAX_PER_PAGE`, twenty million rows deep).
MAX_PAGE = 100_000
#: The most rows one export writes; a larger view is refused (narrow the filters).
EXPORT_MAX_ROWS = 100_000
#: The longest filter value taken unless a filter says otherwise.
MAX_FILTER_LENGTH = 100
#: The first and last years a date filter takes.
FIRST_YEAR, LAST_YEAR = 2000, 2100
#: Rows read from the database at a time while exporting.
_CHUNK = 1000
#: Kept in memory up to this size, then on disk.
_SPOOL_BYTES = 8 * 1024 * 1024

Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: What an export answer is, for an API route's OpenAPI ``responses``.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The view as a file: CSV (UTF-8 with a BOM) or XLSX",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}

#: A select of any columns (the caller's, scoped to the user's areas).
AnySelect = Select[*tuple[Any, ...]]
#: A cell's value: text, a number, a moment (shown in the user's zone), a day, or nothing.
Cell = str | int | float | datetime | date | None
FilterKind = Literal["text", "choice", "date_from", "date_to"]


@dataclass(frozen=True)
class Column:
    """One column: its key (``sort=key``), its label (translated), the cell's value of a row
    (what the default cell shows and an export writes), and the SQL expression it sorts by
    (None: not sortable). ``export=False`` keeps it out of exports (free text in which people
    write names is shown to readers in scope, never exported); ``show=False`` keeps it off
    the page (an export's extra column)."""

    key: str
    label: str
    value: Callable[[Any], Cell]
    sort: ColumnElement[Any] | Any | None = None
    numeric: bool = False
    export: bool = True
    show: bool = True
    #: How the page shows a number (``"%.6f"``) or a moment (a style of
    #: :func:`fangkong.http.dates.format_moment`: ``"seconds"``, ``"date"``; ``"datetime"``,
    #: to the minute, by default: the reader's language, the county's zone); exports write
    #: the value itself.
    fmt: str | None = None

    @property
    def sortable(self) -> bool:
        return self.sort is not None


@dataclass(frozen=True)
class Filter:
    """One filter: its query parameter, its label (translated), its kind and the SQL condition
    that a value makes (``where``; None: the caller applies it). ``text``: at most
    ``max_length`` characters, stripped; ``choice``: one of ``choices`` (value, label);
    ``date_from`` / ``date_to``: a day (YYYY-MM-DD) in the user's zone, both included, given
    to ``where`` as the moment the range starts or ends (exclusive), in UTC."""

    key: str
    label: str
    kind: FilterKind = "text"
    where: Callable[[Any], ColumnElement[bool]] | None = None
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int = MAX_FILTER_LENGTH
    placeholder: str = ""


@dataclass(frozen=True)
class Table:
    """A list's declaration: columns, filters, the default sort (``"-received_at"``: that
    column, descending) and the order that breaks ties (a unique key, so that pages neither
    repeat nor skip a row)."""

    name: str
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...] = ()
    default_sort: str = ""
    tiebreak: tuple[Any, ...] = ()
    per_page: int = 50

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def filter(self, key: str) -> Filter | None:
        return next((f for f in self.filters if f.key == key), None)

    def parse(self, params: Mapping[str, str], *, zone: tzinfo) -> TableQuery:
        """The query that ``params`` (a request's query string) ask for, checked against the
        declaration; parameters the table does not declare are left to the caller."""
        values: dict[str, Any] = {}
        raw: dict[str, str] = {}
        for spec in self.filters:
            given = params.get(spec.key)
            if given is None or not given.strip():
                continue
            text = _bounded_text(given, spec)
            raw[spec.key] = text
            values[spec.key] = _filter_value(spec, text, zone)
        return self.query(
            sort=params.get("sort") or None,
            values=values,
            raw=raw,
            page=_integer(params.get("page"), "page", 1, MAX_PAGE, default=1),
            per_page=_integer(
                params.get("per_page"), "per_page", 1, MAX_PER_PAGE, default=self.per_page
            ),
        )

    def query(
        self,
        *,
        sort: str | None = None,
        values: Mapping[str, Any] | None = None,
        raw: Mapping[str, str] | None = None,
        page: int = 1,
        per_page: int | None = None,
    ) -> TableQuery:
        """The query of already typed ``values`` (an API route's parameters): the same checks
        as :meth:`parse` (declared filters, choices, lengths, bounds)."""
        kept: dict[str, Any] = {}
        for key, value in (values or {}).items():
            if value is None or value == "":
                continue
            spec = self.filter(key)
            if spec is None:
                raise InvalidInput(
                    key="error.table.filter_unknown", params={"name": key}, field=key
                )
            if isinstance(value, str):
                value = _bounded_text(value, spec)
                if spec.kind == "choice" and value not in {v for v, _ in spec.choices}:
                    raise _not_a_choice(spec, value)
            kept[key] = value
        descending, key = _sort_key(sort or self.default_sort)
        column = self.column(key) if key else None
        if key and (column is None or not column.sortable):
            raise InvalidInput(
                key="error.table.sort",
                params={"name": key, "allowed": ", ".join(self.sortable_keys())},
                field="sort",
            )
        size = self.per_page if per_page is None else per_page
        if not 1 <= size <= MAX_PER_PAGE:
            raise _out_of_range("per_page", 1, MAX_PER_PAGE)
        if not 1 <= page <= MAX_PAGE:
            raise _out_of_range("page", 1, MAX_PAGE)
        shown = dict(raw) if raw is not None else {k: _raw(v) for k, v in kept.items()}
        return TableQuery(
            table=self,
            sort_key=key,
            descending=descending,
            values=kept,
            raw=shown,
            page=page,
            per_page=size,
        )

    def sortable_keys(self) -> list[str]:
        return [c.key for c in self.columns if c.sortable]


def _sort_key(sort: str) -> tuple[bool, str]:
    sort = sort.strip()
    if len(sort) > 64:
        raise InvalidInput(
            key="error.table.too_long", params={"name": "sort", "max": 64}, field="sort"
        )
    return (True, sort[1:]) if sort.startswith("-") else (False, sort)


def _raw(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _bounded_text(value: str, spec: Filter) -> str:
    text = value.strip()
    if len(text) > spec.max_length:
        raise InvalidInput(
            key="error.table.too_long",
            params={"name": spec.key, "max": spec.max_length},
            field=spec.key,
        )
    if "\x00" in text:
        raise InvalidInput(key="error.bounds.nul", field=spec.key)
    return text


def _not_a_choice(spec: Filter, value: str) -> InvalidInput:
    return InvalidInput(
        key="error.table.choice",
        params={
            "name": spec.key,
            "value": value[:40],
            "allowed": ", ".join(v for v, _ in spec.choices),
        },
        field=spec.key,
    )


def _out_of_range(name: str, low: int, high: int) -> InvalidInput:
    return InvalidInput(
        key="error.table.range", params={"name": name, "low": low, "high": high}, field=name
    )


def _integer(given: str | None, name: str, low: int, high: int, *, default: int) -> int:
    if given is None or not given.strip():
        return default
    text = given.strip()
    if not re.fullmatch(r"\d{1,9}", text):
        raise _out_of_range(name, low, high)
    return int(text)


def _filter_value(spec: Filter, text: str, zone: tzinfo) -> Any:
    if spec.kind == "choice":
        if text not in {v for v, _ in spec.choices}:
            raise _not_a_choice(spec, text)
        return text
    if spec.kind in ("date_from", "date_to"):
        try:
            day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
        except ValueError:
            day = None
        if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise InvalidInput(
                key="error.table.date",
                params={"name": spec.key, "first": FIRST_YEAR, "last": LAST_YEAR},
                field=spec.key,
            )
        if spec.kind == "date_to":
            day += timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=zone)
    return text


@dataclass(frozen=True)
class TableQuery:
    """What a request asks of a table, checked: the sort (a declared column, or none), the
    filters' values (typed) and as given (``raw``, for links and the form), the page."""

    table: Table
    sort_key: str
    descending: bool
    values: dict[str, Any]
    raw: dict[str, str]
    page: int
    per_page: int

    def where(self) -> list[ColumnElement[bool]]:
        """The SQL conditions of the filters given that declare one."""
        clauses = []
        for key, value in self.values.items():
            spec = self.table.filter(key)
            if spec is not None and spec.where is not None:
                clauses.append(spec.where(value))
        return clauses

    def order(self) -> list[Any]:
        """The ORDER BY: the sorted column (NULLs last either way, on every backend), then the
        table's tiebreak."""
        order: list[Any] = []
        column = self.table.column(self.sort_key) if self.sort_key else None
        if column is not None and column.sort is not None:
            expr = column.sort.desc() if self.descending else column.sort.asc()
            order.append(expr.nulls_last())
        order.extend(self.table.tiebreak)
        return order

    def apply(self, stmt: AnySelect) -> AnySelect:
        """``stmt`` (scoped by the caller) with the filters and the order."""
        return stmt.where(*self.where()).order_by(*self.order())

    @property
    def sort_param(self) -> str:
        if not self.sort_key:
            return ""
        return f"-{self.sort_key}" if self.descending else self.sort_key

    def params(self, **changes: object) -> dict[str, str]:
        """The query string's parameters of this view, with ``changes`` (None drops one)."""
        out: dict[str, str] = dict(self.raw)
        if self.sort_param and self.sort_param != self.table.default_sort:
            out["sort"] = self.sort_param
        if self.per_page != self.table.per_page:
            out["per_page"] = str(self.per_page)
        if self.page != 1:
            out["page"] = str(self.page)
        for key, value in changes.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = str(value)
        return out

    def link(self, **changes: object) -> str:
        """``?...``: this view's address with ``changes``."""
        params = self.params(**changes)
        return "?" + urlencode(params) if params else "?"

    def sort_link(self, column: Column) -> str:
        """The address that sorts by ``column``: ascending, or descending when it already is
        ascending; back to the first page."""
        ascending = not (self.sort_key == column.key and not self.descending)
        return self.link(sort=column.key if ascending else f"-{column.key}", page=None)

    def export_link(self, fmt: str) -> str:
        return self.link(export=fmt, page=None)

    def aria_sort(self, column: Column) -> str:
        if self.sort_key != column.key:
            return "none"
        return "descending" if self.descending else "ascending"


@dataclass
class Page:
    """One page of a table's view: its rows, the rows of the whole view, the page shown (the
    last one when the query asked past it) and how many there are."""

    query: TableQuery
    rows: list[Any]
    total: int
    page: int
    pages: int
    zone: tzinfo | None = None
    error: str | None = None
    #: The page's path (the form's action) and fixed parameters the form keeps.
    path: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    status_code: int = 200
    #: The reader's language (how moments are written).
    language: str = "zh-CN"

    @property
    def table(self) -> Table:
        return self.query.table

    @property
    def columns(self) -> list[Column]:
        return [c for c in self.table.columns if c.show]

    def cell(self, column: Column, row: Any) -> str:
        """A cell as the page shows it (a moment in the user's zone, to the minute)."""
        value = column.value(row)
        if value is None:
            return ""
        if isinstance(value, datetime | date):
            style = cast(Style, column.fmt or "datetime")
            return format_moment(value, language=self.language, zone=self.zone or UTC, style=style)
        if column.fmt is not None and isinstance(value, int | float):
            return column.fmt % value
        return str(value)

    def link(self, **changes: object) -> str:
        """This page's address with ``changes`` (``page=None``: the first page)."""
        return self.query.link(**({"page": self.page if self.page > 1 else None} | changes))

    @property
    def per_page_choices(self) -> tuple[int, ...]:
        return tuple(sorted({*PER_PAGE_CHOICES, self.query.per_page}))

    @property
    def export_max(self) -> int:
        return EXPORT_MAX_ROWS

    @property
    def first_row(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.query.per_page + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.query.per_page)


def count(session: Session, stmt: AnySelect) -> int:
    """The rows ``stmt`` selects."""
    return int(
        session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    )


def _one_entity(stmt: AnySelect) -> bool:
    return len(stmt.column_descriptions) == 1


def fetch(
    session: Session, stmt: AnySelect, query: TableQuery, *, zone: tzinfo | None = None
) -> Page:
    """One page of ``stmt`` (scoped by the caller) filtered and sorted as ``query`` asks; a
    page past the last shows the last. A select of one entity or column gives its values,
    otherwise rows."""
    stmt = query.apply(stmt)
    total = count(session, stmt)
    pages = max(1, math.ceil(total / query.per_page))
    page = min(query.page, pages)
    paged = stmt.limit(query.per_page).offset((page - 1) * query.per_page)
    result = session.execute(paged)
    rows = list(result.scalars() if _one_entity(stmt) else result)
    return Page(query=query, rows=rows, total=total, page=page, pages=pages, zone=zone)


def failed(
    query: TableQuery, error: FangkongError, *, language: str, zone: tzinfo | None = None
) -> Page:
    """An empty page that says why the view could not be read (a filter refused)."""
    return Page(
        query=query,
        rows=[],
        total=0,
        page=1,
        pages=1,
        zone=zone,
        error=error.text(language),
        status_code=error.status_code,
    )


def view(
    request: Request,
    session: Session,
    table: Table,
    stmt: AnySelect,
    *,
    user: User,
    scope: Scope,
    language: str,
    title: str,
    extra: Mapping[str, str] | None = None,
) -> Page | StreamingResponse:
    """A console list's answer to ``request``: the page its query parameters ask for, or with
    ``export=csv|xlsx`` the whole view as a file (audited). A refused parameter or export is
    shown above an empty table with its status (422, or 404 for an area outside the user's
    areas), never an error page; ``extra`` are the page's own parameters, kept by the form."""
    zone: tzinfo = request.app.state.settings.zone
    params = request.query_params
    try:
        query = table.parse(params, zone=zone)
    except FangkongError as exc:
        page = failed(table.query(), exc, language=language, zone=zone)
    else:
        fmt = params.get("export")
        try:
            if fmt:
                return export(
                    session,
                    stmt,
                    query,
                    fmt=fmt,
                    zone=zone,
                    title=title,
                    actor=actor_of(request, user),
                    scope=scope,
                )
            page = fetch(session, stmt, query, zone=zone)
        except FangkongError as exc:
            page = failed(query, exc, language=language, zone=zone)
    page.path = request.url.path
    page.extra = dict(extra or {})
    page.language = language
    return page


def list_page(
    request: Request,
    session: Session,
    table: Table,
    stmt: AnySelect,
    *,
    user: User,
    scope: Scope,
    language: str,
    title: str,
    template: str,
    context: Callable[[Page], Mapping[str, Any]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Response:
    """A console list page: :func:`view` of ``table`` over ``stmt`` (scoped by the caller),
    its export as it is, else ``template`` rendered with the page (``view``), the user, the
    page's status and what ``context`` adds for its rows (a flag per row, the choices of the
    page's forms, an import's report)."""
    result = view(
        request,
        session,
        table,
        stmt,
        user=user,
        scope=scope,
        language=language,
        title=title,
        extra=extra,
    )
    if not isinstance(result, Page):
        return result
    return render(
        request,
        template,
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        **(dict(context(result)) if context is not None else {}),
    )


def rows_of(session: Session, stmt: AnySelect, query: TableQuery) -> Iterator[list[Cell]]:
    """Every row of the view, as an export writes them (exported columns only), read
    :data:`_CHUNK` at a time."""
    stmt = query.apply(stmt).execution_options(yield_per=_CHUNK)
    columns = [c for c in query.table.columns if c.export]
    result = session.execute(stmt)
    source: Iterable[Any] = result.scalars() if _one_entity(stmt) else result
    for row in source:
        yield [c.value(row) for c in columns]


def export(
    session: Session,
    stmt: AnySelect,
    query: TableQuery,
    *,
    fmt: str,
    zone: tzinfo,
    title: str,
    actor: Actor | None = None,
    scope: Scope | None = None,
    max_rows: int = EXPORT_MAX_ROWS,
) -> StreamingResponse:
    """The whole view of ``query`` over ``stmt`` (every page) as a CSV or XLSX file.

    Refused (:class:`InvalidInput`, 422) in another format or past ``max_rows`` rows. With an
    ``actor``, the export is audited (``export`` of the table, its filters, sort and row count,
    in the area the user's ``scope`` has in common).
    """
    if fmt not in FORMATS:
        raise InvalidInput(
            key="error.table.format",
            params={"value": fmt[:16], "allowed": ", ".join(FORMATS)},
            field="export",
        )
    total = count(session, query.apply(stmt))
    if total > max_rows:
        raise InvalidInput(
            key="error.table.export_too_many",
            params={"rows": total, "max": max_rows},
            field="export",
        )
    columns = [c for c in query.table.columns if c.export]
    header = [c.label for c in columns]
    rows = rows_of(session, stmt, query)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    try:
        if fmt == "csv":
            write_csv(spool, header, rows, zone=zone)
        else:
            write_xlsx(spool, header, rows, zone=zone, title=title)
    except BaseException:
        spool.close()
        raise
    if actor is not None:
        audit.record(
            session,
            actor=actor,
            action="export",
            entity=query.table.name,
            detail={
                "format": fmt,
                "rows": total,
                "filters": query.raw,
                "sort": query.sort_param,
            },
            area_path=common_path(scope.paths) if scope is not None else None,
        )
    spool.seek(0)
    stamp = datetime.now(zone).strftime("%Y%m%d-%H%M")
    filename = f"{_safe_name(query.table.name)}-{stamp}.{fmt}"
    return StreamingResponse(
        _chunks(spool),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "export"


def _chunks(spool: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    try:
        while chunk := spool.read(size):
            yield chunk
    finally:
        spool.close()


# A value that a spreadsheet would read as a formula (=, +, -, @, or a tab or return first):
# written with a leading apostrophe in CSV (OWASP "CSV injection"); XLSX stores it as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Cell, zone: tzinfo) -> str:
    """A cell as CSV writes it: moments in ``zone`` to the second, days ISO, text guarded."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_csv(
    out: IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Cell]], *, zone: tzinfo
) -> int:
    """Write ``rows`` under ``header`` to ``out`` as CSV (UTF-8 with a byte-order mark, which
    spreadsheet programs need to read UTF-8; CRLF line ends); the rows written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    out.write(b"\xef\xbb\xbf")
    writer.writerow(header)
    written = 0
    for row in rows:
        writer.writerow([csv_text(v, zone) for v in row])
        written += 1
        if written % _CHUNK == 0:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().encode("utf-8"))
    return written


# What openpyxl refuses in a cell's text (control characters but tab and line ends).
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XLSX_TEXT_MAX = 32_767
_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


def write_xlsx(
    out: IO[bytes],
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    zone: tzinfo,
    title: str,
) -> int:
    """Write ``rows`` under ``header`` to ``out`` as one XLSX sheet named ``title`` (a
    write-only workbook: rows go to disk as they come); moments as the spreadsheet's dates in
    ``zone`` to the second (as CSV writes them), text always as text (never a formula); the
    rows written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_SHEET_NAME.sub(" ", title)[:31] or "Sheet1")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for label in header:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    written = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value, zone) for value in row])
        written += 1
    book.save(out)
    return written


def _xlsx_cell(sheet: Any, value: Cell, zone: tzinfo) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, datetime):
        local = value.astimezone(zone).replace(tzinfo=None, microsecond=0)
        cell = WriteOnlyCell(sheet, value=local)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=_ILLEGAL_XLSX.sub("", value)[:_XLSX_TEXT_MAX])
        cell.data_type = "s"  # text, even when it begins with "="
        return cell
    return value
