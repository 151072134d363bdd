"""Many-to-many on a contraction hierarchy by restricted PHAST sweeps, several sources a sweep.

Why
---
A many-to-many with a cutoff where a source reaches a large share of its targets (a 600 s
ring in a county) gains little from pruned buckets: each source scans most of the targets'
bucket entries, and building the buckets is one upward search per target. A PHAST sweep reads
the whole hierarchy once per source instead, in a fixed order, whatever the cutoff.
RPHAST (Delling, Goldberg, Werneck, "Faster batched shortest paths in road networks", 2011)
restricts that sweep to the nodes from which a target can be reached downwards, and sweeps
for several sources at once so that each edge read serves all of them.

Layout (once per hierarchy, :func:`sweep_layout`)
-------------------------------------------------
The sweep relaxes the downward edges of the hierarchy; any order in which the upper end of
every downward edge comes before its lower end will do. Nodes are placed by *level* (the
longest chain of downward edges above them), and within a level by a caller's key (the
engine passes a Morton code of the coordinates), so that nodes next to each other in the
sweep are near each other on the map and their upper neighbours were swept recently: the
labels the sweep reads are mostly in cache. Each position keeps its incoming downward edges
(the position of the upper end and the time) in one CSR.

Per call (:func:`restrict`)
---------------------------
One pass from the bottom of the layout to its top computes, for every node, the time of its
shortest downward path to any target. The nodes within the cutoff of a target that way
are the only ones a source's time to a target within the cutoff can pass through on its way
down (every node on the downward half of an up-down shortest path to target t lies within
d(s, t) of t along downward edges); they and the edges between them that can lie on such
a path (time of the edge plus its lower end's time to a target within the cutoff) are
renumbered into a compact CSR, kept in layout order.

Per block of sources (:func:`rphast_block`)
-------------------------------------------
Sources run ``LANES`` at a time: each one's upward search (pruned at the cutoff, with
stall-on-demand) writes its labels into its lane of the restricted nodes' rows, then one
sweep over the restricted CSR takes, for every node and every lane, the minimum of its own
label and its upper neighbours' times plus the edge. Rows are ``LANES`` float64 wide (one
cache line), so the edge arrays are read once for ``LANES`` sources and the rows read at
random are whole lines. The targets' times are then read off their rows.

Exact: the sweep computes the times of the up-down paths, which are the shortest ones in a
contraction hierarchy; the tests compare the answers with scipy's Dijkstra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from fangkong.network._heap import heap_pop as _pop
from fangkong.network._kernels import relax
from fangkong.network.ch import ContractionHierarchy
from fangkong.network.ch import _seed_up as seed_up
from fangkong.network.ch import _stalled as stalled

__all__ = [
    "LANES",
    "SweepLayout",
    "item_rows",
    "morton_key",
    "restrict",
    "rphast_block",
    "rphast_emit",
    "sweep_layout",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]

#: Sources swept together: 8 float64 labels are one 64-byte cache line per node.
LANES = 8


@dataclass(frozen=True, eq=False)
class SweepLayout:
    """A topological order of the hierarchy's downward edges (see the module docstring).

    Attributes
    ----------
    pos : array of int32, shape (n,)
        Sweep position of each rank.
    ptr, src, w :
        CSR by position of the incoming downward edges: the upper end's position (always
        smaller) and the edge's time in seconds.
    levels : int
        Number of levels.
    """

    pos: Int32Array
    ptr: IntArray
    src: Int32Array
    w: FloatArray
    levels: int


@njit(cache=True, nogil=True)
def _levels(down_ptr: IntArray, down_tail: Int32Array) -> Int32Array:
    """Level of each rank: 0 without an upper neighbour, else one more than the highest
    level among the upper ends of its downward edges."""
    n = down_ptr.shape[0] - 1
    level = np.zeros(n, dtype=np.int32)
    for v in range(n - 1, -1, -1):
        top = -1
        for a in range(down_ptr[v], down_ptr[v + 1]):
            lu = level[down_tail[a]]
            if lu > top:
                top = lu
        level[v] = top + 1
    return level


@njit(cache=True, nogil=True)
def _gather(
    order: Int32Array,
    pos: Int32Array,
    down_ptr: IntArray,
    down_tail: Int32Array,
    down_w: FloatArray,
) -> tuple[IntArray, Int32Array, FloatArray]:
    """The downward edges by sweep position, each row's edges by ascending upper position."""
    n = order.shape[0]
    ptr = np.zeros(n + 1, dtype=np.int64)
    for p in range(n):
        v = order[p]
        ptr[p + 1] = ptr[p] + down_ptr[v + 1] - down_ptr[v]
    src = np.empty(ptr[n], dtype=np.int32)
    w = np.empty(ptr[n], dtype=np.float64)
    for p in range(n):
        v = order[p]
        a0 = down_ptr[v]
        k = ptr[p]
        for a in range(a0, down_ptr[v + 1]):
            # insertion by upper position: rows are a few edges long
            q = pos[down_tail[a]]
            wa = down_w[a]
            j = k
            while j > ptr[p] and src[j - 1] > q:
                src[j] = src[j - 1]
                w[j] = w[j - 1]
                j -= 1
            src[j] = q
            w[j] = wa
            k += 1
    return ptr, src, w


