"""Fixtures: one database per backend (SQLite always, PostgreSQL when configured), the test
county loaded once, and a transaction rolled back after every test."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.config import Settings
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from fangkong.web.app import create_app

POSTGRES_URL_ENV = "FANGKONG_TEST_POSTGRES_URL"
#: The application's role (no superuser, not the owner) for the row-level security tests.
POSTGRES_APP_URL_ENV = "FANGKONG_TEST_POSTGRES_APP_URL"
TEST_PASSWORD = "correct-horse-battery"


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


def fresh_database(backend: str, tmp: Path, *, suffix: str = "") -> Engine:
    """A migrated, empty database of ``backend`` (PostgreSQL: the database name + ``suffix``)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / f'test{suffix}.db'}")
    else:
        url = _postgres_url()
        if url is None:
            pytest.skip(f"PostgreSQL not configured (set {POSTGRES_URL_ENV})")
        parsed = make_url(url)
        name = f"{parsed.database}{suffix}"
        admin = make_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if (
                conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                is None
            ):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = make_engine(parsed.set(database=name).render_as_string(hide_password=False))
        reset_postgres(engine)
    upgrade(engine)
    return engine


def app_role_engine(owner: Engine) -> Engine:
    """An engine on ``owner``'s database that connects as the application's role (granted
    what the app needs by the owner): PostgreSQL's row-level security applies to it."""
    from fangkong.core import db_postgresql

    url = os.environ.get(POSTGRES_APP_URL_ENV)
    if not url:
        if os.environ.get("FANGKONG_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{POSTGRES_APP_URL_ENV} is not set but FANGKONG_REQUIRE_POSTGRES=1")
        pytest.skip(f"no application role to test row-level security (set {POSTGRES_APP_URL_ENV})")
    app_url = make_url(url).set(database=owner.url.database)
    with owner.begin() as conn:
        db_postgresql.grant_app_role(conn, str(app_url.username))
    return make_engine(app_url.render_as_string(hide_password=False))


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
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


T = TypeVar("T")


def run_in_new_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` in a thread of its own: the browser tests may leave an event
    loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result(timeout=120)


@dataclass
class LiveServer:
    """A real uvicorn server on loopback, serving the app over a migrated database."""

    base_url: str
    engine: Engine
    settings: Settings
    backend: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def admin_token(self, username: str = "api_admin") -> str:
        """A bearer token of an admin bound to the whole test county (created once)."""
        from fangkong.core import auth
        from fangkong.core.models import Role
        from fangkong.core.security import FieldCipher

        with Session(self.engine) as session:
            if auth.get_by_username(session, username=username) is None:
                auth.create(
                    session,
                    username=username,
                    display_name="Admin",
                    password=TEST_PASSWORD,
                    role=Role.ADMIN,
                    area_codes=["T"],
                    actor=SYSTEM,
                    phone="13912345678",
                    cipher=FieldCipher(self.settings.ensure_secret_key()),
                )
                session.commit()
        return self.token(username)

    def log_in(self, page: object, username: str) -> None:
        """Log ``username`` in through the console's form in a Playwright ``page`` and wait
        for the command map."""
        from playwright.sync_api import Page

        assert isinstance(page, Page)
        page.goto(f"{self.base_url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.base_url}/")

    def console_client(self, username: str) -> httpx.Client:
        """An HTTP client logged in as ``username`` through the console's form: a session
        cookie, and the session's CSRF token in the header the console's scripts send."""
        client = self.client()
        form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert form is not None
        answer = client.post(
            "/login",
            data={
                "username": username,
                "password": TEST_PASSWORD,
                "csrf_token": form.group(1),
                "next": "/",
            },
        )
        assert answer.status_code == 303, answer.text
        client.headers["X-CSRF-Token"] = form.group(1)
        return client

    def token(self, username: str, password: str = TEST_PASSWORD) -> str:
        with self.client() as client:
            response = client.post(
                "/api/v1/auth/token", json={"username": username, "password": password}
            )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    backend: str,
    tmp: Path,
    suffix: str,
    *,
    intake_writer: str = "process",
    app_role: bool = False,
    areas: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[LiveServer]:
    """The test county (or the tree of ``areas``, a GeoJSON FeatureCollection) in its own
    database behind a real uvicorn server on loopback; ``settings`` are given to its
    :class:`Settings`. With ``app_role`` (PostgreSQL), the server connects as the
    application's role, under row-level security."""
    engine = fresh_database(backend, tmp, suffix=suffix)
    with Session(engine) as session:
        area_service.import_geojson(session, data=areas or county_geojson(), actor=SYSTEM)
        session.commit()
    if app_role:
        try:
            app_engine = app_role_engine(engine)
        finally:
            engine.dispose()
        engine = app_engine
    settings = Settings(
        data_dir=tmp,
        secret_key="s" * 40,
        environment="test",
        database_url=engine.url.render_as_string(hide_password=False),
        intake_writer=intake_writer,
        **settings,
    )
    port = _free_port()
    app = create_app(settings, engine=engine)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # a hang, not a slow start on a loaded machine
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(
            base_url=f"http://127.0.0.1:{port}", engine=engine, settings=settings, backend=backend
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        # What the lifespan (off here: no background jobs in tests) would close.
        committer = getattr(app.state, "intake_committer", None)
        if committer is not None:
            committer.close()
        engine.dispose()


@pytest.fixture(scope="session")
def live_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The test county behind a live HTTP server; tests add data under codes of their own."""
    with running_server(backend, tmp_path_factory.mktemp(f"live-{backend}"), "_api") as server:
        yield server


CHROMIUM = os.environ.get("FANGKONG_CHROMIUM", "/usr/bin/chromium")
# Flags that keep Chromium off the network it cannot reach here and out of a sandbox it
# cannot create as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Chromium driven by Playwright (skipped where Chromium is not installed)."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("FANGKONG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def activate_street_grid(server: LiveServer) -> Path:
    """Import a street grid over the test county as ``server``'s road network."""
    import json

    from factories import street_grid_geojson
    from fangkong.network.profile import DEFAULT_PROFILE
    from fangkong.network.store import import_and_activate

    layer = server.settings.data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(server.settings.data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return layer


@pytest.fixture(scope="session")
def live_network(live_server: LiveServer) -> Path:
    """A street grid over the test county, imported as the live server's road network."""
    return activate_street_grid(live_server)
