"""Hour-of-week deployment: the Gamma-Poisson rate model (its formula, its intervals on
held-back weeks of a known process), units found by the dispatch replay's simulation, and the
analysis of a station's history on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
import shapely.geometry
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import ACTOR, area
from factories import grid_centre, street_grid_geojson
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch import units as dispatch_units
from fangkong.dispatch.models import PostKind, UnitType
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate
from fangkong.planning import deployment
from planning.planning_two_helpers import add_incidents

WHOLE = Scope(paths=("/",))
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("deployment-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def _profile() -> np.ndarray:
    hours = np.arange(168)
    day = 0.4 + 1.6 * np.exp(-(((hours % 24) - 18) ** 2) / 18.0)  # evening peak
    return day * np.where(hours // 24 >= 5, 1.5, 1.0)  # busier weekends


def test_rate_model_formula_and_intervals() -> None:
    rng = np.random.default_rng(1)
    truth = np.stack([_profile(), 0.3 * _profile()])
    weekly = rng.poisson(truth[:, None, :], size=(2, 12, 168)).astype(float)
    model = deployment.fit_rates(weekly, prior_weeks=2.0)
    # the posterior mean, cell by cell
    total = weekly.sum(axis=1)
    mu = np.tile((total / 12).reshape(2, 7, 24).mean(axis=1), (1, 7))
    np.testing.assert_allclose(model.mean, (total + 2.0 * mu) / 14.0)
    # integer counts: the interval is of one week's count, its ends quantiles of it
    assert (model.low <= model.high).all() and (model.low <= np.ceil(model.mean)).all()
    assert (model.high >= np.floor(model.mean)).all()
    # the smoothed rate is nearer the truth than the plain weekly mean
    assert np.abs(model.mean - truth).mean() < np.abs(weekly.mean(axis=1) - truth).mean()
    # held-back weeks of a Poisson process fall in the 90 % interval about 90 % of the time
    longer = rng.poisson(truth[:, None, :], size=(2, 30, 168)).astype(float)
    check = deployment.holdout_check(longer, held=6)
    assert check["weeks_fitted"] == 24 and check["weeks_held"] == 6
    assert 0.88 <= check["coverage_90"] <= 0.99
    assert check["mse"] < check["mse_unsmoothed"]  # the rate is a mean: judged by squares
    with pytest.raises(ValueError):
        deployment.fit_rates(np.zeros((1, 3, 24)))


def _history(out: np.ndarray) -> deployment.StationHistory:
    p = out.shape[1]
    return deployment.StationHistory(
        out_s=out, back_s=out.T.copy(), wanted=np.ones(p, dtype=np.int64),
        on_scene_s=np.full(p, 1200.0),
    )  # fmt: skip


def test_units_needed_is_the_fewest_that_reach_the_target() -> None:
    rng = np.random.default_rng(2)
    out = rng.uniform(30, 200, size=(2, 50))  # two posts, most places within 3 minutes
    history = _history(out)
    for rate in (0.5, 2.0, 6.0):
        u, share = deployment.units_needed(history, rate=rate, target=0.8, hours=40, seed=3)
        assert share >= 0.8
        if u > 1:
            below = deployment.ring_share(history, rate=rate, units=u - 1, hours=40, seed=3)
            assert below < 0.8
    few, _ = deployment.units_needed(history, rate=0.5, target=0.8, hours=40, seed=3)
    many, _ = deployment.units_needed(history, rate=6.0, target=0.8, hours=40, seed=3)
    assert many > few
    assert deployment.units_needed(history, rate=0.0, target=0.8) == (0, 1.0)
    # a target no number of units reaches (places beyond 3 minutes): the fewest units that
    # get the best share more units would get, not the cap
    far = _history(np.full((1, 10), 400.0))
    assert deployment.units_needed(far, rate=1.0, target=0.8, hours=10, max_units=4) == (1, 0.0)
    half = _history(np.concatenate([np.full((1, 10), 60.0), np.full((1, 10), 400.0)], axis=1))
    u, share = deployment.units_needed(half, rate=2.0, target=0.8, hours=40, seed=3)
    best = deployment.ring_share(half, rate=2.0, units=deployment.MAX_UNITS, hours=40, seed=3)
    assert share < 0.8 and share >= best - deployment.SATURATION and u < deployment.MAX_UNITS
    if u > 1:
        fewer = deployment.ring_share(half, rate=2.0, units=u - 1, hours=40, seed=3)
        assert fewer < best - deployment.SATURATION


def test_analysis_of_a_station(db: Session, network: Network) -> None:
    station = area(db, "T-D1-S1")
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    post = dispatch_units.create_post(
        db, code="DP1", name="post", kind=PostKind.POLICE_POST, lon=lon, lat=lat, actor=ACTOR
    )
    for k in range(2):
        dispatch_units.create_unit(
            db, call_sign=f"DU{k}", unit_type=UnitType.CAR, home_area=area(db, "T-D1-S1-B1"),
            actor=ACTOR, home_post=post,
        )  # fmt: skip
    now = datetime(2025, 9, 3, 12, tzinfo=UTC)
    start = deployment.week_start(now, ZONE) - timedelta(weeks=6)
    rng = np.random.default_rng(4)
    times: list[datetime] = []
    profile = _profile()
    for w in range(6):
        for h in range(168):
            for _ in range(rng.poisson(0.4 * profile[h])):
                times.append(start + timedelta(weeks=w, hours=h, minutes=int(rng.integers(60))))
    n = len(times)
    add_incidents(
        db,
        np.clip(lon + rng.normal(0, 0.006, n), 120.001, 120.079),
        np.clip(lat + rng.normal(0, 0.004, n), 30.001, 30.039),
        times,
    )
    spec = deployment.DeploymentSpec(weeks=6, target=0.8, sim_hours=20, held_weeks=2)
    result = deployment.analyse(
        db, scope=WHOLE, spec=spec, zone=ZONE, network=network, now=now, area=station
    )
    (row,) = result["stations"]
    assert row["code"] == "T-D1-S1"
    assert row["incidents"] == n
    assert len(row["expected"]) == 168 and len(row["proposed"]) == 168
    assert row["today"] == [2] * 168
    for h in range(168):
        if row["proposed"][h] < deployment.MAX_UNITS and row["expected"][h] > 0:
            assert row["share_proposed"][h] >= 0.8
    # the evening peak needs at least as many units as the small hours
    assert max(row["proposed"][18::24]) >= max(row["proposed"][3::24])
    assert result["holdout"]["weeks_held"] == 2
    assert len(result["tables"]["roster"]["rows"]) == 168
    # the GeoJSON: the station's precinct with its figures (the export and the console's map)
    (feature,) = result["geojson"]["features"]
    props = feature["properties"]
    assert props["kind"] == "station" and props["code"] == "T-D1-S1"
    assert props["unit_hours_today"] == row["unit_hours_today"] == 2 * 168
    assert props["unit_hours_proposed"] == sum(row["proposed"])
    assert props["peak_expected"] == max(row["expected"])
    assert props["peak_units_proposed"] == row["proposed"][props["peak_hour_of_week"]]
    outline = shapely.geometry.shape(feature["geometry"])
    precinct = shapely.from_wkb(station.geometry_wkb)
    assert outline.symmetric_difference(precinct).area < 0.01 * precinct.area
    with pytest.raises(InvalidInput):
        deployment.analyse(
            db, scope=WHOLE, spec=deployment.DeploymentSpec(weeks=1), zone=ZONE,
            network=network, now=now,
        )  # fmt: skip
    with pytest.raises(InvalidInput):
        deployment.analyse(
            db, scope=Scope(paths=()), spec=spec, zone=ZONE, network=network, now=now
        )
