"""Point-to-area lookup: an in-memory STRtree over the leaves of the jurisdiction tree."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, Pool

from fangkong.areas.models import AREA_VERSION_ROW, Area, AreaVersion
from fangkong.core.scoping import as_system


@dataclass(frozen=True)
class AreaIndex:
    """Leaf areas (areas with no children) and a spatial tree over their polygons."""

    ids: NDArray[np.int64]
    paths: tuple[str, ...]
    tree: shapely.STRtree
    polygons: NDArray[np.object_]
    #: The areas' version it was built from (``AreaVersion``).
    key: int
    path_by_id: dict[int, str]
    code_by_id: dict[int, str]

    @classmethod
    def from_polygons(
        cls,
        ids: NDArray[np.int64],
        paths: tuple[str, ...],
        polygons: list[object],
        key: int,
        codes: tuple[str, ...],
    ) -> AreaIndex:
        """Index leaf polygons (prepared here) with their area ids, paths and codes."""
        geoms = np.empty(len(polygons), dtype=object)
        geoms[:] = polygons
        shapely.prepare(geoms)
        id_list = ids.tolist()
        return cls(
            ids=ids,
            paths=paths,
            tree=shapely.STRtree(geoms),
            polygons=geoms,
            key=key,
            path_by_id=dict(zip(id_list, paths, strict=True)),
            code_by_id=dict(zip(id_list, codes, strict=True)),
        )

    def locate(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.int64]:
        """Id of the leaf area holding each point, or -1 where none does.

        Vectorised: one STRtree query for all points, then one ``covers`` test per candidate,
        so a batch of n points costs O(n log m) for m leaves. A point on a shared edge goes to
        the area with the lowest position in the index, so the answer is deterministic.
        """
        x = np.asarray(lons, dtype=np.float64).ravel()
        y = np.asarray(lats, dtype=np.float64).ravel()
        result = np.full(x.shape[0], -1, dtype=np.int64)
        if x.size == 0 or self.ids.size == 0:
            return result
        points = shapely.points(x, y)
        # Bounding boxes from the tree, then the exact test on the prepared polygons: faster
        # than a predicate inside the query, which does not use the preparation.
        point_idx, leaf_idx = self.tree.query(points)
        hit = shapely.covers(self.polygons[leaf_idx], points[point_idx])
        point_idx, leaf_idx = point_idx[hit], leaf_idx[hit]
        order = np.lexsort((leaf_idx, point_idx))
        points_sorted, leaves_sorted = point_idx[order], leaf_idx[order]
        first = np.ones(points_sorted.size, dtype=bool)
        first[1:] = points_sorted[1:] != points_sorted[:-1]
        result[points_sorted[first]] = self.ids[leaves_sorted[first]]
        return result

    def path_of(self, area_id: int) -> str | None:
        return self.path_by_id.get(area_id)

    def code_of(self, area_id: int) -> str | None:
        return self.code_by_id.get(area_id)


_lock = threading.Lock()


@dataclass(frozen=True)
class _Cached:
    index: AreaIndex
    checked_at: float  # time.monotonic() of the last look at the areas' version
    local: int  # the count of this process's area writes then


_cache: dict[str, _Cached] = {}
#: How long an index, once checked against the areas' version, is used without asking again
#: (s). A change made by another process is seen within it; one made in this process at once.
RECHECK_S = 1.0
# Bumped by each flush of area changes in this process and when such a transaction ends
# (committed or rolled back): the next lookup then asks for the version again.
_local_writes = 0
_AREAS_WRITTEN = "fangkong.areas_written"


def _bump() -> None:
    global _local_writes
    with _lock:
        _local_writes += 1


@event.listens_for(Session, "after_flush")
def _note_area_writes(session: Session, _context: object) -> None:
    if any(isinstance(obj, Area) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.connection().info[_AREAS_WRITTEN] = True
        _bump()


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_ended(conn: Connection) -> None:
    # A connection its server dropped keeps no info to read (reading it would reconnect, which
    # is refused before this very rollback ends): whatever it wrote is gone, so ask again.
    if conn.invalidated or conn.info.pop(_AREAS_WRITTEN, False):
        _bump()


@event.listens_for(Engine, "rollback_savepoint")
def _savepoint_undone(conn: Connection, _name: str, _context: object) -> None:
    if conn.invalidated or conn.info.get(_AREAS_WRITTEN):
        _bump()


@event.listens_for(Pool, "reset")
def _connection_reset(_dbapi: object, record: ConnectionPoolEntry, _state: object) -> None:
    # A connection given back without commit or rollback is rolled back by its pool.
    if record.info.pop(_AREAS_WRITTEN, False):
        _bump()


# The areas' version, asked at most once a second per database (and after each area write of
# this process): one row, which the database's triggers raise at each write of an area. (It
# was a count and maxima over every area: under row-level security at 100 counties 25-40 ms,
# paid by whichever request came a second after the last ask: issue 23's load-test tails.)
_VERSION = select(AreaVersion.version).where(AreaVersion.id == AREA_VERSION_ROW)


def _generation(session: Session) -> int:
    return int(session.execute(_VERSION).scalar() or 0)


def build(session: Session) -> AreaIndex:
    """Build the index from the database (every leaf area's polygon)."""
    key = _generation(session)
    parent_ids = select(Area.parent_id).where(Area.parent_id.is_not(None))
    rows = session.execute(
        select(Area.id, Area.path, Area.code, Area.geometry_wkb)
        .where(Area.id.not_in(parent_ids))
        .order_by(Area.id)
    ).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    polygons = list(shapely.from_wkb([r.geometry_wkb for r in rows])) if rows else []
    return AreaIndex.from_polygons(
        ids, tuple(r.path for r in rows), polygons, key, tuple(r.code for r in rows)
    )


def get(session: Session) -> AreaIndex:
    """The current index for this database, rebuilt only when areas have changed."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    cache_key = engine.url.render_as_string(hide_password=True)
    now = time.monotonic()
    with _lock:
        cached = _cache.get(cache_key)
        local = _local_writes
    if cached is not None and cached.local == local and now - cached.checked_at < RECHECK_S:
        return cached.index
    # Every area, whoever asks: the index is shared by every request of this process.
    with as_system(session):
        key = _generation(session)
        index = cached.index if cached is not None and cached.index.key == key else build(session)
    with _lock:
        _cache[cache_key] = _Cached(index=index, checked_at=now, local=local)
    return index
