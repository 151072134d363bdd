"""Point-to-area lookup: fangkong's ``AreaIndex.locate`` against named peers, in one run.

The areas are the demo county's grids (网格), built in memory from the bundled OSM extract of
Liechtenstein exactly as ``fangkong demo`` builds them, but without a database. The points are
drawn uniformly (seeded) in the county's bounding box, so some fall outside every grid.

Methods, each answering "which grid holds this point?" for every point:

- ``fangkong``: :meth:`fangkong.areas.index.AreaIndex.locate` (one vectorised STRtree query);
- ``geopandas``: ``geopandas.sjoin(points, grids, predicate="within")`` (skipped when geopandas
  is not installed; it is in the optional ``bench`` extra);
- ``naive``: a Python loop over the points and, for each, over the prepared grid polygons,
  ``polygon.contains(point)`` until one holds it;
- ``strtree-loop``: a Python loop over the points, one ``STRtree.query`` per point.

Every method's answer is checked against fangkong's on every point. A point exactly on an edge
shared by two grids may legitimately differ (``within``/``contains`` exclude the boundary,
``locate`` gives it to the first grid); those are counted and reported, any other difference
fails the run (exit status 1).

Usage::

    python benchmarks/areas_locate.py            # 1e3 .. 1e6 points, a few minutes
    python benchmarks/areas_locate.py --quick    # 1e3 .. 1e5 points, under a minute
    python benchmarks/areas_locate.py --smoke    # 2,000 points, answers checked, no timings
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon

from fangkong.areas.index import AreaIndex
from fangkong.demo.build import DEMO_PBF, county_layout
from fangkong.demo.osm import read_boundaries, read_roads

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
Locator = Callable[[FloatArray, FloatArray], IntArray]

QUICK_SIZES = (1_000, 10_000, 100_000)
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
SMOKE_SIZES = (2_000,)
POINT_SEED = 20261122
# Timing: the best of up to this many runs, stopping early once a size has used this much time.
MAX_REPEATS = 5
REPEAT_BUDGET_S = 2.0
GEOPANDAS_SKIPPED = (
    'geopandas sjoin(predicate="within"): skipped: geopandas not installed '
    '(pip install "fangkong[bench]")'
)


class Mismatch(Exception):
    """A method answered differently from fangkong on a point off every grid edge."""


@dataclass(frozen=True)
class County:
    """The demo county's grids in memory: geometry, made-up ids and the index over them."""

    grids: NDArray[np.object_]
    ids: IntArray
    bounds: tuple[float, float, float, float]
    index: AreaIndex
    build_s: float


@dataclass(frozen=True)
class Row:
    method: str
    points: int
    seconds: float
    edge_points: int


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def build_county(pbf: Path = DEMO_PBF) -> County:
    """Cut the demo county's precincts into beats and grids as ``fangkong.demo.build`` does."""
    started = time.perf_counter()
    boundaries = read_boundaries(pbf)
    roads = read_roads(pbf)
    country = next(b for b in boundaries if b.admin_level == 2)
    precincts = sorted((b for b in boundaries if b.admin_level == 8), key=lambda b: b.name)
    # The same beats and grids as the demo county builds.
    grids: list[MultiPolygon] = [
        grid
        for _, layout in county_layout(precincts, roads)
        for _, beat_grids in layout
        for grid in beat_grids
    ]

    ids = np.arange(1, len(grids) + 1, dtype=np.int64)
    paths = tuple(f"/{i}/" for i in ids)
    codes = tuple(f"G{i}" for i in ids)
    index = AreaIndex.from_polygons(ids, paths, list(grids), key=0, codes=codes)
    geoms = index.polygons
    minx, miny, maxx, maxy = (float(v) for v in country.geometry.bounds)
    return County(
        grids=geoms,
        ids=ids,
        bounds=(minx, miny, maxx, maxy),
        index=index,
        build_s=time.perf_counter() - started,
    )


