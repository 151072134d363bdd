"""Cross-border road graphs on a real road network: is a unit near a county's border ranked
right?

The province
------------
DIMACS New York (``../shared/data/roadnets``, 264,346 nodes, the real road network) cut in two
"counties" at its median longitude, as ``osmium extract`` cuts a province extract: a road that
crosses the line is in both counties' graphs, whole. The west county is the home county; the
east one its neighbour. ``--smoke`` takes a generated 2 x 1 km street lattice with a fast
road just across the line instead (no data needed; answers checked, nothing timed).

What is compared
----------------
For sample pairs of nodes of the home county within ``--band-km`` of the line (where a
detour through the neighbour can pay), the fastest time on three graphs:

- the **province** graph (all of New York): the truth, the peer;
- the **county** graph alone: what dispatch ranked on before issue 23;
- the **cross-border** graph: the county plus the neighbour's roads within ``--buffer-m`` of
  the county (:func:`fangkong.network.border.merge_within`, what ``fangkong network border``
  builds).

Printed: the share of pairs the county graph makes slower than the truth (and by how much),
the share the cross-border graph gets exactly right, and a dispatch-like check: for each
sample incident, the unit (of ``--units`` nearby sample nodes) with the least time on each
graph, against the truth's. Then the cost: the cross-border graph's size and the time to
build it and its contraction hierarchy, side by side with the province graph's hierarchy
(the alternative: one graph for the whole province), as a ratio.

Usage::

    python benchmarks/cross_border.py --smoke   # lattice, checks only
    python benchmarks/cross_border.py --quick   # New York, 100 pairs' sources, no hierarchies
    python benchmarks/cross_border.py           # New York, 300 sources, both hierarchies
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import box

from fangkong.network.border import buffered, merge_within
from fangkong.network.graph import RoadGraph, from_edges, haversine_m

sys.path.insert(0, str(Path(__file__).resolve().parent))
from network_queries import NY_FILES, ROADNET_DIR, load_dimacs_ny

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class County:
    """A county's graph cut from the province graph, and its nodes' ids in the province."""

    graph: RoadGraph
    province_ids: IntArray


def cut(province: RoadGraph, keep: NDArray[np.bool_]) -> County:
    """The arcs of ``province`` with an end in ``keep`` (whole roads across the line) and
    their ends, renumbered in province order."""
    tails = province.tail.astype(np.int64)
    heads = province.head.astype(np.int64)
    arcs = keep[tails] | keep[heads]
    used = np.zeros(province.n_nodes, dtype=bool)
    used[tails[arcs]] = True
    used[heads[arcs]] = True
    province_ids = np.flatnonzero(used)
    local = np.full(province.n_nodes, -1, dtype=np.int64)
    local[province_ids] = np.arange(province_ids.shape[0])
    graph = from_edges(
        province.lon[province_ids],
        province.lat[province_ids],
        local[tails[arcs]],
        local[heads[arcs]],
        province.time_s[arcs],
        length_m=province.length_m[arcs],
    )
    return County(graph, province_ids)


def times(graph: RoadGraph, sources: IntArray, targets: IntArray) -> FloatArray:
    matrix = csr_matrix((graph.time_s, graph.head, graph.indptr), shape=(graph.n_nodes,) * 2)
    return np.asarray(dijkstra(matrix, indices=sources, min_only=False))[:, targets]


def _median(values: FloatArray) -> float:
    return float(np.median(values)) if values.size else 0.0


def _max(values: FloatArray) -> float:
    return float(values.max()) if values.size else 0.0


def lattice() -> RoadGraph:
    """Streets every 100 m over 2 x 1 km (lon 120.00-120.02, 30 km/h) and a 90 km/h road
    running north-south at lon 120.012, just east of the line at 120.0105: between the south
    and the north of the home county's border band the fast way runs through the neighbour."""
    xs = np.round(np.arange(0, 21) * 0.001 + 120.0, 6)
    ys = np.round(np.arange(0, 10) * 0.001 + 30.0, 6)
    lon, lat = (a.ravel() for a in np.meshgrid(xs, ys))
    index = {(x, y): i for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))}
    tails: list[int] = []
    heads: list[int] = []
    speeds: list[float] = []
    for (x, y), i in index.items():
        for dx, dy in ((0.001, 0.0), (0.0, 0.001)):
            j = index.get((round(x + dx, 6), round(y + dy, 6)))
            if j is None:
                continue
            fast = dx == 0.0 and x == 120.012
            for a, b in ((i, j), (j, i)):
                tails.append(a)
                heads.append(b)
                speeds.append(25.0 if fast else 8.33)
    t = np.array(tails)
    h = np.array(heads)
    metres = haversine_m(lon[t], lat[t], lon[h], lat[h])
    return from_edges(lon, lat, t, h, metres / np.array(speeds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true")
    mode.add_argument("--quick", action="store_true")
    parser.add_argument("--roadnets", type=Path, default=ROADNET_DIR)
    parser.add_argument("--buffer-m", type=float, default=None)
    parser.add_argument("--band-km", type=float, default=None)
    parser.add_argument("--sources", type=int, default=None)
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    if args.smoke:
        province = lattice()
        source_label = "generated lattice 2 x 1 km, a fast road just across the line"
        buffer_m, band_km = args.buffer_m or 300.0, args.band_km or 0.3
        sources_n = args.sources or 20
    else:
        if not all((args.roadnets / name).exists() for name in NY_FILES):
            print(f"skipped: DIMACS New York not found in {args.roadnets}")
            return 0
        province = load_dimacs_ny(args.roadnets)
        source_label = "DIMACS USA-road-t.NY (real)"
        buffer_m, band_km = args.buffer_m or 5_000.0, args.band_km or 3.0
        sources_n = args.sources or (100 if args.quick else 300)

    split = float(np.median(province.lon)) if not args.smoke else 120.0105
    west = province.lon < split
    home = cut(province, west)
    neighbour = cut(province, ~west)
    region = box(
        float(province.lon[west].min()),
        float(province.lat[west].min()),
        split,
        float(province.lat[west].max()),
    )
    started = time.perf_counter()
    merged, origin, _ = merge_within(home.graph, [neighbour.graph], buffered(region, buffer_m))
    merge_s = time.perf_counter() - started

    rng = np.random.default_rng(args.seed)
    metres_from_line = (split - home.graph.lon) * 111_320.0 * np.cos(np.radians(home.graph.lat))
    band = np.flatnonzero(
        (home.province_ids < province.n_nodes)
        & west[home.province_ids]
        & (metres_from_line <= band_km * 1000.0)
    )
    picked = rng.choice(band, size=min(sources_n * 2, band.shape[0]), replace=False)
    sources, targets = picked[: picked.shape[0] // 2], picked[picked.shape[0] // 2 :]

    # The province cut to what the cross-border graph may hold: the home county's roads and
    # every road with both ends in the buffered county. The cross-border graph must equal it
    # exactly (its construction); how close it comes to the whole province is the buffer's worth.
    within = shapely.contains_xy(buffered(region, buffer_m), province.lon, province.lat)
    tails, heads = province.tail.astype(np.int64), province.head.astype(np.int64)
    kept = west[tails] | west[heads] | (within[tails] & within[heads])
    clipped = from_edges(
        province.lon, province.lat, tails[kept], heads[kept], province.time_s[kept]
    )

    truth = times(province, home.province_ids[sources], home.province_ids[targets])
    construction = times(clipped, home.province_ids[sources], home.province_ids[targets])
    alone = times(home.graph, sources, targets)
    across = times(merged, sources, targets)
    reachable = np.isfinite(truth)
    cut_off = reachable & ~np.isfinite(alone)
    worse = reachable & np.isfinite(alone) & (alone > truth * (1 + 1e-9) + 1e-6)
    exact = reachable & np.isclose(across, truth, rtol=1e-9, atol=1e-6)
    as_built = np.isclose(across, construction, rtol=1e-9, atol=1e-6) | (
        ~np.isfinite(across) & ~np.isfinite(construction)
    )
    excess = (alone[worse] - truth[worse]) / truth[worse]
    missed = reachable & ~exact & np.isfinite(across)
    across_excess = (across[missed] - truth[missed]) / truth[missed]

    # A dispatch-like check: each target an incident, the ``--units`` sources nearest to it in
    # a straight line its candidate units; the unit of least time on each graph.
    lon_s, lat_s = home.graph.lon[sources], home.graph.lat[sources]
    right_alone = right_across = incidents = 0
    for column, target in enumerate(targets):
        straight = haversine_m(lon_s, lat_s, home.graph.lon[target], home.graph.lat[target])
        units = np.argsort(straight)[: args.units]
        if not np.isfinite(truth[units, column]).all():
            continue
        incidents += 1
        best = truth[units, column].min()
        right_alone += truth[units[np.argmin(alone[units, column])], column] == best
        right_across += truth[units[np.argmin(across[units, column])], column] == best

    print(f"# cross-border graphs: {source_label}")
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"# {python}, numpy {np.__version__}")
    print(
        f"province {province.n_nodes:,} nodes / {province.n_edges:,} arcs; cut at lon {split:.4f}: "
        f"home {home.graph.n_nodes:,} nodes, neighbour {neighbour.graph.n_nodes:,} nodes"
    )
    print(
        f"cross-border graph (buffer {buffer_m:,.0f} m): {merged.n_nodes:,} nodes "
        f"(+{int((origin != 0).sum()):,} from the neighbour), {merged.n_edges:,} arcs; "
        f"merge {merge_s:.2f} s"
    )
    pairs = int(reachable.sum())
    shape = f"{sources.shape[0]} x {targets.shape[0]}"
    print(f"pairs within {band_km:g} km of the line: {pairs:,} ({shape})")
    print(
        f"  county graph alone: no route {int(cut_off.sum()):,} "
        f"({cut_off.sum() / max(pairs, 1):.1%}), "
        f"slower than the truth {int(worse.sum()):,} ({worse.sum() / max(pairs, 1):.1%}; "
        f"median excess {_median(excess):.1%}, max {_max(excess):.1%})"
    )
    print(
        f"  cross-border graph equal to the truth: {int(exact.sum()):,} "
        f"({exact.sum() / max(pairs, 1):.1%}); the rest, whose fastest road leaves the buffer: "
        f"median excess {_median(across_excess):.1%}, max {_max(across_excess):.1%}"
    )
    print(
        f"  cross-border graph equal to the province cut to the buffer (its construction): "
        f"{int(as_built.sum()):,} of {as_built.size:,}"
    )
    print(
        f"incidents with {args.units} nearest units: {incidents}; fastest unit right: "
        f"county alone {right_alone} ({right_alone / max(incidents, 1):.1%}), "
        f"cross-border {right_across} ({right_across / max(incidents, 1):.1%})"
    )

    failures = []
    if args.smoke and not worse.any():
        failures.append("the lattice's fast road should make the county graph alone slower")
    if not as_built.all():
        failures.append("the cross-border graph differs from the province cut to the buffer")
    if args.smoke and int(exact.sum()) < pairs:
        failures.append("on the lattice the cross-border graph should equal the province")
    if right_across < right_alone:
        failures.append("the cross-border graph ranked fewer units right than the county alone")

    if not args.smoke and not args.quick:
        from fangkong.network.ch import build_hierarchy

        started = time.perf_counter()
        build_hierarchy(merged)
        merged_ch_s = time.perf_counter() - started
        started = time.perf_counter()
        build_hierarchy(province)
        province_ch_s = time.perf_counter() - started
        print(
            f"contraction hierarchy: cross-border graph {merged_ch_s:.1f} s, province graph "
            f"{province_ch_s:.1f} s: ratio {province_ch_s / merged_ch_s:.2f}x "
            f"(merge + hierarchy {merge_s + merged_ch_s:.1f} s)"
        )
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
