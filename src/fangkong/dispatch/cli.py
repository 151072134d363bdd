"""``fangkong dispatch ...``: replay a recorded day against today's units; import incidents."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.config import Settings, load_settings
from fangkong.core.db import make_engine, make_session_factory, session_scope, utcnow
from fangkong.core.errors import FangkongError
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.dispatch import jobs, personal, replay, service
from fangkong.dispatch.personal import Retention
from fangkong.network import service as network_service

dispatch_app = typer.Typer(
    help="Incidents and dispatch: replay a recorded day, import incidents.", no_args_is_help=True
)
console = Console()
WHOLE_TREE = Scope(paths=("/",))
# The command line speaks English, as the other commands do; the labels still come from the
# catalogue so that the console and the CLI name a figure alike.
CLI_LANGUAGE = "en"

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"),
]


def _settings(data_dir: Path | None) -> Settings:
    return load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))


def _fail(exc: FangkongError) -> NoReturn:
    console.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(code=2)


def _t(key: str) -> str:
    return translate(key, CLI_LANGUAGE)


@dispatch_app.command("replay")
def replay_command(
    day: Annotated[
        str,
        typer.Option(
            "--day", help="The recorded day, YYYY-MM-DD (local date in the configured time zone)"
        ),
    ],
    area: Annotated[
        str | None,
        typer.Option("--area", help="Area code: replay only the incidents in its subtree"),
    ] = None,
    turnout_s: Annotated[
        float,
        typer.Option("--turnout-s", help="Seconds from dispatch to rolling, added to every drive"),
    ] = 0.0,
    data_dir: DataDir = None,
) -> None:
    """Replay a recorded day against the current units and compare the response rings."""
    settings = _settings(data_dir)
    try:
        chosen_day = replay.parse_day(day)
        network = network_service.current(settings.data_dir)
    except FangkongError as exc:
        _fail(exc)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    )
    try:
        with (
            session_scope(factory) as session,
            Progress(*columns, console=console, transient=True) as bar,
        ):
            task = bar.add_task(f"replaying {chosen_day.isoformat()}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            chosen = (
                area_service.get_by_code_or_raise(session, code=area, scope=WHOLE_TREE)
                if area
                else None
            )
            run = replay.replay_day(
                session,
                network=network,
                day=chosen_day,
                zone=settings.zone,
                scope=WHOLE_TREE,
                area=chosen,
                actor=SYSTEM,
                progress=progress,
                turnout_s=turnout_s,
            )
            run_id, report = run.id, replay.report_of(run)
    except FangkongError as exc:
        _fail(exc)
    _print_report(run_id, report)


def _print_report(run_id: int, report: dict[str, object]) -> None:
    where = f" · {report['area_code']}" if report.get("area_code") else ""
    table = Table(
        _t("dispatch.replay.metric"),
        _t("dispatch.replay.recorded"),
        _t("dispatch.replay.replayed"),
        title=f"replay {run_id}: {report['day']}{where} ({report['timezone']})",
    )
    for key, kind, recorded, replayed in replay.comparison(report):
        table.add_row(
            _t(key), replay.format_value(kind, recorded), replay.format_value(kind, replayed)
        )
    console.print(table)
    categories = Table(
        _t("dispatch.category"),
        _t("dispatch.replay.recorded"),
        _t("dispatch.replay.replayed"),
        title=_t("dispatch.replay.by_category"),
    )
    for category, recorded, replayed in replay.by_category(report):
        categories.add_row(_t(f"dispatch.category.{category}"), str(recorded), str(replayed))
    console.print(categories)
    console.print(replay.summary_line(report, _t))


@dispatch_app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="UTF-8 CSV (header row) or JSON array: "
            "idempotency_key, category, subtype, priority, "
            "source, lon, lat or address_code[, description, "
            "caller_contact]",
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Import incidents from CSV or JSON: the good rows are kept, each bad row is reported
    with its line (CSV) or item (JSON), field and rule (exit 1 when any row failed)."""
    settings = _settings(data_dir)
    try:
        text = file.read_text("utf-8")
    except UnicodeDecodeError:
        console.print(f"[red]error:[/red] {file} is not UTF-8 text")
        raise typer.Exit(code=2) from None
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    try:
        with session_scope(factory) as session:
            report = service.import_file(
                session,
                name=file.name,
                text=text,
                actor=SYSTEM,
                now=utcnow(),
                cipher=FieldCipher(settings.ensure_secret_key()),
            )
    except FangkongError as exc:
        _fail(exc)
    console.print(
        f"{len(report.created)} created, {len(report.existing)} already imported, "
        f"{len(report.errors)} rows with errors"
    )
    if report.errors:
        table = Table(
            "line" if file.suffix.lower() != ".json" else "item",
            "field",
            "error",
            title="rows not imported",
        )
        for error in report.errors:
            table.add_row(str(error.row), error.field or "", error.message)
        console.print(table)
        raise typer.Exit(code=1)


@dispatch_app.command("purge")
def purge_command(
    data_dir: DataDir = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help="Retention of callers' contacts in days [default: caller_contact_retention_days]",
        ),
    ] = None,
) -> None:
    """Delete the personal data of incidents that ended longer ago than its retention: callers'
    contacts, then descriptions and notes (the server also does this every few hours)."""
    settings = _settings(data_dir)
    retention = Retention.of(settings)
    if days is not None:
        retention = replace(retention, contact_days=days)
    engine = make_engine(settings.resolved_database_url)
    try:
        cleared = jobs.run_purge(make_session_factory(engine), retention=retention)
    except FangkongError as exc:
        _fail(exc)
    finally:
        engine.dispose()
    console.print(
        f"purged the caller contact of {cleared[personal.CALLER_CONTACT]} incidents "
        f"(ended more than {retention.contact_days} days ago)"
    )
    console.print(
        f"purged the description of {cleared[personal.DESCRIPTION]} incidents and "
        f"{cleared[personal.NOTES]} notes (ended more than {retention.text_days} days ago)"
    )