def random_points(
    bounds: tuple[float, float, float, float], n: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    """``n`` points uniform in lon/lat inside ``bounds``, the same for the same seed."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bounds
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def _first_match(n: int, point_idx: IntArray, area_pos: IntArray, ids: IntArray) -> IntArray:
    """Id of the lowest-positioned matching area per point, -1 for none (as ``locate`` does)."""
    result = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((area_pos, point_idx))
    points_sorted, areas_sorted = point_idx[order], area_pos[order]
    first = np.ones(points_sorted.size, dtype=bool)
    first[1:] = points_sorted[1:] != points_sorted[:-1]
    result[points_sorted[first]] = ids[areas_sorted[first]]
    return result


def fangkong_locator(county: County) -> Locator:
    return county.index.locate


def geopandas_locator(county: County, gpd: ModuleType) -> Locator:
    """``sjoin(points, grids, predicate="within")``; the grids' frame is built once, as the
    fangkong index is, and the points' frame is built inside the timed call."""
    grids = gpd.GeoDataFrame({"area_id": county.ids}, geometry=list(county.grids), crs="EPSG:4326")
    _ = grids.sindex  # build the spatial index up front, like AreaIndex's tree

    def locate(lons: FloatArray, lats: FloatArray) -> IntArray:
        points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326")
        joined = gpd.sjoin(points, grids, how="inner", predicate="within")
        point_idx = joined.index.to_numpy(dtype=np.int64)
        area_pos = joined["index_right"].to_numpy(dtype=np.int64)
        return _first_match(len(lons), point_idx, area_pos, county.ids)

    return locate


def naive_locator(county: County) -> Locator:
    """For each point, each prepared grid polygon in turn until one contains the point."""
    polygons = list(county.grids)
    ids = [int(i) for i in county.ids]

    def locate(lons: FloatArray, lats: FloatArray) -> IntArray:
        result = np.full(len(lons), -1, dtype=np.int64)
        for k, point in enumerate(shapely.points(lons, lats)):
            for area_id, polygon in zip(ids, polygons, strict=True):
                if polygon.contains(point):
                    result[k] = area_id
                    break
        return result

    return locate


def strtree_loop_locator(county: County) -> Locator:
    """One ``STRtree.query(point, predicate="covered_by")`` per point, in a Python loop."""
    tree = shapely.STRtree(county.grids)
    ids = county.ids

    def locate(lons: FloatArray, lats: FloatArray) -> IntArray:
        result = np.full(len(lons), -1, dtype=np.int64)
        for k, point in enumerate(shapely.points(lons, lats)):
            hits = tree.query(point, predicate="covered_by")
            if hits.size:
                result[k] = ids[int(hits.min())]
        return result

    return locate


# --------------------------------------------------------------------------------------------
# Running and checking
# --------------------------------------------------------------------------------------------


def time_best(locate: Locator, lons: FloatArray, lats: FloatArray) -> tuple[float, IntArray]:
    """Best wall time of up to ``MAX_REPEATS`` runs (fewer once ``REPEAT_BUDGET_S`` is spent)."""
    best = float("inf")
    spent = 0.0
    result: IntArray | None = None
    for _ in range(MAX_REPEATS):
        started = time.perf_counter()
        result = locate(lons, lats)
        elapsed = time.perf_counter() - started
        best = min(best, elapsed)
        spent += elapsed
        if spent >= REPEAT_BUDGET_S:
            break
    assert result is not None
    return best, result


def count_edge_differences(
    county: County,
    method: str,
    expected: IntArray,
    got: IntArray,
    lons: FloatArray,
    lats: FloatArray,
) -> int:
    """Number of points where ``got`` differs from ``expected`` because the point lies on a grid
    boundary; any other difference is a wrong answer and raises :class:`Mismatch`."""
    differ = np.flatnonzero(expected != got)
    if differ.size == 0:
        return 0
    points = shapely.points(lons[differ], lats[differ])
    on_edge = np.array([bool(shapely.touches(county.grids, p).any()) for p in points], dtype=bool)
    wrong = differ[~on_edge]
    if wrong.size:
        raise Mismatch(
            f"{method} disagrees with fangkong on {wrong.size} points off every edge, e.g. "
            f"({lons[wrong[0]]:.9f}, {lats[wrong[0]]:.9f}): {got[wrong[0]]} != "
            f"{expected[wrong[0]]}"
        )
    return int(on_edge.sum())


def optional_geopandas() -> ModuleType | None:
    """The geopandas module, or None when it is not installed (it is an optional peer)."""
    try:
        return importlib.import_module("geopandas")
    except ImportError:
        return None


def methods_of(county: County, gpd: ModuleType | None) -> list[tuple[str, Locator]]:
    """fangkong first (the answer the others are checked against), then the peers."""
    methods: list[tuple[str, Locator]] = [("fangkong AreaIndex.locate", fangkong_locator(county))]
    if gpd is not None:
        methods.append(('geopandas sjoin(predicate="within")', geopandas_locator(county, gpd)))
    methods.append(("shapely naive loop (prepared contains)", naive_locator(county)))
    methods.append(("shapely STRtree.query per point", strtree_loop_locator(county)))
    return methods


def run(sizes: Sequence[int], seed: int) -> list[Row]:
    county = build_county()
    gpd = optional_geopandas()
    methods = methods_of(county, gpd)

    vertices = int(shapely.get_num_coordinates(county.grids).sum())
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"shapely {shapely.__version__}, "
        + (f"geopandas {gpd.__version__}" if gpd is not None else "geopandas -")
    )
    print(
        f"areas: {len(county.ids)} demo-county grids ({vertices} vertices), built in memory "
        f"in {county.build_s:.1f} s; points uniform in the county's bounding box "
        f"{tuple(round(b, 4) for b in county.bounds)}, seed {seed}"
    )
    if gpd is None:
        print(GEOPANDAS_SKIPPED)

    # Warm-up: first calls build caches (geopandas' sindex, shapely's prepared geometries).
    warm_lons, warm_lats = random_points(county.bounds, 100, seed + 1)
    for _, locate in methods:
        locate(warm_lons, warm_lats)

    rows: list[Row] = []
    for n in sizes:
        lons, lats = random_points(county.bounds, n, seed)
        expected: IntArray | None = None
        for name, locate in methods:
            seconds, got = time_best(locate, lons, lats)
            if expected is None:
                expected = got
                inside = float((got >= 0).mean())
                print(f"  {n:>9,} points: {inside:.1%} inside a grid", file=sys.stderr)
                edges = 0
            else:
                edges = count_edge_differences(county, name, expected, got, lons, lats)
            rows.append(Row(name, n, seconds, edges))
            print(f"  {name:<40} {n:>9,} points {seconds:9.4f} s", file=sys.stderr)
    return rows


