"""Cross-border road graphs: a county's roads with its neighbours' roads within a buffer.

A province keeps one road graph per county (``<data_dir>/counties/<code>/network``). A unit
near a county's border may reach an incident fastest through the neighbouring county (a
ring road, a bridge, a highway just across the line), which the county's own graph does not
hold: on it, that unit is ranked as if the detour inside the county were the only way. The
cross-border graph of a county is its own graph plus the roads of the neighbouring counties'
graphs that lie within ``buffer_m`` metres of the county's polygon, joined where they share a
node (the same position: county extracts cut from one province extract with whole ways, as
``osmium extract`` does by default, hold the crossing ways in both), kept in
``<data_dir>/counties/<code>/border/network`` and cached like every graph: its file is keyed
by the inputs' cache keys, the buffer and the polygon, and its contraction hierarchy is
stored beside it.

Node ids are stable: the county graph's node ``i`` is node ``i`` of the cross-border graph
(what a caller snapped or cached on the county graph stays valid); the neighbours' nodes
follow, and ``nodes-<key>.npz`` beside the graph maps every node to the county graph it came
from and its id there (:class:`NodeMap`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from fangkong.core.errors import InvalidInput
from fangkong.network import graph as graph_module
from fangkong.network.cache import (
    cache_path,
    load_or_build,
    load_or_build_hierarchy,
    load_or_build_key,
)
from fangkong.network.graph import RoadGraph
from fangkong.network.profile import DEFAULT_PROFILE, Profile
from fangkong.network.store import (
    COUNTY_CODE,
    SourceFormat,
    activate,
    county_data_dir,
    current_graph_path,
    detect_format,
    network_dir,
)

__all__ = [
    "BORDER_FOLDER",
    "MAX_BUFFER_M",
    "BorderBuild",
    "NodeMap",
    "border_data_dir",
    "buffered",
    "build_border_network",
    "county_network_dir",
    "imported_counties",
    "merge_within",
    "source_graph",
]

BORDER_FOLDER = "border"
#: Where the graph of a province extract that border graphs are cut from is cached.
PROVINCE_FOLDER = "province"
#: The name a province extract's roads go by in a node map.
SOURCE_LABEL = "@province"
#: The widest buffer accepted (m): beyond it a district graph is a province graph.
MAX_BUFFER_M = 50_000.0
#: Node positions are the same node when equal to 1e-7 degrees (~1 cm).
_SCALE = 1e7
_LAT_SPAN = 2_000_000_000
#: Metres per degree of latitude (and of longitude at the equator) on the mean sphere.
_M_PER_DEG = math.pi * graph_module.EARTH_RADIUS_M / 180.0


def border_data_dir(data_dir: Path, code: str) -> Path:
    """The data folder of a county's cross-border graph: ``counties/<code>/border``."""
    return county_data_dir(data_dir, code) / BORDER_FOLDER


def county_network_dir(data_dir: Path, code: str) -> Path | None:
    """The data folder whose network serves ``code``: its cross-border graph when one was
    built, else its own graph, else None (no network imported for the county)."""
    for where in (border_data_dir(data_dir, code), county_data_dir(data_dir, code)):
        if current_graph_path(where) is not None:
            return where
    return None


def imported_counties(data_dir: Path) -> list[str]:
    """The codes of the counties with a road network imported under ``data_dir``."""
    root = data_dir / "counties"
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if COUNTY_CODE.fullmatch(p.name) and current_graph_path(p) is not None
    )


