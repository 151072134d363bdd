"""Console pages of dispatch: the board of open incidents with timers, the recommendation of
units for one incident and the dispatch of the chosen units (htmx partials)."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fangkong.areas import service as area_service
from fangkong.areas.models import Area, AreaLevel
from fangkong.core import auth
from fangkong.core.bounds import Day, Id, Latitude, Longitude, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput, NotFound
from fangkong.core.i18n import translate
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.dispatch import history_pages, kpis, live, recommend, service, taxonomy
from fangkong.dispatch import permissions as perms
from fangkong.dispatch import replay as replay_service
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Priority,
    ReplayRun,
    Source,
    UnitStatus,
    UnitType,
)
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_cipher,
    get_settings,
    requires,
)
from fangkong.http.templating import render
from fangkong.network import service as network_service

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
# The incident history (警情查询), a module of its own.
router.include_router(history_pages.router)
BOARD_SIZE = 200


class Labels:
    """Translated names of the dispatch domain's values (catalogue keys ``dispatch.*``)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def _t(self, key: str) -> str:
        return translate(key, self.language)

    def category(self, incident: Incident) -> str:
        return (
            self._t(f"dispatch.category.{incident.category}")
            + " · "
            + self._t(f"dispatch.subtype.{incident.category}.{incident.subtype}")
        )

    def state(self, status: IncidentStatus) -> str:
        return self._t(f"dispatch.state.{status.value}")

    def action(self, status: IncidentStatus) -> str:
        """The button that moves an incident to ``status``, named by what it does (撤销 /
        Cancel), not by the state it leads to (已撤销 / Cancelled)."""
        return self._t(f"dispatch.action.{status.value}")

    def confirm(self, status: IncidentStatus, incident: Incident) -> str | None:
        """What a move that cannot be undone will do, asked before it is made (None: no
        question)."""
        if status != IncidentStatus.CANCELLED:
            return None
        units = sum(1 for a in incident.assignments if a.released_at is None)
        if units:
            return translate(
                "dispatch.confirm.cancel_units", self.language, id=incident.id, units=units
            )
        return translate("dispatch.confirm.cancel", self.language, id=incident.id)

    def unit_type(self, unit_type: UnitType) -> str:
        return self._t(f"dispatch.unit_type.{unit_type.value}")

    def ring(self, ring: str) -> str:
        return self._t(f"dispatch.ring.{ring}")

    def role(self, role: str) -> str:
        return self._t(f"dispatch.role.{role}")


def live_labels(language: str) -> dict[str, str]:
    """The labels the live command map's script needs (``static/live.js``)."""
    labels = {
        f"category.{c}": translate(f"dispatch.category.{c}", language) for c in taxonomy.TAXONOMY
    }
    labels |= {
        f"state.{s.value}": translate(f"dispatch.state.{s.value}", language) for s in IncidentStatus
    }
    labels |= {
        f"state_unit.{s.value}": translate(f"dispatch.unit_state.{s.value}", language)
        for s in UnitStatus
    }
    labels |= {
        f"ring.{r}": translate(f"dispatch.breach.{r}", language) for _, r in recommend.RINGS_S
    }
    labels |= {
        "waiting": translate("dispatch.waiting", language),
        "post": translate("dispatch.post", language),
        "suggested_routes": translate("dispatch.suggested_routes", language),
        "minutes": translate("dispatch.minutes", language),
    }
    return labels


def _rows(request: Request, db: DbSession, scope: Scope, language: str) -> dict[str, Any]:
    _, items = service.get_all(
        db, scope=scope, filters=service.IncidentFilter(open=True), limit=BOARD_SIZE
    )
    cipher = get_cipher(request)
    ids = {i.area_id for i in items if i.area_id is not None}
    codes: dict[int, str] = {}
    if ids:
        codes = {
            int(a): str(c)
            for a, c in db.execute(select(Area.id, Area.code).where(Area.id.in_(ids)))
        }
    now = utcnow()
    return {
        "incidents": items,
        "now": now,
        "codes": codes,
        "labels": Labels(language),
        "masked": {i.id: service.masked_contact(i, cipher) for i in items},
        "breaches": {i.id: b for i in items if (b := live.breach_of(i, now)) is not None},
    }


