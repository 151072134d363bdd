"""Beat areas (警格) and grids (网格): exact partitions of the real precincts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Point, Polygon, box

from fangkong.areas.geometry import area_m2
from fangkong.demo import osm
from fangkong.demo.build import RNG_SEED, county_layout
from fangkong.demo.tessellate import (
    generate_beats_and_grids,
    partition,
    plan_counts,
    road_points,
    seeds_along_roads,
)
from geodesy import oracle_area_m2, spikes

PBF = Path(osm.__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"
RTOL = 1e-9
# What the fusion check (fangkong.areas.service.fusion_check) must never see, in m² as measured
# by fangkong.areas.geometry.area_m2; the check's own tolerance is 1 m².
FUSION_TOLERANCE_M2 = 0.5


class Demo:
    """The real precincts and road points, read once for the module."""

    def __init__(self) -> None:
        boundaries = osm.read_boundaries(PBF)
        roads = osm.read_roads(PBF)
        self.precincts: dict[str, MultiPolygon] = {
            b.name: b.geometry for b in boundaries if b.admin_level == 8
        }
        self.points: NDArray[np.float64] = road_points([r.geometry for r in roads])
        self.vertices: NDArray[np.float64] = np.vstack(
            [np.asarray(r.geometry.coords) for r in roads]
        )
        self.areas = {n: area_m2(g) for n, g in self.precincts.items()}

    def counts(self, points: NDArray[np.float64]) -> dict[str, int]:
        return {
            n: int(shapely.contains_xy(g, points[:, 0], points[:, 1]).sum())
            for n, g in self.precincts.items()
        }


@pytest.fixture(scope="module")
def demo() -> Demo:
    return Demo()


@pytest.fixture(scope="module")
def county(demo: Demo) -> dict[str, list[tuple[MultiPolygon, list[MultiPolygon]]]]:
    plan = plan_counts(demo.areas, demo.counts(demo.points))
    return {
        name: generate_beats_and_grids(
            demo.precincts[name],
            demo.points,
            beats=plan[name][0],
            grids_per_beat=plan[name][1],
            rng_seed=100 + i,
        )
        for i, name in enumerate(sorted(demo.precincts))
    }


def assert_partition(whole: Polygon | MultiPolygon, parts: list[MultiPolygon]) -> None:
    """``parts`` cover ``whole`` exactly: no gap, no overlap beyond floating-point noise."""
    assert parts, "no parts"
    total = whole.area
    for part in parts:
        assert isinstance(part, MultiPolygon)
        assert not part.is_empty and part.is_valid
    union = shapely.union_all(parts)
    assert abs(union.area - total) <= RTOL * total
    assert union.symmetric_difference(whole).area <= RTOL * total
    assert abs(sum(p.area for p in parts) - total) <= RTOL * total
    tree = shapely.STRtree(parts)
    left, right = tree.query(parts, predicate="intersects")
    overlap = sum(
        parts[i].intersection(parts[j]).area for i, j in zip(left, right, strict=True) if i < j
    )
    assert overlap <= RTOL * total


def fusion_faults(
    label: str, whole: Polygon | MultiPolygon, parts: list[MultiPolygon]
) -> list[str]:
    """What the fusion check would report: gap, overhang and overlap over the tolerance, in m².

    These are measured like the check does: an overlay in lon/lat, then ``area_m2`` of the
    result. (When area_m2 mapped vertices to a curved projection, a sliver 1e-16° wide along a
    long straight edge measured tens of m²; it is exact now, and such a sliver ~1e-6 m².)
    """
    faults: list[str] = []
    gap = area_m2(whole.difference(shapely.union_all(parts)))
    if gap >= FUSION_TOLERANCE_M2:
        faults.append(f"{label}: gap {gap:.3f} m²")
    for k, part in enumerate(parts, start=1):
        outside = area_m2(part.difference(whole))
        if outside >= FUSION_TOLERANCE_M2:
            faults.append(f"{label}/{k}: {outside:.3f} m² outside")
    tree = shapely.STRtree(parts)
    left, right = tree.query(parts, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i < j:
            overlap = area_m2(parts[i].intersection(parts[j]))
            if overlap >= FUSION_TOLERANCE_M2:
                faults.append(f"{label}/{i + 1}+{j + 1}: overlap {overlap:.3f} m²")
    return faults


# --- area_m2 ------------------------------------------------------------------------------


def _ellipsoid_cell_m2(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Exact area of a lon/lat rectangle on the WGS-84 ellipsoid."""
    a, e2 = 6_378_137.0, 6.694_379_990_14e-3
    e = math.sqrt(e2)

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - e2 * s * s) - math.log((1 - e * s) / (1 + e * s)) / (2 * e)

    return math.radians(lon2 - lon1) * a * a * (1 - e2) / 2 * (q(lat2) - q(lat1))


