"""``fangkong audit verify | purge`` and ``fangkong backup`` / ``fangkong restore``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fangkong.core import audit, backup
from fangkong.core.commands import DataDir, console, fail, session_factory, settings_for
from fangkong.core.config import Settings
from fangkong.core.db import session_scope
from fangkong.core.errors import FangkongError

audit_app = typer.Typer(help="The audit log: verify its hash chain, purge past retention.")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the database [default: the settings']; on PostgreSQL with "
        "row-level security, the owner's (see README, Running on PostgreSQL)",
    ),
]


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The settings' session factory; its engine's connections are closed at the end."""
    factory = session_factory(settings)
    try:
        yield factory
    finally:
        bind = factory.kw.get("bind")
        if isinstance(bind, Engine):
            bind.dispose()


@audit_app.command("verify")
def verify(data_dir: DataDir = None) -> None:
    """Check the audit chain end to end; exit 1 if an event was altered, deleted or cut off."""
    settings = settings_for(data_dir)
    with _sessions(settings) as factory, session_scope(factory) as session:
        report = audit.verify(session, head_file=audit.head_file_of(settings.data_dir))
    head = report.head_file
    console.print(
        f"checked {report.checked} events"
        + (f" after the purge anchor {report.anchor_id}" if report.anchor_id is not None else "")
        + (f"; last event {report.last_id}" if report.last_id is not None else "")
        + (f"; head file at event {head.id}" if head is not None else "; no head file")
    )
    for fault in report.faults:
        console.print(f"[red]{fault.code}[/red] {fault.text('en')}")
    if not report.ok:
        raise typer.Exit(code=1)
    console.print("[green]the audit chain is intact[/green]")


@audit_app.command("purge")
def purge(data_dir: DataDir = None) -> None:
    """Delete the audit events older than the retention (``audit_retention_days``, at least
    six months), keeping the chain verifiable."""
    settings = settings_for(data_dir)
    days = settings.audit_retention_days
    with _sessions(settings) as factory:
        deleted = audit.purge_past_retention(factory, retention_days=days)
    console.print(f"deleted {deleted} audit events older than {days} days")


def backup_command(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Archive to write [default: fangkong-backup-<UTC time>.tar.gz]"
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Back up the database and the data folder (its keys too) into one archive."""
    settings = settings_for(data_dir)
    archive = output or Path(f"fangkong-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz")
    try:
        summary = backup.backup(
            database_url=database_url or settings.resolved_database_url,
            data_dir=settings.data_dir,
            archive=archive,
        )
    except FangkongError as exc:
        fail(exc)
    if settings.secret_key is not None and "secret_key" not in summary.files:
        console.print(
            "[yellow]warning:[/yellow] the secret key comes from the environment and is not "
            "in the archive: keep it with the backup, or encrypted fields cannot be read"
        )
    console.print(
        f"{summary.archive}: {summary.database} database at {summary.revision or 'no schema'}, "
        f"{len(summary.files)} data files, {summary.size:,} bytes (holds the keys: keep it safe)"
    )


def restore_command(
    archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A backup")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace a database that holds data, and the data folder's files"
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Restore a backup into the database and the data folder (stop the server first)."""
    settings = settings_for(data_dir)
    url = database_url or settings.resolved_database_url
    try:
        summary = backup.restore(
            archive=archive, database_url=url, data_dir=settings.data_dir, force=force
        )
    except FangkongError as exc:
        fail(exc)
    console.print(
        f"restored the {summary.database} database (schema {summary.revision}) and "
        f"{len(summary.files)} data files into {settings.data_dir}; `fangkong serve` (or "
        "`fangkong db upgrade`) brings its schema up to this version's"
    )


def grant_command(
    role: Annotated[str, typer.Argument(help="The role the server connects as")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """PostgreSQL: let ROLE (not the tables' owner) run fangkong under row-level security:
    read and write every table, only read and append the audit log. Run it as the owner
    (``--database-url``) after each upgrade."""
    from fangkong.core import db_postgresql
    from fangkong.core.db import make_engine

    settings = settings_for(data_dir)
    engine = make_engine(database_url or settings.resolved_database_url)
    try:
        if engine.dialect.name != "postgresql":
            console.print("nothing to grant: SQLite has no roles")
            return
        with engine.begin() as conn:
            db_postgresql.grant_app_role(conn, role)
    finally:
        engine.dispose()
    console.print(f"granted {role} what the application needs")


def partitions_command(
    months_ahead: Annotated[
        int, typer.Option(min=0, max=24, help="Months after the current one to make")
    ] = 3,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """PostgreSQL: make the coming months' partitions of the large tables now (the server's
    job does it at start and daily), move rows waiting in a county's DEFAULT month (an
    import of its past) into theirs, and list the counties that have partitions."""
    from fangkong.core import partitions
    from fangkong.core.db import make_engine, make_session_factory

    settings = settings_for(data_dir)
    engine = make_engine(database_url or settings.resolved_database_url)
    try:
        if engine.dialect.name != "postgresql":
            console.print("nothing to make: SQLite has no partitions")
            return
        made = partitions.run_months(make_session_factory(engine), months_ahead=months_ahead)
        with engine.connect() as conn:
            counties = partitions.counties(conn)
    finally:
        engine.dispose()
    console.print(f"made {made} monthly partitions; counties with partitions: {counties}")


def detach_month_command(
    table: Annotated[
        str, typer.Argument(help="incident_event or device_status_event (monthly tables)")
    ],
    month: Annotated[str, typer.Argument(help="The month, YYYY-MM")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """PostgreSQL: detach every county's partition of TABLE for MONTH, for archiving (the
    partitions stay as tables: dump them with pg_dump -t, then drop them). As the owner."""
    from fangkong.core import partitions
    from fangkong.core.db import make_engine

    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        console.print(f"[red]error:[/red] {month} is not a month (YYYY-MM)")
        raise typer.Exit(code=2) from None
    settings = settings_for(data_dir)
    engine = make_engine(database_url or settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            detached = partitions.detach_month(conn, table, first)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    finally:
        engine.dispose()
    console.print(f"detached {len(detached)} partitions: {', '.join(detached) or 'none'}")


def register(app: typer.Typer, *, db: typer.Typer) -> None:
    """Add ``audit``, ``backup``, ``restore``, ``db grant``, ``db partitions`` and
    ``db detach-month`` to the command line."""
    app.add_typer(audit_app, name="audit")
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    db.command("grant")(grant_command)
    db.command("partitions")(partitions_command)
    db.command("detach-month")(detach_month_command)
