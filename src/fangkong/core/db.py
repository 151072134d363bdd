"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from fangkong.core import collation
from fangkong.core.sqlite_writes import SerializedConnection

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; fangkong stores aware UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the console read while a write commits; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the
    # last transactions, so keep FULL to honour "a write that returns success is committed".
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
    # Chinese names sort by pinyin (ORDER BY ... COLLATE pinyin).
    collation.register_sqlite(dbapi_connection)


def _sqlite_begin_before_savepoint(conn: Connection, _name: str) -> None:
    # pysqlite opens a transaction only before INSERT/UPDATE/DELETE, so a SAVEPOINT that comes
    # first opens a transaction of its own and its RELEASE commits it: the writes before and
    # after the savepoint would commit apart (a crash in between left an incident without its
    # timeline and audit events). Open the real transaction first so that the savepoint nests.
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN")


#: Each statement planned for its own values (``plan_cache_mode``). A statement the driver
#: prepared on the server over a table partitioned by county would otherwise have a generic
#: plan over every county's partition built to compare it with the custom ones, anew each
#: time an ANALYZE of any partition (autovacuum, after a county's intake) invalidates it: at
#: 100 counties 30-70 ms a statement, a tail of whichever request comes next on each pooled
#: connection (issue 23's load test: the live map's p99 3.4x the one-county figure, 1.03x
#: with this). The custom plan is what PostgreSQL chose for those statements anyway; the
#: others plan each time too (a fraction of a millisecond).
POSTGRESQL_OPTIONS = "-c plan_cache_mode=force_custom_plan"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with fangkong's per-backend settings."""
    if url.startswith("sqlite"):
        # Writers of this process queue for their turn rather than poll SQLite's lock.
        connect_args = {
            "check_same_thread": False,
            "factory": SerializedConnection,
            **kwargs.pop("connect_args", {}),
        }
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        # An executemany INSERT goes as multi-row statements, not a statement per row: each
        # statement is a call into SQLite that lets go of the GIL, and getting it back behind
        # a busy event loop costs up to the interpreter's switch interval (5 ms).
        engine.dialect.use_insertmanyvalues_wo_returning = True
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_begin_before_savepoint)
        return engine
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Set at connection start, before the caller's own options, those of the URL's
        # ``?options=`` and then of ``connect_args`` (which may change it): the driver takes
        # one ``options`` string, so they are joined rather than one put in place of another.
        connect_args = kwargs.pop("connect_args", {})
        in_url = parsed.query.get("options")
        joined = (
            POSTGRESQL_OPTIONS,
            *((in_url,) if isinstance(in_url, str) else in_url or ()),
            connect_args.get("options"),
        )
        kwargs["connect_args"] = {**connect_args, "options": " ".join(filter(None, joined))}
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "postgresql":
        from fangkong.core import db_postgresql

        # Row-level security: the system's scope until a request narrows it (see there).
        event.listen(engine, "connect", db_postgresql.system_scope)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_held_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on one connection of ``engine``, held for the caller's life: for a process
    whose one thread writes transaction after transaction (the intake writer), where the
    pool's checkout, reset and checkin were half of an empty transaction's cost. Each
    session's commit or rollback ends its transaction on that connection; one lost to its
    server (PostgreSQL restarted) is connected again after the rollback of the transaction it
    failed in."""
    return sessionmaker(bind=engine.connect(), expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction for a CLI command or a job: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
