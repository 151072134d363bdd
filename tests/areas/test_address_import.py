"""A standard address outside every area of the tree could be read by nobody: the bulk import
refuses it by row, as the single create does."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import grid_centre
from fangkong.areas import service
from fangkong.areas.models import StandardAddress
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import InvalidInput


def test_bulk_import_refuses_an_address_outside_every_area(db: Session) -> None:
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    inside = service.AddressRow(code="C-1", text_zh="路1号", text_en="", lon=lon, lat=lat)
    outside = service.AddressRow(code="C-2", text_zh="路2号", text_en="", lon=lon + 5, lat=lat)
    with pytest.raises(InvalidInput, match=r"row 2 \(C-2\).*outside every area") as raised:
        service.import_addresses(db, rows=[inside, outside], actor=SYSTEM)
    assert raised.value.field == "lon"
    assert db.scalar(select(func.count(StandardAddress.id))) == 0
    assert service.import_addresses(db, rows=[inside], actor=SYSTEM) == 1
