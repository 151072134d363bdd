"""Travel-time queries: fangkong's numba engine against named peers, side by side in one run.

Networks
--------
- ``demo``: the demo county's drivable roads, imported from the bundled OSM extract of
  Liechtenstein with :func:`fangkong.network.osm.graph_from_osm` (a few thousand nodes);
- ``grid``: :func:`fangkong.network.synthetic.grid_city` (documented there: a perturbed grid of
  100 m blocks with arterials, collectors, one-way streets and missing blocks), 1,000,000
  nodes in full mode, 100,000 with ``--quick``;
- ``ny``: a real road network, the 9th DIMACS challenge's New York (``USA-road-t.NY``, 264,346
  nodes, 730,100 arcs once parallel arcs keep their fastest), read from ``--roadnet`` (by
  default ``../shared/data/roadnets`` beside the repository; skipped with a message when
  absent). Its travel times are in an unstated unit; arc costs are taken as 3.6 ms a unit
  (its four speed classes read as 100/80/60/40 km/h: an assumption, see that folder's
  README), and its ``.co`` file gives the coordinates;
- ``city``: a city-sized piece of it, the 40,000 nodes nearest (by travel time) to Times
  Square and the arcs between them (strongly connected: every node's shortest path from
  the centre stays inside), about 38 x 34 km.

Queries (times in seconds, every answer checked against scipy before its timing is shown)
-----------------------------------------------------------------------------------------
- ``k-nearest``: the k = 5 nearest of 300 fixed random target nodes from a random node;
  p50/p99 latency of single queries; fangkong on its contraction hierarchy (bucket search,
  :mod:`fangkong.network.ch`) and on its plain Dijkstra path side by side, with the time of
  the first query on a new target set (which builds the set's buckets);
- ``isochrone``: every node within 300 s of a random node (the 60/180/300 s rings come from
  the same search); for fangkong also the full rings with polygons, timed apart;
- ``many-to-many``: 2,000 sources × 50,000 targets within 600 s (quick: 500 × 10,000); the
  slow peers run a prefix of the sources and their time is scaled up linearly (said so in the
  table); on the demo network the targets are all its nodes (it has fewer than 50,000);
  fangkong on its contraction hierarchy (restricted PHAST sweeps, 8 sources a sweep, or the
  targets' buckets pruned at the cutoff, whichever it estimates cheaper; either prepared in
  the timed call) and on its plain path (a bucket-queue search per source) side by side;
  each peer is
  timed up to its own answer (fangkong and pandana: the sparse pairs within the cutoff for
  the targets; scipy and pyroutingkit: dense rows), the rows the check compares are built
  after the timing;
- ``multi-source``: nearest of 500 sources and its time for every node (fangkong: PHAST on
  the CH, median of 3 runs, and its plain multi-source Dijkstra once);
- ``many-to-many by reach`` (``ny`` and ``city``, part of ``m2m``): fangkong and
  pyroutingkit in one process, side by side: per cutoff, alternating pairs of calls (who
  goes first alternates too), and the ratio of each pair. ``ny``: 500 sources x 20,000
  targets (quick: 100), ``city``: 2,000 x 20,000 (quick: 500). The cutoffs are 600 s and
  those at which ~3 %, 30 %, 60 % and 95 % of the pairs are within reach (found from
  scipy's times for a sample of the sources; one within 15 % of 600 s is dropped); the
  share actually within reach is printed. A cutoff c on the 3.6 ms network is a 600 s
  cutoff with arc costs of 3.6 x 600 / c ms a unit. Every pair is checked against
  pyroutingkit (1 s, its millisecond rounding) and the first rows against scipy (1e-6 s);
- ``import``, ``preprocess`` and ``memory``: each peer runs in a fresh process that loads the
  same graph; import is the peer package's first import, preprocessing builds its structure
  (fangkong: edge twins plus the contraction hierarchy, whose build time, size and peak
  memory are printed apart),
  memory is the peak RSS above the RSS once the graph and the workload are loaded (for
  fangkong without its Snapper, whose STRtree is reported apart).

Peers
-----
- ``scipy``: ``scipy.sparse.csgraph.dijkstra`` with ``indices=`` and ``limit=`` (it has no
  early stop at k targets: a k-nearest query is a full one-to-all search);
- ``networkx``: ``single_source_dijkstra_path_length``/``multi_source_dijkstra``, the slow
  reference, on the demo network only (on the grid it would take hours);
- ``pandana`` (contraction hierarchies): ``shortest_path_lengths`` for k-nearest (one CH query
  per target), ``nodes_in_range`` for isochrones and many-to-many, ``nearest_pois`` for
  multi-source (with a 3,600 s search radius, which it requires, and on a second network
  with every edge reversed: it answers the time *to* the nearest POI, the query is the time
  *from* the nearest source; that network's build is in its preprocessing);
- ``pyroutingkit`` (customizable contraction hierarchies, integer weights in milliseconds):
  ``distances_many_to_many`` for k-nearest and many-to-many; it has no range or one-to-all
  query, so no isochrone or multi-source line.

pandana and pyroutingkit are in the ``bench`` extra; a peer that is not installed is skipped
with the reason. Valhalla is not a peer: its Python package needs routing tiles built from the
.pbf first (``valhalla_build_tiles``), which this benchmark does not do.

A peer whose answers differ from scipy's beyond its tolerance is reported as a MISMATCH and
the run exits with status 1.

Usage::

    python benchmarks/network_queries.py --smoke   # demo + 2,000-node grid, a few queries of
                                                   # each kind: answers checked, nothing timed
    python benchmarks/network_queries.py --quick   # demo, 100k-node grid, city and NY with
                                                   # fewer queries (~10 minutes)
    python benchmarks/network_queries.py           # demo, 1M-node grid, city, NY (pandana's
                                                   # and pyroutingkit's preprocessing of the
                                                   # grid take minutes)
    python benchmarks/network_queries.py --quick --networks grid --nodes 1000000 \
        --only knearest,multisource --peers fangkong,scipy   # the 1M goals alone
    python benchmarks/network_queries.py --networks city,ny --only m2m \
        --peers fangkong,scipy,pyroutingkit   # many-to-many on the real network, by reach

The default networks are ``demo,grid,city,ny`` (``demo,grid`` with ``--smoke``, which never
reads ``../shared``).

``--only`` limits fangkong and scipy to some queries (the other peers run all theirs);
``--nodes`` sets the grid size.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PEERS = ("fangkong", "scipy", "networkx", "pandana", "pyroutingkit")
SECTIONS = ("knearest", "isochrone", "m2m", "multisource")
# single queries of fangkong's plain Dijkstra path, timed beside its CH path
KNN_PLAIN_QUERIES = 300
SEED = 20261122
K = 5
N_TARGETS_KNN = 300
ISO_THRESHOLDS = (60.0, 180.0, 300.0)
M2M_CUTOFF_S = 600.0
# The real network (see the module docstring): DIMACS New York, its unit, the city piece.
ROADNET_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "roadnets"
NY_FILES = ("USA-road-t.NY.gr.gz", "USA-road-d.NY.co.gz")
NY_UNIT_S = 0.0036
CITY_NODES = 40_000
CITY_CENTRE = (-73.9855, 40.7580)  # Times Square (lon, lat)
ROADNETS = ("city", "ny")
# How fangkong's many-to-many ran (Engine.last_m2m_method)
M2M_WAYS = {
    "rphast": "restricted PHAST sweeps, 8 sources a sweep",
    "buckets": "the targets' buckets pruned at the cutoff, one upward search per source",
    "plain": "plain bucket-queue searches",
}
# Many-to-many by reach: the shares of pairs within reach the cutoffs are chosen for
REACH_SHARES = (0.03, 0.30, 0.60, 0.95)
# where the cutoff prunes: the goal there is 2x pyroutingkit, elsewhere 1x
PRUNING_REACH = 0.5
N_MSN_SOURCES = 500
PANDANA_MSN_RADIUS_S = 3600.0
# Tolerances of the answer checks: fangkong must match scipy to 1e-6 s; pyroutingkit rounds
# every edge to a millisecond and pandana stores weights in single precision.
TOLERANCE_S = {
    "fangkong": 1e-6,
    "networkx": 1e-6,
    "scipy": 0.0,
    "pandana": 1.0,
    "pyroutingkit": 1.0,
}


@dataclass(frozen=True)
class Sizes:
    grid_nodes: int
    knn_queries: dict[str, int]
    iso_queries: dict[str, int]
    polygon_queries: int
    m2m_sources: int
    m2m_targets: int
    m2m_run: dict[str, int]  # sources each peer actually runs (prefix); the rest is scaled
    verify_m2m: int
    roadnet_sources: dict[str, int]  # many-to-many sources on ny and city (20,000 targets)
    roadnet_targets: int
    reach_pairs: int  # alternating pairs per cutoff in the many-to-many by reach


QUICK = Sizes(
    grid_nodes=100_000,
    knn_queries={
        "fangkong": 1000,
        "scipy": 20,
        "networkx": 20,
        "pandana": 100,
        "pyroutingkit": 100,
    },
    iso_queries={"fangkong": 200, "scipy": 20, "networkx": 20, "pandana": 20},
    polygon_queries=5,
    m2m_sources=500,
    m2m_targets=10_000,
    m2m_run={"fangkong": 500, "scipy": 20, "networkx": 5, "pandana": 20, "pyroutingkit": 50},
    verify_m2m=5,
    roadnet_sources={"ny": 100, "city": 500},
    roadnet_targets=20_000,
    reach_pairs=2,
)
FULL = Sizes(
    grid_nodes=1_000_000,
    knn_queries={
        "fangkong": 2000,
        "scipy": 10,
        "networkx": 50,
        "pandana": 100,
        "pyroutingkit": 100,
    },
    iso_queries={"fangkong": 500, "scipy": 20, "networkx": 50, "pandana": 20},
    polygon_queries=10,
    m2m_sources=2000,
    m2m_targets=50_000,
    m2m_run={"fangkong": 2000, "scipy": 20, "networkx": 10, "pandana": 20, "pyroutingkit": 20},
    verify_m2m=5,
    roadnet_sources={"ny": 500, "city": 2000},
    roadnet_targets=20_000,
    reach_pairs=3,
)
#: Answers only: every peer runs every query a few times, and nothing is timed or reported.
SMOKE = Sizes(
    grid_nodes=2_000,
    knn_queries=dict.fromkeys(PEERS, 5),
    iso_queries=dict.fromkeys(PEERS, 3),
    polygon_queries=1,
    m2m_sources=5,
    m2m_targets=500,
    m2m_run=dict.fromkeys(PEERS, 5),
    verify_m2m=5,
    roadnet_sources={"ny": 5, "city": 5},
    roadnet_targets=500,
    reach_pairs=1,
)


# ---- measurement helpers -----------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def latencies(fn: Callable[[int], Any], count: int) -> tuple[FloatArray, list[Any]]:
    out = np.empty(count)
    answers = []
    for i in range(count):
        started = time.perf_counter()
        answers.append(fn(i))
        out[i] = time.perf_counter() - started
    return out, answers


def knn_row(times: FloatArray, k: int) -> FloatArray:
    row = np.full(k, np.inf)
    best = np.sort(times)[:k]
    row[: best.shape[0]] = best
    return row


# ---- workers: one fresh process per peer ------------------------------------------------------


def worker(peer: str, workdir: Path) -> None:
    """Run one peer on the saved graph and workload; write its timings and answers."""
    started = time.perf_counter()
    if peer == "fangkong":
        import fangkong.network.engine  # noqa: F401
    elif peer == "scipy":
        import scipy.sparse.csgraph  # noqa: F401
    elif peer == "networkx":
        import networkx  # noqa: F401
    elif peer == "pandana":
        import pandana  # noqa: F401
    elif peer == "pyroutingkit":
        import pyroutingkit  # noqa: F401
    import_s = time.perf_counter() - started

    from fangkong.network.graph import RoadGraph

    graph = RoadGraph.load(workdir / "graph.npz")
    with np.load(workdir / "workload.npz") as data:
        wl = {name: data[name] for name in data.files}
    run = json.loads((workdir / "sizes.json").read_text())
    baseline = rss_mb()
    result: dict[str, Any] = {"import_s": import_s}
    answers: dict[str, Any] = {}
    RUNNERS[peer](graph, wl, run, result, answers)
    result["peak_rss_mb"] = result.pop("engine_peak_rss_mb", peak_rss_mb())
    result["memory_mb"] = result["peak_rss_mb"] - baseline
    (workdir / f"{peer}.json").write_text(json.dumps(result))
    np.savez(workdir / f"{peer}_answers.npz", **answers)


def _save_iso(answers: dict[str, Any], per_query: list[tuple[IntArray, FloatArray]]) -> None:
    ptr = np.zeros(len(per_query) + 1, dtype=np.int64)
    np.cumsum([len(nodes) for nodes, _ in per_query], out=ptr[1:])
    answers["iso_ptr"] = ptr
    answers["iso_node"] = (
        np.concatenate([n for n, _ in per_query]) if per_query else np.zeros(0, np.int64)
    )
    answers["iso_time"] = np.concatenate([t for _, t in per_query]) if per_query else np.zeros(0)


def run_fangkong(
    graph: Any,
    wl: dict[str, Any],
    run: dict[str, Any],
    result: dict[str, Any],
    answers: dict[str, Any],
) -> None:
    from fangkong.network.ch import build_hierarchy
    from fangkong.network.engine import EdgePoints, Engine
    from fangkong.network.isochrone import isochrone
    from fangkong.network.snap import Snapper

    only = set(run["only"])
    started = time.perf_counter()
    plain = Engine(graph, hierarchy=None)
    result["preprocess_plain_s"] = time.perf_counter() - started
    before = rss_mb()
    started = time.perf_counter()
    hierarchy = build_hierarchy(graph)
    result["ch_build_s"] = time.perf_counter() - started
    result["ch_mb"] = hierarchy.nbytes / 1e6
    result["ch_build_rss_mb"] = peak_rss_mb() - before
    result["ch_edges"] = int(hierarchy.up_head.shape[0] + hierarchy.down_tail.shape[0])
    engine = Engine(graph, hierarchy=hierarchy)
    result["preprocess_s"] = result["preprocess_plain_s"] + result["ch_build_s"]
    targets = wl["knn_targets"]
    node = int(wl["knn_sources"][0])
    # Load every kernel from numba's cache once, outside the timings (other target sets, so
    # that the buckets of ``targets`` are built in the timed first query below).
    started = time.perf_counter()
    for eng in (engine, plain):
        eng.k_nearest(node, targets[:7], K)
        eng.k_nearest_sources(node, targets[:7], K)
        eng.reachable_from(node, cutoff_s=1.0)
        eng.multi_source_nearest([node], cutoff_s=1.0)
        for method in ("buckets", "rphast", "auto"):  # both ways; the sweeps' layout
            eng.m2m_method = method
            eng.many_to_many([node], targets[:7], cutoff_s=1.0)
    result["first_query_s"] = time.perf_counter() - started

    n = run["knn_queries"]
    if "knearest" in only:
        started = time.perf_counter()
        engine.k_nearest(node, targets, K)
        result["bucket_first_ms"] = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        engine.k_nearest_sources(node, targets, K)
        result["bucket_first_sources_ms"] = (time.perf_counter() - started) * 1e3
        # a unit moves: a new set that differs by one location (its search, then a regroup)
        moved = []
        rng = np.random.default_rng(SEED + 1)
        for _ in range(5):
            fleet = targets.copy()
            fleet[int(rng.integers(fleet.shape[0]))] = int(rng.integers(graph.n_nodes))
            started = time.perf_counter()
            engine.k_nearest_sources(node, fleet, K)
            moved.append((time.perf_counter() - started) * 1e3)
        result["bucket_moved_ms"] = float(np.median(moved))
        lat, got = latencies(lambda i: engine.k_nearest(int(wl["knn_sources"][i]), targets, K), n)
        result["knn_s"] = lat.tolist()
        answers["knn"] = np.array([knn_row(t, K) for _, t in got])
        settled = []
        for i in range(min(n, 200)):
            engine.k_nearest(int(wl["knn_sources"][i]), targets, K)
            settled.append(engine.last_settled)
        result["knn_settled_mean"] = float(np.mean(settled))
        n_plain = min(n, run["knn_plain_queries"])
        lat_p, _ = latencies(
            lambda i: plain.k_nearest(int(wl["knn_sources"][i]), targets, K), n_plain
        )
        result["knn_plain_s"] = lat_p.tolist()
        settled = []
        for i in range(min(n_plain, 100)):
            plain.k_nearest(int(wl["knn_sources"][i]), targets, K)
            settled.append(plain.last_settled)
        result["knn_plain_settled_mean"] = float(np.mean(settled))
        for k in (1, 10):

            def knn_k(i: int, k: int = k) -> Any:
                return engine.k_nearest(int(wl["knn_sources"][i]), targets, k)

            lat_k, _ = latencies(knn_k, n)
            result[f"knn{k}_s"] = lat_k.tolist()
        lat_ks, _ = latencies(
            lambda i: engine.k_nearest_sources(int(wl["knn_sources"][i]), targets, K), n
        )
        result["knn_sources_s"] = lat_ks.tolist()

    if "isochrone" in only:
        n_iso = run["iso_queries"]
        cutoff = ISO_THRESHOLDS[-1]

        def iso(i: int) -> tuple[IntArray, FloatArray]:
            nodes, times = engine.reachable_from(int(wl["iso_sources"][i]), cutoff_s=cutoff)
            return nodes, times  # in bucket order; the check does not need them sorted

        lat_i, got_i = latencies(iso, n_iso)
        result["iso_s"] = lat_i.tolist()
        _save_iso(answers, got_i[: run["verify_iso"]])
        lat_r, _ = latencies(
            lambda i: isochrone(engine, int(wl["iso_sources"][i]), ISO_THRESHOLDS, polygons=False),
            n_iso,
        )
        result["iso_rings_s"] = lat_r.tolist()

    if "m2m" in only:
        sources, m2m_targets = wl["m2m_sources"][: run["m2m_run"]], wl["m2m_targets"]
        started = time.perf_counter()
        pairs = engine.many_to_many(sources, m2m_targets, cutoff_s=M2M_CUTOFF_S)
        result["m2m_s"] = time.perf_counter() - started
        result["m2m_sources_run"] = int(sources.shape[0])
        result["m2m_pairs"] = len(pairs)
        result["m2m_settled_per_source"] = engine.last_settled / max(1, sources.shape[0])
        result["m2m_method"] = engine.last_m2m_method
        started = time.perf_counter()
        plain_pairs = plain.many_to_many(sources, m2m_targets, cutoff_s=M2M_CUTOFF_S)
        result["m2m_plain_s"] = time.perf_counter() - started
        result["m2m_plain_settled_per_source"] = plain.last_settled / max(1, sources.shape[0])
        if len(plain_pairs) != len(pairs):
            raise AssertionError(
                f"many-to-many: {len(pairs)} pairs on the CH, {len(plain_pairs)} on the plain path"
            )
        del plain_pairs
        head = pairs.source < run["verify_m2m"]  # densify only the rows that are checked
        dense = np.full((run["verify_m2m"], m2m_targets.shape[0]), np.inf)
        dense[pairs.source[head], pairs.target[head]] = pairs.time_s[head]
        answers["m2m"] = dense
        del pairs

    if "multisource" in only:
        _, near = engine.multi_source_nearest(wl["msn_sources"][:3])  # first call: allocation
        times_ch, times_plain = [], []
        for _ in range(3):
            started = time.perf_counter()
            _, near = engine.multi_source_nearest(wl["msn_sources"])
            times_ch.append(time.perf_counter() - started)
        started = time.perf_counter()
        _, near_plain = plain.multi_source_nearest(wl["msn_sources"])
        times_plain.append(time.perf_counter() - started)
        result["msn_s"] = float(np.median(times_ch))
        result["msn_plain_s"] = float(np.median(times_plain))
        answers["msn"] = near
        answers["msn_plain"] = near_plain
    # The engine's memory ends here; the snapper's STRtree (shapely objects) is measured apart.
    result["engine_peak_rss_mb"] = peak_rss_mb()
    if "knearest" not in only or "isochrone" not in only:
        return
    before = rss_mb()

    started = time.perf_counter()
    snapper = Snapper(graph, twin=engine.twin)
    result["snapper_build_s"] = time.perf_counter() - started
    result["snapper_mb"] = rss_mb() - before
    # from random lon/lat points, snapped first (snapping timed on its own)
    lon, lat_deg = wl["point_lon"], wl["point_lat"]
    started = time.perf_counter()
    snapped = snapper.snap(lon, lat_deg)
    result["snap_s"] = time.perf_counter() - started
    result["snap_points"] = int(lon.shape[0])
    points = snapped.points
    lat_p, _ = latencies(lambda i: engine.k_nearest(points[i % len(points)], targets, K), n)
    result["knn_point_s"] = lat_p.tolist()
    lat_poly, rings = latencies(
        lambda i: isochrone(
            engine,
            EdgePoints([int(points.edge[i])], [points.fraction[i]])
            if points.edge[i] >= 0
            else int(wl["iso_sources"][i]),
            ISO_THRESHOLDS,
        ),
        run["polygon_queries"],
    )
    result["iso_polygon_s"] = lat_poly.tolist()
    result["iso_polygon_pieces"] = float(np.mean([len(r[-1].edge) for r in rings]))


def _csr(graph: Any) -> Any:
    from scipy.sparse import csr_matrix

    n = graph.n_nodes
    # parallel edges: csgraph takes the cheaper one; csr built from the CSR arrays directly
    return csr_matrix((graph.time_s, graph.head, graph.indptr), shape=(n, n))


def run_scipy(
    graph: Any,
    wl: dict[str, Any],
    run: dict[str, Any],
    result: dict[str, Any],
    answers: dict[str, Any],
) -> None:
    from scipy.sparse.csgraph import dijkstra

    only = set(run["only"])
    started = time.perf_counter()
    a = _csr(graph)
    result["preprocess_s"] = time.perf_counter() - started
    targets = wl["knn_targets"]
    if "knearest" in only:
        lat, got = latencies(
            lambda i: dijkstra(a, indices=int(wl["knn_sources"][i]))[targets], run["knn_queries"]
        )
        result["knn_s"] = lat.tolist()
        answers["knn"] = np.array([knn_row(t, K) for t in got])
    if "isochrone" in only:
        cutoff = ISO_THRESHOLDS[-1]

        def iso(i: int) -> tuple[IntArray, FloatArray]:
            dist = dijkstra(a, indices=int(wl["iso_sources"][i]), limit=cutoff)
            reached = np.flatnonzero(np.isfinite(dist))
            return reached, dist[reached]

        lat_i, got_i = latencies(iso, run["iso_queries"])
        result["iso_s"] = lat_i.tolist()
        _save_iso(answers, got_i[: run["verify_iso"]])
    if "m2m" in only:
        sources = wl["m2m_sources"][: run["m2m_run"]]
        started = time.perf_counter()
        block = 10  # rows of n floats each: keep the dense block small
        rows = []
        for lo in range(0, sources.shape[0], block):
            d = dijkstra(a, indices=sources[lo : lo + block], limit=M2M_CUTOFF_S)
            rows.append(d[:, wl["m2m_targets"]])
        result["m2m_s"] = time.perf_counter() - started
        result["m2m_sources_run"] = int(sources.shape[0])
        answers["m2m"] = np.vstack(rows)[: run["verify_m2m"]]
    if "multisource" in only:
        started = time.perf_counter()
        near = dijkstra(a, indices=wl["msn_sources"], min_only=True)
        result["msn_s"] = time.perf_counter() - started
        answers["msn"] = near


def run_networkx(
    graph: Any,
    wl: dict[str, Any],
    run: dict[str, Any],
    result: dict[str, Any],
    answers: dict[str, Any],
) -> None:
    import networkx as nx

    started = time.perf_counter()
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n_nodes))
    for u, v, t in zip(
        graph.tail.tolist(), graph.head.tolist(), graph.time_s.tolist(), strict=True
    ):
        if not g.has_edge(u, v) or g[u][v]["weight"] > t:
            g.add_edge(u, v, weight=t)
    result["preprocess_s"] = time.perf_counter() - started
    n = graph.n_nodes
    targets = wl["knn_targets"]

    def dense(lengths: dict[int, float]) -> FloatArray:
        out = np.full(n, np.inf)
        out[list(lengths)] = list(lengths.values())
        return out

    lat, got = latencies(
        lambda i: dense(nx.single_source_dijkstra_path_length(g, int(wl["knn_sources"][i])))[
            targets
        ],
        run["knn_queries"],
    )
    result["knn_s"] = lat.tolist()
    answers["knn"] = np.array([knn_row(t, K) for t in got])

    def iso(i: int) -> tuple[IntArray, FloatArray]:
        lengths = nx.single_source_dijkstra_path_length(
            g, int(wl["iso_sources"][i]), cutoff=ISO_THRESHOLDS[-1]
        )
        nodes = np.array(sorted(lengths), dtype=np.int64)
        return nodes, np.array([lengths[v] for v in nodes.tolist()])

    lat_i, got_i = latencies(iso, run["iso_queries"])
    result["iso_s"] = lat_i.tolist()
    _save_iso(answers, got_i[: run["verify_iso"]])
    sources = wl["m2m_sources"][: run["m2m_run"]]
    started = time.perf_counter()
    rows = [
        dense(nx.single_source_dijkstra_path_length(g, int(s), cutoff=M2M_CUTOFF_S))[
            wl["m2m_targets"]
        ]
        for s in sources.tolist()
    ]
    result["m2m_s"] = time.perf_counter() - started
    result["m2m_sources_run"] = int(sources.shape[0])
    answers["m2m"] = np.vstack(rows)[: run["verify_m2m"]]
    started = time.perf_counter()
    lengths = nx.multi_source_dijkstra_path_length(g, set(wl["msn_sources"].tolist()))
    result["msn_s"] = time.perf_counter() - started
    answers["msn"] = dense(lengths)


def run_pandana(
    graph: Any,
    wl: dict[str, Any],
    run: dict[str, Any],
    result: dict[str, Any],
    answers: dict[str, Any],
) -> None:
    import pandana
    import pandas as pd

    started = time.perf_counter()
    net = pandana.Network(
        pd.Series(graph.lon),
        pd.Series(graph.lat),
        pd.Series(graph.tail.astype(np.int64)),
        pd.Series(graph.head.astype(np.int64)),
        pd.DataFrame({"time_s": graph.time_s}),
        twoway=False,
    )
    result["preprocess_s"] = time.perf_counter() - started
    targets = wl["knn_targets"].astype(np.int64)
    n_t = targets.shape[0]
    lat, got = latencies(
        lambda i: np.asarray(
            net.shortest_path_lengths([int(wl["knn_sources"][i])] * n_t, targets), dtype=np.float64
        ),
        run["knn_queries"],
    )
    result["knn_s"] = lat.tolist()
    answers["knn"] = np.array([knn_row(t, K) for t in got])

    def iso(i: int) -> tuple[IntArray, FloatArray]:
        frame = net.nodes_in_range([int(wl["iso_sources"][i])], ISO_THRESHOLDS[-1])
        order = np.argsort(frame["destination"].to_numpy())
        return (
            frame["destination"].to_numpy()[order].astype(np.int64),
            frame["time_s"].to_numpy()[order].astype(np.float64),
        )

    lat_i, got_i = latencies(iso, run["iso_queries"])
    result["iso_s"] = lat_i.tolist()
    _save_iso(answers, got_i[: run["verify_iso"]])
    sources = wl["m2m_sources"][: run["m2m_run"]]
    m2m_targets = wl["m2m_targets"]
    started = time.perf_counter()
    frame = net.nodes_in_range(sources.astype(np.int64).tolist(), M2M_CUTOFF_S)
    # Timed alike with fangkong's many_to_many: up to the sparse (source, target, time) pairs
    # within the cutoff, the targets alone kept. The dense rows that the check compares are
    # built after the timing, for both.
    pair_source = frame["source"].to_numpy()
    pair_target = frame["destination"].to_numpy()
    pair_time = frame["time_s"].to_numpy()
    kept = np.isin(pair_target, m2m_targets)
    pair_source, pair_target, pair_time = pair_source[kept], pair_target[kept], pair_time[kept]
    result["m2m_s"] = time.perf_counter() - started
    result["m2m_sources_run"] = int(sources.shape[0])
    # The checked rows (the sources and the targets are distinct nodes: see workload()).
    n_checked = min(run["verify_m2m"], sources.shape[0])
    row_of = np.full(graph.n_nodes, -1, dtype=np.int64)
    row_of[sources[:n_checked]] = np.arange(n_checked)
    column_of = np.full(graph.n_nodes, -1, dtype=np.int64)
    column_of[m2m_targets] = np.arange(m2m_targets.shape[0])
    rows = row_of[pair_source.astype(np.int64)]
    checked = rows >= 0
    dense = np.full((n_checked, m2m_targets.shape[0]), np.inf)
    dense[rows[checked], column_of[pair_target[checked].astype(np.int64)]] = pair_time[checked]
    answers["m2m"] = dense
    # nearest_pois gives each node's time *to* its nearest POI; the query is the time *from*
    # the nearest source, so it runs on the reversed network (a second contraction hierarchy,
    # its build counted in the preprocessing).
    started = time.perf_counter()
    reverse = pandana.Network(
        pd.Series(graph.lon),
        pd.Series(graph.lat),
        pd.Series(graph.head.astype(np.int64)),
        pd.Series(graph.tail.astype(np.int64)),
        pd.DataFrame({"time_s": graph.time_s}),
        twoway=False,
    )
    result["preprocess_s"] += time.perf_counter() - started
    msn = wl["msn_sources"]
    started = time.perf_counter()
    reverse.set_pois(
        "posts", PANDANA_MSN_RADIUS_S, 1, pd.Series(graph.lon[msn]), pd.Series(graph.lat[msn])
    )
    near = reverse.nearest_pois(PANDANA_MSN_RADIUS_S, "posts", num_pois=1, max_distance=np.inf)
    result["msn_s"] = time.perf_counter() - started
    answers["msn"] = near[1].to_numpy().astype(np.float64)
    answers["msn_radius"] = np.array([PANDANA_MSN_RADIUS_S])


def run_pyroutingkit(
    graph: Any,
    wl: dict[str, Any],
    run: dict[str, Any],
    result: dict[str, Any],
    answers: dict[str, Any],
) -> None:
    import pyroutingkit

    started = time.perf_counter()
    topo = pyroutingkit.CCHTopology()
    topo.build(
        graph.tail.astype(np.uint32),
        graph.head.astype(np.uint32),
        graph.lat.astype(np.float32),
        graph.lon.astype(np.float32),
        graph.n_nodes,
    )
    result["preprocess_topology_s"] = time.perf_counter() - started
    metric = pyroutingkit.CCHMetric(topo)
    started_c = time.perf_counter()
    metric.customize(np.round(graph.time_s * 1000.0).astype(np.uint32))
    result["customize_s"] = time.perf_counter() - started_c
    result["preprocess_s"] = time.perf_counter() - started
    inf = pyroutingkit.INF_WEIGHT

    def seconds(ms: NDArray[np.uint32]) -> FloatArray:
        out = ms.astype(np.float64) / 1000.0
        out[ms >= inf] = np.inf
        return out

    targets = wl["knn_targets"].astype(np.uint32)
    lat, got = latencies(
        lambda i: seconds(
            metric.distances_many_to_many(
                np.array([wl["knn_sources"][i]], dtype=np.uint32), targets
            )[0]
        ),
        run["knn_queries"],
    )
    result["knn_s"] = lat.tolist()
    answers["knn"] = np.array([knn_row(t, K) for t in got])
    sources = wl["m2m_sources"][: run["m2m_run"]].astype(np.uint32)
    started = time.perf_counter()
    matrix = seconds(metric.distances_many_to_many(sources, wl["m2m_targets"].astype(np.uint32)))
    matrix[matrix > M2M_CUTOFF_S] = np.inf
    result["m2m_s"] = time.perf_counter() - started
    result["m2m_sources_run"] = int(sources.shape[0])
    answers["m2m"] = matrix[: run["verify_m2m"]]


def run_reach(
    graph: Any,
    wl: dict[str, Any],
    run: dict[str, Any],
    result: dict[str, Any],
    answers: dict[str, Any],
) -> None:
    """Many-to-many by reach: fangkong and pyroutingkit in this one process, alternating pairs
    of calls per cutoff; every pair checked against pyroutingkit, the first rows against
    scipy. Timings: fangkong up to its sparse pairs; pyroutingkit up to its dense matrix
    of milliseconds (``prk``) and up to the seconds within the cutoff (``prk_s``, what the
    per-peer table times)."""
    from scipy.sparse.csgraph import dijkstra

    from fangkong.network.ch import build_hierarchy
    from fangkong.network.engine import Engine
    from fangkong.network.rphast import LANES

    sources, targets = wl["m2m_sources"], wl["m2m_targets"]
    engine = Engine(graph, hierarchy=build_hierarchy(graph))
    # kernels from numba's cache and the sweep layout, outside the timings
    engine.many_to_many(sources[: LANES + 1], targets, cutoff_s=1.0)
    engine.many_to_many(sources[:2], targets[:7], cutoff_s=1.0)
    metric: Any = None
    inf_weight = 0
    if available("pyroutingkit") is None:
        import pyroutingkit

        topo = pyroutingkit.CCHTopology()
        topo.build(
            graph.tail.astype(np.uint32),
            graph.head.astype(np.uint32),
            graph.lat.astype(np.float32),
            graph.lon.astype(np.float32),
            graph.n_nodes,
        )
        metric = pyroutingkit.CCHMetric(topo)
        metric.customize(np.round(graph.time_s * 1000.0).astype(np.uint32))
        inf_weight = pyroutingkit.INF_WEIGHT
    src32, tgt32 = sources.astype(np.uint32), targets.astype(np.uint32)
    verify = min(run["verify_m2m"], sources.shape[0])
    exact = dijkstra(_csr(graph), indices=sources[:verify])[:, targets]
    rows: list[dict[str, Any]] = []
    for cutoff in run["reach_cutoffs"]:
        row: dict[str, Any] = {"cutoff": cutoff, "fk": [], "prk": [], "prk_s": []}
        pairs: Any = None
        matrix: Any = None
        for rep in range(run["reach_pairs"]):
            order = ("fangkong", "pyroutingkit") if rep % 2 == 0 else ("pyroutingkit", "fangkong")
            for who in order:
                if who == "fangkong":
                    del pairs
                    started = time.perf_counter()
                    pairs = engine.many_to_many(sources, targets, cutoff_s=cutoff)
                    row["fk"].append(time.perf_counter() - started)
                    row["method"] = engine.last_m2m_method
                elif metric is not None:
                    del matrix
                    started = time.perf_counter()
                    ms_matrix = metric.distances_many_to_many(src32, tgt32)
                    row["prk"].append(time.perf_counter() - started)
                    matrix = ms_matrix.astype(np.float64) / 1000.0
                    matrix[(ms_matrix >= inf_weight) | (matrix > cutoff)] = np.inf
                    row["prk_s"].append(time.perf_counter() - started)
                    del ms_matrix
        row["pairs"] = len(pairs)
        row["reach"] = len(pairs) / max(1, sources.shape[0] * targets.shape[0])
        dense = np.full((sources.shape[0], targets.shape[0]), np.inf)
        dense[pairs.source, pairs.target] = pairs.time_s
        del pairs
        want = np.where(exact <= cutoff, exact, np.inf)
        bad, diff = compare(dense[:verify], want)
        row["check_scipy"] = (
            f"{'ok' if bad == 0 and diff <= TOLERANCE_S['fangkong'] else 'MISMATCH'} vs scipy "
            f"on {verify} sources: max |dt| {diff:.2g} s, {bad} differ in reach"
        )
        if matrix is not None:
            tol = TOLERANCE_S["pyroutingkit"]
            near_edge = (np.abs(matrix - cutoff) <= tol) | (np.abs(dense - cutoff) <= tol)
            bad, diff = compare(
                np.where(near_edge, np.inf, dense), np.where(near_edge, np.inf, matrix)
            )
            row["check_prk"] = (
                f"{'ok' if bad == 0 and diff <= tol else 'MISMATCH'} vs pyroutingkit on all "
                f"{dense.size:,} pairs: max |dt| {diff:.2g} s, {bad} differ in reach"
            )
            del matrix
            matrix = None
        del dense
        rows.append(row)
    result["reach"] = rows
    result["preprocess_s"] = float("nan")


RUNNERS: dict[str, Callable[..., None]] = {
    "fangkong": run_fangkong,
    "scipy": run_scipy,
    "networkx": run_networkx,
    "pandana": run_pandana,
    "pyroutingkit": run_pyroutingkit,
    "reach": run_reach,
}


# ---- the parent: workloads, runs, checks, table ----------------------------------------------


def _dimacs_rows(path: Path, tag: bytes) -> IntArray:
    """The integer columns after ``tag`` of a gzipped DIMACS file's ``tag`` lines (``a u v
    w`` arcs, ``v id x y`` coordinates), as an (rows, 3) array."""
    import gzip

    with gzip.open(path, "rb") as handle:
        data = handle.read()
    start = data.index(b"\n" + tag + b" ") + 1
    fields = np.array(data[start:].split(), dtype=object).reshape(-1, 4)
    if not (fields[:, 0] == tag).all():
        raise ValueError(f"{path}: a line other than {tag.decode()!r} after the first one")
    return fields[:, 1:].astype(np.int64)


def load_dimacs_ny(folder: Path) -> Any:
    """DIMACS New York as a RoadGraph: arcs of ``USA-road-t.NY.gr.gz`` (travel-time units
    times :data:`NY_UNIT_S`; of parallel arcs the fastest), coordinates of
    ``USA-road-d.NY.co.gz`` (microdegrees, longitude first)."""
    from fangkong.network.graph import from_edges

    arcs = _dimacs_rows(folder / NY_FILES[0], b"a")
    coords = _dimacs_rows(folder / NY_FILES[1], b"v")
    n = coords.shape[0]
    lon = np.empty(n)
    lat = np.empty(n)
    lon[coords[:, 0] - 1] = coords[:, 1] / 1e6
    lat[coords[:, 0] - 1] = coords[:, 2] / 1e6
    tail, head, units = arcs[:, 0] - 1, arcs[:, 1] - 1, arcs[:, 2]
    order = np.lexsort((units, head, tail))
    tail, head, units = tail[order], head[order], units[order]
    first = np.ones(tail.shape[0], dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    return from_edges(
        lon,
        lat,
        tail[first],
        head[first],
        units[first] * NY_UNIT_S,
        meta={"source": "DIMACS USA-road-t.NY", "unit_s": str(NY_UNIT_S)},
    )


def city_piece(graph: Any, centre: tuple[float, float], count: int) -> Any:
    """The ``count`` nodes nearest by travel time to the node nearest ``centre`` and the arcs
    between them. Strongly connected on a symmetric network: each node's shortest path from
    the centre runs through nearer nodes only."""
    from scipy.sparse.csgraph import connected_components, dijkstra

    from fangkong.network.graph import from_edges

    start = int(np.argmin((graph.lon - centre[0]) ** 2 + (graph.lat - centre[1]) ** 2))
    near = dijkstra(_csr(graph), indices=start)
    keep = np.argsort(near, kind="stable")[:count]
    index = np.full(graph.n_nodes, -1, dtype=np.int64)
    index[keep] = np.arange(keep.shape[0])
    arcs = (index[graph.tail] >= 0) & (index[graph.head] >= 0)
    piece = from_edges(
        graph.lon[keep],
        graph.lat[keep],
        index[graph.tail[arcs]],
        index[graph.head[arcs]],
        graph.time_s[arcs],
        meta={"source": f"{count} nodes of DIMACS NY nearest {centre}"},
    )
    parts, _ = connected_components(_csr(piece), directed=True, connection="strong")
    if parts != 1:
        raise ValueError(f"the city piece has {parts} strongly connected components")
    return piece


def roadnet_missing(folder: Path) -> str | None:
    """None when the DIMACS New York files are in ``folder``, else why the network is skipped."""
    missing = [name for name in NY_FILES if not (folder / name).is_file()]
    if missing:
        return f"{', '.join(missing)} not found in {folder} (--roadnet)"
    return None


def build_network(name: str, sizes: Sizes, roadnet: Path) -> tuple[Any, str]:
    if name == "demo":
        from fangkong.demo.build import DEMO_PBF
        from fangkong.network.osm import graph_from_osm

        built = graph_from_osm(DEMO_PBF)
        graph = built[0] if isinstance(built, tuple) else built
        return graph, "demo county (Liechtenstein OSM)"
    if name == "ny":
        return load_dimacs_ny(
            roadnet
        ), f"DIMACS New York, arc costs {NY_UNIT_S * 1e3:.1f} ms a unit"
    if name == "city":
        piece = city_piece(load_dimacs_ny(roadnet), CITY_CENTRE, CITY_NODES)
        return piece, f"city: the {CITY_NODES:,} nodes of DIMACS New York nearest Times Square"
    from fangkong.network.synthetic import grid_city

    return grid_city(sizes.grid_nodes, seed=1), f"grid_city({sizes.grid_nodes:,}, seed=1)"


def sizes_for(network: str, sizes: Sizes) -> Sizes:
    """The mode's sizes, with the many-to-many of the real networks (all of pyroutingkit's
    sources: its time is the reference there)."""
    if network not in ROADNETS:
        return sizes
    n_src = sizes.roadnet_sources[network]
    run = {peer: min(n_src, count) for peer, count in sizes.m2m_run.items()}
    run["fangkong"] = run["pyroutingkit"] = n_src
    return dataclasses.replace(
        sizes, m2m_sources=n_src, m2m_targets=sizes.roadnet_targets, m2m_run=run
    )


def reach_cutoffs(graph: Any, wl: dict[str, Any], count: int) -> list[float]:
    """600 s and the cutoffs at which :data:`REACH_SHARES` of the pairs are within reach, from
    scipy's times for ``count`` of the many-to-many's sources (to 10 s; a cutoff within 15 %
    of 600 s is dropped)."""
    from scipy.sparse.csgraph import dijkstra

    times = dijkstra(_csr(graph), indices=wl["m2m_sources"][:count])[:, wl["m2m_targets"]]
    finite = np.sort(times[np.isfinite(times)])
    cutoffs = {M2M_CUTOFF_S}
    for share in REACH_SHARES:
        at = finite[min(finite.shape[0] - 1, int(share * times.size))]
        cutoff = float(np.ceil(at / 10.0) * 10.0)
        if abs(cutoff - M2M_CUTOFF_S) > 0.15 * M2M_CUTOFF_S:
            cutoffs.add(cutoff)
    return sorted(cutoffs)


def workload(graph: Any, sizes: Sizes, rng: np.random.Generator) -> dict[str, Any]:
    n = graph.n_nodes
    n_knn = max(sizes.knn_queries.values())
    n_iso = max(sizes.iso_queries.values())
    m2m_targets = (
        np.arange(n, dtype=np.int64)
        if n < sizes.m2m_targets
        else rng.choice(n, sizes.m2m_targets, replace=False)
    )
    lon = rng.uniform(graph.lon.min(), graph.lon.max(), max(n_knn, 10_000))
    lat = rng.uniform(graph.lat.min(), graph.lat.max(), max(n_knn, 10_000))
    return {
        "knn_sources": rng.integers(0, n, n_knn),
        "knn_targets": rng.choice(n, N_TARGETS_KNN, replace=False),
        "iso_sources": rng.integers(0, n, n_iso),
        # distinct, as the targets are: a peer that answers by node cannot tell two apart
        "m2m_sources": rng.choice(n, sizes.m2m_sources, replace=False),
        "m2m_targets": m2m_targets,
        "msn_sources": rng.choice(n, min(N_MSN_SOURCES, n), replace=False),
        "point_lon": lon,
        "point_lat": lat,
    }


NOT_INSTALLED = 'not installed (pip install -e ".[bench]")'


def available(peer: str) -> str | None:
    """None when the peer can run, else the reason it is skipped."""
    if peer in ("fangkong", "scipy"):
        return None
    if importlib.util.find_spec(peer) is None:
        return NOT_INSTALLED
    if peer == "pandana" and importlib.util.find_spec("pandas") is None:
        return NOT_INSTALLED
    return None


def run_peer(peer: str, workdir: Path, timeout_s: float) -> tuple[dict[str, Any] | None, str]:
    cmd = [sys.executable, __file__, "--worker", peer, "--workdir", str(workdir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout_s:.0f} s"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return None, "failed: " + " | ".join(tail)
    return json.loads((workdir / f"{peer}.json").read_text()), ""


def compare(a: FloatArray, b: FloatArray) -> tuple[int, float]:
    """(pairs whose reachability differs, max |difference| over pairs finite in both)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mismatch = int((np.isinf(a) != np.isinf(b)).sum())
    both = np.isfinite(a) & np.isfinite(b)
    return mismatch, float(np.abs(a[both] - b[both]).max()) if both.any() else 0.0


