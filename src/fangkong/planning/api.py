"""REST API of planning under ``/api/v1/planning``: coverage, placements (background jobs with
progress over SSE and cancel), scenarios, checkpoints, the control ring, exports.

Every read is scoped to the user's areas; a run, scenario or checkpoint out of scope reads as
not found.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from fangkong.core import auth
from fangkong.core.bounds import MAX_ID
from fangkong.core.errors import API_LANGUAGE
from fangkong.core.scoping import Scope
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_settings,
    requires,
)
from fangkong.network import service as network_service
from fangkong.planning import demand, export, jobs, ring, runs, scenarios, tasks
from fangkong.planning import permissions as perms
from fangkong.planning.models import Checkpoint, Run, RunKind, RunStatus, Scenario
from fangkong.planning.schemas import (
    ChangeIn,
    ChangesIn,
    CheckpointIn,
    CheckpointOut,
    CheckpointPatch,
    CompareIn,
    CoverageIn,
    FromRunIn,
    PlacementIn,
    RingIn,
    RingSettings,
    RunOut,
    ScenarioIn,
    ScenarioOut,
    ScenarioReplayIn,
    WeightColumnsOut,
)

router = APIRouter(prefix="/planning", tags=["planning"], dependencies=[requires(perms.READ)])
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: How long a progress stream stays open at most (s).
STREAM_S = 3600.0
STREAM_EVERY_S = 0.5
#: A comment line is sent after this many seconds without an event, so that a long silent
#: stage (a queue, the matrix, a first compilation) does not read as a dead connection.
KEEPALIVE_S = 5.0


def run_out(run: Run, *, with_result: bool = True, language: str = API_LANGUAGE) -> RunOut:
    """A run as the API answers it; its error in English (``error``, as every API message),
    by its stable code and values, and in ``language`` (``error_text``, what the console
    shows)."""
    code, error_params = runs.error_of(run)
    return RunOut(
        id=run.id,
        kind=run.kind,
        status=str(getattr(runs.shown_status(run), "value", runs.shown_status(run))),
        title=run.title,
        area_path=run.area_path,
        scenario_id=run.scenario_id,
        progress=run.progress,
        stage=run.stage,
        error=runs.error_text(run, API_LANGUAGE),
        error_code=None if code is None else code.removeprefix("error."),
        error_params=error_params,
        error_text=runs.error_text(run, language),
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        params={k: v for k, v in runs.params_of(run).items() if k != "scope_paths"},
        result=runs.result_of(run) if with_result and run.result is not None else None,
    )


def params_from(body: Any, scope: Scope) -> dict[str, Any]:
    """A request body as a run's stored parameters, with the caller's scope."""
    data: dict[str, Any] = body.model_dump(mode="json")
    data["scope_paths"] = list(scope.paths)
    return data


def _area_path(db: Session, scope: Scope, params: dict[str, Any]) -> str:
    return runs.filing_path(scope, tasks.area_of(db, params, scope))


def _stored(
    db: Session,
    *,
    kind: RunKind,
    params: dict[str, Any],
    scope: Scope,
    actor: Any,
    result: dict[str, Any],
    scenario_id: int | None = None,
) -> Run:
    run = runs.create(
        db,
        kind=kind,
        params=params,
        area_path=_area_path(db, scope, params),
        actor=actor,
        title=tasks.title_of(kind.value, params),
        scenario_id=scenario_id,
        status=RunStatus.RUNNING,
    )
    runs.finish(db, run, result=result, error=None)
    return run


# --- coverage -------------------------------------------------------------------------------


@router.post("/coverage", response_model=RunOut, status_code=201)
def create_coverage(
    body: CoverageIn, request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> RunOut:
    """The share of demand within each ring (default 1/3/5 min) of the nearest post (or of a
    scenario's sites), per area at every level, the worst-served grids first; stored as a run
    (its result also holds every demand point's time for the map and the exports)."""
    params = params_from(body, scope)
    result = tasks.run_coverage(db, params, get_settings(request).data_dir)
    return run_out(
        _stored(
            db,
            kind=RunKind.COVERAGE,
            params=params,
            scope=scope,
            actor=actor,
            result=result,
            scenario_id=body.scenario_id,
        )
    )


# --- placements (background jobs) -----------------------------------------------------------


@router.post(
    "/placements",
    response_model=RunOut,
    status_code=202,
    dependencies=[requires(perms.WRITE)],
)
def create_placement(
    body: PlacementIn,
    request: Request,
    background: BackgroundTasks,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> RunOut:
    """Queue a placement (MCLP, LSCP or p-median): it runs in the background; follow it with
    ``GET /planning/runs/{id}`` or the event stream ``/planning/runs/{id}/events``, stop it with
    ``POST /planning/runs/{id}/cancel``."""
    params = params_from(body, scope)
    tasks.placement_spec(params)  # a bad request is refused now, not in the job
    run = runs.create(
        db,
        kind=RunKind.PLACEMENT,
        params=params,
        area_path=_area_path(db, scope, params),
        actor=actor,
        title=tasks.title_of("placement", params),
    )
    factory: sessionmaker[Session] = request.app.state.session_factory
    data_dir = get_settings(request).data_dir
    run_id = run.id
    # after the response, so after the request's commit: the job finds its run
    background.add_task(
        lambda: jobs.runner_for(factory).submit(
            run_id,
            lambda session, progress, cancel: tasks.run_placement(
                session, params, data_dir, progress, cancel
            ),
        )
    )
    return run_out(run)


# --- runs -----------------------------------------------------------------------------------


@router.get("/runs", response_model=list[RunOut])
def list_runs(
    db: DbSession,
    scope: UserScope,
    language: Language,
    kind: RunKind | None = None,
    limit: Annotated[int, Query(ge=1, le=runs.MAX_RUNS)] = 50,
) -> list[RunOut]:
    """Runs filed in your areas, newest first (without their results)."""
    return [
        run_out(r, with_result=False, language=language)
        for r in runs.get_all(db, scope=scope, kind=kind, limit=limit)
    ]


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: RunId, db: DbSession, scope: UserScope, language: Language) -> RunOut:
    return run_out(runs.get_or_raise(db, run_id=run_id, scope=scope), language=language)


@router.post("/runs/{run_id}/cancel", response_model=RunOut, dependencies=[requires(perms.WRITE)])
def cancel_run(
    run_id: RunId,
    request: Request,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> RunOut:
    """Stop a queued or running job; it keeps the best answer it had (status cancelled)."""
    run = runs.request_cancel(
        db, run=runs.get_or_raise(db, run_id=run_id, scope=scope), actor=actor
    )
    jobs.runner_for(request.app.state.session_factory).cancel(run.id)
    return run_out(run, with_result=False, language=language)


def _state(factory: sessionmaker[Session], run_id: int, language: str) -> dict[str, Any]:
    with factory() as session:
        run = session.get(Run, run_id)
        if run is None:
            return {"status": "gone"}
        status = runs.shown_status(run)
        return {
            "id": run.id,
            "status": str(getattr(status, "value", status)),
            "progress": round(run.progress, 4),
            "stage": run.stage,
            "error": runs.error_text(run, language),
        }


@router.get(
    "/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def run_events(
    run_id: RunId, request: Request, db: DbSession, scope: UserScope, language: Language
) -> Response:
    """Server-Sent Events of a run's progress (``progress`` events with status, fraction and
    stage), ending with a ``done`` event when it ends; a comment line (``: keep-alive``) every
    :data:`KEEPALIVE_S` seconds without one."""
    runs.get_or_raise(db, run_id=run_id, scope=scope)
    factory: sessionmaker[Session] = request.app.state.session_factory

    async def stream() -> AsyncIterator[str]:
        deadline = time.monotonic() + STREAM_S
        last: dict[str, Any] | None = None
        sent = time.monotonic()
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            state = await anyio.to_thread.run_sync(_state, factory, run_id, language)
            if state != last:
                last = state
                sent = time.monotonic()
                yield f"event: progress\ndata: {json.dumps(state)}\n\n"
            elif time.monotonic() - sent >= KEEPALIVE_S:
                sent = time.monotonic()
                yield ": keep-alive\n\n"
            if state["status"] not in ("queued", "running"):
                yield f"event: done\ndata: {json.dumps(state)}\n\n"
                return
            await anyio.sleep(STREAM_EVERY_S)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/runs/{run_id}/geojson",
    response_class=Response,
    responses={
        200: {
            "content": {"application/geo+json": {"schema": {"type": "object"}}},
            "description": "A GeoJSON FeatureCollection",
        }
    },
)
def run_geojson(run_id: RunId, request: Request, db: DbSession, scope: UserScope) -> Response:
    """The run's sites, demand points (with the ring each meets), service areas and, for a
    control ring, its crossings and next checkpoints, as a GeoJSON FeatureCollection."""
    run = runs.get_or_raise(db, run_id=run_id, scope=scope)
    network = network_service.current(get_settings(request).data_dir)
    body = json.dumps(export.geojson(run, network), ensure_ascii=False)
    return Response(
        body,
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="planning-{run.id}.geojson"'},
    )


@router.get(
    "/runs/{run_id}/xlsx",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
            "description": "An XLSX workbook",
        }
    },
)
def run_xlsx(run_id: RunId, db: DbSession, scope: UserScope, language: Language) -> Response:
    """The run as a workbook: summary, coverage per area, the sites (and crossings)."""
    run = runs.get_or_raise(db, run_id=run_id, scope=scope)
    return Response(
        export.xlsx(run, language=language),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="planning-{run.id}.xlsx"'},
    )


