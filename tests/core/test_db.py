"""The database layer: SQLite settings, foreign keys, migrations, the UTC datetime type."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, delete, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from conftest import fresh_database
from fangkong.areas.models import Area
from fangkong.core.db import (
    UTCDateTime,
    make_engine,
    make_held_session_factory,
    make_session_factory,
    session_scope,
    utcnow,
)
from fangkong.core.migrate import (
    POSTGIS_TABLES,
    alembic_config,
    current_revision,
    downgrade,
    include_object,
    upgrade,
)
from fangkong.core.models import AuditEvent, Role, User, UserArea
from fangkong.models import Base

# The migration tests drop and recreate a whole schema, so they get a database of their own.
MIGRATE_SUFFIX = "_migrate"
# Tables that PostGIS's extension creates in the schema; not fangkong's to compare or drop.
SHANGHAI = timezone(timedelta(hours=8))


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.fixture()
def migrated(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of ``backend`` at the newest schema, for tests that change the schema."""
    engine = fresh_database(backend, tmp_path, suffix=MIGRATE_SUFFIX)
    yield engine
    engine.dispose()


def _fangkong_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) & set(Base.metadata.tables)


# ------------------------------------------------------------------------------------------
# Engine settings
# ------------------------------------------------------------------------------------------


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        engine.dispose()


def test_every_pooled_sqlite_connection_gets_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    try:
        with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_foreign_key_violation_raises(db: Session) -> None:
    user = User(username="fk_test", display_name="FK", password_hash="x", role=Role.VIEWER)
    db.add(user)
    db.flush()
    db.add(UserArea(user_id=user.id, area_id=987_654_321))
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_restrict_keeps_an_area_with_children(db: Session) -> None:
    with pytest.raises(IntegrityError):
        db.execute(delete(Area).where(Area.code == "T-D1"))
    db.rollback()
    assert db.scalar(select(Area.id).where(Area.code == "T-D1")) is not None


def test_session_scope_commits_or_rolls_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'scope.db'}")
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            session.add(AuditEvent(action="kept", entity="test"))
        with pytest.raises(RuntimeError), session_scope(factory) as session:
            session.add(AuditEvent(action="lost", entity="test"))
            session.flush()
            raise RuntimeError("boom")
        with session_scope(factory) as session:
            actions = list(session.scalars(select(AuditEvent.action)))
        assert actions == ["kept"]
    finally:
        engine.dispose()


def test_held_sessions_share_one_connection_and_end_their_transactions(
    backend: str, tmp_path: Path
) -> None:
    engine = fresh_database(backend, tmp_path, suffix="_held")
    factory = make_held_session_factory(engine)
    try:
        with factory() as session:
            session.add(AuditEvent(action="kept", entity="held"))
            session.commit()
            first = session.connection().connection.dbapi_connection
        with factory() as session:
            session.add(AuditEvent(action="lost", entity="held"))
            session.flush()
            session.rollback()
            assert session.connection().connection.dbapi_connection is first
        with Session(engine) as other:  # committed for everyone, the rollback for nobody
            actions = list(
                other.scalars(select(AuditEvent.action).where(AuditEvent.entity == "held"))
            )
        assert actions == ["kept"]
        if backend == "postgresql":
            _lose_the_connection_and_go_on(engine, factory)
    finally:
        factory.kw["bind"].close()
        engine.dispose()


@pytest.mark.parametrize("held", [False, True], ids=["pooled", "held"])
def test_a_transaction_that_lost_its_connection_rolls_back_and_the_next_reconnects(
    tmp_path: Path, held: bool
) -> None:
    engine = fresh_database("postgresql", tmp_path, suffix="_held")
    factory = (make_held_session_factory if held else make_session_factory)(engine)
    try:
        _lose_the_connection_and_go_on(engine, factory)
    finally:
        if held:
            factory.kw["bind"].close()
        engine.dispose()


def _lose_the_connection_and_go_on(engine: Engine, factory: sessionmaker[Session]) -> None:
    """PostgreSQL ends a session's connection mid-transaction: its statement fails, its
    rollback ends the transaction (the areas' index listens to it), the next session works."""
    with factory() as session:
        pid = session.scalar(text("SELECT pg_backend_pid()"))
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        with pytest.raises(OperationalError):
            session.scalar(text("SELECT 1"))
        session.rollback()
    with factory() as session:
        assert session.scalar(text("SELECT pg_backend_pid()")) != pid


# ------------------------------------------------------------------------------------------
# Migrations
# ------------------------------------------------------------------------------------------


