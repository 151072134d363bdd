"""The ``fangkong`` command line."""

from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fangkong.areas import service as area_service
from fangkong.areas.coords import CoordSystem
from fangkong.cases.cli import cases_app
from fangkong.community.cli import community_app
from fangkong.core.audit import SYSTEM
from fangkong.core.cli import register as register_core
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.config import Settings
from fangkong.core.db import make_engine, session_scope
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import Scope
from fangkong.core.users_cli import users_app
from fangkong.custody.cli import custody_app
from fangkong.demo.cli import register_demo
from fangkong.devices.cli import devices_app
from fangkong.dispatch.cli import dispatch_app
from fangkong.events.cli import events_app
from fangkong.facilities.cli import facilities_app
from fangkong.indicators.cli import indicators_app
from fangkong.materials.cli import materials_app
from fangkong.network.cli import network_app
from fangkong.planning.analysis_cli import register as register_analyses
from fangkong.planning.cli import planning_app
from fangkong.province.cli import province_app

app = typer.Typer(
    help="fangkong: a county's public-safety prevention system.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
areas_app = typer.Typer(
    help="Jurisdiction tree: import, fusion check, point lookup.", no_args_is_help=True
)
addresses_app = typer.Typer(help="Standard addresses.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(areas_app, name="areas")
app.add_typer(addresses_app, name="addresses")
app.add_typer(users_app, name="users")
app.add_typer(network_app, name="network")
app.add_typer(cases_app, name="cases")
app.add_typer(dispatch_app, name="dispatch")
register_analyses(planning_app)  # hotspots, deployment, beats
app.add_typer(planning_app, name="planning")
app.add_typer(facilities_app, name="facilities")
app.add_typer(devices_app, name="devices")
app.add_typer(materials_app, name="materials")
app.add_typer(province_app, name="province")
app.add_typer(indicators_app, name="indicators")
app.add_typer(events_app, name="events")
app.add_typer(community_app, name="community")
app.add_typer(custody_app, name="custody")

WHOLE_TREE = Scope(paths=("/",))


@db_app.command("upgrade")
def dbupgrade(data_dir: DataDir = None) -> None:
    """Create or migrate the database schema to the newest version."""
    settings = settings_for(data_dir)
    upgrade(settings)
    console.print(f"database at the newest schema: {settings.resolved_database_url}")


@db_app.command("current")
def db_current(data_dir: DataDir = None) -> None:
    """Show the database's schema version."""
    from fangkong.core.migrate import current_revision

    settings = settings_for(data_dir)
    console.print(current_revision(make_engine(settings.resolved_database_url)) or "empty")


@areas_app.command("import")
def areas_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="GeoJSON file")],
    crs: Annotated[
        CoordSystem, typer.Option(help="Coordinate system of the file")
    ] = CoordSystem.WGS84,
    data_dir: DataDir = None,
) -> None:
    """Import areas from a GeoJSON FeatureCollection, all or nothing."""
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        data = json.loads(file.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"[red]error:[/red] {file} is not JSON: {exc}")
        raise typer.Exit(code=2) from None
    factory = session_factory(settings)
    try:
        with session_scope(factory) as session:
            report = area_service.import_geojson(session, data=data, crs=crs, actor=SYSTEM)
    except FangkongError as exc:
        fail(exc)
    levels = ", ".join(f"{k}: {v}" for k, v in report.by_level.items())
    console.print(f"imported {report.created} areas ({levels})")


