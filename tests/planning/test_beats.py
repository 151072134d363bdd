"""Beats: always contiguous, balanced against spopt's AZP on the same units and workload, and
every figure recomputed from the labels."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import area
from factories import grid_centre, street_grid_geojson
from fangkong.areas.models import Area
from fangkong.core.scoping import Scope
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate
from fangkong.planning import beat_plans, beats
from planning.planning_two_helpers import add_incidents

WHOLE = Scope(paths=("/",))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("beats-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def lattice(rows: int, cols: int) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    """Rook-adjacent square units, 60 s a step (Manhattan), centre coordinates."""
    n = rows * cols
    adj: list[list[int]] = [[] for _ in range(n)]
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if c + 1 < cols:
                adj[i].append(i + 1)
                adj[i + 1].append(i)
            if r + 1 < rows:
                adj[i].append(i + cols)
                adj[i + cols].append(i)
    rr, cc = np.divmod(np.arange(n), cols)
    times = 60.0 * (np.abs(rr[:, None] - rr[None, :]) + np.abs(cc[:, None] - cc[None, :]))
    return adj, times, np.column_stack([cc, rr]).astype(float)


def azp_labels(adj: list[list[int]], xy: np.ndarray, workload: np.ndarray, k: int) -> np.ndarray:
    import geopandas as gpd
    import shapely
    from libpysal.weights import W
    from spopt.region import AZP

    squares = [shapely.box(x - 0.5, y - 0.5, x + 0.5, y + 0.5) for x, y in xy]
    frame = gpd.GeoDataFrame({"workload": workload}, geometry=squares)
    w = W({i: list(a) for i, a in enumerate(adj)}, silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AZP(frame, w, ["workload"], n_clusters=k, random_state=0)
        model.solve()
    return np.asarray(model.labels_, dtype=np.int64)


@pytest.mark.parametrize(("rows", "cols", "k", "seed"), [(10, 12, 6, 1), (8, 8, 4, 2)])
def test_beats_are_contiguous_and_better_balanced_than_azp(
    rows: int, cols: int, k: int, seed: int
) -> None:
    adj, times, xy = lattice(rows, cols)
    rng = np.random.default_rng(seed)
    workload = rng.gamma(2.0, 5.0, rows * cols)
    workload[rng.integers(0, rows * cols, 5)] *= 4  # a few busy grids
    found = beats.partition(adj, workload, times, k, time_limit_s=5.0)
    assert beats.contiguous(adj, found.labels)
    assert sorted(np.unique(found.labels).tolist()) == list(range(k))
    again = beats.figures(found.labels, workload, times, k)
    np.testing.assert_allclose(again.workload, found.workload)
    np.testing.assert_allclose(found.workload.sum(), workload.sum())
    for r in range(k):
        idx = np.flatnonzero(found.labels == r)
        # the farthest time is the least over the beat's units of their farthest time
        assert found.farthest_s[r] == min(times[np.ix_(idx, idx)].max(axis=1))
    theirs = azp_labels(adj, xy, workload, k)
    assert beats.contiguous(adj, theirs)
    azp = beats.figures(theirs, workload, times, k)
    assert found.imbalance < azp.imbalance
    assert found.imbalance < 1.3


def test_islands_are_joined_and_k_is_bounded() -> None:
    adj, times, _ = lattice(4, 4)
    # cut unit 15 off: it is joined to its nearest unit by road
    for v in adj[15]:
        adj[v].remove(15)
    adj[15] = []
    found = beats.partition(adj, np.ones(16), times, 3, time_limit_s=1.0)
    joined = beats.join_islands(adj, np.maximum(times, times.T))
    assert beats.contiguous(joined, found.labels)
    assert found.units.sum() == 16
    with pytest.raises(ValueError):
        beats.partition(adj, np.ones(16), times, 17)
    one = beats.partition(adj, np.ones(16), times, 1)
    assert set(one.labels.tolist()) == {0} and one.imbalance == 1.0


# --- a station of the test county (SQLite and PostgreSQL) ---------------------------------------


def test_beats_of_a_station(db: Session, network: Network) -> None:
    from fangkong.core.errors import InvalidInput

    station = area(db, "T-D1-S1")
    start = datetime(2025, 2, 3, tzinfo=UTC)
    rng = np.random.default_rng(6)
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    n = 120
    add_incidents(
        db,
        np.clip(lon + rng.normal(0, 0.003, n), 120.001, 120.079),
        np.clip(lat + rng.normal(0, 0.003, n), 30.001, 30.039),
        [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, n)],
    )
    spec = beat_plans.BeatSpec(k=2, start=start, end=start + timedelta(days=28))
    result = beat_plans.analyse(db, scope=WHOLE, station=station, spec=spec, network=network)
    assert result["grids"] == 4 and result["incidents"] == n and result["contiguous"]
    features = result["geojson"]["features"]
    assert len(features) == 2
    assert sorted(g for f in features for g in f["properties"]["grids"]) == sorted(
        a.code
        for a in db.scalars(select(Area).where(Area.path.startswith(station.path)))
        if a.level.value == "grid"
    )
    loads = [f["properties"]["workload_h"] for f in features]
    assert result["imbalance"] == pytest.approx(max(loads) / (sum(loads) / 2), abs=1e-3)
    assert result["workload_h"] == pytest.approx(sum(loads), abs=1e-2)
    assert 1.0 <= result["imbalance_floor"] <= result["imbalance"] + 1e-9
    assert beat_plans.fusion_faults(db, result=result) == []
    # a proposal missing a grid fails the fusion check
    broken = json.loads(json.dumps(result))
    broken["geojson"]["features"] = broken["geojson"]["features"][:1]
    rules = {f["rule"] for f in beat_plans.fusion_faults(db, result=broken)}
    assert {"grid_missing", "gap"} <= rules
    with pytest.raises(InvalidInput):
        beat_plans.analyse(
            db, scope=WHOLE, station=station,
            spec=beat_plans.BeatSpec(k=5, start=start, end=start + timedelta(days=1)),
            network=network,
        )  # fmt: skip
    with pytest.raises(InvalidInput):  # the city: beats are drawn for a station or a district
        beat_plans.analyse(db, scope=WHOLE, station=area(db, "T"), spec=spec, network=network)
    with pytest.raises(InvalidInput):
        beat_plans.analyse(
            db, scope=WHOLE, station=area(db, "T-D1-S1-B1"), spec=spec, network=network
        )


def test_beats_of_a_district_are_drawn_not_adopted(db: Session, network: Network) -> None:
    """A district's grids cut into k contiguous beats, which may cross its stations'
    precincts: stored and exported; adopting them is refused with the tree unchanged."""
    from fangkong.core.audit import SYSTEM
    from fangkong.core.errors import InvalidInput
    from fangkong.planning import adoption, analyses
    from fangkong.planning.analysis_models import AnalysisKind

    district = area(db, "T-D1")
    start = datetime(2025, 2, 3, tzinfo=UTC)
    rng = np.random.default_rng(8)
    lon, lat = grid_centre("T-D1-S2-B1-G2")
    n = 150
    add_incidents(
        db,
        np.clip(lon + rng.normal(0, 0.004, n), 120.001, 120.079),
        np.clip(lat + rng.normal(0, 0.004, n), 30.001, 30.079),
        [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, n)],
    )
    spec = beat_plans.BeatSpec(k=3, start=start, end=start + timedelta(days=28))
    result = beat_plans.analyse(db, scope=WHOLE, station=district, spec=spec, network=network)
    grids = sorted(
        a.code
        for a in db.scalars(select(Area).where(Area.path.startswith(district.path)))
        if a.level.value == "grid"
    )
    assert result["level"] == "district" and result["grids"] == len(grids) > 4
    assert result["contiguous"] and result["incidents"] == n
    features = result["geojson"]["features"]
    assert len(features) == 3
    assert sorted(g for f in features for g in f["properties"]["grids"]) == grids
    assert all(f["properties"]["parent_code"] == "T-D1" for f in features)
    assert beat_plans.fusion_faults(db, result=result) == []
    stored = analyses.create(
        db, kind=AnalysisKind.BEATS, params={"area_code": "T-D1", "k": 3}, result=result,
        scope=WHOLE, area=district, actor=SYSTEM,
    )  # fmt: skip
    beats_before = sorted(a.code for a in db.scalars(select(Area)) if a.level.value == "beat")
    with pytest.raises(InvalidInput) as refused:
        adoption.adopt(db, analysis=stored, scope=WHOLE, actor=SYSTEM, now=start)
    assert refused.value.key == "error.planning.beats_district"
    assert stored.accepted_at is None
    assert sorted(a.code for a in db.scalars(select(Area)) if a.level.value == "beat") == (
        beats_before
    )


def test_pairs_off_the_roads_are_estimated_from_the_straight_line() -> None:
    times = np.array([[0.0, 100.0, np.inf], [100.0, 0.0, np.inf], [np.inf, np.inf, 0.0]])
    lon = np.array([120.0, 120.01, 120.02])
    lat = np.array([30.0, 30.0, 30.0])
    filled = beat_plans.fill_unreachable(times, lon, lat)
    assert np.isfinite(filled).all() and filled[0, 1] == 100.0
    metres = 0.02 * np.pi / 180 * 6_371_008.8 * np.cos(np.radians(30.0))
    assert filled[0, 2] == pytest.approx(beat_plans.DETOUR * metres / beat_plans.OFF_ROAD_SPEED_MS)


LOPSIDED = Path(__file__).parent / "data" / "beats_lopsided.json"


def _lopsided() -> tuple[list[list[int]], np.ndarray, np.ndarray, int]:
    """The demo county's busiest station (LI-S10): 20 grids, k = 5, a few grids of the centre
    carrying most of the work and a group of four joined to the rest by road only."""
    data = json.loads(LOPSIDED.read_text(encoding="utf-8"))
    return (
        data["adjacency"],
        np.asarray(data["workload_h"], dtype=float),
        np.asarray(data["times_s"], dtype=float),
        int(data["k"]),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chains_of_grids_balance_a_lopsided_precinct(seed: int) -> None:
    """Single-grid moves stop well above the floor on a lopsided precinct (the heavy grids of
    one beat border only heavy beats or would cut their beat in two); the compound moves
    (chains, recombination, merge and split) reach the floor, contiguous throughout."""
    adj, workload, times, k = _lopsided()
    floor = workload.max() / (workload.sum() / k)
    old = beats.partition(adj, workload, times, k, time_limit_s=5.0, seed=seed, chains=False)
    new = beats.partition(adj, workload, times, k, time_limit_s=5.0, seed=seed)
    joined = beats.join_islands(adj, np.maximum(times, times.T))
    assert beats.contiguous(joined, old.labels) and beats.contiguous(joined, new.labels)
    assert sorted(np.unique(new.labels).tolist()) == list(range(k))
    assert old.imbalance > floor + 0.2
    # no partition of whole grids goes below the busiest grid over the mean
    assert new.imbalance == pytest.approx(floor, abs=1e-9)
    assert new.farthest_s.max() <= old.farthest_s.max() + 1e-9
    np.testing.assert_allclose(new.workload.sum(), workload.sum())


def test_lopsided_precinct_against_azp() -> None:
    import geopandas as gpd
    import shapely
    from libpysal.weights import W
    from spopt.region import AZP

    adj, workload, times, k = _lopsided()
    joined = beats.join_islands(adj, np.maximum(times, times.T))
    frame = gpd.GeoDataFrame(
        {"workload": workload},
        geometry=[shapely.box(i, 0, i + 1, 1) for i in range(len(adj))],  # AZP reads w only
    )
    w = W({i: list(a) for i, a in enumerate(joined)}, silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AZP(frame, w, ["workload"], n_clusters=k, random_state=0)
        model.solve()
    theirs = np.asarray(model.labels_, dtype=np.int64)
    assert beats.contiguous(joined, theirs)
    azp = beats.figures(theirs, workload, times, k)
    mine = beats.partition(adj, workload, times, k, time_limit_s=5.0)
    assert mine.imbalance < azp.imbalance


@pytest.mark.parametrize("seed", range(6))
def test_compound_moves_keep_every_beat_contiguous(seed: int) -> None:
    """Lattices with streets cut at random (some grids left as islands) and a few very busy
    grids: whatever the compound moves do, every beat stays one piece, none is empty, and the
    workload is all there."""
    rng = np.random.default_rng(seed)
    adj, times, _ = lattice(7, 9)
    for u in range(len(adj)):
        for v in list(adj[u]):
            if u < v and rng.uniform() < 0.2:
                adj[u].remove(v)
                adj[v].remove(u)
    workload = rng.gamma(1.0, 2.0, len(adj))
    workload[rng.integers(0, len(adj), 4)] += rng.uniform(20, 40, 4)
    k = int(rng.integers(3, 8))
    joined = beats.join_islands(adj, times)
    found = beats.partition(adj, workload, times, k, time_limit_s=3.0, seed=seed)
    assert beats.contiguous(joined, found.labels)
    assert sorted(np.unique(found.labels).tolist()) == list(range(k))
    np.testing.assert_allclose(found.workload.sum(), workload.sum())
