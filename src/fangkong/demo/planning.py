"""The demo county's planning: today's coverage, one stored placement scenario, checkpoints at
some of the roads crossing the county's boundary, and the control ring they close.

All of it is stored as the console's own runs would be (filed under the county, by the system),
so that the planning pages open on something to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.audit import SYSTEM
from fangkong.core.scoping import Scope
from fangkong.network.service import Network
from fangkong.planning import coverage, demand, placement, ring, runs, scenarios
from fangkong.planning.models import CheckpointStatus, Direction, RunKind, RunStatus

WHOLE = Scope(paths=("/",))
#: Share of the boundary's crossings given a checkpoint, the busiest classes first.
CHECKPOINT_SHARE = 0.6
#: Sites the demo placement adds to today's posts.
ADDED_SITES = 3
PLACEMENT_TIME_LIMIT_S = 20.0


@dataclass
class PlanningReport:
    coverage_run: int = 0
    placement_run: int = 0
    scenario: int = 0
    checkpoints: int = 0
    ring_run: int = 0


def _store(session: Session, kind: RunKind, params: dict[str, Any], result: dict[str, Any],
           root: Area, title: str, scenario_id: int | None = None) -> int:  # fmt: skip
    run = runs.create(
        session,
        kind=kind,
        params={**params, "scope_paths": ["/"]},
        area_path=root.path,
        actor=SYSTEM,
        title=title,
        scenario_id=scenario_id,
        status=RunStatus.RUNNING,
    )
    runs.finish(session, run, result=result, error=None)
    return run.id


def build_demo_planning(session: Session, *, network: Network, city_code: str) -> PlanningReport:
    """Store the demo's planning runs, scenario and checkpoints (the caller commits)."""
    report = PlanningReport()
    root = area_service.get_by_code_or_raise(session, code=city_code)
    addresses = demand.address_demand(session, scope=WHOLE)
    posts = coverage.current_sites(session, scope=WHOLE)
    today = coverage.analyse(session, network=network, scope=WHOLE, demand=addresses, sites=posts)
    report.coverage_run = _store(
        session, RunKind.COVERAGE, {"demand": "addresses"}, today, root, "coverage today"
    )
    spec = placement.PlacementInput(
        method="mclp",
        p=len(posts) + ADDED_SITES,
        ring_s=180.0,
        candidates=("posts", "road"),
        spacing_m=500.0,
        time_limit_s=PLACEMENT_TIME_LIMIT_S,
    )
    placed = placement.place(session, network=network, scope=WHOLE, demand=addresses, spec=spec)
    params = {"method": "mclp", "p": spec.p, "ring_s": 180.0, "candidates": ["posts", "road"],
              "posts": "fixed", "spacing_m": 500.0, "demand": "addresses"}  # fmt: skip
    report.placement_run = _store(
        session, RunKind.PLACEMENT, params, placed, root, f"mclp p={spec.p} 180s (demo)"
    )
    plan = scenarios.scenario_from_sites(
        session,
        name=f"{ADDED_SITES} more street posts (demo)",
        scope=WHOLE,
        actor=SYSTEM,
        sites=placed["sites"],
        area_code=city_code,
    )
    report.scenario = plan.id
    # checkpoints at the busiest crossings of the county's boundary
    crossings = ring.crossings(network.graph, area_service.geometry(root))
    weights, _ = ring.settings(session)
    ranked = sorted(crossings, key=lambda c: (-weights.get(c["class"], 1.0), c["lon"], c["lat"]))
    for i, c in enumerate(ranked[: round(CHECKPOINT_SHARE * len(ranked))], start=1):
        ring.create_checkpoint(
            session,
            code=f"KK{i:03d}",
            name=f"卡口{i}",
            road=c["class"],
            direction=Direction.BOTH,
            status=CheckpointStatus.ACTIVE,
            lon=c["lon"],
            lat=c["lat"],
            area_code=city_code,
            scope=WHOLE,
            actor=SYSTEM,
        )
        report.checkpoints += 1
    closure = ring.analyse(session, graph=network.graph, scope=WHOLE, area=root, k=5)
    report.ring_run = _store(
        session, RunKind.RING, {"area_code": city_code, "k": 5}, closure, root,
        f"ring {city_code}",
    )  # fmt: skip
    session.flush()
    return report
