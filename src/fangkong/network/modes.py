"""Travel on foot: the road graph as an officer on foot uses it.

The imported graph times driving (speeds by road class, one-way streets, the emergency factor of
the profile). A foot patrol (步巡) follows the same roads at walking pace and may walk either way
along a one-way street, so :func:`walking_graph` derives its graph from the driving one:

- every edge keeps its id's road, shape and length, and takes ``length_m / speed_ms`` seconds;
- every one-way edge gets a reversed copy (shape reversed), which the engine pairs with it as
  its twin, so a point on it is reachable from both ends;
- nothing else changes: roads closed to pedestrians (motorways) are not told apart, and paths,
  squares and stairs that are not in the drivable network are not walked.

Points snapped on the driving graph carry over: ``edge_of[e]`` is the walking graph's edge for
driving edge ``e`` (same direction), at the same fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fangkong.core.errors import InvalidInput
from fangkong.network.engine import EdgePoints
from fangkong.network.graph import RoadGraph

__all__ = ["WALKING_SPEED_MS", "ModeGraph", "walking_graph"]

IntArray = NDArray[np.int64]

#: Walking pace of an officer going to an incident, m/s (5.4 km/h: a brisk walk, well below a
#: run an officer cannot keep up for kilometres).
WALKING_SPEED_MS = 1.5


@dataclass(frozen=True, eq=False)
class ModeGraph:
    """A travel mode's graph and where the driving graph's edges went in it."""

    graph: RoadGraph
    edge_of: IntArray  # edge_of[e]: this graph's edge for driving edge e, same direction

    def points(self, points: EdgePoints) -> EdgePoints:
        """Points snapped on the driving graph, on this graph (edge -1 stays -1)."""
        edge = np.where(points.edge >= 0, self.edge_of[np.maximum(points.edge, 0)], -1)
        return EdgePoints(edge, points.fraction)


def walking_graph(
    graph: RoadGraph, twin: IntArray, speed_ms: float = WALKING_SPEED_MS
) -> ModeGraph:
    """The graph of ``graph``'s roads walked at ``speed_ms`` in either direction.

    Parameters
    ----------
    graph : RoadGraph
        The driving graph.
    twin : array of int64, shape (m,)
        Each edge's other direction, -1 for a one-way edge
        (:func:`fangkong.network.engine.edge_twins`).
    speed_ms : float
        Walking speed in metres per second (> 0).
    """
    if not speed_ms > 0 or not np.isfinite(speed_ms):
        raise InvalidInput(
            key="error.network.speed_ms", params={"speed_ms": speed_ms}, field="speed_ms"
        )
    m = graph.n_edges
    oneway = np.flatnonzero(twin < 0)
    source = np.concatenate([np.arange(m), oneway])  # driving edge each walking edge copies
    reverse = np.concatenate([np.zeros(m, dtype=bool), np.ones(oneway.shape[0], dtype=bool)])
    tail = np.where(reverse, graph.head[source], graph.tail[source])
    order = np.argsort(tail, kind="stable")
    position = np.empty(order.shape[0], dtype=np.int64)
    position[order] = np.arange(order.shape[0])

    source, reverse = source[order], reverse[order]
    head = np.where(reverse, graph.tail[source], graph.head[source])
    tail = tail[order]
    length = graph.length_m[source]
    # shapes: each edge's vertices, walked backwards for the reversed copies
    sizes = graph.shape_ptr[source + 1] - graph.shape_ptr[source]
    shape_ptr = np.zeros(source.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=shape_ptr[1:])
    within = np.arange(int(shape_ptr[-1])) - np.repeat(shape_ptr[:-1], sizes)
    step = np.where(np.repeat(reverse, sizes), np.repeat(sizes, sizes) - 1 - within, within)
    vertex = np.repeat(graph.shape_ptr[source], sizes) + step
    indptr = np.zeros(graph.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=graph.n_nodes), out=indptr[1:])
    meta = {k: v for k, v in graph.meta.items() if k != "cache_key"}
    meta.update(mode="walk", speed_ms=f"{speed_ms:g}")
    walking = RoadGraph(
        lon=graph.lon,
        lat=graph.lat,
        indptr=indptr,
        tail=tail.astype(np.int32),
        head=head.astype(np.int32),
        time_s=length / speed_ms,
        length_m=length,
        road_class=graph.road_class[source],
        shape_ptr=shape_ptr,
        shape_lon=graph.shape_lon[vertex],
        shape_lat=graph.shape_lat[vertex],
        meta=meta,
    )
    return ModeGraph(walking, position[:m])