def smoke(seed: int) -> None:
    """Each method once on ``SMOKE_SIZES`` points, its answer checked against fangkong's on
    every point (raises :class:`Mismatch`); nothing timed."""
    county = build_county()
    gpd = optional_geopandas()
    print(f"areas: {len(county.ids)} demo-county grids; seed {seed}")
    if gpd is None:
        print(GEOPANDAS_SKIPPED)
    for n in SMOKE_SIZES:
        lons, lats = random_points(county.bounds, n, seed)
        expected: IntArray | None = None
        for name, locate in methods_of(county, gpd):
            got = locate(lons, lats)
            if expected is None:
                expected = got
                inside = int((got >= 0).sum())
                # All outside or all inside would make the comparison say little.
                if not 0 < inside < n or not np.isin(got[got >= 0], county.ids).all():
                    raise Mismatch(f"{name}: {inside} of {n} points inside a grid")
                print(f"{name}: {n:,} points, {inside:,} inside a grid")
                continue
            edges = count_edge_differences(county, name, expected, got, lons, lats)
            print(f"{name}: agrees with fangkong ({edges} points on a shared edge differ)")


def format_table(rows: Sequence[Row]) -> str:
    reference = {r.points: r.seconds for r in rows if r.method.startswith("fangkong")}
    header = (
        f"{'method':<40} {'points':>9} {'seconds':>9} {'points/s':>12} "
        f"{'vs fangkong':>11} {'edge pts':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        ratio = r.seconds / reference[r.points]
        lines.append(
            f"{r.method:<40} {r.points:>9,} {r.seconds:>9.4f} {r.points / r.seconds:>12,.0f} "
            f"{ratio:>10.1f}x {r.edge_points:>8}"
        )
    lines.append(
        "vs fangkong = method seconds / fangkong seconds for the same points "
        "(above 1x: fangkong is faster)."
    )
    lines.append(
        "edge pts = points on a shared grid edge where the method's answer differs "
        "from fangkong's (boundary rule); every other point agrees."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="1e3, 1e4 and 1e5 points (under a minute); default adds 1e6",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="2,000 points, every answer checked, nothing timed (seconds)",
    )
    parser.add_argument("--seed", type=int, default=POINT_SEED, help="seed of the points")
    args = parser.parse_args(argv)
    try:
        if args.smoke:
            print("areas_locate: smoke run (answers checked, nothing timed)")
            smoke(args.seed)
            print("smoke: ok")
            return 0
        sizes = QUICK_SIZES if args.quick else FULL_SIZES
        started = time.perf_counter()
        rows = run(sizes, args.seed)
    except Mismatch as error:
        print(f"MISMATCH: {error}")
        return 1
    print()
    print(format_table(rows))
    if optional_geopandas() is None:
        print(GEOPANDAS_SKIPPED)
    print(f"\ntotal {time.perf_counter() - started:.0f} s ({'quick' if args.quick else 'full'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
