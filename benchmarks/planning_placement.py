"""Placement (MCLP and LSCP) side by side with spopt, end to end: matrix + model + solve.

The instance: a synthetic county road network (``fangkong.network.synthetic.grid_city``,
250,000 nodes, ~50 x 50 km of 100 m blocks with local streets, collectors and arterials),
demand points at road nodes — 65 % in 40 towns (Gaussian, ~1.2 km, town sizes Pareto) and the
rest spread over the county — weighted 1-5 (households), and candidate sites at distinct random
road nodes. Both sides answer the same question on the same nodes, so their objectives must be
equal:

- **fangkong**: the sparse many-to-many travel times cut at the ring
  (:meth:`fangkong.network.engine.Engine.many_to_many`), then
  :func:`fangkong.planning.optimize.solve` (aggregation, greedy + swap, exact with HiGHS;
  time limit 60 s, gap 0.01 %).
- **spopt** (``spopt.locate.MCLP`` / ``LSCP`` ``.from_cost_matrix``, solved by HiGHS through
  PuLP): the dense cost matrix from ``scipy.sparse.csgraph.dijkstra`` limited at the ring (the
  usual way to feed spopt network times), the model, the solve. Each size runs in a process of
  its own with a 600 s limit (``--quick``: 120 s); a size it cannot finish is reported so.

Sizes (candidates x demand): 200 x 5,000, 500 x 20,000, 2,000 x 50,000; p in {10, 25, 50};
rings 180 s and 300 s. LSCP covers the demand some candidate reaches (the rest is reported).

Goals (issue 17): optimal (gap <= 0.01 %) at 2,000 x 50,000, p = 50 within 60 s; >= 50x faster
than spopt end to end at its largest feasible size; greedy + swap within 1 % of the optimum in
<= 1 s.

    python benchmarks/planning_placement.py            # everything (long: spopt up to 10 min a run)
    python benchmarks/planning_placement.py --quick    # under 5 minutes
    python benchmarks/planning_placement.py --smoke    # tiny; answers checked against spopt
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from fangkong.network.engine import Engine
from fangkong.network.graph import RoadGraph
from fangkong.network.synthetic import grid_city
from fangkong.planning.optimize import Instance, solve

SIZES = [(200, 5_000), (500, 20_000), (2_000, 50_000)]
PS = [10, 25, 50]
RINGS = [180.0, 300.0]
NETWORK_NODES = 250_000
TIME_LIMIT_S = 60.0


@dataclass
class County:
    graph: RoadGraph
    engine: Engine


def county(n_nodes: int) -> County:
    graph = grid_city(n_nodes, seed=1)
    return County(graph, Engine(graph, hierarchy=None))


def points(graph: RoadGraph, n_cand: int, n_dem: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """Candidate nodes, demand nodes and demand weights (see the module docstring)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    n_town = int(0.65 * n_dem)
    centres = rng.integers(0, graph.n_nodes, 40)
    size = rng.pareto(1.5, 40) + 1
    which = rng.choice(40, n_town, p=size / size.sum())
    x = graph.lon[centres][which] + rng.normal(0, 0.012, n_town)
    y = graph.lat[centres][which] + rng.normal(0, 0.010, n_town)
    _, town = cKDTree(np.column_stack([graph.lon, graph.lat])).query(np.column_stack([x, y]))
    demand = np.concatenate([town, rng.integers(0, graph.n_nodes, n_dem - n_town)])
    candidates = rng.choice(graph.n_nodes, n_cand, replace=False)
    return candidates, demand, rng.integers(1, 6, n_dem).astype(np.float64)


def ours(c: County, cands: Any, demand: Any, weight: Any, method: str, p: int | None,
         ring: float) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    pairs = c.engine.many_to_many(cands, demand, cutoff_s=ring)
    matrix_s = time.perf_counter() - started
    instance = Instance.build(
        n_candidates=len(cands),
        weight=weight,
        source=pairs.source,
        target=pairs.target,
        time_s=pairs.time_s,
    )
    if method == "lscp":
        reached = np.zeros(len(demand), dtype=bool)
        reached[pairs.target] = True
        keep = np.flatnonzero(reached)
        remap = np.full(len(demand), -1)
        remap[keep] = np.arange(keep.size)
        instance = Instance.build(
            n_candidates=len(cands),
            weight=weight[keep],
            source=pairs.source,
            target=remap[pairs.target],
            time_s=pairs.time_s,
        )
    solution = solve(instance, method=method, p=p, ring_s=ring, time_limit_s=TIME_LIMIT_S)  # type: ignore[arg-type]
    total = time.perf_counter() - started
    return {
        "matrix_s": matrix_s,
        "total_s": total,
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "status": solution.status,
        "heuristic": solution.heuristic_objective,
        "heuristic_s": solution.heuristic_s,
        "rows": solution.rows,
        "pairs": len(pairs),
        "demand": instance.n_demand,
    }