def _can_act(user: User) -> bool:
    return auth.can(user, perms.ACT)


def _intake_context(user: User, language: str) -> dict[str, Any]:
    """What the intake form needs: the taxonomy's choices, and a fresh idempotency key so
    that a double submit or a resent form records the incident once."""
    choices = [
        (
            category,
            translate(f"dispatch.category.{category}", language),
            [
                (f"{category}/{sub}", translate(f"dispatch.subtype.{category}.{sub}", language))
                for sub in subtypes
            ],
        )
        for category, subtypes in taxonomy.TAXONOMY.items()
    ]
    return {
        "can_intake": auth.can(user, perms.INTAKE),
        "form_key": uuid.uuid4().hex,
        "choices": choices,
        "priorities": list(Priority),
        "sources": list(Source),
    }


@router.get("/incidents", response_class=HTMLResponse)
def board(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    created: int | None = None,
    lon: Longitude | None = None,
    lat: Latitude | None = None,
) -> HTMLResponse:
    """接处警看板: the open incidents of your areas with their waiting time, and the intake
    form; with ``lon`` and ``lat`` (a click on the command map) the form opens at that
    point, the nearest standard address of your areas offered."""
    form: dict[str, str] = {}
    nearest = None
    if lon is not None and lat is not None and auth.can(user, perms.INTAKE):
        form = {"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"}
        nearest = area_service.nearest_address(db, scope=scope, lon=lon, lat=lat)
    return render(
        request,
        "dispatch/board.html",
        language=language,
        user=user,
        can_act=_can_act(user),
        created=created,
        form=form,
        form_error=None,
        from_map=bool(form),
        nearest=nearest,
        **_intake_context(user, language),
        **_rows(request, db, scope, language),
    )


@router.post("/incidents/new", response_class=HTMLResponse, dependencies=[requires(perms.INTAKE)])
def intake_form(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    key: Annotated[Text, Form()],
    kind: Annotated[Text, Form()],
    priority: Annotated[Priority, Form()],
    source: Annotated[Source, Form()],
    lon: Annotated[Text, Form()] = "",
    lat: Annotated[Text, Form()] = "",
    address_code: Annotated[Text, Form()] = "",
    description: Annotated[Text, Form()] = "",
    caller_contact: Annotated[Text, Form()] = "",
) -> Response:
    """Record an incident from the console; the board shows it (PRG: no resubmit on reload)."""
    category, _, subtype = kind.partition("/")
    try:
        x, y = service.place(db, lon=lon, lat=lat, address_code=address_code, scope=scope)
        data = service.IncidentIn(
            category=category,
            subtype=subtype,
            priority=priority,
            source=source,
            lon=x,
            lat=y,
            description=description.strip(),
            caller_contact=caller_contact.strip() or None,
        )
        incident, _ = service.create(
            db,
            key=key,
            data=data,
            actor=actor,
            now=utcnow(),
            cipher=get_cipher(request),
            scope=scope,
            user=user,
        )
    except FangkongError as exc:
        form = {
            "kind": kind,
            "priority": priority.value,
            "source": source.value,
            "lon": lon,
            "lat": lat,
            "address_code": address_code,
            "description": description,
        }
        context = _intake_context(user, language) | {"form_key": key}
        return render(
            request,
            "dispatch/board.html",
            language=language,
            user=user,
            status_code=422,
            can_act=_can_act(user),
            created=None,
            form=form,
            form_error=exc.text(language),
            **context,
            **_rows(request, db, scope, language),
        )
    return RedirectResponse(f"/incidents?created={incident.id}", status_code=303)


