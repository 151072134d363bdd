"""The walking graph: the driving roads at walking pace, one-way streets walked both ways."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from fangkong.core.errors import InvalidInput
from fangkong.network.engine import EdgePoints, Engine, edge_twins
from fangkong.network.graph import RoadGraph
from fangkong.network.modes import WALKING_SPEED_MS, walking_graph
from fangkong.network.synthetic import grid_city


def walked_both_ways(graph: RoadGraph, speed: float) -> coo_matrix:
    """The reference: every road edge in both directions at ``length / speed``."""
    n = graph.n_nodes
    rows = np.concatenate([graph.tail, graph.head])
    cols = np.concatenate([graph.head, graph.tail])
    times = np.tile(graph.length_m / speed, 2)
    best: dict[tuple[int, int], float] = {}
    for r, c, t in zip(rows.tolist(), cols.tolist(), times.tolist(), strict=True):
        best[(r, c)] = min(t, best.get((r, c), np.inf))
    keys = list(best)
    return coo_matrix(
        ([best[k] for k in keys], ([k[0] for k in keys], [k[1] for k in keys])), shape=(n, n)
    )


def test_walking_times_equal_every_road_walked_both_ways() -> None:
    graph = grid_city(3_000, seed=3)
    twin = edge_twins(graph)
    assert (twin < 0).any()  # the grid has one-way streets
    mode = walking_graph(graph, twin)
    walk = mode.graph
    assert walk.n_nodes == graph.n_nodes
    assert walk.n_edges == graph.n_edges + int((twin < 0).sum())
    # every driving edge kept its ends, length and shape under its new id
    e = mode.edge_of
    np.testing.assert_array_equal(walk.tail[e], graph.tail)
    np.testing.assert_array_equal(walk.head[e], graph.head)
    np.testing.assert_allclose(walk.time_s[e], graph.length_m / WALKING_SPEED_MS)
    for old in (0, int(np.flatnonzero(twin < 0)[0]), graph.n_edges - 1):
        np.testing.assert_array_equal(walk.edge_shape(int(e[old])), graph.edge_shape(old))
    # the reversed copies are the one-way edges' twins
    assert (edge_twins(walk) >= 0).all()

    engine = Engine(walk)
    want = dijkstra(walked_both_ways(graph, WALKING_SPEED_MS).tocsr(), indices=[0, 1234])
    for i, source in enumerate((0, 1234)):
        np.testing.assert_allclose(engine.distances_from(source), want[i], atol=1e-6)


def test_a_point_on_a_one_way_street_is_walked_to_from_both_ends() -> None:
    graph = grid_city(3_000, seed=3)
    twin = edge_twins(graph)
    mode = walking_graph(graph, twin, speed_ms=2.0)
    engine = Engine(mode.graph)
    road = int(np.flatnonzero(twin < 0)[0])
    point = mode.points(EdgePoints([road], [0.25]))
    length = float(graph.length_m[road])
    ref = dijkstra(
        walked_both_ways(graph, 2.0).tocsr(), indices=[int(graph.tail[road]), int(graph.head[road])]
    )
    # from a node far nearer the head, the way in is from the head, against the one-way
    start = int(np.argmax(ref[0] - ref[1]))
    from_head = ref[1][start] + 0.75 * length / 2.0
    assert from_head < ref[0][start] + 0.25 * length / 2.0
    (got,) = engine.many_to_one(np.array([start]), point)
    assert got == pytest.approx(from_head, abs=1e-6)
    # points off the network stay off it
    assert mode.points(EdgePoints([-1], [0.0])).edge.tolist() == [-1]


def test_walking_speed_must_be_positive() -> None:
    graph = grid_city(500, seed=1)
    with pytest.raises(InvalidInput, match="speed_ms"):
        walking_graph(graph, edge_twins(graph), speed_ms=0.0)