def check(
    peer: str,
    query: str,
    mine: dict[str, Any],
    ref: dict[str, Any],
    n_nodes: int,
) -> str:
    """Compare a peer's answers with scipy's on the queries both ran."""
    if peer == "scipy":
        return "reference"
    tol = TOLERANCE_S[peer]
    if query == "knn":
        q = min(mine["knn"].shape[0], ref["knn"].shape[0])
        bad, diff = compare(mine["knn"][:q], ref["knn"][:q])
        on = f"{q} queries"
    elif query == "iso":
        q = min(mine["iso_ptr"].shape[0], ref["iso_ptr"].shape[0]) - 1
        bad, diff = 0, 0.0
        for i in range(q):
            rows = []
            for answer in (mine, ref):
                lo, hi = answer["iso_ptr"][i], answer["iso_ptr"][i + 1]
                dense = np.full(n_nodes, np.inf)
                dense[answer["iso_node"][lo:hi]] = answer["iso_time"][lo:hi]
                rows.append(dense)
            # nodes within rounding distance of the threshold (in either answer) may fall
            # either side
            near_edge = (np.abs(rows[1] - ISO_THRESHOLDS[-1]) <= tol) | (
                np.abs(rows[0] - ISO_THRESHOLDS[-1]) <= tol
            )
            n_bad, d = compare(
                np.where(near_edge, np.inf, rows[0]), np.where(near_edge, np.inf, rows[1])
            )
            bad, diff = bad + n_bad, max(diff, d)
        on = f"{q} queries"
    elif query == "m2m":
        q = min(mine["m2m"].shape[0], ref["m2m"].shape[0])
        a, b = mine["m2m"][:q], ref["m2m"][:q]
        near_edge = (np.abs(b - M2M_CUTOFF_S) <= tol) | (np.abs(a - M2M_CUTOFF_S) <= tol)
        bad, diff = compare(np.where(near_edge, np.inf, a), np.where(near_edge, np.inf, b))
        on = f"{q} sources"
    else:
        a, b = mine["msn"], ref["msn"]
        if "msn_radius" in mine:  # pandana reports only what lies within its search radius
            b = np.where(b > float(mine["msn_radius"][0]) - tol, np.inf, b)
            a = np.where(a > float(mine["msn_radius"][0]) - tol, np.inf, a)
        bad, diff = compare(a, b)
        on = f"{a.shape[0]:,} nodes"
    verdict = "ok" if bad == 0 and diff <= tol else "MISMATCH"
    return f"{verdict} vs scipy on {on}: max |dt| {diff:.2g} s, {bad} differ in reach"


