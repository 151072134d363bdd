"""Travel-time queries on a :class:`~fangkong.network.graph.RoadGraph`: Dijkstra kernels in numba.

Units: every time is in seconds, every cutoff ``cutoff_s`` in seconds; a time over the cutoff or
unreachable is ``inf`` (``-1`` for an index). Sources and targets are either node ids or points
on edges (:class:`EdgePoints`, what :class:`~fangkong.network.snap.Snapper` returns).

Points on edges
---------------
A point is ``(edge, fraction)``: it lies ``fraction`` of the way from the edge's tail to its head,
and the edge's speed is taken as uniform, so travelling from the tail to the point takes
``fraction × time_s[edge]`` and from the point to the head ``(1 - fraction) × time_s[edge]``.
A two-way road is two directed edges with the same shape reversed (*twins*, see
:func:`edge_twins`); a point on either one is on the road, and the engine uses both directions:
it leaves by the edge's head and, through the twin, by the edge's tail, and it is reached from
both ends likewise. A point at fraction 0 (1) is at the tail (head) node itself. Two points on the
same road are also joined directly along it when the direction allows. Edge ``-1`` means "no
location" (a point too far from any road): its times are ``inf``. The reference model is the
graph with every point inserted as a node that splits its edge (and the twin); the tests check
the engine against plain Dijkstra on that graph.

Kernels
-------
Unbounded and k-stopped searches use one binary min-heap on two arrays (key, id) with lazy
deletion (stale entries are skipped when popped). Searches bounded by a cutoff (balls,
isochrones, many-to-many) use circular bucket queues instead (:func:`_bucket_search`): buckets
as wide as the lightest edge are drained in order, so no heap is needed, and a label that an
edge lighter than the width improves within a bucket is corrected there. Per-thread workspaces
of size n are allocated once and reused: a query does not clear them but compares a per-node
*stamp* with the query's own (``state[v] == base``: labelled by this query, ``base + 1``:
settled), so a query costs what it settles, not O(n). Targets enter the heap as virtual items
``n + j`` keyed by their arrival time, so a search stops the moment its k-th target is final
(:meth:`Engine.many_to_many` instead reads targets off reached nodes). The kernels release the
GIL; :meth:`Engine.many_to_many` runs blocks of sources on a thread pool, each thread with its
own workspace.

Contraction hierarchy
---------------------
With a :class:`~fangkong.network.ch.ContractionHierarchy` (built on first use for small graphs,
loaded from the cache beside the graph for large ones), :meth:`Engine.k_nearest`,
:meth:`Engine.k_nearest_sources`, :meth:`Engine.one_to_many` and :meth:`Engine.many_to_one`
run a bucket search (the location set's upward searches leave buckets, built once per set and
cached with its expanded items; a query is one upward search scanning them, stopped when its
queue's smallest key reaches the k-th best time), :meth:`Engine.multi_source_nearest` runs
PHAST, and :meth:`Engine.many_to_many` either runs restricted PHAST sweeps, 8 sources a sweep
(:mod:`fangkong.network.rphast`), or builds its targets' buckets pruned at the cutoff and runs
one pruned upward search per source, whichever it estimates cheaper. Points on edges enter
all of them exactly as in the plain kernels: their (node, time) items seed the searches, and
same-road pairs are offered before the search starts. The plain kernels stay the reference
(``Engine(graph, hierarchy=None)``) and serve balls and isochrones, whose cost a bounded search
already keeps to their output.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, TypeAlias

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import coo_matrix, csr_matrix

from fangkong.core import threads as thread_limits
from fangkong.core.errors import InvalidInput
from fangkong.network._heap import heap_pop as _pop
from fangkong.network._heap import heap_push as _push
from fangkong.network._kernels import (
    emit_pairs,
    empty_pairs,
    link_entries,
    offer_best,
    offer_direct,
    relax,
)
from fangkong.network.ch import (
    Buckets,
    ContractionHierarchy,
    bucket_group,
    bucket_many_to_many,
    bucket_query,
    build_hierarchy,
    item_searches,
    multi_source_dijkstra,
    multi_source_phast,
)
from fangkong.network.graph import RoadGraph
from fangkong.network.rphast import (
    LANES,
    SweepLayout,
    item_rows,
    morton_key,
    restrict,
    rphast_block,
    rphast_emit,
    sweep_layout,
)

__all__ = [
    "EdgePoints",
    "Engine",
    "Locations",
    "PairTimes",
    "Route",
    "Source",
    "edge_twins",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]

INF = math.inf
# Stamps live in int32 arrays; a workspace is wiped and restarted before they could overflow.
_STAMP_LIMIT = 2**31 - 16
# Graphs up to this size get their contraction hierarchy built on first use (well under a
# second); larger ones only use one they are given (built once and cached on disk, see
# fangkong.network.cache.load_or_build_hierarchy), else plain Dijkstra.
AUTO_HIERARCHY_NODES = 50_000
# Upward search spaces of single locations kept for rebuilding buckets (~1.5 KB each on a
# 1M-node city): a fleet's units, moved or not, many times over.
_SPACE_ENTRIES = 20_000
# Location sets whose expansion is cached per engine (by content, see Engine._locations).
_CACHE_ENTRIES = 16
_CACHE_MAX_BYTES = 1 << 20
# Many-to-many on the hierarchy, buckets or sweeps (Engine._m2m_plan): ns per unit of work,
# and the targets and sources whose search spaces are sampled.
_NS_FLAG = 3.5  # a row or edge of the restricted layout, per sweep of LANES sources
_NS_SWEEP = 4.0  # the same, more, where the row is live (see rphast._sweep)
_NS_ENTRY = 2.0  # a target entry, per source
_NS_SEARCH = 700.0  # a node an upward search keeps (with the stalled ones it also settles)
_NS_SCAN = 20.0  # a bucket entry a source's search scans
_NS_RESTRICT = 3.0  # a node or downward edge of the hierarchy, once per call (sweeps only)
_SAMPLE_TARGETS = 64
_SAMPLE_SOURCES = 16
_PTR_ONE = np.array([0, 1], dtype=np.int64)
_NO_DIRECT = (_PTR_ONE * 0, np.zeros(0, dtype=np.int32), np.zeros(0))
_TIME_ZERO = np.zeros(1)
_OWNER_ZERO = np.zeros(1, dtype=np.int32)
for _constant in (_PTR_ONE, _TIME_ZERO, _OWNER_ZERO, *_NO_DIRECT):
    _constant.flags.writeable = False


@dataclass(frozen=True)
class EdgePoints:
    """Points on edges: ``edge[i]`` (``-1``: no location) at ``fraction[i]`` ∈ [0, 1] from its tail.

    Parameters
    ----------
    edge : array of int, shape (p,)
        Edge ids, or -1 for a point that has no location (e.g. too far from the road network).
    fraction : array of float, shape (p,)
        Position along the edge, 0 at the tail and 1 at the head (clipped to [0, 1]).
    """

    edge: IntArray
    fraction: FloatArray

    def __init__(self, edge: ArrayLike, fraction: ArrayLike) -> None:
        e = np.atleast_1d(np.asarray(edge, dtype=np.int64))
        f = np.atleast_1d(np.asarray(fraction, dtype=np.float64))
        if e.shape != f.shape or e.ndim != 1:
            raise InvalidInput(key="error.network.edge_fraction_arrays", field="fraction")
        if np.isnan(f).any():
            raise InvalidInput(key="error.network.fraction_nan", field="fraction")
        object.__setattr__(self, "edge", e)
        object.__setattr__(self, "fraction", np.clip(f, 0.0, 1.0))

    def __len__(self) -> int:
        return int(self.edge.shape[0])

    def __getitem__(self, index: int | slice | IntArray) -> EdgePoints:
        if isinstance(index, int | np.integer):
            index = np.array([int(index)])
        return EdgePoints(self.edge[index], self.fraction[index])


#: One source or target: a node id, or a single point (an :class:`EdgePoints` of length 1).
Source: TypeAlias = "int | np.integer | EdgePoints"
#: A set of sources or targets: node ids (any int array-like) or :class:`EdgePoints`.
Locations: TypeAlias = "ArrayLike | EdgePoints"


@dataclass(frozen=True)
class Route:
    """The fastest way from one location to another.

    Attributes
    ----------
    time_s : float
        Seconds.
    length_m : float
        Metres driven.
    edge, start, end : arrays, shape (k,)
        The pieces driven in order: edge ``edge[i]`` from fraction ``start[i]`` to ``end[i]``
        (0 = tail); inner pieces are whole edges, the first and last may be parts.
    """

    time_s: float
    length_m: float
    edge: IntArray
    start: FloatArray
    end: FloatArray


@dataclass(frozen=True)
class PairTimes:
    """A sparse travel-time matrix: only the pairs within the cutoff.

    ``time_s[i]`` is the time from ``sources[source[i]]`` to ``targets[target[i]]``. Pairs are
    grouped by source (ascending); within a source their order is unspecified (the order the
    search reached the targets, or the order of a sweep).
    """

    source: IntArray
    target: IntArray
    time_s: FloatArray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def to_coo(self) -> coo_matrix:
        """The matrix as ``scipy.sparse.coo_matrix``; a zero time is kept as an explicit zero, so
        test membership with the pair arrays (or ``.row``/``.col``), not ``.nonzero()``."""
        return coo_matrix((self.time_s, (self.source, self.target)), shape=self.shape)

    def to_csr(self) -> csr_matrix:
        """The matrix as ``scipy.sparse.csr_matrix`` (explicit zeros kept, see :meth:`to_coo`)."""
        return csr_matrix((self.time_s, (self.source, self.target)), shape=self.shape)

    def to_dense(self) -> FloatArray:
        """A dense (sources, targets) array with ``inf`` for the pairs over the cutoff."""
        out = np.full(self.shape, INF)
        out[self.source, self.target] = self.time_s
        return out


# --------------------------------------------------------------------------------------------
# Kernels


@njit(cache=True, nogil=True)
def _search_block(
    indptr: IntArray,
    adj: Int32Array,
    w: FloatArray,
    src_lo: int,
    src_hi: int,
    seed_ptr: IntArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    ent_node: Int32Array,
    ent_off: FloatArray,
    ent_tgt: Int32Array,
    n_tgt: int,
    dir_ptr: IntArray,
    dir_tgt: Int32Array,
    dir_time: FloatArray,
    k: int,
    cutoff: float,
    dist: FloatArray,
    state: Int32Array,
    tmark: Int32Array,
    thead: Int32Array,
    hk: FloatArray,
    hv: Int32Array,
    stamp: int,
    tstamp: int,
) -> tuple[Int32Array, Int32Array, FloatArray, int, int]:
    """Dijkstra from each source in ``src_lo:src_hi`` until its ``k`` nearest targets are final.

    Returns (source index, target index, time) of the settled targets, grouped by source in time
    order, the last stamp used and the number of nodes settled over all the sources.
    """
    n = indptr.shape[0] - 1
    tnext = link_entries(ent_node, tmark, thead, tstamp)
    tdone = np.zeros(n_tgt, dtype=np.int32)
    kk = min(k, n_tgt)
    cap = max(16, kk * (src_hi - src_lo)) if kk < 64 else 1024
    out_s = np.empty(cap, dtype=np.int32)
    out_t = np.empty(cap, dtype=np.int32)
    out_d = np.empty(cap, dtype=np.float64)
    count = 0
    settled = 0
    for s in range(src_lo, src_hi):
        if kk == 0:
            break
        stamp += 2
        base = stamp
        size = 0
        for i in range(seed_ptr[s], seed_ptr[s + 1]):
            v = seed_node[i]
            t = seed_time[i]
            if t <= cutoff and (state[v] != base or t < dist[v]):
                dist[v] = t
                state[v] = base
                size = _push(hk, hv, size, t, v)
        for i in range(dir_ptr[s], dir_ptr[s + 1]):
            t = dir_time[i]
            if t <= cutoff:
                size = _push(hk, hv, size, t, n + dir_tgt[i])
        found = 0
        while size > 0:
            key = hk[0]
            vid = hv[0]
            size = _pop(hk, hv, size)
            if vid >= n:
                j = vid - n
                if tdone[j] == base:
                    continue
                tdone[j] = base
                if count == cap:
                    cap *= 2
                    out_s = np.concatenate((out_s, np.empty(cap - count, dtype=np.int32)))
                    out_t = np.concatenate((out_t, np.empty(cap - count, dtype=np.int32)))
                    out_d = np.concatenate((out_d, np.empty(cap - count, dtype=np.float64)))
                out_s[count] = s
                out_t[count] = j
                out_d[count] = key
                count += 1
                found += 1
                if found == kk:
                    break
                continue
            if state[vid] != base or key > dist[vid]:
                continue  # already settled, or a stale copy of an improved label
            state[vid] = base + 1
            settled += 1
            if tmark[vid] == tstamp:
                e = thead[vid]
                while e >= 0:
                    t = key + ent_off[e]
                    if t <= cutoff and tdone[ent_tgt[e]] != base:
                        size = _push(hk, hv, size, t, n + ent_tgt[e])
                    e = tnext[e]
            size = relax(indptr, adj, w, vid, key, cutoff, dist, state, base, hk, hv, size)
    return out_s[:count], out_t[:count], out_d[:count], stamp, settled


@njit(cache=True, nogil=True)
def _m2m_block(
    indptr: IntArray,
    adj: Int32Array,
    w: FloatArray,
    src_lo: int,
    src_hi: int,
    seed_ptr: IntArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    ent_node: Int32Array,
    ent_off: FloatArray,
    ent_tgt: Int32Array,
    n_tgt: int,
    dir_ptr: IntArray,
    dir_tgt: Int32Array,
    dir_time: FloatArray,
    cutoff: float,
    width: float,
    dist: FloatArray,
    state: Int32Array,
    tmark: Int32Array,
    thead: Int32Array,
    bucket_head: Int32Array,
    entry_next: Int32Array,
    entry_node: Int32Array,
    entry_key: FloatArray,
    reached: IntArray,
    reached_time: FloatArray,
    stamp: int,
    tstamp: int,
) -> tuple[IntArray, IntArray, FloatArray, int, int, int]:
    """A bucket search bounded by ``cutoff`` from each source in ``src_lo:src_hi``; every
    target met.

    Targets never enter the search: each reached node offers its entries' times to a
    per-target best (stamped per source). Returns (source, target, time) grouped by source,
    the last stamp, the nodes reached and the first source not done (``src_hi`` unless the
    entry arrays ran out: grow them and go on from there).
    """
    tnext = link_entries(ent_node, tmark, thead, tstamp)
    tbest = np.empty(n_tgt, dtype=np.float64)
    tseen = np.zeros(n_tgt, dtype=np.int32)
    touched = np.empty(n_tgt, dtype=np.int32)
    out_s = np.empty(1024, dtype=np.int64)
    out_t = np.empty(1024, dtype=np.int64)
    out_d = np.empty(1024, dtype=np.float64)
    count = 0
    settled = 0
    for s in range(src_lo, src_hi):
        stamp += 2
        base = stamp
        lo, hi = seed_ptr[s], seed_ptr[s + 1]
        n_reached, used = _bucket_search(
            indptr,
            adj,
            w,
            seed_node[lo:hi],
            seed_time[lo:hi],
            cutoff,
            width,
            dist,
            state,
            base,
            bucket_head,
            entry_next,
            entry_node,
            entry_key,
            reached,
            reached_time,
        )
        if used == entry_node.shape[0]:
            return out_s[:count], out_t[:count], out_d[:count], stamp, settled, s
        settled += n_reached
        n_touched = offer_direct(s, dir_ptr, dir_tgt, dir_time, cutoff, base, tseen, tbest, touched)
        for i in range(n_reached):
            v = reached[i]
            if tmark[v] != tstamp:
                continue
            key = reached_time[i]
            e = thead[v]
            while e >= 0:
                t = key + ent_off[e]
                if t <= cutoff:
                    n_touched = offer_best(ent_tgt[e], t, base, tseen, tbest, touched, n_touched)
                e = tnext[e]
        out_s, out_t, out_d, count = emit_pairs(
            out_s, out_t, out_d, count, s, touched, n_touched, tbest
        )
    return out_s[:count], out_t[:count], out_d[:count], stamp, settled, src_hi


# Bounded searches use buckets of ``width`` seconds instead of a heap: a bucket is drained
# before the next, so keys come out in bucket order without the heap's log factor and its
# unpredictable branches (about 2.5x fewer ns per node on a grid city). With ``width`` at most
# the lightest edge, a node taken from the current bucket is final, as in Dial's algorithm;
# an edge lighter than ``width`` (zero-time edges exist, and the width is raised where the
# heaviest edge would need too many buckets) lands in the bucket being drained and is
# corrected there, as in delta-stepping. Either way the labels are Dijkstra's float sums.
# The buckets are circular: ``slots``, a power of two (a mask, not a division, finds a
# slot), covers the heaviest edge plus the latest seed.
_MAX_SLOTS = 1 << 16


@njit(cache=True, nogil=True, inline="always")
def _enqueue(
    v: int,
    t: float,
    slot: int,
    e: int,
    bucket_head: Int32Array,
    entry_next: Int32Array,
    entry_node: Int32Array,
    entry_key: FloatArray,
) -> None:
    """Put node ``v`` at time ``t`` in bucket ``slot`` as entry ``e``."""
    entry_node[e] = v
    entry_key[e] = t
    entry_next[e] = bucket_head[slot]
    bucket_head[slot] = e


@njit(cache=True, nogil=True)
def _bucket_search(
    indptr: IntArray,
    adj: Int32Array,
    w: FloatArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    cutoff: float,
    width: float,
    dist: FloatArray,
    state: Int32Array,
    base: int,
    bucket_head: Int32Array,
    entry_next: Int32Array,
    entry_node: Int32Array,
    entry_key: FloatArray,
    reached: IntArray,
    reached_time: FloatArray,
) -> tuple[int, int]:
    """Every node within ``cutoff`` of the seeds and its time, into ``reached[:count]`` and
    ``reached_time[:count]``.

    ``state[v] == base`` marks a node labelled by this search (``dist[v]`` valid) and
    ``base + 1`` one already in ``reached`` (in bucket order: sorted by time only up to the
    width). A node's time is final when its bucket is drained, and copied out then, while
    the labels are still in cache.
    ``bucket_head`` needs a power of two over ``(max edge time + max seed time) / width + 1``
    slots, all -1; a search leaves them so (it drains every bucket), which spares a reset
    per search. Returns
    (count, entries used); entries used == ``entry_node.shape[0]`` means the entry arrays ran
    out and the search must be repeated with larger ones.
    """
    mask = bucket_head.shape[0] - 1
    inv = 1.0 / width
    capacity = entry_node.shape[0]
    n_ent = 0
    pending = 0
    for i in range(seed_node.shape[0]):
        t = seed_time[i]
        v = seed_node[i]
        if t > cutoff or (state[v] == base and t >= dist[v]):
            continue
        if n_ent == capacity:
            bucket_head[:] = -1
            return 0, capacity
        dist[v] = t
        state[v] = base
        _enqueue(v, t, int(t * inv) & mask, n_ent, bucket_head, entry_next, entry_node, entry_key)
        n_ent += 1
        pending += 1
    count = 0
    b = 0
    while pending > 0:
        slot = b & mask
        first = count
        while bucket_head[slot] >= 0:
            e = bucket_head[slot]
            bucket_head[slot] = entry_next[e]
            pending -= 1
            v = entry_node[e]
            key = entry_key[e]
            if key > dist[v]:
                continue  # superseded by a later, shorter label
            if state[v] == base:
                state[v] = base + 1
                reached[count] = v
                count += 1
            for a in range(indptr[v], indptr[v + 1]):
                t = key + w[a]
                if t > cutoff:
                    continue
                u = adj[a]
                su = state[u]
                if su < base or t < dist[u]:
                    if n_ent == capacity:
                        bucket_head[:] = -1
                        return 0, capacity
                    dist[u] = t
                    if su < base:
                        state[u] = base
                    # key <= t <= key + max edge time: bucket b up to b + slots - 2
                    _enqueue(
                        u,
                        t,
                        int(t * inv) & mask,
                        n_ent,
                        bucket_head,
                        entry_next,
                        entry_node,
                        entry_key,
                    )
                    n_ent += 1
                    pending += 1
        for i in range(first, count):
            reached_time[i] = dist[reached[i]]
        b += 1
    return count, n_ent


@njit(cache=True, nogil=True)
def _path_search(
    indptr: IntArray,
    adj: Int32Array,
    w: FloatArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    ent_node: Int32Array,
    ent_time: FloatArray,
    dist: FloatArray,
    state: Int32Array,
    pred: Int32Array,
    hk: FloatArray,
    hv: Int32Array,
    stamp: int,
) -> tuple[int, float, int]:
    """Dijkstra from the seeds until no entry (node, time to the target) can improve.

    ``pred[v]`` is the edge a settled node was reached by, or ``-1 - i`` for seed i. Returns
    (the best entry, -1 if none is reachable; its total time; the last stamp).
    """
    base = stamp + 2
    size = 0
    for i in range(seed_node.shape[0]):
        v = seed_node[i]
        t = seed_time[i]
        if state[v] != base or t < dist[v]:
            dist[v] = t
            state[v] = base
            pred[v] = -1 - i
            size = _push(hk, hv, size, t, v)
    best = np.inf
    best_entry = -1
    while size > 0:
        key = hk[0]
        v = hv[0]
        if key >= best:
            break
        size = _pop(hk, hv, size)
        if state[v] != base or key > dist[v]:
            continue
        state[v] = base + 1
        for j in range(ent_node.shape[0]):
            if ent_node[j] == v and key + ent_time[j] < best:
                best = key + ent_time[j]
                best_entry = j
        for a in range(indptr[v], indptr[v + 1]):
            u = adj[a]
            t = key + w[a]
            su = state[u]
            if su < base or (su == base and t < dist[u]):
                dist[u] = t
                state[u] = base
                pred[u] = a
                size = _push(hk, hv, size, t, u)
    return best_entry, best, base


@njit(cache=True, nogil=True)
def _pair_twins(
    order: IntArray,
    lo: IntArray,
    hi: IntArray,
    shape_ptr: IntArray,
    shape_lon: FloatArray,
    shape_lat: FloatArray,
) -> IntArray:
    """For each edge, the first unpaired candidate whose shape is its own reversed, or -1."""
    m = lo.shape[0]
    twin = np.full(m, -1, dtype=np.int64)
    for e in range(m):
        if twin[e] >= 0:
            continue
        a0, a1 = shape_ptr[e], shape_ptr[e + 1]
        for i in range(lo[e], hi[e]):
            c = order[i]
            if c == e or twin[c] >= 0:
                continue
            b0, b1 = shape_ptr[c], shape_ptr[c + 1]
            if b1 - b0 != a1 - a0:
                continue
            same = True
            for j in range(a1 - a0):
                if (
                    shape_lon[a0 + j] != shape_lon[b1 - 1 - j]
                    or shape_lat[a0 + j] != shape_lat[b1 - 1 - j]
                ):
                    same = False
                    break
            if same:
                twin[e] = c
                twin[c] = e
                break
    return twin


def edge_twins(graph: RoadGraph) -> IntArray:
    """The reverse edge of each edge of a two-way road, or -1 for a one-way edge.

    Edges ``a`` and ``b`` are twins when ``a`` runs tail→head where ``b`` runs head→tail and
    ``b``'s shape is ``a``'s reversed, vertex for vertex; each edge has at most one twin.

    Parameters
    ----------
    graph : RoadGraph

    Returns
    -------
    array of int64, shape (m,)
        ``twin[twin[e]] == e`` wherever ``twin[e] >= 0``.

    Notes
    -----
    O(m log m) time for the sort, O(m) memory.
    """
    n = np.int64(graph.n_nodes)
    key = graph.tail.astype(np.int64) * n + graph.head
    rkey = graph.head.astype(np.int64) * n + graph.tail
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    lo = np.searchsorted(sorted_key, rkey, side="left")
    hi = np.searchsorted(sorted_key, rkey, side="right")
    twin: IntArray = _pair_twins(order, lo, hi, graph.shape_ptr, graph.shape_lon, graph.shape_lat)
    return twin


# --------------------------------------------------------------------------------------------
# Engine


_PAIR_BYTES = 24  # source, target (int64) and time (float64)


@functools.cache
def _reserve_bytes() -> int:
    """Address space a many-to-many may set aside for its answer: half the physical memory
    (4 GiB where the platform does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (AttributeError, ValueError, OSError):
        return 4 << 30


def _joined(
    parts: list[tuple[IntArray, IntArray, FloatArray]],
) -> tuple[IntArray, IntArray, FloatArray]:
    """The blocks' pairs end to end, in arrays allocated by numba (see
    :func:`fangkong.network._kernels.empty_pairs`)."""
    if len(parts) == 1:
        return parts[0]
    src, tgt, time = empty_pairs(sum(int(p[0].shape[0]) for p in parts))
    at = 0
    for p in parts:
        size = int(p[0].shape[0])
        src[at : at + size] = p[0]
        tgt[at : at + size] = p[1]
        time[at : at + size] = p[2]
        at += size
    return src, tgt, time


class _Workspace:
    """Per-thread search arrays of size n, reused across queries thanks to the stamps."""

    __slots__ = (
        "batch",
        "bucket_head",
        "dist",
        "entry_next",
        "heap_id",
        "heap_key",
        "pred",
        "reached",
        "reached_time",
        "stamp",
        "state",
        "sweep_live",
        "sweep_mark",
        "sweep_rows",
        "sweep_times",
        "thead",
        "tmark",
        "tstamp",
    )

    def __init__(self, n: int, heap_capacity: int) -> None:
        self.dist = np.empty(n, dtype=np.float64)
        self.state = np.zeros(n, dtype=np.int32)
        self.tmark = np.zeros(n, dtype=np.int32)
        self.thead = np.empty(n, dtype=np.int32)
        # The heap's two arrays double as the bucket searches' entries (key, node).
        self.heap_key = np.empty(heap_capacity, dtype=np.float64)
        self.heap_id = np.empty(heap_capacity, dtype=np.int32)
        # Only bounded (bucket) searches use these: allocated on their first use.
        self.entry_next = np.empty(0, dtype=np.int32)
        self.bucket_head = np.empty(0, dtype=np.int32)
        self.reached = np.empty(0, dtype=np.int64)
        self.reached_time = np.empty(0, dtype=np.float64)
        self.pred = np.empty(0, dtype=np.int32)  # routes only
        # Restricted PHAST sweeps only (rows, their batch marks, the targets' times)
        self.sweep_rows = np.empty((0, LANES), dtype=np.float64)
        self.sweep_mark = np.zeros(0, dtype=np.int32)
        self.sweep_live = np.zeros(0, dtype=np.int32)
        self.sweep_times = np.empty((0, 0), dtype=np.float64)
        self.batch = 0
        self.stamp = 0
        self.tstamp = 0

    def prepare(self, n_queries: int, heap_capacity: int) -> None:
        """Make room for ``n_queries`` more stamps and a heap of ``heap_capacity`` items."""
        if self.stamp + 2 * n_queries + 4 > _STAMP_LIMIT:
            self.state.fill(0)
            self.stamp = 0
        if self.tstamp + 2 > _STAMP_LIMIT:
            self.tmark.fill(0)
            self.tstamp = 0
        if self.heap_key.shape[0] < heap_capacity:
            self.heap_key = np.empty(heap_capacity, dtype=np.float64)
            self.heap_id = np.empty(heap_capacity, dtype=np.int32)

    def prepare_buckets(self, n_queries: int, entries: int, slots: int) -> None:
        """:meth:`prepare` for bucket searches: ``entries`` entries and ``slots`` buckets."""
        self.prepare(n_queries, entries)
        if self.entry_next.shape[0] < self.heap_key.shape[0]:
            self.entry_next = np.empty(self.heap_key.shape[0], dtype=np.int32)
        if self.bucket_head.shape[0] < slots:
            self.bucket_head = np.full(slots, -1, dtype=np.int32)
        if self.reached.shape[0] < self.dist.shape[0]:
            self.reached = np.empty(self.dist.shape[0], dtype=np.int64)
            self.reached_time = np.empty(self.dist.shape[0], dtype=np.float64)

    def prepare_sweeps(self, n_queries: int, heap_capacity: int, rows: int, entries: int) -> None:
        """:meth:`prepare` for ``n_queries`` sources swept together: ``rows`` compact nodes
        and the times of ``entries`` target entries per source, kept across calls."""
        self.prepare(2 * n_queries, heap_capacity)
        if self.sweep_rows.shape[0] < rows:
            # rows not live in the current batch are all inf (see rphast._sweep)
            self.sweep_rows = np.full((rows, LANES), np.inf)
            self.sweep_mark = np.zeros(rows, dtype=np.int32)
            self.sweep_live = np.full(rows, -1, dtype=np.int32)
            self.batch = 0
        elif self.batch + n_queries + 4 > _STAMP_LIMIT:
            self.sweep_rows.fill(np.inf)
            self.sweep_mark.fill(0)
            self.sweep_live.fill(-1)
            self.batch = 0
        height = -(-n_queries // LANES) * LANES
        have = self.sweep_times.shape
        if have[0] < height or have[1] < entries:
            self.sweep_times = np.empty((max(have[0], height), max(have[1], entries)))


@dataclass(frozen=True)
class _Expanded:
    """Locations turned into (node, time) items, ``ptr[i]:ptr[i+1]`` for location i."""

    ptr: IntArray
    node: Int32Array
    time: FloatArray
    owner: Int32Array  # the location index of each item
    # CH buckets of these items, built on first use and cached with the items themselves
    buckets: list[Buckets] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class _Adjacency:
    indptr: IntArray
    adj: Int32Array
    w: FloatArray


@dataclass(frozen=True)
class _SweepPlan:
    """A many-to-many call's part of the sweep layout (:func:`fangkong.network.rphast.restrict`)
    and one entry per target, sorted by row: the target's own node (those out of every
    source's reach left out), or a row of the target's own (see ``Engine._sweep_plan``)."""

    rank_c: Int32Array
    ptr: IntArray
    src: Int32Array
    w: FloatArray
    ent_c: Int32Array
    ent_off: FloatArray
    ent_item: Int32Array

    @property
    def n_rows(self) -> int:
        return int(self.ptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        return int(self.src.shape[0])


class Engine:
    """Travel-time queries on one road graph (forward and reverse Dijkstra, numba kernels).

    Parameters
    ----------
    graph : RoadGraph
        Travel times ``graph.time_s`` in seconds are the edge weights.
    threads : int, optional
        Threads used by :meth:`many_to_many`; default ``FANGKONG_THREADS`` where set (a
        batch worker's one core, :func:`fangkong.core.threads.pin`), else the number of CPUs.
    hierarchy : ContractionHierarchy, "auto" or None, optional
        The graph's contraction hierarchy (:mod:`fangkong.network.ch`), which makes
        :meth:`k_nearest`, :meth:`k_nearest_sources`, :meth:`one_to_many`,
        :meth:`many_to_one`, :meth:`many_to_many` and :meth:`multi_source_nearest` search
        only upwards. ``"auto"`` (default) builds one on first use for graphs of up to
        :data:`AUTO_HIERARCHY_NODES` nodes; ``None`` keeps every query on the plain kernels
        (the reference).

    Notes
    -----
    Thread-safe: each concurrent query takes its own workspace (O(n) memory each, kept for
    reuse). Preprocessing is O(m log m) (edge twins) plus the reverse graph on first use.
    """

    def __init__(
        self,
        graph: RoadGraph,
        *,
        threads: int | None = None,
        hierarchy: ContractionHierarchy | Literal["auto"] | None = "auto",
    ) -> None:
        self.graph = graph
        self.threads = max(1, threads or thread_limits.configured() or os.cpu_count() or 1)
        self.twin = edge_twins(graph)
        self._forward = _Adjacency(graph.indptr, graph.head, graph.time_s)
        self._pool: list[_Workspace] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._cache: dict[tuple[bool, bytes], tuple[Locations, _Expanded]] = {}
        # per direction (reverse or not): a location's items -> its upward search space
        self._spaces: tuple[dict[bytes, tuple[Int32Array, FloatArray]], ...] = ({}, {})
        if isinstance(hierarchy, ContractionHierarchy) and not hierarchy.matches(graph):
            raise InvalidInput(key="error.network.hierarchy_other_graph", field="hierarchy")
        self._auto = hierarchy == "auto" and graph.n_nodes <= AUTO_HIERARCHY_NODES
        self._hierarchy = hierarchy if isinstance(hierarchy, ContractionHierarchy) else None
        self._layout: SweepLayout | None = None
        #: many-to-many on the hierarchy: "auto" (by estimated cost, see _m2m_plan), or
        #: "buckets"/"rphast" to force one way (tests, benchmarks)
        self.m2m_method: Literal["auto", "buckets", "rphast"] = "auto"
        #: the cost estimates behind the last automatic choice (benchmarks)
        self.last_m2m_estimate: dict[str, float] = {}

    @property
    def hierarchy(self) -> ContractionHierarchy | None:
        """The contraction hierarchy the fast paths use (built now when "auto"), or None."""
        if self._hierarchy is None and self._auto:
            with self._lock:
                if self._hierarchy is None:
                    self._hierarchy = build_hierarchy(self.graph)
        return self._hierarchy

    @property
    def n_nodes(self) -> int:
        return self.graph.n_nodes

    @cached_property
    def _backward(self) -> _Adjacency:
        indptr, tails, edge = self.graph.reverse
        return _Adjacency(indptr, tails, np.ascontiguousarray(self.graph.time_s[edge]))

    @property
    def last_settled(self) -> int:
        """Nodes settled by the calling thread's last query (for tests and benchmarks)."""
        return int(getattr(self._local, "settled", 0))

    @property
    def last_m2m_method(self) -> str:
        """How the calling thread's last :meth:`many_to_many` ran: "rphast", "buckets" (on
        the hierarchy) or "plain" (for tests and benchmarks)."""
        return str(getattr(self._local, "m2m_method", ""))

    # ---- locations ------------------------------------------------------------------------

    def _nodes(self, values: ArrayLike, field: str) -> IntArray:
        arr = np.atleast_1d(np.asarray(values))
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise InvalidInput(key="error.network.node_ids", params={"field": field}, field=field)
        nodes = arr.astype(np.int64, copy=False)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.n_nodes):
            raise InvalidInput(
                key="error.network.node_id_range",
                params={"field": field, "last": self.n_nodes - 1},
                field=field,
            )
        return nodes

    def _check_points(self, points: EdgePoints, field: str) -> None:
        e = points.edge
        if e.size and (e.min() < -1 or e.max() >= self.graph.n_edges):
            raise InvalidInput(
                key="error.network.edge_id_range",
                params={"field": field, "last": self.graph.n_edges - 1},
                field=field,
            )

    def _locations(
        self, locs: Locations, *, leaving: bool, field: str
    ) -> tuple[Locations, _Expanded]:
        """Validated locations and their (node, time) items, leaving them or arriving at them.

        The items of the last few location sets are cached by content, so that a caller who
        asks about the same targets again and again (dispatch: the same units for every
        incident) pays for their validation and expansion once.
        """
        if isinstance(locs, EdgePoints):
            key = (leaving, b"p" + locs.edge.tobytes() + locs.fraction.tobytes())
        else:
            arr = np.atleast_1d(np.asarray(locs))
            key = (leaving, arr.dtype.str.encode() + arr.tobytes())
            locs = arr
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if isinstance(locs, EdgePoints):
            self._check_points(locs, field)
            value: tuple[Locations, _Expanded] = (locs, self._expand(locs, leaving=leaving))
        else:
            nodes = self._nodes(locs, field)
            count = nodes.shape[0]
            value = (
                nodes,
                _Expanded(
                    np.arange(count + 1, dtype=np.int64),
                    nodes.astype(np.int32),
                    np.zeros(count),
                    np.arange(count, dtype=np.int32),
                ),
            )
        if len(key[1]) <= _CACHE_MAX_BYTES:
            with self._lock:
                if len(self._cache) >= _CACHE_ENTRIES:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = value
        return value

    def _single(self, loc: Source, *, leaving: bool, field: str) -> tuple[Locations, _Expanded]:
        """One validated location and its items (a node id takes a fast path)."""
        if isinstance(loc, EdgePoints):
            if len(loc) != 1:
                raise InvalidInput(
                    key="error.network.one_location",
                    params={"field": field, "count": len(loc)},
                    field=field,
                )
            self._check_points(loc, field)
            return loc, self._expand_one(int(loc.edge[0]), float(loc.fraction[0]), leaving=leaving)
        if isinstance(loc, bool) or not isinstance(loc, int | np.integer):
            raise InvalidInput(key="error.network.one_node", params={"field": field}, field=field)
        v = int(loc)
        if not 0 <= v < self.n_nodes:
            raise InvalidInput(
                key="error.network.node_id",
                params={"field": field, "node": v, "last": self.n_nodes - 1},
                field=field,
            )
        return (
            np.array([v], dtype=np.int64),
            _Expanded(_PTR_ONE, np.array([v], dtype=np.int32), _TIME_ZERO, _OWNER_ZERO),
        )

    def _expand_one(self, e: int, f: float, *, leaving: bool) -> _Expanded:
        """:meth:`_expand` of one point in plain Python (same items, same order, same float
        operations): a single query's source costs microseconds instead of ~20 numpy calls."""
        nodes: list[int] = []
        times: list[float] = []
        if e >= 0:
            g = self.graph
            tw = int(self.twin[e])
            t = float(g.time_s[e])
            tw_time = float(g.time_s[tw]) if tw >= 0 else 0.0
            near, far = (
                (int(g.head[e]), int(g.tail[e])) if leaving else (int(g.tail[e]), int(g.head[e]))
            )
            nodes.append(near)
            times.append((1.0 - f) * t if leaving else f * t)
            if tw >= 0:
                nodes.append(far)
                times.append(f * tw_time if leaving else (1.0 - f) * tw_time)
            elif f == (0.0 if leaving else 1.0):
                nodes.append(far)
                times.append(0.0)
        count = len(nodes)
        return _Expanded(
            np.array([0, count], dtype=np.int64),
            np.array(nodes, dtype=np.int32),
            np.array(times, dtype=np.float64),
            np.zeros(count, dtype=np.int32),
        )

    def _expand(self, locs: EdgePoints, *, leaving: bool) -> _Expanded:
        """Items (node, time) for each point: leaving it (``leaving``) or arriving at it."""
        g = self.graph
        valid = locs.edge >= 0
        e = np.where(valid, locs.edge, 0)
        f = locs.fraction
        tw = np.where(valid, self.twin[e], -1)
        has_twin = tw >= 0
        tw_time = np.where(has_twin, g.time_s[np.maximum(tw, 0)], 0.0)
        tail, head = g.tail[e], g.head[e]
        if leaving:
            # out by the head along the edge, out by the tail through the twin; a point at
            # fraction 0 of a one-way edge is the tail node itself.
            cols_node = (head, tail, tail)
            cols_time = ((1.0 - f) * g.time_s[e], f * tw_time, np.zeros_like(f))
            cols_ok = (valid, valid & has_twin, valid & ~has_twin & (f == 0.0))
        else:
            cols_node = (tail, head, head)
            cols_time = (f * g.time_s[e], (1.0 - f) * tw_time, np.zeros_like(f))
            cols_ok = (valid, valid & has_twin, valid & ~has_twin & (f == 1.0))
        ok = np.column_stack(cols_ok)
        counts = ok.sum(axis=1)
        ptr = np.zeros(len(locs) + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        node = np.column_stack(cols_node)[ok].astype(np.int32)
        time = np.column_stack(cols_time)[ok]
        owner = np.repeat(np.arange(len(locs), dtype=np.int32), counts)
        return _Expanded(ptr, node, time, owner)

    def _canonical(self, points: EdgePoints) -> tuple[IntArray, FloatArray]:
        """The road (lower edge id of a twin pair) and the fraction along it, per point."""
        e = points.edge
        tw = np.where(e >= 0, self.twin[np.maximum(e, 0)], -1)
        flip = (tw >= 0) & (tw < e)
        road = np.where(flip, tw, e)
        frac = np.where(flip, 1.0 - points.fraction, points.fraction)
        return road, frac

    def _direct(
        self, sources: Locations, targets: Locations, n_sources: int
    ) -> tuple[IntArray, Int32Array, FloatArray]:
        """Times between a source point and a target point on the same road, along it.

        Returned as CSR by source (ptr, target index, time); empty unless both are points.
        """
        empty = (np.zeros(n_sources + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0))
        if not isinstance(sources, EdgePoints) or not isinstance(targets, EdgePoints):
            return empty
        s_road, s_frac = self._canonical(sources)
        t_road, t_frac = self._canonical(targets)
        t_road = np.where(t_road >= 0, t_road, -2)  # a missing target never matches a source
        order = np.argsort(t_road, kind="stable")
        sorted_road = t_road[order]
        lo = np.searchsorted(sorted_road, s_road, side="left")
        hi = np.searchsorted(sorted_road, s_road, side="right")
        counts = np.where(s_road >= 0, hi - lo, 0)
        total = int(counts.sum())
        if total == 0:
            return empty
        src = np.repeat(np.arange(n_sources, dtype=np.int64), counts)
        start = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        tgt = order[start + np.arange(total)]
        road = s_road[src]
        fs, ft = s_frac[src], t_frac[tgt]
        g = self.graph
        tw = self.twin[road]
        forward = np.where(ft >= fs, (ft - fs) * g.time_s[road], INF)
        backward = np.where((tw >= 0) & (ft <= fs), (fs - ft) * g.time_s[np.maximum(tw, 0)], INF)
        time = np.minimum(forward, backward)
        ok = np.isfinite(time)  # a one-way road joins its two points in one direction only
        ptr = np.zeros(n_sources + 1, dtype=np.int64)
        np.cumsum(np.bincount(src[ok], minlength=n_sources), out=ptr[1:])
        return ptr, tgt[ok].astype(np.int32), time[ok]

    @staticmethod
    def _cutoff(cutoff_s: float) -> float:
        c = float(cutoff_s)
        if math.isnan(c) or c < 0:
            raise InvalidInput(
                key="error.network.cutoff_negative", params={"cutoff_s": cutoff_s}, field="cutoff_s"
            )
        return c

    # ---- workspaces -----------------------------------------------------------------------

    def _acquire(self) -> _Workspace:
        with self._lock:
            if self._pool:
                return self._pool.pop()
        return _Workspace(self.n_nodes, self.graph.n_edges + 1024)

    def _release(self, ws: _Workspace) -> None:
        with self._lock:
            self._pool.append(ws)

    def _run_block(
        self,
        ws: _Workspace,
        graph: _Adjacency,
        lo: int,
        hi: int,
        seeds: _Expanded,
        entries: _Expanded,
        n_tgt: int,
        direct: tuple[IntArray, Int32Array, FloatArray],
        k: int,
        cutoff: float,
    ) -> tuple[Int32Array, Int32Array, FloatArray, int]:
        n_seed = int(seeds.ptr[hi] - seeds.ptr[lo])
        heap = graph.adj.shape[0] + n_seed + entries.node.shape[0] + direct[1].shape[0] + 1
        ws.prepare(hi - lo, heap)
        ws.tstamp += 1
        out_s, out_t, out_d, ws.stamp, settled = _search_block(
            graph.indptr,
            graph.adj,
            graph.w,
            lo,
            hi,
            seeds.ptr,
            seeds.node,
            seeds.time,
            entries.node,
            entries.time,
            entries.owner,
            n_tgt,
            direct[0],
            direct[1],
            direct[2],
            k,
            cutoff,
            ws.dist,
            ws.state,
            ws.tmark,
            ws.thead,
            ws.heap_key,
            ws.heap_id,
            ws.stamp,
            ws.tstamp,
        )
        return out_s, out_t, out_d, settled

    def _size(self, locs: Locations, *, reverse: bool) -> int:
        """How many locations (served from the cache filled by the query itself)."""
        _, items = self._locations(locs, leaving=reverse, field="sources" if reverse else "targets")
        return int(items.ptr.shape[0] - 1)

    @cached_property
    def _bucket_width(self) -> tuple[float, float]:
        """(width, heaviest edge) of the bucket searches: the lightest positive edge time,
        raised where the heaviest edge would span more than ``_MAX_SLOTS`` buckets."""
        w = self.graph.time_s
        heaviest = float(w.max()) if w.size else 0.0
        positive = w[w > 0]
        lightest = float(positive.min()) if positive.size else 1.0
        return max(lightest, heaviest / (_MAX_SLOTS - 2)), heaviest

    def _bucket_plan(
        self, ws: _Workspace, n_queries: int, seeds: _Expanded, entries: int
    ) -> tuple[float, Int32Array]:
        """Bucket width and the workspace's bucket heads sized for these seeds."""
        width, heaviest = self._bucket_width
        latest = float(seeds.time.max()) if seeds.time.size else 0.0
        slots = 1 << (int((heaviest + latest) / width) + 1).bit_length()
        ws.prepare_buckets(n_queries, entries, slots)
        return width, ws.bucket_head[:slots]

    def _grow_entries(self, ws: _Workspace) -> None:
        """Double the entry arrays of a bucket search that ran out of them."""
        ws.heap_key = np.empty(2 * ws.heap_key.shape[0], dtype=np.float64)
        ws.heap_id = np.empty(ws.heap_key.shape[0], dtype=np.int32)
        ws.entry_next = np.empty(ws.heap_key.shape[0], dtype=np.int32)

    def _run_m2m(
        self,
        ws: _Workspace,
        lo: int,
        hi: int,
        seeds: _Expanded,
        entries: _Expanded,
        n_tgt: int,
        direct: tuple[IntArray, Int32Array, FloatArray],
        cutoff: float,
    ) -> tuple[IntArray, IntArray, FloatArray, int]:
        g = self._forward
        n_seed = int(seeds.ptr[hi] - seeds.ptr[lo])
        parts: list[tuple[IntArray, IntArray, FloatArray]] = []
        settled = 0
        while lo < hi:
            width, heads = self._bucket_plan(ws, hi - lo, seeds, g.adj.shape[0] + n_seed + 1)
            ws.tstamp += 1
            out_s, out_t, out_d, ws.stamp, count, lo_next = _m2m_block(
                g.indptr,
                g.adj,
                g.w,
                lo,
                hi,
                seeds.ptr,
                seeds.node,
                seeds.time,
                entries.node,
                entries.time,
                entries.owner,
                n_tgt,
                direct[0],
                direct[1],
                direct[2],
                cutoff,
                width,
                ws.dist,
                ws.state,
                ws.tmark,
                ws.thead,
                heads,
                ws.entry_next,
                ws.heap_id,
                ws.heap_key,
                ws.reached,
                ws.reached_time,
                ws.stamp,
                ws.tstamp,
            )
            parts.append((out_s, out_t, out_d))
            settled += count
            if lo_next < hi:
                self._grow_entries(ws)
            lo = lo_next
        if len(parts) == 1:
            return (*parts[0], settled)
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            settled,
        )

    def _cutoff_buckets(
        self, h: ContractionHierarchy, entries: _Expanded, cutoff: float, workers: int
    ) -> Buckets:
        """Buckets of a target set for one many-to-many call: the targets' upward searches
        (down the hierarchy, stalled through ``up``) pruned at the cutoff, not cached; the
        targets are split in ``workers`` runs searched on as many threads."""
        n_items = int(entries.ptr.shape[0] - 1)
        heap = h.up_head.shape[0] + h.down_tail.shape[0] + entries.node.shape[0] + 1
        bounds = np.linspace(0, n_items, max(1, min(workers, n_items // 256)) + 1).astype(int)

        def search(lo: int, hi: int) -> tuple[IntArray, Int32Array, FloatArray]:
            a, b = int(entries.ptr[lo]), int(entries.ptr[hi])
            ws = self._acquire()
            try:
                ws.prepare(hi - lo, heap)
                e_ptr, e_node, e_time, ws.stamp = item_searches(
                    h.down_ptr,
                    h.down_tail,
                    h.down_w,
                    h.up_ptr,
                    h.up_head,
                    h.up_w,
                    h.rank,
                    entries.ptr[lo : hi + 1] - a,
                    entries.node[a:b],
                    entries.time[a:b],
                    cutoff,
                    ws.dist,
                    ws.state,
                    ws.heap_key,
                    ws.heap_id,
                    ws.stamp,
                )
            finally:
                self._release(ws)
            return e_ptr, e_node, e_time

        runs = list(itertools.pairwise(bounds.tolist()))
        if len(runs) == 1:
            parts = [search(*runs[0])]
        else:
            with ThreadPoolExecutor(max_workers=len(runs)) as pool:
                parts = list(pool.map(lambda run: search(*run), runs))
        offsets = np.cumsum([0] + [int(p[0][-1]) for p in parts])
        e_ptr = np.concatenate(
            [np.zeros(1, dtype=np.int64)]
            + [p[0][1:] + off for p, off in zip(parts, offsets, strict=False)]
        )
        e_node = np.concatenate([p[1] for p in parts])
        e_time = np.concatenate([p[2] for p in parts])
        key, slot, b_ptr, item, times = bucket_group(e_ptr, e_node, e_time)
        return Buckets(key, slot, b_ptr, item, times, n_items)

    def _run_m2m_ch(
        self,
        ws: _Workspace,
        h: ContractionHierarchy,
        buckets: Buckets,
        lo: int,
        hi: int,
        seeds: _Expanded,
        direct: tuple[IntArray, Int32Array, FloatArray],
        cutoff: float,
    ) -> tuple[IntArray, IntArray, FloatArray, int]:
        n_seed = int(seeds.ptr[hi] - seeds.ptr[lo])
        ws.prepare(hi - lo, h.up_head.shape[0] + n_seed + 1)
        out_s, out_t, out_d, ws.stamp, settled = bucket_many_to_many(
            h.up_ptr,
            h.up_head,
            h.up_w,
            h.down_ptr,
            h.down_tail,
            h.down_w,
            h.rank,
            lo,
            hi,
            seeds.ptr,
            seeds.node,
            seeds.time,
            buckets.key,
            buckets.slot,
            buckets.ptr,
            buckets.item,
            buckets.time,
            buckets.n_items,
            direct[0],
            direct[1],
            direct[2],
            cutoff,
            ws.dist,
            ws.state,
            ws.heap_key,
            ws.heap_id,
            ws.stamp,
        )
        return out_s, out_t, out_d, settled

    def _sweep_layout(self, h: ContractionHierarchy) -> SweepLayout:
        """The hierarchy's sweep layout (built on first use: O(n log n + m_ch))."""
        if self._layout is None:
            with self._lock:
                if self._layout is None:
                    self._layout = sweep_layout(h, morton_key(self.graph.lon, self.graph.lat))
        return self._layout

    def _sweep_plan(
        self, h: ContractionHierarchy, entries: _Expanded, cutoff: float, *, own_rows: bool
    ) -> _SweepPlan:
        """The restricted sweep of one many-to-many call (one O(n + m_ch) pass). Items with
        one entry each are read off their entry's row; with ``own_rows`` (or when some item
        has another number of entries) each item gets a row of its own after the others
        (:func:`fangkong.network.rphast.item_rows`), so that entry ``j`` is item ``j``."""
        lay = self._sweep_layout(h)
        ent_pos = lay.pos[h.rank[entries.node]]
        compact, ptr, src, w = restrict(lay.ptr, lay.src, lay.w, ent_pos, entries.time, cutoff)
        n_items = int(entries.ptr.shape[0] - 1)
        if own_rows or not bool((np.diff(entries.ptr) == 1).all()):
            n_kept = int(ptr.shape[0] - 1)
            ptr, src, w = item_rows(
                compact, ptr, src, w, ent_pos, entries.time, entries.ptr, cutoff
            )
            ent_c = np.arange(n_kept, n_kept + n_items, dtype=np.int32)
            ent_off = np.zeros(n_items)
            ent_item = np.arange(n_items, dtype=np.int32)
        else:
            row = compact[ent_pos]
            kept = np.flatnonzero(row >= 0)
            kept = kept[np.argsort(row[kept], kind="stable")]
            ent_c = np.ascontiguousarray(row[kept])
            ent_off = np.ascontiguousarray(entries.time[kept])
            ent_item = np.ascontiguousarray(entries.owner[kept])
        return _SweepPlan(
            rank_c=compact[lay.pos],
            ptr=ptr,
            src=src,
            w=w,
            ent_c=ent_c,
            ent_off=ent_off,
            ent_item=ent_item,
        )

    def _sample_spaces(
        self, h: ContractionHierarchy, items: _Expanded, count: int, cutoff: float, *, up: bool
    ) -> tuple[IntArray, Int32Array, FloatArray]:
        """Upward search spaces (pruned at the cutoff, stalled nodes left out) of ``count``
        items spread evenly over ``items``: sources climb ``up``, targets ``down``.
        Returns (ptr, rank, time) per sampled item."""
        n_items = int(items.ptr.shape[0] - 1)
        pick = np.unique(np.linspace(0, n_items - 1, min(count, n_items)).astype(np.int64))
        lo, hi = items.ptr[pick], items.ptr[pick + 1]
        sizes = hi - lo
        ptr = np.zeros(pick.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=ptr[1:])
        at = np.repeat(lo - ptr[:-1], sizes) + np.arange(int(ptr[-1]))
        climb, stall = (
            ((h.up_ptr, h.up_head, h.up_w), (h.down_ptr, h.down_tail, h.down_w))
            if up
            else ((h.down_ptr, h.down_tail, h.down_w), (h.up_ptr, h.up_head, h.up_w))
        )
        ws = self._acquire()
        try:
            ws.prepare(pick.shape[0], h.up_head.shape[0] + h.down_tail.shape[0] + at.shape[0] + 1)
            e_ptr, e_node, e_time, ws.stamp = item_searches(
                *climb,
                *stall,
                h.rank,
                ptr,
                items.node[at],
                items.time[at],
                cutoff,
                ws.dist,
                ws.state,
                ws.heap_key,
                ws.heap_id,
                ws.stamp,
            )
        finally:
            self._release(ws)
        return e_ptr, e_node, e_time

    def _m2m_plan(
        self,
        h: ContractionHierarchy,
        seeds: _Expanded,
        entries: _Expanded,
        cutoff: float,
        direct: tuple[IntArray, Int32Array, FloatArray],
    ) -> _SweepPlan | None:
        """The sweeps' plan when sweeps are estimated cheaper than buckets, else None.

        Buckets cost one upward search per target and, per source, an upward search and the
        bucket entries it meets; sweeps cost the restriction (a pass over the hierarchy) and,
        per sweep of :data:`LANES` sources, the restricted layout's rows and edges (all of
        them read lightly, the live ones in full) and a read of every target. The searches,
        the entries met and the share of pairs within the cutoff (hence of live rows) come
        from the search spaces of a sample of targets and of sources, joined as buckets
        would join them; the restriction is only made when buckets would cost more than it
        alone. The constants are ns measured on 2 shared cores (NY, the grid cities; see
        docs/network-ch.md). ``m2m_method`` forces either way.
        """
        estimate: dict[str, float] = {}
        self.last_m2m_estimate = estimate
        own_rows = direct[1].shape[0] > 0
        if self.m2m_method != "auto":
            return (
                self._sweep_plan(h, entries, cutoff, own_rows=own_rows)
                if self.m2m_method == "rphast"
                else None
            )
        n_src = int(seeds.ptr.shape[0] - 1)
        n_tgt = int(entries.ptr.shape[0] - 1)
        if n_src == 0 or n_tgt == 0:
            return None
        t_ptr, t_node, t_time = self._sample_spaces(h, entries, _SAMPLE_TARGETS, cutoff, up=False)
        s_ptr, s_node, s_time = self._sample_spaces(h, seeds, _SAMPLE_SOURCES, cutoff, up=True)
        sampled_t = max(1, t_ptr.shape[0] - 1)
        sampled_s = max(1, s_ptr.shape[0] - 1)
        # the sampled targets' entries by node: what each sampled source's search meets
        order = np.argsort(t_node, kind="stable")
        t_sorted = t_node[order]
        t_item = np.repeat(np.arange(sampled_t), np.diff(t_ptr))[order]
        t_at = t_time[order]
        scanned = 0.0
        within = 0
        for i in range(s_ptr.shape[0] - 1):
            nodes = s_node[s_ptr[i] : s_ptr[i + 1]]
            lo = np.searchsorted(t_sorted, nodes, side="left")
            hi = np.searchsorted(t_sorted, nodes, side="right")
            met = hi - lo
            scanned += float(met.sum())
            pick = np.repeat(lo - np.cumsum(met) + met, met) + np.arange(int(met.sum()))
            best = np.full(sampled_t, np.inf)
            np.minimum.at(
                best, t_item[pick], np.repeat(s_time[s_ptr[i] : s_ptr[i + 1]], met) + t_at[pick]
            )
            within += int((best <= cutoff).sum())
        scanned *= n_tgt / sampled_t / sampled_s
        reach = within / (sampled_t * sampled_s)
        build = n_tgt * _NS_SEARCH * float(t_ptr[-1]) / sampled_t
        queries = n_src * (_NS_SEARCH * float(s_ptr[-1]) / sampled_s + _NS_SCAN * scanned)
        restriction = _NS_RESTRICT * (h.n_nodes + h.down_tail.shape[0])
        estimate.update(build_ns=build, queries_ns=queries, scanned=scanned, reach=reach)
        if build + queries <= restriction:
            return None
        plan = self._sweep_plan(h, entries, cutoff, own_rows=own_rows)
        # rows live for a sweep: those within the cutoff of one of its LANES sources
        live = 1.0 - (1.0 - reach) ** LANES
        sweeps = n_src * (
            (_NS_FLAG + _NS_SWEEP * live) * (plan.n_rows + plan.n_edges) / LANES
            + _NS_ENTRY * plan.ent_c.shape[0]
        )
        estimate["sweeps_ns"] = sweeps
        return plan if sweeps < build + queries else None

    def _sweep_block(
        self,
        ws: _Workspace,
        h: ContractionHierarchy,
        plan: _SweepPlan,
        lo: int,
        hi: int,
        seeds: _Expanded,
        direct: tuple[IntArray, Int32Array, FloatArray],
        cutoff: float,
    ) -> tuple[int, int]:
        """Sweeps for the sources ``lo:hi``, their times left in ``ws.sweep_times``; returns
        (pairs within the cutoff, nodes settled upwards)."""
        n_seed = int(seeds.ptr[hi] - seeds.ptr[lo])
        ws.prepare_sweeps(
            hi - lo, h.up_head.shape[0] + n_seed + 1, plan.n_rows, plan.ent_c.shape[0]
        )
        count, ws.stamp, ws.batch, settled = rphast_block(
            h.up_ptr,
            h.up_head,
            h.up_w,
            h.down_ptr,
            h.down_tail,
            h.down_w,
            h.rank,
            plan.rank_c,
            plan.ptr,
            plan.src,
            plan.w,
            lo,
            hi,
            seeds.ptr,
            seeds.node,
            seeds.time,
            plan.ent_c,
            plan.ent_off,
            direct[0],
            direct[1],
            direct[2],
            cutoff,
            ws.dist,
            ws.state,
            ws.heap_key,
            ws.heap_id,
            ws.stamp,
            ws.sweep_rows,
            ws.sweep_mark,
            ws.sweep_live,
            ws.batch,
            ws.sweep_times,
        )
        return count, settled

    def _m2m_rphast(
        self,
        h: ContractionHierarchy,
        plan: _SweepPlan,
        seeds: _Expanded,
        direct: tuple[IntArray, Int32Array, FloatArray],
        cutoff: float,
        workers: int,
    ) -> tuple[IntArray, IntArray, FloatArray, int]:
        """:meth:`many_to_many` by sweeps: blocks of sources on ``workers`` threads, each
        block's pairs written straight into the answer.

        The answer's arrays are allocated once for every pair there could be (sources ×
        targets), which costs address space only: a page is only backed once written, and
        the pairs are written contiguously from the start. Each block, its times swept and
        its pairs counted, takes its place after the blocks before it (blocks are taken in
        order, so the one before it is at most counting) and writes there. Where that much
        address space is not to be had, each block writes arrays of its own, joined at the
        end. Returns (source, target, time, nodes settled upwards)."""
        n_src = int(seeds.ptr.shape[0] - 1)
        n_ent = int(plan.ent_c.shape[0])
        # blocks of up to 8 sweeps, their targets' times within ~16 MB a thread
        room = (1 << 21) // max(1, LANES * n_ent)
        block = LANES * max(1, min(8, room, n_src // (workers * 4 * LANES)))
        n_blocks = (n_src + block - 1) // block
        out: tuple[IntArray, IntArray, FloatArray] | None = None
        if n_src * n_ent * _PAIR_BYTES <= _reserve_bytes():
            try:
                out = empty_pairs(n_src * n_ent)
            except MemoryError:
                out = None
        parts: list[tuple[IntArray, IntArray, FloatArray] | None] = [None] * n_blocks
        counter = itertools.count()
        settled = [0] * workers
        turn = threading.Condition()
        cursor = {"next": 0, "at": 0, "failed": 0}

        def work(worker: int) -> None:
            ws = self._acquire()
            try:
                while (b := next(counter)) < n_blocks:
                    lo, hi = b * block, min(n_src, (b + 1) * block)
                    count, n_settled = self._sweep_block(ws, h, plan, lo, hi, seeds, direct, cutoff)
                    settled[worker] += n_settled
                    if out is None:
                        part = empty_pairs(count)
                        rphast_emit(ws.sweep_times, hi - lo, plan.ent_item, cutoff, lo, *part, 0)
                        parts[b] = part
                        continue
                    with turn:
                        while cursor["next"] != b and not cursor["failed"]:
                            turn.wait()
                        if cursor["failed"]:
                            return
                        at = cursor["at"]
                        cursor["at"] += count
                        cursor["next"] += 1
                        turn.notify_all()
                    rphast_emit(ws.sweep_times, hi - lo, plan.ent_item, cutoff, lo, *out, at)
            except BaseException:
                with turn:
                    cursor["failed"] = 1
                    turn.notify_all()
                raise
            finally:
                self._release(ws)

        if workers == 1:
            work(0)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(work, i) for i in range(workers)]:
                    future.result()
        if out is not None:
            total = cursor["at"]
            return out[0][:total], out[1][:total], out[2][:total], sum(settled)
        return (*_joined([p for p in parts if p is not None]), sum(settled))

    def _single_search(
        self,
        source: Source,
        targets: Locations,
        k: int | None,
        cutoff: float,
        *,
        reverse: bool,
    ) -> tuple[Int32Array, FloatArray, int]:
        """Target indices and times in time order, from one source (to it when ``reverse``);
        ``k=None`` asks for every target within the cutoff."""
        if k is not None and k < 0:
            raise InvalidInput(key="error.network.k_negative", params={"k": k}, field="k")
        source_locs, seeds = self._single(
            source, leaving=not reverse, field="target" if reverse else "source"
        )
        target_locs, entries = self._locations(
            targets, leaving=reverse, field="sources" if reverse else "targets"
        )
        n_tgt = int(entries.ptr.shape[0] - 1)
        if not (isinstance(source_locs, EdgePoints) and isinstance(target_locs, EdgePoints)):
            direct = _NO_DIRECT  # only two points can share a road
        elif reverse:
            d_ptr, d_src, d_time = self._direct(target_locs, source_locs, n_tgt)
            # transpose the (target -> source) pairs into the single row of the search
            direct = (
                np.array([0, d_src.shape[0]], dtype=np.int64),
                np.repeat(np.arange(n_tgt, dtype=np.int32), np.diff(d_ptr)),
                d_time,
            )
        else:
            direct = self._direct(source_locs, target_locs, 1)
        h = self.hierarchy
        if h is not None:
            return self._bucket_search(
                h, seeds, entries, n_tgt, direct, n_tgt if k is None else k, cutoff, reverse=reverse
            )
        graph = self._backward if reverse else self._forward
        ws = self._acquire()
        try:
            _, tgt, time, settled = self._run_block(
                ws, graph, 0, 1, seeds, entries, n_tgt, direct, n_tgt if k is None else k, cutoff
            )
        finally:
            self._release(ws)
        self._local.settled = settled
        return tgt, time, settled

    def _bucket_search(
        self,
        h: ContractionHierarchy,
        seeds: _Expanded,
        entries: _Expanded,
        n_tgt: int,
        direct: tuple[IntArray, Int32Array, FloatArray],
        k: int,
        cutoff: float,
        *,
        reverse: bool,
    ) -> tuple[Int32Array, FloatArray, int]:
        """:meth:`_single_search` on the CH: the query climbs ``up`` (``down`` when
        ``reverse``) and scans the buckets the location set left on the other side."""
        up = (h.up_ptr, h.up_head, h.up_w)
        down = (h.down_ptr, h.down_tail, h.down_w)
        q, st = (down, up) if reverse else (up, down)
        heap = (
            h.up_head.shape[0]
            + h.down_tail.shape[0]
            + seeds.node.shape[0]
            + entries.node.shape[0]
            + 1
        )
        ws = self._acquire()
        try:
            ws.prepare(n_tgt + 2, heap)
            if entries.buckets:
                b = entries.buckets[0]
            else:
                # the set's searches climb the other way, stalled through the query's graph
                b = self._build_buckets(ws, h, entries, st, q, reverse=reverse)
                entries.buckets[:] = [b]
            tgt, time, ws.stamp, settled = bucket_query(
                q[0],
                q[1],
                q[2],
                st[0],
                st[1],
                st[2],
                h.rank,
                seeds.node,
                seeds.time,
                b.key,
                b.slot,
                b.ptr,
                b.item,
                b.time,
                n_tgt,
                direct[1],
                direct[2],
                k,
                cutoff,
                ws.dist,
                ws.state,
                ws.heap_key,
                ws.heap_id,
                ws.stamp,
            )
        finally:
            self._release(ws)
        self._local.settled = settled
        return tgt, time, settled

    def _build_buckets(
        self,
        ws: _Workspace,
        h: ContractionHierarchy,
        entries: _Expanded,
        climb: tuple[IntArray, Int32Array, FloatArray],
        stall: tuple[IntArray, Int32Array, FloatArray],
        *,
        reverse: bool,
    ) -> Buckets:
        """The buckets of a location set, searching only the locations not met before.

        Each location's upward search space is cached by its items (nodes and initial
        times) per direction, so that when a few units of a fleet move, only theirs are
        searched again and the rest is regrouped: O(new searches + entries + n).
        """
        ptr, node, time = entries.ptr, entries.node, entries.time
        n_items = int(ptr.shape[0] - 1)
        spaces = self._spaces[reverse]
        bounds = ptr.tolist()
        keys = [node[a:b].tobytes() + time[a:b].tobytes() for a, b in itertools.pairwise(bounds)]
        # one read of the shared cache: another thread may clear it meanwhile
        parts: list[tuple[Int32Array, FloatArray] | None] = [spaces.get(key) for key in keys]
        missing = [i for i, part in enumerate(parts) if part is None]
        if missing:
            sub = np.asarray(missing, dtype=np.int64)
            counts = ptr[sub + 1] - ptr[sub]
            sub_ptr = np.zeros(sub.shape[0] + 1, dtype=np.int64)
            np.cumsum(counts, out=sub_ptr[1:])
            take = np.repeat(ptr[sub] - sub_ptr[:-1], counts) + np.arange(int(sub_ptr[-1]))
            s_ptr, s_node, s_time, ws.stamp = item_searches(
                climb[0],
                climb[1],
                climb[2],
                stall[0],
                stall[1],
                stall[2],
                h.rank,
                sub_ptr,
                node[take],
                time[take],
                INF,
                ws.dist,
                ws.state,
                ws.heap_key,
                ws.heap_id,
                ws.stamp,
            )
            if len(spaces) + len(missing) > _SPACE_ENTRIES:
                spaces.clear()
            for j, i in enumerate(missing):
                a, b = int(s_ptr[j]), int(s_ptr[j + 1])
                part = (s_node[a:b].copy(), s_time[a:b].copy())
                spaces[keys[i]] = part
                parts[i] = part
        found = [p for p in parts if p is not None]
        e_ptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum([p[0].shape[0] for p in found], out=e_ptr[1:])
        e_node = np.concatenate([p[0] for p in found]) if found else np.zeros(0, dtype=np.int32)
        e_time = np.concatenate([p[1] for p in found]) if found else np.zeros(0)
        key, slot, b_ptr, item, times = bucket_group(e_ptr, e_node, e_time)
        return Buckets(key, slot, b_ptr, item, times, n_items)

    # ---- queries --------------------------------------------------------------------------

    def one_to_many(
        self, source: Source, targets: Locations, *, cutoff_s: float = INF
    ) -> FloatArray:
        """Travel time from one source to each target.

        Parameters
        ----------
        source : int or EdgePoints of length 1
            A node id or a point on an edge.
        targets : array of int or EdgePoints, shape (t,)
            Node ids or points.
        cutoff_s : float, optional
            Search radius in seconds; times above it are reported as ``inf``.

        Returns
        -------
        array of float64, shape (t,)
            Seconds; ``inf`` where unreachable or over the cutoff.

        Notes
        -----
        With a contraction hierarchy, the bucket search of :meth:`k_nearest` with k = all
        targets. Without, Dijkstra stopping when every target is final or the cutoff is passed:
        O(m' + n' log n') for the n' nodes and m' edges nearer than the farthest target needed.
        """
        cutoff = self._cutoff(cutoff_s)
        tgt, time, _ = self._single_search(source, targets, None, cutoff, reverse=False)
        out = np.full(self._size(targets, reverse=False), INF)
        out[tgt] = time
        return out

    def many_to_one(
        self, sources: Locations, target: Source, *, cutoff_s: float = INF
    ) -> FloatArray:
        """Travel time from each source to one target (a Dijkstra on the reverse graph).

        Parameters
        ----------
        sources : array of int or EdgePoints, shape (s,)
        target : int or EdgePoints of length 1
        cutoff_s : float, optional
            Seconds; times above it are ``inf``.

        Returns
        -------
        array of float64, shape (s,)
            Seconds from ``sources[i]`` to ``target``; ``inf`` where unreachable or over.

        Notes
        -----
        Same cost as :meth:`one_to_many`, on the reverse graph (built once, O(m)).
        """
        cutoff = self._cutoff(cutoff_s)
        src, time, _ = self._single_search(target, sources, None, cutoff, reverse=True)
        out = np.full(self._size(sources, reverse=True), INF)
        out[src] = time
        return out

    def k_nearest(
        self, source: Source, targets: Locations, k: int, *, cutoff_s: float = INF
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` targets nearest in time from ``source``.

        Parameters
        ----------
        source : int or EdgePoints of length 1
        targets : array of int or EdgePoints, shape (t,)
        k : int
            How many targets to return (fewer when fewer are reachable within the cutoff).
        cutoff_s : float, optional
            Seconds.

        Returns
        -------
        indices : array of int64
            Indices into ``targets``, nearest first (ties in settling order).
        times : array of float64
            Seconds, non-decreasing.

        Notes
        -----
        With a contraction hierarchy: one upward search scanning the target set's buckets
        (built on the set's first query, a few ms per 100 targets; when a few targets moved,
        only theirs are searched again), stopped when its smallest key reaches the k-th best
        time: ~100 nodes settled on a 10^6-node city. Ties come in target order. Without:
        Dijkstra stopped as soon as the k-th target is final, O(m' + n' log n') for the n'
        nodes nearer than that target and their m' edges (ties in settling order).
        """
        cutoff = self._cutoff(cutoff_s)
        tgt, time, _ = self._single_search(source, targets, int(k), cutoff, reverse=False)
        return tgt.astype(np.int64), time

    def k_nearest_sources(
        self, target: Source, sources: Locations, k: int, *, cutoff_s: float = INF
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` sources nearest in time *to* ``target`` (e.g. units to an incident).

        Parameters
        ----------
        target : int or EdgePoints of length 1
        sources : array of int or EdgePoints, shape (s,)
        k : int
        cutoff_s : float, optional
            Seconds.

        Returns
        -------
        indices : array of int64
            Indices into ``sources``, nearest first.
        times : array of float64
            Seconds from each of those sources to ``target``, non-decreasing.

        Notes
        -----
        :meth:`k_nearest` the other way round (buckets of the sources' upward searches, one
        upward search on the reversed hierarchy from ``target``): same early stop, same cost.
        """
        cutoff = self._cutoff(cutoff_s)
        src, time, _ = self._single_search(target, sources, int(k), cutoff, reverse=True)
        return src.astype(np.int64), time

    def many_to_many(
        self, sources: Locations, targets: Locations, *, cutoff_s: float, threads: int | None = None
    ) -> PairTimes:
        """Every (source, target) pair within ``cutoff_s``, as a sparse matrix.

        Parameters
        ----------
        sources : array of int or EdgePoints, shape (s,)
        targets : array of int or EdgePoints, shape (t,)
        cutoff_s : float
            Seconds; pairs over it are left out.
        threads : int, optional
            Worker threads; default :attr:`threads`.

        Returns
        -------
        PairTimes
            The pairs within the cutoff and their times in seconds.

        Notes
        -----
        With a contraction hierarchy, one of two ways, whichever :meth:`_m2m_method`
        estimates cheaper (from the search spaces of a sample of targets and sources):

        - *restricted PHAST sweeps* (:mod:`fangkong.network.rphast`): the part of the
          hierarchy the targets can be reached through within the cutoff is laid out once per
          call (O(n + m_ch)); sources run 8 at a time, an upward search each and one sweep
          over that part for all 8. O(s/8 · (n_r + m_r) + s · t). Most calls where sources
          reach a fair share of their targets, and every call on a city-sized network;
        - *pruned buckets*: the targets' upward searches, pruned at the cutoff, leave buckets
          (built on ``threads`` threads, not cached), and each source runs one upward search
          pruned at the cutoff that scans them (:func:`fangkong.network.ch.bucket_many_to_many`).
          Large networks where the cutoff keeps each source to a small neighbourhood.

        Without a hierarchy: one bucket search per
        source bounded by the cutoff (:func:`_bucket_search`), O(s · (m_c + n_c)) for the n_c
        nodes and m_c edges within the cutoff of a source, targets read off the reached nodes.
        Sources run in blocks of up to 64 on ``threads`` threads pulling blocks from a shared
        counter (balanced although search sizes vary); the kernels release the GIL and each
        thread keeps its stamped workspace. A thread pool rather
        than numba ``prange``: each source yields a variable number of pairs, and workspaces
        live across calls instead of being reallocated per parallel region. Memory O(n) per
        thread plus the output.
        """
        cutoff = self._cutoff(cutoff_s)
        sources, seeds = self._locations(sources, leaving=True, field="sources")
        targets, entries = self._locations(targets, leaving=False, field="targets")
        n_src = int(seeds.ptr.shape[0] - 1)
        n_tgt = int(entries.ptr.shape[0] - 1)
        direct = self._direct(sources, targets, n_src)
        workers = max(1, min(threads or self.threads, n_src))
        block = max(1, min(64, n_src // (workers * 8) or 1))
        n_blocks = (n_src + block - 1) // block
        results: list[tuple[IntArray, IntArray, FloatArray] | None] = [None] * n_blocks
        counter = itertools.count()
        settled = [0] * workers
        h = self.hierarchy
        plan = self._m2m_plan(h, seeds, entries, cutoff, direct) if h is not None else None
        self._local.m2m_method = "plain" if h is None else "buckets" if plan is None else "rphast"
        if h is not None and plan is not None:
            src, tgt, time, count = self._m2m_rphast(h, plan, seeds, direct, cutoff, workers)
            self._local.settled = count
            return PairTimes(src, tgt, time, (n_src, n_tgt))
        buckets = self._cutoff_buckets(h, entries, cutoff, workers) if h is not None else None

        def work(worker: int) -> None:
            ws = self._acquire()
            try:
                while (b := next(counter)) < n_blocks:
                    lo, hi = b * block, min(n_src, (b + 1) * block)
                    if h is not None and buckets is not None:
                        s, t, d, count = self._run_m2m_ch(
                            ws, h, buckets, lo, hi, seeds, direct, cutoff
                        )
                    else:
                        s, t, d, count = self._run_m2m(
                            ws, lo, hi, seeds, entries, n_tgt, direct, cutoff
                        )
                    results[b] = (s, t, d)
                    settled[worker] += count
            finally:
                self._release(ws)

        if workers == 1:
            work(0)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(work, i) for i in range(workers)]:
                    future.result()
        self._local.settled = sum(settled)
        return PairTimes(*_joined([r for r in results if r is not None]), (n_src, n_tgt))

    def multi_source_nearest(
        self, sources: Locations, *, cutoff_s: float = INF
    ) -> tuple[Int32Array, FloatArray]:
        """For every node, the nearest source and the time from it (coverage by posts).

        Parameters
        ----------
        sources : array of int or EdgePoints, shape (s,)
        cutoff_s : float, optional
            Seconds; nodes farther than this from every source get -1 and ``inf``.

        Returns
        -------
        nearest : array of int32, shape (n,)
            Index into ``sources`` of the nearest source, -1 if none within the cutoff; between
            equally near sources, any one of them.
        time_s : array of float64, shape (n,)
            Seconds from that source to the node.

        Notes
        -----
        With a contraction hierarchy, PHAST (:func:`fangkong.network.ch.multi_source_phast`):
        an upward search from every source, then one sweep over the nodes in decreasing rank,
        O(n + m_ch) with sequential memory access. Without, one Dijkstra seeded with every
        source: O(m + n log n). Both independent of the number of sources; O(n + m) memory.
        """
        cutoff = self._cutoff(cutoff_s)
        _, seeds = self._locations(sources, leaving=True, field="sources")
        h = self.hierarchy
        if h is not None:
            dist, label, settled = multi_source_phast(
                h.up_ptr,
                h.up_head,
                h.up_w,
                h.down_ptr,
                h.down_tail,
                h.down_w,
                h.rank,
                seeds.node,
                seeds.time,
                seeds.owner,
                cutoff,
            )
            self._local.settled = settled
            return label, dist
        g = self._forward
        dist, label, settled = multi_source_dijkstra(
            g.indptr, g.adj, g.w, seeds.node, seeds.time, seeds.owner, cutoff
        )
        self._local.settled = settled
        return label, dist

    def distances_from(self, source: Source, *, cutoff_s: float = INF) -> FloatArray:
        """Time from ``source`` to every node (the raw labels behind isochrones).

        Parameters
        ----------
        source : int or EdgePoints of length 1
        cutoff_s : float, optional
            Seconds; nodes beyond are ``inf``.

        Returns
        -------
        array of float64, shape (n,)
            Seconds.

        Notes
        -----
        A bucket search bounded by the cutoff (:func:`_bucket_search`): O(m_c + n_c) plus O(n)
        for the output array; without a cutoff and with a contraction hierarchy, PHAST:
        O(n + m_ch), sequential.
        """
        cutoff = self._cutoff(cutoff_s)
        _, seeds = self._single(source, leaving=True, field="source")
        return self._all_times(seeds, cutoff, reverse=False)

    def _all_times(self, seeds: _Expanded, cutoff: float, *, reverse: bool) -> FloatArray:
        """Time from the seeds to every node (to the seeds when ``reverse``)."""
        h = self.hierarchy if math.isinf(cutoff) else None
        if h is not None:
            up = (h.up_ptr, h.up_head, h.up_w)
            down = (h.down_ptr, h.down_tail, h.down_w)
            climb, sweep = (down, up) if reverse else (up, down)
            dist, _, settled = multi_source_phast(
                climb[0],
                climb[1],
                climb[2],
                sweep[0],
                sweep[1],
                sweep[2],
                h.rank,
                seeds.node,
                seeds.time,
                seeds.owner,
                cutoff,
            )
            self._local.settled = settled
            return dist
        nodes, times = self._ball(self._backward if reverse else self._forward, seeds, cutoff)
        dist = np.full(self.n_nodes, INF)
        dist[nodes] = times
        return dist

    def _ball(self, g: _Adjacency, seeds: _Expanded, cutoff: float) -> tuple[IntArray, FloatArray]:
        """The nodes within ``cutoff`` of the seeds on ``g`` and their times (bucket search)."""
        ws = self._acquire()
        try:
            while True:
                width, heads = self._bucket_plan(
                    ws, 1, seeds, g.adj.shape[0] + seeds.node.shape[0] + 1
                )
                ws.stamp += 2
                count, used = _bucket_search(
                    g.indptr,
                    g.adj,
                    g.w,
                    seeds.node,
                    seeds.time,
                    cutoff,
                    width,
                    ws.dist,
                    ws.state,
                    ws.stamp,
                    heads,
                    ws.entry_next,
                    ws.heap_id,
                    ws.heap_key,
                    ws.reached,
                    ws.reached_time,
                )
                if used < ws.heap_id.shape[0]:
                    break
                self._grow_entries(ws)
            nodes = ws.reached[:count].copy()
            times = ws.reached_time[:count].copy()
        finally:
            self._release(ws)
        self._local.settled = int(nodes.shape[0])
        return nodes, times

    def reachable_from(self, source: Source, *, cutoff_s: float) -> tuple[IntArray, FloatArray]:
        """The nodes within ``cutoff_s`` of ``source`` and their times.

        Parameters
        ----------
        source : int or EdgePoints of length 1
        cutoff_s : float
            Seconds (finite for the cost to stay bounded).

        Returns
        -------
        nodes : array of int64
            Node ids, in no particular order (sort by ``times`` where the order matters).
        times : array of float64
            Seconds from ``source``.

        Notes
        -----
        A bucket search bounded by the cutoff (see :func:`_bucket_search`) on a reused, stamped
        workspace: O(m_c + n_c + cutoff / width) for the n_c nodes and m_c edges within the
        cutoff, with no O(n) term (what isochrones use); an infinite cutoff reaches every
        node.
        """
        cutoff = self._cutoff(cutoff_s)
        _, seeds = self._single(source, leaving=True, field="source")
        return self._ball(self._forward, seeds, cutoff)

    def route(self, source: Source, target: Source) -> Route | None:
        """The fastest route from ``source`` to ``target``, or None when there is none.

        Parameters
        ----------
        source, target : int or EdgePoints of length 1

        Returns
        -------
        Route or None
            Its time, length and the edge pieces driven (see :class:`Route`).

        Notes
        -----
        Dijkstra with predecessors from the source, stopped as soon as the target is final:
        O(m' + n' log n') for the n' nodes nearer than the target. Two points on one road
        may be joined along it directly, as in every other query.
        """
        s_locs, seeds = self._single(source, leaving=True, field="source")
        t_locs, entries = self._single(target, leaving=False, field="target")
        g = self._forward
        ws = self._acquire()
        try:
            ws.prepare(1, g.adj.shape[0] + seeds.node.shape[0] + 1)
            if ws.pred.shape[0] < self.n_nodes:
                ws.pred = np.empty(self.n_nodes, dtype=np.int32)
            best_entry, best_time, ws.stamp = _path_search(
                g.indptr,
                g.adj,
                g.w,
                seeds.node,
                seeds.time,
                entries.node,
                entries.time,
                ws.dist,
                ws.state,
                ws.pred,
                ws.heap_key,
                ws.heap_id,
                ws.stamp,
            )
            inner: list[int] = []
            first = -1
            if best_entry >= 0:
                v = int(entries.node[best_entry])
                while (a := int(ws.pred[v])) >= 0:
                    inner.append(a)
                    v = int(self.graph.tail[a])
                first = -1 - a
        finally:
            self._release(ws)
        _, _, along = self._direct(s_locs, t_locs, 1)
        if along.shape[0] and float(along[0]) <= best_time:
            return self._route_of([self._along_road(s_locs, t_locs)], float(along[0]))
        if best_entry < 0:
            return None
        pieces = [self._end_piece(s_locs, first, leaving=True)]
        pieces += [(a, 0.0, 1.0) for a in reversed(inner)]
        pieces.append(self._end_piece(t_locs, best_entry, leaving=False))
        return self._route_of([p for p in pieces if p is not None], float(best_time))

    def _end_piece(
        self, loc: Locations, item: int, *, leaving: bool
    ) -> tuple[int, float, float] | None:
        """The part of its road a route drives from a source point (``leaving``) or to a
        target point, by the index of the item (:meth:`_expand_one`'s order) it used: item 0
        is along the point's own edge, item 1 along its twin; a node has no such part."""
        if not isinstance(loc, EdgePoints):
            return None
        e, f = int(loc.edge[0]), float(loc.fraction[0])
        tw = int(self.twin[e])
        if item == 0:
            piece = (e, f, 1.0) if leaving else (e, 0.0, f)
        elif tw >= 0:
            piece = (tw, 1.0 - f, 1.0) if leaving else (tw, 0.0, 1.0 - f)
        else:
            return None  # a one-way edge's end node itself
        return piece

    def _along_road(self, source: Locations, target: Locations) -> tuple[int, float, float]:
        """The piece joining two points on one road (``_direct`` found it the faster way)."""
        assert isinstance(source, EdgePoints) and isinstance(target, EdgePoints)
        (road,), (fs,) = self._canonical(source)
        (_,), (ft,) = self._canonical(target)
        if ft >= fs:
            return int(road), float(fs), float(ft)
        return int(self.twin[road]), 1.0 - float(fs), 1.0 - float(ft)

    def _route_of(self, pieces: list[tuple[int, float, float]], time_s: float) -> Route:
        """A route of the non-empty ``pieces``."""
        pieces = [p for p in pieces if p[2] > p[1]]
        edge = np.array([p[0] for p in pieces], dtype=np.int64)
        start = np.array([p[1] for p in pieces], dtype=np.float64)
        end = np.array([p[2] for p in pieces], dtype=np.float64)
        length = float(np.sum((end - start) * self.graph.length_m[edge]))
        return Route(time_s, length, edge, start, end)

    def distances_to(self, target: Source, *, cutoff_s: float = INF) -> FloatArray:
        """Time from every node to ``target`` (Dijkstra on the reverse graph).

        Parameters
        ----------
        target : int or EdgePoints of length 1
        cutoff_s : float, optional
            Seconds; nodes beyond are ``inf``.

        Returns
        -------
        array of float64, shape (n,)
            Seconds.

        Notes
        -----
        Same cost as :meth:`distances_from` (PHAST on the reverse hierarchy without cutoff).
        """
        cutoff = self._cutoff(cutoff_s)
        _, seeds = self._single(target, leaving=False, field="target")
        return self._all_times(seeds, cutoff, reverse=True)
