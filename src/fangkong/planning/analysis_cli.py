"""``fangkong planning hotspots | deployment | beats``: Planning II's analyses from the command
line, stored as from the console, with GeoJSON and XLSX exports."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fangkong.areas import service as area_service
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
from fangkong.core.db import session_scope, utcnow
from fangkong.core.errors import FangkongError, InvalidInput, NotFound
from fangkong.core.scoping import Scope
from fangkong.network import service as network_service
from fangkong.planning import (
    adoption,
    analyses,
    analysis_export,
    beat_plans,
    deployment,
    hotspot_runs,
)
from fangkong.planning.analysis_models import Analysis, AnalysisKind

WHOLE_TREE = Scope(paths=("/",))
AreaOpt = Annotated[str | None, typer.Option("--area", help="Area code (default: everything)")]
GeoJsonOpt = Annotated[Path | None, typer.Option("--geojson", help="Write the GeoJSON here")]
XlsxOpt = Annotated[Path | None, typer.Option("--xlsx", help="Write the workbook here")]


def _moment(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(InvalidInput(key="error.planning.time_zone", field=field))
    if value.tzinfo is None:
        fail(InvalidInput(key="error.planning.time_zone", field=field))
    return value


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in (text or "").split(",") if s.strip())


def _export(analysis: Analysis, geojson: Path | None, xlsx: Path | None, language: str) -> None:
    if geojson is not None:
        geojson.write_text(
            json.dumps(analysis_export.geojson(analysis), ensure_ascii=False), encoding="utf-8"
        )
        console.print(f"GeoJSON written to {geojson}")
    if xlsx is not None:
        xlsx.write_bytes(analysis_export.xlsx(analysis, language=language))
        console.print(f"XLSX written to {xlsx}")


def hotspots_command(
    area: AreaOpt = None,
    start: Annotated[str | None, typer.Option(help="From (ISO time with zone)")] = None,
    end: Annotated[str | None, typer.Option(help="Until (ISO time with zone)")] = None,
    resolution: Annotated[int, typer.Option(help="H3 resolution: 8 or 9")] = 9,
    categories: Annotated[str | None, typer.Option(help="Categories, comma-separated")] = None,
    priorities: Annotated[str | None, typer.Option(help="Priorities, e.g. P1,P2")] = None,
    hours: Annotated[str | None, typer.Option(help="Hours of week 0-167, comma-separated")] = None,
    permutations: Annotated[int, typer.Option(help="Conditional permutations (0: none)")] = 999,
    seed: Annotated[int, typer.Option(help="Seed of the permutations")] = 12345,
    alpha: Annotated[float, typer.Option(help="False discovery rate")] = 0.05,
    compare_start: Annotated[str | None, typer.Option(help="Earlier period from")] = None,
    compare_end: Annotated[str | None, typer.Option(help="Earlier period until")] = None,
    geojson: GeoJsonOpt = None,
    xlsx: XlsxOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Where incidents concentrate: Gi* hot and cold H3 cells (FDR), road segments per km,
    density; with an earlier period, new, persistent and fading hotspots."""
    settings = settings_for(data_dir)
    upgrade(settings)
    now = utcnow()
    stop = _moment(end, "end") or now
    begin = _moment(start, "start") or stop - hotspot_runs.DEFAULT_PERIOD
    try:
        hour_list = tuple(int(h) for h in _split(hours))
    except ValueError:
        fail(InvalidInput(key="error.planning.hotspot_hours", field="hours"))
    if any(not 0 <= h < 168 for h in hour_list) or not 0 <= permutations <= 9999:
        fail(InvalidInput(key="error.planning.hotspot_hours", field="hours"))
    spec = hotspot_runs.HotspotSpec(
        start=begin,
        end=stop,
        resolution=resolution,
        categories=_split(categories),
        priorities=_split(priorities),
        hours=hour_list,
        permutations=permutations,
        seed=seed,
        alpha=alpha,
        compare_start=_moment(compare_start, "compare_start"),
        compare_end=_moment(compare_end, "compare_end"),
    )
    try:
        network: network_service.Network | None = network_service.current(settings.data_dir)
    except NotFound:
        network = None
    try:
        with session_scope(session_factory(settings)) as session:
            area_row = (
                area_service.get_by_code_or_raise(session, code=area, scope=WHOLE_TREE)
                if area
                else None
            )
            result = hotspot_runs.analyse(
                session, scope=WHOLE_TREE, spec=spec, zone=settings.zone, area=area_row,
                network=network,
            )  # fmt: skip
            params: dict[str, Any] = {
                "area_code": area,
                "start": begin.isoformat(),
                "end": stop.isoformat(),
                "resolution": resolution,
                "permutations": permutations,
                "seed": seed,
                "alpha": alpha,
            }
            analysis = analyses.create(
                session, kind=AnalysisKind.HOTSPOT, params=params, result=result,
                scope=WHOLE_TREE, area=area_row, actor=SYSTEM,
                title=f"hotspots r{resolution} {area or '*'} {begin:%Y-%m-%d}",
            )  # fmt: skip
            _export(analysis, geojson, xlsx, settings.default_language)
            analysis_id = analysis.id
    except FangkongError as exc:
        fail(exc)
    console.print(
        f"{result['incidents']} incidents, {result.get('cells_in_region', 0)} cells: "
        f"{result['hot']} hot, {result['cold']} cold (FDR bound {result['fdr_cut']})"
    )
    table = Table("cell", "incidents", "z", "p", "class", "trend")
    for row in [r for r in result["cells"] if r["class"] != "none"][:15]:
        table.add_row(
            row["cell"], str(row["count"]), str(row["z"]),
            str(row["p_sim"] if result["inference"] == "sim" else row["p_norm"]),
            row["class"], str(row["trend"] or ""),
        )  # fmt: skip
    console.print(table)
    if result["compare"]:
        c = result["compare"]
        console.print(f"new {c['new']}, persistent {c['persistent']}, fading {c['fading']}")
    if result["segments"]:
        top = result["segments"][0]
        console.print(f"busiest road segment: {top['count']} incidents, {top['per_km']} per km")
    seg = result.get("segment_gi")
    if seg:
        console.print(
            f"road segments: {seg['segments_in_region']} in the region, {seg['snapped']} "
            f"incidents on them; {seg['hot']} hot, {seg['cold']} cold (FDR bound {seg['fdr_cut']})"
            + (
                f"; new {seg['compare']['new']}, persistent {seg['compare']['persistent']}, "
                f"fading {seg['compare']['fading']}"
                if seg["compare"]
                else ""
            )
        )
    console.print(f"stored as analysis {analysis_id}")


