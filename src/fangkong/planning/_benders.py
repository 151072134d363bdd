"""MCLP at county scale: the LP bound by Benders cuts, reduced-cost fixing, a small exact MIP.

The compact MCLP model has a column and a row per demand row; at 2,000 candidates and 50,000
demand points its LP relaxation alone took HiGHS's simplex over a minute. Here it is solved in
three steps, each exact:

1. **The LP bound by cutting planes** (Benders decomposition of the coverage variables, as in
   Cordeau, Furini & Ljubić 2019). With ``f(x) = Σ_i w_i min(1, Σ_{j ∈ N_i} x_j)`` (concave), the
   LP relaxation is ``max f(x)`` over ``Σ x ≤ P, 0 ≤ x ≤ 1``; a supergradient of ``f`` at any
   point is a valid cut ``θ ≤ c + g · x`` (:func:`._kernels.cover_cut`). A master LP over the
   candidates only (``max θ`` under the cuts) is solved again after each cut, the cuts taken at
   a point between the master's answer and a stability centre (in-out stabilisation, Ben-Ameur
   & Neto 2007) until the master's bound meets the best ``f`` seen.
2. **A certified bound and fixing.** Any convex combination ``π`` of the cuts gives
   ``f(x) ≤ c̄ + ḡ · x``, so ``OPT ≤ L = c̄ + (sum of the P largest ḡ_j)`` (the master's duals
   give the best ``π``; ``L`` is recomputed in plain arithmetic, so it holds whatever the
   solver's tolerances). A candidate ``j`` whose bound with ``x_j = 1`` (``c̄ + ḡ_j`` + the
   ``P - 1`` largest others) is below the incumbent's value is closed in every optimal solution;
   one whose bound with ``x_j = 0`` is below it is open in every optimal solution.
3. **The reduced compact MIP** over the candidates left, warm-started at the incumbent. The
   bound reported is the smaller of ``L`` and that MIP's bound (the fixing loses no optimum).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix

from fangkong.planning import _highs, _kernels
from fangkong.planning._highs import Solved, _Model

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Share of the time limit the cutting-plane phase may take.
LP_SHARE = 0.5
#: The cutting planes stop when the master's bound is within this of the best f seen.
LP_TOLERANCE = 1e-7
#: The in-out step: query at ``ALPHA · x_master + (1 - ALPHA) · centre``.
ALPHA = 0.3
MAX_ROUNDS = 2_000


def _local_rows(
    rptr: IntArray, rcand: IntArray, weight: FloatArray, rows: IntArray, col_pos: IntArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """The rows ``rows`` restricted to the candidates with ``col_pos >= 0`` (renumbered);
    rows left with no candidate are dropped."""
    sizes = rptr[rows + 1] - rptr[rows]
    take = (
        np.concatenate([np.arange(rptr[i], rptr[i + 1]) for i in rows.tolist()])
        if rows.size
        else np.zeros(0, dtype=np.int64)
    )
    row_id = np.repeat(np.arange(rows.size, dtype=np.int64), sizes)
    cand = col_pos[rcand[take]]
    keep = cand >= 0
    row_id, cand = row_id[keep], cand[keep]
    counts = np.bincount(row_id, minlength=rows.size)
    has = counts > 0
    renumber = np.cumsum(has) - 1
    new_ptr = np.zeros(int(has.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[has], out=new_ptr[1:])
    return new_ptr, cand[np.argsort(renumber[row_id], kind="stable")], weight[rows][has]


class _Master:
    """The master LP over n candidates and one θ_k per group of rows: ``max Σ θ_k`` s.t.
    ``Σ x ≤ P``, ``θ_k ≤ W_k`` (the group's weight) and the cuts ``θ_k ≤ c + g · x``."""

    def __init__(self, n: int, budget: int, group_weight: FloatArray) -> None:
        self.n = n
        self.k = group_weight.size
        self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("output_flag", False)
        _highs.set_threads(self.highs)  # a batch worker's one core
        # re-solved after each round of cuts from the previous basis: no presolve
        self.highs.setOptionValue("presolve", "off")
        inf = highspy.kHighsInf
        lower = np.concatenate([np.zeros(n), np.full(self.k, -inf)])
        upper = np.concatenate([np.ones(n), group_weight])
        self.highs.addVars(n + self.k, lower, upper)
        self.highs.changeColsCost(
            self.k, np.arange(n, n + self.k, dtype=np.int32), np.ones(self.k, dtype=np.float64)
        )
        self.highs.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.highs.addRow(
            -inf, float(budget), n, np.arange(n, dtype=np.int32), np.ones(n, dtype=np.float64)
        )
        self.group_weight = group_weight
        self.cut_group: list[int] = []
        self.cut_c: list[float] = []
        self.cut_g: list[FloatArray] = []

    def add(self, groups: IntArray, c: FloatArray, g: FloatArray) -> None:
        """Add the cuts of ``groups`` (``c[k]``, ``g[k]`` for each k in groups)."""
        if groups.size == 0:
            return
        starts = [0]
        index: list[IntArray] = []
        value: list[FloatArray] = []
        for k in groups.tolist():
            nz = np.flatnonzero(g[k] > 0)
            index += [nz, np.array([self.n + k])]
            value += [-g[k][nz], np.ones(1)]
            starts.append(starts[-1] + nz.size + 1)
            self.cut_group.append(k)
            self.cut_c.append(float(c[k]))
            self.cut_g.append(g[k].copy())
        idx = np.concatenate(index).astype(np.int32)
        self.highs.addRows(
            groups.size,
            np.full(groups.size, -highspy.kHighsInf),
            c[groups].astype(np.float64),
            idx.size,
            np.array(starts[:-1], dtype=np.int32),
            idx,
            np.concatenate(value).astype(np.float64),
        )

    def solve(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(x, θ, cut duals)`` at the master's optimum."""
        self.highs.run()
        solution = self.highs.getSolution()
        values = np.asarray(solution.col_value, dtype=np.float64)
        duals = np.abs(np.asarray(solution.row_dual, dtype=np.float64)[1:])
        return np.clip(values[: self.n], 0.0, 1.0), values[self.n :], duals

    def certified(self, duals: FloatArray, budget: int) -> tuple[float, float, FloatArray]:
        """``(L, c̄, ḡ)``: per group a convex combination of its cuts and of ``θ_k ≤ W_k``
        (weights from the duals, scaled to sum to at most 1), summed over the groups;
        ``L = c̄ +`` the ``budget`` largest ``ḡ_j`` bounds every solution's coverage."""
        group = np.asarray(self.cut_group, dtype=np.int64)
        pi = duals[: group.size]
        pi = np.where(np.isfinite(pi), pi, 0.0)
        total = np.bincount(group, weights=pi, minlength=self.k)
        scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-300), 1.0)
        pi = pi * scale[group]
        rest = np.clip(1.0 - np.bincount(group, weights=pi, minlength=self.k), 0.0, 1.0)
        c_bar = float(np.dot(pi, np.asarray(self.cut_c)) + np.dot(rest, self.group_weight))
        g_bar = np.asarray(np.stack(self.cut_g).T @ pi, dtype=np.float64)
        top = np.sort(g_bar)[::-1][:budget]
        return c_bar + float(top.sum()), c_bar, g_bar


