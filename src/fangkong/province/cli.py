"""``fangkong province ...``: planning batches over a province's counties on Dask."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for, upgrade
from fangkong.core.db import session_scope
from fangkong.core.errors import FangkongError
from fangkong.core.scoping import Scope
from fangkong.province.batch import Outcome, county_codes, parse_scenario, plan, run_batch

__all__ = ["province_app"]

province_app = typer.Typer(
    help="A province's counties: planning batches on Dask.", no_args_is_help=True
)
WHOLE_TREE = Scope(paths=("/",))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "–" if value is None else str(value)


@province_app.command("batch")
def batch_command(
    scenario: Annotated[
        list[str],
        typer.Option(
            "--scenario",
            "-s",
            help="KIND or KIND:key=value,... (coverage, placement, deployment); repeat for several",
        ),
    ],
    county: Annotated[
        list[str] | None,
        typer.Option("--county", "-c", help="County (district area) code; default: every one"),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Local cluster: worker processes (one thread each)")
    ] = 2,
    scheduler: Annotated[
        str | None,
        typer.Option(help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (no local one)"),
    ] = None,
    task_threads: Annotated[
        int,
        typer.Option(
            min=0,
            max=256,
            help="Threads each task may use in every library (road engine, HiGHS, numba, "
            "BLAS); 1: a worker process is one core; 0: the libraries' defaults",
        ),
    ] = 1,
    data_dir: DataDir = None,
) -> None:
    """Run every scenario for every county, one Dask task each; results stored as planning runs.

    Each county's road network is the one imported with ``fangkong network import FILE
    --county CODE``; workers of a remote cluster need the same data folder and database.
    """
    settings = settings_for(data_dir)
    upgrade(settings)
    try:
        scenarios = [parse_scenario(text) for text in scenario]
        with session_scope(session_factory(settings)) as session:
            counties = county_codes(session, scope=WHOLE_TREE, codes=county or ())
        batch = plan(counties, scenarios)
        console.print(
            f"batch {batch[0].batch}: {len(counties)} counties x {len(scenarios)} scenarios = "
            f"{len(batch)} tasks on "
            + (scheduler or f"a local cluster of {workers} worker process(es)")
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task_id = bar.add_task("tasks", total=len(batch))

            def progress(done: int, total: int, outcome: Outcome) -> None:
                bar.update(task_id, completed=done, total=total)
                colour = "green" if outcome.status == "done" else "red"
                bar.console.print(
                    f"[{colour}]{outcome.status}[/{colour}] {outcome.county} "
                    f"{outcome.label} ({outcome.seconds:.1f} s on {outcome.worker})"
                    + (f": {outcome.error}" if outcome.error else "")
                )

            outcomes = run_batch(
                batch,
                database_url=settings.resolved_database_url,
                data_dir=settings.data_dir,
                actor=f"province-batch:{getpass.getuser()}",
                scheduler=scheduler,
                workers=workers,
                progress=progress,
                timezone=settings.timezone,
                task_threads=task_threads,
            )
    except FangkongError as exc:
        fail(exc)
    keys = sorted({k for o in outcomes for k in o.headline})
    table = Table("county", "scenario", "status", "run", "seconds", *keys)
    for o in outcomes:
        table.add_row(
            o.county,
            o.label,
            o.status,
            _cell(o.run_id),
            f"{o.seconds:.1f}",
            *(_cell(o.headline.get(k)) for k in keys),
        )
    console.print(table)
    failed = sum(1 for o in outcomes if o.status != "done")
    if failed:
        console.print(f"[red]{failed} of {len(outcomes)} task(s) did not finish")
        raise typer.Exit(code=1)
