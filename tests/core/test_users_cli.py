"""``fangkong users ...``: create, list, unlock, deactivate and activate, new password and
role, reset of the second factor, tokens listed and revoked; each change audited."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import county_geojson
from fangkong.cli import app
from fangkong.core import auth, login, totp
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine
from fangkong.core.errors import Unauthorized
from fangkong.core.models import AuditEvent, User
from fangkong.core.security import FieldCipher, verify_password

runner = CliRunner()
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the test county and a station officer ``olga``."""
    folder = tmp_path_factory.mktemp("users-cli")
    county = folder / "county.geojson"
    county.write_text(json.dumps(county_geojson()), encoding="utf-8")
    assert (
        runner.invoke(app, ["areas", "import", str(county), "--data-dir", str(folder)]).exit_code
        == 0
    )
    made = runner.invoke(
        app,
        [
            "users",
            "create",
            "olga",
            "--role",
            "station_officer",
            "--area",
            "T-D1-S1",
            "--data-dir",
            str(folder),
        ],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert made.exit_code == 0, made.output
    return folder


def _run(data_dir: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["users", *args, "--data-dir", str(data_dir)], input=input)
    return result.exit_code, result.output


def _session(data_dir: Path) -> Session:
    return Session(make_engine(f"sqlite:///{data_dir / 'fangkong.db'}"))


def _olga(session: Session) -> User:
    return session.scalars(select(User).where(User.username == "olga")).one()


def _actions(data_dir: Path) -> list[tuple[str, str | None]]:
    with _session(data_dir) as session:
        return [
            (e.action, e.username)
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_create_refuses_a_weak_password(data_dir: Path) -> None:
    code, output = _run(
        data_dir,
        "create",
        "weak",
        "--role",
        "viewer",
        "--area",
        "T",
        input="password1\npassword1\n",
    )
    assert code == 2 and "at least 10 characters" in output


def test_unlock(data_dir: Path) -> None:
    with _session(data_dir) as session:
        for _ in range(5):
            with pytest.raises(Unauthorized):
                login.authenticate(session, username="olga", password="wrong", client="x")
        session.commit()
        assert login.locked_usernames(session, ["olga"]) == {"olga"}
    code, output = _run(data_dir, "list")
    assert code == 0 and "locked" in output
    code, output = _run(data_dir, "unlock", "olga")
    assert code == 0 and "unlocked olga" in output
    with _session(data_dir) as session:
        assert login.locked_usernames(session, ["olga"]) == set()
    assert _actions(data_dir)[-1][0] == "unlock"
    assert _actions(data_dir)[-1][1].startswith("cli:")


def test_deactivate_and_activate(data_dir: Path) -> None:
    with _session(data_dir) as session:
        _, plain = auth.issue_token(
            session, user=_olga(session), name="t", ttl=timedelta(hours=1), actor=SYSTEM
        )
        session.commit()
    assert _run(data_dir, "deactivate", "olga")[0] == 0
    with _session(data_dir) as session:
        assert _olga(session).is_active is False
        with pytest.raises(Unauthorized):
            auth.user_for_token(session, token=plain)
    code, output = _run(data_dir, "activate", "olga")
    assert code == 0 and "activated olga" in output
    with _session(data_dir) as session:
        assert _olga(session).is_active is True
    assert _actions(data_dir)[-1][0] == "activate"


def test_set_password_and_role(data_dir: Path) -> None:
    code, output = _run(data_dir, "set-password", "olga", input="12345678\n12345678\n")
    assert code == 2 and "characters" in output
    code, _ = _run(data_dir, "set-password", "olga", input="a-new-long-phrase\na-new-long-phrase\n")
    assert code == 0
    code, output = _run(data_dir, "set-role", "olga", "--role", "grid_worker")
    assert code == 0 and "grid_worker" in output
    with _session(data_dir) as session:
        olga = _olga(session)
        assert verify_password(olga.password_hash, "a-new-long-phrase")
        assert olga.role.value == "grid_worker" and olga.session_version >= 2


def test_reset_totp(data_dir: Path) -> None:
    cipher = FieldCipher((data_dir / "secret_key").read_text().strip())
    with _session(data_dir) as session:
        olga = _olga(session)
        enrolment = login.begin_enrolment(session, user=olga, cipher=cipher)
        code = totp.totp(totp.key_of(enrolment.secret), time.time())
        login.confirm_enrolment(session, user=olga, code=code, cipher=cipher, actor=SYSTEM)
        session.commit()
    code, output = _run(data_dir, "reset-totp", "olga")
    assert code == 0 and "olga" in output
    with _session(data_dir) as session:
        assert _olga(session).totp_secret_encrypted is None


def test_tokens_listed_and_revoked(data_dir: Path) -> None:
    with _session(data_dir) as session:
        token, _ = auth.issue_token(
            session, user=_olga(session), name="nightly-sync", ttl=timedelta(hours=5), actor=SYSTEM
        )
        session.commit()
        token_id = token.id
    code, output = _run(data_dir, "tokens", "olga")
    assert code == 0 and "nightly-sync" in output and str(token_id) in output
    code, output = _run(data_dir, "revoke-token", str(token_id))
    assert code == 0 and f"revoked token {token_id}" in output
    with _session(data_dir) as session:
        assert all(t.revoked for t in auth.get_tokens(session, user_id=_olga(session).id))
    assert _run(data_dir, "revoke-token", "999999")[0] == 2
    assert _run(data_dir, "unlock", "nobody_here")[0] == 2
