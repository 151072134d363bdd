"""The audit log: scoped reads by area path, the hash chain, its verification and purge."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conftest import fresh_database
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.db import make_session_factory, session_scope
from fangkong.core.models import AuditChain, AuditEvent
from fangkong.core.scoping import SYSTEM_SCOPE, Scope, common_path, whole_tree

CHAIN_SUFFIX = "_audit"


def _path(db: Session, code: str) -> str:
    return db.scalars(select(Area.path).where(Area.code == code)).one()


def test_common_path() -> None:
    assert common_path(["/1/4/17/", "/1/4/20/"]) == "/1/4/"
    assert common_path(["/1/4/17/"]) == "/1/4/17/"
    assert common_path(["/1/4/17/", "/1/"]) == "/1/"
    assert common_path(["/1/", "/2/"]) is None
    assert common_path([]) is None


def test_whole_tree(db: Session) -> None:
    assert whole_tree(db, Scope(paths=(_path(db, "T"),)))
    assert whole_tree(db, SYSTEM_SCOPE)
    assert not whole_tree(db, Scope(paths=(_path(db, "T-D1-S1"),)))
    assert not whole_tree(db, Scope(paths=()))


def test_reads_are_scoped_by_area_path(db: Session) -> None:
    station, other = _path(db, "T-D1-S1"), _path(db, "T-D2-S2")
    reader = Actor(user_id=None, username="reader")
    tag = "scoped-read"
    audit.record(db, actor=SYSTEM, action=tag, entity="incident", area_path=station + "9/")
    audit.record(db, actor=SYSTEM, action=tag, entity="incident", area_path=other)
    audit.record(db, actor=SYSTEM, action=tag, entity="user")  # no area: the whole system

    def seen(scope: Scope, reader_id: int | None = None) -> list[str | None]:
        events = audit.get_all(db, scope=scope, reader_id=reader_id, action=tag)
        return sorted((e.area_path or "-") for e in events)

    assert seen(Scope(paths=(station,))) == [station + "9/"]
    assert seen(Scope(paths=(_path(db, "T"),))) == sorted(["-", station + "9/", other])
    assert seen(Scope(paths=())) == []
    # One's own actions, wherever they were.
    from fangkong.core import auth
    from fangkong.core.models import Role

    user = auth.create(
        db,
        username="audit_reader",
        display_name="r",
        password="correct-horse-battery",
        role=Role.EVALUATOR,
        area_codes=["T-D1-S1-B1-G1"],
        actor=SYSTEM,
    )
    mine = Actor(user_id=user.id, username=user.username, client=reader.client)
    audit.record(db, actor=mine, action=tag, entity="incident", area_path=other)
    assert seen(Scope(paths=(_path(db, "T-D1-S1-B1-G1"),)), reader_id=user.id) == [other]


def test_where_a_readers_own_events_lie_is_kept_by_the_database(db: Session) -> None:
    """Every insert of an event by a user, by any writer, records the county that holds it
    (migration 0030's triggers): the bound of a reader's own events in their audit list."""
    from fangkong.core import auth, county
    from fangkong.core.models import AuditReaderCounty, Role

    user = auth.create(
        db,
        username="audit_counties",
        display_name="c",
        password="correct-horse-battery",
        role=Role.EVALUATOR,
        area_codes=["T-D1-S1-B1-G1"],
        actor=SYSTEM,
    )
    mine = Actor(user_id=user.id, username=user.username)

    def held() -> set[int]:
        return set(
            db.scalars(select(AuditReaderCounty.county).where(AuditReaderCounty.user_id == user.id))
        )

    assert held() == set()  # the system created them: no event of theirs
    other = _path(db, "T-D2-S2")
    audit.record(db, actor=mine, action="counties", entity="incident", area_path=other)
    audit.record(db, actor=mine, action="counties", entity="incident", area_path=other)
    db.flush()
    assert held() == {county.county_of(other)}
    # another writer (a plain INSERT, no area: the rows of no county)
    db.execute(
        insert(AuditEvent).values(
            user_id=user.id,
            username=user.username,
            action="counties",
            entity="user",
            at=datetime.now(UTC),
        )
    )
    assert held() == {county.county_of(other), county.NO_COUNTY}
    db.rollback()


def test_events_about_a_user_belong_to_the_users_areas(db: Session) -> None:
    from fangkong.core import auth
    from fangkong.core.models import Role

    user = auth.create(
        db,
        username="two_areas",
        display_name="t",
        password="correct-horse-battery",
        role=Role.VIEWER,
        area_codes=["T-D1-S1-B1-G1", "T-D1-S1-B2-G2"],
        actor=SYSTEM,
    )
    created = db.scalars(
        select(AuditEvent).where(AuditEvent.entity == "user", AuditEvent.entity_id == str(user.id))
    ).one()
    assert created.area_path == _path(db, "T-D1-S1")


# --- The chain -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of ``backend`` of its own: these tests commit, and tamper with the log."""
    engine = fresh_database(
        backend, tmp_path_factory.mktemp(f"audit-{backend}"), suffix=CHAIN_SUFFIX
    )
    yield engine
    engine.dispose()


def tamper(engine: Engine, sql: str, **params: object) -> None:
    """Run ``sql`` as someone who gets around the application: on PostgreSQL with triggers
    off (a superuser's ``session_replication_role``)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


@pytest.fixture()
def chain(chain_engine: Engine, tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    """An empty log whose head is kept in a file of the test's own."""
    tamper(chain_engine, "DELETE FROM audit_event")
    tamper(
        chain_engine,
        "UPDATE audit_chain SET last_id = NULL, last_hash = :g, anchor_id = NULL, "
        "anchor_hash = NULL, purged_at = NULL",
        g=audit.GENESIS,
    )
    head = tmp_path / audit.HEAD_FILE
    audit.keep_head(chain_engine, head)
    yield chain_engine, head


def _append(engine: Engine, count: int, *, label: str = "e") -> None:
    with session_scope(make_session_factory(engine)) as session:
        for i in range(count):
            audit.record(
                session,
                actor=Actor(user_id=None, username="u", client="127.0.0.1"),
                action="test",
                entity="thing",
                entity_id=f"{label}{i}",
                detail={"n": i, "text": "中文", "nested": {"b": 1, "a": [1.5, None]}},
                area_path="/1/",
            )


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT id FROM audit_event ORDER BY id")).scalars())


def _verify(engine: Engine, head: Path | None) -> audit.Report:
    with Session(engine) as session:
        return audit.verify(session, head_file=head)


def test_an_untouched_chain_verifies(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    _append(engine, 3)
    _append(engine, 2, label="f")
    report = _verify(engine, head)
    assert report.ok, report.faults
    assert report.checked == 5
    ids = _ids(engine)
    kept = audit.read_head_file(head)
    assert kept is not None and kept.id == ids[-1]


def test_verify_finds_an_update(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    _append(engine, 4)
    target = _ids(engine)[1]
    tamper(engine, "UPDATE audit_event SET client = '10.0.0.9' WHERE id = :id", id=target)
    report = _verify(engine, head)
    assert [(f.code, f.event_id) for f in report.faults] == [("altered", target)]


def test_verify_finds_a_delete(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    _append(engine, 4)
    ids = _ids(engine)
    tamper(engine, "DELETE FROM audit_event WHERE id = :id", id=ids[1])
    report = _verify(engine, head)
    assert [(f.code, f.event_id) for f in report.faults] == [("deleted", ids[2])]


def test_verify_finds_a_truncation(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    _append(engine, 4)
    ids = _ids(engine)
    # The tail goes, and the head in the database is set back to match: the chain that is
    # left holds together, only the head file knows better.
    tamper(engine, "DELETE FROM audit_event WHERE id > :id", id=ids[1])
    tamper(
        engine,
        "UPDATE audit_chain SET last_id = :id, "
        "last_hash = (SELECT chain_hash FROM audit_event WHERE id = :id)",
        id=ids[1],
    )
    report = _verify(engine, head)
    assert [(f.code, f.event_id) for f in report.faults] == [("truncated", ids[-1])]
    # Without the head file, the head in the database is all there is.
    assert _verify(engine, None).ok


def test_verify_finds_a_tail_deleted_and_the_whole_log_emptied(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    _append(engine, 3)
    ids = _ids(engine)
    tamper(engine, "DELETE FROM audit_event WHERE id = :id", id=ids[-1])
    assert {f.code for f in _verify(engine, None).faults} == {"truncated"}
    tamper(engine, "DELETE FROM audit_event")
    report = _verify(engine, head)
    assert report.checked == 0
    assert {f.code for f in report.faults} == {"truncated"}


def test_a_rolled_back_savepoint_leaves_the_head_file_right(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    with session_scope(make_session_factory(engine)) as session:
        audit.record(session, actor=SYSTEM, action="kept", entity="thing")
        try:
            with session.begin_nested():
                audit.record(session, actor=SYSTEM, action="undone", entity="thing")
                raise RuntimeError("refused")
        except RuntimeError:
            pass
    report = _verify(engine, head)
    assert report.ok, report.faults
    kept = audit.read_head_file(head)
    assert kept is not None and kept.id == _ids(engine)[-1]


def test_concurrent_appends_make_one_chain(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    errors: list[BaseException] = []

    def work(label: str) -> None:
        try:
            for _ in range(5):
                _append(engine, 3, label=label)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = _verify(engine, head)
    assert report.ok, report.faults
    assert report.checked == 60


def test_the_head_file_keeps_the_latest(tmp_path: Path) -> None:
    path = tmp_path / audit.HEAD_FILE
    audit.write_head_file(path, audit.Head(id=5, hash="a" * 64))
    audit.write_head_file(path, audit.Head(id=3, hash="b" * 64))
    assert audit.read_head_file(path) == audit.Head(id=5, hash="a" * 64)
    audit.write_head_file(path, audit.Head(id=12, hash="c" * 64))
    assert audit.read_head_file(path) == audit.Head(id=12, hash="c" * 64)


def test_purge_keeps_the_chain_verifiable(
    chain: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, head = chain
    long_ago = datetime.now(UTC) - timedelta(days=800)
    monkeypatch.setattr(audit, "utcnow", lambda: long_ago)
    _append(engine, 3, label="old")
    monkeypatch.undo()
    _append(engine, 2, label="new")
    old_ids = _ids(engine)[:3]
    with session_scope(make_session_factory(engine)) as session:
        deleted = audit.purge(session, before=datetime.now(UTC) - timedelta(days=365))
    assert deleted == 3
    assert not set(old_ids) & set(_ids(engine))
    report = _verify(engine, head)
    assert report.ok, report.faults
    assert report.anchor_id == old_ids[-1]
    with Session(engine) as session:
        chain_row = session.get(AuditChain, 1)
        assert chain_row is not None and chain_row.anchor_id == old_ids[-1]
        (purge,) = audit.get_all(session, scope=SYSTEM_SCOPE, reader_id=None, action="purge")
        assert purge.detail is not None and purge.detail["deleted"] == 3
    # An anchor moved by hand (to hide events after it) names no purge.
    tamper(engine, "UPDATE audit_chain SET anchor_id = anchor_id + 1")
    assert "anchor" in {f.code for f in _verify(engine, head).faults}


def test_nothing_young_is_purged(chain: tuple[Engine, Path]) -> None:
    engine, head = chain
    _append(engine, 2)
    with session_scope(make_session_factory(engine)) as session:
        assert audit.purge(session, before=datetime.now(UTC) - timedelta(days=365)) == 0
    assert len(_ids(engine)) == 2
    assert _verify(engine, head).ok


def test_postgresql_refuses_updates_and_deletes(chain: tuple[Engine, Path]) -> None:
    engine, _ = chain
    if engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    _append(engine, 2)
    for sql in (
        "UPDATE audit_event SET client = 'x'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    # The purge function itself never deletes what is younger than six months.
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL fangkong.audit_purge = 'on'"))
        row = conn.execute(
            text("SELECT deleted FROM fangkong_audit_purge(now() + interval '1 day')")
        ).one()
    assert row[0] == 0
    assert len(_ids(engine)) == 2


def test_the_scheduled_purge_keeps_the_retention(
    chain: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the server's leader runs daily: events past the retention go, younger ones stay,
    the chain still verifies."""
    engine, head = chain
    now = datetime.now(UTC)
    for age_days, count in ((400, 2), (200, 3)):
        monkeypatch.setattr(audit, "utcnow", lambda age=age_days: now - timedelta(days=age))
        _append(engine, count, label=f"d{age_days}-")
    monkeypatch.undo()
    factory = make_session_factory(engine)
    assert audit.purge_past_retention(factory, retention_days=365, now=now) == 2
    assert len(_ids(engine)) == 3 + 1  # the younger events and the purge's own
    assert audit.purge_past_retention(factory, retention_days=365, now=now) == 0
    assert _verify(engine, head).ok
