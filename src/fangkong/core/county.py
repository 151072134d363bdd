"""The county (tenant) key: ``county_id`` on every domain table that has a place.

A county is a district-level area of the jurisdiction tree (city > district > station > beat >
grid). Its id is the second id of every area path beneath it: a record filed under
``/1/4/17/`` is county 4's; a record filed at the city (``/1/``), or nowhere, has no county.
Every table that keeps an area path (``area_path``, ``home_area_path``, the area tree's own
``path``) carries the county of that path in ``county_id``, and every table that hangs off one
of them (an incident's timeline events, a case's steps, a device's status history) carries its
parent's. PostgreSQL partitions the large tables by it and its row-level security checks it
(:mod:`fangkong.core.db_postgresql`); the services keep it in their hot queries so that the
planner prunes to one county's partitions.

The key is filled by this module alone, whatever writes the row:

- :func:`county_from_path` / :func:`county_from_parent` declare the column; its Python-side
  default computes it from the row's path or reads the parent's (an ORM flush and a Core
  ``insert()`` alike, one value per row);
- an ORM attribute event (:func:`install`) sets it whenever the path attribute is set, so an
  update of a record's place moves it; an update of a parent's county is copied to its
  children's rows at the flush;
- :class:`~fangkong.core.plain_sql.RowsInsert` computes it per row from the path among its
  columns, and refuses to be built for a child table without it (the caller knows the parent).

The five large tables (the incidents and their timelines, the audit log, a device's status
history, the ledger's movements) and an incident's assignments carry a second, never-NULL key,
``partition_county`` (:func:`partition_key`): the county, or :data:`NO_COUNTY` for the rows of
none. PostgreSQL partitions them by it (:mod:`fangkong.core.partitions`), which a key that may
be NULL cannot be. It is filled from ``county_id`` by the same paths: its column default reads
the row's ``county_id`` (given or defaulted just before it), the ORM's attribute events set it
with ``county_id``, a parent's move is copied to both, and ``RowsInsert`` computes it per row.
A row that refers to a partitioned row of another county keeps that row's key in a column of
its own (:func:`partition_reference`: a plan activation's incident), which follows the row
referred to when it moves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    Select,
    bindparam,
    column,
    event,
    select,
    table,
    update,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapper, Session, mapped_column
from sqlalchemy.orm.attributes import get_history

#: The column's name on every table.
COLUMN = "county_id"
#: The never-NULL partition key beside it on the partitioned tables (see the module).
PARTITION_COLUMN = "partition_county"
#: ``Column.info`` keys: the path column the county is read from, or the parent ``(table,
#: foreign-key column)`` whose county it copies.
FROM_PATH = "county_from_path"
FROM_PARENT = "county_from_parent"
#: ``Column.info`` key of a column holding the partition key of the row another column
#: references (:func:`partition_reference`): ``(parent table, parent column, referencing
#: column)``.
REFERENCE_OF = "partition_of_reference"
#: Among the counties a scope reaches: the rows of no county (filed at the city, or nowhere),
#: which only a reader bound above every county reads. Area ids start at 1.
NO_COUNTY = 0


def county_of(path: str | None) -> int | None:
    """The county of an area path: its second id (``/1/4/17/`` -> 4), None for a path at
    the city (``/1/``) or no path."""
    if not path:
        return None
    parts = path.split("/")
    # "/1/4/17/" splits to ["", "1", "4", "17", ""]
    if len(parts) < 4 or not parts[2]:
        return None
    try:
        return int(parts[2])
    except ValueError:
        return None


def _parameters(context: DefaultExecutionContext) -> dict[str, Any]:
    found: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return found


def _path_default(column: str) -> Any:
    def fill(context: DefaultExecutionContext) -> int | None:
        return county_of(_parameters(context).get(column))

    return fill


def _parent_default(parent: str, via: str) -> Any:
    query: Select[tuple[Any]] = (
        select(column(COLUMN))
        .select_from(table(parent))
        .where(column("id") == bindparam("parent_id"))
    )

    def fill(context: DefaultExecutionContext) -> int | None:
        parent_id = _parameters(context).get(via)
        if parent_id is None:
            return None
        found = context.root_connection.execute(query, {"parent_id": parent_id}).scalar()
        return None if found is None else int(found)

    return fill


def county_from_path(path: str = "area_path") -> Any:
    """``county_id`` of a table that keeps an area path in column ``path``."""
    install()
    return mapped_column(
        ForeignKey("area.id"),
        index=True,
        nullable=True,
        default=_path_default(path),
        info={FROM_PATH: path},
    )


def county_from_parent(parent: str, via: str) -> Any:
    """``county_id`` of a table whose rows hang off table ``parent`` through foreign key
    column ``via``: the parent's county."""
    install()
    return mapped_column(
        ForeignKey("area.id"),
        index=True,
        nullable=True,
        default=_parent_default(parent, via),
        info={FROM_PARENT: (parent, via)},
    )


def partition_of(county_id: int | None) -> int:
    """The partition key of a row of county ``county_id``: the county, or
    :data:`NO_COUNTY` for a row of none."""
    return NO_COUNTY if county_id is None else int(county_id)


def _partition_default(context: DefaultExecutionContext) -> int:
    parameters = _parameters(context)
    if COLUMN in parameters:  # given, or its default computed before this one
        return partition_of(parameters[COLUMN])
    # A statement without the county's column at all: compute it as its default would.
    found = context.current_column.table.c[COLUMN].default
    return partition_of(found.arg(context) if found is not None else None)


