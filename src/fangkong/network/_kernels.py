"""Small numba pieces the search kernels share (inlined where they are called)."""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from fangkong.network._heap import heap_push

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]


@njit(cache=True, nogil=True, inline="always")
def offer_best(
    j: int,
    t: float,
    stamp: int,
    seen: Int32Array,
    best: FloatArray,
    touched: Int32Array,
    n_touched: int,
) -> int:
    """Keep the smaller time ``t`` for item ``j`` in the search stamped ``stamp``, listing
    ``j`` in ``touched`` when first met; returns the new length of ``touched``."""
    if seen[j] != stamp:
        seen[j] = stamp
        best[j] = t
        touched[n_touched] = j
        return n_touched + 1
    if t < best[j]:
        best[j] = t
    return n_touched


@njit(cache=True, nogil=True, inline="always")
def offer_direct(
    s: int,
    dir_ptr: IntArray,
    dir_item: Int32Array,
    dir_time: FloatArray,
    cutoff: float,
    stamp: int,
    seen: Int32Array,
    best: FloatArray,
    touched: Int32Array,
) -> int:
    """Offer source ``s``'s times known without the graph (two points on one road) within
    ``cutoff``; the search's first offers, so the count starts at 0. Returns the count."""
    n_touched = 0
    for i in range(dir_ptr[s], dir_ptr[s + 1]):
        if dir_time[i] <= cutoff:
            n_touched = offer_best(dir_item[i], dir_time[i], stamp, seen, best, touched, n_touched)
    return n_touched


@njit(cache=True, nogil=True, inline="always")
def emit_pairs(
    out_s: IntArray,
    out_t: IntArray,
    out_d: FloatArray,
    count: int,
    s: int,
    touched: Int32Array,
    n_touched: int,
    best: FloatArray,
    room: int = 0,
) -> tuple[IntArray, IntArray, FloatArray, int]:
    """Append (s, j, best[j]) for the touched items, growing the output arrays (doubling) so
    that they also hold ``room`` more; returns the arrays and the new count."""
    need = count + max(n_touched, room)
    if need > out_s.shape[0]:
        cap = out_s.shape[0]
        while need > cap:
            cap *= 2
        out_s = np.concatenate((out_s, np.empty(cap - out_s.shape[0], dtype=np.int64)))
        out_t = np.concatenate((out_t, np.empty(cap - out_t.shape[0], dtype=np.int64)))
        out_d = np.concatenate((out_d, np.empty(cap - out_d.shape[0], dtype=np.float64)))
    for i in range(n_touched):
        j = touched[i]
        out_s[count] = s
        out_t[count] = j
        out_d[count] = best[j]
        count += 1
    return out_s, out_t, out_d, count


@njit(cache=True, nogil=True)
def empty_pairs(count: int) -> tuple[IntArray, IntArray, FloatArray]:
    """Uninitialised (source, target, time) arrays for ``count`` pairs, allocated by numba:
    numpy asks the kernel for transparent huge pages on large arrays, whose first touch
    cost 5-6x more than plain pages on the virtual machines measured (docs/network-ch.md)."""
    return (
        np.empty(count, dtype=np.int64),
        np.empty(count, dtype=np.int64),
        np.empty(count, dtype=np.float64),
    )


@njit(cache=True, nogil=True, inline="always")
def link_entries(
    ent_node: Int32Array, tmark: Int32Array, thead: Int32Array, tstamp: int
) -> Int32Array:
    """Node -> its target entries as linked lists (``thead[v]``, then ``next``), valid while
    ``tmark[v] == tstamp``; returns ``next``."""
    n_ent = ent_node.shape[0]
    tnext = np.empty(n_ent, dtype=np.int32)
    for e in range(n_ent):
        v = ent_node[e]
        if tmark[v] != tstamp:
            tmark[v] = tstamp
            thead[v] = -1
        tnext[e] = thead[v]
        thead[v] = e
    return tnext


@njit(cache=True, nogil=True, inline="always")
def relax(
    q_ptr: IntArray,
    q_adj: Int32Array,
    q_w: FloatArray,
    v: int,
    key: float,
    bound: float,
    dist: FloatArray,
    state: Int32Array,
    base: int,
    hk: FloatArray,
    hv: Int32Array,
    size: int,
) -> int:
    """Relax the edges of ``v`` (settled at ``key``) within ``bound``; returns the heap size."""
    for a in range(q_ptr[v], q_ptr[v + 1]):
        u = q_adj[a]
        t = key + q_w[a]
        if t > bound:
            continue
        su = state[u]
        if su < base or (su == base and t < dist[u]):
            dist[u] = t
            state[u] = base
            size = heap_push(hk, hv, size, t, u)
    return size
