"""``fangkong users create`` and ``set-password`` give a password the user must change at their
next login; the user's own change meets the demand."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import county_geojson
from fangkong.cli import app
from fangkong.core import auth
from fangkong.core.audit import Actor
from fangkong.core.db import make_engine
from fangkong.core.models import User

runner = CliRunner()
GIVEN = "given-on-the-command-line"
CHOSEN = "chosen-by-the-user-now"


def _users(folder: Path, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, ["users", *args, "--data-dir", str(folder)], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _flagged(folder: Path, username: str) -> bool:
    engine = make_engine(f"sqlite:///{folder / 'fangkong.db'}")
    try:
        with Session(engine) as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            return user.must_change_password
    finally:
        engine.dispose()


def test_the_cli_gives_passwords_to_be_changed(tmp_path: Path) -> None:
    county = tmp_path / "county.geojson"
    county.write_text(json.dumps(county_geojson()), encoding="utf-8")
    imported = runner.invoke(app, ["areas", "import", str(county), "--data-dir", str(tmp_path)])
    assert imported.exit_code == 0, imported.output
    output = _users(
        tmp_path,
        "create",
        "cli_newbie",
        "--role",
        "viewer",
        "--area",
        "T-D1",
        input=f"{GIVEN}\n{GIVEN}\n",
    )
    assert "change the password at login" in output
    assert _flagged(tmp_path, "cli_newbie")

    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.username == "cli_newbie")).one()
        me = Actor(user_id=user.id, username=user.username, client=None)
        auth.change_password(session, user=user, current=GIVEN, new=CHOSEN, actor=me)
        session.commit()
    engine.dispose()
    assert not _flagged(tmp_path, "cli_newbie")

    _users(tmp_path, "set-password", "cli_newbie", input=f"{GIVEN}-2\n{GIVEN}-2\n")
    assert _flagged(tmp_path, "cli_newbie")
