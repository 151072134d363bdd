"""The registers under PostgreSQL's row-level security (migrations 0013 and 0014): the
application's role reads the facilities, devices, holders, ledger rows and storage sites of its
scope only (a site through its holder, wherever the site stands), and the reconciliation still
pairs a transfer with its other end in another district."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from conftest import app_role_engine, fresh_database
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict
from fangkong.core.scoping import Scope, bind_scope
from fangkong.materials import ledger, reconcile, register
from fangkong.materials.models import (
    Holder,
    Movement,
    MovementKind,
    Site,
    SiteCapacity,
    SiteKind,
)
from fangkong.materials.schemas import MovementIn, SiteIn
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
        # RH's magazine out of town: it stands in the other district, filed under RH.
        site(session, "RH-FAR", "RH", grid=OTHER_GRID)
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


def test_sites_and_capacities_are_read_through_their_holder(app: Engine) -> None:
    with Session(app) as session:
        station = session.scalars(select(Area.path).where(Area.code == "T-D1-S1")).one()
        far = session.scalars(select(Area.path).where(Area.code == "T-D2-S2")).one()
        bind_scope(session, Scope(paths=(station,)), reader_id=None)
        # No filter: the database shows the holder's sites, the one out of town included,
        # and none of the other district's holder.
        assert set(session.scalars(select(Site.code))) == {"RH-S", "RH-FAR"}
        site_ids = set(session.scalars(select(SiteCapacity.site_id)))
        assert site_ids == set(session.scalars(select(Site.id)))
        # Updates and deletes reach no other holder's site or capacity.
        renamed = session.execute(update(Site).values(name="x"))
        assert renamed.rowcount == 2  # type: ignore[attr-defined]
        others = session.execute(delete(SiteCapacity).where(SiteCapacity.site_id.not_in(site_ids)))
        assert others.rowcount == 0  # type: ignore[attr-defined]
        session.rollback()
    with Session(app) as session:
        # The other district's reader sees RX's site, not RH's magazine standing there.
        scope = Scope(paths=(far,))
        bind_scope(session, scope, reader_id=None)
        assert set(session.scalars(select(Site.code))) == {"RX-S"}
        # A code taken out of sight is still taken: a conflict, not the database's error.
        with pytest.raises(Conflict):
            register.create_site(
                session,
                data=SiteIn(
                    code="RH-S",
                    holder_code="RX",
                    name="copy",
                    kind=SiteKind.WAREHOUSE,
                    lon=1.0,
                    lat=1.0,
                ),
                actor=ACTOR,
                scope=scope,
            )
        session.rollback()
    with Session(app) as session:
        # A connection that never set a scope (another program's) sees no site.
        session.execute(text("RESET fangkong.scope_paths"))
        assert session.scalar(select(func.count(Site.id))) == 0
        assert session.scalar(select(func.count(SiteCapacity.id))) == 0
