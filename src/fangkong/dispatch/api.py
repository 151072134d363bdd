"""REST API of dispatch: ``/api/v1/incidents``, ``/api/v1/units``, ``/api/v1/dispatch/kpis``.

Every read is scoped to the user's areas; the caller's contact is masked except through the
audited ``/incidents/{id}/caller-contact``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from fangkong.areas import service as area_service
from fangkong.core import auth
from fangkong.core.bounds import Id, Moment, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput, NotFound, Unauthorized
from fangkong.core.i18n import translate
from fangkong.dispatch import (
    fastpath,
    history_api,
    kpis,
    live,
    present,
    recommend,
    service,
    taxonomy,
)
from fangkong.dispatch import permissions as perms
from fangkong.dispatch import replay as replay_service
from fangkong.dispatch.models import (
    Incident,
    Post,
    ReplayRun,
    Unit,
    UnitStatus,
    UnitType,
)
from fangkong.dispatch.schemas import (
    BreachOut,
    CandidateOut,
    CategoryOut,
    ContactOut,
    DispatchIn,
    ImportOut,
    IncidentDetail,
    IncidentIn,
    KpisOut,
    LiveOut,
    PositionIn,
    PostIn,
    PostOut,
    RecommendationOut,
    ReplayIn,
    ReplayOut,
    ReplaySummaryOut,
    RowErrorOut,
    SubtypeOut,
    SummaryOut,
    TransitionIn,
    UnitIn,
    UnitOut,
)
from fangkong.http.deps import (
    LANGUAGE_COOKIE,
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    check_csrf,
    client_address,
    credential_of,
    get_cipher,
    get_settings,
    requires,
)
from fangkong.network import service as network_service

router = APIRouter(tags=["dispatch"], dependencies=[requires(perms.READ)])
# The list of incidents and its export (the incident history's filters), a module of its own.
router.include_router(history_api.router)
#: The largest incident file (CSV or JSON) the import takes; its route's body limit is this
#: and a form's overhead (see web/app.py).
MAX_IMPORT_BYTES = 5 << 20
#: Seconds of silence after which a live stream sends a comment line.
KEEPALIVE_S = 15.0


def _network(request: Request) -> network_service.Network:
    return network_service.current(get_settings(request).data_dir)


def _network_of(request: Request, db: DbSession, incident: Incident) -> network_service.Network:
    """The network ranking units for ``incident``: its county's (cross-border where built)
    in a province deployment, else the current one (:func:`network_service.for_area`)."""
    data_dir = get_settings(request).data_dir
    return network_service.for_area(db, data_dir, area_path=incident.area_path)


def _detail(request: Request, db: DbSession, incident: Incident, language: str) -> IncidentDetail:
    road = present.roads(present.network_or_none(get_settings(request).data_dir), [incident])[0]
    return present.detail_of(db, incident, language, cipher=get_cipher(request), road=road)


def _unit_out(unit: Unit) -> UnitOut:
    return UnitOut(
        id=unit.id,
        call_sign=unit.call_sign,
        type=unit.unit_type,
        home_area_id=unit.home_area_id,
        status=unit.status,
        staged=unit.staged,
        home_post_id=unit.home_post_id,
        lon=unit.lon,
        lat=unit.lat,
        position_at=unit.position_at,
    )


# --- incidents -------------------------------------------------------------------------------


@router.get("/incidents/categories", response_model=list[CategoryOut])
def categories(language: Language) -> list[CategoryOut]:
    """The two-level taxonomy with labels in the user's language."""
    return [
        CategoryOut(
            category=c,
            label=translate(f"dispatch.category.{c}", language),
            subtypes=[
                SubtypeOut(subtype=s, label=translate(f"dispatch.subtype.{c}.{s}", language))
                for s in subs
            ],
        )
        for c, subs in taxonomy.TAXONOMY.items()
    ]


# Intake has a router of its own, without the READ dependency of the others: its handler does
# no I/O, and who sent it is resolved in the group commit's transaction (see intake.py).
intake_router = APIRouter(tags=["dispatch"])