def ratio_line(query: str, peer: str, mine: float, theirs: float, what: str) -> str:
    if not (np.isfinite(mine) and np.isfinite(theirs)) or mine <= 0 or theirs <= 0:
        return f"fangkong vs {peer}: n/a ({query})"
    factor = theirs / mine
    word = "faster" if factor >= 1 else "slower"
    factor = factor if factor >= 1 else 1 / factor
    return f"fangkong vs {peer}: {factor:.1f} times {word} ({query}, {what})"


def ms(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q)) if len(values) else float("nan")


def report(
    network: str,
    label: str,
    graph: Any,
    sizes: Sizes,
    results: dict[str, Any],
    skipped: dict[str, str],
    answers: dict[str, dict[str, Any]],
    mismatches: list[str],
) -> list[str]:
    """The network's table; each check that failed is added to ``mismatches`` too."""
    lines = [f"\n== {network}: {label}: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges =="]
    for peer, reason in skipped.items():
        lines.append(f"{peer}: skipped: {reason}")
    ref = answers.get("scipy")
    fk = results.get("fangkong") or {}

    def add_check(peer: str, query: str) -> str:
        if ref is None or peer not in answers:
            return ""
        if query not in ("iso",) and query not in answers[peer]:
            return ""
        if query == "iso" and ("iso_ptr" not in answers[peer] or "iso_ptr" not in ref):
            return ""
        if query not in ("iso",) and query not in ref:
            return "(not checked: scipy skipped this query)"
        verdict = check(peer, query, answers[peer], ref, graph.n_nodes)
        if verdict.startswith("MISMATCH"):
            mismatches.append(f"{network}: {peer} {query}: {verdict}")
        return verdict

    def row(name: str, q: Sequence[float], note: str) -> str:
        return (
            f"{name:<18}{len(q):>8}{ms(q, 50):>10.3f}{ms(q, 99):>10.3f}"
            f"{len(q) / sum(q):>10.0f}  {note}"
        )

    if "knn_s" in fk or any("knn_s" in r for r in results.values()):
        lines.append(
            f"-- k-nearest: k={K} of {N_TARGETS_KNN} targets from a random node (single queries) --"
        )
        lines.append(f"{'peer':<18}{'queries':>8}{'p50 ms':>10}{'p99 ms':>10}{'q/s':>10}  check")
        for peer, r in results.items():
            if "knn_s" in r:
                name = "fangkong (CH)" if peer == "fangkong" else peer
                lines.append(row(name, r["knn_s"], add_check(peer, "knn")))
            if peer == "fangkong" and "knn_plain_s" in r:
                lines.append(
                    row(
                        "fangkong plain",
                        r["knn_plain_s"],
                        "(Dijkstra with early stop, the reference path)",
                    )
                )
    if "knn_s" in fk:
        lines.append(f"{'  CH k=1':<26}{ms(fk['knn1_s'], 50):>10.3f}{ms(fk['knn1_s'], 99):>10.3f}")
        lines.append(
            f"{'  CH k=10':<26}{ms(fk['knn10_s'], 50):>10.3f}{ms(fk['knn10_s'], 99):>10.3f}"
        )
        if "knn_point_s" in fk:
            lines.append(
                f"{'  CH from snapped pt':<26}{ms(fk['knn_point_s'], 50):>10.3f}"
                f"{ms(fk['knn_point_s'], 99):>10.3f}  (k={K}, random lon/lat in the "
                "bbox)"
            )
        lines.append(
            f"{'  CH k_nearest_sources':<26}{ms(fk['knn_sources_s'], 50):>10.3f}"
            f"{ms(fk['knn_sources_s'], 99):>10.3f}  (units -> incident)"
        )
        lines.append(
            f"  fangkong CH settles {fk['knn_settled_mean']:,.0f} nodes per k={K} query "
            f"on average (plain Dijkstra: {fk['knn_plain_settled_mean']:,.0f}); the "
            f"first query on a new target set builds its buckets: "
            f"{fk['bucket_first_ms']:.1f} ms (targets), "
            f"{fk['bucket_first_sources_ms']:.1f} ms (sources), "
            f"{fk['bucket_moved_ms']:.1f} ms when one unit of the set moved"
        )
        lines.append(
            ratio_line(
                "k-nearest", "its plain path", ms(fk["knn_s"], 50), ms(fk["knn_plain_s"], 50), "p50"
            )
        )
        for peer, r in results.items():
            if peer != "fangkong" and "knn_s" in r:
                lines.append(
                    ratio_line("k-nearest", peer, ms(fk["knn_s"], 50), ms(r["knn_s"], 50), "p50")
                )
                lines.append(
                    ratio_line("k-nearest", peer, ms(fk["knn_s"], 99), ms(r["knn_s"], 99), "p99")
                )

    if any("iso_s" in r for r in results.values()):
        lines.append(
            f"-- isochrone: all nodes within {ISO_THRESHOLDS[-1]:.0f} s of a random "
            "node (rings 60/180/300 s from the same search) --"
        )
        lines.append(f"{'peer':<18}{'queries':>8}{'p50 ms':>10}{'p99 ms':>10}{'q/s':>10}  check")
        for peer, r in results.items():
            if "iso_s" in r:
                lines.append(row(peer, r["iso_s"], add_check(peer, "iso")))
    if "iso_s" in fk:
        lines.append(
            f"  fangkong rings 60/180/300 s as edge pieces (no polygon): p50 "
            f"{ms(fk['iso_rings_s'], 50):.2f} ms, p99 {ms(fk['iso_rings_s'], 99):.2f} ms"
        )
        if "iso_polygon_s" in fk:
            lines.append(
                f"  fangkong full rings with polygons (from snapped points, 50 m "
                f"buffer): p50 {ms(fk['iso_polygon_s'], 50):.1f} ms, p99 "
                f"{ms(fk['iso_polygon_s'], 99):.1f} ms, "
                f"{fk['iso_polygon_pieces']:,.0f} pieces in the 300 s ring (GEOS "
                "union dominates)"
            )
        for peer, r in results.items():
            if peer != "fangkong" and "iso_s" in r:
                lines.append(
                    ratio_line("isochrone", peer, ms(fk["iso_s"], 50), ms(r["iso_s"], 50), "p50")
                )

    if any("m2m_s" in r for r in results.values()):
        lines.append(
            f"-- many-to-many: {sizes.m2m_sources:,} sources x "
            f"{min(sizes.m2m_targets, graph.n_nodes):,} targets within "
            f"{M2M_CUTOFF_S:.0f} s --"
        )
        lines.append(f"{'peer':<14}{'ran':>8}{'run s':>10}{'all s (scaled)':>16}  check")
        totals: dict[str, float] = {}
        for peer, r in results.items():
            if "m2m_s" in r:
                scale = sizes.m2m_sources / r["m2m_sources_run"]
                totals[peer] = r["m2m_s"] * scale
                note = "" if scale == 1 else f" (x{scale:.0f})"
                lines.append(
                    f"{peer:<14}{r['m2m_sources_run']:>8}{r['m2m_s']:>10.2f}"
                    f"{totals[peer]:>12.1f}{note:<6}  {add_check(peer, 'm2m')}"
                )
        if "m2m_s" in fk:
            lines.append(
                f"  fangkong: {fk['m2m_pairs']:,} pairs within the cutoff, "
                f"{os.cpu_count()} threads; on the CH by "
                f"{M2M_WAYS.get(fk.get('m2m_method', ''), '?')} "
                f"({fk['m2m_settled_per_source']:,.0f} nodes settled upwards per "
                f"source); its "
                f"plain path (a bucket-queue search per source, "
                f"{fk['m2m_plain_settled_per_source']:,.0f} settled) "
                f"{fk['m2m_plain_s']:.2f} s"
            )
            for peer, total in totals.items():
                if peer != "fangkong":
                    lines.append(
                        ratio_line("many-to-many", peer, totals["fangkong"], total, "total, scaled")
                    )

    if any("msn_s" in r for r in results.values()):
        lines.append(f"-- multi-source nearest: {N_MSN_SOURCES} sources, every node --")
        lines.append(f"{'peer':<18}{'s':>10}  check")
        for peer, r in results.items():
            if "msn_s" in r:
                extra = (
                    f" (search radius {PANDANA_MSN_RADIUS_S:.0f} s)" if peer == "pandana" else ""
                )
                name = "fangkong (PHAST)" if peer == "fangkong" else peer
                lines.append(f"{name:<18}{r['msn_s']:>10.3f}  {add_check(peer, 'msn')}{extra}")
            if peer == "fangkong" and "msn_plain_s" in r:
                plain_check = (
                    check(
                        "fangkong", "msn", {"msn": answers[peer]["msn_plain"]}, ref, graph.n_nodes
                    )
                    if ref is not None and "msn" in ref
                    else ""
                )
                if plain_check.startswith("MISMATCH"):
                    mismatches.append(f"{network}: fangkong plain msn: {plain_check}")
                lines.append(
                    f"{'fangkong plain':<18}{r['msn_plain_s']:>10.3f}  {plain_check}"
                    " (one Dijkstra seeded with all sources)"
                )
    if "msn_s" in fk:
        lines.append(
            ratio_line("multi-source", "its plain path", fk["msn_s"], fk["msn_plain_s"], "time")
        )
        for peer, r in results.items():
            if peer != "fangkong" and "msn_s" in r:
                lines.append(ratio_line("multi-source", peer, fk["msn_s"], r["msn_s"], "time"))

    lines.append("-- import, preprocessing, memory (fresh process per peer) --")
    lines.append(f"{'peer':<14}{'import s':>10}{'prep s':>10}{'mem MB':>10}{'peak RSS MB':>13}")
    for peer, r in results.items():
        lines.append(
            f"{peer:<14}{r['import_s']:>10.2f}{r['preprocess_s']:>10.2f}"
            f"{r['memory_mb']:>10.0f}{r['peak_rss_mb']:>13.0f}"
        )
    if fk:
        lines.append(
            f"  fangkong: Engine (edge twins) {fk['preprocess_plain_s']:.2f} s + "
            f"contraction hierarchy {fk['ch_build_s']:.2f} s ({fk['ch_edges']:,} CH "
            f"edges for {graph.n_edges:,} road edges, {fk['ch_mb']:.0f} MB of arrays, "
            f"{fk['ch_build_rss_mb']:.0f} MB peak RSS while building); first call of "
            f"each kernel (numba cache load) {fk['first_query_s']:.2f} s"
        )
        if "snapper_build_s" in fk:
            lines.append(
                f"  fangkong: Snapper (STRtree) {fk['snapper_build_s']:.2f} s and "
                f"{fk['snapper_mb']:.0f} MB (not in the memory column); snapping "
                f"{fk['snap_points']:,} points in {fk['snap_s']:.2f} s = "
                f"{fk['snap_points'] / fk['snap_s']:,.0f} points/s"
            )
        for peer, r in results.items():
            if peer != "fangkong":
                lines.append(
                    ratio_line("preprocessing", peer, fk["preprocess_s"], r["preprocess_s"], "time")
                )
                lines.append(ratio_line("import", peer, fk["import_s"], r["import_s"], "time"))
                lines.append(
                    ratio_line(
                        "memory",
                        peer,
                        max(fk["memory_mb"], 1.0),
                        max(r["memory_mb"], 1.0),
                        "MB, lower is faster",
                    )
                )
    return lines


