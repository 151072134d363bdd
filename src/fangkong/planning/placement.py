"""Placement: choose sites among candidates by MCLP, LSCP or p-median over road times.

Candidates are the existing posts (kept fixed, or free to move: then each is just a candidate),
road points every ``spacing_m`` metres along the roads of the area, the standard addresses of
the area, or points the planner draws; demand is that of :mod:`.demand`. The travel-time matrix
is the sparse many-to-many from every candidate to every demand point cut at the ring (MCLP,
LSCP) or at ``max_time_s`` (p-median), travelling as the unit type does; the models and their
exact solution are in :mod:`.optimize`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area, StandardAddress
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import UnitType
from fangkong.dispatch.recommend import travel_engine
from fangkong.network.graph import haversine_m
from fangkong.network.service import Network
from fangkong.planning import coverage, optimize
from fangkong.planning.coverage import Site
from fangkong.planning.demand import Demand

FloatArray = NDArray[np.float64]

CandidateSource = Literal["posts", "road", "addresses", "points"]
PostsRule = Literal["fixed", "free", "none"]
MAX_CANDIDATES = 5_000
MAX_P = 500
MIN_SPACING_M = 50.0
MAX_SPACING_M = 10_000.0
#: The p-median's cap on a demand point's time (s): beyond it a point counts this long.
DEFAULT_MAX_TIME_S = 1800.0
MAX_DRAWN = 1_000

Progress = Callable[[str, float, dict[str, float]], None]


@dataclass(frozen=True)
class PlacementInput:
    """What a placement is asked (stored with its run)."""

    method: optimize.Method
    p: int | None
    ring_s: float
    candidates: tuple[CandidateSource, ...]
    posts: PostsRule = "fixed"
    spacing_m: float = 500.0
    points: tuple[tuple[float, float], ...] = ()
    unit_type: UnitType = UnitType.CAR
    max_time_s: float = DEFAULT_MAX_TIME_S
    time_limit_s: float = optimize.DEFAULT_TIME_LIMIT_S
    gap: float = optimize.DEFAULT_GAP
    exact: bool = True

    def check(self) -> None:
        if self.method not in optimize.METHODS:
            raise InvalidInput(
                key="error.planning.method_choice",
                params={"methods": ", ".join(optimize.METHODS)},
                field="method",
            )
        if self.method != "lscp" and (self.p is None or not 1 <= self.p <= MAX_P):
            raise InvalidInput(key="error.planning.p_range", params={"max": MAX_P}, field="p")
        coverage.check_rings([self.ring_s])
        if not self.candidates:
            raise InvalidInput(key="error.planning.no_candidate_source", field="candidates")
        if not MIN_SPACING_M <= self.spacing_m <= MAX_SPACING_M:
            raise InvalidInput(
                key="error.planning.spacing_range",
                params={"min": MIN_SPACING_M, "max": MAX_SPACING_M},
                field="spacing_m",
            )
        if len(self.points) > MAX_DRAWN:
            raise InvalidInput(
                key="error.planning.drawn_many", params={"max": MAX_DRAWN}, field="points"
            )
        if "points" in self.candidates and not self.points:
            raise InvalidInput(key="error.planning.drawn_none", field="points")
        if not 1 <= self.max_time_s <= coverage.MAX_RING_S:
            raise InvalidInput(key="error.planning.max_time_range", field="max_time_s")
        if not 0.1 <= self.time_limit_s <= 3600:
            raise InvalidInput(key="error.planning.time_limit_range", field="time_limit_s")
        if not 0 <= self.gap <= 0.5:
            raise InvalidInput(key="error.planning.gap_range", field="gap")


def road_points(network: Network, polygon: Any, spacing_m: float) -> list[Site]:
    """Points every ``spacing_m`` metres along the roads whose segment midpoints lie in
    ``polygon`` (two-way roads once), nearest the segment's start first."""
    g = network.graph
    a = np.minimum(g.tail, g.head).astype(np.int64)
    b = np.maximum(g.tail, g.head).astype(np.int64)
    keys = np.unique(a * g.n_nodes + b)
    u, v = keys // g.n_nodes, keys % g.n_nodes
    mid_lon = (g.lon[u] + g.lon[v]) / 2
    mid_lat = (g.lat[u] + g.lat[v]) / 2
    inside = shapely.contains_xy(polygon, mid_lon, mid_lat)
    u, v = u[inside], v[inside]
    length = haversine_m(g.lon[u], g.lat[u], g.lon[v], g.lat[v])
    # a point at each whole multiple of the spacing along the network's running length
    run = np.concatenate([[0.0], np.cumsum(length)])
    marks = np.arange(spacing_m / 2, run[-1], spacing_m)
    seg = np.searchsorted(run, marks, side="right") - 1
    frac = (marks - run[seg]) / np.maximum(length[seg], 1e-9)
    lon = g.lon[u[seg]] + frac * (g.lon[v[seg]] - g.lon[u[seg]])
    lat = g.lat[u[seg]] + frac * (g.lat[v[seg]] - g.lat[u[seg]])
    return [
        Site(f"R{i + 1}", f"road point {i + 1}", float(x), float(y), "road")
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))
    ]


