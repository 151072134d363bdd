"""Fixtures of the case-engine tests: permissions, users bound to areas of the test county, and
a live server with the case routers wired in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session

from cases.case_helpers import (
    SERVER_SECRET,
    CasesServer,
    UserFactory,
    add_user,
    ensure_postgres_database,
    wire_cases,
)
from conftest import fresh_database
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.cases import permissions as perms
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.config import Settings
from fangkong.core.models import Role, User
from fangkong.web.app import create_app


@pytest.fixture(autouse=True, scope="module")
def case_permissions() -> Iterator[None]:
    """The case permissions added to the roles, as the lead wires them into core.auth."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "PERMISSIONS", perms.merged(auth.PERMISSIONS))
        yield


@pytest.fixture()
def make_user(db: Session) -> UserFactory:
    """``make_user(role, area_code)``: one user per (role, area) within the test's rollback."""

    def make(role: Role, area_code: str) -> User:
        return add_user(db, username=f"u_{role.value}_{area_code.replace('-', '_')}",
                        role=role, area_code=area_code)

    return make


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def cases_server(backend: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[CasesServer]:
    """The test county behind a live server whose app includes the case pages and API."""
    tmp: Path = tmp_path_factory.mktemp(f"cases-{backend}")
    if backend == "postgresql":
        ensure_postgres_database("_cases")
    engine = fresh_database(backend, tmp, suffix="_cases")
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        session.commit()
    settings = Settings(data_dir=tmp, secret_key=SERVER_SECRET, environment="test",
                        database_url=engine.url.render_as_string(hide_password=False))
    app = create_app(settings, engine=engine)
    wire_cases(app)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the cases test server did not start")
        time.sleep(0.05)
    yield CasesServer(base_url=f"http://127.0.0.1:{port}", engine=engine, settings=settings,
                      backend=backend)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
