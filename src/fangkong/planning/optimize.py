"""Location models on a sparse candidate x demand travel-time matrix, solved exactly with HiGHS.

Three models (Church & ReVelle 1974; Toregas et al. 1971; Hakimi 1964; the formulations of
``spopt.locate``, which the tests use as the oracle):

- **MCLP** (maximal covering): open ``p`` sites to maximise the demand weight within ``ring_s``
  seconds of an open site. ``max Σ w_i y_i`` s.t. ``y_i ≤ Σ_{j ∈ N_i} x_j``, ``Σ x_j = p``,
  ``x`` binary, ``0 ≤ y ≤ 1`` (``y`` need not be integer: at an optimum it is 1 exactly where
  an open site covers the row).
- **LSCP** (location set covering): the fewest sites so that every demand point lies within
  ``ring_s`` of one. ``min Σ x_j`` s.t. ``Σ_{j ∈ N_i} x_j ≥ 1``.
- **p-median**: open ``p`` sites to minimise the weighted travel time to the nearest open
  site. The matrix is sparse (pairs within ``cap`` seconds); a demand point that no open site
  reaches within it costs ``cap``: ``min Σ w_i t_ij z_ij + Σ w_i cap s_i`` s.t.
  ``Σ_j z_ij + s_i = 1``, ``z_ij ≤ x_j``, ``Σ x_j = p``. With every pair within ``cap`` this is
  the classic p-median.

Existing sites can be **fixed** (always open, counted in ``p``). Before solving, demand points
with identical rows (the same covering candidates; for the p-median the same candidates at the
same times) are merged and their weights summed, rows that a fixed site already covers leave the
coverage models (their weight is a constant), and for the coverage models a candidate whose
covered rows are a subset of another's is dropped (it can always be exchanged for that one).
Demand that no candidate reaches is never dropped silently: it is returned (``unreachable``),
and LSCP, which cannot cover it, refuses the instance naming it.

The heuristic (greedy construction, then best-improvement exchanges until none improves) gives
an answer at once; it also seeds HiGHS, which proves optimality within ``gap`` (relative, on
the objective) or stops at ``time_limit_s`` with the gap it proved.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix

from fangkong.core.errors import InvalidInput
from fangkong.planning import _kernels

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

Method = Literal["mclp", "lscp", "p_median"]
METHODS: tuple[Method, ...] = ("mclp", "lscp", "p_median")
Status = Literal["optimal", "time_limit", "cancelled", "heuristic"]

#: The relative gap at which a solve stops as optimal (0.01 %).
DEFAULT_GAP = 1e-4
DEFAULT_TIME_LIMIT_S = 60.0
#: The exchange phase of the heuristic stops after this long (s) with the best so far.
HEURISTIC_TIME_LIMIT_S = 5.0
#: Candidate dominance is checked when its pairwise product costs at most this many steps.
DOMINANCE_WORK = 20_000_000

#: ``progress(stage, detail)``: stage ``"heuristic"`` or ``"solve"``; detail carries the
#: figures so far (``objective``, ``bound``, ``gap``, ``elapsed_s``).
Progress = Callable[[str, dict[str, float]], None]


@dataclass(frozen=True)
class Instance:
    """Candidates, demand and the sparse travel times between them.

    Parameters
    ----------
    n_candidates, n_demand : int
    weight : array of float, shape (n_demand,)
        Demand weights (≥ 0).
    source, target, time_s : arrays, shape (nnz,)
        The pairs within the matrix's cutoff: from candidate ``source[e]`` to demand point
        ``target[e]`` takes ``time_s[e]`` seconds (what
        :meth:`fangkong.network.engine.Engine.many_to_many` returns).
    fixed : array of bool, shape (n_candidates,), optional
        Candidates that are open in every solution (existing sites kept).
    """

    n_candidates: int
    n_demand: int
    weight: FloatArray
    source: IntArray
    target: IntArray
    time_s: FloatArray
    fixed: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))

    @classmethod
    def build(
        cls,
        *,
        n_candidates: int,
        weight: ArrayLike,
        source: ArrayLike,
        target: ArrayLike,
        time_s: ArrayLike,
        fixed: ArrayLike | None = None,
    ) -> Instance:
        w = np.asarray(weight, dtype=np.float64)
        if w.ndim != 1 or (w.size and (not np.isfinite(w).all() or (w < 0).any())):
            raise InvalidInput(key="error.planning.weights_invalid", field="weight")
        src = np.asarray(source, dtype=np.int64)
        tgt = np.asarray(target, dtype=np.int64)
        t = np.asarray(time_s, dtype=np.float64)
        if not (src.shape == tgt.shape == t.shape):
            raise InvalidInput(key="error.planning.pairs_lengths", field="pairs")
        if src.size and (
            src.min() < 0 or src.max() >= n_candidates or tgt.min() < 0 or tgt.max() >= w.size
        ):
            raise InvalidInput(key="error.planning.pairs_range", field="pairs")
        fix = (
            np.zeros(n_candidates, dtype=np.bool_)
            if fixed is None
            else np.asarray(fixed, dtype=np.bool_)
        )
        if fix.shape != (n_candidates,):
            raise InvalidInput(key="error.planning.fixed_length", field="fixed")
        return cls(int(n_candidates), int(w.size), w, src, tgt, t, fix)

    @classmethod
    def from_dense(
        cls, times: ArrayLike, weight: ArrayLike, *, fixed: ArrayLike | None = None
    ) -> Instance:
        """An instance from a dense (candidates, demand) matrix; ``inf`` is no pair."""
        matrix = np.asarray(times, dtype=np.float64)
        src, tgt = np.nonzero(np.isfinite(matrix))
        return cls.build(
            n_candidates=matrix.shape[0],
            weight=weight,
            source=src,
            target=tgt,
            time_s=matrix[src, tgt],
            fixed=fixed,
        )


@dataclass(frozen=True)
class Rows:
    """Demand aggregated into rows: ``members[row_of == r]`` are row r's demand points."""

    row_of: IntArray  # demand point -> row, -1 for points no candidate reaches
    weight: FloatArray
    rptr: IntArray
    rcand: IntArray
    rtime: FloatArray

    @property
    def n_rows(self) -> int:
        return int(self.weight.shape[0])

    def by_candidate(self, n_candidates: int) -> tuple[IntArray, IntArray, FloatArray]:
        """The same pairs in CSR form by candidate: (cptr, crow, ctime)."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.rptr))
        order = _kernels.counting_order(self.rcand, n_candidates)  # rows ascend within each
        cptr = np.zeros(n_candidates + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rcand, minlength=n_candidates), out=cptr[1:])
        return cptr, rows[order], self.rtime[order]


def aggregate(instance: Instance, *, cutoff_s: float, with_times: bool) -> Rows:
    """Merge demand points with identical rows (within ``cutoff_s``); see the module docstring.

    Rows with no pair are left out (``row_of == -1``). Rows are grouped by a 64-bit hash of their
    content (numba) and every member is then compared with its group's first row, so the
    grouping is exact (a collision, never seen, falls back to grouping by the bytes).
    O(nnz log nnz).
    """
    keep = instance.time_s <= cutoff_s
    src, tgt, t = instance.source[keep], instance.target[keep], instance.time_s[keep]
    if src.size < 2 or bool((src[1:] >= src[:-1]).all()):
        # grouped by source already (the engine's order): a stable counting sort by target
        order = _kernels.counting_order(tgt, instance.n_demand)
    else:
        order = np.argsort(tgt * np.int64(instance.n_candidates) + src)
    src, tgt, t = src[order], tgt[order], t[order]
    n = instance.n_demand
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tgt, minlength=n), out=ptr[1:])
    reached = np.flatnonzero(np.diff(ptr) > 0)
    sub_ptr = np.zeros(reached.size + 1, dtype=np.int64)
    np.cumsum(np.diff(ptr)[reached], out=sub_ptr[1:])
    bits = t.view(np.int64)
    h1, _ = _kernels.row_hashes(sub_ptr, src, bits, with_times)
    _, first_of, group = np.unique(h1, return_index=True, return_inverse=True)
    group = group.ravel().astype(np.int64)
    # number the groups by their first member, in demand order (deterministic)
    rank = np.argsort(first_of, kind="stable")
    renumber = np.empty_like(rank)
    renumber[rank] = np.arange(rank.size)
    group = renumber[group]
    first = np.asarray(first_of, dtype=np.int64)[rank]
    if not _kernels.rows_equal_to_first(sub_ptr, src, bits, with_times, group, first):
        return _aggregate_by_bytes(instance, src, t, ptr, with_times)
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[reached] = group
    sizes = sub_ptr[first + 1] - sub_ptr[first]
    rptr = np.zeros(first.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=rptr[1:])
    starts = np.repeat(sub_ptr[first] - rptr[:-1], sizes) + np.arange(int(rptr[-1]))
    weight = np.bincount(group, weights=instance.weight[reached], minlength=first.size)
    return Rows(row_of, weight.astype(np.float64), rptr, src[starts], t[starts])


def _aggregate_by_bytes(
    instance: Instance, src: IntArray, t: FloatArray, ptr: IntArray, with_times: bool
) -> Rows:
    """:func:`aggregate` keyed by each row's bytes (the reference; slower)."""
    n = instance.n_demand
    cand_bytes = src.tobytes()
    time_bytes = t.tobytes() if with_times else b""
    index: dict[bytes, int] = {}
    row_of = np.full(n, -1, dtype=np.int64)
    firsts: list[int] = []
    ptr_list = ptr.tolist()
    for i in range(n):
        a, b = ptr_list[i], ptr_list[i + 1]
        if a == b:
            continue
        key = cand_bytes[8 * a : 8 * b]
        if with_times:
            key += time_bytes[8 * a : 8 * b]
        r = index.setdefault(key, len(index))
        if r == len(firsts):
            firsts.append(i)
        row_of[i] = r
    first = np.array(firsts, dtype=np.int64)
    sizes = ptr[first + 1] - ptr[first]
    rptr = np.zeros(first.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=rptr[1:])
    take = np.repeat(ptr[first] - rptr[:-1], sizes) + np.arange(int(rptr[-1]))
    reached = row_of >= 0
    weight = np.bincount(row_of[reached], weights=instance.weight[reached], minlength=first.size)
    return Rows(row_of, weight.astype(np.float64), rptr, src[take], t[take])


