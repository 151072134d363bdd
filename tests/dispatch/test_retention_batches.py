"""The retention purge touches only the rows due, through an index, in bounded batches
(issue 23: at 100 counties its UPDATEs read every ended incident of the province, those
cleared long ago too, on every run)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, T0, new_incident
from fangkong.dispatch import retention, service
from fangkong.dispatch.models import Incident, IncidentStatus
from fangkong.dispatch.personal import Retention

DAYS = Retention(contact_days=30, text_days=30)


def _ended(db: Session, key: str, *, after: timedelta) -> Incident:
    incident = new_incident(db, key)
    service.transition(
        db,
        incident=incident,
        to=IncidentStatus.CANCELLED,
        actor=ACTOR,
        now=T0 + after,
        note=f"note {key}",
    )
    return incident


def _updates(db: Session) -> tuple[list[tuple[str, int]], Any]:
    """Each UPDATE run through ``db``'s engine and the rows it changed."""
    seen: list[tuple[str, int]] = []

    def after(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "incident" in statement:
            seen.append((statement, cursor.rowcount))

    engine = db.get_bind()
    event.listen(engine, "after_cursor_execute", after)
    return seen, lambda: event.remove(engine, "after_cursor_execute", after)


def test_the_purge_clears_in_bounded_batches(db: Session, monkeypatch: Any) -> None:
    due = [_ended(db, f"bat-{i}", after=timedelta(hours=i + 1)) for i in range(5)]
    kept = _ended(db, "bat-recent", after=timedelta(days=40))
    monkeypatch.setattr(retention, "BATCH", 2)
    seen, stop = _updates(db)
    try:
        cleared = retention.purge(db, now=T0 + timedelta(days=35), retention=DAYS, actor=ACTOR)
    finally:
        stop()
    assert cleared == {
        "incident.caller_contact": 5,
        "incident.request_hash": 5,
        "incident.description": 5,
        "incident_event.note": 5,
    }
    assert seen and all(rows <= 2 for _, rows in seen), seen
    # 5 rows a field in batches of 2: three UPDATEs a field
    assert len(seen) == 4 * 3, seen
    db.expire_all()
    assert all(i.caller_contact_encrypted is None and i.description == "" for i in due)
    assert all(e.note is None for i in due for e in i.events)
    assert kept.caller_contact_encrypted is not None and kept.description != ""
    assert [e.note for e in kept.events] == [None, "note bat-recent"]
    seen, stop = _updates(db)
    try:
        again = retention.purge(db, now=T0 + timedelta(days=35), retention=DAYS, actor=ACTOR)
    finally:
        stop()
    assert set(again.values()) == {0} and seen == []  # nothing due: nothing written


def _index_and_copies(conn: Any, name: str) -> set[str]:
    """Index ``name`` and its copies on the partitions of its table (named by PostgreSQL)."""
    copies = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:name)"
        ),
        {"name": name},
    ).scalars()
    return {name, *copies}


def test_the_rows_due_are_found_through_an_index(db: Session) -> None:
    """On PostgreSQL the purge's reads of the rows due, with sequential scans off, are
    served by the partial indexes of the rows that still hold personal data (not by the
    index of every ended incident, nor by reading every incident)."""
    _ended(db, "idx-1", after=timedelta(hours=1))
    if db.get_bind().dialect.name != "postgresql":
        return
    reads: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append((statement, params))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", before)
    try:
        retention.purge(db, now=T0 + timedelta(days=35), retention=DAYS, actor=ACTOR)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    due_reads = [(s, p) for s, p in reads if "FROM incident" in s and "coalesce" in s.lower()]
    assert len(due_reads) >= 4, reads
    conn = db.connection()
    personal = _index_and_copies(conn, "ix_incident_personal_received")
    by_status = _index_and_copies(conn, "ix_incident_status_received")
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    for statement, params in due_reads:
        plan = "\n".join(
            str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, params).fetchall()
        )
        if "incident_event" in statement:
            # The timeline's read joins the incidents: on a test's few rows the planner may
            # start from either side (it did from the incidents' received_at index when other
            # tests had left more partitions), so what is checked here is that no partition
            # is read whole; the partial index itself is checked below.
            assert "Seq Scan" not in plan, plan
        else:
            used = set(re.findall(r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\S+)", plan))
            assert used and used <= personal, plan
            assert not used & by_status and "Seq Scan" not in plan, plan
    conn.execute(text("RESET enable_seqscan"))
    # The timelines' partial index of the notes still held, on the parent (so on every
    # partition, each copy under a name of its own).
    definition = conn.execute(
        text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_incident_event_note_held'")
    ).scalar_one()
    assert "WHERE (note IS NOT NULL)" in definition, definition
