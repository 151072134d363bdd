"""The group commit tests' database and what their writer processes write with (a module
importable by name in a spawned process, which test modules are not)."""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from fangkong.core.db import make_engine, make_session_factory
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.models import AuditEvent
from fangkong.core.writer import WriterParts

#: An audit event id the tests take first: a call "clash" inserts it again and fails. On
#: PostgreSQL the audit log's key is (id, partition key, month: migration 0023), so the clash
#: repeats the whole key: the same id, time and (no) county.
TAKEN_ID = 1_000_000
TAKEN_AT = datetime(2026, 1, 1, tzinfo=UTC)


def seeded_database(backend: str, tmp: Path, *, suffix: str) -> Engine:
    """A fresh database whose audit log already holds :data:`TAKEN_ID`."""
    from conftest import fresh_database  # not in a writer process: it has no pytest to run

    engine = fresh_database(backend, tmp, suffix=suffix)
    with Session(engine) as session:
        session.execute(
            insert(AuditEvent).values(id=TAKEN_ID, at=TAKEN_AT, action="seed", entity="t")
        )
        session.commit()
    return engine


def _label(call: str) -> str:
    """What a call stores: a napping call without its path (too long for the column)."""
    return call.partition(":")[0]


def recorder_parts(url: str) -> WriterParts[str, str, int]:
    """Writes an audit event per call: "bad…" is refused, "clash" hits a taken id, and
    "hang:PATH" ("nap:PATH") touches PATH and sleeps a minute (a second). Answers with the
    id read back on a connection of its own: only a committed row is seen there."""
    engine = make_engine(url)

    def write(session: Session, calls: list[str]) -> list[str | FangkongError]:
        out: list[str | FangkongError] = []
        for call in calls:
            if call.startswith("bad"):
                out.append(InvalidInput(f"{call} refused", field="call"))
                continue
            if call.startswith(("hang:", "nap:")):
                kind, _, path = call.partition(":")
                Path(path).touch()
                time.sleep(60 if kind == "hang" else 1)
            row: dict[str, object] = {"action": "batch", "entity": "t", "entity_id": _label(call)}
            if call == "clash":
                row["id"], row["at"] = TAKEN_ID, TAKEN_AT
            session.execute(insert(AuditEvent).values(**row))
            out.append(call)
        return out

    def answer(_session: Session, calls: list[str]) -> list[int | Exception]:
        with Session(engine) as other:
            return [
                int(
                    other.scalars(
                        select(AuditEvent.id).where(
                            AuditEvent.action == "batch", AuditEvent.entity_id == _label(call)
                        )
                    ).one()
                )
                for call in calls
            ]

    return WriterParts(factory=make_session_factory(engine), write=write, answer=answer)


def freeze_parts(url: str) -> WriterParts[str, str, int]:
    """Writes nothing; answers each call with how many objects the process holds out of the
    cyclic collector's way (``gc.get_freeze_count``)."""
    engine = make_engine(url)

    def write(_session: Session, calls: list[str]) -> list[str | FangkongError]:
        return list(calls)

    def answer(_session: Session, calls: list[str]) -> list[int | Exception]:
        return [gc.get_freeze_count() for _ in calls]

    return WriterParts(factory=make_session_factory(engine), write=write, answer=answer)


def broken_parts(url: str) -> WriterParts[str, str, int]:
    """A writer that cannot start (as when the database is unreachable)."""
    raise RuntimeError(f"cannot reach {url}")
