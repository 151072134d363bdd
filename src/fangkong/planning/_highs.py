"""The placement models as sparse HiGHS MIPs (column-wise), warm-started from the heuristic.

See :mod:`fangkong.planning.optimize` for the formulations. Progress and cancellation go
through HiGHS's MIP interrupt callback, which the solver calls often from its own thread; the
solve itself releases the GIL.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import highspy
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix, csc_matrix, hstack, vstack

from fangkong.core.errors import InvalidInput

if TYPE_CHECKING:
    from fangkong.planning.optimize import Method, Rows, Status

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: A p-median with more pairs than this is left to the heuristic (its MIP has a column and a
#: row per pair).
MAX_MEDIAN_PAIRS = 3_000_000
#: Seconds between two progress reports from the solver.
PROGRESS_EVERY_S = 0.5


@dataclass
class Solved:
    chosen: BoolArray | None
    bound: float
    status: Status
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Model:
    matrix: csc_matrix
    cost: FloatArray
    lower: FloatArray
    upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    integer: BoolArray
    offset: float
    maximize: bool
    start: FloatArray
    # column j of the model -> candidate, for the x columns (the first len(x_of) columns)
    x_of: IntArray


def _incidence(rows: Rows, row_ids: IntArray, cand_ids: IntArray, n_cand: int) -> csc_matrix:
    """Rows ``row_ids`` (in that order) by candidates ``cand_ids``: 1 where a pair is."""
    row_pos = np.full(rows.n_rows, -1, dtype=np.int64)
    row_pos[row_ids] = np.arange(row_ids.size)
    col_pos = np.full(n_cand, -1, dtype=np.int64)
    col_pos[cand_ids] = np.arange(cand_ids.size)
    r = np.repeat(np.arange(rows.n_rows, dtype=np.int64), np.diff(rows.rptr))
    c = rows.rcand
    keep = (row_pos[r] >= 0) & (col_pos[c] >= 0)
    return coo_matrix(
        (np.ones(int(keep.sum())), (row_pos[r[keep]], col_pos[c[keep]])),
        shape=(row_ids.size, cand_ids.size),
    ).tocsc()


def _coverage_model(
    method: Method,
    rows: Rows,
    n_cand: int,
    fixed: BoolArray,
    kept: BoolArray,
    live: BoolArray,
    p: int | None,
    start: BoolArray,
) -> _Model:
    free = np.flatnonzero(kept & ~fixed)
    live_rows = np.flatnonzero(live)
    a = _incidence(rows, live_rows, free, n_cand)
    has = np.asarray(a.sum(axis=1)).ravel() > 0
    live_rows, a = live_rows[has], a[np.flatnonzero(has)]
    n_x, n_r = free.size, live_rows.size
    count = np.zeros(rows.n_rows, dtype=np.int64)
    r_all = np.repeat(np.arange(rows.n_rows, dtype=np.int64), np.diff(rows.rptr))
    np.add.at(count, r_all, start[rows.rcand].astype(np.int64))
    x0 = start[free].astype(np.float64)
    if method == "mclp":
        assert p is not None
        # y_r - Σ x_j <= 0 for each live row; Σ x_j <= p - fixed
        matrix = vstack(
            [
                hstack([-a, _identity(n_r)]),
                hstack([csc_matrix(np.ones((1, n_x))), csc_matrix((1, n_r))]),
            ]
        ).tocsc()
        cost = np.concatenate([np.zeros(n_x), rows.weight[live_rows]])
        offset = float(rows.weight[~live].sum())
        y0 = (count[live_rows] > 0).astype(np.float64)
        return _Model(
            matrix=matrix,
            cost=cost,
            lower=np.zeros(n_x + n_r),
            upper=np.ones(n_x + n_r),
            row_lower=np.full(n_r + 1, -math.inf),
            row_upper=np.concatenate([np.zeros(n_r), [float(p - int(fixed.sum()))]]),
            integer=np.concatenate([np.ones(n_x, dtype=np.bool_), np.zeros(n_r, dtype=np.bool_)]),
            offset=offset,
            maximize=True,
            start=np.concatenate([x0, y0]),
            x_of=free,
        )
    # LSCP: Σ x_j >= 1 for each live row
    return _Model(
        matrix=a.tocsc(),
        cost=np.ones(n_x),
        lower=np.zeros(n_x),
        upper=np.ones(n_x),
        row_lower=np.ones(n_r),
        row_upper=np.full(n_r, math.inf),
        integer=np.ones(n_x, dtype=np.bool_),
        offset=float(fixed.sum()),
        maximize=False,
        start=x0,
        x_of=free,
    )


def _identity(n: int) -> csc_matrix:
    return csc_matrix((np.ones(n), (np.arange(n), np.arange(n))), shape=(n, n))


def _median_model(
    rows: Rows, n_cand: int, fixed: BoolArray, p: int, cap: float, start: BoolArray
) -> _Model:
    n_pairs = rows.rcand.size
    n_r = rows.n_rows
    with_slack = math.isfinite(cap)
    pair_row = np.repeat(np.arange(n_r, dtype=np.int64), np.diff(rows.rptr))
    pair_ids = np.arange(n_pairs, dtype=np.int64)
    n_s = n_r if with_slack else 0
    # columns: x (n_cand), z (n_pairs), s (n_s); rows: assignment (n_r), link (n_pairs), card
    x_part = coo_matrix(
        (
            np.concatenate([-np.ones(n_pairs), np.ones(n_cand)]),
            (
                np.concatenate([n_r + pair_ids, np.full(n_cand, n_r + n_pairs)]),
                np.concatenate([rows.rcand, np.arange(n_cand)]),
            ),
        ),
        shape=(n_r + n_pairs + 1, n_cand),
    )
    z_part = coo_matrix(
        (
            np.concatenate([np.ones(n_pairs), np.ones(n_pairs)]),
            (np.concatenate([pair_row, n_r + pair_ids]), np.concatenate([pair_ids, pair_ids])),
        ),
        shape=(n_r + n_pairs + 1, n_pairs),
    )
    parts = [x_part, z_part]
    if with_slack:
        parts.append(
            coo_matrix(
                (np.ones(n_r), (np.arange(n_r), np.arange(n_r))), shape=(n_r + n_pairs + 1, n_r)
            )
        )
    matrix = hstack(parts).tocsc()
    cost = np.concatenate(
        [
            np.zeros(n_cand),
            rows.weight[pair_row] * rows.rtime,
            rows.weight * cap if with_slack else np.zeros(0),
        ]
    )
    lower = np.zeros(n_cand + n_pairs + n_s)
    lower[:n_cand] = fixed.astype(np.float64)
    # warm start: each row to its nearest open site
    z0 = np.zeros(n_pairs)
    s0 = np.ones(n_s)
    best = np.full(n_r, math.inf)
    best_pair = np.full(n_r, -1, dtype=np.int64)
    open_pairs = np.flatnonzero(start[rows.rcand])
    for e in open_pairs[np.argsort(rows.rtime[open_pairs], kind="stable")][::-1].tolist():
        best[pair_row[e]] = rows.rtime[e]
        best_pair[pair_row[e]] = e
    assigned = best_pair >= 0
    if with_slack:
        assigned &= best <= cap
        s0[assigned] = 0.0
    z0[best_pair[assigned]] = 1.0
    return _Model(
        matrix=matrix,
        cost=cost,
        lower=lower,
        upper=np.ones(n_cand + n_pairs + n_s),
        row_lower=np.concatenate([np.ones(n_r), np.full(n_pairs, -math.inf), [float(p)]]),
        row_upper=np.concatenate([np.ones(n_r), np.zeros(n_pairs), [float(p)]]),
        integer=np.concatenate(
            [np.ones(n_cand, dtype=np.bool_), np.zeros(n_pairs + n_s, dtype=np.bool_)]
        ),
        offset=0.0,
        maximize=False,
        start=np.concatenate([start.astype(np.float64), z0, s0]),
        x_of=np.arange(n_cand, dtype=np.int64),
    )


def set_threads(highs: Any) -> None:
    """Leave ``highs`` at HiGHS's own thread count, whatever ``FANGKONG_THREADS`` allows.

    HiGHS keeps one scheduler per process, started by the first solve of any user of highspy
    in it (spopt through PuLP, say), and refuses a later solve that asks for another count: its
    status then stays ``kNotset`` and every placement after it fails. Asking for none is served
    by any scheduler, so a solve never asks (a batch worker's HiGHS is the one library not held
    to its one core; the road engine, numba and BLAS are).
    """
    del highs


def solve_model(
    *,
    method: Method,
    rows: Rows,
    cptr: IntArray,
    crow: IntArray,
    ctime: FloatArray,
    n_candidates: int,
    fixed: BoolArray,
    kept: BoolArray,
    live: BoolArray,
    p: int | None,
    cap_s: float,
    start: BoolArray,
    time_limit_s: float,
    gap: float,
    progress: Callable[[str, dict[str, float]], None] | None,
    cancel: threading.Event | None,
) -> Solved:
    """Build the model of ``method``, warm-start it at ``start`` and solve it with HiGHS."""
    del cptr, crow, ctime  # the models are built from the rows
    started = time.perf_counter()
    if method == "p_median":
        assert p is not None
        if rows.rcand.size > MAX_MEDIAN_PAIRS:
            return Solved(
                None,
                math.nan,
                "heuristic",
                0.0,
                {"exact_skipped": f"{rows.rcand.size} pairs > {MAX_MEDIAN_PAIRS}"},
            )
        model = _median_model(rows, n_candidates, fixed, p, cap_s, start)
    else:
        model = _coverage_model(method, rows, n_candidates, fixed, kept, live, p, start)
    n_col = model.cost.size
    if n_col == 0 or model.row_lower.size == 0:
        # nothing left to choose: the fixed sites (and the start) are the answer
        return Solved(start.copy(), math.nan, "optimal", 0.0, {"model_columns": 0})
    ran = run(model, time_limit_s=time_limit_s, gap=gap, progress=progress, cancel=cancel)
    chosen: BoolArray | None = None
    if ran.values is not None:
        chosen = fixed.copy()
        chosen[model.x_of[ran.values[: model.x_of.size] > 0.5]] = True
    return Solved(chosen, ran.bound, ran.status, time.perf_counter() - started, ran.stats)


@dataclass
class Ran:
    """What one HiGHS run gave: the column values (None without a solution), the dual bound
    (with the model's offset), the status and figures."""

    values: FloatArray | None
    bound: float
    status: Status
    stats: dict[str, Any]


def run(
    model: _Model,
    *,
    time_limit_s: float,
    gap: float,
    progress: Callable[[str, dict[str, float]], None] | None,
    cancel: threading.Event | None,
    elapsed_before_s: float = 0.0,
) -> Ran:
    """Solve ``model`` with HiGHS from its warm start; see :func:`solve_model`."""
    started = time.perf_counter()
    n_col = model.cost.size
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    set_threads(highs)
    highs.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    highs.setOptionValue("mip_rel_gap", float(gap))
    # highspy 1.16 with a user solution (setSolution) and presolve on answered some instances
    # with an objective its column values do not have (5 of 60 random set-covering models; an
    # optimum of 111 reported as 110 with columns summing to 112): warm starts run without
    # presolve, which answered every one correctly.
    highs.setOptionValue("presolve", "off")
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = int(model.row_lower.size)
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.lower
    lp.col_upper_ = model.upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.offset_ = model.offset
    lp.sense_ = highspy.ObjSense.kMaximize if model.maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = model.matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = model.matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = model.matrix.data.astype(np.float64)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in model.integer.tolist()
    ]
    status = highs.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise InvalidInput(key="error.planning.model_unbuilt", field="method")
    warm = highspy.HighsSolution()
    warm.col_value = model.start.tolist()
    warm.value_valid = True
    highs.setSolution(warm)
    last = [0.0]

    def interrupt(event: Any) -> None:
        if cancel is not None and cancel.is_set():
            event.interrupt()
        now = time.perf_counter()
        if progress is not None and now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            out = event.data_out
            progress(
                "solve",
                {
                    "objective": float(out.mip_primal_bound),
                    "bound": float(out.mip_dual_bound),
                    "gap": float(out.mip_gap),
                    "elapsed_s": elapsed_before_s + now - started,
                },
            )

    highs.cbMipInterrupt += interrupt
    highs.run()
    info = highs.getInfo()
    model_status = highs.getModelStatus()
    stats = {
        "model_columns": n_col,
        "model_rows": int(model.row_lower.size),
        "model_nonzeros": int(model.matrix.nnz),
        "mip_nodes": int(info.mip_node_count),
    }
    values = np.asarray(highs.getSolution().col_value, dtype=np.float64)
    has_solution = values.size == n_col and info.primal_solution_status == 2
    if model_status == highspy.HighsModelStatus.kOptimal:
        run_status: Status = "optimal"
    elif model_status == highspy.HighsModelStatus.kInterrupt:
        run_status = "cancelled"
    elif model_status in (
        highspy.HighsModelStatus.kTimeLimit,
        highspy.HighsModelStatus.kSolutionLimit,
        highspy.HighsModelStatus.kIterationLimit,
    ):
        run_status = "time_limit"
    else:
        raise InvalidInput(
            key="error.planning.solver_status", params={"status": model_status.name}, field="method"
        )
    bound = float(info.mip_dual_bound)
    return Ran(
        values if has_solution else None,
        bound if math.isfinite(bound) else math.nan,
        run_status,
        stats,
    )
