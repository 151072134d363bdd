"""The indicator system's lists as tables of :mod:`fangkong.http.tables` (sort, filter, pages,
CSV and XLSX export): the figures of a period (the dashboard's grid, one row per area and
indicator, with its target and traffic light) and the records behind a figure (its
drill-down: the incidents, cases, devices or facilities it counts). No column holds a personal
field: a case's title and description, an incident's description and caller are never read."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area, AreaLevel
from fangkong.cases.models import Case
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.devices.models import Device
from fangkong.dispatch.kpis import COUNTED
from fangkong.dispatch.models import Incident
from fangkong.facilities.models import Facility
from fangkong.http.tables import AnySelect, Column, Filter, Table
from fangkong.indicators import catalogue, dashboard
from fangkong.indicators.catalogue import IndicatorDecl
from fangkong.indicators.models import IndicatorInput, IndicatorValue
from fangkong.indicators.periods import Period

Translate = Callable[[str], str]


def _t(language: str) -> Translate:
    return lambda key: translate(key, language)


def _area_filter(
    session: Session, scope: Scope, column: Any
) -> Callable[[str], ColumnElement[bool]]:
    def where(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        clause: ColumnElement[bool] = column.startswith(found.path, autoescape=True)
        return clause

    return where


# --- the figures of a period -----------------------------------------------------------------


def figures_select(scope: Scope, period: Period) -> AnySelect:
    return (
        select(IndicatorValue, Area.code, Area.level)
        .join(Area, Area.id == IndicatorValue.area_id)
        .where(IndicatorValue.period == period.key, scope.clause(IndicatorValue.area_path))
    )


def figures_table(
    session: Session,
    *,
    scope: Scope,
    language: str,
    period: Period,
    judged: dict[tuple[str, int], dashboard.Cell],
) -> Table:
    """The figures of ``period``: ``judged`` gives each (indicator, area id) its target and
    traffic light."""
    t = _t(language)
    decls = catalogue.all_indicators()
    names = {d.id: d.name(language) for d in decls}

    def cell(row: Any) -> dashboard.Cell | None:
        return judged.get((row[0].indicator_id, row[0].area_id))

    def target(row: Any) -> float | None:
        c = cell(row)
        return c.target.value if c is not None else None

    def light(row: Any) -> str:
        c = cell(row)
        return t(f"indicators.status.{c.status if c is not None else 'none'}")

    return Table(
        name="indicator_figures",
        columns=(
            Column("area", t("indicators.field.area"), lambda r: r[1], sort=Area.code),
            Column(
                "level",
                t("indicators.field.level"),
                lambda r: t(f"level.{getattr(r[2], 'value', r[2])}"),
                sort=Area.level,
            ),
            Column(
                "indicator",
                t("indicators.field.indicator"),
                lambda r: names.get(r[0].indicator_id, r[0].indicator_id),
                sort=IndicatorValue.indicator_id,
            ),
            Column("indicator_id", "id", lambda r: r[0].indicator_id, show=False),
            Column("period", t("indicators.field.period"), lambda r: r[0].period),
            Column(
                "value",
                t("indicators.field.value"),
                lambda r: r[0].value,
                sort=IndicatorValue.value,
                numeric=True,
                fmt="%.4g",
            ),
            Column("target", t("indicators.field.target"), target, numeric=True, fmt="%.4g"),
            Column("status", t("indicators.field.status"), light),
            Column(
                "numerator",
                t("indicators.field.numerator"),
                lambda r: r[0].numerator,
                numeric=True,
                fmt="%.6g",
            ),
            Column(
                "denominator",
                t("indicators.field.denominator"),
                lambda r: r[0].denominator,
                numeric=True,
                fmt="%.6g",
            ),
            Column(
                "computed_at",
                t("indicators.field.computed_at"),
                lambda r: r[0].computed_at,
                show=False,
            ),
        ),
        filters=(
            Filter(
                "indicator",
                t("indicators.field.indicator"),
                kind="choice",
                choices=tuple((d.id, d.name(language)) for d in decls),
                where=lambda v: IndicatorValue.indicator_id == v,
            ),
            Filter(
                "level",
                t("indicators.field.level"),
                kind="choice",
                choices=tuple((lv.value, t(f"level.{lv.value}")) for lv in AreaLevel),
                where=lambda v: Area.level == AreaLevel(v),
            ),
            Filter(
                "area",
                t("indicators.field.area"),
                where=_area_filter(session, scope, IndicatorValue.area_path),
                max_length=32,
            ),
        ),
        default_sort="area",
        tiebreak=(IndicatorValue.area_path, IndicatorValue.id),
        per_page=100,
    )


# --- the records behind a figure -------------------------------------------------------------


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


def _drilldown(
    session: Session,
    *,
    name: str,
    model: Any,
    fields: tuple[Any, ...],
    where: tuple[ColumnElement[bool], ...],
    columns: tuple[Column, ...],
    default_sort: str,
    area: Area,
    scope: Scope,
    t: Translate,
) -> tuple[Table, AnySelect]:
    """The records of ``model`` under ``area`` and within ``scope`` that meet ``where``: the
    select (``fields`` and the area's code as ``area_code``) and its table (``columns``, then
    the area, filtered by an area code and tie-broken by the record's id)."""
    stmt: AnySelect = (
        select(model.id, *fields, Area.code.label("area_code"))
        .join(Area, Area.id == model.area_id)
        .where(
            scope.clause(model.area_path),
            model.area_path.startswith(area.path, autoescape=True),
            *where,
        )
    )
    table = Table(
        name=name,
        columns=(
            *columns,
            Column("area", t("indicators.field.area"), lambda r: r.area_code, sort=model.area_path),
        ),
        filters=(
            Filter(
                "area",
                t("indicators.field.area"),
                where=_area_filter(session, scope, model.area_path),
                max_length=32,
            ),
        ),
        default_sort=default_sort,
        tiebreak=(model.id,),
    )
    return table, stmt


def records(
    session: Session,
    *,
    decl: IndicatorDecl,
    area: Area,
    period: Period,
    scope: Scope,
    language: str,
    zone: Any,
) -> tuple[Table, AnySelect] | None:
    """The table and the select of the records ``decl``'s figure for ``area`` and ``period``
    counts (its denominator's, or its metric's); None for a manual input. Incidents and cases
    are those of the period; devices and facilities the registers as they stand."""
    kind = decl.record_kind
    t = _t(language)
    start, end = period.start(zone), period.end(zone)
    drilldown = functools.partial(_drilldown, session, area=area, scope=scope, t=t)

    def yes_no(value: object) -> str:
        return t("indicators.yes") if value else t("indicators.no")

    if kind == "incidents":
        return drilldown(
            name="indicator_incidents",
            model=Incident,
            fields=(
                Incident.received_at,
                Incident.category,
                Incident.priority,
                Incident.status,
                Incident.dispatched_at,
                Incident.on_scene_at,
            ),
            where=(Incident.received_at >= start, Incident.received_at < end, COUNTED),
            columns=(
                Column("id", "ID", lambda r: r.id, sort=Incident.id, numeric=True),
                Column(
                    "received_at",
                    t("indicators.field.received_at"),
                    lambda r: r.received_at,
                    sort=Incident.received_at,
                ),
                Column(
                    "category",
                    t("indicators.field.category"),
                    lambda r: r.category,
                    sort=Incident.category,
                ),
                Column(
                    "priority",
                    t("indicators.field.priority"),
                    lambda r: getattr(r.priority, "value", r.priority),
                    sort=Incident.priority,
                ),
                Column(
                    "status",
                    t("indicators.field.state"),
                    lambda r: getattr(r.status, "value", r.status),
                    sort=Incident.status,
                ),
                Column(
                    "response_s",
                    t("indicators.field.response_s"),
                    lambda r: _seconds(r.dispatched_at, r.on_scene_at),
                    numeric=True,
                    fmt="%.0f",
                ),
            ),
            default_sort="-received_at",
        )
    if kind is not None and kind.startswith("cases."):
        case_type = kind.split(".", 1)[1]
        return drilldown(
            name="indicator_cases",
            model=Case,
            fields=(
                Case.case_type,
                Case.state,
                Case.opened_at,
                Case.due_at,
                Case.closed_at,
                Case.resolved_at,
                Case.late,
            ),
            where=(Case.case_type == case_type, Case.opened_at >= start, Case.opened_at < end),
            columns=(
                Column("id", "ID", lambda r: r.id, sort=Case.id, numeric=True),
                Column(
                    "state",
                    t("indicators.field.state"),
                    lambda r: translate(f"cases.{r.case_type}.state.{r.state}", language),
                    sort=Case.state,
                ),
                Column(
                    "opened_at",
                    t("indicators.field.opened_at"),
                    lambda r: r.opened_at,
                    sort=Case.opened_at,
                ),
                Column(
                    "due_at", t("indicators.field.due_at"), lambda r: r.due_at, sort=Case.due_at
                ),
                Column(
                    "closed_at",
                    t("indicators.field.closed_at"),
                    lambda r: r.closed_at,
                    sort=Case.closed_at,
                ),
                Column(
                    "late", t("indicators.field.late"), lambda r: yes_no(r.late), sort=Case.late
                ),
            ),
            default_sort="-opened_at",
        )
    if kind == "devices":
        return drilldown(
            name="indicator_devices",
            model=Device,
            fields=(
                Device.code,
                Device.device_type,
                Device.owner_kind,
                Device.zone_type,
                Device.networked,
                Device.status,
            ),
            where=(),
            columns=(
                Column("code", t("indicators.field.code"), lambda r: r.code, sort=Device.code),
                Column(
                    "device_type",
                    t("indicators.field.device_type"),
                    lambda r: translate(f"devices.type.{r.device_type.value}", language),
                    sort=Device.device_type,
                ),
                Column(
                    "owner_kind",
                    t("indicators.field.owner_kind"),
                    lambda r: translate(f"devices.owner.{r.owner_kind.value}", language),
                    sort=Device.owner_kind,
                ),
                Column(
                    "networked",
                    t("indicators.field.networked"),
                    lambda r: yes_no(r.networked),
                    sort=Device.networked,
                ),
                Column(
                    "status",
                    t("indicators.field.state"),
                    lambda r: translate(f"devices.status.{r.status.value}", language),
                    sort=Device.status,
                ),
            ),
            default_sort="code",
        )
    if kind == "facilities":
        return drilldown(
            name="indicator_facilities",
            model=Facility,
            fields=(Facility.code, Facility.name, Facility.facility_type),
            where=(),
            columns=(
                Column("code", t("indicators.field.code"), lambda r: r.code, sort=Facility.code),
                Column(
                    "name", t("indicators.field.name"), lambda r: r.name, sort=pinyin(Facility.name)
                ),
                Column(
                    "facility_type",
                    t("indicators.field.facility_type"),
                    lambda r: translate(f"facilities.type.{r.facility_type.value}", language),
                    sort=Facility.facility_type,
                ),
            ),
            default_sort="code",
        )
    return None


def inputs_table(
    session: Session, *, scope: Scope, language: str, indicator: str | None = None
) -> tuple[Table, AnySelect]:
    """Manual inputs (every entry: the history) of ``scope``, latest first."""
    t = _t(language)
    names = {d.id: d.name(language) for d in catalogue.all_indicators()}
    stmt: AnySelect = (
        select(IndicatorInput, Area.code)
        .join(Area, Area.id == IndicatorInput.area_id)
        .where(scope.clause(IndicatorInput.area_path))
    )
    if indicator:
        stmt = stmt.where(IndicatorInput.indicator_id == indicator)
    table = Table(
        name="indicator_inputs",
        columns=(
            Column(
                "indicator",
                t("indicators.field.indicator"),
                lambda r: names.get(r[0].indicator_id, r[0].indicator_id),
                sort=IndicatorInput.indicator_id,
            ),
            Column("area", t("indicators.field.area"), lambda r: r[1], sort=Area.code),
            Column(
                "period",
                t("indicators.field.period"),
                lambda r: r[0].period,
                sort=IndicatorInput.period,
            ),
            Column(
                "value",
                t("indicators.field.value"),
                lambda r: r[0].value,
                numeric=True,
                fmt="%.4g",
            ),
            Column("entered_by", t("indicators.field.entered_by"), lambda r: r[0].entered_by),
            Column(
                "entered_at",
                t("indicators.field.entered_at"),
                lambda r: r[0].entered_at,
                sort=IndicatorInput.entered_at,
            ),
        ),
        filters=(
            Filter(
                "area",
                t("indicators.field.area"),
                where=_area_filter(session, scope, IndicatorInput.area_path),
                max_length=32,
            ),
        ),
        default_sort="-entered_at",
        tiebreak=(IndicatorInput.id,),
    )
    return table, stmt
