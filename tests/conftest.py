"""Fixtures: one database per backend (SQLite always, PostgreSQL when configured), the test
county loaded once, and a transaction rolled back after every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from factories import county_geojson

POSTGRES_URL_ENV = "FANGKONG_TEST_POSTGRES_URL"


def _postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url and os.environ.get("FANGKONG_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{POSTGRES_URL_ENV} is not set but FANGKONG_REQUIRE_POSTGRES=1")
    return url


def reset_postgres(engine: Engine) -> None:
    """Drop every table of the test database so that the migrations start from nothing."""
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))


def fresh_database(backend: str, tmp: Path) -> Engine:
    """A migrated, empty database of ``backend``."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'test.db'}")
    else:
        url = _postgres_url()
        if url is None:
            pytest.skip(f"PostgreSQL not configured (set {POSTGRES_URL_ENV})")
        engine = make_engine(url)
        reset_postgres(engine)
    upgrade(engine)
    return engine


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def county_engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of ``backend`` holding the test county, shared by the storage tests."""
    engine = fresh_database(backend, tmp_path_factory.mktemp(f"county-{backend}"))
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture()
def db(county_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even where the code commits."""
    connection = county_engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint",
                      expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
