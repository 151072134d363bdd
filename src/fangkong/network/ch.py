"""Contraction hierarchy (CH) of a road graph: preprocessing and the query kernels built on it.

Why a CH
--------
A plain Dijkstra that stops at the k-th target settles every node nearer than that target:
on a 1M-node city with 300 units that is ~10^4 nodes and milliseconds per query. A CH adds
shortcuts once so that every shortest path is an *up-down* path in a node order (rank); a
query then only searches upwards from both ends, a few hundred nodes.

Preprocessing
-------------
Nodes are contracted one by one in the order of a lazy priority queue. The priority of ``v``
is ``c_edge`` × the shortcuts its contraction would add, minus the edges it removes, plus
``c_deleted`` × its neighbours already contracted (which spreads contraction evenly). It is
recomputed when ``v`` reaches the top (lazy update: reinserted when it is no longer the
minimum) with the witness searches of the contraction itself, whose shortcuts are kept aside
and added if ``v`` is contracted: one search pass per contraction instead of two (a third
faster at 10^6 nodes). A contraction only bumps its neighbours' deleted-neighbour term rather
than re-simulating them (too slow in numba at 10^6 nodes for what it gains).
Contracting ``v`` adds a shortcut ``u -> w`` (weight ``t(u,v) + t(v,w)``, middle node ``v``)
for each in-neighbour ``u`` and out-neighbour ``w`` unless a *witness* search from ``u``
that avoids ``v`` finds a path no longer than that; the search is bounded by a number of
settled nodes, so a missed witness only costs a superfluous (still correct) shortcut.
Self-loops are dropped and parallel edges keep the fastest (neither changes any distance).
On ``grid_city(1_000_000)``: ~45 s on one of two shared cores, 7.7M CH edges for 3.6M road
edges (147 MB of arrays), 650 MB peak while building.

The result is stored with nodes renumbered by rank (``order[r]`` is the graph node of rank
``r``, ``rank[v]`` its inverse), in two CSR graphs: ``up`` holds each edge ``u -> w`` with
``rank[w] > rank[u]`` under ``u``; ``down`` holds each edge ``u -> w`` with ``rank[u] >
rank[w]`` under ``w`` (so a backward search from ``w`` also climbs). Rank-ordered ids keep the
sweeps of :func:`multi_source_phast` sequential in memory.

Queries
-------
- :func:`item_searches`, :func:`bucket_group`, :func:`bucket_query`: one-to-many k-nearest
  with *buckets*: an upward search from each target on the reversed graph leaves
  ``(target, time)`` entries in a bucket per node it settles; a query is one upward search
  from the source that scans the buckets of the nodes it settles. The search space of each
  target is kept apart (the engine caches it per location), so that a set where a few units
  moved is regrouped in ~1 ms instead of searched again. A query stops when its queue's
  smallest key is no smaller than the current k-th best time: every target nearer than that
  has met the search at its top node already.
  Both searches use *stall-on-demand* (a node reached more cheaply from above is not
  expanded). The buckets of a target set are built once and reused.
- :func:`multi_source_phast`: PHAST: an upward search seeded with every source, then one sweep
  over all nodes in decreasing rank relaxing the ``down`` edges: O(n + m_ch) with sequential
  access instead of a heap over n nodes.

Both are exact: the tests compare them with scipy's Dijkstra to 1e-6 s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit
from numpy.typing import NDArray

from fangkong.network._heap import heap_pop as _pop
from fangkong.network._heap import heap_push as _push
from fangkong.network._kernels import emit_pairs, offer_best, offer_direct, relax
from fangkong.network.graph import RoadGraph

__all__ = [
    "CH_FORMAT_VERSION",
    "Buckets",
    "ContractionHierarchy",
    "build_hierarchy",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]
BoolArray = NDArray[np.bool_]

#: Bump when the stored arrays or their meaning change: older files are rebuilt.
CH_FORMAT_VERSION = 1
_ARRAYS = (
    "rank",
    "order",
    "up_ptr",
    "up_head",
    "up_w",
    "up_mid",
    "down_ptr",
    "down_tail",
    "down_w",
    "down_mid",
)
# Witness searches stop after this many settled nodes (simulated contraction / real one).
_SIM_SETTLED = 20
_REAL_SETTLED = 200
# Priority = C_EDGE * shortcuts added - edges removed + C_DELETED * contracted neighbours.
# Tuned on grid_city(100_000): 4 and 0.5 give 20 % fewer CH edges than 1 and 1 and faster
# builds and queries (weighting shortcuts up favours contracting nodes that add few).
_C_EDGE = 4.0
_C_DELETED = 0.5
_WITNESS_HEAP = 1 << 18


@dataclass(frozen=True, eq=False)
class ContractionHierarchy:
    """A CH in rank numbering (see the module docstring).

    Attributes
    ----------
    rank : array of int32, shape (n,)
        Rank of each graph node (its CH id).
    order : array of int32, shape (n,)
        Graph node of each rank.
    up_ptr, up_head, up_w, up_mid :
        CSR of the upward edges ``r -> up_head`` (ranks), seconds, middle rank or -1.
    down_ptr, down_tail, down_w, down_mid :
        CSR of the downward edges ``down_tail -> r`` stored under their lower end ``r``.
    meta : dict
        ``build_s``, ``graph_key`` (what it was built from), ``shortcuts``.
    """

    rank: Int32Array
    order: Int32Array
    up_ptr: IntArray
    up_head: Int32Array
    up_w: FloatArray
    up_mid: Int32Array
    down_ptr: IntArray
    down_tail: Int32Array
    down_w: FloatArray
    down_mid: Int32Array
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.rank.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory of the arrays in bytes."""
        return int(sum(getattr(self, name).nbytes for name in _ARRAYS))

    def save(self, path: Path) -> None:
        """Write the arrays to one uncompressed ``.npz`` (atomically: temporary name, move)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        meta = np.array([f"{k}={v}" for k, v in sorted(self.meta.items())], dtype=str)
        np.savez(
            tmp,
            format_version=np.int64(CH_FORMAT_VERSION),
            meta=meta,
            **{name: getattr(self, name) for name in _ARRAYS},
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ContractionHierarchy:
        """Read a file written by :meth:`save`; ValueError when of another format version."""
        with np.load(path, allow_pickle=False) as data:
            if int(data["format_version"]) != CH_FORMAT_VERSION:
                raise ValueError(
                    f"{path}: CH format {int(data['format_version'])}, expected {CH_FORMAT_VERSION}"
                )
            meta = dict(str(item).split("=", 1) for item in data["meta"])
            return cls(meta=meta, **{name: data[name] for name in _ARRAYS})

    def matches(self, graph: RoadGraph) -> bool:
        """Whether this CH fits ``graph`` (same node count, same key when both have one)."""
        key = graph.meta.get("cache_key")
        return self.n_nodes == graph.n_nodes and (
            key is None or self.meta.get("graph_key") in (None, key)
        )


@dataclass(frozen=True, eq=False)
class Buckets:
    """Bucket entries of a location set: the hash table ``key``/``slot`` maps a rank to its
    bucket ``ptr[slot]:ptr[slot+1]`` (see :func:`bucket_group`).
    """

    key: Int32Array
    slot: Int32Array
    ptr: IntArray
    item: Int32Array
    time: FloatArray
    n_items: int

    @property
    def nbytes(self) -> int:
        return int(
            self.key.nbytes
            + self.slot.nbytes
            + self.ptr.nbytes
            + self.item.nbytes
            + self.time.nbytes
        )


# --------------------------------------------------------------------------------------------
# Preprocessing


@njit(cache=True, nogil=True)
def _upsert(
    start: IntArray,
    length: Int32Array,
    cap: Int32Array,
    to: Int32Array,
    wt: FloatArray,
    mid: Int32Array,
    used: int,
    v: int,
    x: int,
    w: float,
    m: int,
) -> tuple[Int32Array, FloatArray, Int32Array, int]:
    """Insert edge v-x (weight w, middle m) in v's list, or lower an existing one."""
    s = start[v]
    for i in range(s, s + length[v]):
        if to[i] == x:
            if w < wt[i]:
                wt[i] = w
                mid[i] = m
            return to, wt, mid, used
    if length[v] == cap[v]:
        new_cap = max(4, 2 * cap[v])
        if used + new_cap > to.shape[0]:
            size = max(2 * to.shape[0], used + new_cap)
            to2 = np.empty(size, dtype=np.int32)
            wt2 = np.empty(size, dtype=np.float64)
            mid2 = np.empty(size, dtype=np.int32)
            to2[:used] = to[:used]
            wt2[:used] = wt[:used]
            mid2[:used] = mid[:used]
            to, wt, mid = to2, wt2, mid2
        for i in range(length[v]):
            to[used + i] = to[s + i]
            wt[used + i] = wt[s + i]
            mid[used + i] = mid[s + i]
        start[v] = used
        cap[v] = new_cap
        used += new_cap
        s = start[v]
    i = s + length[v]
    to[i] = x
    wt[i] = w
    mid[i] = m
    length[v] += 1
    return to, wt, mid, used


