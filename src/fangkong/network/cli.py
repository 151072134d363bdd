"""``fangkong network ...``: import a road network and show the current one (see ``store``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from fangkong.areas.coords import CoordSystem
from fangkong.core.config import Settings, load_settings
from fangkong.core.errors import FangkongError
from fangkong.network._build import ImportReport
from fangkong.network.graph import RoadGraph
from fangkong.network.profile import DEFAULT_PROFILE, Profile, load_profile
from fangkong.network.store import (
    SourceFormat,
    county_data_dir,
    current_graph_path,
    import_and_activate,
    load_current,
)

__all__ = ["network_app"]

network_app = typer.Typer(
    help="Road network: import an OSM extract or a GIS road layer.", no_args_is_help=True
)
console = Console()

_STAGES = {
    "read": "reading",
    "split": "splitting at junctions",
    "speeds": "speeds and times",
    "components": "strongly connected components",
    "hierarchy": "contraction hierarchy",
}


def _summary(
    report: ImportReport | None, graph: RoadGraph, *, hit: bool | None, seconds: float, path: Path
) -> Table:
    table = Table(title="road network", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    rows: list[tuple[str, str]] = [
        ("source", graph.meta.get("source", "?")),
        ("format", graph.meta.get("kind", "?")),
        ("profile", graph.meta.get("profile", "?")),
    ]
    rows += [("nodes", f"{graph.n_nodes:,}"), ("edges", f"{graph.n_edges:,}")]
    if report is not None:
        rows += [
            ("strongly connected components", f"{report.components:,}"),
            (
                "dropped (outside the largest)",
                f"{report.dropped_nodes:,} nodes, {report.dropped_edges:,} edges",
            ),
            ("road", f"{report.road_km:,.1f} km ({report.urban_km:,.1f} km urban)"),
        ]
        rows += [
            (key.replace("_", " "), f"{value:,}") for key, value in report.counts.items() if value
        ]
    if hit is not None:
        rows.append(("cache", "hit" if hit else "miss (built)"))
    rows += [("seconds", f"{seconds:.2f}"), ("graph file", str(path))]
    for name, value in rows:
        table.add_row(name, value)
    return table


@network_app.command("import")
def import_network(
    file: Annotated[
        Path,
        typer.Argument(help="OSM extract (.osm.pbf) or GIS line layer (.geojson, .gpkg, .shp)"),
    ],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Profile TOML file, or a packaged profile name (default, patrol)"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"
        ),
    ] = None,
    source_format: Annotated[
        SourceFormat, typer.Option("--format", help="File kind; auto: by the file name")
    ] = SourceFormat.AUTO,
    layer: Annotated[str | None, typer.Option(help="GIS: layer of a multi-layer file")] = None,
    direction_field: Annotated[
        str | None,
        typer.Option(help="GIS: field giving the driving direction (both/forward/backward...)"),
    ] = None,
    speed_field: Annotated[str | None, typer.Option(help="GIS: field giving km/h")] = None,
    class_field: Annotated[
        str | None, typer.Option(help="GIS: field giving the road class")
    ] = None,
    crs: Annotated[
        CoordSystem, typer.Option(help="GIS: lon/lat system of the layer")
    ] = CoordSystem.WGS84,
    snap_m: Annotated[float, typer.Option(help="GIS: vertices this close are one node (m)")] = 0.5,
    county: Annotated[
        str | None,
        typer.Option(
            help="Province deployments: the county (code) whose network this is; kept in "
            "<data-dir>/counties/<code>"
        ),
    ] = None,
    border_buffer_m: Annotated[
        float | None,
        typer.Option(
            help="With --county: then build its cross-border graph, the neighbouring "
            "counties' imported roads within this many metres of its polygon"
        ),
    ] = None,
) -> None:
    """Import a road network, cache its graph and make it the current one."""
    if border_buffer_m is not None and county is None:
        console.print("[red]error:[/red] --border-buffer-m needs --county")
        raise typer.Exit(code=2)
    started = time.perf_counter()
    settings = load_settings(**({} if data_dir is None else {"data_dir": data_dir}))
    try:
        target = settings.data_dir if county is None else county_data_dir(settings.data_dir, county)
        chosen: Profile = DEFAULT_PROFILE if profile is None else load_profile(profile)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(_STAGES.get(stage, stage), total=total or None)
                bar.update(tasks[stage], completed=done, total=total or None)

            graph, hit, path = import_and_activate(
                target,
                file,
                chosen,
                source_format=source_format,
                layer=layer,
                direction_field=direction_field,
                speed_field=speed_field,
                class_field=class_field,
                crs=crs,
                snap_m=snap_m,
                progress=progress,
            )
    except FangkongError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=2) from None
    seconds = time.perf_counter() - started
    console.print(
        _summary(ImportReport.from_graph(graph), graph, hit=hit, seconds=seconds, path=path)
    )
    if border_buffer_m is not None and county is not None:
        _border(settings, county, border_buffer_m, ())


def _border(
    settings: Settings,
    county: str,
    buffer_m: float,
    neighbours: Sequence[str],
    source: Path | None = None,
    class_field: str | None = None,
) -> None:
    """Build a county's cross-border graph from its polygon (the database's district area)
    and print what it took."""
    from fangkong.areas import service as area_service
    from fangkong.core.commands import session_factory
    from fangkong.core.db import session_scope
    from fangkong.network.border import build_border_network, source_graph

    started = time.perf_counter()
    try:
        county_data_dir(settings.data_dir, county)  # the code's form, before the database
        with session_scope(session_factory(settings)) as session:
            polygon = area_service.geometry(area_service.get_by_code_or_raise(session, code=county))
        with console.status(f"cross-border graph of {county} ({buffer_m:g} m)"):
            extract = (
                source_graph(settings.data_dir, source, class_field=class_field)[0]
                if source is not None
                else None
            )
            built = build_border_network(
                settings.data_dir,
                county,
                polygon=polygon,
                buffer_m=buffer_m,
                neighbours=list(neighbours) or None,
                source=extract,
            )
    except FangkongError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=2) from None
    table = Table(title=f"cross-border road network of {county}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for name, value in (
        ("buffer", f"{buffer_m:g} m"),
        ("neighbours taken", ", ".join(built.neighbours) or "none within the buffer"),
        ("nodes (the county's)", f"{built.nodes:,} ({built.county_nodes:,})"),
        ("edges", f"{built.graph.n_edges:,}"),
        ("cache", "hit" if built.hit else "miss (built)"),
        ("seconds", f"{time.perf_counter() - started:.2f}"),
        ("graph file", str(built.path)),
    ):
        table.add_row(name, value)
    console.print(table)


@network_app.command("border")
def border_network(
    county: Annotated[str, typer.Option(help="The county (district area code)")],
    buffer_m: Annotated[
        float, typer.Option(help="How far beyond the county's polygon to take roads (m)")
    ] = 5000.0,
    neighbour: Annotated[
        list[str] | None,
        typer.Option(
            "--neighbour",
            help="A county whose roads may be taken; default every one imported (none with "
            "--source)",
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            help="Cut the roads from this province extract (.osm.pbf) or GIS layer instead "
            "(its graph built once and cached in <data-dir>/province)"
        ),
    ] = None,
    class_field: Annotated[
        str | None, typer.Option(help="GIS --source: field giving the road class")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"
        ),
    ] = None,
) -> None:
    """Build a county's cross-border graph from the imported networks of the counties around
    it (or from a province extract); dispatch and planning then use it for that county."""
    settings = load_settings(**({} if data_dir is None else {"data_dir": data_dir}))
    _border(settings, county, buffer_m, neighbour or (), source, class_field)


@network_app.command("info")
def network_info(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"
        ),
    ] = None,
) -> None:
    """Show the current road network."""
    settings = load_settings(**({} if data_dir is None else {"data_dir": data_dir}))
    started = time.perf_counter()
    try:
        graph = load_current(settings.data_dir)
    except FangkongError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=2) from None
    if graph is None:
        console.print("no road network imported yet: run `fangkong network import FILE`")
        raise typer.Exit(code=1)
    path = current_graph_path(settings.data_dir) or Path("?")
    console.print(
        _summary(
            ImportReport.from_graph(graph),
            graph,
            hit=None,
            seconds=time.perf_counter() - started,
            path=path,
        )
    )
