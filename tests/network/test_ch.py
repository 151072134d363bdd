"""The contraction hierarchy paths of the engine against plain Dijkstra (scipy) and against the
engine's own plain path: k-nearest with buckets, PHAST multi-source, the on-disk cache.

Random graphs with one-ways, zero times, parallel edges and self-loops are covered by the
hypothesis test of ``test_engine.py``, which draws the CH or the plain path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fangkong.core.errors import InvalidInput
from fangkong.network.cache import hierarchy_path, load_or_build_hierarchy
from fangkong.network.ch import ContractionHierarchy, build_hierarchy
from fangkong.network.engine import EdgePoints, Engine
from fangkong.network.graph import RoadGraph, from_edges
from fangkong.network.synthetic import grid_city
from network.network_helpers import TOL_S, check_k_nearest


def matrix(g: RoadGraph) -> csr_matrix:
    return csr_matrix((g.time_s, g.head, g.indptr), shape=(g.n_nodes, g.n_nodes))


@pytest.fixture(scope="module")
def city() -> tuple[RoadGraph, ContractionHierarchy]:
    g = grid_city(6_000, seed=3)
    return g, build_hierarchy(g)


def test_hierarchy_is_upward_and_keeps_every_distance(
    city: tuple[RoadGraph, ContractionHierarchy],
) -> None:
    g, h = city
    n = g.n_nodes
    np.testing.assert_array_equal(np.sort(h.rank), np.arange(n))
    np.testing.assert_array_equal(h.order[h.rank], np.arange(n))
    up_tail = np.repeat(np.arange(n), np.diff(h.up_ptr))
    down_head = np.repeat(np.arange(n), np.diff(h.down_ptr))
    assert np.all(h.up_head > up_tail)
    assert np.all(h.down_tail > down_head)
    # the CH as a plain graph (in rank ids) has the same distances as the road graph
    tails = np.concatenate([up_tail, h.down_tail])
    heads = np.concatenate([h.up_head, down_head])
    w = np.concatenate([h.up_w, h.down_w])
    a = csr_matrix((w, (tails, heads)), shape=(n, n))
    sources = np.array([0, n // 3, n - 1])
    np.testing.assert_allclose(
        dijkstra(a, indices=h.rank[sources])[:, h.rank],
        dijkstra(matrix(g), indices=sources),
        atol=TOL_S,
    )


def test_k_nearest_on_the_hierarchy_matches_scipy(
    city: tuple[RoadGraph, ContractionHierarchy],
) -> None:
    g, h = city
    engine = Engine(g, hierarchy=h)
    plain = Engine(g, hierarchy=None)
    rng = np.random.default_rng(11)
    targets = rng.choice(g.n_nodes, 60, replace=False)
    sources = rng.integers(0, g.n_nodes, 25)
    a = matrix(g)
    full = dijkstra(a, indices=sources)
    back = dijkstra(a.T.tocsr(), indices=sources)
    for i, s in enumerate(sources.tolist()):
        for k in (1, 5, 60, 100):
            check_k_nearest(*engine.k_nearest(s, targets, k), full[i, targets], k)
            check_k_nearest(*engine.k_nearest_sources(s, targets, k), back[i, targets], k)
        cutoff = float(np.median(full[i, targets]))
        ref = np.where(full[i, targets] <= cutoff, full[i, targets], np.inf)
        check_k_nearest(*engine.k_nearest(s, targets, 10, cutoff_s=cutoff), ref, 10)
        np.testing.assert_allclose(engine.one_to_many(s, targets), full[i, targets], atol=TOL_S)
        np.testing.assert_allclose(engine.many_to_one(targets, s), back[i, targets], atol=TOL_S)
        _, ct = engine.k_nearest(s, targets, 7)
        _, pt = plain.k_nearest(s, targets, 7)
        np.testing.assert_allclose(ct, pt, atol=TOL_S)
    # the buckets of the target set were built once and are reused
    assert engine.last_settled < g.n_nodes / 20


def test_k_nearest_from_points_at_edge_ends_and_inside(
    city: tuple[RoadGraph, ContractionHierarchy],
) -> None:
    g, h = city
    engine = Engine(g, hierarchy=h)
    plain = Engine(g, hierarchy=None)
    rng = np.random.default_rng(12)
    edges = rng.integers(0, g.n_edges, 40)
    fractions = rng.random(40)
    fractions[:10] = 0.0
    fractions[10:20] = 1.0
    edges[20] = -1  # no location
    edges[21], fractions[21] = edges[22], 0.5  # two points on one road
    points = EdgePoints(edges, fractions)
    for i in range(0, 40, 3):
        source = points[i]
        for k in (1, 4, 50):
            _, ct = engine.k_nearest(source, points, k)
            _, pt = plain.k_nearest(source, points, k)
            np.testing.assert_allclose(ct, pt, atol=TOL_S)
            _, ct = engine.k_nearest_sources(source, points, k)
            _, pt = plain.k_nearest_sources(source, points, k)
            np.testing.assert_allclose(ct, pt, atol=TOL_S)
        np.testing.assert_allclose(
            engine.one_to_many(source, points), plain.one_to_many(source, points), atol=TOL_S
        )


def test_ties_and_unreachable_targets() -> None:
    # a star: 0 -> 1..6 in 10 s each (ties), 7 and 8 unreachable from 0, 8 -> 0 one-way
    lon = 120.0 + np.arange(9) * 0.001
    lat = np.full(9, 30.0)
    tails = [0, 0, 0, 0, 0, 0, 8, 7]
    heads = [1, 2, 3, 4, 5, 6, 0, 8]
    times = [10.0, 10.0, 10.0, 10.0, 5.0, 0.0, 3.0, 4.0]
    g = from_edges(lon, lat, tails, heads, times)
    engine = Engine(g)
    assert engine.hierarchy is not None
    targets = np.array([1, 2, 3, 4, 5, 6, 7, 8])
    idx, t = engine.k_nearest(0, targets, 3)
    np.testing.assert_allclose(t, [0.0, 5.0, 10.0])
    assert targets[idx[0]] == 6 and targets[idx[1]] == 5 and targets[idx[2]] in (1, 2, 3, 4)
    idx, t = engine.k_nearest(0, targets, 20)  # k over what is reachable
    assert idx.shape[0] == 6
    np.testing.assert_allclose(t, [0.0, 5.0, 10.0, 10.0, 10.0, 10.0])
    idx, t = engine.k_nearest_sources(0, targets, 20)
    np.testing.assert_array_equal(np.sort(targets[idx]), [7, 8])
    np.testing.assert_allclose(t, [3.0, 7.0])
    idx, t = engine.k_nearest(0, targets, 0)
    assert idx.shape == t.shape == (0,)
    label, near = engine.multi_source_nearest([1, 0])
    np.testing.assert_allclose(near, [0, 0, 10, 10, 10, 5, 0, np.inf, np.inf])
    assert label[0] == 1 and label[1] == 0 and label[7] == -1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 40),
    cutoff=st.sampled_from([np.inf, 60.0, 200.0]),
)
def test_phast_multi_source_matches_scipy(seed: int, count: int, cutoff: float) -> None:
    g = grid_city(2_500, seed=seed % 7)
    engine = Engine(g)
    rng = np.random.default_rng(seed)
    sources = rng.choice(g.n_nodes, count, replace=False)
    label, near = engine.multi_source_nearest(sources, cutoff_s=cutoff)
    full = dijkstra(matrix(g), indices=sources)
    want = full.min(axis=0)
    want[want > cutoff] = np.inf
    np.testing.assert_array_equal(np.isinf(near), np.isinf(want))
    finite = np.isfinite(want)
    assert np.abs(near[finite] - want[finite]).max(initial=0.0) <= TOL_S
    np.testing.assert_array_equal(label >= 0, finite)
    picked = full[label[finite], np.flatnonzero(finite)]
    assert np.abs(picked - near[finite]).max(initial=0.0) <= TOL_S


def test_hierarchy_cache_round_trip(tmp_path: Path) -> None:
    g = grid_city(900, seed=4)
    h, hit = load_or_build_hierarchy(g, tmp_path)
    assert not hit
    again, hit = load_or_build_hierarchy(g, tmp_path)
    assert hit
    for name in ("rank", "up_ptr", "up_head", "up_w", "down_ptr", "down_tail", "down_w"):
        np.testing.assert_array_equal(getattr(again, name), getattr(h, name))
    path = hierarchy_path(tmp_path, again.meta["graph_key"])
    path.write_bytes(b"not a zip")
    rebuilt, hit = load_or_build_hierarchy(g, tmp_path)
    assert not hit and rebuilt.n_nodes == g.n_nodes
    # another graph (other times) gets its own entry
    other = grid_city(900, seed=5)
    _, hit = load_or_build_hierarchy(other, tmp_path)
    assert not hit


def test_a_hierarchy_of_another_graph_is_refused() -> None:
    h = build_hierarchy(grid_city(400, seed=1))
    with pytest.raises(InvalidInput):
        Engine(grid_city(900, seed=1), hierarchy=h)


def test_buckets_after_a_few_units_moved_reuse_the_others_search_spaces(
    city: tuple[RoadGraph, ContractionHierarchy],
) -> None:
    g, h = city
    engine = Engine(g, hierarchy=h)
    plain = Engine(g, hierarchy=None)
    rng = np.random.default_rng(13)
    units = EdgePoints(rng.integers(0, g.n_edges, 50), rng.random(50))
    incidents = rng.integers(0, g.n_nodes, 10).tolist()
    for step in range(4):
        for target in incidents:
            _, got = engine.k_nearest_sources(target, units, 5)
            _, want = plain.k_nearest_sources(target, units, 5)
            np.testing.assert_allclose(got, want, atol=TOL_S)
        known = len(engine._spaces[True])
        # two units move, and the fleet comes back in another order
        edge, fraction = units.edge.copy(), units.fraction.copy()
        edge[[step, 10 + step]] = rng.integers(0, g.n_edges, 2)
        fraction[[step, 10 + step]] = rng.random(2)
        order = rng.permutation(50)
        units = EdgePoints(edge[order], fraction[order])
        engine.k_nearest_sources(incidents[0], units, 5)
        assert len(engine._spaces[True]) <= known + 2


def test_all_times_by_phast_match_scipy(city: tuple[RoadGraph, ContractionHierarchy]) -> None:
    g, h = city
    engine = Engine(g, hierarchy=h)
    a = matrix(g)
    for node in (0, g.n_nodes // 2, g.n_nodes - 1):
        np.testing.assert_allclose(
            engine.distances_from(node), dijkstra(a, indices=node), atol=TOL_S
        )
        np.testing.assert_allclose(
            engine.distances_to(node), dijkstra(a.T.tocsr(), indices=node), atol=TOL_S
        )
    point = EdgePoints([3], [0.25])
    plain = Engine(g, hierarchy=None)
    np.testing.assert_allclose(
        engine.distances_from(point), plain.distances_from(point), atol=TOL_S
    )
    np.testing.assert_allclose(engine.distances_to(point), plain.distances_to(point), atol=TOL_S)
