"""Plain SQL: multi-row INSERTs write the rows SQLAlchemy's insert() would write, and selects
read what SQLAlchemy would read, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from fangkong.core import plain_sql
from fangkong.core.models import AuditEvent
from fangkong.core.plain_sql import PlainSelect, RowsInsert
from fangkong.dispatch.models import Incident, IncidentKey, IncidentStatus, Priority, Source

AUDIT = cast(Table, AuditEvent.__table__)
INCIDENT = cast(Table, Incident.__table__)
AUDIT_COLUMNS = ("user_id", "username", "client", "action", "entity", "entity_id", "detail")


def _incident(key: str, **fields: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "request_hash": "h" * 64,
        "category": "dispute",
        "subtype": "neighbour",
        "priority": Priority.P2,
        "source": Source.CALL,
        "description": f"about {key}",
        "caller_contact_encrypted": None,
        "status": IncidentStatus.RECEIVED,
        "received_at": datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=UTC),
        "lon": 120.1,
        "lat": 30.2,
        "h3_cell": "8a309a000000fff",
        "area_id": None,
        "area_path": None,
        "created_by_id": None,
        **fields,
    }


def _audit(action: str, detail: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "user_id": None,
        "username": "system",
        "client": "local",
        "action": action,
        "entity": "inserts-test",
        "entity_id": action,
        "detail": detail,
    }


def _columns(row: object, table: Table, leave_out: set[str]) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in table.c if c.name not in leave_out}


def test_rows_read_back_as_sqlalchemys_insert_writes_them(db: Session) -> None:
    plain = RowsInsert(AUDIT, AUDIT_COLUMNS)
    conn = db.connection()
    detail = {"priority": "P1", "area": "东城", "n": [1, 2.5, None]}
    before = datetime.now(UTC)
    plain.run(conn, [_audit("plain-a", detail), _audit("plain-b", None)])
    conn.execute(insert(AUDIT), [_audit("core-a", detail)])
    conn.execute(
        insert(AUDIT), [{k: v for k, v in _audit("core-b", None).items() if k != "detail"}]
    )  # left out: SQL NULL
    got = {
        e.action: e
        for e in db.scalars(select(AuditEvent).where(AuditEvent.entity == "inserts-test"))
    }
    for kind in ("a", "b"):
        ours, theirs = got[f"plain-{kind}"], got[f"core-{kind}"]
        assert _columns(ours, AUDIT, {"id", "at", "action", "entity_id"}) == _columns(
            theirs, AUDIT, {"id", "at", "action", "entity_id"}
        )
    assert got["plain-a"].detail == detail
    # None is SQL NULL, not the JSON text 'null'
    assert (
        db.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "plain-b", AuditEvent.detail.is_(None))
        )
        is not None
    )
    # the column's Python-side default (utcnow), once for the statement
    assert got["plain-a"].at == got["plain-b"].at
    assert before - timedelta(seconds=1) <= got["plain-a"].at <= datetime.now(UTC)


def test_types_defaults_and_returning_of_an_incident_insert(db: Session) -> None:
    plain = RowsInsert(INCIDENT, tuple(_incident("x")), returning=("id", "idempotency_key"))
    conn = db.connection()
    returned = plain.run(conn, [_incident("ins-1"), _incident("ins-2", priority=Priority.P1)])
    assert sorted(key for _, key in returned) == ["ins-1", "ins-2"]
    conn.execute(insert(INCIDENT), [_incident("ins-core")])
    rows = {
        i.idempotency_key: i
        for i in db.scalars(
            select(Incident).where(Incident.idempotency_key.in_(["ins-1", "ins-2", "ins-core"]))
        )
    }
    assert {key: rows[key].id for key in ("ins-1", "ins-2")} == {key: id_ for id_, key in returned}
    same = {"id", "idempotency_key", "description", "created_at", "updated_at"}
    assert _columns(rows["ins-1"], INCIDENT, same) == _columns(rows["ins-core"], INCIDENT, same)
    assert rows["ins-2"].priority is Priority.P1
    assert rows["ins-1"].received_at == datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)
    assert rows["ins-1"].created_at is not None and rows["ins-1"].updated_at is not None
    # a taken key is skipped, not an error, and returns nothing; the others go in (the
    # claims of the incidents' keys, whose insert is one of these)
    claim = RowsInsert(
        cast(Table, IncidentKey.__table__),
        ("idempotency_key", "incident_county"),
        on_conflict_skip=("idempotency_key",),
        returning=("idempotency_key",),
    )
    first = claim.run(conn, [{"idempotency_key": "ins-1", "incident_county": 7}])
    again = claim.run(
        conn,
        [
            {"idempotency_key": "ins-1", "incident_county": 8},
            {"idempotency_key": "ins-2", "incident_county": 8},
        ],
    )
    assert (first, again) == ([("ins-1",)], [("ins-2",)])
    assert db.get_one(IncidentKey, "ins-1").incident_county == 7


def test_many_rows_go_in_several_statements(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 rows a statement: the columns, the partition key and the default of `at`
    monkeypatch.setattr(plain_sql, "MAX_VALUES", 3 * (len(AUDIT_COLUMNS) + 2) + 1)
    statements: list[str] = []
    conn = db.connection()
    run = conn.exec_driver_sql

    def counted(sql: str, values: Any) -> Any:
        statements.append(sql)
        return run(sql, values)

    monkeypatch.setattr(conn, "exec_driver_sql", counted)
    RowsInsert(AUDIT, AUDIT_COLUMNS).run(conn, [_audit(f"many-{i}", {"i": i}) for i in range(8)])
    assert len(statements) == 3
    found = {
        e.action: e.detail
        for e in db.scalars(select(AuditEvent).where(AuditEvent.action.like("many-%")))
    }
    assert found == {f"many-{i}": {"i": i} for i in range(8)}
    assert RowsInsert(AUDIT, AUDIT_COLUMNS).run(conn, []) == []


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="no column nope"):
        RowsInsert(AUDIT, ("action", "nope"))
    with pytest.raises(ValueError, match="no column gone"):
        RowsInsert(AUDIT, ("action",), returning=("gone",))


def test_a_select_reads_what_sqlalchemy_reads(db: Session) -> None:
    conn = db.connection()
    RowsInsert(INCIDENT, tuple(_incident("x"))).run(
        conn,
        [
            _incident("sel-1", priority=Priority.P1, caller_contact_encrypted="secret"),
            _incident("sel-2", description="", lon=120.5),
            _incident("sel-3"),
        ],
    )
    # Two parameters, the second one first in the SQL; columns of an enum, a UTC datetime,
    # a float, a nullable string and a count.
    statement = (
        select(
            Incident.idempotency_key,
            Incident.priority,
            Incident.received_at,
            Incident.lon,
            Incident.caller_contact_encrypted,
            Incident.area_id,
        )
        .where(
            Incident.lon <= bindparam("east"), Incident.idempotency_key.like(bindparam("prefix"))
        )
        .order_by(Incident.idempotency_key)
    )
    params = {"prefix": "sel-%", "east": 120.2}
    rows = PlainSelect(statement).run(conn, params)
    assert rows == [tuple(r) for r in conn.execute(statement, params)]
    assert [r[0] for r in rows] == ["sel-1", "sel-3"]
    _, priority, received_at, lon, contact, area_id = rows[0]
    assert priority is Priority.P1
    assert received_at == datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)
    assert received_at.tzinfo is not None
    assert (lon, contact, area_id) == (120.1, "secret", None)
    assert (rows[0].idempotency_key, rows[0].received_at) == ("sel-1", received_at)
    assert PlainSelect(statement).run(conn, {"prefix": "none-%", "east": 180.0}) == []


def test_a_select_checks_its_parameters(db: Session) -> None:
    conn = db.connection()
    by_key = PlainSelect(select(Incident.id).where(Incident.idempotency_key == bindparam("key")))
    with pytest.raises(ValueError, match="no value for parameter key"):
        by_key.run(conn, {"other": 1})
    in_list = PlainSelect(
        select(Incident.id).where(Incident.idempotency_key.in_(bindparam("keys", expanding=True)))
    )
    with pytest.raises(ValueError, match="expands"):
        in_list.run(conn, {"keys": ["a"]})
