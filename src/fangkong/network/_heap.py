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
