"""The one graph builder behind every import (OSM, GIS line layers, plain arrays).

Importers turn their source into a :class:`LineSet` -- polylines whose vertices carry a node
key (the OSM node id, or the id of a cluster of coincident GIS vertices) plus per-line
attributes -- and :func:`assemble` does the rest the same way for all of them: split lines into
edges at shared vertices, measure, classify urban/rural, apply the profile's speeds, build the
:class:`~fangkong.network.graph.RoadGraph` with ``from_edges`` and keep its largest strongly
connected component (:func:`largest_scc`).

Turns are not modelled: every edge may follow every other edge at a node, and a U-turn (back
along the edge one came on) costs nothing. That is what keeps every node of the kept component
reachable from every other, also through dead ends. OSM ``type=restriction`` relations (no left
turn, only straight on) are not read yet.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import NDArray

from fangkong.network.graph import (
    EARTH_RADIUS_M,
    FloatArray,
    IntArray,
    RoadGraph,
    from_edges,
    haversine_m,
)
from fangkong.network.profile import Profile, edge_speeds_kmh, profile_hash

#: ``progress(stage, done, total)``; ``total`` is 0 when unknown.
ProgressFn = Callable[[str, int, int], None]

#: Line directions: traffic along the vertex order, against it, or both ways.
BOTH, FORWARD, BACKWARD = 0, 1, -1

_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
# Cell keys pack (row, column) into one int64; columns stay within +-5e6 for cells >= 50 m.
_ROW_STRIDE = 10_000_000
_COL_OFFSET = 5_000_000


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total


@dataclass(frozen=True)
class ImportReport:
    """What an import kept and dropped.

    Attributes
    ----------
    source : str
        The file name (or ``"arrays"``).
    kind : str
        ``"osm"``, ``"gis"`` or ``"arrays"``.
    nodes, edges : int
        Nodes and directed edges of the graph kept.
    components : int
        Strongly connected components of the graph before the largest was kept.
    dropped_nodes, dropped_edges : int
        Nodes and edges outside the largest component (islands, one-way traps, roads cut at
        the extract's border).
    road_km : float
        Length of road kept, each road counted once whatever its directions.
    urban_km : float
        The part of ``road_km`` classified urban.
    seconds : float
        Wall time of the build.
    counts : dict of str to int
        Importer-specific tallies (ways read, ways skipped and why, ``maxspeed`` tags used...).
    profile, profile_hash : str
        The profile's name and :func:`~fangkong.network.profile.profile_hash` ("" for arrays).
    """

    source: str
    kind: str
    nodes: int
    edges: int
    components: int
    dropped_nodes: int
    dropped_edges: int
    road_km: float
    urban_km: float
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    profile: str = ""
    profile_hash: str = ""

    META_KEY = "import_report"

    def to_json(self) -> str:
        """The report as one JSON line (stored in ``RoadGraph.meta``)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_graph(cls, graph: RoadGraph) -> ImportReport | None:
        """The report a graph was built with, from its ``meta``; None when it has none."""
        text = graph.meta.get(cls.META_KEY)
        if text is None:
            return None
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError):
            return None