SMOKE_QUERIES = {
    "knn": "k-nearest",
    "iso": "isochrone",
    "m2m": "many-to-many",
    "msn": "multi-source",
}


def smoke_report(
    network: str,
    label: str,
    graph: Any,
    skipped: dict[str, str],
    answers: dict[str, dict[str, Any]],
    mismatches: list[str],
) -> list[str]:
    """Answers only: each peer's answers checked against scipy's, query by query; nothing
    timed. A failed check, a query fangkong did not answer, or a reference with no finite
    answer (which would check nothing) is added to ``mismatches``."""
    lines = [f"\n== {network}: {label}: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges =="]
    for peer, reason in skipped.items():
        lines.append(f"{peer}: skipped: {reason}")
    ref = answers.get("scipy")
    if ref is None:
        mismatches.append(f"{network}: scipy (the reference) gave no answers")
        return lines
    for query, name in SMOKE_QUERIES.items():
        values = ref["iso_time"] if query == "iso" else ref.get(query)
        if values is None or not np.isfinite(values).any():
            mismatches.append(f"{network}: scipy has no finite {name} answer to check against")
    for peer, mine in answers.items():
        if peer == "scipy":
            continue
        checks = [(peer, query, mine) for query in SMOKE_QUERIES]
        if "msn_plain" in mine:
            checks.append(("fangkong plain", "msn", {"msn": mine["msn_plain"]}))
        for who, query, got in checks:
            if ("iso_ptr" if query == "iso" else query) not in got:
                if peer == "fangkong":
                    mismatches.append(f"{network}: fangkong answered no {query} query")
                continue
            verdict = check(peer, query, got, ref, graph.n_nodes)
            lines.append(f"{who:<16}{SMOKE_QUERIES[query]:<14}{verdict}")
            if not verdict.startswith("ok"):
                mismatches.append(f"{network}: {who} {SMOKE_QUERIES[query]}: {verdict}")
    return lines


