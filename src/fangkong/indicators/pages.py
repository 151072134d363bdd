"""Console pages of the indicator system: the dashboard (traffic-light grid of areas ×
indicators against targets, share of guideline items met), the figures as the shared table
(export), an indicator's trend month by month, the records behind a figure (drill-down), the
catalogue with targets and manual inputs (the prevention office sets and enters them), the
report templates' editor (:mod:`fangkong.indicators.template_pages`)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fangkong.areas.models import Area
from fangkong.cases.web import calendar_of
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Day, Text, check_text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.http import tables
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, UserScope, requires
from fangkong.http.templating import render
from fangkong.indicators import (
    catalogue,
    dashboard,
    inputs,
    listing,
    store,
    targets,
    tasks,
    template_pages,
)
from fangkong.indicators import permissions as perms
from fangkong.indicators.catalogue import GROUPS
from fangkong.indicators.models import IndicatorInput
from fangkong.indicators.periods import Period, last_months, month_of, parse
from fangkong.indicators.service import area_or_top
from fangkong.indicators.web import report_file

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
PeriodQuery = Annotated[Text | None, Query(max_length=7)]
AreaQuery = Annotated[Text | None, Query(max_length=32)]


def _period(request: Request, value: str | None) -> Period:
    return parse(value) if value else month_of(utcnow(), request.app.state.settings.zone)


def _parent(db: Any, scope: Any, area: Area) -> Area | None:
    if area.parent_id is None:
        return None
    parent = db.get(Area, area.parent_id)
    return parent if parent is not None and scope.covers(parent.path) else None


def _ordered() -> list[catalogue.IndicatorDecl]:
    return sorted(catalogue.all_indicators(), key=lambda d: GROUPS.index(d.group))


@router.get("/indicators", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    period: PeriodQuery = None,
    area: AreaQuery = None,
) -> Response:
    """The traffic-light grid of an area of yours (the top by default) and the areas just
    below it; the share of guideline items each meets."""
    when = _period(request, period)
    root = area_or_top(db, code=area, scope=scope)
    rows = dashboard.grid(
        db, period=when, scope=scope, now=utcnow(), zone=request.app.state.settings.zone, root=root
    )
    decls = [d for d in _ordered() if any(d.id in r.cells for r in rows)]
    names = {
        a.id: a for a in db.scalars(select(Area).where(Area.id.in_([r.area_id for r in rows])))
    }
    return render(
        request,
        "indicators/dashboard.html",
        language=language,
        user=user,
        period=when,
        root=root,
        parent=_parent(db, scope, root),
        rows=rows,
        areas=names,
        decls=decls,
        guideline_share=dashboard.GUIDELINE_SHARE,
        can_write=auth.can(user, perms.WRITE),
    )


@router.get("/indicators/figures", response_class=HTMLResponse)
def figures_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    period: PeriodQuery = None,
) -> Response:
    """The figures of a period as the shared table: filter, sort, export CSV or XLSX."""
    when = _period(request, period)
    rows = dashboard.rows_of(
        db,
        store.figures(
            db, period=when, scope=scope, now=utcnow(), zone=request.app.state.settings.zone
        ),
        year=when.year,
        decls=catalogue.all_indicators(),
    )
    judged = {(c.indicator_id, r.area_id): c for r in rows for c in r.cells.values()}
    table = listing.figures_table(db, scope=scope, language=language, period=when, judged=judged)
    result = tables.view(
        request,
        db,
        table,
        listing.figures_select(scope, when),
        user=user,
        scope=scope,
        language=language,
        title=translate("indicators.figures", language),
        extra={"period": when.key},
    )
    if not isinstance(result, tables.Page):
        return result
    result.path = "/indicators/figures"
    return render(
        request,
        "indicators/figures.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        period=when,
    )


@router.get("/indicators/trend", response_class=HTMLResponse)
def trend_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    indicator: Annotated[Text, Query(min_length=1, max_length=64)],
    area: AreaQuery = None,
    period: PeriodQuery = None,
) -> Response:
    """An indicator in an area month by month over the twelve months up to ``period``, with
    its target, as a chart and its table."""
    decl = targets.get_or_raise(indicator)
    when = _period(request, period)
    if when.month is None:
        when = Period(when.year, 12)
    found = area_or_top(db, code=area, scope=scope)
    points = dashboard.trend(
        db,
        decl=decl,
        area=found,
        end=when,
        months=12,
        scope=scope,
        now=utcnow(),
        zone=request.app.state.settings.zone,
    )
    children = db.scalars(select(Area).where(Area.parent_id == found.id).order_by(Area.code)).all()
    return render(
        request,
        "indicators/trend.html",
        language=language,
        user=user,
        decl=decl,
        area=found,
        parent=_parent(db, scope, found),
        children=children,
        points=points,
        period=when,
        months=last_months(when, 12),
    )


@router.get("/indicators/records", response_class=HTMLResponse)
def records_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    indicator: Annotated[Text, Query(min_length=1, max_length=64)],
    area: AreaQuery = None,
    period: PeriodQuery = None,
) -> Response:
    """The records behind a figure (its drill-down) as the shared table; a manual input's
    entries."""
    decl = targets.get_or_raise(indicator)
    when = _period(request, period)
    found = area_or_top(db, code=area, scope=scope)
    made = listing.records(
        db,
        decl=decl,
        area=found,
        period=when,
        scope=scope,
        language=language,
        zone=request.app.state.settings.zone,
    )
    if made is None:
        made = listing.inputs_table(db, scope=scope, language=language, indicator=decl.id)
    table, stmt = made
    if decl.manual:
        stmt = stmt.where(IndicatorInput.area_path.startswith(found.path, autoescape=True))
    extra = {"indicator": decl.id, "area": found.code, "period": when.key}
    result = tables.view(
        request,
        db,
        table,
        stmt,
        user=user,
        scope=scope,
        language=language,
        title=decl.name(language),
        extra=extra,
    )
    if not isinstance(result, tables.Page):
        return result
    result.path = "/indicators/records"
    return render(
        request,
        "indicators/records.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        decl=decl,
        area=found,
        period=when,
    )


@router.get("/indicators/catalogue", response_class=HTMLResponse)
def catalogue_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    """Every indicator: formula, unit, direction, default target and source; the targets
    set (with their history) and, for the prevention office, the forms that set a target and
    enter a manual input."""
    when = month_of(utcnow(), request.app.state.settings.zone)
    the_year = year or when.year
    history = {
        d.id: targets.history(db, indicator_id=d.id, scope=scope, year=the_year)
        for d in catalogue.all_indicators()
    }
    areas = db.scalars(
        select(Area).where(scope.clause(Area.path)).order_by(Area.path).limit(500)
    ).all()
    return render(
        request,
        "indicators/catalogue.html",
        language=language,
        user=user,
        decls=_ordered(),
        history=history,
        year=the_year,
        period=when,
        areas=[a for a in areas if getattr(a.level, "value", a.level) != "grid"],
        recent=inputs.get_all(db, scope=scope)[:20],
        can_write=auth.can(user, perms.WRITE),
    )


@router.post("/indicators/targets", dependencies=[requires(perms.WRITE)])
def target_form(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    indicator_id: Annotated[Text, Form(max_length=64)],
    year: Annotated[int, Form(ge=2000, le=2100)],
    value: Annotated[Text, Form(max_length=32)] = "",
    area_code: Annotated[Text, Form(max_length=32)] = "",
    note: Annotated[Text, Form(max_length=255)] = "",
) -> Response:
    """A target set from the catalogue page (a share in percent there); back to it."""
    decl = targets.get_or_raise(indicator_id)
    number = _number(value, field="value")
    if number is not None and decl.unit == "percent":
        number = number / 100
    targets.set_target(
        db,
        indicator_id=decl.id,
        year=year,
        value=number,
        area=area_or_top(db, code=area_code, scope=scope) if area_code else None,
        note=note,
        actor=actor,
        scope=scope,
        now=utcnow(),
    )
    return RedirectResponse(f"/indicators/catalogue?year={year}#i-{decl.id}", status_code=303)


@router.post("/indicators/inputs", dependencies=[requires(perms.WRITE)])
def input_form(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    indicator_id: Annotated[Text, Form(max_length=64)],
    area_code: Annotated[Text, Form(max_length=32)],
    period: Annotated[Text, Form(max_length=7)],
    value: Annotated[Text, Form(max_length=32)],
) -> Response:
    """A manual input entered from the catalogue page (a share in percent there)."""
    decl = targets.get_or_raise(indicator_id)
    number = _number(value, field="value")
    if number is None:
        raise InvalidInput(
            key="error.indicators.target_value", params={"unit": decl.unit}, field="value"
        )
    inputs.enter(
        db,
        indicator_id=decl.id,
        area=area_or_top(db, code=area_code, scope=scope),
        period=parse(period),
        value=number / 100 if decl.unit == "percent" else number,
        actor=actor,
        now=utcnow(),
    )
    return RedirectResponse(f"/indicators/catalogue#i-{decl.id}", status_code=303)


def _number(value: str, *, field: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput(key="error.indicators.number", field=field) from None
    if not math.isfinite(number):
        raise InvalidInput(key="error.indicators.number", field=field)
    return number


# --- the task ledger -----------------------------------------------------------------------------


@router.get("/indicators/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    overdue: Annotated[bool, Query()] = False,
) -> Response:
    """The task ledger (重点任务清单) of your areas: deadline, progress, the indicators each
    moves, the overdue ones and their supervision cases; progress recorded where one stands
    (works at phone width)."""
    on = tasks.today(utcnow(), request.app.state.settings.zone)
    found = tasks.get_all(db, scope=scope, overdue_on=on if overdue else None)
    areas = db.scalars(
        select(Area).where(scope.clause(Area.path)).order_by(Area.path).limit(500)
    ).all()
    return render(
        request,
        "indicators/tasks.html",
        language=language,
        user=user,
        tasks=found,
        on=on,
        overdue_only=overdue,
        names={d.id: d.name(language) for d in catalogue.all_indicators()},
        decls=_ordered(),
        areas=areas,
        can_write=auth.can(user, perms.WRITE),
        can_tasks=auth.can(user, perms.TASKS),
    )


@router.post("/indicators/tasks", dependencies=[requires(perms.TASKS)])
def task_form(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    code: Annotated[Text, Form(min_length=1, max_length=32)],
    title: Annotated[Text, Form(min_length=1, max_length=200)],
    responsible_unit: Annotated[Text, Form(min_length=1, max_length=128)],
    area_code: Annotated[Text, Form(min_length=1, max_length=32)],
    deadline: Annotated[Day, Form()],
    indicator_ids: Annotated[list[Text] | None, Form(max_length=20)] = None,
) -> Response:
    """A task added from the ledger's page."""
    tasks.create(
        db,
        code=check_text(code, field="code"),
        title=check_text(title, field="title"),
        responsible_unit=check_text(responsible_unit, field="responsible_unit"),
        area=area_or_top(db, code=area_code, scope=scope),
        deadline=deadline,
        progress=0,
        indicator_ids=[i[:64] for i in indicator_ids or [] if i],
        actor=actor,
    )
    return RedirectResponse("/indicators/tasks", status_code=303)


