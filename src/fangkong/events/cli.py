"""``fangkong events ...``: load large-event applications and emergency plans from
spreadsheets, export them, and print the activations' figures (real ones, or drills)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from fangkong.cases.calendar import load_calendar
from fangkong.core.audit import SYSTEM
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.core.security import FieldCipher
from fangkong.events import activations, importing
from fangkong.http.tables import write_csv, write_xlsx

events_app = typer.Typer(
    help="Large-event security and emergency plans: import, export, activation figures.",
    no_args_is_help=True,
)
Kind = Annotated[
    Literal["events", "plans"],
    typer.Option("--kind", help="events (applications) or plans (emergency plans)"),
]


@events_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    kind: Kind = "events",
    data_dir: DataDir = None,
) -> None:
    """Register or update applications (opening their approval cases) or plans from a CSV or
    XLSX file (docs/events.md); the rows refused are listed with their row, column and rule
    (exit 1 if any)."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            if kind == "events":
                report = importing.import_events(
                    session,
                    name=file.name,
                    data=file.read_bytes(),
                    actor=SYSTEM,
                    cipher=FieldCipher(settings.ensure_secret_key()),
                    scope=None,
                    now=utcnow(),
                    calendar=load_calendar(settings.data_dir, zone=settings.timezone),
                    zone=settings.zone,
                )
            else:
                report = importing.import_plans(
                    session, name=file.name, data=file.read_bytes(), actor=SYSTEM, scope=None
                )
    except FangkongError as exc:
        fail(exc)
    console.print(f"{report.created} created, {report.updated} updated")
    if report.errors:
        table = Table("row", "column", "why")
        for e in report.errors:
            table.add_row(str(e.row), e.field or "", e.message)
        console.print(table)
        raise typer.Exit(code=1)


@events_app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="A CSV or XLSX file (by its suffix)")],
    kind: Kind = "events",
    data_dir: DataDir = None,
) -> None:
    """Write the applications (no contact) or the plans in their import's columns."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session, file.open("wb") as out:
        export = importing.export_events if kind == "events" else importing.export_plans
        header, rows = export(session, scope=SYSTEM_SCOPE)
        if file.suffix.lower() == ".xlsx":
            n = write_xlsx(out, header, rows, zone=settings.zone, title=kind)
        else:
            n = write_csv(out, header, rows, zone=settings.zone)
    console.print(f"{n} {kind} written to {file}")


@events_app.command("kpis")
def kpis_command(
    days: Annotated[int, typer.Option(min=1, max=3660, help="The last N days")] = 30,
    drill: Annotated[bool, typer.Option("--drill", help="Drills alone, not real ones")] = False,
    data_dir: DataDir = None,
) -> None:
    """Activations started in the last ``days`` and how their timings met the targets: real
    ones, or with --drill the drills alone (never together)."""
    settings = settings_for(data_dir)
    until = utcnow()
    with session_scope(session_factory(settings)) as session:
        found = activations.kpis(
            session,
            scope=SYSTEM_SCOPE,
            since=until - timedelta(days=days),
            until=until,
            drill=drill,
        )
    table = Table("kind", "activations", "timed", "first met", "first-tier met", "mean first (s)")
    share = f"{found.first_met_share:.0%}" if found.first_met_share is not None else "—"
    mean = f"{found.mean_first_arrival_s:.0f}" if found.mean_first_arrival_s is not None else "—"
    table.add_row(
        "drill" if drill else "real",
        str(found.activations),
        str(found.timed),
        f"{found.first_met} ({share})",
        str(found.full_met),
        mean,
    )
    console.print(table)
