"""``fangkong community ...``: load the safety teams from a spreadsheet, export them, print
the figures against the targets, and run the personal-data purge of the domain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fangkong.community import importing, service
from fangkong.core.audit import SYSTEM
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.http.tables import write_csv, write_xlsx

community_app = typer.Typer(
    help="Community safety forces (群防群治): teams import, export, figures.", no_args_is_help=True
)
File = Annotated[Path, typer.Argument(help="A CSV or XLSX file")]


@community_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], data_dir: DataDir = None
) -> None:
    """Register or update safety teams from a CSV or XLSX file (docs/community.md); the rows
    refused are listed with their row, column and rule (exit 1 if any)."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            report = importing.import_teams(
                session,
                name=file.name,
                data=file.read_bytes(),
                actor=SYSTEM,
                scope=None,
                now=utcnow(),
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


@community_app.command("export")
def export_command(file: File, data_dir: DataDir = None) -> None:
    """Write the teams to a CSV or XLSX file (by its suffix) in the import's columns (counts
    only: no member is exported)."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session, file.open("wb") as out:
        header, rows = importing.export_rows(session, scope=SYSTEM_SCOPE)
        if file.suffix.lower() == ".xlsx":
            n = write_xlsx(out, header, rows, zone=settings.zone, title="teams")
        else:
            n = write_csv(out, header, rows, zone=settings.zone)
    console.print(f"{n} teams written to {file}")


@community_app.command("figures")
def figures_command(data_dir: DataDir = None) -> None:
    """Per area: residents, forces per 100,000 residents (target 1,000), committees with at
    least 3 members, communities with a team."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session:
        rows = service.figures(session, scope=SYSTEM_SCOPE)
        table = Table("area", "residents", "forces", "per 100k", "committees ≥3", "communities")
        for r in rows:
            per = f"{r.forces_per_100k:.0f}" if r.forces_per_100k is not None else "—"
            table.add_row(
                r.area.code,
                str(r.residents if r.residents is not None else "—"),
                str(r.forces),
                per,
                f"{r.committees_with_3}/{r.committees}",
                f"{r.communities_with_team}/{r.communities}",
            )
    console.print(table)