@router.post("/indicators/tasks/{task_id:int}/progress", dependencies=[requires(perms.TASKS)])
def progress_form(
    request: Request,
    task_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    progress: Annotated[int, Form(ge=0, le=100)],
) -> Response:
    """Progress recorded from the ledger's page (100: done)."""
    task = tasks.get_or_raise(db, task_id=task_id, scope=scope)
    tasks.update_progress(
        db,
        task=task,
        progress=progress,
        status=None,
        user=None,
        actor=actor,
        now=utcnow(),
        calendar=calendar_of(request.app),
    )
    return RedirectResponse(f"/indicators/tasks#task-{task.id}", status_code=303)


@router.post("/indicators/tasks/supervise", dependencies=[requires(perms.WRITE)])
def supervise_form(
    request: Request, db: DbSession, scope: UserScope, actor: RequestActor
) -> Response:
    """Open the supervision cases of the overdue tasks; back to the ledger."""
    tasks.supervise_overdue(
        db,
        scope=scope,
        actor=actor,
        now=utcnow(),
        zone=request.app.state.settings.zone,
        calendar=calendar_of(request.app),
    )
    return RedirectResponse("/indicators/tasks?overdue=true", status_code=303)


@router.get("/indicators/report")
def report_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    kind: Annotated[Text, Query(max_length=16)] = "bulletin",
    period: PeriodQuery = None,
    area: AreaQuery = None,
    format: Annotated[Literal["pdf", "xlsx"], Query()] = "pdf",
) -> Response:
    """The report downloaded from the console (the dashboard's links)."""
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


# --- the report templates' editor ----------------------------------------------------------------

router.include_router(template_pages.router)