def buffered(geometry: BaseGeometry, buffer_m: float) -> BaseGeometry:
    """``geometry`` (lon/lat) grown by ``buffer_m`` metres.

    The buffer is taken in a local equirectangular plane centred on the geometry (x scaled by
    the cosine of its mean latitude): within 0.5 % of the geodesic distance for a county-size
    region below 60 degrees of latitude, and exact enough for a band of a few kilometres.
    """
    if buffer_m <= 0:
        return geometry
    centre = geometry.centroid
    lon0, lat0 = float(centre.x), float(centre.y)
    kx = _M_PER_DEG * math.cos(math.radians(lat0))
    ky = _M_PER_DEG

    def to_plane(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([(xy[:, 0] - lon0) * kx, (xy[:, 1] - lat0) * ky])

    def to_degrees(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([xy[:, 0] / kx + lon0, xy[:, 1] / ky + lat0])

    grown = shapely.transform(geometry, to_plane).buffer(buffer_m, quad_segs=8)
    return shapely.transform(grown, to_degrees)


def _keys(graph: RoadGraph) -> NDArray[np.int64]:
    lon = np.rint(graph.lon * _SCALE).astype(np.int64)
    lat = np.rint(graph.lat * _SCALE).astype(np.int64)
    return lon * _LAT_SPAN + lat


@dataclass(frozen=True)
class NodeMap:
    """Where each node of a cross-border graph comes from: ``county[i]`` indexes ``codes``
    (0 is the county itself) and ``node[i]`` is the node's id in that county's graph."""

    codes: tuple[str, ...]
    county: NDArray[np.int16]
    node: NDArray[np.int64]

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.stem}-{uuid.uuid4().hex}.npz")
        try:
            np.savez(tmp, codes=np.array(self.codes, dtype=str), county=self.county, node=self.node)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> NodeMap:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                codes=tuple(str(c) for c in data["codes"]),
                county=data["county"].astype(np.int16),
                node=data["node"].astype(np.int64),
            )