def morton_key(lon: FloatArray, lat: FloatArray) -> IntArray:
    """A Z-order key of the coordinates (16 bits each, interleaved), for spatial locality."""
    key = np.zeros(lon.shape[0], dtype=np.int64)
    if lon.shape[0] == 0:
        return key
    cols = []
    for values in (lon, lat):
        lo, hi = float(values.min()), float(values.max())
        span = hi - lo if hi > lo else 1.0
        cols.append(((values - lo) / span * 65535.0).astype(np.int64))
    for bit in range(16):
        key |= ((cols[0] >> bit) & 1) << (2 * bit)
        key |= ((cols[1] >> bit) & 1) << (2 * bit + 1)
    return key


def sweep_layout(h: ContractionHierarchy, key: IntArray | None = None) -> SweepLayout:
    """Order the hierarchy's nodes by level, then by ``key`` of their graph node (graph node
    id when None), and lay out the downward edges in that order. O(n log n + m_down)."""
    level = _levels(h.down_ptr, h.down_tail)
    graph_key = np.asarray(h.order, dtype=np.int64) if key is None else key[h.order]
    order = np.lexsort((graph_key, level)).astype(np.int32)
    pos = np.empty(h.n_nodes, dtype=np.int32)
    pos[order] = np.arange(h.n_nodes, dtype=np.int32)
    ptr, src, w = _gather(order, pos, h.down_ptr, h.down_tail, h.down_w)
    levels = int(level.max()) + 1 if level.shape[0] else 0
    return SweepLayout(pos=pos, ptr=ptr, src=src, w=w, levels=levels)


@njit(cache=True, nogil=True)
def restrict(
    ptr: IntArray,
    src: Int32Array,
    w: FloatArray,
    ent_pos: Int32Array,
    ent_off: FloatArray,
    cutoff: float,
) -> tuple[Int32Array, IntArray, Int32Array, FloatArray]:
    """The part of the layout a sweep for these targets needs (see the module docstring).

    ``ent_pos``/``ent_off`` are the targets' entries: the sweep position of a node and the
    time from it to the target. Returns the compact index of each position (-1: left out)
    and the compact CSR (ptr, upper end's compact index, time)."""
    n = ptr.shape[0] - 1
    near = np.full(n, np.inf)
    for e in range(ent_pos.shape[0]):
        p = ent_pos[e]
        if ent_off[e] < near[p]:
            near[p] = ent_off[e]
    for p in range(n - 1, -1, -1):
        t_p = near[p]
        if t_p > cutoff:
            continue
        for a in range(ptr[p], ptr[p + 1]):
            t = t_p + w[a]
            q = src[a]
            if t < near[q]:
                near[q] = t
    compact = np.full(n, -1, dtype=np.int32)
    n_kept = 0
    n_edges = 0
    for p in range(n):
        t_p = near[p]
        if t_p <= cutoff:
            compact[p] = n_kept
            n_kept += 1
            for a in range(ptr[p], ptr[p + 1]):
                if t_p + w[a] <= cutoff:
                    n_edges += 1
    r_ptr = np.zeros(n_kept + 1, dtype=np.int64)
    r_src = np.empty(n_edges, dtype=np.int32)
    r_w = np.empty(n_edges, dtype=np.float64)
    k = 0
    for p in range(n):
        c = compact[p]
        if c < 0:
            continue
        t_p = near[p]
        for a in range(ptr[p], ptr[p + 1]):
            if t_p + w[a] <= cutoff:
                r_src[k] = compact[src[a]]
                r_w[k] = w[a]
                k += 1
        r_ptr[c + 1] = k
    return compact, r_ptr, r_src, r_w


