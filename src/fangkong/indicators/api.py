"""REST API of the indicator system under ``/api/v1/indicators``: the catalogue, the figures
of a period (and their export), the dashboard's grid, trends, the records behind a figure
(and their export), targets and manual inputs with their history, recomputing a period.

Every read is scoped to the user's areas; an area outside them reads as not found.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response

from fangkong.cases.web import calendar_of
from fangkong.core import audit
from fangkong.core.bounds import MAX_ID, JsonObject, Text
from fangkong.core.db import utcnow
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    requires,
)
from fangkong.indicators import (
    catalogue,
    dashboard,
    inputs,
    listing,
    reports,
    store,
    targets,
    tasks,
)
from fangkong.indicators import permissions as perms
from fangkong.indicators.catalogue import IndicatorDecl
from fangkong.indicators.models import IndicatorTask, TaskStatus
from fangkong.indicators.periods import Period, month_of, parse
from fangkong.indicators.schemas import (
    ComputedOut,
    FigureOut,
    GridRowOut,
    IndicatorOut,
    InputIn,
    InputOut,
    PointOut,
    ProgressIn,
    RecordPage,
    TargetIn,
    TargetOut,
    TargetSettingOut,
    TaskIn,
    TaskOut,
)
from fangkong.indicators.service import area_or_top
from fangkong.indicators.web import report_file

TaskId = Annotated[int, Path(ge=1, le=MAX_ID)]
router = APIRouter(prefix="/indicators", tags=["indicators"], dependencies=[requires(perms.READ)])

PeriodQuery = Annotated[
    Text | None,
    Query(max_length=7, description="YYYY-MM (a month) or YYYY (a year); this month if left out"),
]
AreaCode = Annotated[Text | None, Query(max_length=32, description="Area code; the top of yours")]
IndicatorQuery = Annotated[Text, Query(min_length=1, max_length=64, description="Indicator id")]


def _period(request: Request, value: str | None) -> Period:
    if value:
        return parse(value)
    return month_of(utcnow(), request.app.state.settings.zone)


def indicator_out(decl: IndicatorDecl, language: str) -> IndicatorOut:
    effective = targets.effective(decl, "/", {}, {})
    return IndicatorOut(
        id=decl.id,
        name=decl.name(language),
        name_zh=decl.name_zh,
        name_en=decl.name_en,
        group=decl.group,
        unit=decl.unit,
        direction=decl.direction,
        manual=decl.manual,
        guideline=decl.guideline,
        levels=[lv.value for lv in decl.levels],
        definition=decl.definition,
        formula=decl.formula.model_dump(),
        records=decl.record_kind,
        target=TargetOut(value=effective.value, origin=effective.origin, note=effective.note),
        sources=list(decl.target.sources),
    )


@router.get("/catalogue", response_model=list[IndicatorOut])
def list_catalogue(language: Language) -> list[IndicatorOut]:
    """Every declared indicator: formula, unit, direction, default target and its source."""
    return [indicator_out(d, language) for d in catalogue.all_indicators()]


def _judged(request: Request, db: Any, scope: Scope, period: Period) -> list[dashboard.Row]:
    figures = store.figures(
        db, period=period, scope=scope, now=utcnow(), zone=request.app.state.settings.zone
    )
    return dashboard.rows_of(db, figures, year=period.year, decls=catalogue.all_indicators())


def _figure(code: str, level: str, period: Period, cell: dashboard.Cell) -> FigureOut:
    return FigureOut(
        indicator_id=cell.indicator_id,
        area_code=code,
        level=level,
        period=period.key,
        value=cell.value,
        numerator=cell.numerator,
        denominator=cell.denominator,
        target=cell.target.value,
        status=cell.status,
    )


@router.get("/figures", response_model=list[FigureOut])
def list_figures(
    request: Request,
    db: DbSession,
    scope: UserScope,
    period: PeriodQuery = None,
    area: AreaCode = None,
    indicator: Annotated[Text | None, Query(max_length=64)] = None,
) -> list[FigureOut]:
    """Every figure of the period in your areas (under ``area`` if given; one ``indicator``
    if given), each with its target and traffic light (met, near, missed, none)."""
    when = _period(request, period)
    root = area_or_top(db, code=area, scope=scope) if area else None
    if indicator:
        targets.get_or_raise(indicator)
    out = []
    for row in _judged(request, db, scope, when):
        if root is not None and not row.path.startswith(root.path):
            continue
        for cell in row.cells.values():
            if indicator and cell.indicator_id != indicator:
                continue
            out.append(_figure(row.code, row.level, when, cell))
    return out


@router.get("/figures/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_figures(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    period: PeriodQuery = None,
    area: AreaCode = None,
    indicator: Annotated[Text | None, Query(max_length=64)] = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The figures of ``GET /indicators/figures`` as CSV or XLSX (audited)."""
    when = _period(request, period)
    judged = {
        (cell.indicator_id, row.area_id): cell
        for row in _judged(request, db, scope, when)
        for cell in row.cells.values()
    }
    table = listing.figures_table(db, scope=scope, language=language, period=when, judged=judged)
    query = table.query(values={"area": area, "indicator": indicator})
    return tables.export(
        db,
        listing.figures_select(scope, when),
        query,
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("indicators.title", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.get("/grid", response_model=list[GridRowOut])
def grid(
    request: Request,
    db: DbSession,
    scope: UserScope,
    period: PeriodQuery = None,
    area: AreaCode = None,
) -> list[GridRowOut]:
    """The dashboard's grid: ``area`` (the top of yours by default) and the areas just below
    it, each with every figure against its target and its share of guideline items met
    (H: ≥ 90%)."""
    when = _period(request, period)
    root = area_or_top(db, code=area, scope=scope)
    rows = dashboard.grid(
        db,
        period=when,
        scope=scope,
        now=utcnow(),
        zone=request.app.state.settings.zone,
        root=root,
    )
    out = []
    for row in rows:
        counts = row.counts()
        out.append(
            GridRowOut(
                area_code=row.code,
                level=row.level,
                met=counts["met"],
                near=counts["near"],
                missed=counts["missed"],
                share_met=row.share_met,
                meets_guideline=row.meets_guideline,
                figures=[_figure(row.code, row.level, when, c) for c in row.cells.values()],
            )
        )
    return out


@router.get("/trend", response_model=list[PointOut])
def trend(
    request: Request,
    db: DbSession,
    scope: UserScope,
    indicator: IndicatorQuery,
    area: AreaCode = None,
    period: PeriodQuery = None,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> list[PointOut]:
    """The indicator's figure in ``area`` month by month: ``months`` months up to ``period``."""
    decl = targets.get_or_raise(indicator)
    when = _period(request, period)
    if when.month is None:
        when = Period(when.year, 12)
    points = dashboard.trend(
        db,
        decl=decl,
        area=area_or_top(db, code=area, scope=scope),
        end=when,
        months=months,
        scope=scope,
        now=utcnow(),
        zone=request.app.state.settings.zone,
    )
    return [
        PointOut(period=p.period, value=p.value, target=p.target, status=p.status) for p in points
    ]


def _records(
    request: Request,
    db: Any,
    scope: Scope,
    language: str,
    indicator: str,
    area: str | None,
    period: str | None,
) -> tuple[str, Any, Any]:
    decl = targets.get_or_raise(indicator)
    found = listing.records(
        db,
        decl=decl,
        area=area_or_top(db, code=area, scope=scope),
        period=_period(request, period),
        scope=scope,
        language=language,
        zone=request.app.state.settings.zone,
    )
    if found is None:
        return "manual", None, None
    return str(decl.record_kind), found[0], found[1]


@router.get("/records", response_model=RecordPage)
def list_records(
    request: Request,
    db: DbSession,
    scope: UserScope,
    language: Language,
    indicator: IndicatorQuery,
    area: AreaCode = None,
    period: PeriodQuery = None,
    sort: Annotated[Text | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=tables.MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=tables.MAX_PER_PAGE)] = 50,
) -> RecordPage:
    """The records a figure counts (its drill-down): the incidents or cases of the period,
    the devices or facilities as they stand, in ``area`` (the top of yours by default); a
    manual input has none (its entries are ``GET /indicators/inputs``)."""
    kind, table, stmt = _records(request, db, scope, language, indicator, area, period)
    if table is None:
        return RecordPage(kind=kind, total=0, items=[])
    query = table.query(sort=sort, page=page, per_page=per_page)
    found = tables.fetch(db, stmt, query)
    columns = [c for c in table.columns if c.export]
    return RecordPage(
        kind=kind,
        total=found.total,
        items=[{c.key: c.value(row) for c in columns} for row in found.rows],
    )


@router.get("/records/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_records(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    indicator: IndicatorQuery,
    area: AreaCode = None,
    period: PeriodQuery = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The records of ``GET /indicators/records`` as CSV or XLSX (audited)."""
    _, table, stmt = _records(request, db, scope, language, indicator, area, period)
    if table is None:
        table, stmt = listing.inputs_table(db, scope=scope, language=language, indicator=indicator)
    return tables.export(
        db,
        stmt,
        table.query(),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("indicators.records", language),
        actor=actor_of(request, user),
        scope=scope,
    )


def _setting_out(row: Any) -> TargetSettingOut:
    return TargetSettingOut(
        id=row.id,
        indicator_id=row.indicator_id,
        year=row.year,
        value=row.value,
        area_code=row.area.code if row.area is not None else None,
        note=row.note,
        set_by=row.set_by,
        set_at=row.set_at,
    )


@router.get("/targets", response_model=list[TargetSettingOut])
def list_targets(
    db: DbSession,
    scope: UserScope,
    indicator: Annotated[Text | None, Query(max_length=64)] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> list[TargetSettingOut]:
    """Every target setting (the history, latest first) for your areas and for every area;
    of one ``indicator`` and ``year`` if given."""
    ids = [indicator] if indicator else [d.id for d in catalogue.all_indicators()]
    out = []
    for one in ids:
        out += [
            _setting_out(r) for r in targets.history(db, indicator_id=one, scope=scope, year=year)
        ]
    return sorted(out, key=lambda s: -s.id)


@router.post(
    "/targets",
    response_model=TargetSettingOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def set_target(
    body: TargetIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> TargetSettingOut:
    """Set an indicator's target for an area of yours (its subtree) and a year, or for every
    area (a reader of the whole tree only); the earlier settings stay as its history."""
    area = area_or_top(db, code=body.area_code, scope=scope) if body.area_code else None
    row = targets.set_target(
        db,
        indicator_id=body.indicator_id,
        year=body.year,
        value=body.value,
        area=area,
        note=body.note,
        actor=actor,
        scope=scope,
        now=utcnow(),
    )
    db.refresh(row)
    return _setting_out(row)


def _input_out(row: Any) -> InputOut:
    return InputOut(
        id=row.id,
        indicator_id=row.indicator_id,
        area_code=row.area.code,
        period=row.period,
        value=row.value,
        entered_by=row.entered_by,
        entered_at=row.entered_at,
    )


@router.get("/inputs", response_model=list[InputOut])
def list_inputs(
    db: DbSession,
    scope: UserScope,
    period: Annotated[Text | None, Query(max_length=7)] = None,
    indicator: Annotated[Text | None, Query(max_length=64)] = None,
) -> list[InputOut]:
    """Manual inputs of your areas, every entry (the latest counts), latest first."""
    when = parse(period) if period else None
    if indicator:
        targets.get_or_raise(indicator)
    return [
        _input_out(r) for r in inputs.get_all(db, scope=scope, period=when, indicator_id=indicator)
    ]


@router.post(
    "/inputs", response_model=InputOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def enter_input(body: InputIn, db: DbSession, scope: UserScope, actor: RequestActor) -> InputOut:
    """Enter a manual indicator's value for an area of yours and a month."""
    row = inputs.enter(
        db,
        indicator_id=body.indicator_id,
        area=area_or_top(db, code=body.area_code, scope=scope),
        period=parse(body.period),
        value=body.value,
        actor=actor,
        now=utcnow(),
    )
    db.refresh(row)
    return _input_out(row)


@router.post("/compute", response_model=ComputedOut, dependencies=[requires(perms.WRITE)])
def recompute(
    request: Request, db: DbSession, scope: UserScope, period: PeriodQuery = None
) -> ComputedOut:
    """Compute the period's figures of your areas again now and store them."""
    when = _period(request, period)
    found = store.figures(
        db,
        period=when,
        scope=scope,
        now=utcnow(),
        zone=request.app.state.settings.zone,
        refresh=True,
    )
    return ComputedOut(period=when.key, figures=len(found))


# --- the task ledger ---------------------------------------------------------------------------


def task_out(task: IndicatorTask, *, on: date) -> TaskOut:
    return TaskOut(
        id=task.id,
        code=task.code,
        title=task.title,
        responsible_unit=task.responsible_unit,
        area_code=task.area.code,
        deadline=task.deadline,
        progress=task.progress,
        status=task.status.value,
        overdue=tasks.is_overdue(task, on=on),
        indicator_ids=list(task.indicator_ids),
        case_id=task.case_id,
    )


def _today(request: Request) -> date:
    return tasks.today(utcnow(), request.app.state.settings.zone)


@router.get("/tasks", response_model=list[TaskOut])
def list_tasks(
    request: Request,
    db: DbSession,
    scope: UserScope,
    overdue: Annotated[bool, Query(description="Only the overdue ones")] = False,
) -> list[TaskOut]:
    """The task ledger (重点任务清单) of your areas, by deadline."""
    on = _today(request)
    return [
        task_out(t, on=on)
        for t in tasks.get_all(db, scope=scope, overdue_on=on if overdue else None)
    ]


@router.post(
    "/tasks", response_model=TaskOut, status_code=201, dependencies=[requires(perms.TASKS)]
)
def create_task(
    request: Request, body: TaskIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> TaskOut:
    """Add a task to the ledger in an area of yours."""
    task = tasks.create(
        db,
        code=body.code,
        title=body.title,
        responsible_unit=body.responsible_unit,
        area=area_or_top(db, code=body.area_code, scope=scope),
        deadline=body.deadline,
        progress=body.progress,
        indicator_ids=list(body.indicator_ids),
        actor=actor,
    )
    db.refresh(task)
    return task_out(task, on=_today(request))


@router.put(
    "/tasks/{task_id:int}/progress", response_model=TaskOut, dependencies=[requires(perms.TASKS)]
)
def task_progress(
    request: Request,
    task_id: TaskId,
    body: ProgressIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> TaskOut:
    """Record a task's progress (100: done) or status; done or cancelled, its supervision case
    closes."""
    task = tasks.get_or_raise(db, task_id=task_id, scope=scope)
    tasks.update_progress(
        db,
        task=task,
        progress=body.progress,
        status=TaskStatus(body.status) if body.status else None,
        user=None,
        actor=actor,
        now=utcnow(),
        calendar=calendar_of(request.app),
    )
    return task_out(task, on=_today(request))


@router.post("/tasks/supervise", response_model=list[TaskOut], dependencies=[requires(perms.WRITE)])
def supervise(
    request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> list[TaskOut]:
    """Open a supervision case (督办) for every overdue task of your areas that has none open:
    they stand on the supervision board."""
    found = tasks.supervise_overdue(
        db,
        scope=scope,
        actor=actor,
        now=utcnow(),
        zone=request.app.state.settings.zone,
        calendar=calendar_of(request.app),
    )
    on = _today(request)
    return [task_out(t, on=on) for t in found]


# --- reports ----------------------------------------------------------------------------------


@router.get(
    "/report",
    response_class=Response,
    responses={200: {"content": {m: {} for m in reports.MEDIA.values()}}},
)
def report(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    kind: Annotated[Text, Query(max_length=16, description="bulletin or annual")] = "bulletin",
    period: PeriodQuery = None,
    area: AreaCode = None,
    format: Annotated[Literal["pdf", "xlsx"], Query()] = "pdf",
) -> Response:
    """The monthly bulletin or the annual evaluation of ``area`` (the top of yours) for
    ``period`` as PDF or XLSX, from the county's template in your language (audited)."""
    return report_file(
        request,
        db,
        user,
        scope,
        kind=kind,
        period=period,
        area=area,
        fmt=format,
        language=language,
    )


@router.get("/report-templates/{kind}")
def get_report_template(
    kind: Literal["bulletin", "annual"], db: DbSession, language: Language
) -> dict[str, Any]:
    """The template of a report in your language (the county's, else the shipped one)."""
    return reports.get_template(db, kind=kind, language=language).model_dump()


@router.put("/report-templates/{kind}", dependencies=[requires(perms.WRITE)])
def put_report_template(
    kind: Literal["bulletin", "annual"],
    body: Annotated[JsonObject, Body()],
    db: DbSession,
    actor: RequestActor,
    language: Language,
) -> dict[str, Any]:
    """Replace the county's template of a report in your language: a title (``{area}`` and
    ``{period}`` are filled in), an introduction and sections (``summary``, ``indicators``
    with a ``group`` or ``indicators``, ``trend``, ``tasks``)."""
    saved = reports.save_template(
        db, kind=kind, language=language, data=body, username=actor.username or "system"
    )
    audit.record(
        db,
        actor=actor,
        action="update",
        entity="indicator_report_template",
        detail={"kind": kind, "language": language},
    )
    return saved.model_dump()