def reach_report(
    network: str,
    sizes: Sizes,
    rows: list[dict[str, Any]],
    skipped: dict[str, str],
    mismatches: list[str],
) -> list[str]:
    """The many-to-many by reach: per cutoff the share of pairs within it, each side's times
    and the ratio of each alternating pair (pyroutingkit's time / fangkong's: above 1,
    fangkong is faster), then the goals; failed checks go to ``mismatches``."""
    lines = [
        f"-- many-to-many by reach: {sizes.m2m_sources:,} sources x {sizes.m2m_targets:,} "
        "targets, fangkong and pyroutingkit in one process, alternating pairs --",
        f"{'cutoff s':>9}{'as 600 s':>10}{'reach':>8}{'pairs':>12}  {'fangkong s':<20}"
        f"{'pyroutingkit s':<20}{'ratio per pair':<24}method",
    ]
    if "pyroutingkit" in skipped:
        lines.append(f"pyroutingkit: {skipped['pyroutingkit']}: fangkong alone")
    worst: list[tuple[float, float]] = []
    for row in rows:
        ratios = [p / f for p, f in zip(row["prk"], row["fk"], strict=False)]
        unit_ms = NY_UNIT_S * 1e3 * M2M_CUTOFF_S / row["cutoff"]
        lines.append(
            f"{row['cutoff']:>9.0f}{unit_ms:>7.2f} ms{row['reach']:>8.1%}{row['pairs']:>12,}  "
            f"{' '.join(f'{t:.2f}' for t in row['fk']):<20}"
            f"{' '.join(f'{t:.2f}' for t in row['prk']):<20}"
            f"{' '.join(f'{r:.2f}x' for r in ratios):<24}{row['method']}"
        )
        if row["prk_s"]:
            with_seconds = [p / f for p, f in zip(row["prk_s"], row["fk"], strict=False)]
            lines.append(
                f"{'':>39}pyroutingkit up to seconds within the cutoff: "
                f"{' '.join(f'{t:.2f}' for t in row['prk_s'])} s "
                f"({' '.join(f'{r:.2f}x' for r in with_seconds)})"
            )
        for key in ("check_scipy", "check_prk"):
            if key in row:
                lines.append(f"{'':>39}{row[key]}")
                if not row[key].startswith("ok"):
                    mismatches.append(
                        f"{network}: fangkong many-to-many {row['cutoff']:.0f} s: {row[key]}"
                    )
        if ratios:
            worst.append((row["reach"], min(ratios)))
    if worst:
        lines.append(f"\n== goals ({network}: many-to-many against pyroutingkit's CCH) ==")
        low = min(r for _, r in worst)
        lines.append(
            f"as fast as pyroutingkit at every reach: {'met' if low >= 1.0 else 'MISSED'} "
            f"(slowest pair {low:.2f}x)"
        )
        pruned = [(reach, r) for reach, r in worst if reach < PRUNING_REACH]
        if pruned:
            low = min(r for _, r in pruned)
            lines.append(
                f"2x pyroutingkit where the cutoff prunes (reach under {PRUNING_REACH:.0%}): "
                f"{'met' if low >= 2.0 else 'MISSED'} (slowest pair {low:.2f}x)"
            )
    return lines