# The header and the body are read by hand and documented here: as declared parameters,
# FastAPI's parsing of the header cost more than the body's validation, and it parsed the body
# to Python objects before validating them, where pydantic validates the JSON text in one
# step. The key's length and characters are checked with the body's key (service._check_key).
_KEY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": service.MAX_KEY_LENGTH},
    "description": "A client-made key: a retry with it returns the original "
    "incident (200), never a duplicate",
}
# The body's schema as FastAPI would give it: its enums are the API's named schemas.
_INCIDENT_IN_SCHEMA = {
    key: value
    for key, value in IncidentIn.model_json_schema(
        ref_template="#/components/schemas/{model}"
    ).items()
    if key != "$defs"
}
_INCIDENT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _INCIDENT_IN_SCHEMA}},
}


@intake_router.post(
    "/incidents",
    response_model=IncidentDetail,
    status_code=201,
    responses={
        200: {
            "model": IncidentDetail,
            "description": "A retry: the incident first created with this idempotency key",
        },
        409: {"description": "The key was used for another request"},
    },
    openapi_extra={"parameters": [_KEY_HEADER], "requestBody": _INCIDENT_BODY},
)
async def create_incident(request: Request) -> Response:
    """Record an incident (接警). Send a client-made key in the ``Idempotency-Key`` header (or
    ``idempotency_key``): a retry returns the original with 200, never a duplicate.
    Needs the dispatch intake permission."""
    credential = credential_of(request)
    if credential.token is None:
        await check_csrf(request)
    # Who sent it first: a stranger's body is never read; nor one the writer has no room for.
    await fastpath.sender_check(request.app).check(credential)
    fastpath.check_room(request.app)
    return await fastpath.take_intake(
        request.app,
        credential,
        await request.body(),
        header_key=request.headers.get("idempotency-key"),
        client=client_address(request),
        language=request.cookies.get(LANGUAGE_COOKIE),
    )


