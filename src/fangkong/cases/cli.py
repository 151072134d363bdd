"""``fangkong cases ...``: the deadline tick, the retention purge, declarations, indicators."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from fangkong.cases import jobs, registry
from fangkong.cases.calendar import load_calendar
from fangkong.cases.declaration import DeclarationError, load_yaml
from fangkong.cases.web import storage_for
from fangkong.core.config import Settings, load_settings
from fangkong.core.db import make_engine, make_session_factory, session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate

cases_app = typer.Typer(
    help="Cases: deadline tick, retention purge, declarations, indicators.", no_args_is_help=True
)
console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"),
]
At = Annotated[
    str | None,
    typer.Option("--at", help="Act as if it were this ISO time (with zone) instead of now"),
]


def _settings(data_dir: Path | None) -> Settings:
    return load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))


def _moment(value: str | None) -> datetime:
    if value is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        console.print(f"[red]error:[/red] --at {value!r} is not an ISO date and time")
        raise typer.Exit(code=2) from None
    if moment.tzinfo is None:
        console.print("[red]error:[/red] --at needs a zone, e.g. 2026-11-23T09:00+08:00")
        raise typer.Exit(code=2)
    return moment


def _fail(exc: FangkongError) -> NoReturn:
    console.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(code=2)


@cases_app.command("tick")
def tick(data_dir: DataDir = None, at: At = None) -> None:
    """Do the deadline actions now due (remind, flag overdue, escalate); safe to repeat."""
    settings = _settings(data_dir)
    try:
        calendar = load_calendar(settings.data_dir, zone=settings.timezone)
    except FangkongError as exc:
        _fail(exc)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    report = jobs.run_tick(factory, calendar=calendar, now=_moment(at))
    console.print(
        f"checked {report.checked} open cases: {report.reminded} reminded, "
        f"{report.flagged_overdue} flagged overdue, {report.escalated} escalated, "
        f"{report.notices} notices"
    )


@cases_app.command("purge")
def purge(data_dir: DataDir = None, at: At = None) -> None:
    """Anonymise cases closed longer ago than their type's retention period."""
    settings = _settings(data_dir)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    report = jobs.run_purge(factory, storage=storage_for(settings), now=_moment(at))
    console.print(
        f"purged {report.cases} cases: {report.parties} parties anonymised, "
        f"{report.attachments} attachments deleted"
    )


@cases_app.command("types")
def types(
    check: Annotated[
        list[Path] | None,
        typer.Option(
            "--check", exists=True, dir_okay=False, help="Also validate these YAML declarations"
        ),
    ] = None,
) -> None:
    """List the declared case types; validate YAML declarations with --check."""
    table = Table("type", "prefix", "states", "transitions", "retention (days)")
    for decl in registry.all_types():
        table.add_row(
            decl.name,
            decl.prefix,
            ", ".join(s.name for s in decl.states),
            str(len(decl.transitions)),
            str(decl.retention_days or "—"),
        )
    console.print(table)
    failed = False
    for path in check or []:
        try:
            decl = load_yaml(path)
        except DeclarationError as exc:
            console.print(f"[red]invalid:[/red] {exc}")
            failed = True
        else:
            console.print(f"valid: {path} declares {decl.name!r}")
    if failed:
        raise typer.Exit(code=1)


@cases_app.command("indicators")
def indicators(
    case_type: Annotated[str, typer.Option("--type", help="hazard or dispute")],
    area: Annotated[str, typer.Option(help="Area code")],
    start: Annotated[str, typer.Option(help="ISO date-time with zone: period start")],
    end: Annotated[str, typer.Option(help="ISO date-time with zone: period end (excluded)")],
    data_dir: DataDir = None,
) -> None:
    """Indicators of one case type for an area and its children."""
    from fangkong.areas import service as area_service
    from fangkong.cases import indicators as case_indicators

    settings = _settings(data_dir)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    table = Table(
        "area",
        "found",
        "resolved",
        "on time",
        "rate",
        "overdue",
        "median h",
        "reopen",
    )

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    try:
        with session_scope(factory) as session:
            parent = area_service.get_by_code_or_raise(session, code=area)
            rows = case_indicators.by_child_area(
                session,
                case_type=case_type,
                parent=parent,
                start=_moment(start),
                end=_moment(end),
                now=utcnow(),
            )
    except FangkongError as exc:
        _fail(exc)
    rates = [rate.name for rate in registry.get(case_type).rates]
    for name in rates:  # the rates the type declares, after the ones every type has
        table.add_column(translate(f"cases.ind.{name}", "en"))
    for r in rows:
        table.add_row(
            r.area_code,
            str(r.found),
            str(r.resolved),
            str(r.resolved_within_deadline),
            pct(r.resolution_rate),
            str(r.overdue),
            "—" if r.median_hours_to_close is None else f"{r.median_hours_to_close:.1f}",
            pct(r.reopen_rate),
            *(pct(r.rates.get(name)) for name in rates),
        )
    console.print(table)