@njit(cache=True, nogil=True, inline="always")
def _remove(
    start: IntArray,
    length: Int32Array,
    to: Int32Array,
    wt: FloatArray,
    mid: Int32Array,
    v: int,
    x: int,
) -> None:
    """Remove x from v's list (swap with the last entry)."""
    s = start[v]
    last = s + length[v] - 1
    for i in range(s, last + 1):
        if to[i] == x:
            to[i] = to[last]
            wt[i] = wt[last]
            mid[i] = mid[last]
            length[v] -= 1
            return


@njit(cache=True, nogil=True)
def _witness(
    u: int,
    max_d: float,
    limit: int,
    o_start: IntArray,
    o_len: Int32Array,
    o_to: Int32Array,
    o_w: FloatArray,
    done: NDArray[np.bool_],
    dist: FloatArray,
    seen: IntArray,
    stamp: int,
    hk: FloatArray,
    hv: Int32Array,
    tmark: IntArray,
    n_targets: int,
) -> None:
    """Dijkstra from u over uncontracted nodes up to ``max_d`` or ``limit`` settled nodes, or
    until the ``n_targets`` nodes with ``tmark == stamp`` are settled; ``dist`` holds the
    labels where ``seen == stamp`` (upper bounds: enough to prove a witness)."""
    dist[u] = 0.0
    seen[u] = stamp
    size = _push(hk, hv, 0, 0.0, u)
    settled = 0
    left = n_targets
    cap = hk.shape[0]
    while size > 0:
        key = hk[0]
        x = hv[0]
        size = _pop(hk, hv, size)
        if key > dist[x]:
            continue
        if key > max_d:
            break
        settled += 1
        if tmark[x] == stamp:
            tmark[x] = stamp - 1  # count it once
            left -= 1
            if left == 0:
                break
        if settled > limit:
            break
        s = o_start[x]
        for i in range(s, s + o_len[x]):
            y = o_to[i]
            if done[y]:
                continue
            t = key + o_w[i]
            if t > max_d:
                continue
            if seen[y] != stamp or t < dist[y]:
                if size >= cap:
                    return
                dist[y] = t
                seen[y] = stamp
                size = _push(hk, hv, size, t, y)