def _spopt_run(args: tuple[Any, ...], out: Any) -> None:
    try:
        _spopt_body(args, out)
    except BaseException as exc:  # reported to the parent, which prints it
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def _spopt_body(args: tuple[Any, ...], out: Any) -> None:
    n_nodes, n_cand, n_dem, method, p, ring, demand_keep = args
    warnings.simplefilter("ignore")
    import pulp
    from scipy.sparse.csgraph import dijkstra
    from spopt.locate import LSCP, MCLP

    c = county(n_nodes)
    cands, demand, weight = points(c.graph, n_cand, n_dem)
    if demand_keep is not None:
        demand, weight = demand[demand_keep], weight[demand_keep]
    started = time.perf_counter()
    g = c.graph
    from scipy.sparse import csr_matrix

    adjacency = csr_matrix((g.time_s, (g.tail, g.head)), shape=(g.n_nodes, g.n_nodes))
    cost = np.empty((len(demand), len(cands)))
    for lo in range(0, len(cands), 100):
        block = dijkstra(adjacency, indices=cands[lo : lo + 100], limit=ring)
        cost[:, lo : lo + 100] = block[:, demand].T
    cost[~np.isfinite(cost)] = 10 * ring
    matrix_s = time.perf_counter() - started
    solver = pulp.HiGHS(msg=False, timeLimit=600)
    if method == "mclp":
        model = MCLP.from_cost_matrix(cost, weight, service_radius=ring, p_facilities=p)
    else:
        model = LSCP.from_cost_matrix(cost, service_radius=ring)
    model = model.solve(solver)
    out.put(
        {
            "matrix_s": matrix_s,
            "total_s": time.perf_counter() - started,
            "objective": float(model.problem.objective.value()),
            "status": pulp.LpStatus[model.problem.status],
        }
    )


def spopt(n_nodes: int, n_cand: int, n_dem: int, method: str, p: int | None, ring: float,
          limit_s: float, demand_keep: Any = None) -> dict[str, Any] | None:  # fmt: skip
    """spopt end to end in a process of its own; None when it does not finish in time."""
    # spawn, not fork: the parent holds numba's and HiGHS's threads
    ctx = mp.get_context("spawn")
    queue: Any = ctx.Queue()
    proc = ctx.Process(
        target=_spopt_run, args=((n_nodes, n_cand, n_dem, method, p, ring, demand_keep), queue)
    )
    proc.start()
    deadline = time.monotonic() + limit_s
    answer: dict[str, Any] | None = None
    while time.monotonic() < deadline and answer is None:
        try:
            answer = queue.get(timeout=1.0)
        except Exception:  # queue.Empty: not yet
            if not proc.is_alive():
                break
    if proc.is_alive():
        proc.kill()
    proc.join()
    if answer is not None and "error" in answer:
        print(f"spopt failed: {answer['error']}", file=sys.stderr)
        return None
    return answer


def fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a subset, under 5 minutes")
    mode.add_argument("--smoke", action="store_true", help="tiny, answers checked vs spopt")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--model", choices=["mclp", "lscp"], help="only this model")
    parser.add_argument("--size", help="only this size, e.g. 2000x50000")
    parser.add_argument("--no-spopt", action="store_true", help="fangkong's side only")
    args = parser.parse_args()
    global TIME_LIMIT_S
    if args.smoke:
        n_nodes, plan, spopt_limit = 2_500, [(30, 400, "mclp", 5, 180.0), (30, 400, "lscp", None,
                                                                         300.0)], 120.0  # fmt: skip
    elif args.quick:
        n_nodes, spopt_limit = NETWORK_NODES, 120.0
        # spopt only at the smallest size: it does not finish the largest in 2 minutes
        plan = [
            (200, 5_000, "mclp", 10, 180.0),
            (200, 5_000, "lscp", None, 180.0),
            (2_000, 50_000, "mclp", 50, 180.0),
            (2_000, 50_000, "mclp", 50, 300.0),
        ]
    else:
        n_nodes, spopt_limit = NETWORK_NODES, 600.0
        plan = [(c, d, "mclp", p, r) for c, d in SIZES for r in RINGS for p in PS]
        plan += [(c, d, "lscp", None, r) for c, d in SIZES for r in RINGS]
    if args.model:
        plan = [row for row in plan if row[2] == args.model]
    if args.size:
        n_c, n_d = (int(x) for x in args.size.lower().split("x"))
        plan = [row for row in plan if row[0] == n_c and row[1] == n_d]
    print(
        f"network: grid_city({n_nodes:,}) · fangkong time limit {TIME_LIMIT_S:.0f} s, gap 0.01 % "
        f"· spopt limit {spopt_limit:.0f} s a run · cpus {os.cpu_count()}"
    )
    started = time.perf_counter()
    c = county(n_nodes)
    print(f"built the network in {time.perf_counter() - started:.1f} s")
    # warm the numba kernels and HiGHS once (not timed)
    cands, demand, weight = points(c.graph, 20, 200)
    ours(c, cands, demand, weight, "mclp", 3, 180.0)
    ours(c, cands, demand, weight, "lscp", None, 600.0)
    rows: list[dict[str, Any]] = []
    header = (f"{'size':>13} {'model':>5} {'p':>3} {'ring':>4} | {'ours s':>7} {'matrix':>6} "
              f"{'status':>10} {'gap %':>8} | {'greedy+swap':>11} {'s':>5} {'% off':>6} | "
              f"{'spopt s':>8} {'ratio':>7} {'same':>4}")  # fmt: skip
    print(header)
    print("-" * len(header))
    largest_spopt: dict[str, Any] | None = None
    spopt_dnf: set[tuple[int, str, float]] = set()
    for n_cand, n_dem, method, p, ring in plan:
        cands, demand, weight = points(c.graph, n_cand, n_dem)
        mine = ours(c, cands, demand, weight, method, p, ring)
        keep = None
        if method == "lscp":
            pairs = c.engine.many_to_many(cands, demand, cutoff_s=ring)
            keep = np.unique(pairs.target)
        # spopt's time is its matrix and model building, whatever p: once it does not finish a
        # (size, model, ring), the larger p of it are not tried again (reported DNF)
        skip_spopt = args.no_spopt or (args.quick and n_cand > 200)
        unfinished = (n_cand, method, ring) in spopt_dnf
        theirs = (
            None
            if skip_spopt or unfinished
            else spopt(n_nodes, n_cand, n_dem, method, p, ring, spopt_limit, keep)
        )
        if theirs is None and not skip_spopt:
            spopt_dnf.add((n_cand, method, ring))
        off = abs(mine["objective"] - mine["heuristic"]) / max(abs(mine["objective"]), 1e-9) * 100
        ratio = theirs["total_s"] / mine["total_s"] if theirs else None
        same = (
            "–" if theirs is None else ("yes" if math.isclose(theirs["objective"],
                                                                mine["objective"], rel_tol=1e-9,
                                                                abs_tol=1e-6) else "NO")
        )  # fmt: skip
        row = {"candidates": n_cand, "demand": n_dem, "method": method, "p": p, "ring": ring,
               "ours": mine, "spopt": theirs, "ratio": ratio, "heuristic_off_pct": off}  # fmt: skip
        rows.append(row)
        if theirs is not None:
            largest_spopt = row
        gap = "–" if mine["gap"] != mine["gap"] else f"{100 * mine['gap']:.4f}"
        print(f"{n_cand:>5}x{n_dem:<7} {method:>5} {p or '-':>3} {ring:>4.0f} | "
              f"{mine['total_s']:>7.2f} {mine['matrix_s']:>6.2f} {mine['status']:>10} {gap:>8} | "
              f"{mine['heuristic']:>11.1f} {mine['heuristic_s']:>5.2f} {off:>6.3f} | "
              f"{fmt_s(theirs['total_s']) if theirs else ('n/r' if skip_spopt else 'DNF'):>8} "
              f"{'–' if ratio is None else f'{ratio:.1f}x':>7} {same:>4}", flush=True)  # fmt: skip
        if args.smoke:
            assert theirs is not None, "spopt did not answer the smoke instance"
            assert same == "yes", (mine, theirs)
            assert mine["heuristic"] <= mine["objective"] + 1e-9 or method == "lscp"
    print()
    big = [r for r in rows if r["candidates"] == 2_000 and r["method"] == "mclp" and r["p"] == 50]
    for r in big:
        ok = r["ours"]["status"] == "optimal" and r["ours"]["total_s"] <= 60
        print(f"goal: optimal at 2,000 x 50,000, p = 50, ring {r['ring']:.0f} s within 60 s: "
              f"{'met' if ok else 'MISSED'} ({r['ours']['status']}, gap "
              f"{100 * r['ours']['gap']:.4f} %, {r['ours']['total_s']:.1f} s)")  # fmt: skip
    if largest_spopt is not None:
        ratio = largest_spopt["ratio"]
        print(f"goal: >= 50x faster than spopt at its largest feasible size "
              f"({largest_spopt['candidates']} x {largest_spopt['demand']}, "
              f"{largest_spopt['method']}): {ratio:.1f}x "
              f"{'met' if ratio >= 50 else 'MISSED'}")  # fmt: skip
    for model in ("mclp", "lscp"):
        of_model = [row for row in rows if row["method"] == model]
        if not of_model:
            continue
        worst = max(of_model, key=lambda row: row["heuristic_off_pct"])
        slow = max(row["ours"]["heuristic_s"] for row in of_model)
        met = worst["heuristic_off_pct"] <= 1 and slow <= 1
        print(
            f"goal: {model} greedy + swap within 1 % in <= 1 s: worst "
            f"{worst['heuristic_off_pct']:.3f} % off the best answer found "
            f"({worst['candidates']} x {worst['demand']}, p {worst['p'] or '-'}, ring "
            f"{worst['ring']:.0f} s), slowest {slow:.2f} s: {'met' if met else 'MISSED'}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1, default=float)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
