"""Isochrones: the road reachable from a source within each time threshold, and its polygon.

A ring for threshold T holds every edge piece a vehicle can drive within T seconds: whole edges
whose head is reached in time, and the first part of the edges it is driving along when time runs
out, cut at the fraction reached (speed uniform along an edge). Its polygon is the union of those
pieces buffered by :data:`DEFAULT_BUFFER_M` (50 m: about half a city block, so that the streets of
a reached block merge into an area while a lone road out of town stays a narrow corridor),
computed in a local metric projection centred on the source and returned in WGS-84 lon/lat.
Rings are nested: the pieces within 60 s are contained in those within 180 s, and so are the
polygons (up to GEOS's floating-point noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import shapely
import shapely.ops
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, mapping
from shapely.geometry.base import BaseGeometry

from fangkong.areas.geometry import local_projector, to_multipolygon
from fangkong.core.errors import InvalidInput
from fangkong.network.engine import EdgePoints, Engine, Source
from fangkong.network.snap import Snapper, unproject

__all__ = [
    "DEFAULT_BUFFER_M",
    "DEFAULT_THRESHOLDS_S",
    "IsochroneRing",
    "isochrone",
    "isochrone_at",
    "piece_geometries",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The rings dispatch asks for: 1, 3 and 5 minutes (seconds).
DEFAULT_THRESHOLDS_S: tuple[float, ...] = (60.0, 180.0, 300.0)
#: Buffer around the reachable road pieces, metres.
DEFAULT_BUFFER_M = 50.0
# Segments per quarter circle in the buffer: 4 keeps the polygon light (~1.3 % area error on a
# round end cap), which is far below the uncertainty of a travel-time ring.
_QUAD_SEGS = 4


@dataclass(frozen=True)
class IsochroneRing:
    """The road reachable within ``threshold_s`` and its polygon.

    Attributes
    ----------
    threshold_s : float
        Seconds.
    edge : array of int64
        Edge ids of the reachable pieces (an edge may appear twice when it is reached from its
        tail and also holds the source point).
    start, end : array of float64
        Each piece runs from fraction ``start`` to fraction ``end`` of its edge (0 = tail).
    polygon : shapely.geometry.MultiPolygon
        Lon/lat union of the pieces buffered by ``buffer_m`` metres (empty if nothing is
        reachable).
    buffer_m : float
        The buffer used, metres.
    """

    threshold_s: float
    edge: IntArray
    start: FloatArray
    end: FloatArray
    polygon: MultiPolygon
    buffer_m: float

    @property
    def full(self) -> NDArray[np.bool_]:
        """True for the pieces that are whole edges."""
        return (self.start <= 0.0) & (self.end >= 1.0)

    def feature(self) -> dict[str, Any]:
        """The ring as a GeoJSON Feature (polygon geometry, threshold and sizes as properties)."""
        return {
            "type": "Feature",
            "geometry": mapping(self.polygon),
            "properties": {"threshold_s": self.threshold_s, "buffer_m": self.buffer_m,
                           "edges": int(np.unique(self.edge).shape[0])},
        }


def _pieces(engine: Engine, source: Source, nodes: IntArray, times: FloatArray,
            threshold: float) -> tuple[IntArray, FloatArray, FloatArray]:
    """(edge, start, end) of every piece reachable within ``threshold`` seconds.

    ``nodes``/``times`` are the reached nodes (in any order); only their out-edges are looked
    at, so the cost follows the ring, not the graph.
    """
    g = engine.graph
    inside = times <= threshold
    tails, d_tail = nodes[inside], times[inside]
    counts = g.indptr[tails + 1] - g.indptr[tails]
    first = np.repeat(g.indptr[tails] - (np.cumsum(counts) - counts), counts)
    reached = first + np.arange(int(counts.sum()))
    d_tail = np.repeat(d_tail, counts)
    t = g.time_s[reached]
    left = threshold - d_tail
    # time 0 or enough time left: the whole edge; otherwise the fraction the time left covers
    end = np.where(t <= left, 1.0, left / np.where(t > 0, t, 1.0))
    keep = end > 0.0
    edges, starts, ends = [reached[keep].astype(np.int64)], [np.zeros(int(keep.sum()))], \
        [end[keep]]
    if isinstance(source, EdgePoints) and int(source.edge[0]) >= 0:
        # The source's own road: forward from the point along the edge, backward via the twin.
        e, f = int(source.edge[0]), float(source.fraction[0])
        for edge, frac in ((e, f), (int(engine.twin[e]), 1.0 - f)):
            if edge < 0:
                continue
            te = float(g.time_s[edge])
            stop = 1.0 if te <= 0 else min(1.0, frac + threshold / te)
            if stop > frac:
                edges.append(np.array([edge], dtype=np.int64))
                starts.append(np.array([frac]))
                ends.append(np.array([stop]))
    return np.concatenate(edges), np.concatenate(starts), np.concatenate(ends)


def _piece_lines(engine: Engine, edge: IntArray, start: FloatArray, end: FloatArray,
                 project: Any) -> NDArray[np.object_]:
    """Projected line geometry of each piece; a road's two directions are drawn once."""
    g = engine.graph
    twin = engine.twin[edge]
    flip = (twin >= 0) & (twin < edge)
    road = np.where(flip, twin, edge)
    s = np.where(flip, 1.0 - end, start)
    t = np.where(flip, 1.0 - start, end)
    full = (s <= 0.0) & (t >= 1.0)
    full_roads = np.unique(road[full])
    partial = np.flatnonzero(~full)
    wanted = np.concatenate([full_roads, road[partial]])
    sizes = np.diff(g.shape_ptr)[wanted]
    starts = g.shape_ptr[wanted]
    vertex = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
    coords = project(np.column_stack([g.shape_lon[vertex], g.shape_lat[vertex]]))
    lines = np.asarray(shapely.linestrings(coords, indices=np.repeat(np.arange(wanted.shape[0]),
                                                                     sizes)), dtype=object)
    n_full = full_roads.shape[0]
    for i, p in enumerate(partial.tolist()):
        line = lines[n_full + i]
        lines[n_full + i] = shapely.ops.substring(line, float(s[p]), float(t[p]),
                                                  normalized=True)
    return lines


