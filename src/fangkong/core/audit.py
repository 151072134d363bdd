"""The audit log: who did what, when and from where, for each write and each personal read.

Each event records the area path of what it concerns (``area_path``): reads of the log are
scoped by it as every other read (:func:`get_all`). An event that concerns no area (a failed
login of an unknown name, a purge of the log) is shown only to readers whose scope is the
whole tree.

The log is a hash chain. Each event stores the hash of the event before it (``prev_hash``)
and its own (``chain_hash``): SHA-256 over that previous hash and the event's canonical form
(:func:`link_hash`). Appends are serialised by the row lock of the chain's head
(``audit_chain``, one row), taken in the appending transaction and held until it ends: on
PostgreSQL a row lock; on SQLite the write lock, which the head's ``UPDATE`` takes. So the
chain follows the ids whatever the writers (requests, the intake writer process and its
group commit, the command line). The head is also kept outside the database, in
``<data dir>/audit-head.json`` (:func:`keep_head`), written after each commit that appended:
a truncation of the log's tail, which leaves a chain that holds together, is found by it.
:func:`verify` finds an altered event, a deleted one and a truncation; :func:`purge` deletes
the events past retention and records where the chain now starts (its anchor).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, delete, event, false, or_, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from fangkong.core import db_postgresql
from fangkong.core.db import session_scope, utcnow
from fangkong.core.i18n import translate
from fangkong.core.models import AuditChain, AuditEvent, AuditReaderCounty
from fangkong.core.plain_sql import RowsInsert
from fangkong.core.scoping import Scope, in_partitions, whole_tree


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (or None for the system) and the client address of the request."""

    user_id: int | None
    username: str | None
    client: str | None = None


SYSTEM = Actor(user_id=None, username="system", client="local")
#: The hash before the first event of a chain that was never purged.
GENESIS = "0" * 64
#: The head file's name in the data folder.
HEAD_FILE = "audit-head.json"
_CHAIN_ID = 1
# A plain INSERT of SQL built once, not a unit-of-work flush of new objects: every write
# audits, and the flush costs several times the statement (see fangkong.core.plain_sql).
_COLUMNS = (
    "at",
    "user_id",
    "username",
    "client",
    "action",
    "entity",
    "entity_id",
    "detail",
    "area_path",
    "prev_hash",
    "chain_hash",
)
_INSERT = RowsInsert(cast(Table, AuditEvent.__table__), _COLUMNS, returning=("id",))
# Takes the head's row lock (PostgreSQL) or the write lock (SQLite) and reads the last hash:
# an UPDATE that waits for a concurrent append to end and then reads what it committed.
_LOCK_HEAD = f"UPDATE audit_chain SET last_id = last_id WHERE id = {_CHAIN_ID} RETURNING last_hash"
_MOVE_HEAD = "UPDATE audit_chain SET last_id = {p}, last_hash = {p} WHERE id = " + str(_CHAIN_ID)
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@dataclass(frozen=True)
class Entry:
    """One audit event: who did what to which entity (``detail``: what a reader needs), and
    the area path of what it concerns (None: the whole system)."""

    actor: Actor
    action: str
    entity: str
    entity_id: str | int | None = None
    detail: dict[str, Any] | None = None
    area_path: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "user_id": self.actor.user_id,
            "username": self.actor.username,
            "client": self.actor.client,
            "action": self.action,
            "entity": self.entity,
            "entity_id": None if self.entity_id is None else str(self.entity_id),
            "detail": self.detail,  # None is SQL NULL, not the JSON text 'null'
            "area_path": self.area_path,
        }