@dataclass
class LineSet:
    """Polylines with per-line attributes: the common input of :func:`assemble`.

    Attributes
    ----------
    keys : array of int64, shape (N,)
        Node identity of each vertex; vertices with equal keys are one node.
    lon, lat : array of float64, shape (N,)
        Vertex coordinates, WGS-84 degrees. Vertices with equal keys must have equal
        coordinates (the node's position).
    ptr : array of int64, shape (L + 1,)
        Line ``i`` has vertices ``ptr[i]:ptr[i + 1]``.
    road_class : array of int8, shape (L,)
        :class:`~fangkong.network.profile.RoadClass` codes.
    direction : array of int8, shape (L,)
        :data:`BOTH`, :data:`FORWARD` or :data:`BACKWARD`.
    maxspeed_fwd, maxspeed_bwd : array of float64, shape (L,)
        Posted limit along/against the vertex order, km/h, NaN when none.
    explicit_kmh : array of float64, shape (L,)
        A speed the data gives (GIS speed field), km/h, NaN when none.
    zone : array of int8, shape (L,)
        1 urban, 0 rural (from the data), -1 to use the density rule.
    """

    keys: NDArray[np.int64]
    lon: FloatArray
    lat: FloatArray
    ptr: IntArray
    road_class: NDArray[np.int8]
    direction: NDArray[np.int8]
    maxspeed_fwd: FloatArray
    maxspeed_bwd: FloatArray
    explicit_kmh: FloatArray
    zone: NDArray[np.int8]

    @property
    def n_lines(self) -> int:
        return int(self.ptr.shape[0] - 1)

    def take_lines(self, keep: NDArray[np.bool_], vertex_keep: NDArray[np.bool_]) -> LineSet:
        """The lines in ``keep``, each with its vertices in ``vertex_keep``."""
        line_of = np.repeat(np.arange(self.n_lines), np.diff(self.ptr))
        vmask = vertex_keep & keep[line_of]
        counts = np.bincount(line_of[vmask], minlength=self.n_lines)[keep]
        ptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return LineSet(
            keys=self.keys[vmask],
            lon=self.lon[vmask],
            lat=self.lat[vmask],
            ptr=ptr,
            road_class=self.road_class[keep],
            direction=self.direction[keep],
            maxspeed_fwd=self.maxspeed_fwd[keep],
            maxspeed_bwd=self.maxspeed_bwd[keep],
            explicit_kmh=self.explicit_kmh[keep],
            zone=self.zone[keep],
        )


def _clean(lines: LineSet) -> tuple[LineSet, int]:
    """Drop repeated consecutive vertices, then lines left with fewer than two."""
    n = lines.keys.shape[0]
    first = np.zeros(n, dtype=bool)
    first[lines.ptr[:-1][np.diff(lines.ptr) > 0]] = True
    vertex_keep = np.ones(n, dtype=bool)
    vertex_keep[1:] = lines.keys[1:] != lines.keys[:-1]
    vertex_keep |= first
    line_of = np.repeat(np.arange(lines.n_lines), np.diff(lines.ptr))
    counts = np.bincount(line_of[vertex_keep], minlength=lines.n_lines)
    keep = counts >= 2
    return lines.take_lines(keep, vertex_keep), int((~keep).sum())