def top_areas(session: Session, scope: Scope) -> list[Area]:
    """The highest areas in ``scope`` (those whose parent is outside it)."""
    found = list(session.scalars(select(Area).where(scope.clause(Area.path))))
    paths = {a.path for a in found}
    return [
        a
        for a in found
        if not any(
            "/" + "/".join(a.path.strip("/").split("/")[:k]) + "/" in paths
            for k in range(1, a.path.strip("/").count("/") + 1)
        )
    ]


def candidates_of(
    session: Session,
    *,
    network: Network,
    scope: Scope,
    area: Area | None,
    spec: PlacementInput,
    posts: Sequence[Site],
) -> tuple[list[Site], NDArray[np.bool_]]:
    """The candidate sites of ``spec`` and which are fixed (existing posts kept)."""
    sites: list[Site] = []
    fixed: list[bool] = []
    if "posts" in spec.candidates and spec.posts != "none":
        sites += posts
        fixed += [spec.posts == "fixed"] * len(posts)
    if "road" in spec.candidates:
        if area is not None:
            polygon = area_service.geometry(area)
        else:
            tops = [area_service.geometry(a) for a in top_areas(session, scope)]
            polygon = shapely.union_all(tops) if tops else None
        if polygon is not None:
            road = road_points(network, polygon, spec.spacing_m)
            sites += road
            fixed += [False] * len(road)
    if "addresses" in spec.candidates:
        query = select(StandardAddress.code, StandardAddress.lon, StandardAddress.lat).where(
            scope.clause(StandardAddress.area_path)
        )
        if area is not None:
            query = query.where(StandardAddress.area_path.startswith(area.path, autoescape=True))
        rows = session.execute(query.order_by(StandardAddress.id).limit(MAX_CANDIDATES + 1))
        found = [Site(str(c), str(c), float(x), float(y), "address") for c, x, y in rows]
        sites += found
        fixed += [False] * len(found)
    if "points" in spec.candidates:
        drawn = [
            Site(f"D{i + 1}", f"drawn point {i + 1}", float(x), float(y), "drawn")
            for i, (x, y) in enumerate(spec.points)
        ]
        sites += drawn
        fixed += [False] * len(drawn)
    if not sites:
        raise InvalidInput(key="error.planning.no_candidates", field="candidates")
    if len(sites) > MAX_CANDIDATES:
        raise InvalidInput(
            key="error.planning.candidates_many",
            params={"count": len(sites), "max": MAX_CANDIDATES},
            field="candidates",
        )
    return sites, np.array(fixed, dtype=np.bool_)