#: Groups of rows, each with its θ in the master (multi-cut Benders).
MAX_GROUPS = 256


def _groups(lptr: IntArray, lcand: IntArray, n: int) -> tuple[IntArray, int]:
    """Rows grouped by their dominant candidate (the one reaching most rows), folded into at
    most :data:`MAX_GROUPS` groups: rows of one group tend to lie near each other."""
    n_rows = lptr.size - 1
    if n_rows == 0:
        return np.zeros(0, dtype=np.int64), 1
    size = np.bincount(lcand, minlength=n).astype(np.int64)
    key = size[lcand] * (n + 1) + lcand
    dominant = np.maximum.reduceat(key, lptr[:-1]) % (n + 1)
    _, label = np.unique(dominant, return_inverse=True)
    k = int(min(MAX_GROUPS, int(label.max()) + 1))
    return (label % k).astype(np.int64), k


def _swap_local(
    lptr: IntArray, lcand: IntArray, lw: FloatArray, start: FloatArray, budget_s: float
) -> FloatArray:
    """The exchange heuristic on the local rows from ``start`` (0/1)."""
    n = start.size
    rows = np.repeat(np.arange(lw.size, dtype=np.int64), np.diff(lptr))
    order = np.lexsort((rows, lcand))
    cptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(lcand, minlength=n), out=cptr[1:])
    crow = rows[order]
    chosen = start > 0.5
    none = np.zeros(n, dtype=np.bool_)
    every = np.ones(n, dtype=np.bool_)
    count = _kernels.cover_counts(cptr, crow, chosen, lw.size)
    tol = 1e-12 * max(1.0, float(lw.sum()))
    began = time.perf_counter()
    while time.perf_counter() - began < budget_s:
        j, k, gain = _kernels.best_cover_swap(cptr, crow, lw, chosen, none, every, count)
        if j < 0 or gain <= tol:
            break
        _kernels.apply_cover_swap(cptr, crow, chosen, count, j, k)
    return chosen.astype(np.float64)


