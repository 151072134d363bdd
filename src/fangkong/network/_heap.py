"""The binary min-heap the numba kernels share: keys and ids in two arrays, lazy deletion
(stale entries are skipped by the caller when popped)."""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Int32Array = NDArray[np.int32]


@njit(cache=True, nogil=True, inline="always")
def heap_push(hk: FloatArray, hv: Int32Array, size: int, key: float, val: int) -> int:
    """Insert (key, val) into the heap of ``size`` items; returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        i = parent
    hk[i] = key
    hv[i] = val
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def heap_pop(hk: FloatArray, hv: Int32Array, size: int) -> int:
    """Remove the top of the heap (read it first); returns the new size."""
    size -= 1
    key = hk[size]
    val = hv[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and hk[child + 1] < hk[child]:
            child += 1
        if hk[child] >= key:
            break
        hk[i] = hk[child]
        hv[i] = hv[child]
        i = child
    if size > 0:
        hk[i] = key
        hv[i] = val
    return size


# --- an indexed 4-ary heap with decrease-key -------------------------------------------------
# For bounded searches (isochrones): each node sits in the heap at most once (``pos[v]`` is its
# slot), so the heap stays as small as the search frontier, and a 4-ary layout halves the
# levels of a pop.


@njit(cache=True, nogil=True, inline="always")
def dheap_sift_up(hk: FloatArray, hv: Int32Array, pos: Int32Array, i: int, key: float,
                  val: int) -> None:
    """Place (key, val) at slot ``i`` or above: a push at ``i = size`` or a decrease-key."""
    while i > 0:
        parent = (i - 1) >> 2
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        pos[hv[i]] = i
        i = parent
    hk[i] = key
    hv[i] = val
    pos[val] = i


@njit(cache=True, nogil=True, inline="always")
def dheap_pop(hk: FloatArray, hv: Int32Array, pos: Int32Array, size: int) -> int:
    """Remove the top (read it first); returns the new size."""
    size -= 1
    if size == 0:
        return 0
    key = hk[size]
    val = hv[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        best = first
        best_key = hk[first]
        last = min(first + 4, size)
        for c in range(first + 1, last):
            if hk[c] < best_key:
                best_key = hk[c]
                best = c
        if best_key >= key:
            break
        hk[i] = best_key
        hv[i] = hv[best]
        pos[hv[i]] = i
        i = best
    hk[i] = key
    hv[i] = val
    pos[val] = i
    return size