@njit(cache=True, nogil=True, inline="always")
def _queue(
    qk: FloatArray, qv: Int32Array, qsize: int, key: float, v: int
) -> tuple[FloatArray, Int32Array, int]:
    """Push (key, v) on the contraction queue, doubling its arrays when they are full."""
    if qsize + 1 >= qk.shape[0]:
        qk2 = np.empty(2 * qk.shape[0], dtype=np.float64)
        qv2 = np.empty(2 * qk.shape[0], dtype=np.int32)
        qk2[:qsize] = qk[:qsize]
        qv2[:qsize] = qv[:qsize]
        qk, qv = qk2, qv2
    return qk, qv, _push(qk, qv, qsize, key, v)


@njit(cache=True, nogil=True)
def _shortcuts(
    v: int,
    limit: int,
    collect: bool,
    i_start: IntArray,
    i_len: Int32Array,
    i_to: Int32Array,
    i_w: FloatArray,
    o_start: IntArray,
    o_len: Int32Array,
    o_to: Int32Array,
    o_w: FloatArray,
    done: BoolArray,
    dist: FloatArray,
    seen: IntArray,
    stamp: int,
    hk: FloatArray,
    hv: Int32Array,
    tmark: IntArray,
    sc_u: Int32Array,
    sc_x: Int32Array,
    sc_d: FloatArray,
) -> tuple[int, int, Int32Array, Int32Array, FloatArray]:
    """The shortcuts contracting ``v`` (already marked done) needs: from each in-neighbour u, a
    witness search of at most ``limit`` settled nodes, bounded by the longest u → v → x; a
    shortcut u → x wherever it finds nothing as fast. Counted (the simulated contraction that
    sets priorities) or, with ``collect``, also kept in ``sc_*`` (grown as needed). Returns
    (count, last stamp, sc_u, sc_x, sc_d)."""
    added = 0
    for a in range(i_start[v], i_start[v] + i_len[v]):
        u = i_to[a]
        wu = i_w[a]
        max_d = 0.0
        nt = 0
        stamp += 2
        for b in range(o_start[v], o_start[v] + o_len[v]):
            x = o_to[b]
            if x == u:
                continue
            d = wu + o_w[b]
            if d > max_d:
                max_d = d
            if tmark[x] != stamp:
                tmark[x] = stamp
                nt += 1
        if nt == 0:
            continue
        _witness(
            u, max_d, limit, o_start, o_len, o_to, o_w, done, dist, seen, stamp, hk, hv, tmark, nt
        )
        for b in range(o_start[v], o_start[v] + o_len[v]):
            x = o_to[b]
            if x == u:
                continue
            d = wu + o_w[b]
            if seen[x] == stamp and dist[x] <= d:
                continue
            if collect:
                if added == sc_u.shape[0]:
                    sc_u = np.concatenate((sc_u, np.empty(added, dtype=np.int32)))
                    sc_x = np.concatenate((sc_x, np.empty(added, dtype=np.int32)))
                    sc_d = np.concatenate((sc_d, np.empty(added, dtype=np.float64)))
                sc_u[added] = u
                sc_x[added] = x
                sc_d[added] = d
            added += 1
    return added, stamp, sc_u, sc_x, sc_d


