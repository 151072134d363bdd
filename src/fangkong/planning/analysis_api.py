"""REST API of Planning II under ``/api/v1/planning``: hotspots, hour-of-week deployment and
beats, each stored as an analysis read in scope (out of scope reads as not found), with
GeoJSON and XLSX exports. Mounted by :mod:`fangkong.planning.api`'s application beside it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.bounds import MAX_ID
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.scoping import Scope
from fangkong.http.deps import DbSession, Language, RequestActor, UserScope, get_settings, requires
from fangkong.network import service as network_service
from fangkong.network.service import Network
from fangkong.planning import (
    adoption,
    analyses,
    analysis_export,
    beat_plans,
    deployment,
    hotspot_runs,
)
from fangkong.planning import permissions as perms
from fangkong.planning.analysis_models import Analysis, AnalysisKind
from fangkong.planning.analysis_schemas import (
    AdoptOut,
    AnalysisOut,
    BeatsIn,
    DeploymentIn,
    HotspotIn,
)

router = APIRouter(prefix="/planning", tags=["planning"], dependencies=[requires(perms.READ)])
AnalysisId = Annotated[int, Path(ge=1, le=MAX_ID)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def analysis_out(analysis: Analysis, *, with_result: bool = True) -> AnalysisOut:
    return AnalysisOut(
        id=analysis.id,
        kind=analysis.kind,
        title=analysis.title,
        area_path=analysis.area_path,
        created_at=analysis.created_at,
        accepted_at=analysis.accepted_at,
        params=analyses.params_of(analysis),
        result=analyses.result_of(analysis) if with_result else None,
    )


def area_of(db: Session, code: str | None, scope: Scope) -> Area | None:
    return area_service.get_by_code_or_raise(db, code=code, scope=scope) if code else None


def network_or_none(request: Request) -> Network | None:
    """The road network when one has been imported (road segments need it)."""
    try:
        return network_service.current(get_settings(request).data_dir)
    except NotFound:
        return None


def hotspot_spec(body: HotspotIn, now: datetime) -> hotspot_runs.HotspotSpec:
    start, end = hotspot_runs.default_period(now)
    return hotspot_runs.HotspotSpec(
        start=body.start or (body.end - hotspot_runs.DEFAULT_PERIOD if body.end else start),
        end=body.end or end,
        resolution=body.resolution,
        categories=tuple(body.categories),
        priorities=tuple(body.priorities),
        hours=tuple(body.hours),
        permutations=body.permutations,
        seed=body.seed,
        alpha=float(body.alpha),
        inference=body.inference,
        compare_start=body.compare_start,
        compare_end=body.compare_end,
        bandwidth_m=float(body.bandwidth_m) if body.bandwidth_m is not None else None,
        segments=body.segments,
    )


@router.post("/hotspots", response_model=AnalysisOut, status_code=201)
def create_hotspots(
    body: HotspotIn, request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> AnalysisOut:
    """Where the incidents of a period concentrate: counts per H3 cell (resolution 8 or 9) with
    Gi* (analytic and permutation p-values, Benjamini-Hochberg at ``alpha``), hot and cold
    cells, the trend against an earlier period, incidents per road segment per km and a
    kernel density surface; stored as an analysis."""
    area = area_of(db, body.area_code, scope)
    spec = hotspot_spec(body, utcnow())
    result = hotspot_runs.analyse(
        db,
        scope=scope,
        spec=spec,
        zone=get_settings(request).zone,
        area=area,
        network=network_or_none(request) if body.segments else None,
    )
    params = body.model_dump(mode="json")
    params.update(start=spec.start.isoformat(), end=spec.end.isoformat())
    analysis = analyses.create(
        db,
        kind=AnalysisKind.HOTSPOT,
        params=params,
        result=result,
        scope=scope,
        area=area,
        actor=actor,
        title=f"hotspots r{spec.resolution} {body.area_code or '*'} {spec.start:%Y-%m-%d}",
    )
    return analysis_out(analysis)


@router.post("/deployment", response_model=AnalysisOut, status_code=201)
def create_deployment(
    body: DeploymentIn, request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> AnalysisOut:
    """Hour-of-week deployment (潮汐用警): expected incidents per station and hour of week with a
    90 % interval (Gamma-Poisson, checked on held-back weeks), the units each hour needs to keep
    the 3-minute share at ``target`` (the dispatch replay's simulation) and the simulated
    shares with today's roster and the proposed one; stored as an analysis."""
    area = area_of(db, body.area_code, scope)
    network = network_service.current(get_settings(request).data_dir)
    spec = deployment.DeploymentSpec(
        weeks=body.weeks,
        end=body.end,
        target=float(body.target),
        prior_weeks=float(body.prior_weeks),
        held_weeks=body.held_weeks,
        sim_hours=body.sim_hours,
        seed=body.seed,
        max_units=body.max_units,
    )
    result = deployment.analyse(
        db, scope=scope, spec=spec, zone=get_settings(request).zone, network=network,
        now=utcnow(), area=area,
    )  # fmt: skip
    analysis = analyses.create(
        db,
        kind=AnalysisKind.DEPLOYMENT,
        params=body.model_dump(mode="json"),
        result=result,
        scope=scope,
        area=area,
        actor=actor,
        title=f"deployment {body.area_code or '*'} {body.weeks}w {float(body.target):.0%}",
    )
    return analysis_out(analysis)


@router.post(
    "/analyses/{analysis_id}/adopt",
    response_model=AdoptOut,
    dependencies=[requires(perms.WRITE)],
)
def adopt_analysis(
    analysis_id: AnalysisId, db: DbSession, scope: UserScope, actor: RequestActor
) -> AdoptOut:
    """Adopt an analysis: a deployment's proposed roster becomes each station's roster per
    hour of week; beats are written into the area tree as beat areas once the grid fusion check
    passes (:func:`fangkong.planning.adoption.adopt`, as the command line does)."""
    analysis = analyses.get_or_raise(db, analysis_id=analysis_id, scope=scope)
    adopted, detail = adoption.adopt(db, analysis=analysis, scope=scope, actor=actor, now=utcnow())
    return AdoptOut(analysis_id=analysis.id, adopted=adopted, detail=detail)


@router.post("/beats", response_model=AnalysisOut, status_code=201)
def create_beats(
    body: BeatsIn, request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> AnalysisOut:
    """k contiguous patrol beats (巡区) for a station (or a district: drawn and exported, not
    adopted) from its grids, balancing workload
    (incidents × handling time + a patrol time per key facility, hours a week) and
    compactness (road time from each beat's centre); each beat's workload, the imbalance
    (max / mean) and the farthest time; stored as an analysis."""
    station = area_service.get_by_code_or_raise(db, code=body.area_code, scope=scope)
    start, end = beat_plans.default_period(utcnow())
    spec = beat_plans.BeatSpec(
        k=body.k,
        start=body.start or start,
        end=body.end or end,
        facility_hours=float(body.facility_hours),
        mu=float(body.mu),
        time_limit_s=float(body.time_limit_s),
        seed=body.seed,
    )
    if spec.end <= spec.start:
        raise InvalidInput(key="error.planning.period_order", field="end")
    result = beat_plans.analyse(
        db,
        scope=scope,
        station=station,
        spec=spec,
        network=network_service.current(get_settings(request).data_dir),
    )
    analysis = analyses.create(
        db,
        kind=AnalysisKind.BEATS,
        params=body.model_dump(mode="json"),
        result=result,
        scope=scope,
        area=station,
        actor=actor,
        title=f"beats {station.code} k={body.k}",
    )
    return analysis_out(analysis)


@router.get("/analyses", response_model=list[AnalysisOut])
def list_analyses(
    db: DbSession,
    scope: UserScope,
    kind: AnalysisKind | None = None,
    limit: Annotated[int, Query(ge=1, le=analyses.MAX_LISTED)] = 50,
) -> list[AnalysisOut]:
    """Hotspot, deployment and beats analyses filed in your areas, newest first (without
    their results)."""
    return [
        analysis_out(a, with_result=False)
        for a in analyses.get_all(db, scope=scope, kind=kind, limit=limit)
    ]


@router.get("/analyses/{analysis_id}", response_model=AnalysisOut)
def get_analysis(analysis_id: AnalysisId, db: DbSession, scope: UserScope) -> AnalysisOut:
    return analysis_out(analyses.get_or_raise(db, analysis_id=analysis_id, scope=scope))


@router.get(
    "/analyses/{analysis_id}/geojson",
    response_class=Response,
    responses={
        200: {
            "content": {"application/geo+json": {"schema": {"type": "object"}}},
            "description": "A GeoJSON FeatureCollection",
        }
    },
)
def analysis_geojson(analysis_id: AnalysisId, db: DbSession, scope: UserScope) -> Response:
    """Hotspots: cells (count, Gi*, z, p, class, trend), road segments, density bands; beats:
    each beat's polygon with its workload and farthest time."""
    analysis = analyses.get_or_raise(db, analysis_id=analysis_id, scope=scope)
    return Response(
        json.dumps(analysis_export.geojson(analysis), ensure_ascii=False),
        media_type="application/geo+json",
        headers={
            "Content-Disposition": f'attachment; filename="planning-analysis-{analysis.id}.geojson"'
        },
    )


@router.get(
    "/analyses/{analysis_id}/xlsx",
    response_class=Response,
    responses={
        200: {
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            "description": "An XLSX workbook",
        }
    },
)
def analysis_xlsx(
    analysis_id: AnalysisId, db: DbSession, scope: UserScope, language: Language
) -> Response:
    """The analysis as a workbook: the summary and its tables."""
    analysis = analyses.get_or_raise(db, analysis_id=analysis_id, scope=scope)
    return Response(
        analysis_export.xlsx(analysis, language=language),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="planning-analysis-{analysis.id}.xlsx"'
        },
    )