def canonical(row: Any) -> bytes:
    """An event's canonical form, what its hash covers: its time (UTC, microseconds), who,
    from where, what, which entity, the detail (JSON with sorted keys) and the area path.
    ``row`` is a mapping or an object with these attributes."""

    def get(name: str) -> Any:
        return row[name] if isinstance(row, dict) else getattr(row, name)

    at: datetime = get("at")
    values = [
        at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        get("user_id"),
        get("username"),
        get("client"),
        get("action"),
        get("entity"),
        get("entity_id"),
        get("detail"),
        get("area_path"),
    ]
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_hash(prev_hash: str, row: Any) -> str:
    """The chain hash of an event after ``prev_hash``: SHA-256 (hex) of both."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(row)).hexdigest()


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int | None = None,
    detail: dict[str, Any] | None = None,
    area_path: str | None = None,
) -> None:
    """Add an audit event to the caller's transaction: it commits or rolls back with the change.

    ``area_path`` is the area path of what the event concerns (None: the whole system).
    """
    record_many(
        session,
        [
            Entry(
                actor=actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                detail=detail,
                area_path=area_path,
            )
        ],
    )


def record_many(session: Session, entries: list[Entry]) -> None:
    """Add audit events to the caller's transaction, in one statement, as links of the chain.

    The chain's head stays locked until the transaction ends (see the module): record what a
    change writes after writing it, so that the lock is the last one the transaction takes.
    """
    if not entries:
        return
    # Pending objects first, so that the events follow what they record (as a flush would).
    session.flush()
    conn = session.connection()
    prev = _lock_head(conn)
    at = utcnow()
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row = entry.row()
        row["at"] = at
        # The detail as it reads back: the hash is checked against what the database returns.
        if row["detail"] is not None:
            row["detail"] = json.loads(json.dumps(row["detail"]))
        row["prev_hash"] = prev
        row["chain_hash"] = prev = link_hash(prev, row)
        rows.append(row)
    last_id = max(r[0] for r in _INSERT.run(conn, rows))
    placeholder = _PLACEHOLDERS[conn.dialect.paramstyle]
    conn.exec_driver_sql(_MOVE_HEAD.format(p=placeholder), (last_id, prev))
    session.info[_CANDIDATE] = (last_id, prev)


def _lock_head(conn: Connection) -> str:
    found = conn.exec_driver_sql(_LOCK_HEAD).first()
    if found is None:
        raise RuntimeError("the audit chain has no head: run `fangkong db upgrade`")
    return str(found[0])


# --- The head outside the database ---------------------------------------------------------

_CANDIDATE = "fangkong.audit_head"
_RECHECK = "fangkong.audit_head_recheck"
_head_files: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()


def keep_head(engine: Engine, path: Path) -> None:
    """Write the chain's head to ``path`` after each commit of a session of ``engine`` that
    appended to the log (the server, its intake writer and the command line call this with
    ``<data dir>/audit-head.json``)."""
    _head_files[engine] = path


def head_file_of(data_dir: Path) -> Path:
    return data_dir / HEAD_FILE


@dataclass(frozen=True)
class Head:
    """The last event of the chain as a writer saw it: its id and hash."""

    id: int
    hash: str


def read_head_file(path: Path) -> Head | None:
    """The head kept in ``path``; None if there is no file. A file that does not parse
    raises :class:`ValueError`."""
    try:
        text = path.read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    if not text:
        raise ValueError(f"{path} is empty")
    data = json.loads(text)
    return Head(id=int(data["id"]), hash=str(data["hash"]))


_HEAD_BYTES = 160


def write_head_file(path: Path, head: Head) -> None:
    """Keep ``head`` in ``path`` unless it already holds a later one. Writers of several
    processes take turns by an advisory lock on the file; the record is one write of a few
    bytes at its start, padded to a fixed length, so that a reader sees one or the other."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, _HEAD_BYTES, 0).strip()
        if raw:
            try:
                if int(json.loads(raw)["id"]) >= head.id:
                    return
            except (ValueError, KeyError, TypeError):
                pass  # a damaged file is written over; verify reports it until then
        record = json.dumps({"id": head.id, "hash": head.hash}).encode()
        os.pwrite(fd, record.ljust(_HEAD_BYTES - 1) + b"\n", 0)
    finally:
        os.close(fd)


def _engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    if isinstance(bind, Connection):
        return bind.engine
    return bind if isinstance(bind, Engine) else None


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    candidate = session.info.pop(_CANDIDATE, None)
    recheck = session.info.pop(_RECHECK, False)
    if candidate is None:
        return
    engine = _engine_of(session)
    path = _head_files.get(engine) if engine is not None else None
    if path is None or engine is None:
        return
    if recheck:
        # A savepoint of this transaction was rolled back: what it appended is not there.
        with engine.connect() as conn:
            found = conn.execute(select(AuditChain.last_id, AuditChain.last_hash)).first()
        if found is None or found[0] is None:
            return
        candidate = (found[0], found[1])
    write_head_file(path, Head(id=candidate[0], hash=candidate[1]))


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if _CANDIDATE not in session.info:
        return
    if previous.nested:
        session.info[_RECHECK] = True
    else:
        session.info.pop(_CANDIDATE, None)
        session.info.pop(_RECHECK, None)


