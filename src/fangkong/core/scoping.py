"""Jurisdiction scoping: a user reads only the areas they are bound to and their descendants."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, exists, false, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

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
