"""A scope inside counties names their county keys beside its paths on PostgreSQL (issue 23:
under row-level security a path's LIKE cannot choose an index, the county's equality can), on
the table's own key, an alias's own, and only where the key is that path's county; SQLite and a
scope above the counties get the paths alone; the rows are the same either way."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.orm import Session, aliased

from fangkong.areas.models import Area
from fangkong.core.models import AREA_NODE
from fangkong.core.scoping import SYSTEM_SCOPE, Scope
from fangkong.dispatch.models import Incident, Unit

COUNTY = Scope(paths=("/1/4/17/", "/1/5/"))
CITY = Scope(paths=("/1/", "/1/4/"))


def _sql(statement: object, dialect: object) -> str:
    return str(statement.compile(dialect=dialect))  # type: ignore[attr-defined]


def test_the_counties_of_a_scope() -> None:
    assert COUNTY.counties == (4, 5)
    assert CITY.counties is None
    assert SYSTEM_SCOPE.counties is None
    assert Scope(paths=()).counties == ()


def test_postgresql_gets_the_county_key_beside_the_paths() -> None:
    query = select(Incident.id).where(COUNTY.clause(Incident.area_path))
    pg = _sql(query, PGDialect())
    assert "incident.county_id IN" in pg and "incident.area_path LIKE" in pg
    lite = _sql(query, SQLiteDialect())
    assert "county_id" not in lite and "incident.area_path LIKE" in lite


def test_only_where_the_key_is_that_paths_county() -> None:
    pg = PGDialect()
    # a unit's county is its home area's: the key goes with home_area_path
    assert "unit.county_id IN" in _sql(
        select(Unit.id).where(COUNTY.clause(Unit.home_area_path)), pg
    )
    # a table without the key, and a scope above the counties: the paths alone
    assert "county_id" not in _sql(
        select(AREA_NODE.c.id).where(COUNTY.clause(AREA_NODE.c.path)), pg
    )
    assert "county_id" not in _sql(select(Incident.id).where(CITY.clause(Incident.area_path)), pg)


def test_an_alias_keeps_its_own_key() -> None:
    parent = aliased(Area, name="parent")
    sql = _sql(select(parent.id).where(COUNTY.clause(parent.path)), PGDialect())
    assert "parent.county_id IN" in sql and "FROM area AS parent" in sql
    assert "area.county_id" not in sql  # no second FROM of the table itself


@pytest.mark.parametrize("level", ["district", "station"])
def test_the_same_rows_with_the_key(db: Session, level: str) -> None:
    areas = list(db.scalars(select(Area).where(Area.level == level).order_by(Area.code)))
    assert areas
    for area in areas:
        scope = Scope(paths=(area.path,))
        assert scope.counties is not None
        found = set(db.scalars(select(Area.code).where(scope.clause(Area.path))))
        expected = {a.code for a in db.scalars(select(Area)) if a.path.startswith(area.path)}
        assert found == expected
