"""numba kernels of the placement heuristics: greedy construction and best-improvement swaps.

Every kernel works on one instance held twice in CSR form: by demand row (``rptr``, ``rcand``,
``rtime``: the candidates reaching row i) and by candidate (``cptr``, ``crow``, ``ctime``: the
rows candidate j reaches). Rows are aggregated demand (identical coverage sets merged, weights
summed), so ``w`` is a row's total weight. ``chosen`` and ``fixed`` are boolean masks over the
candidates; ``allowed`` marks the candidates that may be opened at all.

Coverage (MCLP, LSCP) keeps per row the number of open sites covering it (``count``); the
p-median keeps per row its nearest open site's time ``d1`` (and which, ``c1``; -1 for none) and
the second nearest ``d2``, both capped at ``cap`` (the cost of a row that no open site reaches
within the matrix's cutoff). The swap kernels evaluate every (close j, open k) exchange in
O(nnz) per step, the fast-interchange bookkeeping of Whitaker (1983) and Resende & Werneck
(2007): the gain of opening k is split into a part that does not depend on j and a correction
accumulated only over the rows k reaches.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


# --- coverage -------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def cover_counts(cptr: IntArray, crow: IntArray, chosen: BoolArray, n_rows: int) -> IntArray:
    """How many open sites cover each row."""
    count = np.zeros(n_rows, dtype=np.int64)
    for j in range(chosen.shape[0]):
        if chosen[j]:
            for e in range(cptr[j], cptr[j + 1]):
                count[crow[e]] += 1
    return count


@njit(cache=True, nogil=True)
def greedy_cover(
    cptr: IntArray,
    crow: IntArray,
    rptr: IntArray,
    rcand: IntArray,
    w: FloatArray,
    chosen: BoolArray,
    allowed: BoolArray,
    p: int,
) -> BoolArray:
    """Open sites one by one, each time the one covering the most uncovered weight.

    ``chosen`` holds the sites open from the start (fixed); sites are added until ``p`` are
    open or no allowed site is left. Ties go to the lower index. O(nnz + p · n_candidates).
    """
    n_cand = chosen.shape[0]
    n_rows = w.shape[0]
    out = chosen.copy()
    count = np.zeros(n_rows, dtype=np.int64)
    gain = np.zeros(n_cand)
    for j in range(n_cand):
        for e in range(cptr[j], cptr[j + 1]):
            gain[j] += w[crow[e]]
    opened = 0
    for j in range(n_cand):
        if out[j]:
            opened += 1
            for e in range(cptr[j], cptr[j + 1]):
                i = crow[e]
                count[i] += 1
                if count[i] == 1:
                    for f in range(rptr[i], rptr[i + 1]):
                        gain[rcand[f]] -= w[i]
    while opened < p:
        best = -1
        best_gain = -np.inf
        for j in range(n_cand):
            if allowed[j] and not out[j] and gain[j] > best_gain:
                best, best_gain = j, gain[j]
        if best < 0:
            break
        out[best] = True
        opened += 1
        for e in range(cptr[best], cptr[best + 1]):
            i = crow[e]
            count[i] += 1
            if count[i] == 1:
                for f in range(rptr[i], rptr[i + 1]):
                    gain[rcand[f]] -= w[i]
    return out


@njit(cache=True, nogil=True)
def best_cover_swap(
    cptr: IntArray,
    crow: IntArray,
    w: FloatArray,
    chosen: BoolArray,
    fixed: BoolArray,
    allowed: BoolArray,
    count: IntArray,
) -> tuple[int, int, float]:
    """The exchange (close j, open k) that adds the most covered weight, and that gain.

    Returns ``(-1, -1, 0.0)`` when no exchange gains. O(nnz) per call.
    """
    n_cand = chosen.shape[0]
    n_rows = w.shape[0]
    sole = np.full(n_rows, -1, dtype=np.int64)
    loss = np.zeros(n_cand)
    for j in range(n_cand):
        if chosen[j]:
            for e in range(cptr[j], cptr[j + 1]):
                i = crow[e]
                if count[i] == 1:
                    sole[i] = j
                    loss[j] += w[i]
    # The open, movable site whose closing loses least: the exchange's default partner.
    least = -1
    least_loss = np.inf
    for j in range(n_cand):
        if chosen[j] and not fixed[j] and loss[j] < least_loss:
            least, least_loss = j, loss[j]
    if least < 0:
        return -1, -1, 0.0
    shared = np.zeros(n_cand)
    touched = np.empty(n_cand, dtype=np.int64)
    best_j, best_k, best_gain = -1, -1, 0.0
    for k in range(n_cand):
        if chosen[k] or not allowed[k]:
            continue
        add = 0.0
        n_touched = 0
        for e in range(cptr[k], cptr[k + 1]):
            i = crow[e]
            if count[i] == 0:
                add += w[i]
            elif count[i] == 1:
                j = sole[i]
                if shared[j] == 0.0:
                    touched[n_touched] = j
                    n_touched += 1
                shared[j] += w[i]
        partner = least
        value = -least_loss
        for t in range(n_touched):
            j = touched[t]
            if not fixed[j]:
                v = shared[j] - loss[j]
                if v > value:
                    partner, value = j, v
            shared[j] = 0.0
        gain = add + value
        if gain > best_gain:
            best_j, best_k, best_gain = partner, k, gain
    return best_j, best_k, best_gain


@njit(cache=True, nogil=True)
def apply_cover_swap(
    cptr: IntArray, crow: IntArray, chosen: BoolArray, count: IntArray, out_j: int, in_k: int
) -> None:
    """Close ``out_j`` and open ``in_k``, keeping the cover counts."""
    chosen[out_j] = False
    for e in range(cptr[out_j], cptr[out_j + 1]):
        count[crow[e]] -= 1
    chosen[in_k] = True
    for e in range(cptr[in_k], cptr[in_k + 1]):
        count[crow[e]] += 1


@njit(cache=True, nogil=True)
def greedy_set_cover(
    cptr: IntArray,
    crow: IntArray,
    rptr: IntArray,
    rcand: IntArray,
    chosen: BoolArray,
    allowed: BoolArray,
) -> BoolArray:
    """Open sites until every row is covered, each time the one covering most uncovered rows;
    then close, smallest first, every movable site all of whose rows another open site covers.

    Every row must have an allowed candidate (the caller checks). O(nnz + s · n_candidates)
    for s sites opened.
    """
    n_cand = chosen.shape[0]
    n_rows = rptr.shape[0] - 1
    out = chosen.copy()
    count = np.zeros(n_rows, dtype=np.int64)
    gain = np.zeros(n_cand, dtype=np.int64)
    for j in range(n_cand):
        gain[j] = cptr[j + 1] - cptr[j]
    uncovered = n_rows
    for j in range(n_cand):
        if out[j]:
            for e in range(cptr[j], cptr[j + 1]):
                i = crow[e]
                count[i] += 1
                if count[i] == 1:
                    uncovered -= 1
                    for f in range(rptr[i], rptr[i + 1]):
                        gain[rcand[f]] -= 1
    while uncovered > 0:
        best = -1
        best_gain = 0
        for j in range(n_cand):
            if allowed[j] and not out[j] and gain[j] > best_gain:
                best, best_gain = j, gain[j]
        if best < 0:
            break
        out[best] = True
        for e in range(cptr[best], cptr[best + 1]):
            i = crow[e]
            count[i] += 1
            if count[i] == 1:
                uncovered -= 1
                for f in range(rptr[i], rptr[i + 1]):
                    gain[rcand[f]] -= 1
    # Redundant sites, smallest first.
    sizes = np.empty(n_cand, dtype=np.int64)
    for j in range(n_cand):
        sizes[j] = cptr[j + 1] - cptr[j]
    for j in np.argsort(sizes, kind="mergesort"):
        if not out[j] or chosen[j]:
            continue
        redundant = True
        for e in range(cptr[j], cptr[j + 1]):
            if count[crow[e]] < 2:
                redundant = False
                break
        if redundant:
            out[j] = False
            for e in range(cptr[j], cptr[j + 1]):
                count[crow[e]] -= 1
    return out


# --- p-median -------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def nearest_two(
    rptr: IntArray, rcand: IntArray, rtime: FloatArray, chosen: BoolArray, cap: float
) -> tuple[FloatArray, IntArray, FloatArray]:
    """Per row: the nearest open site's time ``d1`` and index ``c1`` (-1: none within the
    matrix, time ``cap``), and the second nearest's time ``d2`` (``cap`` when none)."""
    n_rows = rptr.shape[0] - 1
    d1 = np.full(n_rows, cap)
    d2 = np.full(n_rows, cap)
    c1 = np.full(n_rows, -1, dtype=np.int64)
    for i in range(n_rows):
        for e in range(rptr[i], rptr[i + 1]):
            j = rcand[e]
            if chosen[j]:
                t = min(rtime[e], cap)
                if t < d1[i]:
                    d2[i] = d1[i]
                    d1[i] = t
                    c1[i] = j
                elif t < d2[i]:
                    d2[i] = t
    return d1, c1, d2