def isochrone(
    engine: Engine,
    source: Source,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS_S,
    *,
    buffer_m: float = DEFAULT_BUFFER_M,
    polygons: bool = True,
) -> list[IsochroneRing]:
    """Reachable road pieces and a polygon for each threshold, from a node or a snapped point.

    Parameters
    ----------
    engine : Engine
    source : int or EdgePoints of length 1
        Node id or point on an edge (e.g. ``snapper.snap(lon, lat).points``).
    thresholds : sequence of float, optional
        Seconds, default 60, 180 and 300; the rings come back in ascending order.
    buffer_m : float, optional
        Buffer around the road pieces in metres (> 0).
    polygons : bool, optional
        False skips the polygons (left empty): the pieces alone cost milliseconds.

    Returns
    -------
    list of IsochroneRing
        One per threshold, ascending.

    Notes
    -----
    One Dijkstra bounded by the largest threshold (O(m_c + n_c log n_c), no O(n) term), the
    out-edges of the reached nodes for the pieces, and a GEOS buffer-union of the k pieces
    (about O(k log k)), which dominates.
    """
    levels = sorted(float(t) for t in thresholds)
    if not levels or levels[0] < 0 or any(np.isnan(levels)):
        raise InvalidInput("thresholds must be one or more times >= 0 seconds",
                           field="thresholds")
    if not buffer_m > 0:
        raise InvalidInput(f"buffer_m must be > 0 metres, got {buffer_m}", field="buffer_m")
    nodes, times = engine.reachable_from(source, cutoff_s=levels[-1])
    g = engine.graph
    if isinstance(source, EdgePoints):
        if int(source.edge[0]) < 0:
            raise InvalidInput("the source point has no location on the road network",
                               field="source")
        e = int(source.edge[0])
        center = (float(g.lon[g.tail[e]]), float(g.lat[g.tail[e]]))
    else:
        center = (float(g.lon[int(source)]), float(g.lat[int(source)]))
    project = local_projector(*center)
    rings: list[IsochroneRing] = []
    for level in levels:
        edge, start, end = _pieces(engine, source, nodes, times, level)
        if edge.shape[0] and polygons:
            lines = _piece_lines(engine, edge, start, end, project)
            # Buffer each piece, then one cascaded union: GEOS buffering a whole MultiLineString
            # nodes every offset curve against every other and is ~15x slower here.
            area = shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=_QUAD_SEGS))
            polygon = to_multipolygon(
                shapely.transform(area, lambda xy: unproject(xy, *center)))
        else:
            polygon = MultiPolygon()
        rings.append(IsochroneRing(level, edge, start, end, polygon, float(buffer_m)))
    return rings


def isochrone_at(
    engine: Engine,
    snapper: Snapper,
    lon: float,
    lat: float,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS_S,
    *,
    buffer_m: float = DEFAULT_BUFFER_M,
    max_distance_m: float | None = None,
) -> list[IsochroneRing]:
    """:func:`isochrone` from a lon/lat point, snapped to the nearest road first.

    Raises
    ------
    InvalidInput
        When no road lies within ``max_distance_m`` of the point (default the snapper's).
    """
    snapped = snapper.snap([lon], [lat], max_distance_m=max_distance_m)
    if bool(snapped.too_far[0]):
        radius = snapper.max_distance_m if max_distance_m is None else max_distance_m
        raise InvalidInput(f"no road within {radius} m of ({lon}, {lat})", field="lon")
    return isochrone(engine, snapped.points, thresholds, buffer_m=buffer_m)


class Pieces(Protocol):
    """Edge pieces: edge ``edge[i]`` from fraction ``start[i]`` to ``end[i]`` (a ring, a
    route)."""

    @property
    def edge(self) -> IntArray: ...
    @property
    def start(self) -> FloatArray: ...
    @property
    def end(self) -> FloatArray: ...


def piece_geometries(engine: Engine, pieces: Pieces) -> list[BaseGeometry]:
    """The lon/lat line of each piece of a ring or a route, in order (for display and checks).

    Pieces are cut by length in lon/lat here, not in the local projection: on a curved edge the
    cut moves by a fraction of a percent of the edge's length.
    """
    g = engine.graph
    out: list[BaseGeometry] = []
    for e, s, t in zip(pieces.edge.tolist(), pieces.start.tolist(), pieces.end.tolist(),
                       strict=True):
        line = LineString(g.edge_shape(e))
        out.append(line if s <= 0 and t >= 1 else
                   shapely.ops.substring(line, s, t, normalized=True))
    return out