@router.post(
    "/runs/{run_id}/scenario",
    response_model=ScenarioOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def scenario_from_run(
    run_id: RunId, body: FromRunIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> ScenarioOut:
    """A scenario from a placement's chosen sites (posts not chosen removed, others added)."""
    run = runs.get_or_raise(db, run_id=run_id, scope=scope)
    result = runs.result_of(run)
    return scenario_out(
        scenarios.scenario_from_sites(
            db,
            name=body.name,
            scope=scope,
            actor=actor,
            sites=list(result.get("sites", [])),
            area_code=body.area_code,
        )
    )


# --- scenarios ------------------------------------------------------------------------------


def scenario_out(scenario: Scenario) -> ScenarioOut:
    return ScenarioOut.model_validate(
        {
            "id": scenario.id,
            "name": scenario.name,
            "description": scenario.description,
            "area_path": scenario.area_path,
            "created_at": scenario.created_at,
            "changes": scenarios.changes_of(scenario),
        }
    )


def _changes(items: list[ChangeIn]) -> list[scenarios.Change]:
    return [
        scenarios.Change(
            action=c.action,
            post_code=c.post_code,
            code=c.code,
            name=c.name,
            lon=None if c.lon is None else float(c.lon),
            lat=None if c.lat is None else float(c.lat),
        )
        for c in items
    ]


@router.get("/scenarios", response_model=list[ScenarioOut])
def list_scenarios(db: DbSession, scope: UserScope) -> list[ScenarioOut]:
    return [scenario_out(s) for s in scenarios.get_all(db, scope=scope)]


@router.post(
    "/scenarios",
    response_model=ScenarioOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def create_scenario(
    body: ScenarioIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> ScenarioOut:
    """Store a plan: posts added (code, name, point), moved (post_code and the new point) or
    removed (post_code)."""
    return scenario_out(
        scenarios.create(
            db,
            name=body.name,
            description=body.description,
            area_code=body.area_code,
            scope=scope,
            actor=actor,
            changes=_changes(body.changes),
        )
    )


@router.get("/scenarios/{scenario_id}", response_model=ScenarioOut)
def get_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=MAX_ID)], db: DbSession, scope: UserScope
) -> ScenarioOut:
    return scenario_out(scenarios.get_or_raise(db, scenario_id=scenario_id, scope=scope))


@router.put(
    "/scenarios/{scenario_id}/changes",
    response_model=ScenarioOut,
    dependencies=[requires(perms.WRITE)],
)
def replace_scenario_changes(
    scenario_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ChangesIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> ScenarioOut:
    scenario = scenarios.get_or_raise(db, scenario_id=scenario_id, scope=scope)
    return scenario_out(
        scenarios.replace_changes(
            db, scenario=scenario, scope=scope, actor=actor, changes=_changes(body.changes)
        )
    )


@router.delete("/scenarios/{scenario_id}", status_code=204, dependencies=[requires(perms.WRITE)])
def delete_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> Response:
    scenarios.delete(
        db, scenario=scenarios.get_or_raise(db, scenario_id=scenario_id, scope=scope), actor=actor
    )
    return Response(status_code=204)


@router.post("/scenarios/{scenario_id}/compare", response_model=RunOut, status_code=201)
def compare_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: CompareIn,
    request: Request,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> RunOut:
    """Today's coverage beside the scenario's: per ring, per area, and the gain."""
    scenarios.get_or_raise(db, scenario_id=scenario_id, scope=scope)
    params = params_from(body, scope) | {"scenario_id": scenario_id}
    result = tasks.run_compare(db, params, get_settings(request).data_dir)
    return run_out(
        _stored(db, kind=RunKind.COMPARE, params=params, scope=scope, actor=actor,
                result=result, scenario_id=scenario_id)
    )  # fmt: skip


@router.post("/scenarios/{scenario_id}/replay", response_model=RunOut, status_code=201)
def replay_scenario(
    scenario_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ScenarioReplayIn,
    request: Request,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> RunOut:
    """A recorded day dispatched again with today's units and with the scenario's: the
    simulated 1/3/5-minute KPIs side by side (the dispatch replay's model)."""
    scenarios.get_or_raise(db, scenario_id=scenario_id, scope=scope)
    params = params_from(body, scope) | {"scenario_id": scenario_id}
    settings = get_settings(request)
    result = tasks.run_replay(db, params, settings.data_dir, settings.zone)
    return run_out(
        _stored(db, kind=RunKind.REPLAY, params=params, scope=scope, actor=actor,
                result=result, scenario_id=scenario_id)
    )  # fmt: skip


# --- checkpoints and the control ring -------------------------------------------------------


def checkpoint_out(c: Checkpoint) -> CheckpointOut:
    return CheckpointOut(
        id=c.id,
        code=c.code,
        name=c.name,
        road=c.road,
        direction=c.direction,
        status=c.status,
        lon=c.lon,
        lat=c.lat,
        area_id=c.area_id,
    )


@router.get("/checkpoints", response_model=list[CheckpointOut])
def list_checkpoints(db: DbSession, scope: UserScope) -> list[CheckpointOut]:
    """The checkpoints (卡口) of your areas, by code."""
    return [checkpoint_out(c) for c in ring.get_checkpoints(db, scope=scope)]


@router.post(
    "/checkpoints",
    response_model=CheckpointOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def create_checkpoint(
    body: CheckpointIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> CheckpointOut:
    return checkpoint_out(
        ring.create_checkpoint(
            db,
            code=body.code,
            name=body.name,
            road=body.road,
            direction=body.direction,
            status=body.status,
            lon=float(body.lon),
            lat=float(body.lat),
            area_code=body.area_code,
            scope=scope,
            actor=actor,
        )
    )


@router.get("/checkpoints/{checkpoint_id}", response_model=CheckpointOut)
def get_checkpoint(
    checkpoint_id: Annotated[int, Path(ge=1, le=MAX_ID)], db: DbSession, scope: UserScope
) -> CheckpointOut:
    return checkpoint_out(
        ring.get_checkpoint_or_raise(db, checkpoint_id=checkpoint_id, scope=scope)
    )


@router.patch(
    "/checkpoints/{checkpoint_id}",
    response_model=CheckpointOut,
    dependencies=[requires(perms.WRITE)],
)
def update_checkpoint(
    checkpoint_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: CheckpointPatch,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> CheckpointOut:
    found = ring.get_checkpoint_or_raise(db, checkpoint_id=checkpoint_id, scope=scope)
    return checkpoint_out(
        ring.update_checkpoint(
            db,
            checkpoint=found,
            scope=scope,
            actor=actor,
            name=body.name,
            road=body.road,
            direction=body.direction,
            status=body.status,
            lon=None if body.lon is None else float(body.lon),
            lat=None if body.lat is None else float(body.lat),
            area_code=body.area_code,
        )
    )


@router.delete(
    "/checkpoints/{checkpoint_id}", status_code=204, dependencies=[requires(perms.WRITE)]
)
def delete_checkpoint(
    checkpoint_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> Response:
    found = ring.get_checkpoint_or_raise(db, checkpoint_id=checkpoint_id, scope=scope)
    ring.delete_checkpoint(db, checkpoint=found, actor=actor)
    return Response(status_code=204)


@router.post("/ring", response_model=RunOut, status_code=201)
def create_ring(
    body: RingIn, request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> RunOut:
    """The control ring of an area's boundary: every road crossing it by class, which have a
    checkpoint within ``snap_m``, the closure share (count and weighted) against the target,
    and the next ``k`` checkpoints that raise it most."""
    params = params_from(body, scope)
    result = tasks.run_ring(db, params, get_settings(request).data_dir)
    return run_out(
        _stored(db, kind=RunKind.RING, params=params, scope=scope, actor=actor, result=result)
    )


@router.get("/ring/settings", response_model=RingSettings)
def get_ring_settings(db: DbSession) -> RingSettings:
    """The road-class weights and the target share in force."""
    weights, target = ring.settings(db)
    return RingSettings(weights=weights, target=target)


@router.put("/ring/settings", response_model=RingSettings, dependencies=[requires(perms.WRITE)])
def put_ring_settings(
    body: RingSettings, db: DbSession, user: CurrentUser, actor: RequestActor
) -> RingSettings:
    """Edit the road-class weights (0-1000 each) and the target share (0-1]."""
    auth.require(user, perms.WRITE)
    weights, target = ring.save_settings(
        db,
        weights={k: float(v) for k, v in body.weights.items()},
        target=float(body.target),
        actor=actor,
    )
    return RingSettings(weights=weights, target=target)


@router.get("/weight-columns", response_model=WeightColumnsOut)
def weight_columns(db: DbSession) -> WeightColumnsOut:
    """The address weight columns imported (for ``weight_column``)."""
    return WeightColumnsOut(columns=demand.weight_columns(db))
