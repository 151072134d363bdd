"""Jurisdiction scoping: a user reads only the areas they are bound to and their descendants."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Integer,
    bindparam,
    column,
    exists,
    false,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

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
        """SQL condition restricting ``column`` (an area path) to this scope."""
        if not self.paths:
            return false()
        return or_(*(column.startswith(prefix, autoescape=True) for prefix in self.paths))


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
