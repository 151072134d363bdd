"""The placement models against spopt (MCLP, LSCP, p-median objectives) and brute force."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fangkong.core.errors import InvalidInput
from fangkong.planning import _kernels
from fangkong.planning.optimize import (
    Instance,
    aggregate,
    covered_weight,
    median_cost,
    solve,
)


def _spopt() -> tuple[object, object, object, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pulp = pytest.importorskip("pulp")
        locate = pytest.importorskip("spopt.locate")
    return pulp, locate.MCLP, locate.LSCP, locate.PMedian


def _instance(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_cand, n_dem = int(rng.integers(4, 30)), int(rng.integers(10, 120))
    sites = rng.uniform(0, 1000, (n_cand, 2))
    demand = rng.uniform(0, 1000, (n_dem, 2))
    cost = np.hypot(*(sites[:, None, :] - demand[None, :, :]).transpose(2, 0, 1)).round()
    return cost, rng.integers(1, 10, n_dem).astype(float)


def _quiet_solve(problem: object, pulp: object) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solved = problem.solve(pulp.HiGHS(msg=False))  # type: ignore[attr-defined]
    return float(solved.problem.objective.value())


SEEDS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@SEEDS
@given(seed=st.integers(0, 10_000), ring=st.sampled_from([150.0, 250.0, 400.0]))
def test_mclp_equals_spopt(seed: int, ring: float) -> None:
    pulp, mclp, _, _ = _spopt()
    cost, weight = _instance(seed)
    p = 1 + seed % min(cost.shape[0], 6)
    ours = solve(Instance.from_dense(cost, weight), method="mclp", p=p, ring_s=ring)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = mclp.from_cost_matrix(  # type: ignore[attr-defined]
            cost.T, weight, service_radius=ring, p_facilities=p
        )
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_quiet_solve(theirs, pulp))
    assert ours.chosen.size == p
    assert covered_weight(Instance.from_dense(cost, weight), ours.chosen, ring) == ours.objective
    assert ours.heuristic_objective <= ours.objective + 1e-9


@SEEDS
@given(seed=st.integers(0, 10_000))
def test_lscp_equals_spopt(seed: int) -> None:
    pulp, _, lscp, _ = _spopt()
    cost, weight = _instance(seed)
    ring = float(cost.min(axis=0).max()) + 1.0  # every demand point reachable
    ours = solve(Instance.from_dense(cost, weight), method="lscp", ring_s=ring)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lscp.from_cost_matrix(cost.T, service_radius=ring)  # type: ignore[attr-defined]
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_quiet_solve(theirs, pulp))
    covered = (cost[ours.chosen] <= ring).any(axis=0)
    assert covered.all()


@SEEDS
@given(seed=st.integers(0, 10_000))
def test_p_median_equals_spopt(seed: int) -> None:
    pulp, _, _, pmedian = _spopt()
    cost, weight = _instance(seed)
    p = 1 + seed % min(cost.shape[0], 5)
    ours = solve(Instance.from_dense(cost, weight), method="p_median", p=p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pmedian.from_cost_matrix(  # type: ignore[attr-defined]
            cost.T, weight, p_facilities=p
        )
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_quiet_solve(theirs, pulp), rel=1e-9)
    assert median_cost(Instance.from_dense(cost, weight), ours.chosen, math.inf) == pytest.approx(
        ours.objective
    )


def _brute(cost: np.ndarray, weight: np.ndarray, p: int, fixed: list[int], ring: float) -> float:
    others = [j for j in range(cost.shape[0]) if j not in fixed]
    best = 0.0
    for extra in itertools.combinations(others, p - len(fixed)):
        chosen = [*fixed, *extra]
        best = max(best, float(weight[(cost[chosen] <= ring).any(axis=0)].sum()))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_fixed_sites_stay_open_and_the_rest_is_optimal(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.uniform(0, 600, (9, 40)).round()
    cost[rng.random(cost.shape) < 0.3] = np.inf
    weight = rng.integers(1, 5, 40).astype(float)
    fixed = np.zeros(9, dtype=bool)
    fixed[[1, 4]] = True
    ours = solve(Instance.from_dense(cost, weight, fixed=fixed), method="mclp", p=4, ring_s=250)
    assert {1, 4} <= set(ours.chosen.tolist())
    assert ours.objective == _brute(cost, weight, 4, [1, 4], 250)


def test_lscp_names_demand_no_candidate_reaches() -> None:
    cost = np.array([[10.0, 500.0, 20.0], [15.0, 900.0, np.inf]])
    instance = Instance.from_dense(cost, np.ones(3))
    with pytest.raises(InvalidInput) as raised:
        solve(instance, method="lscp", ring_s=100, demand_names=lambda idx: [f"A{i}" for i in idx])
    assert "A1" in raised.value.message
    assert raised.value.detail["unreachable"] == ["A1"]


def test_mclp_reports_unreachable_demand() -> None:
    cost = np.array([[10.0, 500.0, 20.0], [15.0, 900.0, 30.0]])
    answer = solve(Instance.from_dense(cost, np.ones(3)), method="mclp", p=1, ring_s=100)
    assert answer.unreachable.tolist() == [1]
    assert answer.objective == 2.0


def test_aggregation_merges_identical_coverage_sets() -> None:
    cost = np.array([[10.0, 10.0, 50.0, 500.0], [10.0, 20.0, 500.0, 500.0]])
    rows = aggregate(Instance.from_dense(cost, [1, 2, 3, 4]), cutoff_s=100, with_times=False)
    assert rows.n_rows == 2
    assert rows.row_of.tolist() == [0, 0, 1, -1]
    assert rows.weight.tolist() == [3.0, 3.0]
    timed = aggregate(Instance.from_dense(cost, [1, 2, 3, 4]), cutoff_s=100, with_times=True)
    assert timed.n_rows == 3


@pytest.mark.parametrize("seed", range(40))
def test_exchange_kernels_find_the_best_swap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cand, n_dem = int(rng.integers(3, 12)), int(rng.integers(5, 30))
    cost = rng.uniform(0, 100, (n_cand, n_dem))
    cost[rng.random(cost.shape) < 0.4] = np.inf
    instance = Instance.from_dense(cost, rng.integers(1, 5, n_dem).astype(float))
    chosen = np.zeros(n_cand, dtype=bool)
    chosen[rng.choice(n_cand, int(rng.integers(1, n_cand)), replace=False)] = True
    none, every = np.zeros(n_cand, dtype=bool), np.ones(n_cand, dtype=bool)

    def swaps() -> list[np.ndarray]:
        out = []
        for a in np.flatnonzero(chosen):
            for b in np.flatnonzero(~chosen):
                c = chosen.copy()
                c[a], c[b] = False, True
                out.append(np.flatnonzero(c))
        return out

    cap = 150.0
    rows = aggregate(instance, cutoff_s=cap, with_times=True)
    cptr, crow, ctime = rows.by_candidate(n_cand)
    d1, c1, d2 = _kernels.nearest_two(rows.rptr, rows.rcand, rows.rtime, chosen, cap)
    _, _, gain = _kernels.best_median_swap(
        cptr, crow, ctime, rows.weight, chosen, none, every, d1, c1, d2
    )
    base = median_cost(instance, np.flatnonzero(chosen), cap)
    assert gain == pytest.approx(
        max([0.0, *(base - median_cost(instance, s, cap) for s in swaps())]), abs=1e-9
    )
    rows = aggregate(instance, cutoff_s=50, with_times=False)
    cptr, crow, _ = rows.by_candidate(n_cand)
    count = _kernels.cover_counts(cptr, crow, chosen, rows.n_rows)
    _, _, gain = _kernels.best_cover_swap(cptr, crow, rows.weight, chosen, none, every, count)
    base = covered_weight(instance, np.flatnonzero(chosen), 50)
    assert gain == pytest.approx(
        max([0.0, *(covered_weight(instance, s, 50) - base for s in swaps())]), abs=1e-9
    )


def test_heuristic_only_answers_at_once() -> None:
    cost, weight = _instance(3)
    answer = solve(Instance.from_dense(cost, weight), method="mclp", p=3, ring_s=250, exact=False)
    assert answer.status == "heuristic"
    assert answer.chosen.size == 3
    assert math.isnan(answer.bound)


def test_bad_p_is_refused_naming_the_field() -> None:
    cost, weight = _instance(4)
    instance = Instance.from_dense(cost, weight)
    for p in (0, cost.shape[0] + 1):
        with pytest.raises(InvalidInput) as raised:
            solve(instance, method="mclp", p=p, ring_s=100)
        assert raised.value.field == "p"


@pytest.mark.parametrize("master_from", [10_000, 1], ids=["compact", "benders_master"])
@pytest.mark.parametrize("seed", [3, 4, 7])
def test_mclp_through_bound_fixing_and_the_reduced_mip_equals_spopt(
    seed: int, master_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 x 600 at a short ring: the LP bound leaves a gap, so candidates are closed by the
    # certified bound and the rest solved as a MIP (the path large instances take): the compact
    # model, or the Benders master with integer x and cuts at its answers.
    from fangkong.planning import _benders

    monkeypatch.setattr(_benders, "MASTER_MIP_FROM", master_from)
    pulp, mclp, _, _ = _spopt()
    rng = np.random.default_rng(seed)
    sites, demand = rng.uniform(0, 1000, (60, 2)), rng.uniform(0, 1000, (600, 2))
    cost = np.hypot(*(sites[:, None, :] - demand[None, :, :]).transpose(2, 0, 1)).round()
    weight = rng.integers(1, 10, 600).astype(float)
    ours = solve(Instance.from_dense(cost, weight), method="mclp", p=6, ring_s=180)
    assert ours.stats["closed_by_bound"] > 0 and ours.stats["reduced_candidates"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = mclp.from_cost_matrix(  # type: ignore[attr-defined]
            cost.T, weight, service_radius=180, p_facilities=6
        )
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_quiet_solve(theirs, pulp))
    assert ours.bound >= ours.objective - 1e-6


@pytest.mark.parametrize("seed", [11, 23, 30, 42, 48])
def test_lscp_warm_started_is_answered_consistently(seed: int) -> None:
    # Instances on which highspy 1.16, warm-started with presolve on, reported an objective its
    # column values did not have: the answer must be spopt's and its sites must cover all.
    pulp, _, lscp, _ = _spopt()
    rng = np.random.default_rng(seed)
    n_cand, n_dem = int(rng.integers(40, 200)), int(rng.integers(500, 3000))
    sites, demand = rng.uniform(0, 1000, (n_cand, 2)), rng.uniform(0, 1000, (n_dem, 2))
    cost = np.hypot(*(sites[:, None, :] - demand[None, :, :]).transpose(2, 0, 1))
    ring = float(cost.min(axis=0).max()) + 1 + rng.uniform(0, 60)
    ours = solve(Instance.from_dense(cost, np.ones(n_dem)), method="lscp", ring_s=ring)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lscp.from_cost_matrix(cost.T, service_radius=ring)  # type: ignore[attr-defined]
    assert ours.status == "optimal"
    assert ours.objective == pytest.approx(_quiet_solve(theirs, pulp))
    assert ours.chosen.size == ours.objective
    assert (cost[ours.chosen] <= ring).any(axis=0).all()
