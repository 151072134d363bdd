"""Regrouping a station's grids into new beat areas (巡区), with every area path that moves.

:func:`regroup_beats` replaces the beat areas of one station by new ones built from its grids
(an adopted beats analysis of planning calls it). The tree is ``city > district > station >
beat > grid`` with materialised paths (``/1/4/17/``), and many tables keep a copy of the path
of the area a record lies in, so scoping needs no join. Moving a grid under another beat
changes its path, and so every copy of it.

Rules, all in one transaction (a savepoint: a refusal leaves nothing changed):

- **The grouping.** Every grid of the station in exactly one new beat, no other grid, no
  empty beat, distinct codes; refused naming the grid or the beat otherwise. A new beat's
  geometry is the union of its grids. A code that is already one of the station's beats keeps
  that area (its id and path), with the new names and geometry; a code used anywhere else is
  refused.
- **Denormalised paths.** *A table that keeps an area's path names that column ``area_path``*
  (or ``<something>_area_path``, as ``unit.home_area_path``): the columns are found from the
  database itself (SQLAlchemy's inspector over the connection), so this package imports no
  other domain and a new table is covered without a change here. Each value that starts with
  a moved grid's old path gets the new path in its place (the grid's descendants and the
  records in them included). The audit log is the exception: it is append-only (its trigger
  and its hash chain) and keeps the path an event had when it was recorded — history is not
  rewritten; the station's readers still see those events.
- **Users bound to an old beat.** Refused, naming the beat: moving a user's binding up to the
  station would widen what they read. Bind them elsewhere first, or keep the beat's code.
- **Records on an old beat.** A beat area that is not kept is deleted (the tree has no
  retired state: areas are deleted, their references say what happens). What sat directly on
  it moves up to the station: its ``area_path`` becomes the station's, and each reference to
  it (a foreign key to ``area.id``) declared ``RESTRICT`` or ``SET NULL`` — a record that lies
  in the area — is pointed at the station. References declared ``CASCADE`` are the area's own
  rows (figures computed for that area) and go with it, as deleting any area does. Moving up
  loses no record and no reader: whoever read the old beat read its station's subtree only
  through the station or the beat, and the station still holds it.
- **The check.** The grid-fusion check of the station must pass afterwards, else nothing is
  changed.
- **Row-level security.** On PostgreSQL the rewrite runs as the system (every row, whatever
  the caller's scope): the caller's right to do it is checked before (the station in scope).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import MultiPolygon
from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong.areas.geometry import area_m2
from fangkong.areas.models import Area, AreaLevel
from fangkong.areas.service import fusion_check, geometry, get_by_code, get_by_code_or_raise
from fangkong.core import audit, partitions
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput
from fangkong.core.models import UserArea
from fangkong.core.scoping import Scope, as_system

_PATH = re.compile(r"/(?:[0-9]+/)+")

#: Tables whose path copies are never rewritten (append-only history).
UNREWRITTEN_TABLES = frozenset({"audit_event", "area"})


@dataclass(frozen=True)
class BeatSpec:
    """One new beat: its code, names and the codes of its grids."""

    code: str
    name_zh: str
    name_en: str
    grid_codes: tuple[str, ...]


@dataclass
class RegroupReport:
    """What a regrouping changed."""

    station: str
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved_grids: int = 0
    #: rows whose path copy was rewritten, per ``table.column``
    rewritten: dict[str, int] = field(default_factory=dict)
    #: rows that sat on a removed beat and now sit on the station, per ``table.column``
    moved_up: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "station": self.station,
            "created": self.created,
            "kept": self.kept,
            "removed": self.removed,
            "moved_grids": self.moved_grids,
            "rewritten": self.rewritten,
            "rewritten_rows": sum(self.rewritten.values()),
            "moved_up": self.moved_up,
            "moved_up_rows": sum(self.moved_up.values()),
        }


def path_columns(conn: Connection) -> list[tuple[str, str]]:
    """Every ``(table, column)`` of the database that keeps a copy of an area's path."""
    inspector = inspect(conn)
    found: list[tuple[str, str]] = []
    for table in sorted(inspector.get_table_names()):
        # a partition (PostgreSQL) is rewritten through its parent
        if table in UNREWRITTEN_TABLES or partitions.is_partition(table):
            continue
        for column in inspector.get_columns(table):
            name = str(column["name"])
            if name == "area_path" or name.endswith("_area_path"):
                found.append((table, name))
    return found


