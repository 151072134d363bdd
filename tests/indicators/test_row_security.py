"""PostgreSQL's second wall on the indicator system's tables: a connection of the application's
role narrowed to a station reads only its subtree's figures, inputs and tasks, with no filter
in the query."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from conftest import app_role_engine, fresh_database
from dispatch.dispatch_helpers import area
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.scoping import SYSTEM_SCOPE, Scope, bind_scope
from fangkong.indicators import inputs, store, tasks
from fangkong.indicators.models import IndicatorInput, IndicatorTask, IndicatorValue
from indicators.indicator_helpers import NOW, PERIOD, ZONE


@pytest.fixture(scope="module")
def engines(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Engine]]:
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    owner = fresh_database(backend, tmp_path_factory.mktemp("ind-rls"), suffix="_ind_rls")
    with Session(owner) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        store.figures(session, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
        for code in ("T-D1", "T-D2"):
            inputs.enter(
                session,
                indicator_id="manual.ring_closure",
                area=area(session, code),
                period=PERIOD,
                value=0.7,
                actor=SYSTEM,
                now=NOW,
            )
            tasks.create(
                session,
                code=f"RLS-{code}",
                title="t",
                responsible_unit="u",
                area=area(session, code),
                deadline=date(2026, 7, 1),
                progress=0,
                indicator_ids=[],
                actor=SYSTEM,
            )
        session.commit()
    app = app_role_engine(owner)
    yield owner, app
    app.dispose()
    owner.dispose()


def test_a_narrowed_scope_hides_the_other_areas_figures(engines: tuple[Engine, Engine]) -> None:
    _, app = engines
    with Session(app) as session:
        district = area(session, "T-D1")
        everything = len(session.scalars(select(IndicatorValue.id)).all())
        bind_scope(session, Scope(paths=(district.path,)), reader_id=None)
        paths = set(session.scalars(select(IndicatorValue.area_path)))
        assert paths and all(p.startswith(district.path) for p in paths)
        assert len(session.scalars(select(IndicatorValue.id)).all()) < everything
        assert set(session.scalars(select(IndicatorInput.area_path))) == {district.path}
        assert set(session.scalars(select(IndicatorTask.code))) == {"RLS-T-D1"}
        session.rollback()
