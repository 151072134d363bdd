"""Dispatch's recommendation in a province deployment (issue 23, SQLite and PostgreSQL): the
incident's county network ranks the units, its cross-border graph once built, so that a unit
that reaches a scene near the border fastest through the neighbouring county ranks first."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import box
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, T0, area, incident_in, new_incident
from factories import grid_centre
from fangkong.core.errors import NotFound
from fangkong.dispatch import recommend, service
from fangkong.dispatch.models import Priority, Unit, UnitType
from fangkong.network import service as network_service
from fangkong.network.border import build_border_network
from fangkong.network.store import county_data_dir, load_current
from network.border_helpers import INCIDENT, U1, U2, WEST_BOX, WEST_COUNTY, write_counties


def _unit(db: Session, call_sign: str, where: tuple[float, float]) -> Unit:
    unit = service.create_unit(
        db, call_sign=call_sign, unit_type=UnitType.CAR, home_area=area(db, WEST_COUNTY),
        actor=ACTOR,
    )  # fmt: skip
    service.report_position(db, unit=unit, lon=where[0], lat=where[1], now=T0)
    return unit


def test_a_unit_across_the_border_is_ranked_by_the_cross_border_graph(
    db: Session, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    write_counties(data_dir, tmp_path / "sources")
    near_border = _unit(db, "B-U1", U1)
    inland = _unit(db, "B-U2", U2)
    centre = grid_centre("T-D1-S1-B1-G1")
    offset = (INCIDENT[0] - centre[0], INCIDENT[1] - centre[1])
    incident = new_incident(db, "border-1", incident_in(priority=Priority.P2, offset=offset))
    assert network_service.county_of(db, incident.area_path) == WEST_COUNTY
    units = [near_border, inland]

    def ranked() -> list[str]:
        network = network_service.for_area(db, data_dir, area_path=incident.area_path)
        found = recommend.recommend(network, incident=incident, units=units, now=T0)
        return [c.unit.call_sign for c in found]

    # the county's own graph: the unit near the border must drive round inside T-D1
    assert ranked() == ["B-U2", "B-U1"]
    build_border_network(data_dir, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    assert ranked() == ["B-U1", "B-U2"]
    network = network_service.for_area(db, data_dir, area_path=incident.area_path)
    predicted = recommend.predict(network, incident=incident, units=units)
    assert predicted[near_border.id] < predicted[inland.id]


def test_without_county_networks_the_current_network_serves(db: Session, tmp_path: Path) -> None:
    incident = new_incident(db, "border-2")
    with pytest.raises(NotFound):  # no network at all
        network_service.for_area(db, tmp_path, area_path=incident.area_path)
    data_dir = tmp_path / "data"
    write_counties(data_dir, tmp_path / "sources")
    # filed above the districts: no county, the current network (none here)
    with pytest.raises(NotFound):
        network_service.for_area(db, data_dir, area_path=area(db, "T").path)
    west = network_service.for_area(db, data_dir, area_path=incident.area_path)
    assert (
        west.graph.meta["cache_key"]
        == load_current(county_data_dir(data_dir, WEST_COUNTY)).meta["cache_key"]
    )  # type: ignore[union-attr]


def test_planning_analyses_of_a_county_take_its_cross_border_network(
    db: Session, tmp_path: Path
) -> None:
    from fangkong.planning import tasks

    data_dir = tmp_path / "data"
    write_counties(data_dir, tmp_path / "sources")
    county = area(db, WEST_COUNTY)
    station = area(db, "T-D1-S1")
    own = tasks.network_of(db, data_dir, county)
    assert tasks.network_of(db, data_dir, station) is own  # a station: its county's network
    build_border_network(data_dir, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    border = tasks.network_of(db, data_dir, county)
    assert border is not own and border.graph.n_nodes > own.graph.n_nodes
    assert tasks.network_of(db, data_dir, station) is border
    with pytest.raises(NotFound):  # the whole city: the deployment's own network (none)
        tasks.network_of(db, data_dir, None)
