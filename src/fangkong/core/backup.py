"""Backup and restore of an installation: its database and its data folder in one archive.

The archive is a gzipped tar file:

- ``manifest.json``: the format, when and from what it was made (the database's kind and
  schema revision), and the SHA-256 and size of every other member;
- ``database/fangkong.db``: an SQLite database copied by SQLite's online backup API (a
  consistent copy while the server writes), or ``database/fangkong.dump``: a PostgreSQL
  database in ``pg_dump``'s custom format;
- ``data/…``: the files of the data folder: the secret key (it signs sessions and derives
  the key of every encrypted field: without it the personal data of the backup cannot be
  read), the settings file, the audit chain's head, case attachments, the road network.
  Lock files and the SQLite database's own files are left out.

The data folder is copied before the database, so that the audit chain's head file never
names an event the database copy does not hold. The archive holds the keys: it is created
readable by its owner only, and is to be kept as the data folder is.

A restore checks every member against the manifest, refuses a database that already holds
fangkong's tables (unless forced) and one of another kind than the backup's, then puts the
data folder's files back and loads the database (SQLite's backup API again; ``pg_restore``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import inspect, make_url
from sqlalchemy.engine import URL

from fangkong.core.db import make_engine
from fangkong.core.errors import Conflict, InvalidInput, Unavailable

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/fangkong.db"
POSTGRES_MEMBER = "database/fangkong.dump"
DATA_PREFIX = "data/"
#: Files of the data folder that are not data: the locks of running processes.
_TRANSIENT_SUFFIXES = ("-writer", "-wal", "-shm", "-journal", ".lock")
#: A table every fangkong database has: one that holds it is not empty.
_MARKER_TABLE = "alembic_version"


@dataclass(frozen=True)
class Summary:
    """What a backup holds or a restore put back: the database's kind and schema revision,
    the data folder's files and the archive's size (bytes)."""

    archive: Path
    database: str
    revision: str | None
    files: list[str]
    size: int


def _kind(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(key="backup.unknown_database", params={"scheme": backend})
    return backend


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise InvalidInput(key="backup.unknown_database", params={"scheme": "sqlite (memory)"})
    return Path(url.database).resolve()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for the PostgreSQL tools, and their environment (the
    password goes there, not on their command line, which others may read)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Unavailable(key="backup.tool_missing", params={"tool": name})
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise Unavailable(
            key="backup.tool_failed",
            params={"tool": Path(args[0]).name, "message": message[-1] if message else ""},
        )


def _restore_over(folder: Path, dump: str, conninfo: str, env: dict[str, str]) -> None:
    """Load ``dump`` over a database that holds fangkong's tables, in one transaction.

    ``pg_restore --clean`` alone cannot: it drops a partition's inherited constraints and
    indexes one by one (the partitioned tables of :mod:`fangkong.core.partitions`), which
    PostgreSQL refuses. So its script is run by ``psql`` after dropping the partitioned
    tables first (their partitions with them); its own drops of those are then no-ops
    (``--if-exists``)."""
    from fangkong.core import partitions

    script = folder / "restore.sql"
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            f"--file={script}",
            dump,
        ],
        env,
    )
    drop = "DROP TABLE IF EXISTS " + ", ".join(partitions.TABLES) + " CASCADE"
    _run(
        [
            _tool("psql"),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={conninfo}",
            f"--command={drop}",
            f"--file={script}",
        ],
        env,
    )


def _data_files(data_dir: Path, database: Path | None) -> Iterator[Path]:
    """The data folder's files to keep (relative paths), in a stable order."""
    if not data_dir.is_dir():
        return
    skip = set()
    if database is not None:
        skip = {database, *(Path(f"{database}{s}") for s in _TRANSIENT_SUFFIXES)}
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.resolve() in skip:
            continue
        if path.name.endswith(_TRANSIENT_SUFFIXES):
            continue
        yield path.relative_to(data_dir)


