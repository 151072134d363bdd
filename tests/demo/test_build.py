"""The demo build's repairs of a database built earlier."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.geometry import area_m2
from fangkong.areas.models import Area
from fangkong.core.models import AuditEvent
from fangkong.demo.build import remeasure_areas


def test_remeasure_areas_stores_the_measure_of_today(db: Session) -> None:
    # As a demo database built before issue 18 holds them: a grid said to be 0 m² and one a
    # fifth of its size (their spiked polygons had fooled the earlier measure).
    grids = list(db.scalars(select(Area).where(Area.code.in_(["T-D1-S1-B1-G1", "T-D1-S1-B1-G2"]))))
    assert len(grids) == 2
    truth = {g.code: area_m2(area_service.geometry(g)) for g in grids}
    grids[0].area_m2, grids[1].area_m2 = 0.0, truth[grids[1].code] / 5
    db.flush()
    changed = remeasure_areas(db)
    assert [(code, measured) for code, _, measured in changed] == sorted(truth.items())
    assert {g.code: g.area_m2 for g in grids} == pytest.approx(truth, rel=1e-12)
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "remeasure")).one()
    assert event.entity == "area" and event.detail["areas"] == 2
    assert remeasure_areas(db) == []  # nothing left to correct
