"""Checks shared by the network engine's tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Times must equal the reference's to this many seconds.
TOL_S = 1e-6


def check_k_nearest(
    idx: NDArray[np.int64], times: NDArray[np.float64], ref: NDArray[np.float64], k: int
) -> None:
    """Exact k nearest: the k smallest reachable times of ``ref`` (ties in any order)."""
    reachable = np.sort(ref[np.isfinite(ref)])
    assert idx.shape[0] == times.shape[0] == min(k, reachable.shape[0])
    assert np.unique(idx).shape[0] == idx.shape[0]
    assert np.all(np.diff(times) >= 0)
    if idx.shape[0]:
        assert np.abs(times - reachable[: idx.shape[0]]).max() <= TOL_S
        assert np.abs(ref[idx] - times).max() <= TOL_S
