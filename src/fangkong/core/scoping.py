"""Jurisdiction scoping: a user reads only the areas they are bound to and their descendants.

On PostgreSQL a scope inside counties also names their county keys beside the paths
(:func:`Scope.clause`): row-level security keeps a path's ``LIKE`` from choosing an index (it
is not leakproof), while the county's equality may, so a county's read touches that county's
rows alone, however many counties the database holds. SQLite, one county's file, gets the
paths alone: there the key selects every row and would only mislead its planner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    Table,
    and_,
    bindparam,
    column,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from fangkong.core import county
from fangkong.core.models import AREA_NODE, User, UserArea


@dataclass(frozen=True)
class Scope:
    """The materialised paths a user may read; an area is in scope when its path extends one."""

    paths: tuple[str, ...]

    def covers(self, path: str | None) -> bool:
        return path is not None and any(path.startswith(prefix) for prefix in self.paths)

    def clause(
        self,
        column: InstrumentedAttribute[str]
        | InstrumentedAttribute[str | None]
        | ColumnElement[str]
        | ColumnElement[str | None],
    ) -> ColumnElement[bool]:
        """SQL condition restricting ``column`` (an area path) to this scope; on PostgreSQL,
        where the scope lies inside counties and ``column``'s table keeps the county of that
        path, its county key too (the same rows: the key is the path's county), and on a
        partitioned table its partition key (:mod:`fangkong.core.partitions`), so that the
        planner reads those counties' partitions alone."""
        if not self.paths:
            return false()
        by_path = or_(*(column.startswith(prefix, autoescape=True) for prefix in self.paths))
        key = _county_key(column)
        if key is None or self.counties is None:
            return by_path
        keys = key.in_(self.counties)
        partition = key.table.c.get(county.PARTITION_COLUMN)
        if partition is not None:  # a partitioned table: its partition key prunes
            keys = and_(partition.in_(self.counties), keys)
        return and_(on_postgresql(keys), by_path)

    @cached_property
    def counties(self) -> tuple[int, ...] | None:
        """The counties every path of the scope lies in; None when one lies above them."""
        found: set[int] = set()
        for path in self.paths:
            key = county.county_of(path)
            if key is None:
                return None
            found.add(key)
        return tuple(sorted(found))


def _county_key(column: Any) -> Any:
    """The county key beside the path ``column`` in its table (or alias of it), when that
    key is the county of that very column; else None."""
    expression = getattr(column, "expression", column)
    name, selectable = getattr(expression, "name", None), getattr(expression, "table", None)
    if name is None or selectable is None:
        return None
    base = selectable
    while not isinstance(base, Table) and hasattr(base, "element"):
        base = base.element
    if not isinstance(base, Table) or county.path_column(base) != name:
        return None
    return selectable.c[county.COLUMN]


def in_partitions(column: Any, counties: Iterable[int] | None) -> ColumnElement[bool]:
    """On PostgreSQL, ``column`` (a partition key, :mod:`fangkong.core.partitions`) among
    ``counties`` (None: every one, no condition); true elsewhere. For the reads of a
    partitioned table whose counties the caller knows (a parent's county, a scope's)."""
    if counties is None:
        return true()
    return on_postgresql(column.in_(sorted(set(counties))))


def in_partition(column: Any, county_id: int | None) -> ColumnElement[bool]:
    """On PostgreSQL, ``column`` (a partition key) is the partition of county ``county_id``
    (the rows of a parent of that county); true elsewhere."""
    return on_postgresql(column == county.partition_of(county_id))


def in_partition_of(column: Any, county_column: Any) -> ColumnElement[bool]:
    """On PostgreSQL, ``column`` (a partition key) is the partition of the county in
    ``county_column`` (a parent's ``county_id``, NULL for none); true elsewhere. For a
    relationship's join, whose parent side becomes the loaded parent's value."""
    return on_postgresql(column == func.coalesce(county_column, county.NO_COUNTY))


class on_postgresql(FunctionElement[bool]):  # noqa: N801 - reads as SQL
    """``clause`` on PostgreSQL, true elsewhere (a condition that only helps its planner)."""

    type = Boolean()
    inherit_cache = True
    name = "on_postgresql"


@compiles(on_postgresql)
def _elsewhere(element: on_postgresql, compiler: SQLCompiler, **kw: Any) -> str:
    return "1"


@compiles(on_postgresql, "postgresql")
def _on_postgresql(element: on_postgresql, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


_BOUND_PATHS = (
    select(AREA_NODE.c.path)
    .join(UserArea, UserArea.area_id == AREA_NODE.c.id)
    .where(UserArea.user_id == bindparam("user_id"))
)


def scope_for(session: Session, user: User) -> Scope:
    """Build the scope of ``user`` from the areas bound to them."""
    # One query (not the links, then their areas), built once and run as plain SQL: this
    # runs before every API request.
    return scope_of(session.connection().execute(_BOUND_PATHS, {"user_id": user.id}).scalars())


def scope_of(paths: Iterable[str]) -> Scope:
    """The scope of the areas with these materialised ``paths``."""
    # Drop paths nested in another bound path: fewer OR terms, same meaning.
    kept: list[str] = []
    for path in sorted(paths):
        if not any(path.startswith(prefix) for prefix in kept):
            kept.append(path)
    return Scope(paths=tuple(kept))


#: The scope of the system (jobs, the command line): every path extends it.
SYSTEM_SCOPE = Scope(paths=("/",))


def whole_tree(session: Session, scope: Scope) -> bool:
    """Whether ``scope`` covers every area of the tree (what only a reader bound to every
    root, or the system, may see: events of no area)."""
    if "/" in scope.paths:
        return True
    if not scope.paths:
        return False
    outside = exists().where(not_(scope.clause(AREA_NODE.c.path)))
    with as_system(session):  # every area, whatever the database's own scope
        return not session.execute(select(outside)).scalar()


def common_path(paths: Iterable[str]) -> str | None:
    """The deepest area path that every one of ``paths`` extends (their common ancestor's),
    None when they share no root or there are none: where an event about a user bound to
    these areas belongs."""
    common: list[str] | None = None
    for path in paths:
        parts = [p for p in path.split("/") if p]
        if common is None:
            common = parts
            continue
        size = 0
        while size < min(len(common), len(parts)) and common[size] == parts[size]:
            size += 1
        common = common[:size]
    if not common:
        return None
    return "/" + "/".join(common) + "/"


_AREA_PARENT = table("area", column("id", Integer), column("parent_id", Integer))


def counties_of(session: Session, scope: Scope) -> tuple[int, ...]:
    """The counties (district-level areas' ids, :mod:`fangkong.core.county`) that ``scope``
    reaches, sorted: a path inside a county reaches that county alone; a city's path every
    county under the city, and the rows filed at no county (:data:`county.NO_COUNTY`)."""
    found: set[int] = set()
    cities: list[int] = []
    for path in scope.paths:
        key = county.county_of(path)
        if key is not None:
            found.add(key)
            continue
        ids = [part for part in path.split("/") if part]
        if ids and ids[0].isdigit():
            cities.append(int(ids[0]))
    if cities:
        found.add(county.NO_COUNTY)
        with as_system(session):
            found.update(
                session.execute(
                    select(_AREA_PARENT.c.id).where(_AREA_PARENT.c.parent_id.in_(cities))
                ).scalars()
            )
    return tuple(sorted(found))


def bind_scope(session: Session, scope: Scope, *, reader_id: int | None) -> None:
    """Narrow the database's own scope (PostgreSQL's row-level security, the second wall) to
    ``scope`` and the counties it reaches (:func:`counties_of`) for the rest of
    ``session``'s transaction; a reader of the whole tree gets the system's. Nothing on
    SQLite."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return
    from fangkong.core import db_postgresql

    if whole_tree(session, scope):
        db_postgresql.set_scope(conn, paths=SYSTEM_SCOPE.paths, counties=None, reader_id=reader_id)
        return
    db_postgresql.set_scope(
        conn, paths=scope.paths, counties=counties_of(session, scope), reader_id=reader_id
    )


@contextmanager
def as_system(session: Session) -> Iterator[None]:
    """Read as the system inside a request whose scope is narrowed: for what is shared by
    every user (the point-to-area index over every area), never for what a user is shown."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        yield
        return
    from fangkong.core import db_postgresql

    before = db_postgresql.current_scope(conn)
    if db_postgresql.is_system(before):
        yield
        return
    db_postgresql.restore_scope(conn, (db_postgresql.SYSTEM_PATHS, db_postgresql.SYSTEM_COUNTIES))
    try:
        yield
    finally:
        db_postgresql.restore_scope(conn, before)
