"""The registers' lists sort Chinese names by pinyin (issue 18's rule, applied to every
register): the facilities' table sorted by name reads 安, 北, 中 on SQLite and PostgreSQL, and
every register table's name column sorts through the pinyin collation."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.orm import Session

from facilities.test_facilities import add
from fangkong.community import listing as community_listing
from fangkong.core.collation import POSTGRESQL_COLLATION, SQLITE_COLLATION
from fangkong.core.scoping import SYSTEM_SCOPE, Scope
from fangkong.devices import listing as device_listing
from fangkong.events import listing as event_listing
from fangkong.facilities import listing as facility_listing
from fangkong.facilities.models import Facility
from fangkong.http import tables
from fangkong.http.tables import Table
from fangkong.materials import listing as material_listing

ZONE = ZoneInfo("Asia/Shanghai")
#: Code-point order would be 中, 北, 安.
NAMES = ["中山银行", "北门加油站", "安宁小学"]
PINYIN_ORDER = ["安宁小学", "北门加油站", "中山银行"]

TableFactory = Callable[..., Table]
REGISTER_TABLES: dict[str, TableFactory] = {
    "facilities": facility_listing.table,
    "devices": device_listing.table,
    "holders": material_listing.holders_table,
    "teams": community_listing.team_table,
    "events": event_listing.event_table,
    "plans": event_listing.plan_table,
}


def test_facilities_by_name_follow_pinyin(db: Session) -> None:
    for i, name in enumerate(NAMES):
        add(db, f"PY{i}", name=name)
    scope = SYSTEM_SCOPE
    table = facility_listing.table(db, scope=scope, language="zh-CN")
    select = facility_listing.base_select(scope).where(Facility.code.like("PY%"))
    names = [
        f.name
        for f in tables.fetch(db, select, table.parse({"sort": "name"}, zone=ZONE), zone=ZONE).rows
    ]
    assert sorted(NAMES) != PINYIN_ORDER  # code-point order fails this test
    assert names == PINYIN_ORDER


@pytest.mark.parametrize("register", sorted(REGISTER_TABLES))
def test_every_register_name_column_sorts_by_pinyin(db: Session, register: str) -> None:
    table = REGISTER_TABLES[register](db, scope=Scope(paths=("/",)), language="zh-CN")
    column = table.column("name")
    assert column is not None and column.sort is not None
    lite = str(column.sort.compile(dialect=SQLiteDialect()))
    pg = str(column.sort.compile(dialect=PGDialect()))
    assert f"COLLATE {SQLITE_COLLATION}" in lite
    assert f'COLLATE "{POSTGRESQL_COLLATION}"' in pg