def solve_mclp(
    *,
    rptr: IntArray,
    rcand: IntArray,
    weight: FloatArray,
    n_candidates: int,
    fixed: BoolArray,
    kept: BoolArray,
    live: BoolArray,
    p: int,
    start: BoolArray,
    time_limit_s: float,
    gap: float,
    progress: Callable[[str, dict[str, float]], None] | None,
    cancel: threading.Event | None,
) -> Solved:
    """Solve the MCLP exactly (see the module docstring); ``start`` is the incumbent."""
    started = time.perf_counter()
    free = np.flatnonzero(kept & ~fixed)
    budget = p - int(fixed.sum())
    col_pos = np.full(n_candidates, -1, dtype=np.int64)
    col_pos[free] = np.arange(free.size)
    offset = float(weight[~live].sum())
    lptr, lcand, lw = _local_rows(rptr, rcand, weight, np.flatnonzero(live), col_pos)
    n = free.size
    stats: dict[str, Any] = {"free_candidates": n, "lp_rows": int(lw.size)}
    incumbent = start[free].astype(np.float64)

    def f(x: FloatArray) -> float:
        return float(_kernels.cover_cut(lptr, lcand, lw, x)[2])

    def elapsed() -> float:
        return time.perf_counter() - started

    best = f(incumbent)
    if budget <= 0 or n == 0 or lw.size == 0 or budget >= n:
        chosen = fixed.copy()
        if budget >= n:
            chosen[free] = True
        else:
            chosen |= start
        return Solved(chosen, offset + float(lw.sum()) if budget >= n else math.nan,
                      "optimal", elapsed(), stats)  # fmt: skip
    group, n_groups = _groups(lptr, lcand, n)
    group_weight = np.bincount(group, weights=lw, minlength=n_groups).astype(np.float64)
    master = _Master(n, budget, group_weight)
    everyone = np.arange(n_groups, dtype=np.int64)
    uniform = np.full(n, budget / n)
    for point in (incumbent, uniform):
        c, g, _ = _kernels.group_cuts(lptr, lcand, lw, group, n_groups, point)
        master.add(everyone, c, g)
    centre = 0.5 * incumbent + 0.5 * uniform
    lp_best = best
    upper = math.inf
    rounds = 0
    lp_limit = LP_SHARE * time_limit_s
    while rounds < MAX_ROUNDS:
        rounds += 1
        x_bar, theta, _ = master.solve()
        upper = min(upper, float(theta.sum()))
        if upper - lp_best <= LP_TOLERANCE * max(abs(upper), 1.0):
            break
        if elapsed() > lp_limit or (cancel is not None and cancel.is_set()):
            break
        query = ALPHA * x_bar + (1.0 - ALPHA) * centre
        c, g, value = _kernels.group_cuts(lptr, lcand, lw, group, n_groups, query)
        lp_best = max(lp_best, float(value.sum()))
        tol = LP_TOLERANCE * max(abs(upper), 1.0) / n_groups
        cut_off = theta - (c + g @ x_bar) > tol
        c2, g2, value2 = _kernels.group_cuts(lptr, lcand, lw, group, n_groups, x_bar)
        lp_best = max(lp_best, float(value2.sum()))
        # where the stabilised cut misses the master's point, the cut at the point itself
        plain = ~cut_off & (theta - value2 > tol)
        c[plain], g[plain] = c2[plain], g2[plain]
        added = np.flatnonzero(cut_off | plain)
        if added.size == 0:
            break
        master.add(added, c, g)
        centre = 0.5 * centre + 0.5 * x_bar
        if progress is not None:
            progress(
                "bound",
                {"objective": offset + best, "bound": offset + upper, "elapsed_s": elapsed()},
            )
    x_bar, theta, duals = master.solve()
    bound, c_bar, g_bar = master.certified(duals, budget)
    stats.update({"cut_rounds": rounds, "cuts": len(master.cut_c), "groups": n_groups,
                  "lp_bound": offset + bound, "lp_s": round(elapsed(), 3),
                  # how integral the LP's answer is: where few candidates are fractional the
                  # fixing and the MIP are quick; spread thin (a wide ring), the gap stays
                  "lp_fractional": int(((x_bar > 1e-6) & (x_bar < 1.0 - 1e-6)).sum()),
                  "lp_at_one": int((x_bar >= 1.0 - 1e-6).sum())})  # fmt: skip
    # The LP's answer rounded (its P largest) and improved by exchanges may beat the incumbent.
    rounded = np.zeros(n)
    rounded[np.argsort(-x_bar, kind="stable")[:budget]] = 1.0
    rounded = _swap_local(lptr, lcand, lw, rounded, budget_s=max(1.0, 0.05 * time_limit_s))
    if (found := f(rounded)) > best:
        best, incumbent = found, rounded
    stats["incumbent_after_lp"] = offset + best
    chosen = fixed.copy()
    chosen[free[incumbent > 0.5]] = True
    if bound - best <= gap * max(abs(offset + best), 1e-9):
        stats["reduced_candidates"] = 0
        return Solved(chosen, offset + bound, "optimal", elapsed(), stats)
    # Fixing by the certified bound.
    order = np.argsort(-g_bar, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    sorted_g = g_bar[order]
    top_p = float(sorted_g[:budget].sum())
    top_p1 = float(sorted_g[: budget - 1].sum())
    next_g = float(sorted_g[budget]) if budget < n else 0.0
    with_j = np.where(rank < budget - 1, c_bar + top_p, c_bar + g_bar + top_p1)
    without_j = np.where(rank < budget, c_bar + top_p - g_bar + next_g, c_bar + top_p)
    margin = 1e-9 * max(abs(best), 1.0)
    closed = with_j < best - margin
    opened = (without_j < best - margin) & ~closed
    stats.update({"closed_by_bound": int(closed.sum()), "opened_by_bound": int(opened.sum()),
                  # a candidate is fixed only where opening (closing) it lowers the bound by
                  # more than the gap: the largest such drop against the gap
                  "largest_bound_drop": float(c_bar + top_p - min(with_j.min(), without_j.min())),
                  "lp_gap_weight": float(bound - best)})  # fmt: skip
    remaining = time_limit_s - elapsed()
    if cancel is not None and cancel.is_set():
        return Solved(chosen, offset + bound, "cancelled", elapsed(), stats)
    if remaining <= 0:
        return Solved(chosen, offset + bound, "time_limit", elapsed(), stats)
    left = int((~closed & ~opened).sum())
    stats["reduced_candidates"] = left
    if left >= MASTER_MIP_FROM:
        stats["exact"] = "benders_mip"
        pick_x, upper, status = _master_loop(
            master, lptr, lcand, lw, group, n_groups, closed, opened, incumbent, best,
            remaining, gap, progress, cancel, elapsed, offset, stats,
        )  # fmt: skip
        if (found := f(pick_x)) >= best:
            best = found
            chosen = fixed.copy()
            chosen[free[pick_x > 0.5]] = True
        return Solved(chosen, offset + min(bound, upper), status, elapsed(), stats)
    stats["exact"] = "compact_mip"
    model, x_of = _reduced_model(lptr, lcand, lw, closed, opened, budget, incumbent)
    if model is None:
        answer = opened | (incumbent > 0.5)
        chosen = fixed.copy()
        chosen[free[answer]] = True
        return Solved(chosen, offset + best, "optimal", elapsed(), stats)
    model.offset += offset
    ran = _highs.run(
        model,
        time_limit_s=remaining,
        gap=gap,
        progress=progress,
        cancel=cancel,
        elapsed_before_s=elapsed(),
    )
    stats.update(ran.stats)
    if ran.values is not None:
        pick = opened.copy()
        pick[x_of[ran.values[: x_of.size] > 0.5]] = True
        if (found := f(pick.astype(np.float64))) >= best:
            best = found
            chosen = fixed.copy()
            chosen[free[pick]] = True
    final = offset + bound
    if math.isfinite(ran.bound):
        final = min(final, ran.bound)
    return Solved(chosen, final, ran.status, elapsed(), stats)


#: From this many candidates left after fixing, the exact step is the Benders master as a MIP
#: (cuts added at its integer answers until its bound meets them); below, the compact MIP.
MASTER_MIP_FROM = 100


def _master_loop(
    master: _Master,
    lptr: IntArray,
    lcand: IntArray,
    lw: FloatArray,
    group: IntArray,
    n_groups: int,
    closed: BoolArray,
    opened: BoolArray,
    incumbent: FloatArray,
    best: float,
    time_left_s: float,
    gap: float,
    progress: Callable[[str, dict[str, float]], None] | None,
    cancel: threading.Event | None,
    elapsed: Callable[[], float],
    offset: float,
    stats: dict[str, Any],
) -> tuple[FloatArray, float, Any]:
    """The master with x integer, closed and opened candidates fixed, solved again after each
    round of cuts at its integer answer: its dual bound is valid throughout (the cuts are), and
    it stops when that bound meets the best answer within ``gap``. Returns the best x, the bound
    (without offset) and the status."""
    n = master.n
    h = master.highs
    started = elapsed()
    ids = np.arange(n, dtype=np.int32)
    h.changeColsBounds(
        n, ids, opened.astype(np.float64), np.where(closed, 0.0, 1.0).astype(np.float64)
    )
    h.changeColsIntegrality(n, ids, np.full(n, highspy.HighsVarType.kInteger))
    h.setOptionValue("mip_rel_gap", float(gap))
    h.setOptionValue("presolve", "off")  # warm-started: see _highs.run
    upper = math.inf
    rounds = 0
    status = "time_limit"
    last = [0.0]

    def interrupt(event: Any) -> None:
        if cancel is not None and cancel.is_set():
            event.interrupt()
        now = elapsed()
        if progress is not None and now - last[0] >= 0.5:
            last[0] = now
            out = event.data_out
            figures = {
                "objective": offset + best,
                "bound": offset + float(out.mip_dual_bound),
                "gap": float(out.mip_gap),
                "elapsed_s": now,
            }
            progress("solve", figures)

    h.cbMipInterrupt += interrupt
    while True:
        left = time_left_s - (elapsed() - started)
        if left <= 0.05:
            break
        if cancel is not None and cancel.is_set():
            status = "cancelled"
            break
        rounds += 1
        _, _, f_inc = _kernels.group_cuts(lptr, lcand, lw, group, n_groups, incumbent)
        start = highspy.HighsSolution()
        start.col_value = np.concatenate([incumbent, f_inc]).tolist()
        start.value_valid = True
        h.setSolution(start)
        h.setOptionValue("time_limit", float(left))
        h.run()
        info = h.getInfo()
        bound = float(info.mip_dual_bound)
        if math.isfinite(bound):
            upper = min(upper, bound)
        values = np.asarray(h.getSolution().col_value, dtype=np.float64)
        if values.size < n + n_groups or info.primal_solution_status != 2:
            break
        x: FloatArray = np.round(np.clip(values[:n], 0.0, 1.0)).astype(np.float64)
        theta = values[n:]
        c, g, value = _kernels.group_cuts(lptr, lcand, lw, group, n_groups, x)
        if float(value.sum()) > best:
            best, incumbent = float(value.sum()), x
        if upper - best <= gap * max(abs(offset + best), 1e-9):
            status = "optimal"
            break
        model_status = h.getModelStatus()
        if model_status == highspy.HighsModelStatus.kInterrupt:
            status = "cancelled"
            break
        violated = np.flatnonzero(theta - value > 1e-9 * max(1.0, abs(best)))
        if violated.size == 0:
            # the master's answer is exact and it did not prove optimality: out of time
            break
        master.add(violated, c, g)
    stats.update({"master_rounds": rounds, "master_cuts": len(master.cut_c)})
    return incumbent, upper, status


def _reduced_model(
    lptr: IntArray,
    lcand: IntArray,
    lw: FloatArray,
    closed: BoolArray,
    opened: BoolArray,
    budget: int,
    incumbent: FloatArray,
) -> tuple[_Model | None, IntArray]:
    """The compact MCLP over the candidates neither closed nor opened by the bound."""
    n = closed.size
    x_of = np.flatnonzero(~closed & ~opened)
    slots = budget - int(opened.sum())
    row_id = np.repeat(np.arange(lw.size, dtype=np.int64), np.diff(lptr))
    covered = np.zeros(lw.size, dtype=np.bool_)
    covered[row_id[opened[lcand]]] = True
    constant = float(lw[covered].sum())
    if slots <= 0 or x_of.size == 0:
        return None, x_of
    pos = np.full(n, -1, dtype=np.int64)
    pos[x_of] = np.arange(x_of.size)
    pair = (pos[lcand] >= 0) & ~covered[row_id]
    rows_used = np.unique(row_id[pair])
    row_pos = np.full(lw.size, -1, dtype=np.int64)
    row_pos[rows_used] = np.arange(rows_used.size)
    n_x, n_r = x_of.size, rows_used.size
    entries_r = np.concatenate([row_pos[row_id[pair]], np.arange(n_r), np.full(n_x, n_r)])
    entries_c = np.concatenate([pos[lcand[pair]], n_x + np.arange(n_r), np.arange(n_x)])
    values = np.concatenate([-np.ones(int(pair.sum())), np.ones(n_r), np.ones(n_x)])
    matrix = coo_matrix((values, (entries_r, entries_c)), shape=(n_r + 1, n_x + n_r)).tocsc()
    x0 = incumbent[x_of]
    if x0.sum() > slots:  # the incumbent used a candidate the bound opened: keep it feasible
        x0 = np.zeros(n_x)
    cover0 = np.zeros(n_r)
    hit = pair & (incumbent[lcand] > 0.5)
    cover0[np.unique(row_pos[row_id[hit]])] = 1.0
    return (
        _Model(
            matrix=matrix,
            cost=np.concatenate([np.zeros(n_x), lw[rows_used]]),
            lower=np.zeros(n_x + n_r),
            upper=np.ones(n_x + n_r),
            row_lower=np.full(n_r + 1, -math.inf),
            row_upper=np.concatenate([np.zeros(n_r), [float(slots)]]),
            integer=np.concatenate([np.ones(n_x, dtype=np.bool_), np.zeros(n_r, dtype=np.bool_)]),
            offset=constant,
            maximize=True,
            start=np.concatenate([x0, cover0]),
            x_of=x_of,
        ),
        x_of,
    )