@njit(cache=True, nogil=True, inline="always")
def _sweep(
    r_ptr: IntArray,
    r_src: Int32Array,
    r_w: FloatArray,
    rows: FloatArray,
    mark: Int32Array,
    live: Int32Array,
    batch: int,
    ent_c: Int32Array,
    ent_off: FloatArray,
    cutoff: float,
    times: FloatArray,
    row0: int,
) -> None:
    """One sweep of :data:`LANES` sources: each row is the minimum of its own labels (where
    ``mark`` is this batch's) and its upper neighbours' rows plus the edge, lane by lane;
    the targets' entries (sorted by row) are read off their rows as soon as these are final,
    into ``times[row0 + lane, entry]``. Eight named accumulators keep a row in registers.

    Rows with a lane within the cutoff are *live* (``live[p] == batch``). A row with no
    label of its own and no live upper neighbour is left as it is, which is all ``inf``:
    a row that was live in the batch before and is not now is set to ``inf`` (the first
    sweep of a call follows the last of the call before, so that holds across calls; the
    engine fills new rows with ``inf``). Where the cutoff keeps the sources to small
    neighbourhoods most rows are not live, and a sweep reads little more than the flags of
    their upper neighbours; elsewhere a row costs one flag read more."""
    inf = np.inf
    e = 0
    n_ent = ent_c.shape[0]
    for p in range(r_ptr.shape[0] - 1):
        found = mark[p] == batch
        start = r_ptr[p]
        stop = r_ptr[p + 1]
        if not found:
            for a in range(start, stop):
                if live[r_src[a]] == batch:
                    found = True
                    break
        alive = False
        if found:
            if mark[p] == batch:
                a0 = rows[p, 0]
                a1 = rows[p, 1]
                a2 = rows[p, 2]
                a3 = rows[p, 3]
                a4 = rows[p, 4]
                a5 = rows[p, 5]
                a6 = rows[p, 6]
                a7 = rows[p, 7]
            else:
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = inf
            for a in range(start, stop):
                q = r_src[a]
                wa = r_w[a]
                t = rows[q, 0] + wa
                a0 = t if t < a0 else a0
                t = rows[q, 1] + wa
                a1 = t if t < a1 else a1
                t = rows[q, 2] + wa
                a2 = t if t < a2 else a2
                t = rows[q, 3] + wa
                a3 = t if t < a3 else a3
                t = rows[q, 4] + wa
                a4 = t if t < a4 else a4
                t = rows[q, 5] + wa
                a5 = t if t < a5 else a5
                t = rows[q, 6] + wa
                a6 = t if t < a6 else a6
                t = rows[q, 7] + wa
                a7 = t if t < a7 else a7
            low = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
            alive = low <= cutoff
        if alive:
            live[p] = batch
            rows[p, 0] = a0
            rows[p, 1] = a1
            rows[p, 2] = a2
            rows[p, 3] = a3
            rows[p, 4] = a4
            rows[p, 5] = a5
            rows[p, 6] = a6
            rows[p, 7] = a7
        elif found or live[p] == batch - 1:
            for j in range(LANES):
                rows[p, j] = inf
        while e < n_ent and ent_c[e] == p:
            if alive:
                off = ent_off[e]
                times[row0 + 0, e] = a0 + off
                times[row0 + 1, e] = a1 + off
                times[row0 + 2, e] = a2 + off
                times[row0 + 3, e] = a3 + off
                times[row0 + 4, e] = a4 + off
                times[row0 + 5, e] = a5 + off
                times[row0 + 6, e] = a6 + off
                times[row0 + 7, e] = a7 + off
            else:
                times[row0 + 0, e] = inf
                times[row0 + 1, e] = inf
                times[row0 + 2, e] = inf
                times[row0 + 3, e] = inf
                times[row0 + 4, e] = inf
                times[row0 + 5, e] = inf
                times[row0 + 6, e] = inf
                times[row0 + 7, e] = inf
            e += 1