def goals(results: dict[str, dict[str, Any]], sizes: Sizes) -> list[str]:
    fk = results.get("fangkong")
    if not fk:
        return []
    scaled = sizes.grid_nodes != 1_000_000
    note = f" ({sizes.grid_nodes:,}-node grid; the goals are on 1M)" if scaled else ""
    lines = ["\n== goals (grid network) ==" + note]
    if "knn_s" in fk:
        p99 = ms(fk["knn_s"], 99)
        lines.append(
            f"k-nearest p99 <= 1 ms: {'met' if p99 <= 1.0 else 'MISSED'} "
            f"(k={K}: p99 {p99:.2f} ms; k=1: p99 {ms(fk['knn1_s'], 99):.2f} ms)"
        )
    if "m2m_s" in fk:
        total = fk["m2m_s"] * sizes.m2m_sources / fk["m2m_sources_run"]
        lines.append(
            f"many-to-many {sizes.m2m_sources:,} x {sizes.m2m_targets:,} within 600 s "
            f"in <= 20 s: {'met' if total <= 20 else 'MISSED'} ({total:.1f} s)"
        )
    sc = results.get("scipy")
    if sc:
        for query, key in (("isochrone", "iso_s"), ("many-to-many", "m2m_s")):
            if key not in fk or key not in sc:
                continue
            if query == "isochrone":
                factor = ms(sc[key], 50) / ms(fk[key], 50)
            else:
                factor = (sc[key] / sc["m2m_sources_run"]) / (fk[key] / fk["m2m_sources_run"])
            lines.append(
                f"10x faster than scipy with a cutoff ({query}): "
                f"{'met' if factor >= 10 else 'MISSED'} ({factor:.1f}x)"
            )
    for query, key, agg in (("k-nearest p50", "knn_s", 50), ("isochrone p50", "iso_s", 50)):
        peers = {p: ms(r[key], agg) for p, r in results.items() if p != "fangkong" and key in r}
        if peers and key in fk:
            best = min(peers, key=lambda p: peers[p])
            mine = ms(fk[key], agg)
            lines.append(
                f"as fast as the fastest peer ({query}): "
                f"{'met' if mine <= peers[best] else 'MISSED'} "
                f"(fangkong {mine:.3f} ms, {best} {peers[best]:.3f} ms)"
            )
    m2m = {
        p: r["m2m_s"] / r["m2m_sources_run"]
        for p, r in results.items()
        if p != "fangkong" and "m2m_s" in r
    }
    if m2m and "m2m_s" in fk:
        best = min(m2m, key=lambda p: m2m[p])
        mine = fk["m2m_s"] / fk["m2m_sources_run"]
        lines.append(
            f"as fast as the fastest peer (many-to-many per source): "
            f"{'met' if mine <= m2m[best] else 'MISSED'} "
            f"(fangkong {mine * 1e3:.2f} ms, {best} {m2m[best] * 1e3:.2f} ms)"
        )
    msn = {p: r["msn_s"] for p, r in results.items() if p != "fangkong" and "msn_s" in r}
    if msn and "msn_s" in fk:
        best = min(msn, key=lambda p: msn[p])
        lines.append(
            f"as fast as the fastest peer (multi-source): "
            f"{'met' if fk['msn_s'] <= msn[best] else 'MISSED'} "
            f"(fangkong {fk['msn_s']:.3f} s, {best} {msn[best]:.3f} s)"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="demo, 100k-node grid, city and NY, fewer queries and smaller matrices",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="demo + 2,000-node grid, a few queries: answers checked against scipy, nothing "
        "timed (exit status 1 on a mismatch)",
    )
    parser.add_argument(
        "--networks",
        default=None,
        help="comma-separated: demo,grid,city,ny (default all four; demo,grid with --smoke)",
    )
    parser.add_argument(
        "--roadnet",
        type=Path,
        default=ROADNET_DIR,
        help="folder of the DIMACS New York files for city and ny (default %(default)s; "
        "skipped with a message when absent)",
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="comma-separated queries: " + ",".join(SECTIONS) + " (scipy and "
        "fangkong skip the others; the other peers run all theirs)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="grid size instead of the mode's (e.g. 1000000 with --quick)",
    )
    parser.add_argument(
        "--peer-timeout",
        type=float,
        default=900.0,
        help="seconds allowed to one peer on one network",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, Path(args.workdir))
        return 0
    started = time.perf_counter()
    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    if args.nodes:
        sizes = dataclasses.replace(sizes, grid_nodes=args.nodes)
    only = list(SECTIONS) if args.smoke else [q for q in args.only.split(",") if q]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.smoke:
        print("network_queries: smoke run (answers checked against scipy, nothing timed)")
    else:
        cpu = platform.processor() or platform.machine()
        print(
            f"network_queries ({mode_name}) on {cpu}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
            f"{os.getloadavg()[0]:.2f} (other work on the machine skews the timings)"
        )
    peers = [p for p in args.peers.split(",") if p]
    mismatches: list[str] = []
    networks = args.networks or ("demo,grid" if args.smoke else "demo,grid,city,ny")
    for network in networks.split(","):
        if network not in ("demo", "grid", *ROADNETS):
            parser.error(f"--networks: unknown {network!r}; choose from demo,grid,city,ny")
        if network in ROADNETS and (why := roadnet_missing(args.roadnet)) is not None:
            print(f"\n== {network}: skipped: {why} ==", flush=True)
            continue
        net_sizes = sizes_for(network, sizes)
        graph, label = build_network(network, net_sizes, args.roadnet)
        rng = np.random.default_rng(SEED)
        wl = workload(graph, net_sizes, rng)
        by_reach = network in ROADNETS and "m2m" in only and "fangkong" in peers and not args.smoke
        results: dict[str, dict[str, Any]] = {}
        answers: dict[str, dict[str, Any]] = {}
        skipped: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="fk-bench-") as tmp:
            workdir = Path(tmp)
            graph.save(workdir / "graph.npz")
            np.savez(workdir / "workload.npz", **wl)
            for peer in ["scipy"] + [p for p in peers if p != "scipy"]:
                reason = available(peer)
                if reason is None and peer == "networkx" and network != "demo" and not args.smoke:
                    reason = (
                        "the slow reference runs on the demo network only (a 1M-node "
                        "DiGraph takes GBs and minutes per query)"
                    )
                if reason is not None:
                    skipped[peer] = reason
                    continue
                run = {
                    "knn_queries": net_sizes.knn_queries.get(peer, 20),
                    "iso_queries": net_sizes.iso_queries.get(peer, 20),
                    "polygon_queries": net_sizes.polygon_queries,
                    "m2m_run": net_sizes.m2m_run.get(peer, 20),
                    "verify_iso": 5,
                    "verify_m2m": net_sizes.verify_m2m,
                    "only": only,
                    "knn_plain_queries": KNN_PLAIN_QUERIES,
                }
                (workdir / "sizes.json").write_text(json.dumps(run))
                print(f"[{network}] {peer} ...", file=sys.stderr, flush=True)
                peer_started = time.perf_counter()
                result, why = run_peer(peer, workdir, args.peer_timeout)
                if not args.smoke:
                    print(
                        f"[{network}] {peer} done in {time.perf_counter() - peer_started:.0f} s "
                        f"{why}",
                        file=sys.stderr,
                        flush=True,
                    )
                if result is None:
                    skipped[peer] = why
                    if args.smoke:  # installed, yet it did not answer
                        mismatches.append(f"{network}: {peer} {why}")
                    continue
                results[peer] = result
                with np.load(workdir / f"{peer}_answers.npz") as data:
                    answers[peer] = {name: data[name] for name in data.files}
            reach: dict[str, Any] | None = None
            if by_reach:
                run = {
                    "reach_cutoffs": reach_cutoffs(graph, wl, 20),
                    "reach_pairs": net_sizes.reach_pairs,
                    "verify_m2m": net_sizes.verify_m2m,
                }
                (workdir / "sizes.json").write_text(json.dumps(run))
                print(f"[{network}] many-to-many by reach ...", file=sys.stderr, flush=True)
                peer_started = time.perf_counter()
                reach, why = run_peer("reach", workdir, args.peer_timeout)
                print(
                    f"[{network}] by reach done in {time.perf_counter() - peer_started:.0f} s "
                    f"{why}",
                    file=sys.stderr,
                    flush=True,
                )
                if reach is None:
                    mismatches.append(f"{network}: many-to-many by reach {why}")
        if args.smoke:
            lines = smoke_report(network, label, graph, skipped, answers, mismatches)
        else:
            ordered = {p: results[p] for p in ["fangkong", *PEERS] if p in results}
            lines = report(network, label, graph, net_sizes, ordered, skipped, answers, mismatches)
            if network == "grid":
                lines += goals(ordered, net_sizes)
            if reach is not None:
                lines += reach_report(network, net_sizes, reach["reach"], skipped, mismatches)
        print("\n".join(lines), flush=True)
    for mismatch in mismatches:
        print(f"MISMATCH: {mismatch}")
    if args.smoke:
        print(f"\nsmoke: {'FAILED' if mismatches else 'ok'}")
    else:
        print(
            f"\ntotal {time.perf_counter() - started:.0f} s ({mode_name}), "
            f"load average at the end {os.getloadavg()[0]:.2f}"
        )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