def _non_dominated(
    rows: Rows, n_candidates: int, keep_always: BoolArray, live: BoolArray
) -> BoolArray:
    """Candidates not dominated on the ``live`` rows (their live rows a subset of another
    candidate's; of identical sets the lowest index stays; a candidate with no live row is
    dropped). Every ``keep_always`` candidate stays."""
    out = np.ones(n_candidates, dtype=np.bool_)
    sizes = np.diff(rows.rptr)
    if int((sizes[live].astype(np.float64) ** 2).sum()) > DOMINANCE_WORK or not live.any():
        return out
    row_ids = np.repeat(np.arange(rows.n_rows), sizes)
    a = csr_matrix(
        (np.ones(rows.rcand.size), (row_ids, rows.rcand)), shape=(rows.n_rows, n_candidates)
    )[np.flatnonzero(live)]
    g = (a.T @ a).tocoo()
    size = np.asarray(a.sum(axis=0)).ravel()
    j, k, shared = g.row, g.col, g.data
    sj, sk = size[j], size[k]
    dominated = (j != k) & (shared == sj) & ((sk > sj) | ((sk == sj) & (k < j)))
    out[np.unique(j[dominated])] = False
    out[size == 0] = False
    out |= keep_always
    return out


@dataclass
class Solution:
    """A placement: the open sites and what they achieve.

    ``objective`` is the model's (covered weight for MCLP, number of sites for LSCP, total
    weighted time in s for the p-median); ``bound`` the best bound proved (equal to it when
    optimal), ``gap`` their relative difference. ``heuristic_objective`` is the greedy + swap
    answer's, ``unreachable`` the demand points no candidate reaches within the ring (or the
    p-median's cap).
    """

    method: Method
    chosen: IntArray
    objective: float
    bound: float
    gap: float
    status: Status
    heuristic_objective: float
    heuristic_s: float
    solve_s: float
    unreachable: IntArray
    rows: int
    candidates_used: int
    stats: dict[str, Any] = field(default_factory=dict)


