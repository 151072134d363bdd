"""The records behind a figure, for every kind a computed indicator counts (incidents of the
period, hazard cases of the period, devices and facilities as they stand): each drill-down
lists exactly its records under the area, each row names its area, and the area filter
narrows the list to a subtree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.devices.models import Device
from fangkong.facilities.models import Facility
from fangkong.http import tables
from fangkong.indicators import catalogue, listing
from indicators.indicator_helpers import PERIOD, ZONE, a_month

#: One computed declaration of each record kind, and how many records the month holds.
KINDS = {
    "incidents": "incidents.received",
    "cases.hazard": "cases.hazard.resolution_rate",
    "devices": "devices.online_rate",
    "facilities": "facilities.compliance",
}


def _rows(db: Session, indicator: str, area_code: str, params: dict[str, str]) -> list[Any]:
    decl = catalogue.get(indicator)
    assert decl is not None
    area = db.scalars(select(Area).where(Area.code == area_code)).one()
    made = listing.records(
        db, decl=decl, area=area, period=PERIOD, scope=SYSTEM_SCOPE, language="zh-CN", zone=ZONE
    )
    assert made is not None
    table, stmt = made
    query = table.parse(params | {"per_page": "200"}, zone=ZONE)
    page = tables.fetch(db, stmt, query, zone=ZONE)
    assert page.total == len(page.rows)
    return page.rows


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_lists_its_records_with_their_areas(db: Session, kind: str) -> None:
    a_month(db, seed=11)
    decl = catalogue.get(KINDS[kind])
    assert decl is not None and decl.record_kind == kind
    rows = _rows(db, KINDS[kind], "T", {})
    expected = {
        "incidents": 24,  # the month's, not the one before it
        "cases.hazard": 12,
        "devices": db.scalar(select(func.count()).select_from(Device)),
        "facilities": db.scalar(select(func.count()).select_from(Facility)),
    }[kind]
    assert len(rows) == expected and expected
    codes = {a.code for a in db.scalars(select(Area))}
    assert all(r.area_code in codes for r in rows)
    narrowed = _rows(db, KINDS[kind], "T", {"area": "T-D1"})
    assert {r.area_code for r in narrowed} <= {c for c in codes if c.startswith("T-D1")}
    assert len(narrowed) < len(rows) or all(r.area_code.startswith("T-D1") for r in rows)
