"""The demo's Planning II on the test county: hotspots, deployment and beats stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, area
from factories import grid_centre, street_grid_geojson
from fangkong.core.scoping import Scope
from fangkong.demo.planning_two import build_demo_planning_two
from fangkong.dispatch import units as dispatch_units
from fangkong.dispatch.models import PostKind, UnitType
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate
from fangkong.planning import analyses
from fangkong.planning.analysis_models import AnalysisKind
from planning.planning_two_helpers import add_incidents


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("demo-planning-two")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def test_demo_planning_two(db: Session, network: Network) -> None:
    now = datetime(2025, 11, 20, 12, tzinfo=UTC)
    lon, lat = grid_centre("T-D2-S2-B1-G1")
    post = dispatch_units.create_post(
        db, code="DM2", name="DM2", kind=PostKind.POLICE_POST, lon=lon, lat=lat, actor=ACTOR
    )
    dispatch_units.create_unit(
        db, call_sign="DM2-U", unit_type=UnitType.CAR, home_area=area(db, "T-D2-S2-B1"),
        actor=ACTOR, home_post=post,
    )  # fmt: skip
    rng = np.random.default_rng(12)
    n = 400
    add_incidents(
        db,
        np.clip(lon + rng.normal(0, 0.004, n), 120.081, 120.159),
        np.clip(lat + rng.normal(0, 0.004, n), 30.041, 30.079),
        [now - timedelta(hours=int(h)) for h in rng.integers(1, 24 * 170, n)],
    )
    report = build_demo_planning_two(
        db, network=network, city_code="T", zone=ZoneInfo("Asia/Shanghai"), now=now
    )
    whole = Scope(paths=("/",))
    kinds = {a.kind for a in analyses.get_all(db, scope=whole)}
    assert {AnalysisKind.HOTSPOT, AnalysisKind.DEPLOYMENT, AnalysisKind.BEATS} <= kinds
    assert report.figures["incidents_90d"] > 0 and report.figures["hot_cells"] >= 1
    segments = report.figures["segments"]
    assert segments["snapped"] == report.figures["incidents_90d"] and segments["hot"] >= 1
    assert set(segments["compare"]) == {"new", "persistent", "fading"}
    assert report.figures["beats"]["station"] == "T-D2-S2"
    assert report.figures["stations"] == 1