class Cancelled(Exception):
    """The caller asked the run to stop (raised before any answer exists)."""


def _check_p(instance: Instance, p: int) -> int:
    n_fixed = int(instance.fixed.sum())
    if p < 1:
        raise InvalidInput(key="error.planning.p_positive", field="p")
    if p > instance.n_candidates:
        raise InvalidInput(
            key="error.planning.p_candidates",
            params={"p": p, "candidates": instance.n_candidates},
            field="p",
        )
    if p < n_fixed:
        raise InvalidInput(
            key="error.planning.p_fixed", params={"p": p, "fixed": n_fixed}, field="p"
        )
    return n_fixed


def _pad(chosen: BoolArray, p: int, order: IntArray) -> BoolArray:
    """Open further candidates (in ``order``) until ``p`` are open."""
    out = chosen.copy()
    missing = p - int(out.sum())
    if missing > 0:
        extra = [j for j in order.tolist() if not out[j]][:missing]
        out[extra] = True
    return out


def covered_weight(instance: Instance, chosen: ArrayLike, ring_s: float) -> float:
    """Demand weight within ``ring_s`` of an open site (brute force over the pairs)."""
    open_ = np.zeros(instance.n_candidates, dtype=np.bool_)
    open_[np.asarray(chosen, dtype=np.int64)] = True
    hit = open_[instance.source] & (instance.time_s <= ring_s)
    covered = np.zeros(instance.n_demand, dtype=np.bool_)
    covered[instance.target[hit]] = True
    return float(instance.weight[covered].sum())


