"""``fangkong planning ...``: coverage, placement (with progress), the control ring, checkpoint
and weight imports, exports. Each analysis is stored as a run, as from the console."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fangkong.core.audit import SYSTEM
from fangkong.core.commands import (
    DataDir,
    check_id,
    console,
    fail,
    session_factory,
    settings_for,
    upgrade,
)
from fangkong.core.db import session_scope
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.scoping import Scope
from fangkong.planning import demand, export, jobs, ring, runs, tasks
from fangkong.planning.models import CheckpointStatus, Direction, RunKind, RunStatus

planning_app = typer.Typer(
    help="Planning: coverage, placement of posts, the control ring of checkpoints.",
    no_args_is_help=True,
)
checkpoints_app = typer.Typer(help="Checkpoints (卡口).", no_args_is_help=True)
planning_app.add_typer(checkpoints_app, name="checkpoints")
WHOLE_TREE = Scope(paths=("/",))

Area = Annotated[str | None, typer.Option("--area", help="Area code (default: the whole tree)")]
DemandKind = Annotated[
    str, typer.Option("--demand", help="addresses (each 1, or --weight-column) or incidents")
]
Start = Annotated[str | None, typer.Option(help="Incidents from (ISO time with zone)")]
End = Annotated[str | None, typer.Option(help="Incidents until (ISO time with zone)")]
WeightColumn = Annotated[
    str | None, typer.Option("--weight-column", help="Weight addresses by this imported column")
]
UnitTypeOpt = Annotated[str, typer.Option("--unit-type", help="car, motorcycle or foot")]


def _demand_params(
    kind: str, area: str | None, start: str | None, end: str | None, column: str | None, unit: str
) -> dict[str, Any]:
    if kind not in ("addresses", "incidents"):
        fail(InvalidInput(key="error.planning.demand_kind", field="demand"))
    return {
        "demand": kind,
        "area_code": area,
        "start": start,
        "end": end,
        "weight_column": column,
        "unit_type": unit,
        "scope_paths": list(WHOLE_TREE.paths),
    }


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100.0 * float(value):.1f} %"


def _store(kind: RunKind, params: dict[str, Any], result: dict[str, Any], settings: Any) -> int:
    """Store an analysis computed here as a done run."""
    with session_scope(session_factory(settings)) as session:
        area = tasks.area_of(session, params, WHOLE_TREE)
        run = runs.create(
            session,
            kind=kind,
            params=params,
            area_path=runs.filing_path(WHOLE_TREE, area),
            actor=SYSTEM,
            title=tasks.title_of(kind.value, params),
            status=RunStatus.RUNNING,
        )
        runs.finish(session, run, result=result, error=None)
        return run.id


def _prepare(data_dir: Path | None) -> Any:
    settings = settings_for(data_dir)
    upgrade(settings)
    return settings


@planning_app.command("coverage")
def coverage_command(
    kind: DemandKind = "addresses",
    area: Area = None,
    start: Start = None,
    end: End = None,
    weight_column: WeightColumn = None,
    unit_type: UnitTypeOpt = "car",
    rings: Annotated[str, typer.Option(help="Rings in seconds, comma-separated")] = "60,180,300",
    scenario: Annotated[int | None, typer.Option(help="Cover with a scenario's sites")] = None,
    data_dir: DataDir = None,
) -> None:
    """Share of demand within each ring of the nearest post, per area; worst grids first."""
    settings = _prepare(data_dir)
    try:
        params = _demand_params(kind, area, start, end, weight_column, unit_type)
        params["rings_s"] = [float(r) for r in rings.split(",") if r.strip()]
        params["scenario_id"] = scenario
        with session_scope(session_factory(settings)) as session:
            result = tasks.run_coverage(session, params, settings.data_dir)
        run_id = _store(RunKind.COVERAGE, params, result, settings)
    except (FangkongError, ValueError) as exc:
        fail(
            exc
            if isinstance(exc, FangkongError)
            else InvalidInput(
                key="error.planning.rings_unreadable", params={"reason": str(exc)}, field="rings"
            )
        )
    totals = result["totals"]
    table = Table("ring", "weight covered", "share")
    for ring_s, covered in totals["covered"].items():
        table.add_row(f"{ring_s} s", f"{covered:,.1f}", _pct(totals["share"][ring_s]))
    console.print(
        f"{result['demand']['points']} demand points ({result['demand']['kind']}, weight "
        f"{totals['weight']:,.1f}), {len(result['sites'])} sites, travel: {result['travel']}"
    )
    console.print(table)
    worst = {r["code"]: r for r in result["areas"] if r["code"] in result["worst_grids"][:10]}
    if worst:
        middle = list(totals["share"])[min(1, len(totals["share"]) - 1)]
        grid_table = Table("worst grids", "weight", f"within {middle} s")
        for code in result["worst_grids"][:10]:
            row = worst[code]
            grid_table.add_row(code, f"{row['weight']:,.1f}", _pct(row["share"][middle]))
        console.print(grid_table)
    if result["demand"]["no_road_access"]:
        console.print(f"[yellow]{result['demand']['no_road_access']} point(s) without road access")
    console.print(f"stored as run {run_id}")


@planning_app.command("place")
def place_command(
    method: Annotated[str, typer.Option(help="mclp, lscp or p_median")] = "mclp",
    p: Annotated[int | None, typer.Option("--p", help="Sites to open (MCLP, p-median)")] = None,
    ring_s: Annotated[float, typer.Option("--ring", help="Coverage ring in seconds")] = 180.0,
    candidates: Annotated[
        str, typer.Option(help="Comma-separated: posts, road, addresses")
    ] = "posts,road",
    posts: Annotated[str, typer.Option(help="fixed, free or none")] = "fixed",
    spacing_m: Annotated[float, typer.Option("--spacing", help="Road point spacing, m")] = 500.0,
    kind: DemandKind = "addresses",
    area: Area = None,
    start: Start = None,
    end: End = None,
    weight_column: WeightColumn = None,
    unit_type: UnitTypeOpt = "car",
    max_time_s: Annotated[float, typer.Option(help="p-median: cost of unreached demand")] = 1800,
    time_limit_s: Annotated[float, typer.Option("--time-limit", help="Solver seconds")] = 60.0,
    heuristic_only: Annotated[bool, typer.Option(help="Greedy + swap only")] = False,
    data_dir: DataDir = None,
) -> None:
    """Choose sites by MCLP, LSCP or p-median (exact with HiGHS, progress shown; Ctrl-C stops
    it with the best answer so far) and store the run."""
    settings = _prepare(data_dir)
    params = _demand_params(kind, area, start, end, weight_column, unit_type) | {
        "method": method,
        "p": p,
        "ring_s": ring_s,
        "candidates": [c.strip() for c in candidates.split(",") if c.strip()],
        "posts": posts,
        "spacing_m": spacing_m,
        "max_time_s": max_time_s,
        "time_limit_s": time_limit_s,
        "exact": not heuristic_only,
    }
    factory = session_factory(settings)
    try:
        tasks.placement_spec(params)
        with session_scope(factory) as session:
            found = tasks.area_of(session, params, WHOLE_TREE)
            run = runs.create(
                session,
                kind=RunKind.PLACEMENT,
                params=params,
                area_path=runs.filing_path(WHOLE_TREE, found),
                actor=SYSTEM,
                title=tasks.title_of("placement", params),
            )
            run_id = run.id
    except FangkongError as exc:
        fail(exc)
    cancel = threading.Event()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"{method} run {run_id}", total=1.0, detail="")

        def work(session: Any, progress: jobs.Progress, stop: threading.Event) -> dict[str, Any]:
            def shown(stage: str, fraction: float, figures: dict[str, float]) -> None:
                detail = stage
                if "gap" in figures and figures["gap"] == figures["gap"]:
                    detail += f" gap {100 * figures['gap']:.3f}%"
                elif "bound" in figures:
                    detail += f" bound {figures['bound']:,.1f}"
                bar.update(task, completed=fraction, detail=detail)
                progress(stage, fraction, figures)

            return tasks.run_placement(session, params, settings.data_dir, shown, stop)

        worker = threading.Thread(
            target=jobs.execute, args=(factory, run_id, work, cancel), daemon=True
        )
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            cancel.set()
            console.print("stopping: the best answer so far is kept…")
            worker.join()
        bar.update(task, completed=1.0)
    with session_scope(factory) as session:
        stored = runs.get_or_raise(session, run_id=run_id, scope=WHOLE_TREE)
        if stored.error:
            console.print(f"[red]error:[/red] {runs.error_text(stored)}")
            raise typer.Exit(code=2)
        result = runs.result_of(stored)
    _print_placement(result, run_id)


def _number(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.2f}"


def _print_placement(result: dict[str, Any], run_id: int) -> None:
    gap = result.get("gap")
    shown_gap = "–" if gap is None else f"{100 * gap:.4f} %"
    console.print(
        f"{result['method']}: {result['status']}, objective {_number(result['objective'])} "
        f"(bound {_number(result['bound'])}, gap {shown_gap}); greedy + swap "
        f"{_number(result['heuristic_objective'])} in {result['heuristic_s']:.2f} s"
    )
    table = Table("ring", "today", "with the sites chosen")
    for ring_s, share in result["after"]["share"].items():
        table.add_row(f"{ring_s} s", _pct(result["before"]["share"].get(ring_s)), _pct(share))
    console.print(table)
    sites = Table("code", "kind", "lon", "lat")
    for s in result["sites"]:
        sites.add_row(s["code"], s["kind"], f"{s['lon']:.6f}", f"{s['lat']:.6f}")
    console.print(sites)
    if result["demand"]["unreachable"]:
        names = ", ".join(result["demand"]["unreachable_names"][:10])
        console.print(
            f"[yellow]{result['demand']['unreachable']} demand point(s) no candidate reaches "
            f"within the ring: {names}"
        )
    console.print(f"stored as run {run_id}")


@planning_app.command("ring")
def ring_command(
    area: Annotated[str, typer.Option("--area", help="The county (city) or a district")],
    snap_m: Annotated[float, typer.Option(help="Checkpoint within this of a crossing, m")] = 200,
    k: Annotated[int, typer.Option(help="How many next checkpoints to suggest")] = 5,
    data_dir: DataDir = None,
) -> None:
    """The control ring: roads crossing the boundary, closure share, next checkpoints."""
    settings = _prepare(data_dir)
    params = {"area_code": area, "snap_m": snap_m, "k": k, "scope_paths": ["/"]}
    try:
        with session_scope(session_factory(settings)) as session:
            result = tasks.run_ring(session, params, settings.data_dir)
        run_id = _store(RunKind.RING, params, result, settings)
    except FangkongError as exc:
        fail(exc)
    console.print(
        f"{result['count']} roads cross the boundary of {area}; {result['closed']} closed by "
        f"{result['checkpoints']} active checkpoints within {snap_m:g} m"
    )
    console.print(
        f"closure: {_pct(result['share_count'])} by count, {_pct(result['share_weighted'])} "
        f"weighted (target {_pct(result['target'])}: "
        f"{'met' if result['meets_target'] else 'not met'})"
    )
    table = Table("class", "crossings", "closed", "weight")
    for klass, row in sorted(result["by_class"].items(), key=lambda kv: -kv[1]["weight"]):
        table.add_row(klass, str(row["crossings"]), str(row["closed"]), f"{row['weight']:g}")
    console.print(table)
    nxt = Table("next", "lon", "lat", "closes", "weighted share after")
    for i, n in enumerate(result["next"], start=1):
        nxt.add_row(str(i), f"{n['lon']:.6f}", f"{n['lat']:.6f}", str(len(n["closes"])),
                    _pct(n["share_weighted_after"]))  # fmt: skip
    console.print(nxt)
    console.print(f"stored as run {run_id}")


@checkpoints_app.command("import")
def checkpoints_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV: code,name,road,direction,status,lon,lat[,area_code]",
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Register checkpoints from a CSV file, all or nothing."""
    settings = _prepare(data_dir)
    count = 0
    try:
        with session_scope(session_factory(settings)) as session:
            reader = csv.DictReader(io.StringIO(file.read_text("utf-8-sig")))
            for line, row in enumerate(reader, start=2):
                try:
                    ring.create_checkpoint(
                        session,
                        code=row.get("code") or "",
                        name=row.get("name") or "",
                        road=row.get("road") or "",
                        direction=Direction(row.get("direction") or "both"),
                        status=CheckpointStatus(row.get("status") or "active"),
                        lon=float(row.get("lon") or "nan"),
                        lat=float(row.get("lat") or "nan"),
                        area_code=row.get("area_code") or None,
                        scope=WHOLE_TREE,
                        actor=SYSTEM,
                    )
                except FangkongError as exc:
                    raise InvalidInput(
                        key="error.planning.line_fault",
                        params={"line": line, "reason": exc},
                        field="file",
                    ) from None
                except ValueError as exc:
                    raise InvalidInput(
                        key="error.planning.line_fault",
                        params={"line": line, "reason": str(exc)},
                        field="file",
                    ) from None
                count += 1
    except FangkongError as exc:
        fail(exc)
    console.print(f"registered {count} checkpoints")


