"""``fangkong audit verify | purge``, ``fangkong backup`` and ``fangkong restore`` end to end,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, make_url, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import TEST_PASSWORD, fresh_database, reset_postgres
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.cli import app
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.commands import session_factory, settings_for
from fangkong.core.config import Settings
from fangkong.core.db import make_engine, session_scope
from fangkong.core.migrate import upgrade
from fangkong.core.models import AuditEvent, Role
from fangkong.core.security import FieldCipher

runner = CliRunner()
PHONE = "13912345678"


@dataclass
class Installation:
    """A data folder and its database, with the test county, a user with a phone, and an
    audit log whose head file the command line keeps."""

    data_dir: Path
    url: str
    settings: Settings

    def engine(self) -> Engine:
        return make_engine(self.url)


def _database(backend: str, tmp: Path, suffix: str) -> str:
    engine = fresh_database(backend, tmp, suffix=suffix)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return url


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    reset_postgres(engine)
    engine.dispose()


def _invoke(*args: str, url: str | None = None) -> tuple[int, str]:
    env = {"FANGKONG_DATABASE_URL": url} if url else {}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture()
def installation(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Installation:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = (
        f"sqlite:///{data_dir / 'fangkong.db'}"
        if backend == "sqlite"
        else _database(backend, tmp_path, "_cli_src")
    )
    if backend == "sqlite":
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    monkeypatch.setenv("FANGKONG_DATABASE_URL", url)
    monkeypatch.delenv("FANGKONG_SECRET_KEY", raising=False)
    settings = settings_for(data_dir)
    cipher = FieldCipher(settings.ensure_secret_key())
    factory = session_factory(settings)
    with session_scope(factory) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        auth.create(
            session,
            username="kept",
            display_name="Kept",
            password=TEST_PASSWORD,
            role=Role.ADMIN,
            area_codes=["T"],
            actor=SYSTEM,
            phone=PHONE,
            cipher=cipher,
        )
    factory.kw["bind"].dispose()
    return Installation(data_dir=data_dir, url=url, settings=settings)


def _tamper(engine: Engine, sql: str) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql))


def test_audit_verify_finds_tampering(installation: Installation) -> None:
    data = str(installation.data_dir)
    code, output = _invoke("audit", "verify", "--data-dir", data)
    assert code == 0, output
    assert "intact" in output and "head file at event" in output
    engine = installation.engine()
    _tamper(engine, "UPDATE audit_event SET username = 'someone' WHERE entity = 'user'")
    code, output = _invoke("audit", "verify", "--data-dir", data)
    assert code == 1 and "altered" in output
    engine.dispose()


def test_audit_purge_keeps_recent_events(installation: Installation) -> None:
    data = str(installation.data_dir)
    code, output = _invoke("audit", "purge", "--data-dir", data)
    assert code == 0 and "deleted 0 audit events" in output, output
    assert _invoke("audit", "verify", "--data-dir", data)[0] == 0


def _facts(url: str) -> tuple[int, int, str | None]:
    engine = make_engine(url)
    with Session(engine) as session:
        areas = session.scalar(select(func.count(Area.id))) or 0
        events = session.scalar(select(func.count(AuditEvent.id))) or 0
        user = auth.get_by_username(session, username="kept")
        phone = None if user is None else user.phone_encrypted
    engine.dispose()
    return areas, events, phone


def test_backup_and_restore_round_trip(
    installation: Installation, backend: str, tmp_path: Path
) -> None:
    archive = tmp_path / "backup.tar.gz"
    code, output = _invoke("backup", "--data-dir", str(installation.data_dir), "-o", str(archive))
    assert code == 0, output
    assert archive.stat().st_mode & 0o077 == 0  # it holds the keys
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    member = "database/fangkong.db" if backend == "sqlite" else "database/fangkong.dump"
    assert {"manifest.json", member, "data/secret_key", "data/audit-head.json"} <= names
    assert manifest["database"] == backend and manifest["revision"]

    restored = tmp_path / "restored"
    if backend == "sqlite":
        url = f"sqlite:///{restored / 'fangkong.db'}"
    else:
        url = _database(backend, tmp_path, "_cli_dst")
        _empty_postgres(url)
    code, output = _invoke("restore", str(archive), "--data-dir", str(restored), url=url)
    assert code == 0, output

    assert (restored / "secret_key").read_text() == (
        installation.data_dir / "secret_key"
    ).read_text()
    areas, events, phone = _facts(url)
    assert (areas, events) == _facts(installation.url)[:2]
    assert phone is not None
    key = Settings(data_dir=restored, database_url=url).ensure_secret_key()
    assert FieldCipher(key).decrypt(phone) == PHONE
    code, output = _invoke("audit", "verify", "--data-dir", str(restored), url=url)
    assert code == 0, output

    # A database that holds data is replaced only when asked.
    code, output = _invoke("restore", str(archive), "--data-dir", str(restored), url=url)
    assert code == 2 and "already holds data" in output
    code, output = _invoke("restore", str(archive), "--data-dir", str(restored), "--force", url=url)
    assert code == 0, output
    assert _facts(url)[:2] == (areas, events)


def test_restore_refuses_what_is_not_a_backup(installation: Installation, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(installation.data_dir / "secret_key", arcname="../secret_key")
    code, output = _invoke("restore", str(bogus), "--data-dir", str(tmp_path / "x"))
    assert code == 2 and "not a fangkong backup" in output


def test_postgres_url_is_not_on_the_command_line(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's tools only")
    from fangkong.core.backup import _libpq

    conninfo, env = _libpq(make_url("postgresql+psycopg://u:secret@h:5432/d"))
    assert "secret" not in conninfo and env["PGPASSWORD"] == "secret"