def _segments(lines: LineSet) -> tuple[IntArray, IntArray, int]:
    """Split lines at shared vertices: ``(a, b)`` vertex positions of each segment.

    A vertex ends a segment when its key occurs at least twice in the whole set (a junction,
    or a line that meets itself) or it is a line's first or last vertex. A segment that would
    start and end at the same node (a loop with one junction) is split at its middle vertex,
    so that the loop stays routable; loops of two vertices cannot be and are dropped.
    """
    keys, ptr = lines.keys, lines.ptr
    line_of = np.repeat(np.arange(lines.n_lines), np.diff(ptr))
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    split = counts[inverse] >= 2
    split[ptr[:-1]] = True
    split[ptr[1:] - 1] = True
    a = b = np.zeros(0, dtype=np.int64)
    # One round splits every loop; the next finds none and stops (the bound is a guard).
    for _ in range(4):
        positions = np.flatnonzero(split)
        same = line_of[positions[:-1]] == line_of[positions[1:]]
        a, b = positions[:-1][same], positions[1:][same]
        loop = (keys[a] == keys[b]) & (b - a >= 2)
        if not loop.any():
            break
        split[(a[loop] + b[loop]) // 2] = True
    proper = keys[a] != keys[b]
    return a[proper].astype(np.int64), b[proper].astype(np.int64), int((~proper).sum())


def _cell_keys(lon: FloatArray, lat: FloatArray, cell_m: float) -> NDArray[np.int64]:
    # A fixed world grid: rows of cell_m metres of latitude, each row cut into cells of
    # cell_m metres at the row's centre latitude, so cells do not depend on the data extent.
    row = np.floor(lat * _M_PER_DEG / cell_m)
    centre = np.radians((row + 0.5) * cell_m / _M_PER_DEG)
    col = np.floor(lon * _M_PER_DEG * np.cos(centre) / cell_m)
    return row.astype(np.int64) * _ROW_STRIDE + col.astype(np.int64) + _COL_OFFSET


def _pair_density(
    lon: FloatArray, lat: FloatArray, piece_m: FloatArray, cell_m: float
) -> FloatArray:
    """Road density (km/km²) of the 3 x 3 cell block around each piece's midpoint."""
    mid_lon = (lon[:-1] + lon[1:]) / 2
    mid_lat = (lat[:-1] + lat[1:]) / 2
    cells = _cell_keys(mid_lon, mid_lat, cell_m)
    used = piece_m > 0
    density = np.zeros(piece_m.shape[0], dtype=np.float64)
    if not used.any():
        return density
    unique, inverse = np.unique(cells[used], return_inverse=True)
    length = np.bincount(inverse, weights=piece_m[used], minlength=unique.shape[0])
    block = np.zeros_like(length)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            target = unique + dy * _ROW_STRIDE + dx
            pos = np.searchsorted(unique, target)
            pos_c = np.minimum(pos, unique.shape[0] - 1)
            found = (pos < unique.shape[0]) & (unique[pos_c] == target)
            block += np.where(found, length[pos_c], 0.0)
    block_km2 = 9 * cell_m * cell_m / 1e6
    density[used] = (block / 1000.0 / block_km2)[inverse]
    return density


def _edge_speeds(
    profile: Profile, lines: LineSet, line: IntArray, urban: NDArray[np.bool_], limits: FloatArray
) -> FloatArray:
    return edge_speeds_kmh(
        profile,
        lines.road_class[line],
        urban,
        maxspeed_kmh=limits,
        explicit_kmh=lines.explicit_kmh[line],
    )


def assemble(
    lines: LineSet,
    profile: Profile,
    *,
    source: str,
    kind: str,
    counts: Mapping[str, int] | None = None,
    progress: ProgressFn | None = None,
    started: float | None = None,
) -> tuple[RoadGraph, ImportReport]:
    """Build the graph of ``lines`` under ``profile`` and keep its largest SCC.

    Parameters
    ----------
    lines : LineSet
        The importer's polylines.
    profile : Profile
        Speeds and the urban rule.
    source, kind : str
        For the report and ``meta``.
    counts : mapping of str to int, optional
        The importer's tallies, copied into the report.
    progress : callable, optional
        ``progress(stage, done, total)``.
    started : float, optional
        ``time.perf_counter()`` when the import began (default: now).

    Returns
    -------
    (RoadGraph, ImportReport)

    Raises
    ------
    InvalidInput
        When no edge is left (from ``from_edges``).

    Notes
    -----
    O(N log N) in the number of vertices N (the sorts in ``np.unique``), plus one Python
    step per edge to hand its shape to ``from_edges``.
    """
    t0 = time.perf_counter() if started is None else started
    report_progress = progress or _no_progress
    tallies = dict(counts or {})
    lines, degenerate = _clean(lines)
    tallies["lines_degenerate"] = tallies.get("lines_degenerate", 0) + degenerate
    report_progress("split", 0, 0)
    a, b, loops = _segments(lines)
    tallies["loops_dropped"] = loops
    n_vertices = lines.keys.shape[0]
    report_progress("split", int(a.shape[0]), int(a.shape[0]))

    # piece i joins vertices i and i + 1; pieces across two lines are zeroed out.
    piece = np.zeros(n_vertices, dtype=np.float64)
    if n_vertices > 1:
        piece[:-1] = haversine_m(lines.lon[:-1], lines.lat[:-1], lines.lon[1:], lines.lat[1:])
        piece[lines.ptr[1:-1] - 1] = 0.0
    bounds = np.column_stack([a, b]).ravel()
    seg_len = np.add.reduceat(piece, bounds)[::2] if a.shape[0] else np.zeros(0)
    density = np.zeros(n_vertices, dtype=np.float64)
    if n_vertices > 1:
        density[:-1] = _pair_density(lines.lon, lines.lat, piece[:-1], profile.urban_cell_m)
    weighted = np.add.reduceat(piece * density, bounds)[::2] if a.shape[0] else np.zeros(0)
    seg_density = np.divide(weighted, seg_len, out=density[a].copy(), where=seg_len > 0)
    line_of = np.repeat(np.arange(lines.n_lines), np.diff(lines.ptr))
    seg_line = line_of[a]
    zone = lines.zone[seg_line]
    seg_urban = np.where(zone >= 0, zone == 1, seg_density >= profile.urban_density_km_per_km2)
    report_progress("speeds", 0, int(a.shape[0]))

    direction = lines.direction[seg_line]
    fwd = np.flatnonzero(direction != BACKWARD)
    bwd = np.flatnonzero(direction != FORWARD)
    node_keys = np.unique(np.concatenate([lines.keys[a], lines.keys[b]]))
    node_a = np.searchsorted(node_keys, lines.keys[a])
    node_b = np.searchsorted(node_keys, lines.keys[b])
    node_lon = np.empty(node_keys.shape[0], dtype=np.float64)
    node_lat = np.empty(node_keys.shape[0], dtype=np.float64)
    node_lon[node_a], node_lat[node_a] = lines.lon[a], lines.lat[a]
    node_lon[node_b], node_lat[node_b] = lines.lon[b], lines.lat[b]

    speed_f = _edge_speeds(
        profile, lines, seg_line[fwd], seg_urban[fwd], lines.maxspeed_fwd[seg_line[fwd]]
    )
    speed_b = _edge_speeds(
        profile, lines, seg_line[bwd], seg_urban[bwd], lines.maxspeed_bwd[seg_line[bwd]]
    )
    seg_of_edge = np.concatenate([fwd, bwd])
    length = seg_len[seg_of_edge]
    time_s = length * 3.6 / np.concatenate([speed_f, speed_b])
    coords = np.column_stack([lines.lon, lines.lat])
    shapes = [coords[s : e + 1] for s, e in zip(a[fwd].tolist(), b[fwd].tolist(), strict=True)]
    shapes += [
        coords[s : e + 1][::-1] for s, e in zip(a[bwd].tolist(), b[bwd].tolist(), strict=True)
    ]
    report_progress("speeds", int(a.shape[0]), int(a.shape[0]))

    graph = from_edges(
        node_lon,
        node_lat,
        np.concatenate([node_a[fwd], node_b[bwd]]),
        np.concatenate([node_b[fwd], node_a[bwd]]),
        time_s,
        length_m=length,
        road_class=lines.road_class[seg_line[seg_of_edge]],
        shapes=shapes,
    )
    report_progress("components", 0, 0)
    kept, n_components, keep_nodes = largest_scc(graph)
    report_progress("components", n_components, n_components)
    seg_kept = keep_nodes[node_a] & keep_nodes[node_b]
    return finish(
        kept,
        graph,
        n_components,
        source=source,
        kind=kind,
        profile=profile,
        counts=tallies,
        road_km=float(seg_len[seg_kept].sum()) / 1000.0,
        urban_km=float(seg_len[seg_kept & seg_urban].sum()) / 1000.0,
        started=t0,
    )


def finish(
    kept: RoadGraph,
    full: RoadGraph,
    n_components: int,
    *,
    source: str,
    kind: str,
    profile: Profile | None,
    counts: Mapping[str, int],
    road_km: float,
    urban_km: float,
    started: float,
) -> tuple[RoadGraph, ImportReport]:
    """Write the report into the kept graph's ``meta`` and return both."""
    report = ImportReport(
        source=source,
        kind=kind,
        nodes=kept.n_nodes,
        edges=kept.n_edges,
        components=n_components,
        dropped_nodes=full.n_nodes - kept.n_nodes,
        dropped_edges=full.n_edges - kept.n_edges,
        road_km=round(road_km, 3),
        urban_km=round(urban_km, 3),
        seconds=round(time.perf_counter() - started, 3),
        counts=dict(counts),
        profile=profile.name if profile else "",
        profile_hash=profile_hash(profile) if profile else "",
    )
    kept.meta.update(
        {
            "source": source,
            "kind": kind,
            "profile": report.profile,
            "profile_hash": report.profile_hash,
            ImportReport.META_KEY: report.to_json(),
        }
    )
    return kept, report


def largest_scc(graph: RoadGraph) -> tuple[RoadGraph, int, NDArray[np.bool_]]:
    """Keep the largest strongly connected component.

    Parameters
    ----------
    graph : RoadGraph

    Returns
    -------
    (RoadGraph, int, numpy.ndarray of bool)
        The subgraph (nodes renumbered in their old order, edges between kept nodes), the
        number of strongly connected components of ``graph``, and the kept-node mask over
        ``graph``'s nodes. Ties between equally large components go to the one holding the
        lowest node id, so the result is deterministic.

    Notes
    -----
    Tarjan's algorithm in scipy, O(n + m).
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    n = graph.n_nodes
    # Copies: csr_matrix keeps int32 index arrays without copying, and both the in-place
    # merge below and csgraph's index sorting would otherwise rewrite graph.head.
    matrix = csr_matrix(
        (np.ones(graph.n_edges, dtype=np.float64), graph.head.copy(), graph.indptr.copy()),
        shape=(n, n),
    )
    # Parallel edges are duplicate entries, on which scipy 1.17's strong-component search
    # loops forever or miscounts (two nodes joined by a doubled edge show it): merge them.
    matrix.sum_duplicates()
    n_components, labels = connected_components(matrix, directed=True, connection="strong")
    sizes = np.bincount(labels)
    best = sizes.max()
    # the component of the lowest node among the largest ones
    winner = labels[np.flatnonzero(sizes[labels] == best)[0]]
    keep = labels == winner
    if keep.all():
        return graph, int(n_components), keep
    return subgraph(graph, keep), int(n_components), keep


def subgraph(graph: RoadGraph, keep: NDArray[np.bool_]) -> RoadGraph:
    """The graph induced by the nodes in ``keep``, renumbered in their old order.

    Edges keep their relative order, which stays sorted by tail because the renumbering is
    monotone, so the CSR layout carries over without a sort.
    """
    new_id = np.cumsum(keep) - 1
    edge_keep = keep[graph.tail] & keep[graph.head]
    tail = new_id[graph.tail[edge_keep]].astype(np.int32)
    n = int(keep.sum())
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    sizes = np.diff(graph.shape_ptr)
    point_keep = np.repeat(edge_keep, sizes)
    shape_ptr = np.zeros(int(edge_keep.sum()) + 1, dtype=np.int64)
    np.cumsum(sizes[edge_keep], out=shape_ptr[1:])
    return RoadGraph(
        lon=graph.lon[keep],
        lat=graph.lat[keep],
        indptr=indptr,
        tail=tail,
        head=new_id[graph.head[edge_keep]].astype(np.int32),
        time_s=graph.time_s[edge_keep],
        length_m=graph.length_m[edge_keep],
        road_class=graph.road_class[edge_keep],
        shape_ptr=shape_ptr,
        shape_lon=graph.shape_lon[point_keep],
        shape_lat=graph.shape_lat[point_keep],
        meta=dict(graph.meta),
    )


def road_km(graph: RoadGraph) -> float:
    """Length of road in km, counting a two-way road (an edge and its reverse twin) once.

    Twins are edges between the same two nodes in opposite directions with lengths equal to
    the centimetre; a road with more edges one way than the other counts the larger number.
    """
    if graph.n_edges == 0:
        return 0.0
    lo = np.minimum(graph.tail, graph.head).astype(np.int64)
    hi = np.maximum(graph.tail, graph.head).astype(np.int64)
    cm = np.round(graph.length_m * 100).astype(np.int64)
    groups, inverse = np.unique(np.column_stack([lo, hi, cm]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    along = graph.tail <= graph.head
    n_along = np.bincount(inverse, weights=along, minlength=groups.shape[0])
    n_against = np.bincount(inverse, weights=~along, minlength=groups.shape[0])
    total_m = np.maximum(n_along, n_against) * groups[:, 2] / 100.0
    return float(total_m.sum()) / 1000.0