def partition_key() -> Any:
    """``partition_county`` (its default reads the row's county, computed before it): the
    county or :data:`NO_COUNTY`, never NULL. No foreign key: a partitioned table's key is a
    plain integer."""
    install()
    # Sorted after every other column, so after ``county_id`` wherever that is declared (a
    # mixin's columns come after the class's own): a Core insert of many rows computes the
    # defaults in the columns' order, and before its own default has run a row's
    # ``county_id`` reads as NULL.
    return mapped_column(
        Integer,
        nullable=False,
        default=_partition_default,
        info={PARTITION_COLUMN: True},
        sort_order=1,
    )


def partition_reference(parent: str, via: str, *, parent_column: str = "id") -> Any:
    """The partition key of the ``parent`` row that column ``via`` references (by
    ``parent_column``), NULL when it references none: on PostgreSQL the second column of
    the composite reference to a partitioned table, whose unique keys include the partition
    key (migration 0026). The writer sets it with ``via``; it follows the parent's move to
    another county (PostgreSQL's ``ON UPDATE CASCADE``, and :func:`install`'s flush hook on
    SQLite)."""
    install()
    return mapped_column(
        Integer, nullable=True, default=None, info={REFERENCE_OF: (parent, parent_column, via)}
    )


def has_partition_key(sa_table: Any) -> bool:
    return PARTITION_COLUMN in getattr(sa_table, "c", {})


def path_column(sa_table: Any) -> str | None:
    """The path column ``sa_table``'s county is read from (None: not from a path)."""
    found = sa_table.c.get(COLUMN)
    return None if found is None else found.info.get(FROM_PATH)


def parent_of(sa_table: Any) -> tuple[str, str] | None:
    """The ``(parent table, foreign-key column)`` ``sa_table``'s county is copied from."""
    found = sa_table.c.get(COLUMN)
    return None if found is None else found.info.get(FROM_PARENT)


#: parent table -> [(child table, foreign-key column)], filled as the mappers are configured
_CHILDREN: dict[str, list[tuple[Any, str]]] = {}
#: parent table -> [(referencing table, its partition-key column, parent column, referencing
#: column)] (:func:`partition_reference`)
_REFERENCES: dict[str, list[tuple[Any, str, str, str]]] = {}


def _on_mapper_configured(mapper: Mapper[Any], cls: type) -> None:
    local = mapper.local_table
    for found in getattr(local, "c", ()):
        reference = found.info.get(REFERENCE_OF)
        if reference is None:
            continue
        references = _REFERENCES.setdefault(reference[0], [])
        if all(table is not local or key != found.name for table, key, _, _ in references):
            references.append((local, found.name, reference[1], reference[2]))
    if local is None or COLUMN not in getattr(local, "c", {}):
        return
    path = path_column(local)
    if path is not None:
        attribute = next(
            (p.key for p in mapper.column_attrs if any(c.name == path for c in p.columns)), None
        )
        if attribute is not None:
            event.listen(getattr(cls, attribute), "set", _set_from_path, retval=False)
    if has_partition_key(local):
        event.listen(getattr(cls, COLUMN), "set", _set_partition, retval=False)
    parent = parent_of(local)
    if parent is not None:
        children = _CHILDREN.setdefault(parent[0], [])
        if all(child is not local for child, _ in children):
            children.append((local, parent[1]))


def _set_from_path(target: Any, value: str | None, _old: object, _initiator: object) -> None:
    target.county_id = county_of(value)


def _set_partition(target: Any, value: int | None, _old: object, _initiator: object) -> None:
    target.partition_county = partition_of(value)


def _copy_to_children(session: Session, _context: object) -> None:
    """After a flush: a parent whose county changed hands it to its children's rows, and
    its partition key to the rows that reference it (:func:`partition_reference`; on
    PostgreSQL the reference's ``ON UPDATE CASCADE`` has done so already)."""
    moved: list[tuple[Any, Any, int | None]] = []
    for obj in session.dirty:
        local = getattr(inspect_mapper(obj), "local_table", None)
        if local is None or (local.name not in _CHILDREN and local.name not in _REFERENCES):
            continue
        history = get_history(obj, COLUMN)
        if history.added and history.deleted:
            moved.append((local, obj, obj.county_id))
    for local, parent, county in moved:
        for child, via in _CHILDREN.get(local.name, ()):
            values: dict[str, int | None] = {COLUMN: county}
            if has_partition_key(child):
                values[PARTITION_COLUMN] = partition_of(county)
            session.execute(update(child).where(child.c[via] == parent.id).values(values))
        for table_, key, parent_column, via in _REFERENCES.get(local.name, ()):
            session.execute(
                update(table_)
                .where(table_.c[via] == getattr(parent, parent_column))
                .values({key: partition_of(county)})
            )


def inspect_mapper(obj: Any) -> Mapper[Any] | None:
    state = getattr(obj, "_sa_instance_state", None)
    return None if state is None else state.mapper


_installed = False


def install() -> None:
    """Listen to the mappers and the sessions (once per process; core's models call it)."""
    global _installed
    if _installed:
        return
    _installed = True
    event.listen(Mapper, "mapper_configured", _on_mapper_configured)
    event.listen(Session, "after_flush", _copy_to_children)