@router.get("/incidents/rows", response_class=HTMLResponse)
def board_rows(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    return render(
        request,
        "dispatch/rows.html",
        language=language,
        user=user,
        can_act=_can_act(user),
        **_rows(request, db, scope, language),
    )


def _panel(
    request: Request, language: str, user: User, incident: Incident, **context: Any
) -> HTMLResponse:
    return render(
        request,
        "dispatch/recommend.html",
        language=language,
        user=user,
        incident=incident,
        labels=Labels(language),
        **context,
    )


@router.get(
    "/incidents/{incident_id:int}/recommend",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACT)],
)
def recommend_panel(
    incident_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> HTMLResponse:
    """The ranked units for one incident, the suggested ones ticked, with a dispatch button."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    try:
        network = network_service.current(get_settings(request).data_dir)
        units = service.get_units(db, scope=scope, status=UnitStatus.AVAILABLE)
        candidates = recommend.recommend(network, incident=incident, units=units, now=utcnow())
    except FangkongError as exc:
        return _panel(request, language, user, incident, candidates=[], error=exc.text(language))
    return _panel(request, language, user, incident, candidates=candidates, error=None)


@router.post(
    "/incidents/{incident_id:int}/dispatch",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACT)],
)
def dispatch_form(
    incident_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    unit_id: Annotated[list[Id] | None, Form()] = None,
) -> HTMLResponse:
    """Send the ticked units; the board's rows refresh (``incidents-changed``)."""
    unit_ids = unit_id or []
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    units = [service.get_unit_or_raise(db, unit_id=u, scope=scope) for u in unit_ids]
    try:
        network = network_service.current(get_settings(request).data_dir)
        predicted = recommend.predict(network, incident=incident, units=units)
    except FangkongError:
        predicted = {}
    try:
        service.dispatch(
            db,
            incident=incident,
            units=units,
            actor=actor,
            now=utcnow(),
            predicted_s=predicted,
            user=user,
        )
    except FangkongError as exc:
        return _panel(request, language, user, incident, candidates=[], error=exc.text(language))
    response = _panel(
        request,
        language,
        user,
        incident,
        candidates=[],
        error=None,
        sent=[u.call_sign for u in units],
    )
    response.headers["HX-Trigger"] = "incidents-changed"
    return response


# --- one incident ----------------------------------------------------------------------------

# The moves a person makes from the detail page; dispatch and merge have their own forms.
PAGE_MOVES = (
    IncidentStatus.EN_ROUTE,
    IncidentStatus.ON_SCENE,
    IncidentStatus.CLEARED,
    IncidentStatus.CLOSED,
    IncidentStatus.CANCELLED,
)


def _detail_page(
    request: Request,
    db: DbSession,
    user: User,
    incident: Incident,
    language: str,
    *,
    error: str | None = None,
) -> HTMLResponse:
    moves = [m for m in PAGE_MOVES if m in service.TRANSITIONS[incident.status]]
    dispatchable = incident.status in service.DISPATCHABLE
    code = db.scalar(select(Area.code).where(Area.id == incident.area_id))
    try:
        network = network_service.current(get_settings(request).data_dir)
        road = recommend.road_access(network, incident.lon, incident.lat)
        no_network = False
    except NotFound:
        road, no_network = None, True
    return render(
        request,
        "dispatch/detail.html",
        language=language,
        user=user,
        status_code=409 if error else 200,
        incident=incident,
        area_code=code,
        labels=Labels(language),
        can_act=_can_act(user),
        moves=moves,
        dispatchable=dispatchable,
        error=error,
        masked=service.masked_contact(incident, get_cipher(request)),
        breach=live.breach_of(incident, utcnow()),
        road=road,
        no_network=no_network,
    )


@router.get("/incidents/{incident_id:int}", response_class=HTMLResponse)
def incident_page(
    incident_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> HTMLResponse:
    """One incident: its times, units and timeline, and the moves open to it."""
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    return _detail_page(request, db, user, incident, language)


@router.post(
    "/incidents/{incident_id:int}/move",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACT)],
)
def move_form(
    incident_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    to: Annotated[IncidentStatus, Form()],
    note: Annotated[Text, Form(max_length=2000)] = "",
) -> Response:
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    try:
        service.transition(
            db,
            incident=incident,
            to=to,
            actor=actor,
            now=utcnow(),
            note=note.strip() or None,
            user=user,
        )
    except FangkongError as exc:
        return _detail_page(request, db, user, incident, language, error=exc.text(language))
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


