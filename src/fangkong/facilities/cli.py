"""``fangkong facilities ...``: load the key-facility register from a spreadsheet, export it,
and print the rates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fangkong.core.audit import SYSTEM
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.facilities import importing, register
from fangkong.http.tables import write_csv, write_xlsx

facilities_app = typer.Typer(
    help="Key facilities (重点单位): import, export, rates.", no_args_is_help=True
)
File = Annotated[Path, typer.Argument(help="A CSV or XLSX file")]


@facilities_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], data_dir: DataDir = None
) -> None:
    """Register or update key facilities from a CSV or XLSX file (docs/registers.md); the
    rows refused are listed with their row, column and rule (exit 1 if any)."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            report = importing.import_facilities(
                session, name=file.name, data=file.read_bytes(), actor=SYSTEM, scope=None
            )
    except FangkongError as exc:
        fail(exc)
    console.print(f"{report.created} registered, {report.updated} updated")
    if report.errors:
        table = Table("row", "column", "why")
        for e in report.errors:
            table.add_row(str(e.row), e.field or "", e.message)
        console.print(table)
        raise typer.Exit(code=1)


@facilities_app.command("export")
def export_command(file: File, data_dir: DataDir = None) -> None:
    """Write the register to a CSV or XLSX file (by its suffix) in the import's columns."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session, file.open("wb") as out:
        header, rows = importing.export_rows(session, scope=SYSTEM_SCOPE)
        if file.suffix.lower() == ".xlsx":
            n = write_xlsx(out, header, rows, zone=settings.zone, title="facilities")
        else:
            n = write_csv(out, header, rows, zone=settings.zone)
    console.print(f"{n} facilities written to {file}")


@facilities_app.command("rates")
def rates_command(data_dir: DataDir = None) -> None:
    """Per area and facility type (all types): compliant share, inspected this quarter,
    overdue rectifications."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session:
        rows = register.rates(session, scope=SYSTEM_SCOPE, now=utcnow(), zone=settings.zone)
    table = Table("area", "facilities", "compliant", "inspected", "overdue")
    for r in rows:
        if r.facility_type != "all":
            continue
        share = f"{r.compliant_share:.1%}" if r.compliant_share is not None else "—"
        seen = f"{r.inspected_share:.1%}" if r.inspected_share is not None else "—"
        table.add_row(r.area_code, str(r.facilities), share, seen, str(r.overdue_rectifications))
    console.print(table)
