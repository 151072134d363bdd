"""The registers under PostgreSQL's row-level security (migration 0013): the application's
role reads the facilities, devices, holders and ledger rows of its scope only, and the
reconciliation still pairs a transfer with its other end in another district."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from conftest import app_role_engine, fresh_database
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.audit import SYSTEM
from fangkong.core.scoping import Scope, bind_scope
from fangkong.materials import ledger, reconcile
from fangkong.materials.models import Holder, Movement, MovementKind
from fangkong.materials.schemas import MovementIn
from materials.materials_helpers import ACTOR, OTHER_GRID, T0, catalogue, holder, site


@pytest.fixture(scope="module")
def app(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    owner = fresh_database(backend, tmp_path_factory.mktemp("reg-rls"), suffix="_reg_rls")
    with Session(owner) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        catalogue(session)
        holder(session, "RH")
        holder(session, "RX", grid=OTHER_GRID)
        site(session, "RH-S", "RH")
        site(session, "RX-S", "RX", grid=OTHER_GRID)
        for code, kind, cp, hours in (
            ("RH-S", MovementKind.PRODUCE, None, 0),
            ("RH-S", MovementKind.SELL, "RX", 1),
            ("RX-S", MovementKind.RECEIVE, "RH", 2),
        ):
            ledger.record_movement(
                session,
                data=MovementIn(
                    site_code=code,
                    material_code="EMX",
                    kind=kind,
                    quantity=10,
                    unit="kg",
                    occurred_at=T0 + timedelta(hours=hours),
                    document_no="R-1" if cp else "P-1",
                    counterparty_code=cp,
                ),
                actor=ACTOR,
                now=T0,
                scope=None,
            )
        session.commit()
    try:
        engine = app_role_engine(owner)
    finally:
        owner.dispose()
    yield engine
    engine.dispose()


def test_the_app_role_sees_its_scope_and_pairs_across_it(app: Engine) -> None:
    with Session(app) as session:
        station = session.scalars(select(Area.path).where(Area.code == "T-D1-S1")).one()
        scope = Scope(paths=(station,))
        bind_scope(session, scope, reader_id=None)
        # No filter in the queries: the database keeps to the scope.
        assert set(session.scalars(select(Holder.code))) == {"RH"}
        assert session.scalar(select(func.count(Movement.id))) == 2
        result = reconcile.reconcile(
            session,
            scope=scope,
            start=T0 - timedelta(days=1),
            end=T0 + timedelta(days=1),
            now=T0 + timedelta(days=5),
            zone=reconcile.ZoneInfo("Asia/Shanghai"),
        )
        # The sale's other end lies in the other district, hidden from the reader, and still
        # pairs: no discrepancy, and only the reader's holder is reconciled.
        assert result.discrepancies == [] and result.transfers_paired == 1
        assert {b.holder_id for b in result.balances} == {
            session.scalars(select(Holder.id).where(Holder.code == "RH")).one()
        }