@njit(cache=True, nogil=True)
def rphast_block(
    up_ptr: IntArray,
    up_head: Int32Array,
    up_w: FloatArray,
    down_ptr: IntArray,
    down_tail: Int32Array,
    down_w: FloatArray,
    rank: Int32Array,
    rank_c: Int32Array,
    r_ptr: IntArray,
    r_src: Int32Array,
    r_w: FloatArray,
    src_lo: int,
    src_hi: int,
    seed_ptr: IntArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    ent_c: Int32Array,
    ent_off: FloatArray,
    dir_ptr: IntArray,
    dir_item: Int32Array,
    dir_time: FloatArray,
    cutoff: float,
    dist: FloatArray,
    state: Int32Array,
    hk: FloatArray,
    hv: Int32Array,
    stamp: int,
    rows: FloatArray,
    mark: Int32Array,
    live: Int32Array,
    batch: int,
    times: FloatArray,
) -> tuple[int, int, int, int]:
    """The times from the sources ``src_lo:src_hi`` to every item, :data:`LANES` sources a
    sweep, into ``times`` (source - src_lo, entry); :func:`rphast_emit` writes those within
    ``cutoff`` out.

    ``rank_c`` maps a rank to its compact index (-1: not in the sweep), ``r_*`` is the
    compact CSR of :func:`restrict`, ``ent_c``/``ent_off`` the items' entries sorted by
    compact index, one per item (compact index, time to the item).
    ``dir_*`` are times known without the graph (two points on one road), per source; the
    engine passes some only where entry ``j`` is item ``j`` (the items' own rows, see
    :func:`item_rows`). ``dist``/``state``/``hk``/``hv`` and ``stamp`` serve the upward
    searches (as in :func:`fangkong.network.ch.bucket_many_to_many`); ``rows`` (at least
    compact nodes × LANES; rows not live in ``batch`` all ``inf``), ``mark`` and ``live``
    (at least compact nodes; each at most ``batch``) and ``times`` (at least the sources
    rounded up to LANES × entries) are the caller's scratch. Returns the pairs within the
    cutoff, the last stamp, the last batch and the nodes settled upwards."""
    n_ent = ent_c.shape[0]
    settled = 0
    inf = np.inf
    for b in range(src_lo, src_hi, LANES):
        lanes = min(LANES, src_hi - b)
        batch += 1
        for k in range(lanes):
            s = b + k
            stamp += 2
            base = stamp
            size = seed_up(
                rank,
                seed_node,
                seed_time,
                seed_ptr[s],
                seed_ptr[s + 1],
                cutoff,
                dist,
                state,
                base,
                hk,
                hv,
            )
            while size > 0:
                key = hk[0]
                v = hv[0]
                size = _pop(hk, hv, size)
                if state[v] != base or key > dist[v]:
                    continue
                state[v] = base + 1
                settled += 1
                if stalled(down_ptr, down_tail, down_w, state, dist, base, v, key):
                    continue
                c = rank_c[v]
                if c >= 0:
                    if mark[c] != batch:
                        mark[c] = batch
                        for j in range(LANES):
                            rows[c, j] = inf
                    if key < rows[c, k]:
                        rows[c, k] = key
                size = relax(up_ptr, up_head, up_w, v, key, cutoff, dist, state, base, hk, hv, size)
        _sweep(
            r_ptr, r_src, r_w, rows, mark, live, batch, ent_c, ent_off, cutoff, times, b - src_lo
        )
    count = 0
    for k in range(src_hi - src_lo):
        s = src_lo + k
        for i in range(dir_ptr[s], dir_ptr[s + 1]):
            j = dir_item[i]
            if dir_time[i] < times[k, j]:
                times[k, j] = dir_time[i]
        for e in range(n_ent):
            if times[k, e] <= cutoff:
                count += 1
    return count, stamp, batch, settled


@njit(cache=True, nogil=True)
def rphast_emit(
    times: FloatArray,
    n_sources: int,
    ent_item: Int32Array,
    cutoff: float,
    src_lo: int,
    out_s: IntArray,
    out_i: IntArray,
    out_t: FloatArray,
    at: int,
) -> None:
    """Write the pairs within ``cutoff`` of the first ``n_sources`` rows of ``times`` (source
    ``src_lo + k``, item, time; as many as :func:`rphast_block` counted) from ``at`` on."""
    n_ent = ent_item.shape[0]
    for k in range(n_sources):
        for e in range(n_ent):
            t = times[k, e]
            if t <= cutoff:
                out_s[at] = src_lo + k
                out_i[at] = ent_item[e]
                out_t[at] = t
                at += 1


def item_rows(
    compact: Int32Array,
    ptr: IntArray,
    src: Int32Array,
    w: FloatArray,
    ent_pos: Int32Array,
    ent_off: FloatArray,
    ent_ptr: IntArray,
    cutoff: float,
) -> tuple[IntArray, Int32Array, FloatArray]:
    """The compact CSR of :func:`restrict` with one more row per item after all the others,
    fed by the item's entries (an edge from the entry's row, of the entry's time): items of
    several entries (points on two-way roads) or none then have one row each, whose time is
    the best of their entries, and the engine reads item ``j`` off row ``n_kept + j``."""
    n_items = ent_ptr.shape[0] - 1
    owner = np.repeat(np.arange(n_items), np.diff(ent_ptr))
    row = compact[ent_pos]
    keep = (row >= 0) & (ent_off <= cutoff)
    counts = np.bincount(owner[keep], minlength=n_items)
    extra = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(counts, out=extra[1:])
    return (
        np.concatenate((ptr, ptr[-1] + extra[1:])),
        np.concatenate((src, row[keep].astype(np.int32))),
        np.concatenate((w, ent_off[keep])),
    )
