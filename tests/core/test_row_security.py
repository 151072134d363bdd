"""PostgreSQL's row-level security, the second wall: the application's role (not the owner,
no superuser) reads only the rows of its transaction's scope, whatever the query asks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conftest import app_role_engine, fresh_database
from dispatch.dispatch_helpers import incident_in, new_incident
from factories import county_geojson
from fangkong.areas import index as area_index
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import SYSTEM
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import Scope, as_system, bind_scope
from fangkong.dispatch.models import Incident, Priority

HERE, THERE = "T-D1-S1-B1-G1", "T-D2-S2-B2-G2"


@pytest.fixture(scope="module")
def engines(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Engine]]:
    """The owner's engine and the application role's, on a database with an incident in a
    grid of each district."""
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    owner = fresh_database(backend, tmp_path_factory.mktemp("rls"), suffix="_rls")
    with Session(owner) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        for grid in (HERE, THERE):
            data = incident_in(
                grid, category="public_order", subtype="fight", priority=Priority.P3, contact=None
            )
            new_incident(session, f"rls-{grid}", data, now=datetime.now(UTC))
        session.commit()
    try:
        app = app_role_engine(owner)
    except BaseException:
        owner.dispose()
        raise
    yield owner, app
    app.dispose()
    owner.dispose()


def _path(session: Session, code: str) -> str:
    return session.scalars(select(Area.path).where(Area.code == code)).one()


def test_the_app_role_is_neither_owner_nor_superuser(engines: tuple[Engine, Engine]) -> None:
    _, app = engines
    with app.connect() as conn:
        superuser, bypass = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'incident'")
        ).scalar()
        me = conn.execute(text("SELECT current_user")).scalar()
    assert not superuser and not bypass and owner != me


def test_a_narrowed_scope_hides_the_other_areas(engines: tuple[Engine, Engine]) -> None:
    _, app = engines
    with Session(app) as session:
        station = _path(session, "T-D1-S1")
        assert session.scalar(select(func.count(Incident.id))) == 2  # the system's scope
        bind_scope(session, Scope(paths=(station,)), reader_id=None)
        # No filter in the queries: the database keeps to the scope.
        assert {i.area_path for i in session.scalars(select(Incident))} == {_path_in(session, HERE)}
        codes = set(session.scalars(select(Area.code)))
        assert codes == {c for c in _codes() if c == "T-D1-S1" or c.startswith("T-D1-S1-")}
        moved = session.execute(update(Incident).values(priority=Priority.P1))
        assert getattr(moved, "rowcount", None) == 1
        session.rollback()


def test_events_of_no_area_are_the_whole_trees(engines: tuple[Engine, Engine]) -> None:
    _, app = engines

    def seen(code: str) -> list[str | None]:
        with Session(app) as session:
            there = _path(session, THERE)
            audit.record(session, actor=SYSTEM, action="rls", entity="thing")  # no area
            audit.record(session, actor=SYSTEM, action="rls", entity="thing", area_path=there)
            bind_scope(session, Scope(paths=(_path(session, code),)), reader_id=None)
            found = session.scalars(select(AuditEvent.area_path).where(AuditEvent.action == "rls"))
            paths = sorted(found, key=str)
            session.rollback()
            return paths

    assert seen(HERE) == []
    assert seen("T-D2") == [_there_path(app)]
    assert seen("T") == sorted([None, _there_path(app)], key=str)


def _there_path(app: Engine) -> str:
    with Session(app) as session:
        return _path(session, THERE)


def test_a_connection_that_set_no_scope_sees_nothing(engines: tuple[Engine, Engine]) -> None:
    _, app = engines
    url = app.url
    with psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
    ) as conn:
        assert conn.execute("SELECT count(*) FROM incident").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM area").fetchone() == (0,)


def test_the_app_role_cannot_alter_the_audit_log(engines: tuple[Engine, Engine]) -> None:
    _, app = engines
    for sql in (
        "UPDATE audit_event SET client = 'x'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ):
        with pytest.raises(DBAPIError, match="permission denied"), app.begin() as conn:
            conn.execute(text(sql))
    # Granted DELETE by mistake, and passing for the purge, a role that is not the owner is
    # still refused by the trigger.
    owner, _ = engines
    role = app.url.username
    with owner.begin() as conn:
        conn.execute(text(f'GRANT DELETE ON audit_event TO "{role}"'))
    try:
        with pytest.raises(DBAPIError, match="append-only"), app.begin() as conn:
            conn.execute(text("SET LOCAL fangkong.audit_purge = 'on'"))
            conn.execute(text("DELETE FROM audit_event"))
    finally:
        with owner.begin() as conn:
            conn.execute(text(f'REVOKE DELETE ON audit_event FROM "{role}"'))
    with app.begin() as conn:
        deleted = conn.execute(
            text("SELECT deleted FROM fangkong_audit_purge(now() + interval '1 day')")
        ).scalar()
    assert deleted == 0


def test_the_area_index_holds_every_area_under_a_narrowed_scope(
    engines: tuple[Engine, Engine],
) -> None:
    _, app = engines
    with Session(app) as session:
        bind_scope(session, Scope(paths=(_path(session, HERE),)), reader_id=None)
        index = area_index.get(session)
        assert len(index.ids) == len([c for c in _codes() if c.count("-") == 4])
        session.rollback()


def _path_in(session: Session, code: str) -> str:
    """An area's path read as the system (the caller's scope may hide the area)."""
    with as_system(session):
        return _path(session, code)


def _codes() -> set[str]:
    return {f["properties"]["code"] for f in county_geojson()["features"]}


def test_the_command_line_grants_the_app_role(engines: tuple[Engine, Engine]) -> None:
    from typer.testing import CliRunner

    from fangkong.cli import app as cli

    owner, app = engines
    owner_url = owner.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["db", "grant", str(app.url.username), "--database-url", owner_url]
    )
    assert result.exit_code == 0, result.output
    with app.connect() as conn:
        granted = conn.execute(
            text("SELECT has_table_privilege(current_user, 'audit_event', 'INSERT')")
        ).scalar()
        refused = conn.execute(
            text("SELECT has_table_privilege(current_user, 'audit_event', 'UPDATE')")
        ).scalar()
    assert granted and not refused
