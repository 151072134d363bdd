"""Adopting a stored analysis of Planning II, the one path for the API, the console and the
command line: a deployment's proposed roster becomes each station's roster per hour of week;
a beats analysis, once the grid-fusion check of the proposal passes, is written into the area
tree (:func:`fangkong.areas.regroup.regroup_beats`). Each adoption is audited
(``adopt`` on the analysis; the regrouping audits itself on the station)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.areas import regroup
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput
from fangkong.core.scoping import Scope
from fangkong.planning import analyses, beat_plans, deployment
from fangkong.planning.analysis_models import Analysis, AnalysisKind


def adopt(
    session: Session, *, analysis: Analysis, scope: Scope, actor: Actor, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Adopt ``analysis`` (read in ``scope`` by the caller); returns the number adopted
    (stations of a roster, beats) and the detail (for beats: the fusion check and what the
    regrouping moved). Refused (nothing changed) for a hotspot analysis, a failing fusion check
    or a regrouping the tree cannot take."""
    if analysis.kind == AnalysisKind.DEPLOYMENT:
        adopted = deployment.adopt(
            session, result=analyses.result_of(analysis), scope=scope, analysis_id=analysis.id,
            actor_id=actor.user_id, now=now,
        )  # fmt: skip
        detail: dict[str, Any] = {}
    elif analysis.kind == AnalysisKind.BEATS:
        adopted, detail = _adopt_beats(session, analysis, scope, actor)
    else:
        raise InvalidInput(
            key="error.planning.analysis_not_adoptable",
            params={"kind": analysis.kind.value},
            field="analysis_id",
        )
    analysis.accepted_at = now
    audit.record(
        session, actor=actor, action="adopt", entity="planning_analysis", entity_id=analysis.id,
        detail={"kind": analysis.kind.value, "adopted": adopted}, area_path=analysis.area_path,
    )  # fmt: skip
    session.flush()
    return adopted, detail


def _adopt_beats(
    session: Session, analysis: Analysis, scope: Scope, actor: Actor
) -> tuple[int, dict[str, Any]]:
    """Beats: accepted when the grid fusion check of the proposal passes (each grid in one
    beat, beats inside the station, no gap, no overlap); then the station's beat areas are
    replaced by the proposal's (the grids and every record's area path move with them). The
    beats' GeoJSON is the areas import's format (level beat, parent the station, the grids
    listed)."""
    result = analyses.result_of(analysis)
    if result.get("level", "station") != "station":
        # a district's beats may cross its stations: the tree keeps a beat under one station
        raise InvalidInput(
            key="error.planning.beats_district",
            params={"code": result["station"]},
            field="analysis_id",
        )
    faults = beat_plans.fusion_faults(session, result=result)
    if faults:
        raise Conflict(
            key="error.planning.beats_fusion",
            params={"count": len(faults)},
            field="analysis_id",
            faults=faults,
        )
    features = result["geojson"]["features"]
    report = regroup.regroup_beats(
        session,
        station_code=result["station"],
        beats=[
            regroup.BeatSpec(
                code=f["properties"]["code"],
                name_zh=f["properties"]["name_zh"],
                name_en=f["properties"]["name_en"],
                grid_codes=tuple(f["properties"]["grids"]),
            )
            for f in features
        ],
        actor=actor,
        scope=scope,
    )
    return len(features), {"fusion": "passed", "regrouped": report.as_dict()}
