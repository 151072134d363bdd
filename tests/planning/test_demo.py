"""The demo's planning data on the test county: coverage today, a stored placement and its
scenario, the control ring (the street grid ends at the boundary: no crossings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from factories import grid_centre, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.scoping import Scope
from fangkong.demo.planning import ADDED_SITES, build_demo_planning
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import PostKind
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate
from fangkong.planning import runs, scenarios
from fangkong.planning.models import RunKind, RunStatus


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("demo-planning")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def test_demo_planning(db: Session, network: Network) -> None:
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    dispatch_service.create_post(
        db, code="DM1", name="DM1", kind=PostKind.POLICE_POST, lon=lon, lat=lat, actor=SYSTEM
    )
    area_service.import_addresses(
        db,
        rows=[
            area_service.AddressRow(f"DA{i}", f"演示{i}", "", *grid_centre(g))
            for i, g in enumerate(["T-D1-S2-B1-G1", "T-D2-S1-B2-G2", "T-D2-S2-B1-G1"])
        ],
        actor=SYSTEM,
    )
    report = build_demo_planning(db, network=network, city_code="T")
    whole = Scope(paths=("/",))
    kinds = {r.kind for r in runs.get_all(db, scope=whole)}
    assert {RunKind.COVERAGE, RunKind.PLACEMENT, RunKind.RING} <= kinds
    placed = runs.get_or_raise(db, run_id=report.placement_run, scope=whole)
    assert placed.status == RunStatus.DONE
    assert len(runs.result_of(placed)["sites"]) == 1 + ADDED_SITES
    plan = scenarios.get_or_raise(db, scenario_id=report.scenario, scope=whole)
    assert [s.action.value for s in plan.sites] == ["add"] * ADDED_SITES
    assert report.checkpoints == 0