@areas_app.command("check")
def areas_check(
    tolerance_m2: Annotated[
        float, typer.Option(help="Ignore faults smaller than this")
    ] = area_service.DEFAULT_FUSION_TOLERANCE_M2,
    data_dir: DataDir = None,
) -> None:
    """Grid fusion check: every fault with its area codes and size; exit 1 if any."""
    settings = settings_for(data_dir)
    factory = session_factory(settings)
    with session_scope(factory) as session:
        report = area_service.fusion_check(session, scope=WHOLE_TREE, tolerance_m2=tolerance_m2)
    console.print(
        f"checked {report.checked_stations} stations, {report.checked_beats} beat "
        f"areas (tolerance {report.tolerance_m2} m²)"
    )
    if not report.violations:
        console.print("[green]no faults[/green]")
        return
    table = Table("fault", "areas", "m²")
    for v in report.violations:
        table.add_row(v.kind, " ".join(v.codes), f"{v.area_m2:,.1f}")
    console.print(table)
    raise typer.Exit(code=1)


@areas_app.command("locate")
def areas_locate(
    lon: float,
    lat: float,
    crs: Annotated[CoordSystem, typer.Option()] = CoordSystem.WGS84,
    data_dir: DataDir = None,
) -> None:
    """Show the areas holding a point."""
    settings = settings_for(data_dir)
    factory = session_factory(settings)
    with session_scope(factory) as session:
        try:
            lon, lat, chain = area_service.locate(session, lon=lon, lat=lat, crs=crs)
        except FangkongError as exc:
            fail(exc)
        console.print(f"WGS-84 {lon:.6f}, {lat:.6f}")
        for area in chain:
            console.print(
                f"  {area.level.value:<9} {area.code:<16} {area.name_zh} / {area.name_en}"
            )
        if not chain:
            console.print("  outside every area")


@addresses_app.command("import")
def addresses_import(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="CSV with code,text_zh,text_en,lon,lat"),
    ],
    crs: Annotated[CoordSystem, typer.Option()] = CoordSystem.WGS84,
    data_dir: DataDir = None,
) -> None:
    """Import standard addresses from CSV, all or nothing."""
    settings = settings_for(data_dir)
    rows: list[area_service.AddressRow] = []
    with file.open(encoding="utf-8-sig", newline="") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            try:
                rows.append(
                    area_service.AddressRow(
                        code=(record.get("code") or "").strip(),
                        text_zh=(record.get("text_zh") or "").strip(),
                        text_en=(record.get("text_en") or "").strip(),
                        lon=float(record.get("lon") or "nan"),
                        lat=float(record.get("lat") or "nan"),
                    )
                )
            except ValueError:
                console.print(f"[red]error:[/red] line {line}: lon/lat are not numbers")
                raise typer.Exit(code=2) from None
    factory = session_factory(settings)
    try:
        with session_scope(factory) as session:
            count = area_service.import_addresses(session, rows=rows, crs=crs, actor=SYSTEM)
    except FangkongError as exc:
        fail(exc)
    console.print(f"imported {count} standard addresses")


def server_log_config() -> dict[str, Any]:
    """uvicorn's logging, and the app's own beside it at INFO on the same handler: what its
    background jobs ran and for how long, in the server's log."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["fangkong"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    from fangkong.web.app import create_app

    # Live streams (SSE) stay open: give them a few seconds on shutdown, not forever.
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "log_config": server_log_config(),
        "timeout_graceful_shutdown": 3,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Each worker process builds its app from the environment: hand it these settings there.
    # The secret is made once here, before the workers race to create it.
    settings.ensure_secret_key()
    os.environ["FANGKONG_DATA_DIR"] = str(settings.data_dir.resolve())
    if settings.database_url:
        os.environ["FANGKONG_DATABASE_URL"] = settings.database_url
    uvicorn.run("fangkong.web.app:app_from_environment", factory=True, workers=workers, **options)


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Server processes; live pages reach across them within 2 s"
        ),
    ] = 1,
) -> None:
    """Serve the web console and the API."""
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = settings_for(data_dir, **overrides)
    upgrade(settings)
    console.print(f"fangkong console: http://{settings.host}:{settings.port}/ (API docs at /docs)")
    _serve(settings, workers=workers)


# The demo county's command is the demo package's: the product never imports demo data.
register_demo(app, serve=_serve)
register_core(app, db=db_app)

if __name__ == "__main__":
    app()