@router.post(
    "/incidents/{incident_id:int}/units/{unit_id:int}/arrival",
    response_class=HTMLResponse,
    dependencies=[requires(perms.ACT)],
)
def arrival_form(
    incident_id: Id,
    unit_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
) -> Response:
    incident = service.get_or_raise(db, incident_id=incident_id, scope=scope)
    unit = service.get_unit_or_raise(db, unit_id=unit_id, scope=scope)
    try:
        service.arrive(db, incident=incident, unit=unit, actor=actor, now=utcnow(), user=user)
    except FangkongError as exc:
        return _detail_page(request, db, user, incident, language, error=exc.text(language))
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)


# --- KPIs ----------------------------------------------------------------------------------

#: The longest period the KPI page computes in one request (days).
KPI_MAX_DAYS = 366


@router.get("/dispatch/kpis", response_class=HTMLResponse)
def kpi_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    area: Annotated[Text | None, Query(max_length=32)] = None,
    start: Day | None = None,
    end: Day | None = None,
    basis: Literal["dispatch", "call"] = "dispatch",
) -> HTMLResponse:
    """响应圈考核: the response-ring KPIs of an area and period (dates in the county's zone,
    both days included), and the same for each of its sub-areas."""
    zone = get_settings(request).zone
    today = utcnow().astimezone(zone).date()
    end = end or today
    start = start or end - timedelta(days=29)
    context: dict[str, Any] = {
        "area_code": area or "",
        "start": start,
        "end": end,
        "basis": basis,
        "result": None,
        "trend": [],
        "rows": [],
        "error": None,
        "areas": [a for a in area_service.get_all(db, scope=scope) if a.level.value != "grid"],
        "labels": Labels(language),
    }
    try:
        if end < start or (end - start).days >= KPI_MAX_DAYS:
            raise InvalidInput(
                key="error.dispatch.kpi_period", params={"days": KPI_MAX_DAYS}, field="end"
            )
        since = datetime.combine(start, time.min, tzinfo=zone)
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
        chosen = area_service.get_by_code_or_raise(db, code=area, scope=scope) if area else None
        context["result"] = kpis.area_kpis(
            db, scope=scope, start=since, end=until, area=chosen, basis=basis
        )
        # Ring shares day by day (week by week past two months): the chart and its table.
        context["trend"] = kpis.ring_shares_over_time(
            db, scope=scope, start=since, end=until, zone=zone, area=chosen, basis=basis
        )
        # The sub-areas of the chosen area; with none chosen, of the user's one root area
        # (or the roots themselves when the user holds several).
        roots = [a for a in context["areas"] if a.path in scope.paths]
        parent = chosen or (roots[0] if len(roots) == 1 else None)
        children = (
            area_service.get_all(db, scope=scope, parent_code=parent.code) if parent else roots
        )
        context["rows"] = [
            (
                child,
                kpis.area_kpis(db, scope=scope, start=since, end=until, area=child, basis=basis),
            )
            for child in children
        ]
    except FangkongError as exc:
        context["error"] = exc.text(language)
    return render(
        request,
        "dispatch/kpis.html",
        language=language,
        user=user,
        status_code=422 if context["error"] else 200,
        **context,
    )


# --- replay ----------------------------------------------------------------------------------

# Areas offered in the replay form: down to beat areas (grids hold too few incidents a day).
REPLAY_LEVELS = (AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.STATION, AreaLevel.BEAT)


class ReplayLabels(Labels):
    """The board's labels plus a category's name alone (the report counts by category)."""

    def category_name(self, category: str) -> str:
        return self._t(f"dispatch.category.{category}")


