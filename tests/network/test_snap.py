"""Snapping points to the nearest road edge: hand cases and a brute-force check."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from fangkong.areas.geometry import local_projector
from fangkong.core.errors import InvalidInput
from fangkong.network.engine import Engine
from fangkong.network.graph import RoadGraph, from_edges, haversine_m
from fangkong.network.snap import Snapper, unproject
from fangkong.network.synthetic import grid_city

# About 111.2 km per degree of latitude: 0.0009° ≈ 100 m.
DEG_100M = 100.0 / 111_195.0


def two_roads() -> RoadGraph:
    """A two-way road 0-1 along lat 30 (~963 m; 60 s eastward, 70 s back) and a one-way
    L-shaped road 2->3 north of it, going ~963 m east then ~1112 m north."""
    lon = [120.0, 120.01, 120.0, 120.01]
    lat = [30.0, 30.0, 30.01, 30.02]
    shapes = [
        np.array([[120.0, 30.0], [120.01, 30.0]]),
        np.array([[120.01, 30.0], [120.0, 30.0]]),
        np.array([[120.0, 30.01], [120.01, 30.01], [120.01, 30.02]]),
    ]
    return from_edges(lon, lat, [0, 1, 2], [1, 0, 3], [60.0, 70.0, 100.0], shapes=shapes)


def _points_around(
    g: RoadGraph, n: int, *, margin_deg: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random points over the graph's bounding box widened by ``margin_deg``."""
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(g.lon.min() - margin_deg, g.lon.max() + margin_deg, n),
        rng.uniform(g.lat.min() - margin_deg, g.lat.max() + margin_deg, n),
    )


def test_a_point_beside_a_two_way_road_snaps_to_its_lower_edge() -> None:
    g = two_roads()
    snapper = Snapper(g)
    # 100 m north and 100 m south of the middle of road 0-1: same edge, same fraction
    result = snapper.snap([120.005, 120.005], [30.0 + DEG_100M, 30.0 - DEG_100M])
    forward = int(np.flatnonzero((g.tail == 0) & (g.head == 1))[0])
    backward = int(np.flatnonzero((g.tail == 1) & (g.head == 0))[0])
    assert result.edge.tolist() == [min(forward, backward)] * 2
    along = result.fraction if forward < backward else 1.0 - result.fraction
    np.testing.assert_allclose(along, 0.5, atol=1e-3)
    np.testing.assert_allclose(result.distance_m, 100.0, rtol=5e-3)
    edge_time = g.time_s[result.edge]
    np.testing.assert_allclose(result.tail_offset_s, result.fraction * edge_time)
    np.testing.assert_allclose(result.head_offset_s, (1.0 - result.fraction) * edge_time)
    np.testing.assert_allclose(result.lat, 30.0, atol=1e-9)
    np.testing.assert_allclose(result.lon, 120.005, atol=1e-5)
    assert not result.too_far.any()
    # the engine uses both directions from the snapped point
    engine = Engine(g)
    times = engine.one_to_many(result.points[0], [0, 1])
    np.testing.assert_allclose(times, [35.0, 30.0], rtol=1e-2)


def test_points_beyond_the_maximum_distance_are_reported() -> None:
    g = two_roads()
    snapper = Snapper(g, max_distance_m=200.0)
    result = snapper.snap([120.005, 120.005, 121.0], [30.0 + DEG_100M, 30.0 - 3 * DEG_100M, 30.0])
    assert result.too_far.tolist() == [False, True, True]
    assert result.edge.tolist()[1:] == [-1, -1]
    assert np.isinf(result.distance_m[1:]).all()
    assert np.isnan(result.lon[1:]).all()
    assert len(result) == 3
    # a wider radius for one call finds the second point
    wider = snapper.snap([120.005], [30.0 - 3 * DEG_100M], max_distance_m=400.0)
    assert not wider.too_far[0]
    # too-far points are unreachable for the engine, not an error
    engine = Engine(g)
    times = engine.one_to_many(0, result.points)
    assert np.isfinite(times[0]) and np.isinf(times[1:]).all()