@planning_app.command("weights")
def weights_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The address CSV (code + columns)")
    ],
    column: Annotated[list[str], typer.Option(help="Numeric column to import (repeat)")],
    data_dir: DataDir = None,
) -> None:
    """Import numeric columns of an address file (e.g. households) as demand weights."""
    settings = _prepare(data_dir)
    try:
        with session_scope(session_factory(settings)) as session:
            stored = demand.import_weights(
                session, text=file.read_text("utf-8-sig"), columns=column, actor=SYSTEM
            )
    except FangkongError as exc:
        fail(exc)
    for name, rows in stored.items():
        console.print(f"{name}: {rows} addresses")


@planning_app.command("export")
def export_command(
    run_id: Annotated[int, typer.Argument(help="The run")],
    geojson: Annotated[Path | None, typer.Option(help="Write the GeoJSON here")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="Write the workbook here")] = None,
    data_dir: DataDir = None,
) -> None:
    """Export a run: GeoJSON of sites, demand and service areas; XLSX of coverage and sites."""
    check_id(run_id, name="run_id")
    settings = _prepare(data_dir)
    try:
        with session_scope(session_factory(settings)) as session:
            run = runs.get_or_raise(session, run_id=run_id, scope=WHOLE_TREE)
            if geojson is not None:
                from fangkong.network import service as network_service

                network = network_service.current(settings.data_dir)
                geojson.write_text(
                    json.dumps(export.geojson(run, network), ensure_ascii=False), "utf-8"
                )
                console.print(f"wrote {geojson}")
            if xlsx is not None:
                xlsx.write_bytes(export.xlsx(run))
                console.print(f"wrote {xlsx}")
    except FangkongError as exc:
        fail(exc)
