"""How many threads one computation may use: every library of a process held to the same count.

A server process, or a command run alone, lets a computation use every core: the road
engine's many-to-many queries run on as many threads as there are CPUs, HiGHS picks its own
count, BLAS and OpenMP theirs. A worker of a planning batch is one of several processes on
the host, each given one core: there a computation that spreads over every core competes with
the other workers' (on 2 cores, 1 worker's tasks used both and 2 workers' tasks ran slower
each: issue 23). :func:`pin` holds every library of the process to ``threads``:

- ``FANGKONG_THREADS`` (read by :func:`configured`): the road engine's query threads
  (:class:`fangkong.network.engine.Engine`) and the HiGHS solver's ``threads`` option
  (:mod:`fangkong.planning._highs`, :mod:`fangkong.planning._benders`);
- numba's thread count (``numba.set_num_threads``; ``NUMBA_NUM_THREADS`` for processes
  started later);
- BLAS and OpenMP pools loaded in the process (threadpoolctl, when installed), and
  ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` for pools loaded later.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ENV", "THREAD_ENV", "configured", "pin"]

#: The environment variable naming the threads a computation may use (unset: every CPU).
ENV = "FANGKONG_THREADS"
#: What :func:`pin` sets for libraries that read the environment when they start.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def configured() -> int | None:
    """The threads ``FANGKONG_THREADS`` allows, or None when unset or not a positive integer
    (then each library takes its own default)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


def pin(threads: int = 1) -> dict[str, int]:
    """Hold every library of this process to ``threads`` threads (see the module's text).

    Returns what it set: the environment's count, numba's, and the BLAS/OpenMP pools'
    (``blas_pools``: how many pools threadpoolctl limited). Idempotent; cheap enough to
    call at the start of every task.
    """
    threads = max(1, int(threads))
    os.environ[ENV] = str(threads)
    for name in THREAD_ENV:
        if name != "NUMBA_NUM_THREADS" or "numba" not in sys.modules:
            os.environ[name] = str(threads)
    done = {"threads": threads}
    numba = sys.modules.get("numba")
    if numba is not None:
        most = int(numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(min(threads, most))
        done["numba"] = int(numba.get_num_threads())
    try:
        from threadpoolctl import (  # type: ignore[import-untyped]
            threadpool_info,
            threadpool_limits,
        )
    except ImportError:  # not installed: the environment variables above stand
        return done
    pools = threadpool_info()
    if any(p.get("num_threads") != threads for p in pools):
        threadpool_limits(limits=threads)
    done["blas_pools"] = len(pools)
    return done