# --- Reading -------------------------------------------------------------------------------


def get_all(
    session: Session,
    *,
    scope: Scope,
    reader_id: int | None,
    entity: str | None = None,
    action: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The newest events first that a reader with ``scope`` may see: those of areas in their
    scope, their own actions, and events of no area when their scope is the whole tree."""
    query = (
        select(AuditEvent)
        .where(visible_to(session, scope=scope, reader_id=reader_id))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    if entity is not None:
        query = query.where(AuditEvent.entity == entity)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def visible_to(session: Session, *, scope: Scope, reader_id: int | None) -> Any:
    """The SQL condition of the events a reader with ``scope`` may see (see :func:`get_all`)."""
    system_wide = AuditEvent.area_path.is_(None) if whole_tree(session, scope) else false()
    own: Any = false()
    if reader_id is not None:
        # A reader's own events are theirs wherever they were filed. On PostgreSQL, where
        # the scope prunes to its counties' partitions, they are bounded to the counties
        # that hold them (kept by the database: AuditReaderCounty), else this condition
        # would read every county's partitions.
        own = AuditEvent.user_id == reader_id
        if scope.counties is not None and session.get_bind().dialect.name == "postgresql":
            holding = session.scalars(
                select(AuditReaderCounty.county).where(AuditReaderCounty.user_id == reader_id)
            ).all()
            own = and_(own, in_partitions(AuditEvent.partition_county, holding))
    return or_(scope.clause(AuditEvent.area_path), own, system_wide)


# --- Verification and purge ----------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What verification found: ``code`` (``altered``, ``deleted``, ``truncated``,
    ``unchained``, ``head_file``, ``anchor``), the event it concerns, and the catalogue key
    and parameters of its message."""

    code: str
    event_id: int | None
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, language: str = "en") -> str:
        return translate(self.key, language, event_id=self.event_id, **self.params)


def _fault(code: str, event_id: int | None, key: str | None = None, **params: Any) -> Fault:
    return Fault(code, event_id, f"audit.fault.{key or code}", params)


@dataclass
class Report:
    """What :func:`verify` checked: events read, the chain's anchor and last event, the head
    file's head, the faults."""

    checked: int = 0
    anchor_id: int | None = None
    last_id: int | None = None
    head_file: Head | None = None
    faults: list[Fault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults


_CHAIN_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.user_id,
    AuditEvent.username,
    AuditEvent.client,
    AuditEvent.action,
    AuditEvent.entity,
    AuditEvent.entity_id,
    AuditEvent.detail,
    AuditEvent.area_path,
    AuditEvent.prev_hash,
    AuditEvent.chain_hash,
)