@router.post("/incidents/import", response_model=ImportOut, dependencies=[requires(perms.INTAKE)])
def import_incidents(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> ImportOut:
    """Bulk import from a UTF-8 CSV with a header row, or a JSON array of objects (a name
    ending in .json, or text starting with ``[``). Fields: idempotency_key, category, subtype,
    priority, source, lon and lat or address_code, and optionally description and
    caller_contact. Errors are reported per row (CSV line, or JSON item from 1) and the good
    rows import; a row imported before is reported as existing."""
    raw = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.dispatch.file_large",
            params={"mib": MAX_IMPORT_BYTES // (1 << 20)},
            field="file",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(key="error.dispatch.file_not_utf8", field="file") from None
    report = service.import_file(
        db,
        name=file.filename or "",
        text=text,
        actor=actor,
        now=utcnow(),
        cipher=get_cipher(request),
        scope=scope,
        user=user,
    )
    return ImportOut(
        created=report.created,
        existing=report.existing,
        errors=[_row_error(e) for e in report.errors],
    )


def _row_error(error: service.RowError) -> RowErrorOut:
    """A row's fault: its English message, and the refusal's stable code and values."""
    body = error.error.to_dict() if error.error is not None else {}
    return RowErrorOut(
        row=error.row,
        field=error.field,
        message=error.message,
        code=body.get("code"),
        params=body.get("params"),
    )


@router.get("/incidents/{incident_id:int}", response_model=IncidentDetail)
def read_incident(
    incident_id: Id, request: Request, db: DbSession, scope: UserScope, language: Language
) -> IncidentDetail:
    """One incident with its timeline and dispatch records; the contact masked."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    return _detail(request, db, incident, language)


@router.post(
    "/incidents/{incident_id:int}/transitions",
    response_model=IncidentDetail,
    dependencies=[requires(perms.ACT)],
)
def take_transition(
    incident_id: Id,
    body: TransitionIn,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> IncidentDetail:
    """Move the incident (en_route, on_scene, cleared, closed, cancelled, merged); an invalid
    move answers 409 naming from and to."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    merged_into = (
        service.get_or_raise(db, incident_id=body.merged_into_id, scope=scope)
        if body.merged_into_id is not None
        else None
    )
    service.transition(
        db,
        incident=incident,
        to=body.to,
        actor=actor,
        now=utcnow(),
        note=body.note,
        merged_into=merged_into,
        user=user,
    )
    return _detail(request, db, incident, language)


@router.get(
    "/incidents/{incident_id:int}/recommendation",
    response_model=RecommendationOut,
    dependencies=[requires(perms.ACT)],
)
def recommendation(
    incident_id: Id,
    request: Request,
    db: DbSession,
    scope: UserScope,
    limit: Annotated[int, Query(ge=1, le=recommend.MAX_LIMIT)] = 5,
) -> RecommendationOut:
    """Available units of your areas ranked by road time, with expected arrival and ring;
    a P1 incident is suggested two reinforcements."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    units = service.get_units(db, scope=scope, status=UnitStatus.AVAILABLE)
    ranked = recommend.recommend(
        _network_of(request, db, incident), incident=incident, units=units, now=utcnow(),
        limit=limit,
    )  # fmt: skip
    return RecommendationOut(
        incident_id=incident.id,
        priority=incident.priority,
        candidates=[
            CandidateOut(
                rank=c.rank,
                unit_id=c.unit.id,
                call_sign=c.unit.call_sign,
                unit_type=c.unit.unit_type,
                staged=c.unit.staged,
                time_s=c.time_s,
                eta=c.eta,
                ring=c.ring,
                role=c.role,
                suggested=c.suggested,
            )
            for c in ranked
        ],
    )


@router.post(
    "/incidents/{incident_id:int}/dispatch",
    response_model=IncidentDetail,
    dependencies=[requires(perms.ACT)],
)
def dispatch_units(
    incident_id: Id,
    body: DispatchIn,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> IncidentDetail:
    """Send one or several units at once (派警): the incident becomes dispatched, the units
    en route; each dispatch record keeps the road time predicted now."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    units = [service.get_unit_or_raise(db, unit_id=u, scope=scope) for u in body.unit_ids]
    try:
        predicted = recommend.predict(
            _network_of(request, db, incident), incident=incident, units=units
        )
    except (InvalidInput, NotFound):
        predicted = {}  # no network, or the scene off the roads: dispatch without a forecast
    service.dispatch(
        db,
        incident=incident,
        units=units,
        actor=actor,
        now=utcnow(),
        predicted_s=predicted,
        user=user,
    )
    return _detail(request, db, incident, language)


@router.post(
    "/incidents/{incident_id:int}/units/{unit_id:int}/arrival",
    response_model=IncidentDetail,
    dependencies=[requires(perms.ACT)],
)
def unit_arrival(
    incident_id: Id,
    unit_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> IncidentDetail:
    """One assigned unit reached the scene (到场); the first one puts the incident on scene,
    reinforcements arrive on their own time."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    unit = service.get_unit_or_raise(db, unit_id=unit_id, scope=scope)
    service.arrive(db, incident=incident, unit=unit, actor=actor, now=utcnow(), user=user)
    return _detail(request, db, incident, language)


@router.get(
    "/incidents/{incident_id:int}/caller-contact",
    response_model=ContactOut,
    dependencies=[requires(perms.UNMASK)],
)
def caller_contact(
    incident_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ContactOut:
    """The caller's contact in clear; every read is audited (read_personal)."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    return ContactOut(
        incident_id=incident.id,
        caller_contact=service.reveal_contact(
            db, incident=incident, viewer=user, cipher=get_cipher(request), actor=actor
        ),
    )


# --- units -----------------------------------------------------------------------------------


@router.get("/units", response_model=list[UnitOut])
def list_units(
    db: DbSession, scope: UserScope, status: UnitStatus | None = None, type: UnitType | None = None
) -> list[UnitOut]:
    """Units based in your areas, with their latest position."""
    return [_unit_out(u) for u in service.get_units(db, scope=scope, status=status, unit_type=type)]


@router.post(
    "/units", response_model=UnitOut, status_code=201, dependencies=[requires(perms.UNITS)]
)
def create_unit(
    body: UnitIn, db: DbSession, user: CurrentUser, scope: UserScope, actor: RequestActor
) -> UnitOut:
    """Register a unit based in one of your areas."""
    home = area_service.get_by_code_or_raise(db, code=body.home_area_code, scope=scope)
    post = (
        service.get_post_by_code_or_raise(db, code=body.home_post_code, scope=scope)
        if body.home_post_code
        else None
    )
    return _unit_out(
        service.create_unit(
            db,
            call_sign=body.call_sign,
            unit_type=body.type,
            home_area=home,
            actor=actor,
            staged=body.staged,
            home_post=post,
            now=utcnow(),
            user=user,
        )
    )


# --- posts -----------------------------------------------------------------------------------


def _post_out(post: Post) -> PostOut:
    return PostOut(
        id=post.id,
        code=post.code,
        name=post.name,
        kind=post.kind,
        lon=post.lon,
        lat=post.lat,
        area_id=post.area_id,
    )


@router.get("/posts", response_model=list[PostOut])
def list_posts(db: DbSession, scope: UserScope) -> list[PostOut]:
    """Police posts in your areas (the fixed sites units are based at)."""
    return [_post_out(p) for p in service.get_posts(db, scope=scope)]


@router.post(
    "/posts", response_model=PostOut, status_code=201, dependencies=[requires(perms.UNITS)]
)
def create_post(
    body: PostIn, db: DbSession, user: CurrentUser, scope: UserScope, actor: RequestActor
) -> PostOut:
    """Register a police post in one of your areas."""
    return _post_out(
        service.create_post(
            db,
            code=body.code,
            name=body.name,
            kind=body.kind,
            lon=body.lon,
            lat=body.lat,
            actor=actor,
            scope=scope,
            user=user,
        )
    )


@router.post(
    "/units/{unit_id:int}/position", response_model=UnitOut, dependencies=[requires(perms.POSITION)]
)
def report_position(
    unit_id: Id, body: PositionIn, db: DbSession, user: CurrentUser, scope: UserScope
) -> UnitOut:
    """Report a unit's position (only the latest is kept), staged flag and availability."""
    unit = service.get_unit_or_raise(db, unit_id=unit_id, scope=scope)
    status = UnitStatus(body.status) if body.status is not None else None
    return _unit_out(
        service.report_position(
            db,
            unit=unit,
            lon=body.lon,
            lat=body.lat,
            now=utcnow(),
            staged=body.staged,
            status=status,
            user=user,
        )
    )


# --- live command map ------------------------------------------------------------------------


@router.get("/dispatch/live", response_model=LiveOut)
def live_snapshot(db: DbSession, scope: UserScope) -> dict[str, Any]:
    """What the live command map shows now: open incidents, units, posts, breach alerts."""
    return live.ChangeFeed(scope=scope).start(db, now=utcnow())


@router.get("/dispatch/alerts", response_model=list[BreachOut])
def breach_alerts(db: DbSession, scope: UserScope) -> list[dict[str, Any]]:
    """Open P1/P2 incidents of your areas past a response ring with no unit on scene."""
    return [live.breach_item(b) for b in live.breaches(db, scope=scope, now=utcnow())]


def _sse(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(
    request: Request, feed: live.ChangeFeed, credential: auth.Credential, idle_s: float | None
) -> AsyncIterator[str]:
    """The stream of ``feed``; it ends with its session or token (each look checks
    ``credential`` again: logout, deactivation, revocation) and, for a console session, after
    ``idle_s`` (the browser reconnects with its cookie, refused once the user is idle)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    ends = None if idle_s is None else time.monotonic() + idle_s

    def read(step: Callable[[Session], Any]) -> Any:
        with factory() as session:
            return step(session)

    def look(session: Session) -> list[live.Event]:
        auth.user_for(session, credential)
        return feed.changes(session, now=utcnow())

    with live.BROKER.subscribe() as woken:
        snapshot = await anyio.to_thread.run_sync(read, lambda s: feed.start(s, now=utcnow()))
        yield "retry: 3000\n\n" + _sse("snapshot", snapshot)
        last_look = last_sent = time.monotonic()
        while not await request.is_disconnected():
            if ends is not None and time.monotonic() > ends:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=live.TICK_S)
            events: list[live.Event] = []
            if woken.is_set() or time.monotonic() - last_look >= live.POLL_S:
                woken.clear()  # before the read: a commit during it wakes the next round
                try:
                    events = await anyio.to_thread.run_sync(read, look)
                except Unauthorized:
                    return
                last_look = time.monotonic()
            events += feed.alerts(now=utcnow())
            if events:
                yield "".join(_sse(kind, item) for kind, item in events)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent > KEEPALIVE_S:
                yield ": keep-alive\n\n"  # proxies close a silent connection
                last_sent = time.monotonic()


@router.get(
    "/dispatch/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: `snapshot` (shaped like "
            "/dispatch/live), then `incident`, `unit`, `post`, `alert`",
        }
    },
)
async def live_stream(request: Request, scope: UserScope) -> StreamingResponse:
    """The live command map's updates, pushed as Server-Sent Events (until the session or the
    token ends)."""
    credential = credential_of(request)
    idle_s = None if credential.token else get_settings(request).session_idle_timeout_s
    return StreamingResponse(
        _stream(request, live.ChangeFeed(scope=scope), credential, idle_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- KPIs ------------------------------------------------------------------------------------


@router.get("/dispatch/kpis", response_model=KpisOut)
def response_kpis(
    db: DbSession,
    scope: UserScope,
    start: Moment,
    end: Moment,
    area: Annotated[Text | None, Query(max_length=32)] = None,
    basis: Literal["dispatch", "call"] = "dispatch",
) -> KpisOut:
    """Response-ring KPIs of the incidents received in [start, end) in an area of yours:
    share within 1/3/5 minutes, p50/p90 of each interval, counts by category (formulas in
    ``fangkong.dispatch.kpis``)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(key="error.period.zone", field="start")
    if end - start > timedelta(days=3660):
        raise InvalidInput(key="error.period.span_ten_years", field="end")
    chosen = area_service.get_by_code_or_raise(db, code=area, scope=scope) if area else None
    result = kpis.area_kpis(db, scope=scope, start=start, end=end, area=chosen, basis=basis)
    return KpisOut(
        area_code=area,
        start=start,
        end=end,
        basis=basis,
        incidents=result.incidents,
        ring_share=result.ring_share,
        call_to_dispatch=SummaryOut(**vars(result.call_to_dispatch)),
        dispatch_to_arrival=SummaryOut(**vars(result.dispatch_to_arrival)),
        call_to_arrival=SummaryOut(**vars(result.call_to_arrival)),
        by_category=result.by_category,
    )


# --- replay ----------------------------------------------------------------------------------


def _replay_summary(run: ReplayRun, report: dict[str, object]) -> dict[str, object]:
    return {
        "id": run.id,
        "day": run.day,
        "area_code": report.get("area_code"),
        "created_at": run.created_at,
        "created_by_id": run.created_by_id,
        "replayed": report.get("replayed", 0),
    }


def _replay_out(run: ReplayRun) -> ReplayOut:
    report = replay_service.report_of(run)
    return ReplayOut.model_validate({**_replay_summary(run, report), "report": report})


@router.post(
    "/dispatch/replays",
    response_model=ReplayOut,
    status_code=201,
    dependencies=[requires(perms.ACT)],
)
def create_replay(
    body: ReplayIn,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ReplayOut:
    """Replay a recorded day against the current units of your areas (nearest free unit by
    road time, in received order) and store the report: response-ring KPIs side by side with
    the recorded ones (model: ``fangkong.dispatch.replay``)."""
    day = body.day
    area = (
        area_service.get_by_code_or_raise(db, code=body.area_code, scope=scope)
        if body.area_code
        else None
    )
    run = replay_service.replay_day(
        db,
        network=_network(request),
        day=day,
        zone=get_settings(request).zone,
        scope=scope,
        area=area,
        actor=actor,
        user=user,
        turnout_s=body.turnout_s,
    )
    return _replay_out(run)


@router.get("/dispatch/replays", response_model=list[ReplaySummaryOut])
def list_replays(
    db: DbSession,
    scope: UserScope,
    limit: Annotated[int, Query(ge=1, le=replay_service.MAX_RUNS)] = 50,
) -> list[ReplaySummaryOut]:
    """Replays filed under your areas, newest first (without their reports)."""
    return [
        ReplaySummaryOut.model_validate(_replay_summary(r, replay_service.report_of(r)))
        for r in replay_service.get_runs(db, scope=scope, limit=limit)
    ]


@router.get("/dispatch/replays/{replay_id:int}", response_model=ReplayOut)
def read_replay(replay_id: Id, db: DbSession, scope: UserScope) -> ReplayOut:
    """One replay with its report."""
    return _replay_out(replay_service.get_run_or_raise(db, run_id=replay_id, scope=scope))