@pytest.mark.parametrize(("lat", "size"), [(0.0, 0.1), (47.1, 0.1), (47.1, 0.3), (60.0, 0.2)])
def test_area_m2_matches_the_ellipsoid(lat: float, size: float) -> None:
    cell = box(9.5, lat, 9.5 + size, lat + size)
    exact = _ellipsoid_cell_m2(9.5, lat, 9.5 + size, lat + size)
    assert area_m2(cell) == pytest.approx(exact, rel=2e-5)


def test_area_m2_edge_cases() -> None:
    assert area_m2(Polygon()) == 0.0
    assert area_m2(Point(9.5, 47.1)) == 0.0
    assert area_m2(box(9.5, 47.1, 9.6, 47.2).boundary) == 0.0
    square = box(9.5, 47.1, 9.51, 47.11)
    assert area_m2(MultiPolygon([square])) == pytest.approx(area_m2(square), rel=1e-12)


# --- partition on synthetic shapes ---------------------------------------------------------


def test_partition_of_a_square() -> None:
    square = box(9.50, 47.10, 9.52, 47.12)
    rng = np.random.default_rng(1)
    seeds = np.column_stack((rng.uniform(9.50, 9.52, 12), rng.uniform(47.10, 47.12, 12)))
    parts = partition(square, seeds, min_part_m2=0)
    assert len(parts) == 12
    assert_partition(square, parts)
    for seed, part in zip(seeds, parts, strict=True):  # cells come back in seed order
        assert part.contains(Point(*seed))


def test_partition_degenerate_seeds() -> None:
    square = box(9.50, 47.10, 9.52, 47.12)
    assert partition(square, [[9.51, 47.11]]) == [MultiPolygon([square])]
    repeated = partition(square, [[9.505, 47.11], [9.515, 47.11], [9.505, 47.11]])
    assert len(repeated) == 2
    assert_partition(square, repeated)
    collinear = partition(square, [[9.505, 47.11], [9.51, 47.11], [9.515, 47.11]])
    assert len(collinear) == 3
    assert_partition(square, collinear)
    far_away = partition(square, [[9.51, 47.11], [12.0, 50.0]])
    assert len(far_away) == 1  # the far seed owns nothing inside: its cell is dropped
    assert_partition(square, far_away)
    with pytest.raises(ValueError):
        partition(square, np.zeros((0, 2)))
    with pytest.raises(ValueError):
        partition(square, [[np.nan, 47.11], [9.51, 47.11]])


def test_partition_absorbs_slivers_but_keeps_exclaves() -> None:
    # The Voronoi edge of the two seeds is the meridian 9.51. Five thin teeth of the left block
    # poke ~25 m across it: their tips (~500 m² each) fall in the right-hand cell.
    left = box(9.500, 47.10, 9.5098, 47.11)
    teeth = [box(9.5098, 47.101 + 0.002 * i, 9.5103, 47.1012 + 0.002 * i) for i in range(5)]
    right = box(9.512, 47.10, 9.520, 47.11)
    island = box(9.530, 47.13, 9.5301, 47.1301)  # an exclave of ~80 m², far from everything
    shape = shapely.union_all([left, *teeth, right, island])
    seeds = np.array([[9.505, 47.105], [9.515, 47.105]])
    raw = partition(shape, seeds, min_part_m2=0)
    cleaned = partition(shape, seeds, min_part_m2=5_000)
    assert_partition(shape, raw)
    assert_partition(shape, cleaned)
    assert [len(p.geoms) for p in raw] == [1, 7]
    assert [len(p.geoms) for p in cleaned] == [1, 2]  # tips joined the left cell
    # ... all of them, but for hairlines where the cell edge crossed theirs (rounded)
    assert area_m2(shapely.union_all([left, *teeth]).difference(cleaned[0])) < 1e-3
    assert cleaned[1].covers(island) and cleaned[1].covers(right)


