"""The ``fangkong`` command line."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from fangkong.areas import service as area_service
from fangkong.areas.coords import CoordSystem
from fangkong.cases.cli import cases_app
from fangkong.core.audit import SYSTEM
from fangkong.core.config import Settings, load_settings
from fangkong.core.db import make_engine, make_session_factory, session_scope
from fangkong.core.errors import FangkongError
from fangkong.core.models import Role
from fangkong.core.scoping import Scope
from fangkong.dispatch.cli import dispatch_app
from fangkong.network import service as network_service
from fangkong.network.cli import network_app
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import import_and_activate

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
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(areas_app, name="areas")
app.add_typer(addresses_app, name="addresses")
app.add_typer(users_app, name="users")
app.add_typer(network_app, name="network")
app.add_typer(cases_app, name="cases")
app.add_typer(dispatch_app, name="dispatch")

console = Console()
WHOLE_TREE = Scope(paths=("/",))

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"),
]


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


def _upgrade(settings: Settings) -> None:
    from fangkong.core.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(make_engine(settings.resolved_database_url))


def _factory(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(make_engine(settings.resolved_database_url))


def _fail(exc: FangkongError) -> NoReturn:
    console.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create or migrate the database schema to the newest version."""
    settings = _settings(data_dir)
    _upgrade(settings)
    console.print(f"database at the newest schema: {settings.resolved_database_url}")