def verify(session: Session, *, head_file: Path | None = None) -> Report:
    """Walk the chain from its anchor and check every link, then its end against the head in
    the database and the one in ``head_file``.

    An altered event no longer hashes to its ``chain_hash``; a deleted one leaves the next
    event's ``prev_hash`` pointing at a hash that is not the one before it; a truncated tail
    leaves a chain that holds together but ends before the head. Reads each event once, in
    id order, a thousand at a time: O(n) time, O(1) memory.
    """
    report = Report()
    chain = session.get(AuditChain, _CHAIN_ID, populate_existing=True)
    if chain is None:
        report.faults.append(_fault("truncated", None, "no_head_row"))
        return report
    report.anchor_id = chain.anchor_id
    head = None
    if head_file is not None:
        try:
            head = read_head_file(head_file)
        except (ValueError, KeyError, TypeError):
            report.faults.append(_fault("head_file", None, path=str(head_file)))
        report.head_file = head
    expected_prev = chain.anchor_hash or GENESIS
    last: tuple[int, str] | None = None
    head_hash: str | None = None
    query = select(*_CHAIN_COLUMNS).order_by(AuditEvent.id)
    if chain.anchor_id is not None:
        query = query.where(AuditEvent.id > chain.anchor_id)
    for row in session.execute(query.execution_options(yield_per=1000)):
        report.checked += 1
        if row.chain_hash is None or row.prev_hash is None:
            report.faults.append(_fault("unchained", row.id))
            continue
        if row.prev_hash != expected_prev:
            report.faults.append(_fault("deleted", row.id))
        if link_hash(row.prev_hash, row) != row.chain_hash:
            report.faults.append(_fault("altered", row.id))
        expected_prev = row.chain_hash
        last = (row.id, row.chain_hash)
        if head is not None and row.id == head.id:
            head_hash = row.chain_hash
    report.last_id = None if last is None else last[0]
    if chain.last_id is not None and last != (chain.last_id, chain.last_hash):
        report.faults.append(_fault("truncated", chain.last_id, last_id=report.last_id))
    if head is not None:
        if head_hash is None:
            if last is None or head.id > last[0]:
                report.faults.append(_fault("truncated", head.id, last_id=report.last_id))
            elif chain.anchor_id is None or head.id > chain.anchor_id:
                report.faults.append(_fault("deleted", head.id, "head_deleted"))
        elif head_hash != head.hash:
            report.faults.append(_fault("altered", head.id, "head_altered"))
    _check_anchor(session, chain, report)
    return report


def _check_anchor(session: Session, chain: AuditChain, report: Report) -> None:
    """The anchor must be the one the last purge recorded in the chain."""
    if chain.anchor_id is None:
        return
    detail = session.scalars(
        select(AuditEvent.detail)
        .where(AuditEvent.action == "purge", AuditEvent.entity == "audit_event")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if (
        not isinstance(detail, dict)
        or detail.get("anchor_id") != chain.anchor_id
        or detail.get("anchor_hash") != chain.anchor_hash
    ):
        report.faults.append(_fault("anchor", chain.anchor_id))


#: How often the server's leader purges the audit log past its retention.
PURGE_INTERVAL_S = 24 * 3600.0


def purge_past_retention(
    factory: sessionmaker[Session], *, retention_days: int, now: datetime | None = None
) -> int:
    """Delete the events older than ``retention_days`` (a purge of its own transaction): what
    the server runs daily and ``fangkong audit purge`` by hand."""
    before = (now or utcnow()) - timedelta(days=retention_days)
    with session_scope(factory) as session:
        return purge(session, before=before)


def purge(session: Session, *, before: datetime, actor: Actor = SYSTEM) -> int:
    """Delete the events older than ``before`` and record where the chain now starts: the
    anchor (the last deleted event's id and hash) in the head row and in a ``purge`` event of
    the chain. The number of events deleted.

    Retention is the caller's to check (``Settings.audit_retention_days``). On PostgreSQL
    the events are deleted by the privileged function that the migrations install, the only
    way around the trigger that keeps them append-only (it never deletes an event younger
    than six months, whoever calls it).
    """
    conn = session.connection()
    _lock_head(conn)
    anchor_id: int | None
    anchor_hash: str | None
    if conn.dialect.name == "postgresql":
        anchor_id, anchor_hash, deleted = db_postgresql.purge_audit(conn, before=before)
    else:
        last = session.execute(
            select(AuditEvent.id, AuditEvent.chain_hash)
            .where(AuditEvent.at < before)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        anchor_id, anchor_hash = (None, None) if last is None else (last[0], last[1])
        deleted = 0
        if anchor_id is not None:
            result = conn.execute(delete(AuditEvent).where(AuditEvent.id <= anchor_id))
            deleted = result.rowcount
    if anchor_id is None or not deleted:
        return 0
    chain = session.get(AuditChain, _CHAIN_ID, populate_existing=True)
    assert chain is not None
    chain.anchor_id, chain.anchor_hash, chain.purged_at = anchor_id, anchor_hash, utcnow()
    session.flush()
    record(
        session,
        actor=actor,
        action="purge",
        entity="audit_event",
        detail={
            "anchor_id": anchor_id,
            "anchor_hash": anchor_hash,
            "deleted": deleted,
            "before": before.astimezone(UTC).isoformat(),
        },
    )
    return deleted