@pytest.mark.parametrize("rng_seed", [2, 3, 4])
def test_partition_passes_the_fusion_check_along_long_edges(rng_seed: int) -> None:
    # Edges of 4-5 km: where a Voronoi edge crosses one, the crossing point is rounded off
    # the edge by ~1e-16°, and area_m2's curved projection turns the sliver left between the
    # edge and the crossing into up to ~100 m² unless the parts follow the edge exactly.
    shape = Polygon([(9.50, 47.10), (9.56, 47.11), (9.55, 47.15), (9.49, 47.14)])
    rng = np.random.default_rng(rng_seed)
    seeds = np.column_stack((rng.uniform(9.49, 9.56, 10), rng.uniform(47.10, 47.15, 10)))
    seeds = seeds[shapely.contains_xy(shape, seeds[:, 0], seeds[:, 1])]
    parts = partition(shape, seeds, min_part_m2=0)
    assert len(parts) == len(seeds)
    assert_partition(shape, parts)
    assert fusion_faults("shape", shape, parts) == []
    # Two levels: the second splits parts that own hairline strips along their neighbours.
    layout = generate_beats_and_grids(
        shape, np.zeros((0, 2)), beats=8, grids_per_beat=4, rng_seed=rng_seed, min_part_m2=0
    )
    assert len(layout) == 8 and all(len(grids) == 4 for _, grids in layout)
    assert fusion_faults("shape", shape, [beat for beat, _ in layout]) == []
    for k, (beat, grids) in enumerate(layout):
        assert_partition(beat, grids)
        assert fusion_faults(f"beat {k}", beat, grids) == []
        assert not any(spikes(area) for area in (beat, *grids))


# --- seeds -----------------------------------------------------------------------------------


def test_seeds_follow_roads_and_are_deterministic() -> None:
    square = box(9.50, 47.10, 9.52, 47.12)
    rng = np.random.default_rng(7)
    town = np.column_stack((rng.normal(9.505, 0.001, 2000), rng.normal(47.105, 0.001, 2000)))
    a = seeds_along_roads(square, town, 8, rng_seed=3)
    b = seeds_along_roads(square, town, 8, rng_seed=3)
    assert a.shape == (8, 2)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a, axis=0)) == 8
    assert shapely.contains_xy(square, a[:, 0], a[:, 1]).all()
    near_town = np.hypot(a[:, 0] - 9.505, a[:, 1] - 47.105) < 0.005
    assert near_town.sum() >= 7  # the seeds go where the roads are


def test_seeds_without_roads_fall_back_to_the_polygon() -> None:
    square = box(9.50, 47.10, 9.52, 47.12)
    seeds = seeds_along_roads(square, np.zeros((0, 2)), 5, rng_seed=1)
    assert seeds.shape == (5, 2)
    assert shapely.contains_xy(square, seeds[:, 0], seeds[:, 1]).all()
    outside_only = np.array([[10.0, 48.0], [10.1, 48.1]])
    assert seeds_along_roads(square, outside_only, 3, rng_seed=1).shape == (3, 2)
    with pytest.raises(ValueError):
        seeds_along_roads(square, outside_only, 0, rng_seed=1)


def test_road_points_are_evenly_spaced() -> None:
    # 0.01° of latitude is about 1,112 m.
    line = shapely.LineString([(9.5, 47.10), (9.5, 47.11)])
    points = road_points([line], spacing_m=100.0)
    assert len(points) == 11
    gaps = np.diff(points[:, 1]) * 111_200
    assert np.allclose(gaps, gaps[0], rtol=1e-9)
    assert gaps[0] == pytest.approx(101, rel=0.01)
    stub = shapely.LineString([(9.5, 47.1), (9.5001, 47.1)])
    assert len(road_points([stub], spacing_m=100.0)) == 1
    assert road_points([]).shape == (0, 2)


# --- the real county -------------------------------------------------------------------------


def test_plan_counts_fit_the_demo(demo: Demo) -> None:
    for points in (demo.points, demo.vertices):
        plan = plan_counts(demo.areas, demo.counts(points))
        assert set(plan) == set(demo.precincts)
        beats = sum(b for b, _ in plan.values())
        grids = sum(b * g for b, g in plan.values())
        assert 20 <= beats <= 40
        assert grids >= 100
        assert all(b >= 1 and g >= 1 for b, g in plan.values())
        assert plan["Triesenberg"][0] > plan["Planken"][0]  # 65 km of road against 6 km


def test_plan_counts_edge_cases() -> None:
    two = plan_counts({"a": 1e6, "b": 4e6}, {"a": 900, "b": 100})
    assert sum(b for b, _ in two.values()) == 20
    assert two["a"][0] > two["b"][0]
    assert two["a"][1] > two["b"][1]  # denser precinct: more grids per beat
    assert sum(b * g for b, g in two.values()) >= 100
    roadless = plan_counts({"a": 1e6, "b": 1e6}, {})
    assert roadless == {"a": (10, 5), "b": (10, 5)}
    with pytest.raises(ValueError):
        plan_counts({}, {})
    with pytest.raises(ValueError):
        plan_counts({str(i): 1.0 for i in range(41)}, {})


def test_real_precincts_are_partitioned_exactly(
    demo: Demo, county: dict[str, list[tuple[MultiPolygon, list[MultiPolygon]]]]
) -> None:
    beats = sum(len(layout) for layout in county.values())
    grids = sum(len(g) for layout in county.values() for _, g in layout)
    assert 20 <= beats <= 40
    assert grids >= 100
    for name, layout in county.items():
        assert_partition(demo.precincts[name], [beat for beat, _ in layout])
        for beat, beat_grids in layout:
            assert_partition(beat, beat_grids)


