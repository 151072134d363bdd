"""The travel-time engine against plain Dijkstra (scipy, networkx) on the same graph, and the
isochrones built on it.

The reference for points on edges is the graph with every point inserted as a node that splits
its edge (and the edge's twin, the other direction of a two-way road); see
``fangkong.network.engine``'s module docstring.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Literal

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fangkong.areas.geometry import local_projector
from fangkong.core.errors import InvalidInput
from fangkong.demo.build import DEMO_PBF
from fangkong.network.engine import _STAMP_LIMIT, EdgePoints, Engine, edge_twins
from fangkong.network.graph import RoadGraph, from_edges
from fangkong.network.isochrone import isochrone, isochrone_at, piece_geometries
from fangkong.network.snap import Snapper
from fangkong.network.synthetic import grid_city
from network.network_helpers import TOL_S, check_k_nearest

FloatArray = NDArray[np.float64]


# ---- reference ------------------------------------------------------------------------------


@dataclass
class Reference:
    """The graph with the points inserted as nodes; ``ids[i]`` maps point set i to its nodes."""

    n: int
    tails: list[int]
    heads: list[int]
    times: list[float]
    ids: list[NDArray[np.int64]]

    def matrix(self, *, reverse: bool = False) -> csr_matrix:
        best: dict[tuple[int, int], float] = {}
        for u, v, t in zip(self.tails, self.heads, self.times, strict=True):
            key = (v, u) if reverse else (u, v)
            best[key] = min(t, best.get(key, math.inf))
        keys = sorted(best)
        rows = np.array([k[0] for k in keys], dtype=np.int64)
        cols = np.array([k[1] for k in keys], dtype=np.int32)
        data = np.array([best[k] for k in keys])
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n), out=indptr[1:])
        # built from (data, indices, indptr) so that zero-time edges stay explicit edges
        return csr_matrix((data, cols, indptr), shape=(self.n, self.n))

    def networkx(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n))
        for u, v, t in zip(self.tails, self.heads, self.times, strict=True):
            if not g.has_edge(u, v) or g[u][v]["weight"] > t:
                g.add_edge(u, v, weight=t)
        return g


def reference(graph: RoadGraph, twin: NDArray[np.int64], *sets: object) -> Reference:
    """Split the edges at the points of ``sets`` (node-id arrays are passed through)."""
    n = graph.n_nodes
    on_edge: dict[int, list[tuple[float, int]]] = defaultdict(list)
    extra: list[tuple[int, int]] = []
    ids: list[NDArray[np.int64]] = []
    for locs in sets:
        if not isinstance(locs, EdgePoints):
            ids.append(np.asarray(locs, dtype=np.int64))
            continue
        nodes = np.arange(n, n + len(locs), dtype=np.int64)
        n += len(locs)
        ids.append(nodes)
        for p, e, f in zip(nodes.tolist(), locs.edge.tolist(), locs.fraction.tolist(), strict=True):
            if e < 0:
                continue  # an isolated node: unreachable
            on_edge[e].append((f, p))
            if twin[e] >= 0:
                on_edge[int(twin[e])].append((1.0 - f, p))
            elif f == 0.0:
                extra.append((p, int(graph.tail[e])))
            elif f == 1.0:
                extra.append((int(graph.head[e]), p))
    tails: list[int] = []
    heads: list[int] = []
    times: list[float] = []
    for e in range(graph.n_edges):
        u, v, t = int(graph.tail[e]), int(graph.head[e]), float(graph.time_s[e])
        if e not in on_edge:
            tails.append(u)
            heads.append(v)
            times.append(t)
            continue
        prev_node, prev_f = u, 0.0
        for f, p in sorted(on_edge[e]):
            tails.append(prev_node)
            heads.append(p)
            times.append(f * t - prev_f * t)
            prev_node, prev_f = p, f
        tails.append(prev_node)
        heads.append(v)
        times.append((1.0 - prev_f) * t)
    for u, v in extra:
        tails.append(u)
        heads.append(v)
        times.append(0.0)
    return Reference(n, tails, heads, times, ids)


def assert_times(got: FloatArray, want: FloatArray) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    if finite.any():
        assert np.abs(got[finite] - want[finite]).max() <= TOL_S


def over(times: FloatArray, cutoff: float) -> FloatArray:
    out = np.array(times, dtype=np.float64)
    out[out > cutoff] = np.inf
    return out


def safe_cutoff(times: FloatArray, rng: np.random.Generator) -> float:
    """A cutoff halfway between two distinct finite times, so rounding cannot flip a pair."""
    values = np.unique(times[np.isfinite(times)])
    if values.shape[0] < 2:
        return math.inf
    i = int(rng.integers(values.shape[0] - 1))
    return float(values[i] + values[i + 1]) / 2.0


def check_route(
    engine: Engine, source: int | EdgePoints, target: int | EdgePoints, want: float
) -> None:
    """The route's time is the reference's, its pieces add up to it and join end to start."""
    g = engine.graph
    route = engine.route(source, target)
    if not math.isfinite(want):
        assert route is None
        return
    assert route is not None
    assert abs(route.time_s - want) <= TOL_S
    driven = float(np.sum((route.end - route.start) * g.time_s[route.edge]))
    assert abs(driven - want) <= TOL_S
    assert route.length_m == pytest.approx(
        float(np.sum((route.end - route.start) * g.length_m[route.edge]))
    )
    assert np.all(route.end > route.start)
    for a, b, end, start in zip(
        route.edge[:-1], route.edge[1:], route.end[:-1], route.start[1:], strict=True
    ):
        assert g.head[a] == g.tail[b] and end == 1.0 and start == 0.0
    if route.edge.shape[0] == 0:
        return
    for point, e, f in (
        (source, route.edge[0], route.start[0]),
        (target, route.edge[-1], route.end[-1]),
    ):
        if isinstance(point, EdgePoints):
            p_e, p_f = int(point.edge[0]), float(point.fraction[0])
            # the first and last pieces start and end at the point (unless it sits on a node)
            if e in (p_e, engine.twin[p_e]) and f not in (0.0, 1.0):
                assert f == pytest.approx(p_f if e == p_e else 1.0 - p_f)


# ---- random graphs ---------------------------------------------------------------------------


def random_graph(
    rng: np.random.Generator, n: int, m: int, p_zero: float, p_twoway: float
) -> RoadGraph:
    tails = rng.integers(0, n, m)
    heads = rng.integers(0, n, m)
    times = np.where(rng.random(m) < p_zero, 0.0, rng.uniform(0.0, 100.0, m))
    back = rng.random(m) < p_twoway  # these get the opposite direction too (a two-way road)
    back_times = np.where(
        rng.random(int(back.sum())) < p_zero, 0.0, rng.uniform(0.0, 100.0, int(back.sum()))
    )
    lon = 120.0 + rng.uniform(0.0, 0.05, n)
    lat = 30.0 + rng.uniform(0.0, 0.05, n)
    return from_edges(
        lon,
        lat,
        np.concatenate([tails, heads[back]]),
        np.concatenate([heads, tails[back]]),
        np.concatenate([times, back_times]),
    )


def random_locations(
    rng: np.random.Generator, graph: RoadGraph, count: int, as_points: bool
) -> NDArray[np.int64] | EdgePoints:
    if not as_points:
        return rng.integers(0, graph.n_nodes, count)
    edge = rng.integers(0, graph.n_edges, count)
    edge[rng.random(count) < 0.1] = -1  # a point that could not be snapped
    fraction = rng.random(count)
    ends = rng.random(count)
    fraction[ends < 0.15] = 0.0
    fraction[ends > 0.85] = 1.0
    if count > 1:  # two points on the same edge, to exercise the direct path along it
        edge[1], fraction[1] = edge[0], float(rng.random())
    return EdgePoints(edge, fraction)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 14),
    m=st.integers(1, 30),
    p_zero=st.sampled_from([0.0, 0.3]),
    p_twoway=st.sampled_from([0.0, 0.5, 1.0]),
    src_points=st.booleans(),
    tgt_points=st.booleans(),
    use_ch=st.booleans(),
)
def test_every_query_matches_scipy_on_random_graphs(
    seed: int,
    n: int,
    m: int,
    p_zero: float,
    p_twoway: float,
    src_points: bool,
    tgt_points: bool,
    use_ch: bool,
) -> None:
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, n, m, p_zero, p_twoway)
    # "auto" builds the contraction hierarchy (small graph): the CH paths; None: plain Dijkstra
    engine = Engine(graph, threads=2, hierarchy="auto" if use_ch else None)
    assert (engine.hierarchy is not None) == use_ch
    sources = random_locations(rng, graph, int(rng.integers(1, 6)), src_points)
    targets = random_locations(rng, graph, int(rng.integers(1, 8)), tgt_points)
    ref = reference(graph, engine.twin, sources, targets)
    a = ref.matrix()
    full = dijkstra(a, indices=ref.ids[0])  # (sources, all reference nodes)
    times = full[:, ref.ids[1]]
    cutoff = safe_cutoff(times, rng)
    n_src = times.shape[0]

    for i in range(n_src):
        src = sources[i] if isinstance(sources, EdgePoints) else int(sources[i])
        tgt0 = targets[0] if isinstance(targets, EdgePoints) else int(targets[0])
        check_route(engine, src, tgt0, float(times[i, 0]))
        assert_times(engine.one_to_many(src, targets), times[i])
        assert_times(engine.one_to_many(src, targets, cutoff_s=cutoff), over(times[i], cutoff))
        k = int(rng.integers(0, 5))
        check_k_nearest(
            *engine.k_nearest(src, targets, k, cutoff_s=cutoff), over(times[i], cutoff), k
        )
        dist = engine.distances_from(src, cutoff_s=cutoff)
        assert_times(dist, over(full[i, : graph.n_nodes], cutoff))
        nodes, near = engine.reachable_from(src, cutoff_s=cutoff)
        assert np.unique(nodes).shape == nodes.shape
        dense = np.full(graph.n_nodes, np.inf)
        dense[nodes] = near
        assert_times(dense, dist)
    for j in range(times.shape[1]):
        tgt = targets[j] if isinstance(targets, EdgePoints) else int(targets[j])
        assert_times(engine.many_to_one(sources, tgt, cutoff_s=cutoff), over(times[:, j], cutoff))
        k = int(rng.integers(0, 5))
        check_k_nearest(*engine.k_nearest_sources(tgt, sources, k), times[:, j], k)
    rev = dijkstra(a.T.tocsr(), indices=ref.ids[1])[:, : graph.n_nodes]
    for j in range(times.shape[1]):
        tgt = targets[j] if isinstance(targets, EdgePoints) else int(targets[j])
        assert_times(engine.distances_to(tgt), rev[j])

    pairs = engine.many_to_many(sources, targets, cutoff_s=cutoff, threads=2)
    assert_times(pairs.to_dense(), over(times, cutoff))
    assert pairs.to_coo().nnz == len(pairs)
    if use_ch:  # both ways of the hierarchy, whichever the estimate picked
        methods: tuple[Literal["buckets", "rphast"], ...] = ("buckets", "rphast")
        for method in methods:
            engine.m2m_method = method
            forced = engine.many_to_many(sources, targets, cutoff_s=cutoff, threads=2)
            assert_times(forced.to_dense(), over(times, cutoff))
            assert forced.to_coo().nnz == len(forced)
        engine.m2m_method = "auto"

    nearest, near_time = engine.multi_source_nearest(sources, cutoff_s=cutoff)
    want = over(full[:, : graph.n_nodes].min(axis=0), cutoff)
    assert_times(near_time, want)
    reached = np.isfinite(want)
    np.testing.assert_array_equal(nearest >= 0, reached)
    picked = full[nearest[reached], np.flatnonzero(reached)]
    assert np.abs(picked - near_time[reached]).max(initial=0.0) <= TOL_S


# ---- hand cases ------------------------------------------------------------------------------


def line_graph() -> RoadGraph:
    """0 <-> 1 -> 2 (one-way), 2 <-> 3; times 10, 20, 30 s; 1 -> 0 takes 12 s."""
    lon = [120.0, 120.001, 120.002, 120.003]
    lat = [30.0, 30.0, 30.0, 30.0]
    return from_edges(lon, lat, [0, 1, 1, 2, 3], [1, 0, 2, 3, 2], [10.0, 12.0, 20.0, 30.0, 30.0])


def test_twins_pair_the_two_directions_of_a_road() -> None:
    g = line_graph()
    twin = edge_twins(g)
    pairs = {
        (int(g.tail[e]), int(g.head[e])): (int(g.tail[t]), int(g.head[t])) if t >= 0 else None
        for e, t in enumerate(twin.tolist())
    }
    assert pairs == {(0, 1): (1, 0), (1, 0): (0, 1), (1, 2): None, (2, 3): (3, 2), (3, 2): (2, 3)}


def test_points_use_both_directions_of_a_two_way_road_and_respect_one_ways() -> None:
    g = line_graph()
    engine = Engine(g)
    e01 = int(np.flatnonzero((g.tail == 0) & (g.head == 1))[0])
    e12 = int(np.flatnonzero((g.tail == 1) & (g.head == 2))[0])
    on_01 = EdgePoints([e01], [0.25])  # 2.5 s from node 0, 7.5 s to node 1; back via 1->0
    assert_times(engine.one_to_many(on_01, [0, 1, 2]), np.array([0.25 * 12.0, 7.5, 27.5]))
    on_12 = EdgePoints([e12], [0.5])  # one-way: cannot go back to node 1 along it
    assert_times(engine.one_to_many(on_12, [1, 2, 3]), np.array([np.inf, 10.0, 40.0]))
    assert_times(engine.many_to_one([0, 1, 2], on_12), np.array([20.0, 10.0, np.inf]))
    # Direct along the road: forward 0.25 -> 0.75 on 0->1, backward on the twin 1->0.
    both = EdgePoints([e01, e01], [0.75, 0.25])
    assert_times(engine.one_to_many(on_01, both), np.array([5.0, 0.0]))
    assert_times(engine.one_to_many(both[0], on_01), np.array([0.5 * 12.0]))
    nowhere = EdgePoints([-1], [0.0])
    assert_times(engine.one_to_many(nowhere, [0, 1]), np.array([np.inf, np.inf]))
    assert_times(engine.one_to_many(0, nowhere), np.array([np.inf]))


def test_invalid_arguments_are_reported() -> None:
    engine = Engine(line_graph())
    with pytest.raises(InvalidInput):
        engine.one_to_many(7, [0])
    with pytest.raises(InvalidInput):
        engine.one_to_many(0, [0, 4])
    with pytest.raises(InvalidInput):
        engine.one_to_many(0, [1], cutoff_s=-1.0)
    with pytest.raises(InvalidInput):
        engine.k_nearest(0, [1], -1)
    with pytest.raises(InvalidInput):
        engine.one_to_many(EdgePoints([0, 1], [0.5, 0.5]), [1])
    with pytest.raises(InvalidInput):
        engine.one_to_many(EdgePoints([99], [0.5]), [1])
    with pytest.raises(InvalidInput):
        EdgePoints([0], [math.nan])


def test_many_to_many_keeps_one_pair_per_target_on_the_sweep() -> None:
    # Two targets (a third of the nodes or more: the hierarchy's PHAST sweep): a point on a
    # two-way road, which is reached by two entries, and a point off the roads, which has
    # none, so that the entries are as many as the targets.
    engine = Engine(line_graph())
    targets = EdgePoints([0, -1], [0.5, 0.0])
    pairs = engine.many_to_many([0, 1], targets, cutoff_s=1e6)
    assert len(set(zip(pairs.source.tolist(), pairs.target.tolist(), strict=True))) == len(pairs)
    for i, source in enumerate((0, 1)):
        assert_times(pairs.to_dense()[i], engine.one_to_many(source, targets))


def test_workspace_stamps_wrap_around_safely() -> None:
    engine = Engine(line_graph())
    first = engine.one_to_many(0, [1, 2, 3])
    engine._pool[0].stamp = _STAMP_LIMIT - 3
    engine._pool[0].tstamp = _STAMP_LIMIT - 1
    assert_times(engine.one_to_many(3, [0, 1, 2]), np.array([np.inf, np.inf, 30.0]))
    assert_times(engine.one_to_many(0, [1, 2, 3]), first)
    assert engine._pool[0].stamp < 100


# ---- larger networks -------------------------------------------------------------------------


def light_edge_graph(fan: int = 40, chain: int = 60) -> RoadGraph:
    """Edges far lighter than the bucket width, so that one bucket holds a whole search that
    must correct its own labels.

    One 10,000 s edge raises the width to ~0.15 s while every other edge takes milliseconds.
    The source fans out to ``fan`` nodes, each joined to a hub; the paths through the fan get
    shorter in the order a last-in-first-out bucket takes them, so the hub's label improves
    ``fan`` times, and each time the ``chain`` of nodes behind it is labelled anew: more
    entries than the graph has edges.
    """
    hub, first_link = fan + 1, fan + 2
    far = first_link + chain
    tails = [0] * fan + list(range(1, fan + 1)) + [hub] + list(range(first_link, far))
    heads = list(range(1, fan + 1)) + [hub] * fan + list(range(first_link, far + 1))
    times = (
        [1e-4 * i for i in range(1, fan + 1)]
        + [1e-3 * i for i in range(1, fan + 1)]
        + [1e-3] * chain
        + [10_000.0]
    )
    n = far + 1
    return from_edges(np.linspace(120.0, 120.1, n), np.full(n, 30.0), tails, heads, times)


def test_bounded_searches_correct_labels_within_a_bucket() -> None:
    graph = light_edge_graph()
    engine = Engine(graph, hierarchy=None)
    want = dijkstra(
        csr_matrix((graph.time_s, graph.head, graph.indptr), shape=(graph.n_nodes, graph.n_nodes)),
        indices=0,
    )
    width, _ = engine._bucket_width
    assert width > 0.11  # the fan, the hub and the chain (under 0.11 s) share a bucket
    for cutoff in (math.inf, 20_000.0, 1.0, 0.05):
        nodes, times = engine.reachable_from(0, cutoff_s=cutoff)
        assert np.unique(nodes).shape == nodes.shape
        dense = np.full(graph.n_nodes, np.inf)
        dense[nodes] = times
        assert_times(dense, over(want, cutoff))
        pairs = engine.many_to_many([0], np.arange(graph.n_nodes), cutoff_s=cutoff)
        assert_times(pairs.to_dense()[0], over(want, cutoff))
    # the entry arrays grew past their first size (edges + 1024) instead of failing
    assert engine._pool[0].heap_key.shape[0] > graph.n_edges + 1024


@cache
def demo_graph() -> RoadGraph:
    from fangkong.network.osm import graph_from_osm

    built = graph_from_osm(DEMO_PBF)
    return built[0] if isinstance(built, tuple) else built


@cache
def small_city() -> RoadGraph:
    return grid_city(10_000, seed=7)


def test_grid_city_is_strongly_connected_and_road_like() -> None:
    g = small_city()
    assert 9_000 < g.n_nodes <= 10_000
    a = csr_matrix((g.time_s, g.head, g.indptr), shape=(g.n_nodes, g.n_nodes))
    assert np.isfinite(dijkstra(a, indices=0)).all()
    assert np.isfinite(dijkstra(a.T.tocsr(), indices=0)).all()
    assert set(np.unique(g.road_class).tolist()) == {0, 1, 2}
    twin = edge_twins(g)
    assert 0 < (twin < 0).sum() < 0.2 * g.n_edges  # some one-way streets
    assert 80 < np.median(g.length_m) < 120
    again = grid_city(10_000, seed=7)
    np.testing.assert_array_equal(again.time_s, g.time_s)


def test_demo_network_matches_networkx() -> None:
    g = demo_graph()
    engine = Engine(g)
    rng = np.random.default_rng(3)
    snapper = Snapper(g, twin=engine.twin)
    lon = rng.uniform(g.lon.min(), g.lon.max(), 40)
    lat = rng.uniform(g.lat.min(), g.lat.max(), 40)
    points = snapper.snap(lon, lat, max_distance_m=300.0).points
    nodes = rng.integers(0, g.n_nodes, 30)
    ref = reference(g, engine.twin, points, nodes)
    graph_nx = ref.networkx()
    for i in range(8):
        want = nx.single_source_dijkstra_path_length(graph_nx, int(ref.ids[1][i]))
        dist = np.full(ref.n, np.inf)
        dist[list(want)] = list(want.values())
        assert_times(engine.distances_from(int(nodes[i])), dist[: g.n_nodes])
        assert_times(engine.one_to_many(int(nodes[i]), points), dist[ref.ids[0]])
        check_k_nearest(*engine.k_nearest(int(nodes[i]), points, 5), dist[ref.ids[0]], 5)
    for i in range(8):
        if points.edge[i] < 0:
            continue
        want = nx.single_source_dijkstra_path_length(graph_nx, int(ref.ids[0][i]))
        dist = np.full(ref.n, np.inf)
        dist[list(want)] = list(want.values())
        assert_times(engine.one_to_many(points[i], points), dist[ref.ids[0]])
        assert_times(
            engine.one_to_many(points[i], nodes, cutoff_s=300.0), over(dist[ref.ids[1]], 300.0)
        )
    a = ref.matrix()
    full = dijkstra(a, indices=ref.ids[0])
    pairs = engine.many_to_many(points, nodes, cutoff_s=600.0)
    assert_times(pairs.to_dense(), over(full[:, ref.ids[1]], 600.0))
    _, near = engine.multi_source_nearest(points)
    assert_times(near, full[:, : g.n_nodes].min(axis=0))


def test_k_nearest_stops_as_soon_as_it_has_k() -> None:
    g = grid_city(40_000, seed=2)
    engine = Engine(g, hierarchy=None)  # the plain Dijkstra path
    rng = np.random.default_rng(0)
    source = g.n_nodes // 2 + 100
    targets = rng.integers(0, g.n_nodes, 300)
    idx, times = engine.k_nearest(source, targets, 3)
    settled = engine.last_settled
    assert idx.shape[0] == 3
    assert settled < g.n_nodes / 10
    a = csr_matrix((g.time_s, g.head, g.indptr), shape=(g.n_nodes, g.n_nodes))
    check_k_nearest(idx, times, dijkstra(a, indices=source)[targets], 3)
    engine.one_to_many(source, targets)
    assert engine.last_settled > 5 * settled  # all 300 need far more of the network


def test_concurrent_queries_give_the_serial_answers() -> None:
    g = small_city()
    engine = Engine(g)
    rng = np.random.default_rng(5)
    targets = rng.integers(0, g.n_nodes, 100)
    sources = rng.integers(0, g.n_nodes, 40).tolist()
    serial = [engine.k_nearest(s, targets, 4) for s in sources]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda s: engine.k_nearest(s, targets, 4), sources))
    for (i1, t1), (i2, t2) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(np.sort(i1), np.sort(i2))
    pairs = engine.many_to_many(sources, targets, cutoff_s=400.0, threads=3)
    one = engine.many_to_many(sources, targets, cutoff_s=400.0, threads=1)
    np.testing.assert_array_equal(pairs.source, one.source)
    assert_times(pairs.to_dense(), one.to_dense())


@pytest.mark.parametrize("method", ["auto", "buckets", "rphast"])
def test_many_to_many_on_the_hierarchy_matches_scipy_and_the_plain_path(
    method: Literal["auto", "buckets", "rphast"],
) -> None:
    g = small_city()
    rng = np.random.default_rng(11)
    # enough targets that their buckets are searched in runs on several threads; sources in
    # several blocks of several sweeps, the last one partial
    targets = rng.choice(g.n_nodes, 1500, replace=False)
    sources = rng.integers(0, g.n_nodes, 203)
    want = dijkstra(
        csr_matrix((g.time_s, g.head, g.indptr), shape=(g.n_nodes, g.n_nodes)),
        indices=sources,
        limit=300.0,
    )[:, targets]
    engine = Engine(g, hierarchy="auto", threads=3)
    engine.m2m_method = method
    on_ch = engine.many_to_many(sources, targets, cutoff_s=300.0)
    plain = Engine(g, hierarchy=None).many_to_many(sources, targets, cutoff_s=300.0)
    assert len(on_ch) == len(plain) == int(np.isfinite(want).sum()) > 1000
    assert_times(on_ch.to_dense(), want)
    assert_times(plain.to_dense(), want)
    np.testing.assert_array_equal(np.diff(on_ch.source) >= 0, True)  # grouped by source
    one = engine.many_to_many(sources, targets, cutoff_s=300.0, threads=1)
    assert_times(one.to_dense(), want)


def test_sweeps_reuse_their_rows_across_calls() -> None:
    # One workspace for every call: rows left live by a wide cutoff must not leak into a
    # narrow one, nor a layout restricted for one target set into another's.
    g = small_city()
    rng = np.random.default_rng(8)
    a = csr_matrix((g.time_s, g.head, g.indptr), shape=(g.n_nodes, g.n_nodes))
    engine = Engine(g, hierarchy="auto", threads=1)
    engine.m2m_method = "rphast"
    sources = rng.choice(g.n_nodes, 21, replace=False)
    full = dijkstra(a, indices=sources)
    for cutoff, n_targets in ((1e9, 800), (60.0, 800), (400.0, 50), (30.0, 3000), (1e9, 7)):
        targets = rng.choice(g.n_nodes, n_targets, replace=False)
        pairs = engine.many_to_many(sources, targets, cutoff_s=cutoff)
        assert engine.last_m2m_method == "rphast"
        assert_times(pairs.to_dense(), over(full[:, targets], cutoff))


@pytest.mark.parametrize("method", ["buckets", "rphast"])
def test_many_to_many_between_points_on_the_hierarchy(
    method: Literal["buckets", "rphast"],
) -> None:
    # points on edges on both sides, some on the same roads (joined along them), one off the
    # roads; targets with two entries each, so that an item keeps the best of them
    g = small_city()
    rng = np.random.default_rng(5)
    edges = rng.integers(0, g.n_edges, 40)
    sources = EdgePoints(
        np.concatenate([edges[:20], [-1]]), np.concatenate([rng.random(20), [0.0]])
    )
    targets = EdgePoints(np.concatenate([edges[10:40], [-1]]), rng.random(31))
    engine = Engine(g, hierarchy="auto")
    engine.m2m_method = method
    plain = Engine(g, hierarchy=None)
    for cutoff in (120.0, 900.0):
        got = engine.many_to_many(sources, targets, cutoff_s=cutoff)
        want = plain.many_to_many(sources, targets, cutoff_s=cutoff)
        assert len(got) == len(want) > 0
        assert_times(got.to_dense(), want.to_dense())
        assert len(set(zip(got.source.tolist(), got.target.tolist(), strict=True))) == len(got)


# ---- isochrones ------------------------------------------------------------------------------


def test_isochrone_rings_are_nested_and_cover_the_reachable_pieces() -> None:
    g = small_city()
    engine = Engine(g)
    source = g.n_nodes // 2 + 50
    rings = isochrone(engine, source, (150, 60, 100))
    project = local_projector(float(g.lon[source]), float(g.lat[source]))
    assert [r.threshold_s for r in rings] == [60.0, 100.0, 150.0]
    dist = engine.distances_from(source)
    for ring in rings:
        t = ring.threshold_s
        # every piece starts at a reached tail and ends where the time runs out
        d_tail = dist[g.tail[ring.edge]]
        assert (d_tail <= t).all()
        reach = d_tail + ring.end * g.time_s[ring.edge]
        partial = ring.end < 1.0
        assert np.abs(reach[partial] - t).max(initial=0.0) <= 1e-6
        assert (reach[~partial] <= t + 1e-9).all()
        # and no edge reached in time is missing
        should = np.flatnonzero((dist[g.tail] < t) & (g.time_s > 0))
        assert np.isin(should, ring.edge).all()
        # the polygon covers the pieces
        pieces = shapely.union_all(piece_geometries(engine, ring))
        assert ring.polygon.buffer(1e-7).covers(pieces)
        assert ring.polygon.is_valid
        # and is the pieces buffered by 50 m, to about a raster cell along its boundary
        exact = shapely.transform(pieces, project).buffer(ring.buffer_m)
        traced = shapely.transform(ring.polygon, project)
        assert traced.symmetric_difference(exact).area < 5.0 * exact.length  # 2.3 m measured
    for inner, outer in itertools.pairwise(rings):
        assert set(inner.edge.tolist()) <= set(outer.edge.tolist())
        assert inner.polygon.difference(outer.polygon).area < 1e-12
        assert outer.polygon.area > inner.polygon.area
    bare = isochrone(engine, source, (60, 100, 150), polygons=False)
    for ring, plain in zip(rings, bare, strict=True):
        np.testing.assert_array_equal(np.sort(ring.edge), np.sort(plain.edge))
        assert plain.polygon.is_empty
    feature = rings[0].feature()
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["threshold_s"] == 60.0


def test_isochrone_from_a_point_starts_on_its_own_road() -> None:
    g = small_city()
    engine = Engine(g)
    snapper = Snapper(g, twin=engine.twin)
    lon = float(g.lon[g.n_nodes // 2] + g.lon[g.n_nodes // 2 + 1]) / 2.0
    lat = float(g.lat[g.n_nodes // 2] + g.lat[g.n_nodes // 2 + 1]) / 2.0
    rings = isochrone_at(engine, snapper, lon, lat, (10.0, 120.0))
    snapped = snapper.snap([lon], [lat])
    e, f = int(snapped.edge[0]), float(snapped.fraction[0])
    first = rings[0]
    own = first.edge == e
    assert own.any()
    assert np.isclose(first.start[own], f).any()
    assert first.polygon.buffer(1e-7).covers(
        shapely.Point(float(snapped.lon[0]), float(snapped.lat[0]))
    )
    assert set(first.edge.tolist()) <= set(rings[1].edge.tolist())
    with pytest.raises(InvalidInput):
        isochrone_at(engine, snapper, lon + 1.0, lat)
