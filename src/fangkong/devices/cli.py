"""``fangkong devices ...``: load the device register and status reports from spreadsheets,
export the register, print the figures per area."""

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
from fangkong.devices import figures, importing
from fangkong.http.tables import write_csv, write_xlsx

devices_app = typer.Typer(
    help="Devices (一机一档): import, status reports, export, figures.", no_args_is_help=True
)
Existing = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or XLSX")]


def _errors(errors: list) -> None:  # type: ignore[type-arg]
    if errors:
        table = Table("row", "column", "why")
        for e in errors:
            table.add_row(str(e.row), e.field or "", e.message)
        console.print(table)
        raise typer.Exit(code=1)


@devices_app.command("import")
def import_command(file: Existing, data_dir: DataDir = None) -> None:
    """Register or update devices from a CSV or XLSX file (docs/registers.md)."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            report = importing.import_devices(
                session,
                name=file.name,
                data=file.read_bytes(),
                actor=SYSTEM,
                now=utcnow(),
                scope=None,
            )
    except FangkongError as exc:
        fail(exc)
    console.print(f"{report.created} registered, {report.updated} updated")
    _errors(report.errors)


@devices_app.command("status")
def status_command(file: Existing, data_dir: DataDir = None) -> None:
    """Apply the status reports of a CSV or XLSX file (code, status, at, heartbeat_at);
    idempotent: a file loaded again changes nothing."""
    settings = settings_for(data_dir)
    try:
        with session_scope(session_factory(settings)) as session:
            result = importing.import_statuses(
                session,
                name=file.name,
                data=file.read_bytes(),
                actor=SYSTEM,
                now=utcnow(),
                scope=None,
            )
    except FangkongError as exc:
        fail(exc)
    console.print(f"{result.changed} changed, {result.unchanged} unchanged, {result.stale} stale")
    _errors(result.errors)


@devices_app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx file")], data_dir: DataDir = None
) -> None:
    """Write the register to a CSV or XLSX file in the import's columns."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session, file.open("wb") as out:
        header, rows = importing.export_rows(session, scope=SYSTEM_SCOPE)
        if file.suffix.lower() == ".xlsx":
            n = write_xlsx(out, header, rows, zone=settings.zone, title="devices")
        else:
            n = write_csv(out, header, rows, zone=settings.zone)
    console.print(f"{n} devices written to {file}")


@devices_app.command("figures")
def figures_command(
    level: Annotated[str, typer.Option(help="city, district, station, beat or grid")] = "station",
    data_dir: DataDir = None,
) -> None:
    """Per area of a level: devices, networked, online and working rates, public camera
    density against its target."""
    settings = settings_for(data_dir)
    with session_scope(session_factory(settings)) as session:
        found = figures.figures(session, scope=SYSTEM_SCOPE)
    table = Table("area", "devices", "networked", "online", "working", "cameras/km²", "target")
    for area in found:
        if area.level != level:
            continue
        z = area.zone("all")

        def pct(v: float | None) -> str:
            return f"{v:.1%}" if v is not None else "—"

        table.add_row(
            area.code,
            str(z.devices),
            pct(z.networked_rate),
            pct(z.online_rate),
            pct(z.working_rate),
            f"{z.density:.1f}" if z.density is not None else "—",
            f"{z.density_target:.0f}" if z.density_target else "—",
        )
    console.print(table)
