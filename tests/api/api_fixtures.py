"""A live server over the test county with a few records of each kind, and a token per role:
what the API's fuzz and edge tests send their requests to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, running_server
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

#: The roles the tests ask as: an administrator of the county, an officer of one precinct.
ROLES = {"admin": (Role.ADMIN, "T"), "precinct": (Role.STATION_OFFICER, "T-D1-S1")}


@contextmanager
def populated_server(
    tmp: Path, suffix: str, backend: str = "sqlite"
) -> Iterator[tuple[str, dict[str, str]]]:
    """The server's base URL and a bearer token per role of :data:`ROLES`. On PostgreSQL the
    server connects as the application's role, under row-level security, as deployed."""
    with running_server(
        backend, tmp, suffix, intake_writer="thread", app_role=backend == "postgresql"
    ) as server:
        yield server.base_url, populate(server.engine, server.settings.ensure_secret_key())


def populate(engine: Engine, secret: str) -> dict[str, str]:
    """A user and a token per role, and a post, a unit and an incident in two precincts (so
    that ids exist to be found, in and out of the precinct's areas)."""
    from fangkong.core.db import utcnow
    from fangkong.core.security import FieldCipher
    from fangkong.dispatch import service as dispatch_service
    from fangkong.dispatch.models import PostKind, Priority, Source, UnitType

    tokens: dict[str, str] = {}
    with Session(engine) as session:
        for name, (role, area) in ROLES.items():
            user = auth.create(
                session,
                username=f"api_{name}",
                display_name=name,
                password=TEST_PASSWORD,
                role=role,
                area_codes=[area],
                actor=SYSTEM,
            )
            _, tokens[name] = auth.issue_token(
                session, user=user, name="api", ttl=None, actor=SYSTEM
            )
        cipher = FieldCipher(secret)
        for i, grid in enumerate(("T-D1-S1-B1-G1", "T-D2-S2-B1-G1")):
            lon, lat = grid_centre(grid)
            home = area_service.get_by_code_or_raise(session, code=grid)
            dispatch_service.create_post(
                session,
                code=f"AP{i}",
                name=f"post {i}",
                kind=PostKind.POLICE_POST,
                lon=lon,
                lat=lat,
                actor=SYSTEM,
            )
            dispatch_service.create_unit(
                session, call_sign=f"AU{i}", unit_type=UnitType.CAR, home_area=home, actor=SYSTEM
            )
            dispatch_service.create(
                session,
                key=f"api-{i}",
                data=dispatch_service.IncidentIn(
                    category="public_order",
                    subtype="fight",
                    priority=Priority.P2,
                    source=Source.CALL,
                    lon=lon,
                    lat=lat,
                ),
                actor=SYSTEM,
                now=utcnow(),
                cipher=cipher,
            )
        session.commit()
    return tokens
