"""The demo's large events and emergency plans on the test county: the festival under way
and approved with its posts on the live layer, the other applications under review, five
plans, and a drill whose units arrived and were released, with a finding, left out of the
real figures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from events.events_helpers import ACTOR, CIPHER, T0, add_post, add_unit, street_network
from factories import grid_centre
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.demo.events import build_demo_events
from fangkong.dispatch.models import Unit, UnitStatus, UnitType
from fangkong.events import activations, register
from fangkong.facilities import register as facilities
from fangkong.facilities.models import FacilityType
from fangkong.facilities.schemas import FacilityIn
from fangkong.network.service import Network
from fangkong.planning import service as planning
from fangkong.planning.models import CheckpointStatus, Direction


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return street_network(Path(tmp_path_factory.mktemp("demo-events-network")))


def test_the_demo_events_plans_and_drill(db: Session, network: Network) -> None:
    lon, lat = grid_centre("T-D1-S1-B2-G1")
    facilities.create(
        db,
        data=FacilityIn(
            code="DE-M1", name="中心市场", facility_type=FacilityType.MARKET, lon=lon, lat=lat
        ),
        actor=ACTOR,
        scope=None,
    )
    facilities.create(
        db,
        data=FacilityIn(
            code="DE-H1",
            name="县人民医院",
            facility_type=FacilityType.HOSPITAL,
            lon=lon,
            lat=lat + 0.003,
        ),
        actor=ACTOR,
        scope=None,
    )
    for i in range(2):
        planning.create_checkpoint(
            db,
            code=f"DE-K{i}",
            name=f"卡口 {i}",
            lon=lon + 0.002 * (i + 1),
            lat=lat,
            direction=Direction.BOTH,
            status=CheckpointStatus.ACTIVE,
            actor=ACTOR,
            scope=SYSTEM_SCOPE,
        )
    post = add_post(db, "DE-P1", "T-D1-S1-B2-G1", (0.003, 0.0))
    for i in range(3):
        add_unit(db, f"DE-C{i}", post)
    add_unit(db, "DE-F1", post, UnitType.FOOT)
    report = build_demo_events(db, network=network, now=T0, cipher=CIPHER, calendar=CALENDAR)
    assert (report.events, report.posts, report.plans, report.drills) == (3, 6, 5, 1)
    running = register.running(db, scope=SYSTEM_SCOPE, at=T0)
    assert [e.code for e in running] == ["HD-2026-001"]
    assert len(running[0].posts) == 6
    _, found = activations.get_activations(db, scope=SYSTEM_SCOPE)
    (drill,) = found
    assert drill.drill and drill.ended_at is not None and drill.confirmed_unit_ids
    timing = activations.timing(db, drill)
    assert timing.first_arrival_s is not None and timing.full_arrival_s is not None
    assert len(activations.findings_of(db, drill)) == 1
    # The drill's checkpoints closed (the last at 9 minutes) and its hospital told.
    steps = [(r.code, r.after_s) for r in activations.steps_of(db, drill)]
    assert steps == [("DE-K0", 270.0), ("DE-K1", 540.0), ("DE-H1", 240.0)]
    # Its units are free again; the real figures know nothing of it.
    units = db.scalars(select(Unit).where(Unit.id.in_(drill.confirmed_unit_ids))).all()
    assert {u.status for u in units} == {UnitStatus.AVAILABLE}
    window = {"since": T0 - timedelta(days=7), "until": T0}
    assert activations.kpis(db, scope=SYSTEM_SCOPE, **window).activations == 0
    assert activations.kpis(db, scope=SYSTEM_SCOPE, drill=True, **window).activations == 1