def area_references(conn: Connection) -> list[tuple[str, str, str]]:
    """Every ``(table, column, ondelete)`` referring to ``area.id`` (the tree's own parent
    column left out)."""
    inspector = inspect(conn)
    found: list[tuple[str, str, str]] = []
    for table in sorted(inspector.get_table_names()):
        # a partition (PostgreSQL) is rewritten through its parent
        if table in UNREWRITTEN_TABLES or partitions.is_partition(table):
            continue
        for fk in inspector.get_foreign_keys(table):
            if fk.get("referred_table") != "area" or fk.get("referred_columns") != ["id"]:
                continue
            ondelete = str((fk.get("options") or {}).get("ondelete") or "NO ACTION").upper()
            for column in fk["constrained_columns"]:
                found.append((table, str(column), ondelete))
    return found


def _validate(
    session: Session, station: Area, beats: list[BeatSpec]
) -> tuple[dict[str, Area], dict[str, Area]]:
    """The station's grids and beats by code, after checking the grouping."""
    below = list(
        session.scalars(
            select(Area).where(
                Area.path.startswith(station.path, autoescape=True),
                Area.level.in_([AreaLevel.BEAT, AreaLevel.GRID]),
            )
        )
    )
    grids = {a.code: a for a in below if a.level is AreaLevel.GRID}
    old_beats = {a.code: a for a in below if a.level is AreaLevel.BEAT}
    if not beats:
        raise InvalidInput(
            key="error.areas.regroup_no_beats", params={"code": station.code}, field="beats"
        )
    seen_codes: set[str] = set()
    owner: dict[str, str] = {}
    for beat in beats:
        if beat.code in seen_codes:
            raise InvalidInput(
                key="error.areas.regroup_code_twice", params={"code": beat.code}, field="beats"
            )
        seen_codes.add(beat.code)
        if beat.code not in old_beats and get_by_code(session, code=beat.code) is not None:
            raise Conflict(key="error.areas.area_exists", params={"code": beat.code}, field="beats")
        if not beat.grid_codes:
            raise InvalidInput(
                key="error.areas.regroup_beat_empty", params={"code": beat.code}, field="beats"
            )
        for grid in beat.grid_codes:
            if grid not in grids:
                raise InvalidInput(
                    key="error.areas.regroup_grid_foreign",
                    params={"grid": grid, "code": station.code},
                    field="beats",
                )
            if grid in owner:
                raise InvalidInput(
                    key="error.areas.regroup_grid_twice",
                    params={"grid": grid, "first": owner[grid], "second": beat.code},
                    field="beats",
                )
            owner[grid] = beat.code
    missing = sorted(set(grids) - set(owner))
    if missing:
        raise InvalidInput(
            key="error.areas.regroup_grid_missing",
            params={"grids": ", ".join(missing), "code": station.code},
            field="beats",
        )
    # a user bound to a beat that goes would be bound to the station: more than they read today
    for code, beat_area in sorted(old_beats.items()):
        if code in seen_codes:
            continue
        users = session.scalar(
            select(func.count()).select_from(UserArea).where(UserArea.area_id == beat_area.id)
        )
        if users:
            raise Conflict(
                key="error.areas.regroup_users_bound",
                params={"code": code, "count": int(users)},
                field="beats",
            )
    return grids, old_beats


def _set_geometry(area: Area, geom: MultiPolygon) -> None:
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    area.geometry_wkb = shapely.to_wkb(geom)
    area.min_lon, area.min_lat, area.max_lon, area.max_lat = min_lon, min_lat, max_lon, max_lat
    area.area_m2 = area_m2(geom)


def _as_multi(geom: shapely.Geometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    polygons = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type == "Polygon"]
    return MultiPolygon(polygons)


def _rewrite_prefix(conn: Connection, table: str, column: str, old: str, new: str) -> int:
    # table and column names come from the database's own catalogue, values are bound; a path
    # is digits and slashes, so a LIKE prefix needs no escape and uses the column's index
    if not _PATH.fullmatch(old):
        raise ValueError(f"not an area path: {old!r}")
    quote = conn.dialect.identifier_preparer.quote
    t, c = quote(table), quote(column)
    result = conn.execute(
        text(f"UPDATE {t} SET {c} = :new || substr({c}, :start) WHERE {c} LIKE :prefix"),
        {"new": new, "prefix": old + "%", "start": len(old) + 1},
    )
    return int(result.rowcount or 0)


def _set_where(conn: Connection, table: str, column: str, old: object, new: object) -> int:
    quote = conn.dialect.identifier_preparer.quote
    t, c = quote(table), quote(column)
    result = conn.execute(
        text(f"UPDATE {t} SET {c} = :new WHERE {c} = :old"),
        {"new": new, "old": old},
    )
    return int(result.rowcount or 0)