@njit(cache=True, nogil=True)
def _contract(
    n: int,
    tail: Int32Array,
    head: Int32Array,
    w: FloatArray,
    sim_limit: int,
    real_limit: int,
    c_edge: float,
    c_deleted: float,
) -> tuple[
    Int32Array,
    Int32Array,
    Int32Array,
    FloatArray,
    Int32Array,
    Int32Array,
    Int32Array,
    FloatArray,
    Int32Array,
    int,
]:
    """Contract every node; returns rank, the upward edges (low, high, w, mid), the downward
    edges (low, high, w, mid) as plain lists in graph ids, and the shortcut count."""
    m = tail.shape[0]
    o_len = np.zeros(n, dtype=np.int32)
    i_len = np.zeros(n, dtype=np.int32)
    for e in range(m):
        o_len[tail[e]] += 1
        i_len[head[e]] += 1
    o_cap = o_len + 2
    i_cap = i_len + 2
    o_start = np.zeros(n, dtype=np.int64)
    i_start = np.zeros(n, dtype=np.int64)
    acc_o = 0
    acc_i = 0
    for v in range(n):
        o_start[v] = acc_o
        i_start[v] = acc_i
        acc_o += o_cap[v]
        acc_i += i_cap[v]
    pool = 2 * max(acc_o, acc_i) + 64
    o_to = np.empty(pool, dtype=np.int32)
    o_w = np.empty(pool, dtype=np.float64)
    o_mid = np.empty(pool, dtype=np.int32)
    i_to = np.empty(pool, dtype=np.int32)
    i_w = np.empty(pool, dtype=np.float64)
    i_mid = np.empty(pool, dtype=np.int32)
    o_used = acc_o
    i_used = acc_i
    o_len[:] = 0
    i_len[:] = 0
    for e in range(m):
        u = tail[e]
        x = head[e]
        k = o_start[u] + o_len[u]
        o_to[k] = x
        o_w[k] = w[e]
        o_mid[k] = -1
        o_len[u] += 1
        k = i_start[x] + i_len[x]
        i_to[k] = u
        i_w[k] = w[e]
        i_mid[k] = -1
        i_len[x] += 1

    done = np.zeros(n, dtype=np.bool_)
    dist = np.empty(n, dtype=np.float64)
    # int64 stamps: one per witness search, which can exceed 2^31 on large graphs
    seen = np.zeros(n, dtype=np.int64)
    tmark = np.zeros(n, dtype=np.int64)
    hk = np.empty(_WITNESS_HEAP, dtype=np.float64)
    hv = np.empty(_WITNESS_HEAP, dtype=np.int32)
    stamp = 2
    deleted = np.zeros(n, dtype=np.int32)
    prio = np.empty(n, dtype=np.float64)
    rank = np.full(n, -1, dtype=np.int32)

    out_cap = 2 * m + 16
    up_lo = np.empty(out_cap, dtype=np.int32)
    up_hi = np.empty(out_cap, dtype=np.int32)
    up_w = np.empty(out_cap, dtype=np.float64)
    up_mid = np.empty(out_cap, dtype=np.int32)
    dn_lo = np.empty(out_cap, dtype=np.int32)
    dn_hi = np.empty(out_cap, dtype=np.int32)
    dn_w = np.empty(out_cap, dtype=np.float64)
    dn_mid = np.empty(out_cap, dtype=np.int32)
    n_up = 0
    n_dn = 0
    shortcuts = 0

    qk = np.empty(4 * n + 16, dtype=np.float64)
    qv = np.empty(4 * n + 16, dtype=np.int32)
    qsize = 0

    sc_u = np.empty(64, dtype=np.int32)
    sc_x = np.empty(64, dtype=np.int32)
    sc_d = np.empty(64, dtype=np.float64)
    # initial priorities: a simulated contraction of every node
    for v in range(n):
        done[v] = True
        added, stamp, sc_u, sc_x, sc_d = _shortcuts(
            v,
            sim_limit,
            False,
            i_start,
            i_len,
            i_to,
            i_w,
            o_start,
            o_len,
            o_to,
            o_w,
            done,
            dist,
            seen,
            stamp,
            hk,
            hv,
            tmark,
            sc_u,
            sc_x,
            sc_d,
        )
        done[v] = False
        prio[v] = c_edge * added - (i_len[v] + o_len[v])
        qsize = _push(qk, qv, qsize, prio[v], v)

    r = 0
    while qsize > 0:
        key = qk[0]
        v = qv[0]
        qsize = _pop(qk, qv, qsize)
        if done[v] or key != prio[v]:
            continue
        # lazy update: the witness searches of the real contraction, their shortcuts kept
        # aside; v is contracted with them if it is still the minimum, else reinserted
        done[v] = True
        added, stamp, sc_u, sc_x, sc_d = _shortcuts(
            v,
            real_limit,
            True,
            i_start,
            i_len,
            i_to,
            i_w,
            o_start,
            o_len,
            o_to,
            o_w,
            done,
            dist,
            seen,
            stamp,
            hk,
            hv,
            tmark,
            sc_u,
            sc_x,
            sc_d,
        )
        p = c_edge * added - (i_len[v] + o_len[v]) + c_deleted * deleted[v]
        if qsize > 0 and p > qk[0]:
            done[v] = False
            prio[v] = p
            qk, qv, qsize = _queue(qk, qv, qsize, p, v)
            continue
        # contraction (v stays marked done)
        for i in range(added):
            u = sc_u[i]
            x = sc_x[i]
            d = sc_d[i]
            o_to, o_w, o_mid, o_used = _upsert(
                o_start, o_len, o_cap, o_to, o_w, o_mid, o_used, u, x, d, v
            )
            i_to, i_w, i_mid, i_used = _upsert(
                i_start, i_len, i_cap, i_to, i_w, i_mid, i_used, x, u, d, v
            )
        shortcuts += added
        need = o_len[v] + i_len[v]
        if n_up + need > up_lo.shape[0] or n_dn + need > dn_lo.shape[0]:
            size = 2 * (max(n_up, n_dn) + need)
            up_lo = np.concatenate((up_lo[:n_up], np.empty(size - n_up, dtype=np.int32)))
            up_hi = np.concatenate((up_hi[:n_up], np.empty(size - n_up, dtype=np.int32)))
            up_w = np.concatenate((up_w[:n_up], np.empty(size - n_up, dtype=np.float64)))
            up_mid = np.concatenate((up_mid[:n_up], np.empty(size - n_up, dtype=np.int32)))
            dn_lo = np.concatenate((dn_lo[:n_dn], np.empty(size - n_dn, dtype=np.int32)))
            dn_hi = np.concatenate((dn_hi[:n_dn], np.empty(size - n_dn, dtype=np.int32)))
            dn_w = np.concatenate((dn_w[:n_dn], np.empty(size - n_dn, dtype=np.float64)))
            dn_mid = np.concatenate((dn_mid[:n_dn], np.empty(size - n_dn, dtype=np.int32)))
        for b in range(o_start[v], o_start[v] + o_len[v]):
            x = o_to[b]
            up_lo[n_up] = v
            up_hi[n_up] = x
            up_w[n_up] = o_w[b]
            up_mid[n_up] = o_mid[b]
            n_up += 1
            _remove(i_start, i_len, i_to, i_w, i_mid, x, v)
        for a in range(i_start[v], i_start[v] + i_len[v]):
            u = i_to[a]
            dn_lo[n_dn] = v
            dn_hi[n_dn] = u
            dn_w[n_dn] = i_w[a]
            dn_mid[n_dn] = i_mid[a]
            n_dn += 1
            _remove(o_start, o_len, o_to, o_w, o_mid, u, v)
        rank[v] = r
        r += 1
        # neighbours: one more deleted neighbour each (their edge difference is refreshed
        # lazily when they reach the top)
        for b in range(o_start[v], o_start[v] + o_len[v]):
            x = o_to[b]
            deleted[x] += 1
            prio[x] += c_deleted
            qk, qv, qsize = _queue(qk, qv, qsize, prio[x], x)
        for a in range(i_start[v], i_start[v] + i_len[v]):
            u = i_to[a]
            deleted[u] += 1
            prio[u] += c_deleted
            qk, qv, qsize = _queue(qk, qv, qsize, prio[u], u)
    return (
        rank,
        up_lo[:n_up],
        up_hi[:n_up],
        up_w[:n_up],
        up_mid[:n_up],
        dn_lo[:n_dn],
        dn_hi[:n_dn],
        dn_w[:n_dn],
        dn_mid[:n_dn],
        shortcuts,
    )


