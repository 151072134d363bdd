"""Point-to-area lookup: an in-memory STRtree over the leaves of the jurisdiction tree."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area


@dataclass(frozen=True)
class AreaIndex:
    """Leaf areas (areas with no children) and a spatial tree over their polygons."""

    ids: NDArray[np.int64]
    paths: tuple[str, ...]
    tree: shapely.STRtree
    polygons: NDArray[np.object_]
    key: tuple[int, int, str]
    path_by_id: dict[int, str]
    code_by_id: dict[int, str]

    @classmethod
    def from_polygons(
        cls, ids: NDArray[np.int64], paths: tuple[str, ...], polygons: list[object],
        key: tuple[int, int, str], codes: tuple[str, ...],
    ) -> AreaIndex:
        """Index leaf polygons (prepared here) with their area ids, paths and codes."""
        geoms = np.empty(len(polygons), dtype=object)
        geoms[:] = polygons
        shapely.prepare(geoms)
        id_list = ids.tolist()
        return cls(ids=ids, paths=paths, tree=shapely.STRtree(geoms), polygons=geoms, key=key,
                   path_by_id=dict(zip(id_list, paths, strict=True)),
                   code_by_id=dict(zip(id_list, codes, strict=True)))

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
_cache: dict[str, AreaIndex] = {}


# The areas' version, asked on every located write (an intake among them): built once, since
# building a statement costs several times running it.
_GENERATION = select(func.count(Area.id), func.max(Area.id), func.max(Area.updated_at))


def _generation(session: Session) -> tuple[int, int, str]:
    count, max_id, last = session.execute(_GENERATION).one()
    return int(count), int(max_id or 0), str(last)


def build(session: Session) -> AreaIndex:
    """Build the index from the database (every leaf area's polygon)."""
    key = _generation(session)
    parent_ids = select(Area.parent_id).where(Area.parent_id.is_not(None))
    rows = session.execute(
        select(Area.id, Area.path, Area.code, Area.geometry_wkb).where(Area.id.not_in(parent_ids))
        .order_by(Area.id)
    ).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    polygons = list(shapely.from_wkb([r.geometry_wkb for r in rows])) if rows else []
    return AreaIndex.from_polygons(ids, tuple(r.path for r in rows), polygons, key,
                                   tuple(r.code for r in rows))


def get(session: Session) -> AreaIndex:
    """The current index for this database, rebuilt only when areas have changed."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    cache_key = engine.url.render_as_string(hide_password=True)
    key = _generation(session)
    with _lock:
        cached = _cache.get(cache_key)
        if cached is not None and cached.key == key:
            return cached
    index = build(session)
    with _lock:
        _cache[cache_key] = index
    return index