def regroup_beats(
    session: Session,
    *,
    station_code: str,
    beats: list[BeatSpec],
    actor: Actor,
    scope: Scope | None = None,
) -> RegroupReport:
    """Replace the beat areas of station ``station_code`` by ``beats`` (see the module's
    rules); ``scope``, when given, must hold the station. Returns what changed."""
    # ``scope`` is the caller's right; the database's own scope is the system's throughout,
    # so that the rewrite sees every row (row-level security on PostgreSQL)
    with as_system(session):
        station = get_by_code_or_raise(session, code=station_code, scope=scope)
        if station.level is not AreaLevel.STATION:
            raise InvalidInput(
                key="error.areas.regroup_not_station",
                params={"code": station.code, "level": station.level.value},
                field="station_code",
            )
        report = RegroupReport(station=station.code)
        try:
            with session.begin_nested():
                _regroup(session, station, beats, actor, report)
        except IntegrityError as exc:
            raise Conflict(
                key="error.areas.regroup_integrity",
                params={"code": station.code, "reason": str(exc.orig).splitlines()[0]},
                field="beats",
            ) from None
    return report


def _regroup(
    session: Session, station: Area, beats: list[BeatSpec], actor: Actor, report: RegroupReport
) -> None:
    grids, old_beats = _validate(session, station, beats)
    conn = session.connection()
    columns = path_columns(conn)
    # the beats: kept (same code) or created, each the union of its grids
    new_beats: dict[str, Area] = {}
    for beat in beats:
        geom = _as_multi(shapely.union_all([geometry(grids[g]) for g in beat.grid_codes]))
        area = old_beats.get(beat.code)
        if area is None:
            area = Area(
                code=beat.code,
                name_zh=beat.name_zh,
                name_en=beat.name_en or beat.name_zh,
                level=AreaLevel.BEAT,
                parent_id=station.id,
                source="beats",
            )
            _set_geometry(area, geom)
            session.add(area)
            session.flush()
            area.path = f"{station.path}{area.id}/"
            report.created.append(beat.code)
        else:
            area.name_zh = beat.name_zh
            area.name_en = beat.name_en or beat.name_zh
            _set_geometry(area, geom)
            report.kept.append(beat.code)
        new_beats[beat.code] = area
    session.flush()
    # the grids that change beat, their descendants and every copy of their paths
    moves: list[tuple[str, str]] = []
    for beat in beats:
        parent = new_beats[beat.code]
        for code in beat.grid_codes:
            grid = grids[code]
            if grid.parent_id == parent.id:
                continue
            old_path, new_path = grid.path, f"{parent.path}{grid.id}/"
            grid.parent_id = parent.id
            moves.append((old_path, new_path))
    session.flush()
    for old_path, new_path in moves:
        for row in session.scalars(
            select(Area).where(Area.path.startswith(old_path, autoescape=True))
        ):
            row.path = new_path + row.path[len(old_path) :]
    session.flush()
    counts: dict[str, int] = defaultdict(int)
    for old_path, new_path in moves:
        for table, column in columns:
            counts[f"{table}.{column}"] += _rewrite_prefix(conn, table, column, old_path, new_path)
    report.moved_grids = len(moves)
    report.rewritten = {k: v for k, v in sorted(counts.items()) if v}
    # the old beats no longer used: what sat on them moves up to the station, then they go
    kept_ids = {a.id for a in new_beats.values()}
    removed = [a for code, a in sorted(old_beats.items()) if a.id not in kept_ids]
    up: dict[str, int] = defaultdict(int)
    references = area_references(conn)
    for beat_area in removed:
        for table, column in columns:
            up[f"{table}.{column}"] += _set_where(conn, table, column, beat_area.path, station.path)
        for table, column, ondelete in references:
            if ondelete != "CASCADE":
                up[f"{table}.{column}"] += _set_where(conn, table, column, beat_area.id, station.id)
    for beat_area in removed:
        session.delete(beat_area)
        report.removed.append(beat_area.code)
    session.flush()
    session.expire_all()  # the rows rewritten in SQL are read again
    report.moved_up = {k: v for k, v in sorted(up.items()) if v}
    faults = fusion_check(session, scope=Scope(paths=(station.path,))).violations
    if faults:
        raise Conflict(
            key="error.areas.regroup_fusion",
            params={
                "code": station.code,
                "count": len(faults),
                "first": f"{faults[0].kind} {' '.join(faults[0].codes)}",
            },
            field="beats",
        )
    audit.record(
        session,
        actor=actor,
        action="regroup_beats",
        entity="area",
        entity_id=station.id,
        detail=report.as_dict(),
        area_path=station.path,
    )
