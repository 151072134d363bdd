"""The ``fangkong demo`` command: build the demo county and serve the console.

Registered on the command line by :func:`register_demo`, so that the product's own modules
never import the demo package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from fangkong.core.commands import DataDir, console, session_factory, settings_for, upgrade
from fangkong.core.config import Settings
from fangkong.core.db import session_scope
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import import_and_activate


def register_demo(app: typer.Typer, *, serve: Callable[[Settings], None]) -> None:
    """Add ``demo`` to ``app``; ``serve`` serves the console for the given settings."""

    @app.command()
    def demo(
        data_dir: DataDir = None,
        rebuild: Annotated[
            bool, typer.Option(help="Delete the demo database and build anew")
        ] = False,
        serve_console: Annotated[
            bool, typer.Option("--serve/--no-serve", help="Serve the console after building")
        ] = True,
        host: Annotated[str | None, typer.Option()] = None,
        port: Annotated[int | None, typer.Option()] = None,
        live: Annotated[
            bool,
            typer.Option(
                "--live",
                help="While serving, record a simulated incident every few seconds and dispatch it",
            ),
        ] = False,
        live_interval: Annotated[
            float, typer.Option(help="Seconds between live incidents")
        ] = 15.0,  # demo.live.LIVE_INTERVAL_S (not imported here: the command loads lazily)
    ) -> None:
        """Build the demo county (real OSM data of Liechtenstein) and serve the console."""
        from fangkong.core.security import FieldCipher
        from fangkong.demo import build as demo_build

        overrides: dict[str, object] = {"environment": "demo"}
        if host:
            overrides["host"] = host
        if port:
            overrides["port"] = port
        settings = settings_for(data_dir, **overrides)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if rebuild:
            _remove_demo_database(settings)
        upgrade(settings)
        factory = session_factory(settings)
        with session_scope(factory) as session:
            built = demo_build.is_built(session)
        if built:
            console.print(
                f"reusing the demo county in {settings.data_dir} (--rebuild to start over)"
            )
            with session_scope(factory) as session:
                remeasured = demo_build.remeasure_areas(session)
            if remeasured:
                console.print(
                    f"{len(remeasured)} area sizes measured anew (the stored ones came from "
                    "an earlier, wrong measure); --rebuild also removes their polygons' spikes"
                )
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
                "built",
                "count",
                title=f"demo county built in {time.perf_counter() - started:.1f} s",
            )
            for level, count in report.areas_by_level.items():
                table.add_row(f"areas: {level}", str(count))
            table.add_row("roads (OSM ways)", str(report.roads))
            table.add_row(
                "standard addresses",
                f"{report.addresses} ({report.addresses_from_osm} from OSM; "
                f"{report.addresses_outside} outside the county's areas left out)",
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
                serve(settings)
                return
            from fangkong.demo.live import LiveFeed

            feed = LiveFeed(
                factory,
                network=lambda: network_service.current(settings.data_dir),
                cipher=FieldCipher(settings.ensure_secret_key()),
                zone=settings.zone,
                interval_s=live_interval,
            )
            console.print(
                f"live feed: a simulated incident every {live_interval:g} s, dispatched by the "
                "recommender; its units drive their road routes (left out of the KPIs)"
            )
            feed.start()
            try:
                serve(settings)
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