def _csr(
    n: int, row: Int32Array, col: Int32Array, w: FloatArray, mid: Int32Array
) -> tuple[IntArray, Int32Array, FloatArray, Int32Array]:
    order = np.argsort(row, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=ptr[1:])
    return (
        ptr,
        np.ascontiguousarray(col[order], dtype=np.int32),
        np.ascontiguousarray(w[order]),
        np.ascontiguousarray(mid[order], dtype=np.int32),
    )


def build_hierarchy(
    graph: RoadGraph,
    *,
    sim_settled: int = _SIM_SETTLED,
    witness_settled: int = _REAL_SETTLED,
    c_edge: float = _C_EDGE,
    c_deleted: float = _C_DELETED,
) -> ContractionHierarchy:
    """Contract ``graph`` into a :class:`ContractionHierarchy` (travel times ``time_s``).

    Parameters
    ----------
    graph : RoadGraph
    sim_settled, witness_settled : int, optional
        Settled-node limits of the witness searches for the initial priorities and for the
        contractions (and their lazy updates); higher limits find more witnesses (fewer
        shortcuts) but cost more.
    c_edge, c_deleted : float, optional
        Weights of the shortcuts added and of the contracted neighbours in the priority.

    Returns
    -------
    ContractionHierarchy
        ``meta["build_s"]`` is the wall time in seconds, ``meta["shortcuts"]`` their count.

    Notes
    -----
    Roughly linear in n for road networks (bounded witness searches, lazy priorities); about
    0.65 GB and 45 s for 10^6 nodes on one core. Memory O(n + m + shortcuts).
    """
    started = time.perf_counter()
    n = graph.n_nodes
    tail = graph.tail.astype(np.int64)
    head = graph.head.astype(np.int64)
    w = graph.time_s
    keep = tail != head
    tail, head, w = tail[keep], head[keep], w[keep]
    # parallel edges: keep the fastest
    order = np.lexsort((w, head, tail))
    tail, head, w = tail[order], head[order], w[order]
    first = np.ones(tail.shape[0], dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    tail, head, w = tail[first], head[first], w[first]
    (rank, up_lo, up_hi, up_w, up_mid, dn_lo, dn_hi, dn_w, dn_mid, shortcuts) = _contract(
        n,
        tail.astype(np.int32),
        head.astype(np.int32),
        np.ascontiguousarray(w),
        sim_settled,
        witness_settled,
        c_edge,
        c_deleted,
    )
    mid_rank = np.append(rank, np.int32(-1))  # index -1 -> -1
    up = _csr(n, rank[up_lo], rank[up_hi], up_w, mid_rank[up_mid])
    down = _csr(n, rank[dn_lo], rank[dn_hi], dn_w, mid_rank[dn_mid])
    order_arr = np.empty(n, dtype=np.int32)
    order_arr[rank] = np.arange(n, dtype=np.int32)
    meta = {"build_s": f"{time.perf_counter() - started:.3f}", "shortcuts": str(shortcuts)}
    if "cache_key" in graph.meta:
        meta["graph_key"] = graph.meta["cache_key"]
    return ContractionHierarchy(
        rank=rank,
        order=order_arr,
        up_ptr=up[0],
        up_head=up[1],
        up_w=up[2],
        up_mid=up[3],
        down_ptr=down[0],
        down_tail=down[1],
        down_w=down[2],
        down_mid=down[3],
        meta=meta,
    )


# --------------------------------------------------------------------------------------------
# Queries


@njit(cache=True, nogil=True, inline="always")
def _stalled(
    s_ptr: IntArray,
    s_adj: Int32Array,
    s_w: FloatArray,
    state: Int32Array,
    dist: FloatArray,
    base: int,
    v: int,
    key: float,
) -> bool:
    """Stall-on-demand: a node reached more cheaply from above through the opposite graph
    cannot be on a shortest up-down path at ``key``, so its search goes no further."""
    for a in range(s_ptr[v], s_ptr[v + 1]):
        u = s_adj[a]
        if state[u] >= base and dist[u] + s_w[a] < key:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _bucket_of(h_key: Int32Array, h_val: Int32Array, v: int) -> int:
    """The bucket slot of rank ``v`` in the hash table of :func:`bucket_group`, or -1."""
    mask = h_key.shape[0] - 1
    j = (v * 2654435761) & mask
    while h_key[j] != v and h_key[j] != -1:
        j = (j + 1) & mask
    return h_val[j] if h_key[j] == v else -1


@njit(cache=True, nogil=True, inline="always")
def _seed_up(
    rank: Int32Array,
    seed_node: Int32Array,
    seed_time: FloatArray,
    lo: int,
    hi: int,
    bound: float,
    dist: FloatArray,
    state: Int32Array,
    base: int,
    hk: FloatArray,
    hv: Int32Array,
) -> int:
    """Queue the seeds ``lo:hi`` (graph nodes, times) within ``bound`` by their rank; returns
    the heap size."""
    size = 0
    for i in range(lo, hi):
        v = rank[seed_node[i]]
        t = seed_time[i]
        if t <= bound and (state[v] != base or t < dist[v]):
            dist[v] = t
            state[v] = base
            size = _push(hk, hv, size, t, v)
    return size


@njit(cache=True, nogil=True)
def item_searches(
    q_ptr: IntArray,
    q_adj: Int32Array,
    q_w: FloatArray,
    s_ptr: IntArray,
    s_adj: Int32Array,
    s_w: FloatArray,
    rank: Int32Array,
    seed_ptr: IntArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    cutoff: float,
    dist: FloatArray,
    state: Int32Array,
    hk: FloatArray,
    hv: Int32Array,
    stamp: int,
) -> tuple[IntArray, Int32Array, FloatArray, int]:
    """The upward search space of each item ``seed_ptr[i]:seed_ptr[i+1]`` (graph nodes,
    initial times) within ``cutoff``, stalled nodes left out.

    ``q_*`` is the CSR the item searches climb (``down`` for targets, ``up`` for sources),
    ``s_*`` the opposite one, used to stall. Returns (ptr, rank, time) per item, in settling
    order, and the last stamp.
    """
    n_items = seed_ptr.shape[0] - 1
    cap = 1024
    e_node = np.empty(cap, dtype=np.int32)
    e_time = np.empty(cap, dtype=np.float64)
    ptr = np.zeros(n_items + 1, dtype=np.int64)
    count = 0
    for it in range(n_items):
        stamp += 2
        base = stamp
        size = _seed_up(
            rank,
            seed_node,
            seed_time,
            seed_ptr[it],
            seed_ptr[it + 1],
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
            if _stalled(s_ptr, s_adj, s_w, state, dist, base, v, key):
                continue
            if count == cap:
                cap *= 2
                e_node = np.concatenate((e_node, np.empty(cap - count, dtype=np.int32)))
                e_time = np.concatenate((e_time, np.empty(cap - count, dtype=np.float64)))
            e_node[count] = v
            e_time[count] = key
            count += 1
            size = relax(q_ptr, q_adj, q_w, v, key, cutoff, dist, state, base, hk, hv, size)
        ptr[it + 1] = count
    return ptr, e_node[:count].copy(), e_time[:count].copy(), stamp


@njit(cache=True, nogil=True)
def bucket_group(
    ptr: IntArray,
    node: Int32Array,
    time: FloatArray,
) -> tuple[Int32Array, Int32Array, IntArray, Int32Array, FloatArray]:
    """Node-major buckets from item-major entries (item ``i`` owns ``ptr[i]:ptr[i+1]``).

    Returns (hash keys, hash slots, bucket ptr, item, time). Buckets are left unsorted: a
    query scans whole buckets (sorting them for an early exit cost more to build, ~2 ms for
    300 targets on 10^6 nodes, than it saved per query). The node -> bucket map is an
    open-addressing hash table (linear probing, at most half full) rather than an array over
    all n nodes: O(entries) to build, and small enough to stay in cache while a query probes
    it.
    """
    count = node.shape[0]
    size = 16
    while size < 2 * count + 2:
        size <<= 1
    mask = size - 1
    h_key = np.full(size, -1, dtype=np.int32)
    h_val = np.empty(size, dtype=np.int32)
    e_slot = np.empty(count, dtype=np.int32)
    n_slots = 0
    for i in range(count):
        v = node[i]
        j = (v * 2654435761) & mask
        while h_key[j] != v and h_key[j] != -1:
            j = (j + 1) & mask
        if h_key[j] == -1:
            h_key[j] = v
            h_val[j] = n_slots
            n_slots += 1
        e_slot[i] = h_val[j]
    b_ptr = np.zeros(n_slots + 1, dtype=np.int64)
    for i in range(count):
        b_ptr[e_slot[i] + 1] += 1
    for k in range(n_slots):
        b_ptr[k + 1] += b_ptr[k]
    fill = b_ptr[:-1].copy()
    item = np.empty(count, dtype=np.int32)
    times = np.empty(count, dtype=np.float64)
    for it in range(ptr.shape[0] - 1):
        for i in range(ptr[it], ptr[it + 1]):
            k = e_slot[i]
            j = fill[k]
            fill[k] += 1
            times[j] = time[i]
            item[j] = it
    return h_key, h_val, b_ptr, item, times


@njit(cache=True, nogil=True, inline="always")
def _offer(
    j: int, t: float, top_t: FloatArray, top_i: Int32Array, in_top: BoolArray, n_top: int, kk: int
) -> int:
    """Offer item ``j`` at time ``t`` to the (unsorted) top-k; returns the new count."""
    if in_top[j]:
        for q in range(n_top):
            if top_i[q] == j:
                top_t[q] = t
        return n_top
    if n_top < kk:
        top_t[n_top] = t
        top_i[n_top] = j
        in_top[j] = True
        return n_top + 1
    worst = 0
    for q in range(1, n_top):
        if top_t[q] > top_t[worst]:
            worst = q
    if t < top_t[worst]:
        in_top[top_i[worst]] = False
        top_t[worst] = t
        top_i[worst] = j
        in_top[j] = True
    return n_top


@njit(cache=True, nogil=True, inline="always")
def _largest(values: FloatArray, count: int) -> float:
    """The largest of ``values[:count]`` (count ≥ 1): the k-th best time of a full top-k."""
    out = float(values[0])
    for q in range(1, count):
        if values[q] > out:
            out = float(values[q])
    return out


@njit(cache=True, nogil=True, inline="always")
def _offer_nearest(
    j: int,
    t: float,
    seen: BoolArray,
    best: FloatArray,
    top_t: FloatArray,
    top_i: Int32Array,
    in_top: BoolArray,
    n_top: int,
    kk: int,
    bound: float,
    cutoff: float,
) -> tuple[int, float]:
    """Item ``j`` met at time ``t``: when that betters its time, offer it to the top-k and,
    once the top-k is full, tighten the search's bound to its k-th time. Returns (top-k
    count, bound)."""
    if seen[j] and t >= best[j]:
        return n_top, bound
    seen[j] = True
    best[j] = t
    n_top = _offer(j, t, top_t, top_i, in_top, n_top, kk)
    if n_top == kk:
        bound = min(_largest(top_t, n_top), cutoff)
    return n_top, bound


@njit(cache=True, nogil=True)
def bucket_query(
    q_ptr: IntArray,
    q_adj: Int32Array,
    q_w: FloatArray,
    s_ptr: IntArray,
    s_adj: Int32Array,
    s_w: FloatArray,
    rank: Int32Array,
    seed_node: Int32Array,
    seed_time: FloatArray,
    h_key: Int32Array,
    h_val: Int32Array,
    b_ptr: IntArray,
    b_item: Int32Array,
    b_time: FloatArray,
    n_items: int,
    pre_item: Int32Array,
    pre_time: FloatArray,
    k: int,
    cutoff: float,
    dist: FloatArray,
    state: Int32Array,
    hk: FloatArray,
    hv: Int32Array,
    stamp: int,
) -> tuple[Int32Array, FloatArray, int, int]:
    """The ``k`` items nearest to the seeds (graph nodes, initial times) within ``cutoff``.

    ``pre_item``/``pre_time`` are times known without the graph (two points on one road).
    Returns (item, time) sorted by time then item, the last stamp and the nodes settled.
    """
    kk = min(k, n_items)
    base = stamp + 2
    best = np.empty(n_items, dtype=np.float64)
    tseen = np.zeros(n_items, dtype=np.bool_)
    # the k best so far: unsorted, with the largest tracked as the bound
    top_t = np.empty(max(kk, 1), dtype=np.float64)
    top_i = np.empty(max(kk, 1), dtype=np.int32)
    in_top = np.zeros(n_items, dtype=np.bool_)
    n_top = 0
    bound = cutoff
    settled = 0
    if kk == 0:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float64), base, 0
    for i in range(pre_item.shape[0]):
        if pre_time[i] <= cutoff:
            n_top, bound = _offer_nearest(
                pre_item[i],
                pre_time[i],
                tseen,
                best,
                top_t,
                top_i,
                in_top,
                n_top,
                kk,
                bound,
                cutoff,
            )
    size = _seed_up(
        rank, seed_node, seed_time, 0, seed_node.shape[0], bound, dist, state, base, hk, hv
    )
    while size > 0:
        key = hk[0]
        v = hv[0]
        if key > bound or (n_top == kk and key >= bound):
            break
        size = _pop(hk, hv, size)
        if state[v] != base or key > dist[v]:
            continue
        state[v] = base + 1
        settled += 1
        if _stalled(s_ptr, s_adj, s_w, state, dist, base, v, key):
            continue
        sl = _bucket_of(h_key, h_val, v)
        if sl >= 0:
            for e in range(b_ptr[sl], b_ptr[sl + 1]):
                t = key + b_time[e]
                if t > bound or (n_top == kk and t >= bound):
                    continue  # no better than the k-th best
                n_top, bound = _offer_nearest(
                    b_item[e], t, tseen, best, top_t, top_i, in_top, n_top, kk, bound, cutoff
                )
        size = relax(q_ptr, q_adj, q_w, v, key, bound, dist, state, base, hk, hv, size)
    # the top-k sorted by (time, item)
    out_i = top_i[:n_top].copy()
    out_t = top_t[:n_top].copy()
    for a in range(1, n_top):
        ti = out_t[a]
        ii = out_i[a]
        b = a
        while b > 0 and (out_t[b - 1] > ti or (out_t[b - 1] == ti and out_i[b - 1] > ii)):
            out_t[b] = out_t[b - 1]
            out_i[b] = out_i[b - 1]
            b -= 1
        out_t[b] = ti
        out_i[b] = ii
    return out_i, out_t, base, settled


@njit(cache=True, nogil=True)
def bucket_many_to_many(
    q_ptr: IntArray,
    q_adj: Int32Array,
    q_w: FloatArray,
    s_ptr: IntArray,
    s_adj: Int32Array,
    s_w: FloatArray,
    rank: Int32Array,
    src_lo: int,
    src_hi: int,
    seed_ptr: IntArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    h_key: Int32Array,
    h_val: Int32Array,
    b_ptr: IntArray,
    b_item: Int32Array,
    b_time: FloatArray,
    n_items: int,
    dir_ptr: IntArray,
    dir_item: Int32Array,
    dir_time: FloatArray,
    cutoff: float,
    dist: FloatArray,
    state: Int32Array,
    hk: FloatArray,
    hv: Int32Array,
    stamp: int,
) -> tuple[IntArray, IntArray, FloatArray, int, int]:
    """Every (source, item) pair within ``cutoff``, for the sources ``src_lo:src_hi``.

    Each source (seeds ``seed_ptr[s]:seed_ptr[s+1]``) climbs the hierarchy by an upward
    search pruned at the cutoff and scans the buckets of the nodes it settles; ``dir_*`` are
    times known without the graph (two points on one road), per source. Returns (source,
    item, time) grouped by source, the last stamp and the nodes settled.
    """
    best = np.empty(n_items, dtype=np.float64)
    seen = np.zeros(n_items, dtype=np.int32)  # the stamp of the source that last met the item
    touched = np.empty(n_items, dtype=np.int32)
    out_s = np.empty(1024, dtype=np.int64)
    out_i = np.empty(1024, dtype=np.int64)
    out_t = np.empty(1024, dtype=np.float64)
    count = 0
    settled = 0
    for s in range(src_lo, src_hi):
        stamp += 2
        base = stamp
        n_touched = offer_direct(s, dir_ptr, dir_item, dir_time, cutoff, base, seen, best, touched)
        size = _seed_up(
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
            if _stalled(s_ptr, s_adj, s_w, state, dist, base, v, key):
                continue
            sl = _bucket_of(h_key, h_val, v)
            if sl >= 0:
                for e in range(b_ptr[sl], b_ptr[sl + 1]):
                    t = key + b_time[e]
                    if t <= cutoff:
                        n_touched = offer_best(b_item[e], t, base, seen, best, touched, n_touched)
            size = relax(q_ptr, q_adj, q_w, v, key, cutoff, dist, state, base, hk, hv, size)
        out_s, out_i, out_t, count = emit_pairs(
            out_s, out_i, out_t, count, s, touched, n_touched, best
        )
    return out_s[:count], out_i[:count], out_t[:count], stamp, settled


@njit(cache=True, nogil=True)
def multi_source_dijkstra(
    indptr: IntArray,
    adj: Int32Array,
    w: FloatArray,
    seed_node: Int32Array,
    seed_time: FloatArray,
    seed_label: Int32Array,
    cutoff: float,
) -> tuple[FloatArray, Int32Array, int]:
    """One Dijkstra from all seeds at once: per node the time and label of its nearest seed.

    The plain engine runs it on the whole graph; PHAST runs it on the upward graph."""
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    label = np.full(n, -1, dtype=np.int32)
    done = np.zeros(n, dtype=np.bool_)
    cap = adj.shape[0] + seed_node.shape[0] + 1
    hk = np.empty(cap, dtype=np.float64)
    hv = np.empty(cap, dtype=np.int32)
    size = 0
    for i in range(seed_node.shape[0]):
        v = seed_node[i]
        t = seed_time[i]
        if t <= cutoff and t < dist[v]:
            dist[v] = t
            label[v] = seed_label[i]
            size = _push(hk, hv, size, t, v)
    settled = 0
    while size > 0:
        key = hk[0]
        v = hv[0]
        size = _pop(hk, hv, size)
        if done[v] or key > dist[v]:
            continue
        done[v] = True
        settled += 1
        lab = label[v]
        for a in range(indptr[v], indptr[v + 1]):
            u = adj[a]
            t = key + w[a]
            if t <= cutoff and t < dist[u] and not done[u]:
                dist[u] = t
                label[u] = lab
                size = _push(hk, hv, size, t, u)
    return dist, label, settled


@njit(cache=True, nogil=True)
def multi_source_phast(
    up_ptr: IntArray,
    up_head: Int32Array,
    up_w: FloatArray,
    down_ptr: IntArray,
    down_tail: Int32Array,
    down_w: FloatArray,
    rank: Int32Array,
    seed_node: Int32Array,
    seed_time: FloatArray,
    seed_label: Int32Array,
    cutoff: float,
) -> tuple[FloatArray, Int32Array, int]:
    """Per graph node, the time from the nearest seed and that seed's label (PHAST).

    An upward Dijkstra from all seeds, then one sweep in decreasing rank; times over
    ``cutoff`` become ``inf`` with label -1. Returns (time, label, nodes settled upwards).
    """
    n = up_ptr.shape[0] - 1
    d, lab, settled = multi_source_dijkstra(
        up_ptr, up_head, up_w, rank[seed_node], seed_time, seed_label, cutoff
    )
    for v in range(n - 1, -1, -1):
        best = d[v]
        bl = lab[v]
        for a in range(down_ptr[v], down_ptr[v + 1]):
            t = d[down_tail[a]] + down_w[a]
            if t < best:
                best = t
                bl = lab[down_tail[a]]
        d[v] = best
        lab[v] = bl
    out_d = np.empty(n, dtype=np.float64)
    out_l = np.empty(n, dtype=np.int32)
    for g in range(n):
        r = rank[g]
        t = d[r]
        if t <= cutoff:
            out_d[g] = t
            out_l[g] = lab[r]
        else:
            out_d[g] = np.inf
            out_l[g] = -1
    return out_d, out_l, settled