def _report_context(run: ReplayRun) -> dict[str, Any]:
    report = replay_service.report_of(run)
    return {
        "run": run,
        "report": report,
        "figures": replay_service.comparison(report),
        "categories": replay_service.by_category(report),
        "format_value": replay_service.format_value,
    }


def _replay_page(
    request: Request, db: DbSession, user: User, scope: Scope, language: str, **context: Any
) -> HTMLResponse:
    zone = get_settings(request).zone
    areas = [a for a in area_service.get_all(db, scope=scope) if a.level in REPLAY_LEVELS]
    today = utcnow().astimezone(zone).date()
    yesterday = today.fromordinal(today.toordinal() - 1).isoformat()
    context.setdefault("day", yesterday)
    context.setdefault("area_code", "")
    return render(
        request,
        "dispatch/replay.html",
        language=language,
        user=user,
        areas=areas,
        runs=replay_service.get_runs(db, scope=scope, limit=20),
        can_act=_can_act(user),
        labels=ReplayLabels(language),
        **context,
    )


def _report_partial(request: Request, language: str, user: User, **context: Any) -> HTMLResponse:
    return render(
        request,
        "dispatch/replay_report.html",
        language=language,
        user=user,
        labels=ReplayLabels(language),
        **context,
    )


@router.get("/dispatch/replay", response_class=HTMLResponse)
def replay_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    """警情回放: pick a day and an area, replay it against today's units, compare the rings."""
    return _replay_page(request, db, user, scope, language, run=None, error=None)


@router.post("/dispatch/replay", response_class=HTMLResponse, dependencies=[requires(perms.ACT)])
def replay_run(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    language: Language,
    day: Annotated[Text, Form()],
    area_code: Annotated[Text, Form()] = "",
    turnout_s: Annotated[float, Form(ge=0.0, le=replay_service.MAX_TURNOUT_S)] = 0.0,
) -> HTMLResponse:
    """Run a replay; htmx swaps the report in (a plain form post gets the whole page)."""
    partial = request.headers.get("HX-Request") == "true"
    try:
        chosen_day = replay_service.parse_day(day)
        area = (
            area_service.get_by_code_or_raise(db, code=area_code, scope=scope)
            if area_code
            else None
        )
        network = network_service.current(get_settings(request).data_dir)
        run = replay_service.replay_day(
            db,
            network=network,
            day=chosen_day,
            zone=get_settings(request).zone,
            scope=scope,
            area=area,
            actor=actor,
            user=user,
            turnout_s=turnout_s,
        )
    except FangkongError as exc:
        if partial:
            return _report_partial(request, language, user, error=exc.text(language), run=None)
        return _replay_page(
            request,
            db,
            user,
            scope,
            language,
            run=None,
            error=exc.text(language),
            day=day,
            area_code=area_code,
        )
    if partial:
        response = _report_partial(request, language, user, error=None, **_report_context(run))
        response.headers["HX-Trigger"] = "replays-changed"
        return response
    return _replay_page(
        request,
        db,
        user,
        scope,
        language,
        error=None,
        day=day,
        area_code=area_code,
        **_report_context(run),
    )


@router.get("/dispatch/replay/runs", response_class=HTMLResponse)
def replay_runs(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    """The list of earlier replays (refreshed after a run)."""
    return render(
        request,
        "dispatch/replay_runs.html",
        language=language,
        user=user,
        runs=replay_service.get_runs(db, scope=scope, limit=20),
    )


@router.get("/dispatch/replay/{run_id:int}", response_class=HTMLResponse)
def replay_report(
    run_id: Id,
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> HTMLResponse:
    """One earlier replay's report (a partial for htmx, the page otherwise)."""
    run = replay_service.get_run_or_raise(db, run_id=run_id, scope=scope)
    if request.headers.get("HX-Request") == "true":
        return _report_partial(request, language, user, error=None, **_report_context(run))
    return _replay_page(
        request, db, user, scope, language, error=None, day=run.day, **_report_context(run)
    )
