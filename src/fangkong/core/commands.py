"""What every command of the command line shares: the ``--data-dir`` option, settings, the
schema upgrade, a session factory, the check of a record's id (:func:`check_id`) and the
error exit, in the user's language (:func:`language`: ``LC_ALL``, ``LC_MESSAGES`` or ``LANG``;
English when none names a language of the catalogues).

Each domain's ``cli.py`` and the demo's command use these; ``fangkong.cli`` gathers them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.bounds import MAX_ID
from fangkong.core.config import Settings, load_settings
from fangkong.core.db import make_engine, make_session_factory
from fangkong.core.errors import API_LANGUAGE, FangkongError, InvalidInput
from fangkong.core.i18n import negotiate

console = Console()

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder [default: ./fangkong-data or $FANGKONG_DATA_DIR]"),
]


def settings_for(data_dir: Path | None, **overrides: object) -> Settings:
    """The settings of the environment, with ``--data-dir`` and ``overrides`` applied."""
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


def upgrade(settings: Settings) -> None:
    """Create the data folder and migrate its database to the newest schema."""
    from fangkong.core.migrate import upgrade as upgrade_schema

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_schema(
        make_engine(settings.resolved_database_url), secret_key=settings.ensure_secret_key()
    )


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """Sessions of the settings' database; what they append to the audit log moves the head
    file of the data folder."""
    from fangkong.core import audit

    engine = make_engine(settings.resolved_database_url)
    audit.keep_head(engine, audit.head_file_of(settings.data_dir))
    return make_session_factory(engine)


def language() -> str:
    """The user's language as the environment names it (``zh_CN.UTF-8``: zh-CN), else
    English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return negotiate(value.split(".")[0].split("@")[0].replace("_", "-"), API_LANGUAGE)
    return API_LANGUAGE


def fail(exc: FangkongError) -> NoReturn:
    """Print a domain error in the user's language and exit with status 2."""
    console.print(f"[red]error:[/red] {exc.text(language())}")
    raise typer.Exit(code=2)


def check_id(value: int, *, name: str) -> int:
    """``value`` if it is a record's id, 1 to :data:`~fangkong.core.bounds.MAX_ID` (the id
    columns are PostgreSQL ``integer``; the API's bound); else the error exit naming the
    argument ``name`` and the range."""
    if not 1 <= value <= MAX_ID:
        fail(
            InvalidInput(
                key="error.bounds.id",
                params={"name": name, "max": MAX_ID, "value": value},
                field=name,
            )
        )
    return value
