"""``fangkong materials ...``: load the hazardous-material registers and the ledger from
spreadsheets, export the ledger, reconcile a period (and open cases for what it finds)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
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
from fangkong.core.security import FieldCipher
from fangkong.http.tables import write_csv, write_xlsx
from fangkong.materials import findings, importing, reconcile

materials_app = typer.Typer(
    help="Hazardous materials (危爆物品): import, ledger export, reconciliation.",
    no_args_is_help=True,
)


@materials_app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(help="materials, holders, sites, movements or counts")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX")],
    data_dir: DataDir = None,
) -> None:
    """Load the catalogue, holders, sites, ledger rows or counts from a CSV or XLSX file
    (docs/registers.md); rows held already are counted, not written twice."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            report = importing.import_file(
                session,
                kind=kind,
                name=file.name,
                data=file.read_bytes(),
                actor=SYSTEM,
                now=utcnow(),
                zone=settings.zone,
                cipher=FieldCipher(settings.ensure_secret_key()),
                scope=None,
            )
    except FangkongError as exc:
        fail(exc)
    console.print(
        f"{report.created} added, {report.updated} updated, {report.existing} held already"
    )
    if report.errors:
        table = Table("row", "column", "why")
        for e in report.errors:
            table.add_row(str(e.row), e.field or "", e.message)
        console.print(table)
        raise typer.Exit(code=1)


@materials_app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file")], data_dir: DataDir = None
) -> None:
    """Write the ledger's counting rows to a CSV or XLSX file in the import's columns."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session, file.open("wb") as out:
        header, rows = importing.export_movements(session, scope=SYSTEM_SCOPE, zone=settings.zone)
        if file.suffix.lower() == ".xlsx":
            n = write_xlsx(out, header, rows, zone=settings.zone, title="ledger")
        else:
            n = write_csv(out, header, rows, zone=settings.zone)
    console.print(f"{n} ledger rows written to {file}")


@materials_app.command("reconcile")
def reconcile_command(
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (the county's zone)")],
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (included)")],
    open_cases: Annotated[
        bool, typer.Option("--open-cases", help="Open a case for each new discrepancy")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Reconcile every holder's ledger over the days: each discrepancy (exit 1 if any)."""
    settings = settings_for(data_dir)
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        console.print("[red]error:[/red] --start and --end are days, YYYY-MM-DD")
        raise typer.Exit(code=2) from None
    zone = settings.zone
    begin = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    stop = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    with session_scope(session_factory(settings)) as session:
        result = reconcile.reconcile(
            session, scope=SYSTEM_SCOPE, start=begin, end=stop, now=utcnow(), zone=zone
        )
        names = findings.Names.of(session, result.discrepancies)
        table = Table("kind", "holder", "what")
        for d in result.discrepancies:
            table.add_row(
                d.kind.value, names.holder(d.holder_id) or "", findings.describe(d, names, "en")
            )
        console.print(f"{result.rows} rows, {len(result.balances)} balances")
        console.print(table)
        if open_cases:
            opened, existing = findings.open_cases(
                session,
                discrepancies=result.discrepancies,
                user=None,
                actor=SYSTEM,
                now=utcnow(),
                calendar=load_calendar(settings.data_dir, zone=settings.timezone),
            )
            console.print(f"{len(opened)} cases opened, {existing} had one")
    if result.discrepancies:
        raise typer.Exit(code=1)