@njit(cache=True, nogil=True)
def greedy_median(
    cptr: IntArray,
    crow: IntArray,
    ctime: FloatArray,
    rptr: IntArray,
    rcand: IntArray,
    rtime: FloatArray,
    w: FloatArray,
    chosen: BoolArray,
    allowed: BoolArray,
    p: int,
    cap: float,
) -> BoolArray:
    """Open sites one by one, each time the one that lowers the weighted time most.

    O(p · nnz).
    """
    n_cand = chosen.shape[0]
    out = chosen.copy()
    d1, _, _ = nearest_two(rptr, rcand, rtime, out, cap)
    opened = 0
    for j in range(n_cand):
        if out[j]:
            opened += 1
    while opened < p:
        best = -1
        best_gain = -1.0
        for k in range(n_cand):
            if out[k] or not allowed[k]:
                continue
            gain = 0.0
            for e in range(cptr[k], cptr[k + 1]):
                i = crow[e]
                if ctime[e] < d1[i]:
                    gain += w[i] * (d1[i] - ctime[e])
            if gain > best_gain:
                best, best_gain = k, gain
        if best < 0:
            break
        out[best] = True
        opened += 1
        for e in range(cptr[best], cptr[best + 1]):
            i = crow[e]
            if ctime[e] < d1[i]:
                d1[i] = ctime[e]
    return out


