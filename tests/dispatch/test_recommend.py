"""Recommendation on the street grid equals a brute-force reference (one search per unit)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, T0, area, incident_in, new_incident
from factories import street_grid_geojson
from fangkong.core.errors import InvalidInput
from fangkong.dispatch import recommend, service
from fangkong.dispatch.models import Incident, Priority, Unit, UnitStatus, UnitType
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("dispatch-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def _units(db: Session, count: int, seed: int) -> list[Unit]:
    rng = np.random.default_rng(seed)
    units = []
    for i in range(count):
        unit = service.create_unit(
            db,
            call_sign=f"R{seed}-{i}",
            unit_type=UnitType.CAR,
            home_area=area(db, "T"),
            actor=ACTOR,
        )
        lon = 120.01 + float(rng.uniform(0, 0.14))
        lat = 30.005 + float(rng.uniform(0, 0.07))
        service.report_position(db, unit=unit, lon=lon, lat=lat, now=T0)
        units.append(unit)
    return units


def _brute_force(
    network: Network, incident: Incident, units: list[Unit], *, available_only: bool = True
) -> list[tuple[int, float]]:
    target = network_service.snap(network, [incident.lon], [incident.lat]).points
    out = []
    for unit in units:
        if available_only and unit.status != UnitStatus.AVAILABLE:
            continue
        source = network_service.snap(network, [unit.lon], [unit.lat]).points
        time = float(network.engine.one_to_many(source, target)[0])
        if math.isfinite(time):
            out.append((unit.id, time))
    return sorted(out, key=lambda pair: pair[1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recommendation_equals_the_brute_force_reference(
    db: Session, network: Network, seed: int
) -> None:
    units = _units(db, 15, seed)
    units[0].status = UnitStatus.OUT_OF_SERVICE
    units[1].status = UnitStatus.EN_ROUTE
    incident = new_incident(db, f"k-rec-{seed}", incident_in("T-D1-S2-B2-G1"))
    ranked = recommend.recommend(network, incident=incident, units=units, now=T0, limit=6)
    reference = _brute_force(network, incident, units)[:6]
    assert [c.unit.id for c in ranked] == [u for u, _ in reference]
    assert [c.time_s for c in ranked] == pytest.approx([t for _, t in reference], abs=1e-6)
    assert [c.rank for c in ranked] == list(range(1, 7))
    for c in ranked:
        assert c.eta == T0 + timedelta(seconds=c.time_s)
        assert c.ring == recommend.ring_of(c.time_s)
    assert [c.suggested for c in ranked] == [True] + [False] * 5
    predicted = recommend.predict(network, incident=incident, units=units)
    every = dict(_brute_force(network, incident, units, available_only=False))
    assert predicted == pytest.approx(every) and len(every) == len(units)


def test_p1_suggests_two_reinforcements(db: Session, network: Network) -> None:
    units = _units(db, 8, 7)
    incident = new_incident(db, "k-rec-p1", incident_in("T-D2-S1-B1-G2", priority=Priority.P1))
    ranked = recommend.recommend(network, incident=incident, units=units, now=T0, limit=1)
    assert [c.role for c in ranked] == ["primary", "reinforcement", "reinforcement"]
    assert all(c.suggested for c in ranked)


def test_rings_and_edge_cases(db: Session, network: Network) -> None:
    assert [recommend.ring_of(s) for s in (0, 60, 60.5, 180, 300, 301)] == [
        "1min",
        "1min",
        "3min",
        "3min",
        "5min",
        "beyond",
    ]
    incident = new_incident(db, "k-rec-none")
    assert recommend.recommend(network, incident=incident, units=[], now=T0) == []
    with pytest.raises(InvalidInput, match="limit"):
        recommend.recommend(network, incident=incident, units=[], now=T0, limit=0)
    # A unit parked right at the scene arrives within the first ring.
    unit = service.create_unit(
        db, call_sign="AT-SCENE", unit_type=UnitType.FOOT, home_area=area(db, "T"), actor=ACTOR
    )
    service.report_position(db, unit=unit, lon=incident.lon, lat=incident.lat, now=T0)
    (first,) = recommend.recommend(network, incident=incident, units=[unit], now=T0)
    assert first.ring == "1min" and first.time_s < 60


def test_a_moved_unit_is_snapped_again(db: Session, network: Network) -> None:
    incident = new_incident(db, "rec-moved", incident_in("T-D1-S1-B1-G1"))
    units = _units(db, 12, seed=41)
    first = recommend.recommend(network, incident=incident, units=units, now=T0, limit=12)
    by_unit = dict(_brute_force(network, incident, units))
    assert {c.unit.id: c.time_s for c in first} == pytest.approx(by_unit)
    # The farthest unit drives next to the scene: it must now come first.
    last = first[-1].unit
    service.report_position(
        db, unit=last, lon=incident.lon + 0.0005, lat=incident.lat, now=T0 + timedelta(minutes=1)
    )
    second = recommend.recommend(network, incident=incident, units=units, now=T0, limit=12)
    assert second[0].unit.id == last.id
    again = dict(_brute_force(network, incident, units))
    assert {c.unit.id: c.time_s for c in second} == pytest.approx(again)
    assert again[last.id] < by_unit[last.id]