def deployment_command(
    area: AreaOpt = None,
    weeks: Annotated[int, typer.Option(help="Weeks of history (2-104)")] = 8,
    end: Annotated[str | None, typer.Option(help="History until (ISO time with zone)")] = None,
    target: Annotated[float, typer.Option(help="Share to reach within 3 minutes")] = 0.8,
    sim_hours: Annotated[int, typer.Option(help="Simulated hours per rate")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the simulation")] = 21,
    adopt: Annotated[bool, typer.Option(help="Adopt the proposed roster")] = False,
    xlsx: XlsxOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Hour-of-week deployment (潮汐用警): expected incidents per station and hour of week, the
    units each hour needs for the 3-minute target (simulated), today's roster against it."""
    settings = settings_for(data_dir)
    upgrade(settings)
    spec = deployment.DeploymentSpec(
        weeks=weeks, end=_moment(end, "end"), target=target, sim_hours=sim_hours, seed=seed
    )
    try:
        network = network_service.current(settings.data_dir)
        with session_scope(session_factory(settings)) as session:
            area_row = (
                area_service.get_by_code_or_raise(session, code=area, scope=WHOLE_TREE)
                if area
                else None
            )
            result = deployment.analyse(
                session, scope=WHOLE_TREE, spec=spec, zone=settings.zone, network=network,
                now=utcnow(), area=area_row,
            )  # fmt: skip
            analysis = analyses.create(
                session, kind=AnalysisKind.DEPLOYMENT,
                params={"area_code": area, "weeks": weeks, "target": target, "seed": seed},
                result=result, scope=WHOLE_TREE, area=area_row, actor=SYSTEM,
                title=f"deployment {area or '*'} {weeks}w {target:.0%}",
            )  # fmt: skip
            if adopt:
                adoption.adopt(
                    session, analysis=analysis, scope=WHOLE_TREE, actor=SYSTEM, now=utcnow()
                )
            _export(analysis, None, xlsx, settings.default_language)
            analysis_id = analysis.id
    except FangkongError as exc:
        fail(exc)
    check = result["holdout"]
    if check.get("weeks_held"):
        console.print(
            f"held-back weeks: {check['weeks_held']}, 90 % interval coverage "
            f"{check['coverage_90']:.1%}, MAE {check['mae']} (unsmoothed {check['mae_unsmoothed']})"
        )
    table = Table(
        "station", "incidents", "unit-hours today", "proposed", "3-min today", "3-min proposed"
    )
    for row in result["stations"]:
        if "expected" not in row:
            table.add_row(row["code"], "-", "-", "-", row.get("skipped", ""), "")
            continue
        table.add_row(
            row["code"], str(row["incidents"]), str(row["unit_hours_today"]),
            str(row["unit_hours_proposed"]), f"{row['ring_share_today']:.1%}",
            f"{row['ring_share_proposed']:.1%}",
        )  # fmt: skip
    console.print(table)
    console.print(f"stored as analysis {analysis_id}" + (" (adopted)" if adopt else ""))


def beats_command(
    station: Annotated[
        str,
        typer.Option("--station", help="The station's code (or a district's: drawn, not adopted)"),
    ],
    k: Annotated[int, typer.Option(help="Beats to draw")],
    start: Annotated[str | None, typer.Option(help="Incidents from (ISO time with zone)")] = None,
    end: Annotated[str | None, typer.Option(help="Incidents until (ISO time with zone)")] = None,
    facility_hours: Annotated[float, typer.Option(help="Patrol hours a week per facility")] = 1.0,
    time_limit: Annotated[float, typer.Option(help="Local search time (s)")] = 5.0,
    adopt: Annotated[
        bool, typer.Option(help="Adopt the beats: write them into the area tree")
    ] = False,
    geojson: GeoJsonOpt = None,
    xlsx: XlsxOpt = None,
    data_dir: DataDir = None,
) -> None:
    """k contiguous patrol beats (巡区) for a station from its grids: workload, imbalance
    (max / mean), farthest time; GeoJSON in the areas import's format. With ``--adopt`` the
    beats replace the station's beat areas once the grid-fusion check passes (as ``fangkong
    planning adopt ANALYSIS_ID`` does for a stored analysis)."""
    settings = settings_for(data_dir)
    upgrade(settings)
    stop = _moment(end, "end") or utcnow()
    begin = _moment(start, "start") or beat_plans.default_period(stop)[0]
    try:
        network = network_service.current(settings.data_dir)
        with session_scope(session_factory(settings)) as session:
            area_row = area_service.get_by_code_or_raise(session, code=station, scope=WHOLE_TREE)
            spec = beat_plans.BeatSpec(
                k=k, start=begin, end=stop, facility_hours=facility_hours,
                time_limit_s=time_limit,
            )  # fmt: skip
            result = beat_plans.analyse(
                session, scope=WHOLE_TREE, station=area_row, spec=spec, network=network
            )
            analysis = analyses.create(
                session, kind=AnalysisKind.BEATS, params={"area_code": station, "k": k},
                result=result, scope=WHOLE_TREE, area=area_row, actor=SYSTEM,
                title=f"beats {station} k={k}",
            )  # fmt: skip
            _export(analysis, geojson, xlsx, settings.default_language)
            analysis_id = analysis.id
    except FangkongError as exc:
        fail(exc)
    table = Table("beat", "grids", "incidents", "workload h/week", "farthest s")
    for row in result["tables"]["beats"]["rows"]:
        table.add_row(row[0], str(row[1]), str(row[2]), f"{row[4]:.1f}", f"{row[5]:.0f}")
    console.print(table)
    console.print(
        f"imbalance (max/mean) {result['imbalance']:.3f}, farthest {result['farthest_s']:.0f} s, "
        f"contiguous: {result['contiguous']}"
    )
    console.print(f"stored as analysis {analysis_id}")
    if adopt:
        # a transaction of its own: the analysis stays stored when the tree refuses it
        try:
            detail = _adopt(settings, analysis_id)
        except FangkongError as exc:
            fail(exc)
        _print_adoption(analysis_id, len(result["geojson"]["features"]), detail)


def _adopt(settings: Any, analysis_id: int) -> dict[str, Any]:
    with session_scope(session_factory(settings)) as session:
        analysis = analyses.get_or_raise(session, analysis_id=analysis_id, scope=WHOLE_TREE)
        _, detail = adoption.adopt(
            session, analysis=analysis, scope=WHOLE_TREE, actor=SYSTEM, now=utcnow()
        )
    return detail


def _print_adoption(analysis_id: int, adopted: int, detail: dict[str, Any]) -> None:
    regrouped = detail.get("regrouped")
    if regrouped:
        console.print(
            f"fusion check passed; beats created {', '.join(regrouped['created']) or '-'}, "
            f"kept {', '.join(regrouped['kept']) or '-'}, "
            f"removed {', '.join(regrouped['removed']) or '-'}; "
            f"{regrouped['moved_grids']} grids moved, {regrouped['rewritten_rows']} rows "
            f"rewritten, {regrouped['moved_up_rows']} moved up to the station"
        )
    console.print(f"analysis {analysis_id} adopted ({adopted})")


def adopt_command(
    analysis_id: Annotated[int, typer.Argument(help="The stored analysis (deployment or beats)")],
    data_dir: DataDir = None,
) -> None:
    """Adopt a stored analysis, as the console's button does: a deployment's proposed roster
    becomes each station's roster per hour of week; beats, once the grid-fusion check passes,
    replace the station's beat areas (the grids and every record's area path move with them).
    Audited; refused with nothing changed."""
    check_id(analysis_id, name="analysis_id")
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        with session_scope(session_factory(settings)) as session:
            analysis = analyses.get_or_raise(session, analysis_id=analysis_id, scope=WHOLE_TREE)
            adopted, detail = adoption.adopt(
                session, analysis=analysis, scope=WHOLE_TREE, actor=SYSTEM, now=utcnow()
            )
    except FangkongError as exc:
        fail(exc)
    _print_adoption(analysis_id, adopted, detail)


def register(app: typer.Typer) -> None:
    """Add Planning II's commands to ``fangkong planning``."""
    app.command("hotspots")(hotspots_command)
    app.command("deployment")(deployment_command)
    app.command("beats")(beats_command)
    app.command("adopt")(adopt_command)
