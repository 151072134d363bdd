"""Units travel as their type does: vehicles drive, foot patrols walk, boats are not ranked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, T0, area, incident_in, new_incident
from factories import street_grid_geojson
from fangkong.dispatch import recommend, replay, service
from fangkong.dispatch.models import Incident, Priority, Unit, UnitType
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("travel-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def _unit(db: Session, sign: str, unit_type: UnitType, lon: float, lat: float) -> Unit:
    unit = service.create_unit(
        db, call_sign=sign, unit_type=unit_type, home_area=area(db, "T"), actor=ACTOR
    )
    service.report_position(db, unit=unit, lon=lon, lat=lat, now=T0)
    return unit


def _walked(network: Network, unit: Unit, incident: Incident) -> float:
    """The reference: one search on the walking graph from the unit to the scene."""
    walking = network.walking
    start = network_service.snap(network, [unit.lon], [unit.lat]).points
    scene = network_service.snap(network, [incident.lon], [incident.lat]).points
    return float(
        walking.engine.one_to_many(walking.mode.points(start), walking.mode.points(scene))[0]
    )


def test_foot_patrols_walk_and_boats_are_not_ranked(db: Session, network: Network) -> None:
    incident = new_incident(db, "travel-1", incident_in("T-D1-S1-B1-G1", priority=Priority.P1))
    lon, lat = incident.lon + 0.012, incident.lat + 0.006
    car = _unit(db, "TM-CAR", UnitType.CAR, lon, lat)
    foot = _unit(db, "TM-FOOT", UnitType.FOOT, lon, lat)
    boat = _unit(db, "TM-BOAT", UnitType.BOAT, incident.lon, incident.lat)
    moto = _unit(db, "TM-MOTO", UnitType.MOTORCYCLE, lon, lat)
    ranked = recommend.recommend(
        network, incident=incident, units=[foot, boat, car, moto], now=T0, limit=5
    )
    by_id = {c.unit.id: c for c in ranked}
    assert boat.id not in by_id  # at the scene, but no boat is sent by road
    assert [c.rank for c in ranked] == [1, 2, 3]
    # the car and the motorcycle drive the same roads; the foot patrol walks, far slower
    assert by_id[car.id].time_s == pytest.approx(by_id[moto.id].time_s)
    assert ranked[-1].unit.id == foot.id
    assert by_id[foot.id].time_s == pytest.approx(_walked(network, foot, incident), abs=1e-6)
    assert by_id[foot.id].time_s > 3 * by_id[car.id].time_s
    assert [c.role for c in ranked] == ["primary", "reinforcement", "reinforcement"]
    # a foot patrol right at the scene goes before any car
    near = _unit(db, "TM-FOOT-NEAR", UnitType.FOOT, incident.lon, incident.lat)
    first = recommend.recommend(network, incident=incident, units=[car, near], now=T0)[0]
    assert first.unit.id == near.id and first.time_s < 60

    predicted = recommend.predict(network, incident=incident, units=[car, foot, boat])
    assert set(predicted) == {car.id, foot.id}
    assert predicted[foot.id] == pytest.approx(by_id[foot.id].time_s, abs=1e-6)
    assert predicted[car.id] == pytest.approx(by_id[car.id].time_s, abs=1e-6)


def test_replay_times_each_origin_by_its_way_of_travel(network: Network) -> None:
    lon = np.array([120.02, 120.02, 120.09])
    lat = np.array([30.01, 30.01, 30.05])
    targets = (np.array([120.05, 120.11]), np.array([30.03, 30.07]))
    out, back = replay.road_times(
        network, origins=(lon, lat), targets=targets, travel=["drive", "walk", "walk"]
    )
    driven, driven_back = replay.road_times(network, origins=(lon, lat), targets=targets)
    assert back is not None and driven_back is not None
    np.testing.assert_allclose(out[0], driven[0])
    np.testing.assert_allclose(back[:, 0], driven_back[:, 0])
    assert (out[1] > 3 * driven[1]).all()
    # a walk back is the walk there: one-way streets do not bind pedestrians
    np.testing.assert_allclose(back[:, 1:].T, out[1:], rtol=1e-9)