@njit(cache=True, nogil=True)
def best_median_swap(
    cptr: IntArray,
    crow: IntArray,
    ctime: FloatArray,
    w: FloatArray,
    chosen: BoolArray,
    fixed: BoolArray,
    allowed: BoolArray,
    d1: FloatArray,
    c1: IntArray,
    d2: FloatArray,
) -> tuple[int, int, float]:
    """The exchange (close j, open k) that lowers the weighted time most, and by how much
    (positive: an improvement). ``(-1, -1, 0.0)`` when none does. O(nnz + rows) per call.

    The change of an exchange is ``a[k] + loss[j] + corr[j, k]``: ``a[k]`` what opening k
    saves over every row, ``loss[j]`` what closing j costs its rows (their second nearest),
    and ``corr[j, k]`` the rows of j that k reaches before their second nearest.
    """
    n_cand = chosen.shape[0]
    n_rows = w.shape[0]
    loss = np.zeros(n_cand)
    for i in range(n_rows):
        if c1[i] >= 0:
            loss[c1[i]] += w[i] * (d2[i] - d1[i])
    least = -1
    least_loss = np.inf
    for j in range(n_cand):
        if chosen[j] and not fixed[j] and loss[j] < least_loss:
            least, least_loss = j, loss[j]
    if least < 0:
        return -1, -1, 0.0
    corr = np.zeros(n_cand)
    mark = np.zeros(n_cand, dtype=np.bool_)
    touched = np.empty(n_cand, dtype=np.int64)
    best_j, best_k, best_delta = -1, -1, 0.0
    for k in range(n_cand):
        if chosen[k] or not allowed[k]:
            continue
        a = 0.0
        n_touched = 0
        for e in range(cptr[k], cptr[k + 1]):
            i = crow[e]
            t = ctime[e]
            if t < d1[i]:
                a += w[i] * (t - d1[i])
            j = c1[i]
            if j >= 0 and t < d2[i]:
                if not mark[j]:
                    mark[j] = True
                    touched[n_touched] = j
                    n_touched += 1
                corr[j] += w[i] * ((t - d2[i]) - min(0.0, t - d1[i]))
        partner = least
        value = least_loss
        for q in range(n_touched):
            j = touched[q]
            if not fixed[j]:
                v = loss[j] + corr[j]
                if v < value:
                    partner, value = j, v
            corr[j] = 0.0
            mark[j] = False
        delta = a + value
        if delta < best_delta:
            best_j, best_k, best_delta = partner, k, delta
    return best_j, best_k, -best_delta


