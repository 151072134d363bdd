"""Statements run as plain SQL, for the paths that run a few small statements very often.

SQLAlchemy runs a Core statement through its statement cache, its parameter processing and
its result set-up, which cost several times what the driver then does with a statement of a
few rows. The intake writer runs four per batch: the read of who is asking, and three
INSERTs (the incidents, their first timeline events, their audit events). So these are built
once and handed to the driver (``Connection.exec_driver_sql``) in the caller's transaction:
the session's connection, with its events and its write turn. Values going in and coming out
are converted by the columns' own types (the dialect's
:meth:`~sqlalchemy.types.TypeEngine.bind_processor` and
:meth:`~sqlalchemy.types.TypeEngine.result_processor`), so they are what SQLAlchemy would
write and read. ``benchmarks/intake_writer.py`` measures the intake writer that uses them.

- :class:`RowsInsert`: a table's multi-row INSERT, built once per row count. What differs from
  ``insert()``: a column's Python-side default is evaluated once per statement, not once per
  row (``utcnow``: one time for the rows of one transaction), and ``None`` is always SQL
  ``NULL`` (a JSON column does not store the JSON text ``null``).
- :class:`PlainSelect`: a ``select()`` compiled once per dialect, its parameters bound by
  name, its rows as named tuples of converted values.

Only the drivers fangkong runs on are known: qmark (sqlite3) and format or pyformat (psycopg)
placeholders.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Column, Connection, Dialect, Select, Table

from fangkong.core import county

#: Values per statement at most: under SQLite's (32,766) and PostgreSQL's (65,535) limits.
MAX_VALUES = 30_000

_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class RowsInsert:
    """``INSERT INTO table (columns) VALUES (…), (…) [ON CONFLICT (…) DO NOTHING]
    [RETURNING …]`` of the given columns of ``table``.

    Every column with a Python-side default that is not in ``columns`` gets its default
    (evaluated once per statement); the others are left to the database (their server
    default, or ``NULL``). ``on_conflict_skip`` names the columns of a unique constraint
    whose conflicting rows are skipped; ``returning`` the columns each inserted row returns.
    The county key (:mod:`fangkong.core.county`) is computed per row from the area path among
    ``columns``; a table whose county is its parent's must have it among ``columns``. The
    partition key, where the table has one, is computed per row from that county.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        on_conflict_skip: Sequence[str] = (),
        returning: Sequence[str] = (),
    ) -> None:
        unknown = [
            name for name in (*columns, *on_conflict_skip, *returning) if name not in table.c
        ]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        self.table = table
        self.columns = tuple(columns)
        #: The county key computed per row from the path among the columns (None: given, or
        #: the table has none), see :mod:`fangkong.core.county`.
        self._county_from: str | None = None
        if county.COLUMN in table.c and county.COLUMN not in self.columns:
            path = county.path_column(table)
            if path is None:  # a child's county is its parent's: the caller knows it
                raise ValueError(f"{table.name}: give {county.COLUMN} with each row")
            if path in self.columns:  # else no path given, and no county
                self._county_from = path
        #: Whether the partition key is computed per row from the row's county (given or
        #: computed from the path).
        self._partition = (
            county.has_partition_key(table) and county.PARTITION_COLUMN not in self.columns
        )
        self._defaults = tuple(
            (column.name, default)
            for column in table.c
            if column.name not in self.columns
            and column.name not in (county.COLUMN, county.PARTITION_COLUMN)
            and (default := _default_of(column)) is not None
        )
        #: What each row's values are, in order: the columns given, the county key computed
        #: from the path, the partition key, then the defaulted ones.
        self._names = (
            *self.columns,
            *((county.COLUMN,) if self._county_from else ()),
            *((county.PARTITION_COLUMN,) if self._partition else ()),
            *(name for name, _ in self._defaults),
        )
        self._on_conflict_skip = tuple(on_conflict_skip)
        self._returning = tuple(returning)
        self._dialects: dict[str, _Compiled] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert ``rows`` (each holding every column of :attr:`columns`) in ``conn``'s
        transaction; the returned columns of each inserted row (none without ``returning``),
        in no particular order."""
        if not rows:
            return []
        compiled = self._compiled(conn.dialect)
        names = self._names
        defaults = tuple(default() for _, default in self._defaults)
        processors = compiled.processors
        out: list[tuple[Any, ...]] = []
        per_statement = max(1, MAX_VALUES // len(names))
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            values: list[Any] = []
            for row in part:
                given = tuple(row[c] for c in self.columns)
                if self._county_from is not None:
                    key = county.county_of(row[self._county_from])
                    given = (*given, key)
                else:
                    key = row.get(county.COLUMN)
                if self._partition:
                    given = (*given, county.partition_of(key))
                for name, value in zip(names, (*given, *defaults), strict=True):
                    process = processors[name]
                    values.append(value if value is None or process is None else process(value))
            result = conn.exec_driver_sql(compiled.sql(len(part)), tuple(values))
            if self._returning:
                out.extend(tuple(r) for r in result)
        return out

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._dialects.get(dialect.name)
        if found is None:
            found = self._dialects[dialect.name] = _Compiled(self, dialect)
        return found


class _Compiled:
    """A :class:`RowsInsert`'s SQL and value converters for one dialect."""

    def __init__(self, insert: RowsInsert, dialect: Dialect) -> None:
        placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
        if placeholder is None:
            raise ValueError(f"{dialect.name}: paramstyle {dialect.paramstyle} is not supported")
        quote = dialect.identifier_preparer.quote
        table = insert.table
        names = insert._names
        self.processors: dict[str, Callable[[Any], Any] | None] = {
            name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        }
        self._head = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(name) for name in names)}) VALUES "
        )
        self._row = f"({', '.join([placeholder] * len(names))})"
        tail = ""
        if insert._on_conflict_skip:
            tail += (
                f" ON CONFLICT ({', '.join(quote(n) for n in insert._on_conflict_skip)}) DO NOTHING"
            )
        if insert._returning:
            tail += f" RETURNING {', '.join(quote(n) for n in insert._returning)}"
        self._tail = tail
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        found = self._sql.get(rows)
        if found is None:
            found = self._sql[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return found


def _default_of(column: Column[Any]) -> Callable[[], Any] | None:
    """A column's Python-side default as a function of nothing (None if it has none: a
    SQL expression or a sequence is the database's to apply)."""
    default = column.default
    if default is None:
        return None
    if getattr(default, "is_scalar", False):
        value = default.arg  # type: ignore[attr-defined]
        return lambda: value
    if getattr(default, "is_callable", False):
        # SQLAlchemy wraps a default of no arguments into one taking the execution context.
        function = default.arg  # type: ignore[attr-defined]
        return lambda: function(None)
    return None


class PlainSelect:
    """A ``select()`` run as plain SQL (see the module): compiled once per dialect, with the
    bind and result converters of its parameters' and columns' types.

    Its parameters are ``bindparam()`` s with names, given at each run; a parameter that
    expands (``in_()`` of a list) or renders as a literal is not supported.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._dialects: dict[str, _CompiledSelect] = {}

    def run(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The rows of the statement with ``params`` in ``conn``'s transaction: named tuples
        of the selected columns' values (by their keys) as SQLAlchemy would read them."""
        compiled = self._dialects.get(conn.dialect.name)
        if compiled is None:
            compiled = self._dialects[conn.dialect.name] = _CompiledSelect(
                self.statement, conn.dialect
            )
        result = conn.exec_driver_sql(compiled.sql, compiled.parameters(params))
        converters = compiled.converters(result.cursor.description)
        make = compiled.make_row
        return [
            make(
                value if value is None or convert is None else convert(value)
                for value, convert in zip(row, converters, strict=True)
            )
            for row in result.fetchall()
        ]


class _CompiledSelect:
    """A :class:`PlainSelect`'s SQL and converters for one dialect."""

    def __init__(self, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        binds = compiled.binds
        if any(b.expanding or b.literal_execute for b in binds.values()):
            raise ValueError("a parameter that expands or renders as a literal is not supported")
        self.sql = compiled.string
        #: The parameters' names in placeholder order (positional styles); None for named.
        self._order = (
            tuple(compiled.positiontup)
            if compiled.positional and (compiled.positiontup is not None)
            else None
        )
        self._binds = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in binds.items()
        }
        self._dialect = dialect
        self._types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        #: A row: its fields named by the columns' keys (a column without one, or with a key
        #: taken before, is named ``_N``, its position).
        fields = [column.key or "" for column in statement.selected_columns]
        # Its fields are known at run time only, which a type checker cannot follow.
        self.make_row: Callable[[Iterable[Any]], tuple[Any, ...]] = cast(Any, namedtuple)(
            "Row", fields, rename=True
        )._make
        self._converters: tuple[Callable[[Any], Any] | None, ...] | None = None

    def converters(
        self, description: Sequence[Sequence[Any]]
    ) -> tuple[Callable[[Any], Any] | None, ...]:
        """The result columns' converters, made from the first result's description: a
        driver's type code chooses some (psycopg's numeric types)."""
        if self._converters is None:
            self._converters = tuple(
                kind.result_processor(self._dialect, column[1])
                for kind, column in zip(self._types, description, strict=True)
            )
        return self._converters

    def parameters(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        missing = self._binds.keys() - params.keys()
        if missing:
            raise ValueError(f"no value for parameter {', '.join(sorted(missing))}")

        def value(name: str) -> Any:
            raw, convert = params[name], self._binds[name]
            return raw if raw is None or convert is None else convert(raw)

        if self._order is not None:
            return tuple(value(name) for name in self._order)
        return {name: value(name) for name in self._binds}