def _revision(url: str) -> str | None:
    from fangkong.core.migrate import current_revision

    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(*, database_url: str, data_dir: Path, archive: Path) -> Summary:
    """Write the database at ``database_url`` and the files of ``data_dir`` to ``archive``."""
    url = make_url(database_url)
    kind = _kind(url)
    database_file = _sqlite_path(url) if kind == "sqlite" else None
    revision = _revision(database_url)
    with tempfile.TemporaryDirectory(prefix="fangkong-backup-") as tmp:
        staging = Path(tmp)
        members: dict[str, Path] = {}
        # The data folder first: its audit head never runs ahead of the database copy.
        for relative in _data_files(data_dir, database_file):
            copy = staging / "data" / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data_dir / relative, copy)
            members[DATA_PREFIX + relative.as_posix()] = copy
        if database_file is not None:
            copy = staging / "fangkong.db"
            source = sqlite3.connect(f"file:{database_file}?mode=ro", uri=True)
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            members[SQLITE_MEMBER] = copy
        else:
            copy = staging / "fangkong.dump"
            conninfo, env = _libpq(url)
            # The system's scope: with row-level security on, the dump reads every row.
            env["PGOPTIONS"] = (
                env.get("PGOPTIONS", "") + " -c fangkong.scope_paths=/ -c fangkong.scope_counties=*"
            ).strip()
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    "--enable-row-security",
                    f"--file={copy}",
                    f"--dbname={conninfo}",
                ],
                env,
            )
            members[POSTGRES_MEMBER] = copy
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "database": kind,
            "revision": revision,
            "members": {
                name: {"sha256": _sha256(path), "size": path.stat().st_size}
                for name, path in members.items()
            },
        }
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(archive.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            encoded = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(encoded), 0o600, int(datetime.now().timestamp())
            tar.addfile(info, io.BytesIO(encoded))
            for name, path in members.items():
                tar.add(path, arcname=name, recursive=False)
        os.replace(partial, archive)
    files = sorted(n[len(DATA_PREFIX) :] for n in members if n.startswith(DATA_PREFIX))
    return Summary(archive, kind, revision, files, archive.stat().st_size)


def _bad(archive: Path, reason: str) -> InvalidInput:
    return InvalidInput(
        key="backup.not_an_archive", params={"path": str(archive), "reason": reason}
    )


@contextmanager
def _opened(archive: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The manifest and a folder holding the archive's members, each checked against it."""
    try:
        tar = tarfile.open(archive, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise _bad(archive, str(exc)) from exc
    with tar, tempfile.TemporaryDirectory(prefix="fangkong-restore-") as tmp:
        folder = Path(tmp)
        try:
            raw = tar.extractfile(MANIFEST)
            manifest = json.loads(raw.read()) if raw is not None else None
        except (KeyError, json.JSONDecodeError) as exc:
            raise _bad(archive, "no manifest") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _bad(archive, "unknown format")
        expected: dict[str, Any] = manifest.get("members", {})
        seen = set()
        for member in tar.getmembers():
            if member.name == MANIFEST:
                continue
            name = PurePosixPath(member.name)
            if (
                not member.isfile()
                or name.is_absolute()
                or ".." in name.parts
                or member.name not in expected
            ):
                raise _bad(archive, f"unexpected member {member.name}")
            target = folder.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            with target.open("wb") as out:
                shutil.copyfileobj(source, out)
            if _sha256(target) != expected[member.name]["sha256"]:
                raise _bad(archive, f"{member.name} does not match its checksum")
            seen.add(member.name)
        if seen != set(expected):
            raise _bad(archive, f"members missing: {', '.join(sorted(set(expected) - seen))}")
        yield manifest, folder


def _holds_data(url: str) -> bool:
    engine = make_engine(url)
    try:
        return inspect(engine).has_table(_MARKER_TABLE)
    finally:
        engine.dispose()


def restore(*, archive: Path, database_url: str, data_dir: Path, force: bool = False) -> Summary:
    """Put the database and the data folder's files of ``archive`` back (see the module).

    Stop the server first. Without ``force``, a database that already holds fangkong's
    tables is refused; with it, the database is replaced and the data folder's files of the
    same names are written over.
    """
    url = make_url(database_url)
    kind = _kind(url)
    with _opened(archive) as (manifest, folder):
        if manifest.get("database") != kind:
            raise InvalidInput(
                key="backup.other_database",
                params={"source": manifest.get("database"), "target": kind},
            )
        target_file = _sqlite_path(url) if kind == "sqlite" else None
        if not force and (
            (target_file is None or target_file.exists()) and _holds_data(database_url)
        ):
            raise Conflict(
                key="backup.target_not_empty",
                params={"what": url.render_as_string(hide_password=True)},
            )
        files: list[str] = []
        data = folder / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        if data.is_dir():
            for path in sorted(data.rglob("*")):
                if not path.is_file():
                    continue
                relative = path.relative_to(data)
                target = data_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                if relative.parts[0] == "secret_key":
                    target.chmod(0o600)
                files.append(relative.as_posix())
        if target_file is not None:
            target_file.parent.mkdir(parents=True, exist_ok=True)
            source = sqlite3.connect(folder / "database" / "fangkong.db")
            destination = sqlite3.connect(target_file)
            try:
                source.backup(destination)
            finally:
                destination.close()
                source.close()
        else:
            conninfo, env = _libpq(url)
            dump = str(folder / "database" / "fangkong.dump")
            if force:
                _restore_over(folder, dump, conninfo, env)
            else:
                _run(
                    [
                        _tool("pg_restore"),
                        "--no-owner",
                        "--exit-on-error",
                        "--single-transaction",
                        f"--dbname={conninfo}",
                        dump,
                    ],
                    env,
                )
    return Summary(archive, kind, manifest.get("revision"), files, archive.stat().st_size)