def median_cost(instance: Instance, chosen: ArrayLike, cap: float) -> float:
    """Weighted time to the nearest open site, each capped at ``cap`` (brute force)."""
    open_ = np.zeros(instance.n_candidates, dtype=np.bool_)
    open_[np.asarray(chosen, dtype=np.int64)] = True
    best = np.full(instance.n_demand, cap)
    hit = open_[instance.source]
    np.minimum.at(best, instance.target[hit], np.minimum(instance.time_s[hit], cap))
    return float((instance.weight * best).sum())


class _Clock:
    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel

    def stop(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


def _swap_cover(
    rows: Rows,
    cptr: IntArray,
    crow: IntArray,
    chosen: BoolArray,
    fixed: BoolArray,
    allowed: BoolArray,
    clock: _Clock,
    budget_s: float,
) -> tuple[BoolArray, int]:
    count = _kernels.cover_counts(cptr, crow, chosen, rows.n_rows)
    tol = 1e-12 * max(1.0, float(rows.weight.sum()))
    started = time.perf_counter()
    swaps = 0
    while not clock.stop() and time.perf_counter() - started < budget_s:
        j, k, gain = _kernels.best_cover_swap(
            cptr, crow, rows.weight, chosen, fixed, allowed, count
        )
        if j < 0 or gain <= tol:
            break
        _kernels.apply_cover_swap(cptr, crow, chosen, count, j, k)
        swaps += 1
    return chosen, swaps


def _swap_median(
    rows: Rows,
    cptr: IntArray,
    crow: IntArray,
    ctime: FloatArray,
    chosen: BoolArray,
    fixed: BoolArray,
    allowed: BoolArray,
    cap: float,
    clock: _Clock,
    budget_s: float,
) -> tuple[BoolArray, int]:
    tol = 1e-12 * max(1.0, float(rows.weight.sum()) * max(cap, 1.0))
    started = time.perf_counter()
    swaps = 0
    while not clock.stop() and time.perf_counter() - started < budget_s:
        d1, c1, d2 = _kernels.nearest_two(rows.rptr, rows.rcand, rows.rtime, chosen, cap)
        j, k, gain = _kernels.best_median_swap(
            cptr, crow, ctime, rows.weight, chosen, fixed, allowed, d1, c1, d2
        )
        if j < 0 or gain <= tol:
            break
        chosen[j], chosen[k] = False, True
        swaps += 1
    return chosen, swaps


def solve(
    instance: Instance,
    *,
    method: Method,
    p: int | None = None,
    ring_s: float | None = None,
    cap_s: float = math.inf,
    exact: bool = True,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    gap: float = DEFAULT_GAP,
    heuristic_limit_s: float = HEURISTIC_TIME_LIMIT_S,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    demand_names: Callable[[IntArray], list[str]] | None = None,
) -> Solution:
    """Solve one placement model; see the module docstring.

    Parameters
    ----------
    instance : Instance
    method : ``"mclp"``, ``"lscp"`` or ``"p_median"``
    p : int
        Sites to open (fixed ones included); not used by LSCP.
    ring_s : float
        The coverage ring in seconds (MCLP, LSCP).
    cap_s : float
        The p-median's cost of demand no open site reaches within the matrix (s).
    exact : bool
        False: the greedy + swap answer only.
    time_limit_s, gap : float
        HiGHS stops at the time limit or when the relative gap is at most ``gap``.
    progress : callable, optional
        ``progress(stage, detail)`` as the run goes (from the solver's thread).
    cancel : threading.Event, optional
        Set to stop: the heuristic's answer (or the best the solver found) is returned with
        status ``cancelled``; before any answer exists, :class:`Cancelled` is raised.
    demand_names : callable, optional
        Names of demand points by index, for LSCP's refusal of unreachable demand.

    Returns
    -------
    Solution

    Notes
    -----
    Aggregation O(nnz log nnz); greedy O(nnz + p · c) (MCLP, LSCP) or O(p · nnz) (p-median);
    each exchange step O(nnz); the MIP's size is the aggregated rows by the candidates kept.
    """
    if method not in METHODS:
        raise InvalidInput(
            key="error.planning.method_unknown",
            params={"method": method, "methods": ", ".join(METHODS)},
            field="method",
        )
    clock = _Clock(cancel)
    # the instant answer's time counts from here: aggregation included
    began = time.perf_counter()
    n_cand = instance.n_candidates
    fixed = instance.fixed
    if method in ("mclp", "lscp"):
        if ring_s is None or not ring_s > 0:
            raise InvalidInput(key="error.planning.ring_needed", field="ring_s")
        rows = aggregate(instance, cutoff_s=ring_s, with_times=False)
    else:
        rows = aggregate(instance, cutoff_s=cap_s, with_times=True)
    unreachable = np.flatnonzero(rows.row_of < 0)
    if method == "lscp" and unreachable.size:
        names = demand_names(unreachable[:10]) if demand_names else unreachable[:10].tolist()
        raise InvalidInput(
            key="error.planning.lscp_unreachable",
            params={
                "count": int(unreachable.size),
                "ring_s": ring_s,
                "names": ", ".join(map(str, names)) + (" …" if unreachable.size > 10 else ""),
            },
            field="demand",
            unreachable=[str(n) for n in names],
            count=int(unreachable.size),
        )
    if method != "lscp":
        assert p is not None
        _check_p(instance, p)
    cptr, crow, ctime = rows.by_candidate(n_cand)
    allowed = np.ones(n_cand, dtype=np.bool_)
    model_cap = cap_s
    # Rows a fixed site covers take no part in the coverage models' choices.
    live = _kernels.cover_counts(cptr, crow, fixed, rows.n_rows) == 0
    if method == "mclp":
        assert p is not None
        kept = _non_dominated(rows, n_cand, fixed, live)
        greedy = _kernels.greedy_cover(
            cptr, crow, rows.rptr, rows.rcand, rows.weight, fixed.copy(), kept, p
        )
        chosen, swaps = _swap_cover(rows, cptr, crow, greedy, fixed, kept, clock, heuristic_limit_s)
        order = np.argsort(-np.diff(cptr), kind="stable")
        chosen = _pad(chosen, p, order)
        h_obj = covered_weight(instance, np.flatnonzero(chosen), float(ring_s or 0))
    elif method == "lscp":
        kept = _non_dominated(rows, n_cand, fixed, live)
        chosen = _kernels.greedy_set_cover(cptr, crow, rows.rptr, rows.rcand, fixed.copy(), kept)
        swaps = 0
        h_obj = float(chosen.sum())
    else:
        assert p is not None
        kept = allowed
        # The heuristic's arithmetic needs a finite cost for a row no open site reaches:
        # with no cap, one above any time in the matrix (the MIP then assigns every row).
        if not math.isfinite(cap_s):
            cap_s = 1.0 + 2.0 * float(rows.rtime.max(initial=0.0))
            model_cap = math.inf
        else:
            model_cap = cap_s
        greedy = _kernels.greedy_median(
            cptr, crow, ctime, rows.rptr, rows.rcand, rows.rtime, rows.weight,
            fixed.copy(), kept, p, cap_s,
        )  # fmt: skip
        chosen, swaps = _swap_median(
            rows, cptr, crow, ctime, greedy, fixed, kept, cap_s, clock, heuristic_limit_s
        )
        h_obj = _median_rows(rows, chosen, cap_s)
    heuristic_s = time.perf_counter() - began
    stats: dict[str, Any] = {
        "demand": instance.n_demand,
        "pairs": int(rows.rcand.size),
        "swaps": swaps,
        "candidates": n_cand,
    }
    if progress is not None:
        progress("heuristic", {"objective": h_obj, "elapsed_s": heuristic_s})
    solution = Solution(
        method=method,
        chosen=np.flatnonzero(chosen),
        objective=h_obj,
        bound=math.nan,
        gap=math.nan,
        status="heuristic",
        heuristic_objective=h_obj,
        heuristic_s=heuristic_s,
        solve_s=0.0,
        unreachable=unreachable,
        rows=rows.n_rows,
        candidates_used=int(kept.sum()),
        stats=stats,
    )
    if not exact:
        return solution
    if clock.stop():
        solution.status = "cancelled"
        return solution
    from fangkong.planning import _benders, _highs

    if method == "mclp":
        assert p is not None
        solved = _benders.solve_mclp(
            rptr=rows.rptr,
            rcand=rows.rcand,
            weight=rows.weight,
            n_candidates=n_cand,
            fixed=fixed,
            kept=kept,
            live=live,
            p=p,
            start=chosen,
            time_limit_s=time_limit_s,
            gap=gap,
            progress=progress,
            cancel=cancel,
        )
    else:
        solved = _highs.solve_model(
            method=method,
            rows=rows,
            cptr=cptr,
            crow=crow,
            ctime=ctime,
            n_candidates=n_cand,
            fixed=fixed,
            kept=kept,
            live=live,
            p=p,
            cap_s=model_cap,
            start=chosen,
            time_limit_s=time_limit_s,
            gap=gap,
            progress=progress,
            cancel=cancel,
        )
    solution.solve_s = solved.seconds
    stats.update(solved.stats)
    if solved.chosen is not None:
        picked = solved.chosen
        if method != "lscp":
            assert p is not None
            order = np.argsort(-np.diff(cptr), kind="stable")
            picked = _pad(picked, p, order)
        if method == "mclp":
            value = covered_weight(instance, np.flatnonzero(picked), float(ring_s or 0))
        elif method == "lscp":
            value = float(picked.sum())
        else:
            value = _median_rows(rows, picked, cap_s)
        better = value > h_obj if method == "mclp" else value < h_obj
        if better or solved.status == "optimal":
            solution.chosen = np.flatnonzero(picked)
            solution.objective = value
    solution.bound = solved.bound
    solution.status = solved.status
    if solved.status == "optimal" and not math.isfinite(solved.bound):
        solution.bound = solution.objective
    solution.gap = relative_gap(solution.objective, solution.bound)
    if solution.status == "optimal" and solution.gap > gap:
        solution.status = "time_limit"
    return solution


def relative_gap(objective: float, bound: float) -> float:
    """``|bound - objective| / max(|objective|, 1e-9)``; NaN when the bound is unknown."""
    if not math.isfinite(bound) or not math.isfinite(objective):
        return math.nan
    return abs(bound - objective) / max(abs(objective), 1e-9)


def _median_rows(rows: Rows, chosen: BoolArray, cap: float) -> float:
    d1, _, _ = _kernels.nearest_two(rows.rptr, rows.rcand, rows.rtime, chosen, cap)
    return float((rows.weight * d1).sum())
