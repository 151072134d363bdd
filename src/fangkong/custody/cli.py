"""``fangkong custody ...``: load seized items from a spreadsheet, export them, and open the
overdue alerts on the supervision board."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fangkong.cases.calendar import load_calendar
from fangkong.core.audit import SYSTEM
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.custody import importing, service
from fangkong.http.tables import write_csv, write_xlsx

custody_app = typer.Typer(
    help="Custody of seized property (涉案财物): import, export, overdue alerts.",
    no_args_is_help=True,
)
File = Annotated[Path, typer.Argument(help="A CSV or XLSX file")]


@custody_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], data_dir: DataDir = None
) -> None:
    """Register seized items (each with its received step) from a CSV or XLSX file
    (docs/custody.md); the rows refused are listed with their row, column and rule (exit 1 if
    any). An existing code is refused: the chain is append-only."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            report = importing.import_items(
                session,
                name=file.name,
                data=file.read_bytes(),
                actor=SYSTEM,
                scope=None,
                now=utcnow(),
            )
    except FangkongError as exc:
        fail(exc)
    console.print(f"{report.created} registered")
    if report.errors:
        table = Table("row", "column", "why")
        for e in report.errors:
            table.add_row(str(e.row), e.field or "", e.message)
        console.print(table)
        raise typer.Exit(code=1)


@custody_app.command("export")
def export_command(file: File, data_dir: DataDir = None) -> None:
    """Write the items to a CSV or XLSX file (by its suffix) in the import's columns (never
    the description: free text)."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session, file.open("wb") as out:
        header, rows = importing.export_rows(session, scope=SYSTEM_SCOPE)
        if file.suffix.lower() == ".xlsx":
            n = write_xlsx(out, header, rows, zone=settings.zone, title="custody")
        else:
            n = write_csv(out, header, rows, zone=settings.zone)
    console.print(f"{n} items written to {file}")


@custody_app.command("alerts")
def alerts_command(data_dir: DataDir = None) -> None:
    """Open an overdue case for each item past its stage's deadline (the server does it every
    10 minutes); print the items overdue."""
    settings = settings_for(data_dir)
    upgrade(settings)
    calendar = load_calendar(settings.data_dir, zone=settings.timezone)
    with session_scope(session_factory(settings)) as session:
        opened = service.raise_alerts(session, now=utcnow(), calendar=calendar, actor=SYSTEM)
        table = Table("item", "stage", "deadline", "area")
        for item in session.scalars(service.overdue_select(SYSTEM_SCOPE, utcnow())).unique():
            table.add_row(item.code, item.stage.value, str(item.due_at), item.area.code)
    console.print(f"{len(opened)} alerts opened")
    console.print(table)