def place(
    session: Session,
    *,
    network: Network,
    scope: Scope,
    demand: Demand,
    spec: PlacementInput,
    area: Area | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run one placement and report it as a JSON-able dict (see :func:`report`)."""
    spec.check()
    started = time.perf_counter()

    def step(stage: str, fraction: float, detail: dict[str, float] | None = None) -> None:
        if progress is not None:
            progress(stage, fraction, detail or {})

    posts = coverage.current_sites(session, scope=scope)
    step("candidates", 0.02)
    sites, fixed = candidates_of(
        session, network=network, scope=scope, area=area, spec=spec, posts=posts
    )
    if len(demand) == 0:
        raise InvalidInput(key="error.planning.no_demand", field="demand")
    step("matrix", 0.05)
    site_points = coverage.snap_sites(network, sites, field="candidates")
    demand_points, far = coverage.snap_points(network, demand.lon, demand.lat)
    travel = coverage.travel_of(spec.unit_type)
    engine, src = travel_engine(network, travel, site_points)
    _, dst = travel_engine(network, travel, demand_points)
    cutoff = spec.ring_s if spec.method != "p_median" else spec.max_time_s
    pairs = engine.many_to_many(src, dst, cutoff_s=cutoff)
    matrix_s = time.perf_counter() - started
    instance = optimize.Instance.build(
        n_candidates=len(sites),
        weight=demand.weight,
        source=pairs.source,
        target=pairs.target,
        time_s=pairs.time_s,
        fixed=fixed,
    )
    step("heuristic", 0.1)

    def solver_progress(stage: str, detail: dict[str, float]) -> None:
        elapsed = float(detail.get("elapsed_s", 0.0))
        fraction = 0.1 + 0.89 * min(1.0, elapsed / max(spec.time_limit_s, 0.1))
        step(stage, fraction, detail)

    solution = optimize.solve(
        instance,
        method=spec.method,
        p=spec.p,
        ring_s=spec.ring_s,
        cap_s=spec.max_time_s,
        exact=spec.exact,
        time_limit_s=spec.time_limit_s,
        gap=spec.gap,
        progress=solver_progress,
        cancel=cancel,
        demand_names=demand.names,
    )
    chosen = [sites[int(j)] for j in solution.chosen]
    # before (the current posts) and after, per ring
    rings = sorted({60.0, 180.0, 300.0, spec.ring_s})
    if posts:
        _, post_src = travel_engine(
            network, travel, coverage.snap_sites(network, posts, field="posts")
        )
        before = _within(engine, post_src, dst, np.arange(len(posts)), rings, demand)
    else:
        before = _within(engine, src, dst, np.zeros(0, dtype=np.int64), rings, demand)
    after = _within(engine, src, dst, solution.chosen, rings, demand)
    return report(
        spec=spec,
        site_points=site_points,
        sites=sites,
        chosen=chosen,
        solution=solution,
        before=before,
        after=after,
        demand=demand,
        no_road=np.flatnonzero(far),
        timings={"matrix_s": matrix_s, "total_s": time.perf_counter() - started},
        pairs=len(pairs),
    )


def _within(
    engine: Any,
    src: Any,
    dst: Any,
    chosen: NDArray[np.int64],
    rings: Sequence[float],
    demand: Demand,
) -> dict[str, Any]:
    """Weight (and share) of demand within each ring of the ``chosen`` sites of ``src``."""
    if chosen.size == 0:
        times = np.full(len(demand), np.inf)
    else:
        times, _ = coverage.nearest_site(engine, src[chosen], dst, max(rings))
    w = demand.weight
    total = float(w.sum())
    return {
        "covered": {f"{r:g}": float(w[times <= r].sum()) for r in rings},
        "share": {f"{r:g}": (float(w[times <= r].sum()) / total if total else None) for r in rings},
    }


def report(
    *,
    spec: PlacementInput,
    site_points: Any,
    sites: Sequence[Site],
    chosen: Sequence[Site],
    solution: optimize.Solution,
    before: dict[str, Any],
    after: dict[str, Any],
    demand: Demand,
    no_road: NDArray[np.int64],
    timings: dict[str, float],
    pairs: int,
) -> dict[str, Any]:
    def finite(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    unreachable = solution.unreachable
    return {
        "method": spec.method,
        "p": spec.p,
        "ring_s": spec.ring_s,
        "unit_type": spec.unit_type.value,
        "status": solution.status,
        "objective": finite(solution.objective),
        "bound": finite(solution.bound),
        "gap": finite(solution.gap),
        "heuristic_objective": finite(solution.heuristic_objective),
        "heuristic_s": round(solution.heuristic_s, 3),
        "solve_s": round(solution.solve_s, 3),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "candidates": {
            "count": len(sites),
            "without_road": coverage.off_road(site_points, sites)[: coverage.MAX_NAMED],
            "fixed": int(sum(1 for s in sites if s.kind == "post")) if spec.posts == "fixed" else 0,
            "used": solution.candidates_used,
            "pairs": pairs,
        },
        "demand": {
            "kind": demand.kind,
            "points": len(demand),
            "weight": float(demand.weight.sum()),
            "rows": solution.rows,
            "unreachable": int(unreachable.size),
            "unreachable_names": demand.names(unreachable[: coverage.MAX_NAMED]),
            "no_road_access": int(no_road.size),
        },
        "sites": [
            {"code": s.code, "name": s.name, "lon": s.lon, "lat": s.lat, "kind": s.kind}
            for s in chosen
        ],
        "before": before,
        "after": after,
        "stats": {k: v for k, v in solution.stats.items() if isinstance(v, int | float | str)},
    }
