"""The demo county's Planning II (issue 21): hotspots of the last 90 days against the 90 before,
the hour-of-week deployment of every station from the last 8 weeks, and beats for the station
with the most incidents, each stored as the console's own analyses are (filed under the
county, by the system), so that the page opens on something to look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area, AreaLevel
from fangkong.core.audit import SYSTEM
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Incident
from fangkong.network.service import Network
from fangkong.planning import analyses, beat_plans, deployment, hotspot_runs
from fangkong.planning.analysis_models import AnalysisKind

WHOLE = Scope(paths=("/",))
PERIOD = timedelta(days=90)
#: Simulated hours per rate in the demo's deployment (fewer than the console's 60: the build
#: stays quick).
SIM_HOURS = 30


@dataclass
class PlanningTwoReport:
    hotspot: int = 0
    deployment: int = 0
    beats: int = 0
    figures: dict[str, Any] = field(default_factory=dict)


def build_demo_planning_two(
    session: Session, *, network: Network, city_code: str, zone: ZoneInfo, now: datetime
) -> PlanningTwoReport:
    """Store the demo's hotspot, deployment and beats analyses (the caller commits)."""
    report = PlanningTwoReport()
    root = area_service.get_by_code_or_raise(session, code=city_code)
    spec = hotspot_runs.HotspotSpec(
        start=now - PERIOD, end=now, resolution=9, compare_start=now - 2 * PERIOD,
        compare_end=now - PERIOD,
    )  # fmt: skip
    hot = hotspot_runs.analyse(session, scope=WHOLE, spec=spec, zone=zone, network=network)
    report.hotspot = analyses.create(
        session, kind=AnalysisKind.HOTSPOT,
        params={"start": spec.start.isoformat(), "end": spec.end.isoformat(), "resolution": 9},
        result=hot, scope=WHOLE, area=root, actor=SYSTEM, title="hotspots r9 (demo)",
    ).id  # fmt: skip
    plan = deployment.analyse(
        session, scope=WHOLE, spec=deployment.DeploymentSpec(weeks=8, sim_hours=SIM_HOURS),
        zone=zone, network=network, now=now,
    )  # fmt: skip
    report.deployment = analyses.create(
        session, kind=AnalysisKind.DEPLOYMENT, params={"weeks": 8, "target": 0.8},
        result=plan, scope=WHOLE, area=root, actor=SYSTEM, title="deployment 8w 80% (demo)",
    ).id  # fmt: skip
    busiest = _busiest_station(session)
    beats_result: dict[str, Any] | None = None
    if busiest is not None:
        k = max(2, len(list(session.scalars(select(Area.id).where(
            Area.level == AreaLevel.BEAT, Area.parent_id == busiest.id)))))  # fmt: skip
        grids = session.scalar(
            select(func.count(Area.id)).where(
                Area.level == AreaLevel.GRID,
                Area.path.startswith(busiest.path, autoescape=True),
            )
        )
        if grids and grids >= k:
            beats_result = beat_plans.analyse(
                session, scope=WHOLE, station=busiest,
                spec=beat_plans.BeatSpec(k=k, start=now - PERIOD, end=now), network=network,
            )  # fmt: skip
            report.beats = analyses.create(
                session, kind=AnalysisKind.BEATS, params={"area_code": busiest.code, "k": k},
                result=beats_result, scope=WHOLE, area=busiest, actor=SYSTEM,
                title=f"beats {busiest.code} k={k} (demo)",
            ).id  # fmt: skip
    stations = [s for s in plan["stations"] if "expected" in s]
    report.figures = {
        "incidents_90d": hot["incidents"],
        "hot_cells": hot["hot"],
        "cold_cells": hot["cold"],
        "compare": hot["compare"],
        "segments": None
        if not hot.get("segment_gi")
        else {
            key: hot["segment_gi"][key]
            for key in ("segments_in_region", "snapped", "hot", "cold", "compare")
        },
        "holdout": plan["holdout"],
        "stations": len(stations),
        "unit_hours_today": sum(s["unit_hours_today"] for s in stations),
        "unit_hours_proposed": sum(s["unit_hours_proposed"] for s in stations),
        "beats": None
        if beats_result is None
        else {
            "station": beats_result["station"],
            "k": beats_result["k"],
            "grids": beats_result["grids"],
            "imbalance": beats_result["imbalance"],
            "imbalance_floor": beats_result["imbalance_floor"],
            "farthest_s": beats_result["farthest_s"],
        },
    }
    return report


def _busiest_station(session: Session) -> Area | None:
    stations = list(session.scalars(select(Area).where(Area.level == AreaLevel.STATION)))
    best: tuple[int, Area] | None = None
    for station in stations:
        count = session.scalar(
            select(func.count(Incident.id)).where(
                Incident.area_path.startswith(station.path, autoescape=True)
            )
        )
        if best is None or (count or 0) > best[0]:
            best = (count or 0, station)
    return None if best is None else best[1]