def test_a_one_way_edge_measures_its_fraction_by_length_along_its_shape() -> None:
    g = two_roads()
    snapper = Snapper(g)
    e = int(np.flatnonzero(g.tail == 2)[0])
    # 20 m east of the vertical leg, halfway up it
    result = snapper.snap([120.01 + 0.0002], [30.015])
    assert int(result.edge[0]) == e
    project = local_projector(snapper.lon0, snapper.lat0)
    line = shapely.LineString(project(g.edge_shape(e)))
    corner = shapely.Point(project(np.array([[120.01, 30.01]]))[0])
    expected = (line.project(corner) + 0.5 * (line.length - line.project(corner))) / line.length
    assert result.fraction[0] == pytest.approx(expected, abs=1e-3)
    np.testing.assert_allclose(result.tail_offset_s, result.fraction * 100.0)
    # past the far end: clamped to the head
    end = snapper.snap([120.01], [30.02 + DEG_100M])
    assert end.fraction[0] == pytest.approx(1.0)
    assert end.head_offset_s[0] == pytest.approx(0.0)


def test_snapping_agrees_with_brute_force_on_a_city() -> None:
    g = grid_city(2_500, seed=4)
    snapper = Snapper(g)
    lon, lat = _points_around(g, 300, margin_deg=0.002, seed=9)
    result = snapper.snap(lon, lat, max_distance_m=150.0)
    project = snapper.project
    lines = [shapely.LineString(project(g.edge_shape(e))) for e in range(g.n_edges)]
    points = shapely.points(project(np.column_stack([lon, lat])))
    distances = shapely.distance(points[:, None], np.asarray(lines, dtype=object)[None, :])
    best = distances.min(axis=1)
    far = best > 150.0
    np.testing.assert_array_equal(result.too_far, far)
    np.testing.assert_allclose(result.distance_m[~far], best[~far], atol=1e-6)
    # the snapped position is on the chosen edge and that far from the point
    ok = ~far
    chosen = distances[np.flatnonzero(ok), result.edge[ok]]
    np.testing.assert_allclose(chosen, best[ok], atol=1e-6)
    snapped_xy = project(np.column_stack([result.lon[ok], result.lat[ok]]))
    gap = haversine_m(lon[ok], lat[ok], result.lon[ok], result.lat[ok])
    np.testing.assert_allclose(gap, best[ok], rtol=1e-2, atol=0.05)
    assert snapped_xy.shape[0] == int(ok.sum())


def test_unproject_inverts_the_local_projection() -> None:
    project = local_projector(120.3, 30.2)
    ll = np.array([[120.0, 30.0], [120.5, 30.4], [120.3, 30.2]])
    np.testing.assert_allclose(unproject(project(ll), 120.3, 30.2), ll, atol=1e-12)


def test_nearest_points_are_the_snapped_positions() -> None:
    g = grid_city(2_500, seed=4)
    snapper = Snapper(g)
    lon, lat = _points_around(g, 500, margin_deg=0.003, seed=11)
    snapped = snapper.snap(lon, lat, max_distance_m=120.0)
    nearest = snapper.nearest_points(lon, lat, max_distance_m=120.0)
    assert snapped.too_far.any() and not snapped.too_far.all()  # both kinds of row
    np.testing.assert_array_equal(np.isinf(nearest.distance_m), snapped.too_far)
    np.testing.assert_array_equal(np.isnan(nearest.lon), snapped.too_far)
    np.testing.assert_array_equal(nearest.distance_m, snapped.distance_m)
    np.testing.assert_allclose(nearest.lon, snapped.lon, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(nearest.lat, snapped.lat, atol=1e-9, equal_nan=True)
    # nothing in reach, and no points at all
    none = snapper.nearest_points([0.0], [0.0])
    assert np.isnan(none.lon[0]) and np.isinf(none.distance_m[0])
    assert snapper.nearest_points([], []).lon.shape == (0,)
    with pytest.raises(InvalidInput, match="NaN"):
        snapper.nearest_points([np.nan], [30.0])


def test_snapping_thousands_of_points_in_one_call() -> None:
    # Its speed is measured by benchmarks/network_queries.py, not here.
    g = grid_city(40_000, seed=1)
    snapper = Snapper(g)
    lon, lat = _points_around(g, 20_000, margin_deg=0.0, seed=2)
    result = snapper.snap(lon, lat)
    assert len(result) == 20_000 and not result.too_far.any()
    assert ((result.fraction >= 0.0) & (result.fraction <= 1.0)).all()
    gap = haversine_m(lon, lat, result.lon, result.lat)
    np.testing.assert_allclose(gap, result.distance_m, rtol=1e-2, atol=0.05)


def test_bad_input_is_reported() -> None:
    snapper = Snapper(two_roads())
    with pytest.raises(InvalidInput):
        snapper.snap([120.0, 120.1], [30.0])
    with pytest.raises(InvalidInput):
        snapper.snap([np.nan], [30.0])
    with pytest.raises(InvalidInput):
        snapper.snap([120.0], [30.0], max_distance_m=-1.0)