@db_app.command("current")
def db_current(data_dir: DataDir = None) -> None:
    """Show the database's schema version."""
    from fangkong.core.migrate import current_revision

    settings = _settings(data_dir)
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
    settings = _settings(data_dir)
    _upgrade(settings)
    try:
        data = json.loads(file.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"[red]error:[/red] {file} is not JSON: {exc}")
        raise typer.Exit(code=2) from None
    factory = _factory(settings)
    try:
        with session_scope(factory) as session:
            report = area_service.import_geojson(session, data=data, crs=crs, actor=SYSTEM)
    except FangkongError as exc:
        _fail(exc)
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
    settings = _settings(data_dir)
    factory = _factory(settings)
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
    settings = _settings(data_dir)
    factory = _factory(settings)
    with session_scope(factory) as session:
        try:
            lon, lat, chain = area_service.locate(session, lon=lon, lat=lat, crs=crs)
        except FangkongError as exc:
            _fail(exc)
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
    settings = _settings(data_dir)
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
    factory = _factory(settings)
    try:
        with session_scope(factory) as session:
            count = area_service.import_addresses(session, rows=rows, crs=crs, actor=SYSTEM)
    except FangkongError as exc:
        _fail(exc)
    console.print(f"imported {count} standard addresses")


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[Role, typer.Option()],
    area: Annotated[list[str], typer.Option(help="Area code the user is bound to (repeat)")],
    display_name: Annotated[str | None, typer.Option()] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a user bound to one or more areas."""
    from fangkong.core import auth

    settings = _settings(data_dir)
    _upgrade(settings)
    factory = _factory(settings)
    try:
        with session_scope(factory) as session:
            auth.create(
                session,
                username=username,
                display_name=display_name or username,
                password=password,
                role=role,
                area_codes=area,
                actor=SYSTEM,
            )
    except FangkongError as exc:
        _fail(exc)
    console.print(f"created {username} ({role.value})")


def _serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    from fangkong.web.app import create_app

    # Live streams (SSE) stay open: give them a few seconds on shutdown, not forever.
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
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
    settings = _settings(data_dir, **overrides)
    _upgrade(settings)
    console.print(f"fangkong console: http://{settings.host}:{settings.port}/ (API docs at /docs)")
    _serve(settings, workers=workers)


@app.command()
def demo(
    data_dir: DataDir = None,
    rebuild: Annotated[bool, typer.Option(help="Delete the demo database and build anew")] = False,
    serve_console: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the console after building")
    ] = True,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="While serving, record a generated incident every few seconds and dispatch it",
        ),
    ] = False,
    live_interval: Annotated[float, typer.Option(help="Seconds between live incidents")] = 8.0,
) -> None:
    """Build the demo county (real OSM data of Liechtenstein) and serve the console."""
    from fangkong.core.security import FieldCipher
    from fangkong.demo import build as demo_build

    overrides: dict[str, object] = {"environment": "demo"}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = _settings(data_dir, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if rebuild:
        _remove_demo_database(settings)
    _upgrade(settings)
    factory = _factory(settings)
    with session_scope(factory) as session:
        built = demo_build.is_built(session)
    if built:
        console.print(f"reusing the demo county in {settings.data_dir} (--rebuild to start over)")
    else:
        started = time.perf_counter()
        with (
            console.status("building the demo county…") as status,
            session_scope(factory) as session,
        ):

            def progress(message: str) -> None:
                status.update(f"building the demo county… {message}")
                console.log(message)

            report = demo_build.build(
                session,
                data_dir=settings.data_dir,
                cipher=FieldCipher(settings.ensure_secret_key()),
                progress=progress,
                zone=settings.zone,
            )
        table = Table(
            "built", "count", title=f"demo county built in {time.perf_counter() - started:.1f} s"
        )
        for level, count in report.areas_by_level.items():
            table.add_row(f"areas: {level}", str(count))
        table.add_row("roads (OSM ways)", str(report.roads))
        table.add_row(
            "standard addresses", f"{report.addresses} ({report.addresses_from_osm} from OSM)"
        )
        table.add_row("users", str(report.users))
        table.add_row(
            "hazards / disputes",
            f"{report.hazards} / {report.disputes} ({report.overdue_cases} overdue)",
        )
        generated = report.incidents
        table.add_row(
            "police posts / units",
            f"{generated.posts} / "
            f"{sum(generated.units_by_type.values())} ("
            + ", ".join(f"{k} {v}" for k, v in generated.units_by_type.items())
            + ")",
        )
        table.add_row(
            "incidents",
            f"{generated.incidents:,} ({generated.first_day} to "
            f"{generated.last_day}; {generated.merged:,} second calls merged)",
        )
        console.print(table)
    # The road graph comes from the same extract; the cache makes a rerun instant.
    graph, hit, _ = import_and_activate(settings.data_dir, demo_build.DEMO_PBF, DEFAULT_PROFILE)
    console.print(
        f"road network: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges "
        f"({'from the cache' if hit else 'built'})"
    )
    with console.status("preparing the travel-time engine (compiled once, then cached)…"):
        # The first query compiles the engine's kernels; do it here, not in a user's click.
        network = network_service.current(settings.data_dir)
        network.engine.one_to_many(0, np.arange(min(10, graph.n_nodes)), cutoff_s=60.0)
    with session_scope(factory) as session:
        logins = demo_build.demo_logins(session)
    table = Table("username", "password", "role", "area", title="demo logins")
    for login in logins:
        table.add_row(
            login.username,
            demo_build.DEMO_PASSWORD,
            login.role.value,
            f"{login.area_code} ({login.description})",
        )
    console.print(table)
    if serve_console:
        console.print(
            f"fangkong console: [bold]http://{settings.host}:{settings.port}/[/bold] "
            "(API docs at /docs)"
        )
        if not live:
            _serve(settings)
            return
        from fangkong.demo.incidents import LiveFeed

        feed = LiveFeed(
            factory,
            network=lambda: network_service.current(settings.data_dir),
            cipher=FieldCipher(settings.ensure_secret_key()),
            zone=settings.zone,
            interval_s=live_interval,
        )
        console.print(
            f"live feed: a generated incident every {live_interval:g} s, "
            "dispatched by the recommender"
        )
        feed.start()
        try:
            _serve(settings)
        finally:
            # uvicorn returns on Ctrl-C; the feed stops with it (its current tick commits).
            feed.stop()


def _remove_demo_database(settings: Settings) -> None:
    url = settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        console.print(
            "[red]error:[/red] --rebuild only deletes the embedded SQLite database; "
            "drop a PostgreSQL database yourself"
        )
        raise typer.Exit(code=2)
    db_file = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    from fangkong.demo.build import ROADS_FILE

    (settings.data_dir / ROADS_FILE).unlink(missing_ok=True)


if __name__ == "__main__":
    app()