@pytest.mark.parametrize("base_seed", [RNG_SEED, 7])
def test_demo_county_passes_the_fusion_check(demo: Demo, base_seed: int) -> None:
    # Exactly what fangkong.demo.build does: stations in name order, road points inside each.
    names = sorted(demo.precincts)
    inside = {
        name: demo.points[
            shapely.contains_xy(demo.precincts[name], demo.points[:, 0], demo.points[:, 1])
        ]
        for name in names
    }
    plan = plan_counts(
        {name: demo.areas[name] for name in names}, {name: len(inside[name]) for name in names}
    )
    faults: list[str] = []
    beats = grids = 0
    for index, name in enumerate(names):
        layout = generate_beats_and_grids(
            demo.precincts[name],
            inside[name],
            beats=plan[name][0],
            grids_per_beat=plan[name][1],
            rng_seed=base_seed + index,
        )
        beats += len(layout)
        faults += fusion_faults(name, demo.precincts[name], [beat for beat, _ in layout])
        for b, (beat, beat_grids) in enumerate(layout, start=1):
            grids += len(beat_grids)
            faults += fusion_faults(f"{name}/B{b}", beat, beat_grids)
            assert all(isinstance(g, MultiPolygon) and g.is_valid for g in beat_grids)
            assert [spikes(area) for area in (beat, *beat_grids)] == [[]] * (1 + len(beat_grids))
    assert faults == []
    assert beats == sum(b for b, _ in plan.values())
    assert grids == sum(b * g for b, g in plan.values())


def test_partition_of_a_precinct_with_exclaves(demo: Demo) -> None:
    vaduz = demo.precincts["Vaduz"]
    seeds = seeds_along_roads(vaduz, demo.points, 6, rng_seed=5)
    parts = partition(vaduz, seeds, min_part_m2=0)
    assert len(parts) == 6
    assert_partition(vaduz, parts)


def test_generation_is_deterministic(demo: Demo) -> None:
    schaan = demo.precincts["Schaan"]
    first = generate_beats_and_grids(schaan, demo.points, beats=3, grids_per_beat=4, rng_seed=9)
    again = generate_beats_and_grids(schaan, demo.points, beats=3, grids_per_beat=4, rng_seed=9)
    other = generate_beats_and_grids(schaan, demo.points, beats=3, grids_per_beat=4, rng_seed=10)
    assert len(first) == 3 and all(len(g) == 4 for _, g in first)
    for (b1, g1), (b2, g2) in zip(first, again, strict=True):
        assert b1.equals_exact(b2, 0.0)
        assert all(x.equals_exact(y, 0.0) for x, y in zip(g1, g2, strict=True))
    assert not all(b1.equals_exact(b2, 0.0) for (b1, _), (b2, _) in zip(first, other, strict=True))


def test_demo_areas_are_clean_and_measured_exactly() -> None:
    # The county exactly as fangkong.demo.build makes it. Its beats and grids once carried
    # zero-width spikes (a part handed the hairline strip along a neighbour's edge), which
    # the map drew as red lines up to 2 km long, and which made area_m2 report 0.000 km² for
    # 12 areas and 0.148 km² for a 0.72 km² grid (S09-B01-G03).
    boundaries = osm.read_boundaries(PBF)
    municipalities = sorted((b for b in boundaries if b.admin_level == 8), key=lambda b: b.name)
    layouts = county_layout(municipalities, osm.read_roads(PBF))
    measured: dict[str, float] = {}
    faults: list[str] = []
    for s, (_, layout) in enumerate(layouts, start=1):
        for b, (beat, grids) in enumerate(layout, start=1):
            named = [(f"S{s:02d}-B{b:02d}", beat)]
            named += [(f"S{s:02d}-B{b:02d}-G{g:02d}", grid) for g, grid in enumerate(grids, 1)]
            for code, geom in named:
                if not geom.is_valid:
                    faults.append(f"{code}: {shapely.is_valid_reason(geom)}")
                if spiked := spikes(geom):
                    faults.append(f"{code}: {len(spiked)} spikes, the first at {spiked[0]}")
                measured[code] = area_m2(geom)
                exact = oracle_area_m2(geom)
                if abs(measured[code] - exact) > 1e-9 * exact + 1e-3:
                    faults.append(f"{code}: {measured[code]:.3f} m², exactly {exact:.3f}")
    assert faults == []
    assert measured["S09-B01-G03"] == pytest.approx(0.7235e6, rel=1e-3)
    assert min(measured.values()) > 0.1e6