def test_migrations_go_down_to_nothing_and_up_again(migrated: Engine) -> None:
    assert current_revision(migrated) == _head()
    assert _fangkong_tables(migrated) == set(Base.metadata.tables)

    downgrade(migrated, "base")
    assert _fangkong_tables(migrated) == set()
    assert current_revision(migrated) is None
    leftovers = set(inspect(migrated).get_table_names()) - POSTGIS_TABLES - {"alembic_version"}
    assert leftovers == set()

    upgrade(migrated)
    assert current_revision(migrated) == _head()
    assert _fangkong_tables(migrated) == set(Base.metadata.tables)


#: Where PostgreSQL's partitions (migration 0023) make the schema legitimately differ from
#: the models, which describe the tables as SQLite has them: a partitioned table's unique
#: constraints and the references to a partitioned table include the partition key
#: (``partition_county``), and PostgreSQL adds a reference of its own per partition of the
#: table referred to (``..._partition_county_fkey``, ``..._fkey1``, ...). Nothing else may
#: differ.
PARTITIONED_CONSTRAINTS = {
    "uq_device_status_event_device_id",
    "uq_material_movement_corrects_id",
    "fk_material_movement_corrects_id_material_movement",
    # the incidents (migration 0026): their key is unique in a partition (the claims keep it
    # unique in the province), and every reference to them names their partition too
    "uq_incident_idempotency_key",
    "fk_incident_event_incident_id_incident",
    "fk_dispatch_assignment_incident_id_incident",
    "fk_emergency_activation_incident_id_incident",
    "fk_incident_merged_into_id_incident",
    "fk_incident_key_idempotency_key_incident",
}
PARTITION_REFERENCES = (
    "material_movement_corrects_id_partition_county_fkey",
    "incident_merged_into_id_merged_into_county_fkey",
    "incident_event_incident_id_partition_county_fkey",
    "dispatch_assignment_incident_id_partition_county_fkey",
    "emergency_activation_incident_id_incident_county_fkey",
    "incident_key_idempotency_key_incident_county_fkey",
)


def _partitioning(difference: object, dialect: str) -> bool:
    if dialect != "postgresql" or not isinstance(difference, tuple):
        return False
    name = str(getattr(difference[1], "name", ""))
    return difference[0] in ("add_constraint", "remove_constraint", "add_fk", "remove_fk") and (
        name in PARTITIONED_CONSTRAINTS or name.startswith(PARTITION_REFERENCES)
    )


def test_models_match_the_migrated_schema(migrated: Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        differences = compare_metadata(context, Base.metadata)
    differences = [d for d in differences if not _partitioning(d, migrated.dialect.name)]
    # A difference here is what `alembic revision --autogenerate` would write into the next
    # migration: the models and the migrations have drifted apart.
    assert [str(d[:2]) if isinstance(d, tuple) else str(d) for d in differences] == []


# ------------------------------------------------------------------------------------------
# UTCDateTime
# ------------------------------------------------------------------------------------------


def test_utc_datetime_refuses_naive_values() -> None:
    column_type = UTCDateTime()
    dialect = make_engine("sqlite://").dialect
    with pytest.raises(ValueError, match="naive datetime"):
        column_type.process_bind_param(datetime(2026, 1, 1, 12, 0), dialect)
    assert column_type.process_bind_param(None, dialect) is None
    bound = column_type.process_bind_param(datetime(2026, 1, 1, 20, 0, tzinfo=SHANGHAI), dialect)
    assert bound == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert bound is not None and bound.tzinfo is UTC


def test_utc_datetime_results_are_aware_utc() -> None:
    column_type = UTCDateTime()
    dialect = make_engine("sqlite://").dialect
    naive = column_type.process_result_value(datetime(2026, 1, 1, 12, 0), dialect)
    assert naive == datetime(2026, 1, 1, 12, 0, tzinfo=UTC) and naive.tzinfo is UTC
    shifted = column_type.process_result_value(
        datetime(2026, 1, 1, 20, 0, tzinfo=SHANGHAI), dialect
    )
    assert shifted is not None and shifted.tzinfo is UTC and shifted.hour == 12
    assert column_type.process_result_value(None, dialect) is None


def test_utc_datetime_round_trip(db: Session) -> None:
    local = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=SHANGHAI)
    event = AuditEvent(action="test", entity="clock", at=local)
    db.add(event)
    db.flush()
    db.expire_all()
    stored = db.scalars(select(AuditEvent).where(AuditEvent.entity == "clock")).one()
    assert stored.at == local
    assert stored.at.tzinfo is UTC
    assert stored.at.hour == 0


def test_naive_datetime_never_reaches_the_database(db: Session) -> None:
    db.add(AuditEvent(action="test", entity="naive", at=datetime(2026, 3, 1, 8, 30)))
    with pytest.raises(StatementError) as exc:
        db.flush()
    assert isinstance(exc.value.orig, ValueError)
    db.rollback()
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.entity == "naive")) is None


def test_utcnow_is_aware() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