def merge_within(
    home: RoadGraph, others: Sequence[RoadGraph], region: BaseGeometry
) -> tuple[RoadGraph, NDArray[np.int16], NDArray[np.int64]]:
    """``home`` plus the edges of ``others`` with both ends in ``region``, joined by position.

    Parameters
    ----------
    home : RoadGraph
        The county's graph: all of it is kept, its node ``i`` stays node ``i``.
    others : sequence of RoadGraph
        The neighbours' graphs.
    region : shapely geometry
        Lon/lat polygon (the county's, buffered): a neighbour's edge is taken when both its
        ends lie in it.

    Returns
    -------
    (RoadGraph, county, node)
        The merged graph (edges in CSR order, shapes kept; an edge equal to one already
        taken -- same ends and time -- is taken once) and, per node, the graph it came from
        (0 home, ``k`` the k-th of ``others``) and its id there. Nodes of the neighbours that
        cannot reach the home graph's nodes and be reached from them (strongly connected
        components apart, e.g. a road cut by the buffer's edge) are left out.

    Notes
    -----
    O((n + m) log(n + m)) for all the graphs' n nodes and m edges (sorts and one strongly
    connected components pass).
    """
    graphs = [home, *others]
    n0 = home.n_nodes
    home_keys = _keys(home)
    order = np.argsort(home_keys, kind="stable")
    sorted_home = home_keys[order]
    # per graph: the nodes taken, their keys; the edges taken
    node_graph: list[NDArray[np.int64]] = [np.zeros(n0, dtype=np.int64)]
    node_id: list[NDArray[np.int64]] = [np.arange(n0, dtype=np.int64)]
    edge_parts: list[tuple[int, NDArray[np.int64]]] = [(0, np.arange(home.n_edges))]
    pending_keys: list[NDArray[np.int64]] = []
    pending_refs: list[tuple[int, NDArray[np.int64]]] = []
    lo_x, lo_y, hi_x, hi_y = region.bounds
    for k, other in enumerate(others, start=1):
        # the polygon test only for nodes in its bounding box (a province extract's graph
        # holds tens of millions of nodes, few of them near the county)
        near = np.flatnonzero(
            (other.lon >= lo_x) & (other.lon <= hi_x) & (other.lat >= lo_y) & (other.lat <= hi_y)
        )
        inside = np.zeros(other.n_nodes, dtype=bool)
        inside[near] = shapely.contains_xy(region, other.lon[near], other.lat[near])
        taken = np.flatnonzero(inside[other.tail] & inside[other.head])
        edge_parts.append((k, taken))
        used = np.unique(np.concatenate([other.tail[taken], other.head[taken]])).astype(np.int64)
        pending_keys.append(_keys(other)[used])
        pending_refs.append((k, used))
    # neighbours' nodes: a home node at the same position, else a new id in first-seen order
    mapping = [np.full(g.n_nodes, -1, dtype=np.int64) for g in graphs]
    mapping[0] = np.arange(n0, dtype=np.int64)
    if pending_keys:
        keys = np.concatenate(pending_keys)
        at = np.minimum(np.searchsorted(sorted_home, keys), max(n0 - 1, 0))
        is_home = sorted_home[at] == keys
        fresh = keys[~is_home]
        uniq, first, inverse = np.unique(fresh, return_index=True, return_inverse=True)
        rank = np.empty(uniq.shape[0], dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(uniq.shape[0])
        ids = np.empty(keys.shape[0], dtype=np.int64)
        ids[is_home] = order[at[is_home]]
        ids[~is_home] = n0 + rank[inverse]
        start = 0
        for k, used in pending_refs:
            mapping[k][used] = ids[start : start + used.shape[0]]
            start += used.shape[0]
        origin_graph = np.zeros(uniq.shape[0], dtype=np.int64)
        origin_node = np.zeros(uniq.shape[0], dtype=np.int64)
        sources = np.concatenate([np.full(u.shape[0], k) for k, u in pending_refs])
        nodes = np.concatenate([u for _, u in pending_refs])
        firsts = np.flatnonzero(~is_home)[first]
        origin_graph[rank] = sources[firsts]
        origin_node[rank] = nodes[firsts]
        node_graph.append(origin_graph)
        node_id.append(origin_node)
    n = sum(int(a.shape[0]) for a in node_id)
    county = np.concatenate(node_graph)
    source_node = np.concatenate(node_id)
    # the edges, each graph's shapes offset into one coordinate array
    offsets = np.cumsum([0] + [int(g.shape_lon.shape[0]) for g in graphs])
    tails, heads, times, lengths, classes, starts, sizes = [], [], [], [], [], [], []
    for k, taken in edge_parts:
        g = graphs[k]
        tails.append(mapping[k][g.tail[taken]])
        heads.append(mapping[k][g.head[taken]])
        times.append(g.time_s[taken])
        lengths.append(g.length_m[taken])
        classes.append(g.road_class[taken])
        starts.append(g.shape_ptr[taken] + offsets[k])
        sizes.append(g.shape_ptr[taken + 1] - g.shape_ptr[taken])
    tail = np.concatenate(tails)
    head = np.concatenate(heads)
    time_s = np.concatenate(times)
    # an edge already taken (the crossing ways both extracts hold) is taken once
    rows = np.column_stack([tail, head, np.rint(time_s * 1000.0).astype(np.int64)])
    _, keep_edges = np.unique(rows, axis=0, return_index=True)
    keep_edges = np.sort(keep_edges)
    # strongly connected with the home graph's nodes
    matrix = csr_matrix(
        (np.ones(keep_edges.shape[0]), (tail[keep_edges], head[keep_edges])), shape=(n, n)
    )
    _, labels = connected_components(matrix, directed=True, connection="strong")
    wanted = np.zeros(n, dtype=bool)
    wanted[:n0] = True
    wanted |= np.isin(labels, np.unique(labels[:n0]))
    keep_edges = keep_edges[wanted[tail[keep_edges]] & wanted[head[keep_edges]]]
    renumber = np.cumsum(wanted) - 1
    shape_lon = np.concatenate([g.shape_lon for g in graphs])
    shape_lat = np.concatenate([g.shape_lat for g in graphs])
    lon, lat = _positions(graphs, county, source_node)
    merged = _assemble(
        lon=lon[wanted],
        lat=lat[wanted],
        tail=renumber[tail[keep_edges]],
        head=renumber[head[keep_edges]],
        time_s=time_s[keep_edges],
        length_m=np.concatenate(lengths)[keep_edges],
        road_class=np.concatenate(classes)[keep_edges],
        shape_start=np.concatenate(starts)[keep_edges],
        shape_size=np.concatenate(sizes)[keep_edges],
        shape_lon=shape_lon,
        shape_lat=shape_lat,
        meta=dict(home.meta),
    )
    return merged, county[wanted].astype(np.int16), source_node[wanted]


def _positions(
    graphs: Sequence[RoadGraph], county: NDArray[np.int64], node: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lon = np.empty(county.shape[0])
    lat = np.empty(county.shape[0])
    for k, g in enumerate(graphs):
        mine = county == k
        lon[mine] = g.lon[node[mine]]
        lat[mine] = g.lat[node[mine]]
    return lon, lat


def _assemble(
    *,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    tail: NDArray[np.int64],
    head: NDArray[np.int64],
    time_s: NDArray[np.float64],
    length_m: NDArray[np.float64],
    road_class: NDArray[np.int8],
    shape_start: NDArray[np.int64],
    shape_size: NDArray[np.int64],
    shape_lon: NDArray[np.float64],
    shape_lat: NDArray[np.float64],
    meta: dict[str, str],
) -> RoadGraph:
    """A :class:`RoadGraph` in CSR order from edges and slices of shared shape arrays."""
    n, m = lon.shape[0], tail.shape[0]
    order = np.argsort(tail, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    sizes = shape_size[order]
    shape_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(sizes, out=shape_ptr[1:])
    gather = np.repeat(shape_start[order] - shape_ptr[:-1], sizes) + np.arange(int(shape_ptr[-1]))
    return RoadGraph(
        lon=np.ascontiguousarray(lon),
        lat=np.ascontiguousarray(lat),
        indptr=indptr,
        tail=tail[order].astype(np.int32),
        head=head[order].astype(np.int32),
        time_s=np.ascontiguousarray(time_s[order]),
        length_m=np.ascontiguousarray(length_m[order]),
        road_class=np.ascontiguousarray(road_class[order]),
        shape_ptr=shape_ptr,
        shape_lon=np.ascontiguousarray(shape_lon[gather]),
        shape_lat=np.ascontiguousarray(shape_lat[gather]),
        meta=meta,
    )


@dataclass(frozen=True)
class BorderBuild:
    """What :func:`build_border_network` made: the graph, its file, whether the cache had it,
    the neighbours whose roads it took, and the node counts (the county's, all)."""

    graph: RoadGraph
    path: Path
    hit: bool
    neighbours: tuple[str, ...]
    county_nodes: int
    nodes: int
    node_map: NodeMap


def source_graph(
    data_dir: Path,
    file: Path,
    *,
    profile: Profile = DEFAULT_PROFILE,
    class_field: str | None = None,
) -> tuple[RoadGraph, bool]:
    """The road graph of a province extract (``.osm.pbf``) or GIS layer that cross-border
    graphs are cut from, built once and cached in ``<data_dir>/province/network`` (keyed by
    the file's bytes, the profile and the options; no hierarchy: nothing routes on it).

    Returns the graph and whether the cache had it.

    Raises
    ------
    InvalidInput
        The file is missing, of an unknown kind or unreadable.
    """
    from fangkong.network.gis import graph_from_lines
    from fangkong.network.osm import graph_from_osm

    if not file.is_file():
        raise InvalidInput(
            key="error.network.no_file", params={"name": file.name, "path": str(file)}, field="file"
        )
    kind = detect_format(file, SourceFormat.AUTO)

    def build() -> RoadGraph:
        if kind is SourceFormat.OSM:
            return graph_from_osm(file, profile)[0]
        return graph_from_lines(file, class_field=class_field, profile=profile)[0]

    options = {"kind": kind.value, "class_field": class_field or ""}
    cache_dir = network_dir(data_dir / PROVINCE_FOLDER)
    return load_or_build(file, profile, cache_dir, build, options=options)


def _graph_of(where: Path, code: str) -> RoadGraph:
    from fangkong.network.cache import read_graph

    path = current_graph_path(where)
    graph = read_graph(path) if path is not None else None
    if graph is None:
        raise InvalidInput(
            key="error.network.county_not_imported", params={"code": code}, field="county"
        )
    return graph


def build_border_network(
    data_dir: Path,
    code: str,
    *,
    polygon: BaseGeometry,
    buffer_m: float,
    neighbours: Sequence[str] | None = None,
    source: RoadGraph | None = None,
) -> BorderBuild:
    """Build (or find in the cache) the cross-border graph of county ``code`` and make it the
    county's network for dispatch and planning (:func:`county_network_dir`).

    Parameters
    ----------
    data_dir : Path
        The deployment's data folder (``counties/<code>/network`` of each county imported).
    code : str
        The county.
    polygon : shapely geometry
        The county's boundary (lon/lat), e.g. its district area's geometry.
    buffer_m : float
        How far beyond the boundary the neighbours' roads are taken, metres (0 < b <= 50 km).
    neighbours : sequence of str, optional
        The counties whose roads may be taken; default every other county imported under
        ``data_dir`` (those with no road in the buffer add nothing), none with ``source``.
    source : RoadGraph, optional
        A province extract's graph (:func:`source_graph`) to cut the roads within the buffer
        from, instead of (or besides, when named) the neighbours' graphs; in the node map its
        nodes go by :data:`SOURCE_LABEL`.

    Raises
    ------
    InvalidInput
        The buffer out of range, or the county (or a neighbour named) has no imported network.
    """
    if not (0 < buffer_m <= MAX_BUFFER_M) or not math.isfinite(buffer_m):
        raise InvalidInput(
            key="error.network.border_buffer",
            params={"value": buffer_m, "maximum": MAX_BUFFER_M},
            field="border_buffer_m",
        )
    home = _graph_of(county_data_dir(data_dir, code), code)
    region = buffered(polygon, buffer_m)
    if neighbours is None:
        neighbours = [] if source is not None else imported_counties(data_dir)
    names = [c for c in dict.fromkeys(neighbours) if c != code]
    candidates = [(name, _graph_of(county_data_dir(data_dir, name), name)) for name in names]
    if source is not None:
        candidates.append((SOURCE_LABEL, source))
    others: list[tuple[str, RoadGraph]] = []
    for name, graph in candidates:
        lo_x, lo_y, hi_x, hi_y = region.bounds
        near = (graph.lon >= lo_x) & (graph.lon <= hi_x) & (graph.lat >= lo_y) & (graph.lat <= hi_y)
        if near.any() and shapely.contains_xy(region, graph.lon[near], graph.lat[near]).any():
            others.append((name, graph))
    body = {
        "home": home.meta.get("cache_key", ""),
        "neighbours": [[name, g.meta.get("cache_key", "")] for name, g in others],
        "buffer_m": round(float(buffer_m), 3),
        "polygon": hashlib.sha256(shapely.to_wkb(polygon)).hexdigest(),
        "format": graph_module.FORMAT_VERSION,
    }
    key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    target = border_data_dir(data_dir, code)
    cache_dir = network_dir(target)
    codes = (code, *(name for name, _ in others))
    built: dict[str, NodeMap] = {}

    def build() -> RoadGraph:
        merged, county, node = merge_within(home, [g for _, g in others], region)
        merged.meta.update(
            kind="border",
            source=f"{code} + {','.join(codes[1:]) or '-'} within {buffer_m:g} m",
            counties=",".join(codes),
            border_buffer_m=f"{buffer_m:g}",
        )
        built["map"] = NodeMap(codes=codes, county=county, node=node)
        return merged

    graph, hit = load_or_build_key(key, cache_dir, build)
    path = cache_path(cache_dir, key)
    map_path = cache_dir / f"nodes-{key[:32]}.npz"
    if "map" in built:
        built["map"].save(map_path)
    node_map = built.get("map") or NodeMap.load(map_path)
    load_or_build_hierarchy(graph, cache_dir)
    activate(
        target,
        path,
        {
            "source": graph.meta.get("source", ""),
            "kind": "border",
            "profile": graph.meta.get("profile", ""),
            "profile_hash": graph.meta.get("profile_hash", ""),
            "cache_key": key,
            "counties": list(codes),
            "border_buffer_m": buffer_m,
            "nodes": f"nodes-{key[:32]}.npz",
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return BorderBuild(
        graph=graph,
        path=path,
        hit=hit,
        neighbours=codes[1:],
        county_nodes=home.n_nodes,
        nodes=graph.n_nodes,
        node_map=node_map,
    )
