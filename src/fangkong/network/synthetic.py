"""Synthetic road networks for tests and benchmarks, reproducible from a seed.

:func:`grid_city` lays out a perturbed grid of ~100 m blocks around lon 120°, lat 30° with a
road hierarchy (local streets, collectors, arterials), random one-way local streets and some
missing blocks, then keeps the largest strongly connected component so that every node can
reach every other one. It stands in for a real city where only the size matters (the benchmark's
1M-node network); it is not a model of any real place.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fangkong.network.graph import RoadGraph, from_edges, haversine_m

__all__ = [
    "ARTERIAL_EVERY",
    "BLOCK_M",
    "COLLECTOR_EVERY",
    "GRID_CLASS_ARTERIAL",
    "GRID_CLASS_COLLECTOR",
    "GRID_CLASS_LOCAL",
    "GRID_SPEED_KMH",
    "grid_city",
]

#: Block side in metres (node spacing before jitter).
BLOCK_M = 100.0
#: Every ``COLLECTOR_EVERY``-th row and column is a collector, every ``ARTERIAL_EVERY``-th an
#: arterial (an arterial line wins over a collector line).
COLLECTOR_EVERY = 5
ARTERIAL_EVERY = 20
#: ``road_class`` codes used by :func:`grid_city` (local to this generator).
GRID_CLASS_LOCAL = 0
GRID_CLASS_COLLECTOR = 1
GRID_CLASS_ARTERIAL = 2
#: Free-flow speed per class in km/h: a patrol car in town.
GRID_SPEED_KMH = (30.0, 45.0, 65.0)

_LON0, _LAT0 = 120.0, 30.0
_JITTER = 0.15  # node jitter as a fraction of a block, so that streets are not perfectly straight
_ONEWAY_SHARE = 0.15  # local street segments made one-way, direction at random
_REMOVED_SHARE = 0.06  # local street segments missing (parks, rivers, dead ends)
_METRES_PER_DEG_LAT = math.pi * 6_371_008.8 / 180.0


def grid_city(n_nodes: int, *, seed: int = 0) -> RoadGraph:
    """A road-like, strongly connected synthetic network of about ``n_nodes`` nodes.

    Construction, all vectorised:

    1. a ``side × side`` grid with ``side = ceil(sqrt(n_nodes))``, nodes ``BLOCK_M`` (100 m) apart
       around lon 120°, lat 30°, each moved by a uniform jitter of up to ±15 % of a block;
    2. every grid segment between neighbours is a street; its class is arterial when it lies on
       a row/column that is a multiple of :data:`ARTERIAL_EVERY`, collector on a multiple of
       :data:`COLLECTOR_EVERY`, local otherwise; speeds are :data:`GRID_SPEED_KMH`;
    3. 6 % of local segments are removed and 15 % of the remaining local segments are one-way
       (direction drawn at random); arterials and collectors stay two-way and complete;
    4. a two-way segment becomes two directed edges (tail→head and head→tail, straight shapes);
       length is the great-circle distance between the ends and ``time_s = length / speed``;
    5. the largest strongly connected component is kept (one-way streets and removals can cut
       off a few nodes), so the result usually has slightly fewer than ``side²`` nodes.

    Parameters
    ----------
    n_nodes : int
        Approximate number of nodes wanted (>= 4).
    seed : int, optional
        Seed of the random generator; the same seed gives the same graph.

    Returns
    -------
    RoadGraph
        ``road_class`` holds :data:`GRID_CLASS_LOCAL`, ``_COLLECTOR`` or ``_ARTERIAL``;
        ``meta`` records the generator, size and seed.

    Notes
    -----
    Time O(n log n) (the sort in :func:`~fangkong.network.graph.from_edges`), memory O(n);
    about 2 s and 0.5 GB for a million nodes.
    """
    if n_nodes < 4:
        raise ValueError(f"n_nodes must be >= 4, got {n_nodes}")
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n_nodes))
    rows, cols = np.divmod(np.arange(side * side, dtype=np.int64), side)
    dlat = BLOCK_M / _METRES_PER_DEG_LAT
    dlon = dlat / math.cos(math.radians(_LAT0))
    jitter = rng.uniform(-_JITTER, _JITTER, size=(2, side * side))
    lon = _LON0 + (cols - side / 2 + jitter[0]) * dlon
    lat = _LAT0 + (rows - side / 2 + jitter[1]) * dlat

    # Segments: horizontal (r, c)-(r, c+1) lie on row r; vertical (r, c)-(r+1, c) on column c.
    node = np.arange(side * side, dtype=np.int64).reshape(side, side)
    h_a, h_b = node[:, :-1].ravel(), node[:, 1:].ravel()
    v_a, v_b = node[:-1, :].ravel(), node[1:, :].ravel()
    h_line = np.repeat(np.arange(side), side - 1)
    v_line = np.tile(np.arange(side), side - 1)
    a = np.concatenate([h_a, v_a])
    b = np.concatenate([h_b, v_b])
    line = np.concatenate([h_line, v_line])
    cls = np.full(a.shape[0], GRID_CLASS_LOCAL, dtype=np.int8)
    cls[line % COLLECTOR_EVERY == 0] = GRID_CLASS_COLLECTOR
    cls[line % ARTERIAL_EVERY == 0] = GRID_CLASS_ARTERIAL

    local = cls == GRID_CLASS_LOCAL
    keep = ~(local & (rng.random(a.shape[0]) < _REMOVED_SHARE))
    a, b, cls, local = a[keep], b[keep], cls[keep], local[keep]
    oneway = local & (rng.random(a.shape[0]) < _ONEWAY_SHARE)
    flip = oneway & (rng.random(a.shape[0]) < 0.5)
    a, b = np.where(flip, b, a), np.where(flip, a, b)

    twoway = ~oneway
    tails = np.concatenate([a, b[twoway]])
    heads = np.concatenate([b, a[twoway]])
    road_class = np.concatenate([cls, cls[twoway]])

    # Largest strongly connected component, then renumber its nodes 0..k-1 in grid order.
    n = side * side
    adj = coo_matrix((np.ones(tails.shape[0], dtype=np.int8), (tails, heads)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    biggest = np.argmax(np.bincount(labels))
    inside = labels == biggest
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[inside] = np.arange(int(inside.sum()))
    kept = inside[tails] & inside[heads]
    tails, heads, road_class = new_id[tails[kept]], new_id[heads[kept]], road_class[kept]
    lon, lat = lon[inside], lat[inside]

    length = haversine_m(lon[tails], lat[tails], lon[heads], lat[heads])
    speed_ms = np.asarray(GRID_SPEED_KMH)[road_class] / 3.6
    return from_edges(
        lon,
        lat,
        tails,
        heads,
        length / speed_ms,
        length_m=length,
        road_class=road_class,
        meta={"source": "grid_city", "n_nodes_requested": str(n_nodes), "seed": str(seed)},
    )