@njit(cache=True, nogil=True)
def cover_cut(
    rptr: IntArray, rcand: IntArray, w: FloatArray, x: FloatArray
) -> tuple[float, FloatArray, float]:
    """The coverage function ``f(x) = Σ_i w_i min(1, Σ_{j ∈ N_i} x_j)`` at ``x`` and a
    supergradient cut ``f(y) ≤ c + g · y`` for every y in [0, 1]^n, tight at ``x``.

    A row counts as covered (into ``c``) when its sum reaches 1, else it adds its weight to
    ``g`` of each of its candidates; the cut is valid whatever the split. O(nnz).
    """
    n = x.shape[0]
    g = np.zeros(n)
    c = 0.0
    f = 0.0
    for i in range(rptr.shape[0] - 1):
        s = 0.0
        for e in range(rptr[i], rptr[i + 1]):
            s += x[rcand[e]]
        if s >= 1.0 - 1e-12:
            c += w[i]
            f += w[i]
        else:
            f += w[i] * s
            for e in range(rptr[i], rptr[i + 1]):
                g[rcand[e]] += w[i]
    return c, g, f


@njit(cache=True, nogil=True)
def group_cuts(
    rptr: IntArray, rcand: IntArray, w: FloatArray, group: IntArray, n_groups: int, x: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:func:`cover_cut` per group of rows: ``(c, g, f)`` with ``c`` and ``f`` of shape
    (n_groups,) and ``g`` of shape (n_groups, n). O(nnz + n_groups · n)."""
    n = x.shape[0]
    g = np.zeros((n_groups, n))
    c = np.zeros(n_groups)
    f = np.zeros(n_groups)
    for i in range(rptr.shape[0] - 1):
        k = group[i]
        s = 0.0
        for e in range(rptr[i], rptr[i + 1]):
            s += x[rcand[e]]
        if s >= 1.0 - 1e-12:
            c[k] += w[i]
            f[k] += w[i]
        else:
            f[k] += w[i] * s
            for e in range(rptr[i], rptr[i + 1]):
                g[k, rcand[e]] += w[i]
    return c, g, f


# --- aggregation ----------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def row_hashes(
    ptr: IntArray, cand: IntArray, bits: IntArray, with_bits: bool
) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """Two independent 64-bit hashes of each row's candidate list (and, with ``with_bits``,
    of its times' bit patterns): rows with equal content hash equally."""
    n = ptr.shape[0] - 1
    h1 = np.empty(n, dtype=np.uint64)
    h2 = np.empty(n, dtype=np.uint64)
    for i in range(n):
        a = np.uint64(1469598103934665603)
        b = np.uint64(88172645463325252)
        for e in range(ptr[i], ptr[i + 1]):
            v = np.uint64(cand[e] + 1)
            a = (a ^ v) * np.uint64(1099511628211)
            b = (b ^ (v * np.uint64(0x9E3779B97F4A7C15))) * np.uint64(0xBF58476D1CE4E5B9)
            if with_bits:
                u = np.uint64(bits[e])
                a = (a ^ u) * np.uint64(1099511628211)
                b = (b ^ (u + np.uint64(0x94D049BB133111EB))) * np.uint64(0xBF58476D1CE4E5B9)
        h1[i] = a ^ np.uint64(ptr[i + 1] - ptr[i])
        h2[i] = b
    return h1, h2


@njit(cache=True, nogil=True)
def rows_equal_to_first(
    ptr: IntArray, cand: IntArray, bits: IntArray, with_bits: bool, group: IntArray,
    first: IntArray,
) -> bool:  # fmt: skip
    """Whether every row equals the first row of its group (no hash collision)."""
    for i in range(ptr.shape[0] - 1):
        j = first[group[i]]
        if j == i:
            continue
        if ptr[i + 1] - ptr[i] != ptr[j + 1] - ptr[j]:
            return False
        for k in range(ptr[i + 1] - ptr[i]):
            if cand[ptr[i] + k] != cand[ptr[j] + k]:
                return False
            if with_bits and bits[ptr[i] + k] != bits[ptr[j] + k]:
                return False
    return True


@njit(cache=True, nogil=True)
def counting_order(keys: IntArray, n_keys: int) -> IntArray:
    """The stable order that sorts ``keys`` (ints in [0, n_keys)): a counting sort, O(n + k)."""
    count = np.zeros(n_keys + 1, dtype=np.int64)
    for k in keys:
        count[k + 1] += 1
    for k in range(n_keys):
        count[k + 1] += count[k]
    out = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        out[count[k]] = i
        count[k] += 1
    return out
