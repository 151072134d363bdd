"""``fangkong indicators ...``: compute and store a period's figures, print them against their
targets, list the catalogue, export the figures, write the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fangkong.areas import service as area_service
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.http.tables import write_csv, write_xlsx
from fangkong.indicators import catalogue, dashboard, reports, store
from fangkong.indicators.periods import Period, month_of, parse
from fangkong.indicators.service import top_area

indicators_app = typer.Typer(
    help="Indicators: the catalogue, figures per area and period, reports.", no_args_is_help=True
)
PeriodOption = Annotated[
    str | None, typer.Option("--period", help="YYYY-MM or YYYY; this month if left out")
]


def _period(value: str | None, zone: object) -> Period:
    return parse(value) if value else month_of(utcnow(), zone)  # type: ignore[arg-type]


def _fmt(decl: catalogue.IndicatorDecl, value: float | None) -> str:
    if value is None:
        return "—"
    if decl.unit == "percent":
        return f"{value:.1%}"
    if decl.unit == "count":
        return f"{value:.0f}"
    return f"{value:.1f}"


@indicators_app.command("catalogue")
def catalogue_command() -> None:
    """Every declared indicator with its unit, direction, default target and source."""
    table = Table("id", "name", "unit", "direction", "target", "source")
    for decl in catalogue.all_indicators():
        table.add_row(
            decl.id,
            decl.name_zh,
            decl.unit,
            decl.direction,
            _fmt(decl, decl.target.value),
            ", ".join(decl.target.sources) or "default",
        )
    console.print(table)


@indicators_app.command("compute")
def compute_command(period: PeriodOption = None, data_dir: DataDir = None) -> None:
    """Compute the period's figures of every area and store them (the dashboard reads them)."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        when = _period(period, settings.zone)
        with session_scope(session_factory(settings)) as session:
            found = store.figures(
                session,
                period=when,
                scope=SYSTEM_SCOPE,
                now=utcnow(),
                zone=settings.zone,
                refresh=True,
            )
    except FangkongError as exc:
        fail(exc)
    console.print(f"{when.key}: {len(found)} figures computed and stored")


@indicators_app.command("figures")
def figures_command(
    period: PeriodOption = None,
    area: Annotated[str | None, typer.Option(help="Area code: it and the areas below it")] = None,
    export: Annotated[
        Path | None, typer.Option(help="Write every figure to a .csv or .xlsx file instead")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """The figures of an area (the top by default) and the areas just below it, against their
    targets; or every figure of the period to a file."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        when = _period(period, settings.zone)
        with session_scope(session_factory(settings)) as session:
            root = area_service.get_by_code_or_raise(session, code=area) if area else None
            now = utcnow()
            if export is not None:
                figures = store.figures(
                    session, period=when, scope=SYSTEM_SCOPE, now=now, zone=settings.zone
                )
                rows = dashboard.rows_of(
                    session, figures, year=when.year, decls=catalogue.all_indicators()
                )
                header = ["area", "level", "indicator", "period", "value", "target", "status"]
                cells = [
                    [r.code, r.level, c.indicator_id, when.key, c.value, c.target.value, c.status]
                    for r in rows
                    for c in r.cells.values()
                ]
                with export.open("wb") as out:
                    if export.suffix.lower() == ".xlsx":
                        n = write_xlsx(out, header, cells, zone=settings.zone, title=when.key)
                    else:
                        n = write_csv(out, header, cells, zone=settings.zone)
                console.print(f"{n} figures written to {export}")
                return
            rows = dashboard.grid(
                session, period=when, scope=SYSTEM_SCOPE, now=now, zone=settings.zone, root=root
            )
    except FangkongError as exc:
        fail(exc)
    table = Table("indicator", *(r.code for r in rows), title=f"{when.key}")
    for decl in catalogue.all_indicators():
        marks: list[str] = []
        for r in rows:
            cell = r.cells.get(decl.id)
            mark = {"met": "[green]", "near": "[yellow]", "missed": "[red]"}
            marks.append(
                f"{mark.get(cell.status, '')}{_fmt(decl, cell.value)}" if cell is not None else ""
            )
        table.add_row(decl.name_zh, *marks)
    table.add_row(
        "达标率", *(f"{r.share_met:.0%}" if r.share_met is not None else "—" for r in rows)
    )
    console.print(table)


@indicators_app.command("report")
def report_command(
    period: PeriodOption = None,
    area: Annotated[str | None, typer.Option(help="Area code (the county by default)")] = None,
    format: Annotated[str, typer.Option("--format", help="pdf or xlsx")] = "pdf",
    kind: Annotated[str, typer.Option(help="bulletin (a month) or annual (a year)")] = "bulletin",
    language: Annotated[str, typer.Option(help="zh-CN or en")] = "zh-CN",
    output: Annotated[Path | None, typer.Option(help="The file (named by the report)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Write the monthly bulletin or the annual evaluation of an area as PDF or XLSX."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        when = _period(period, settings.zone)
        if kind not in reports.KINDS:
            raise InvalidInput(
                key="error.indicators.report_kind", params={"value": kind[:16]}, field="kind"
            )
        with session_scope(session_factory(settings)) as session:
            root = (
                area_service.get_by_code_or_raise(session, code=area)
                if area
                else top_area(session, scope=SYSTEM_SCOPE)
            )
            report = reports.build(
                session,
                kind="annual" if kind == "annual" else "bulletin",
                period=when,
                area=root,
                scope=SYSTEM_SCOPE,
                language=language if language in ("zh-CN", "en") else "zh-CN",
                now=utcnow(),
                zone=settings.zone,
            )
            data, _, name = reports.render(report, format)
    except FangkongError as exc:
        fail(exc)
    target = output or Path(name)
    target.write_bytes(data)
    console.print(f"{report.title}: {target} ({len(data):,} bytes)")
