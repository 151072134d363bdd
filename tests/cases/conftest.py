"""Fixtures of the case-engine tests: permissions, users bound to areas of the test county, and
a live server with the case routers wired in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import (
    CasesServer,
    UserFactory,
    add_user,
)
from conftest import running_server
from fangkong.core.models import Role, User


@pytest.fixture()
def make_user(db: Session) -> UserFactory:
    """``make_user(role, area_code)``: one user per (role, area) within the test's rollback."""

    def make(role: Role, area_code: str) -> User:
        return add_user(
            db,
            username=f"u_{role.value}_{area_code.replace('-', '_')}",
            role=role,
            area_code=area_code,
        )

    return make


@pytest.fixture(scope="session")
def cases_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CasesServer]:
    """The test county behind a live server of its own (case data stays apart)."""
    with running_server(backend, tmp_path_factory.mktemp(f"cases-{backend}"), "_cases") as s:
        yield CasesServer(
            base_url=s.base_url, engine=s.engine, settings=s.settings, backend=s.backend
        )
