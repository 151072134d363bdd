"""Hotspots: Gi* against esda's G_Local (the same weights, the same permutations by seed), the
FDR bound against esda's fdr, the density surface against scikit-learn's exact KernelDensity,
road segments per km, and the analysis of the incidents in scope on both databases."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pytest
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import scope_of
from factories import grid_centre
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Priority
from fangkong.planning import hotspot_runs
from fangkong.planning import hotspots as hs
from planning.planning_two_helpers import add_incidents

WHOLE = Scope(paths=("/",))
ZONE = ZoneInfo("Asia/Shanghai")


def _cells_with_counts(
    seed: int, n_points: int, resolution: int
) -> tuple[hs.Contiguity, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon = np.concatenate(
        [rng.normal(120.08, 0.02, n_points), rng.normal(120.12, 0.004, n_points // 4)]
    )
    lat = np.concatenate(
        [rng.normal(30.04, 0.02, n_points), rng.normal(30.05, 0.004, n_points // 4)]
    )
    counts = hs.count_cells(hs.cells_of(lon, lat, resolution))
    region = set(counts)
    for cell in list(counts):
        region.update(h3.grid_disk(cell, 1))
    # an island far away: a cell with no neighbour in the region
    region.add(h3.latlng_to_cell(31.5, 121.5, resolution))
    weights = hs.h3_contiguity(sorted(region))
    y = np.array([counts.get(c, 0.0) for c in weights.cells])
    return weights, y


def _esda(y: np.ndarray, weights: hs.Contiguity, permutations: int, seed: int) -> object:
    from esda.getisord import G_Local
    from libpysal.weights import W

    neighbours = {
        i: [i, *weights.indices[weights.indptr[i] : weights.indptr[i + 1]].tolist()]
        for i in range(weights.n)
    }
    w = W(neighbours, silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(
            y, w, transform="R", star=True, permutations=permutations, seed=seed, n_jobs=1
        )


@pytest.mark.parametrize(("seed", "resolution", "permutations"), [(1, 8, 999), (2, 9, 99)])
def test_gi_star_equals_esda_g_local(seed: int, resolution: int, permutations: int) -> None:
    weights, y = _cells_with_counts(seed, 3000, resolution)
    mine = hs.gi_star(y, weights, permutations=permutations, seed=seed * 11)
    theirs = _esda(y, weights, permutations, seed * 11)
    np.testing.assert_allclose(mine.gs, theirs.Gs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.expected, theirs.EGs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.variance, theirs.VGs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.z, theirs.Zs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.p_norm, theirs.p_norm, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    # esda keeps its pseudo p-values in float32: the counts behind them are equal, and so the
    # p-values to 1e-9 once read back from the counts
    theirs_larger = np.rint(np.asarray(theirs.p_sim, dtype=np.float64) * (permutations + 1))  # type: ignore[attr-defined]
    mine_larger = mine.p_sim * (permutations + 1)
    np.testing.assert_array_equal(np.rint(mine_larger), theirs_larger)
    np.testing.assert_allclose(mine.p_sim, theirs_larger / (permutations + 1), rtol=0, atol=1e-9)
    assert np.isclose(mine_larger, np.rint(mine_larger)).all()
    # another seed draws other sets: the test can tell seeds apart
    other = hs.gi_star(y, weights, permutations=permutations, seed=seed * 11 + 1)
    assert not np.array_equal(other.p_sim, mine.p_sim)


def test_fdr_bound_equals_esda() -> None:
    from esda import fdr

    rng = np.random.default_rng(3)
    for alpha in (0.01, 0.05, 0.1):
        for _ in range(20):
            p = np.concatenate([rng.uniform(0, 1, 200), rng.uniform(0, 0.002, rng.integers(0, 30))])
            assert hs.fdr_cutoff(p, alpha) == pytest.approx(fdr(p, alpha), abs=1e-15)


def test_classes_follow_the_sign_and_the_bound() -> None:
    weights, y = _cells_with_counts(4, 3000, 8)
    result = hs.gi_star(y, weights, permutations=999, seed=5)
    for inference, p_values in (("sim", result.p_sim), ("norm", result.p_norm)):
        classes, cut = hs.classify(result, alpha=0.05, inference=inference)  # type: ignore[arg-type]
        assert cut == hs.fdr_cutoff(p_values, 0.05)
        for c, z, p in zip(classes, result.z, p_values, strict=True):
            significant = p < cut
            assert c == (
                "hot" if significant and z > 0 else "cold" if significant and z < 0 else "none"
            )
        assert "hot" in classes
    assert hs.trend("hot", "hot") == "persistent"
    assert hs.trend("none", "hot") == "new"
    assert hs.trend("hot", "none") == "fading"
    assert hs.trend("cold", "cold") == "none"


def test_density_surface_matches_scikit_learn() -> None:
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(8)
    x = np.concatenate([rng.normal(0, 800, 3000), rng.normal(2500, 300, 1000)])
    y = np.concatenate([rng.normal(0, 600, 3000), rng.normal(1500, 300, 1000)])
    h = 250.0
    bounds = (-4000.0, -4000.0, 4000.0, 4000.0)
    size = 128
    surface = hs.kernel_density(x, y, bandwidth_m=h, bounds=bounds, size=size)
    cell = 8000.0 / size
    centres = -4000.0 + (np.arange(size) + 0.5) * cell
    gx, gy = np.meshgrid(centres, centres)
    kde = KernelDensity(bandwidth=h, kernel="gaussian").fit(np.column_stack([x, y]))
    exact = (
        np.exp(kde.score_samples(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(size, size)
        * x.size
        * 1e6
    )  # density of the mean → sum, per m² → per km²
    peak = exact.max()
    assert np.abs(surface - exact).max() / peak < 0.02
    # the total is kept: the integral of the density is the number of points
    assert surface.sum() * (cell * cell) / 1e6 == pytest.approx(x.size, rel=0.01)


def test_segment_rates_merge_both_directions_and_divide_by_length() -> None:
    # edges 0/1 twins (one 500 m segment), edge 2 alone (2 km), edge 3 unused
    twin = np.array([1, 0, -1, -1])
    length = np.array([500.0, 500.0, 2000.0, 10.0])
    seg, count, per_km = hs.segment_rates(np.array([0, 1, 1, 2, 2, -1]), twin, length)
    assert seg.tolist() == [0, 2]
    assert count.tolist() == [3.0, 2.0]
    assert per_km.tolist() == [6.0, 1.0]
    # a 10 m segment counts as 100 m long
    _, _, short = hs.segment_rates(np.array([3, 3]), twin, length)
    assert short.tolist() == [2 / (hs.MIN_SEGMENT_M / 1000)]


def test_hour_of_week() -> None:
    assert hs.hour_of_week(np.array([0, 6]), np.array([0, 23])).tolist() == [0, 167]


# --- the analysis on the test county (SQLite and PostgreSQL) ------------------------------------


def _cluster(db: Session, grid: str, n: int, start: datetime, *, seed: int, **kw: object) -> None:
    rng = np.random.default_rng(seed)
    lon0, lat0 = grid_centre(grid)
    lon = np.clip(lon0 + rng.normal(0, 0.004, n), 120.001, 120.159)
    lat = np.clip(lat0 + rng.normal(0, 0.004, n), 30.001, 30.079)
    times = [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, n)]
    add_incidents(db, lon, lat, times, **kw)  # type: ignore[arg-type]


def _background(db: Session, n: int, start: datetime, *, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(120.003, 120.157, n)
    lat = rng.uniform(30.003, 30.077, n)
    times = [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, n)]
    add_incidents(db, lon, lat, times, category="traffic", priority=Priority.P4)


def test_analysis_finds_the_cluster_and_its_trend(db: Session) -> None:
    t0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
    t1 = t0 + timedelta(days=28)
    _background(db, 400, t0, seed=1)
    _background(db, 400, t1, seed=2)
    _cluster(db, "T-D1-S1-B1-G1", 250, t0, seed=3)  # hot before only
    _cluster(db, "T-D2-S2-B2-G2", 250, t1, seed=4)  # hot now only
    _cluster(db, "T-D1-S2-B1-G2", 250, t0, seed=5)  # hot in both
    _cluster(db, "T-D1-S2-B1-G2", 250, t1, seed=6)
    spec = hotspot_runs.HotspotSpec(
        start=t1,
        end=t1 + timedelta(days=28),
        resolution=8,
        permutations=999,
        seed=9,
        compare_start=t0,
        compare_end=t1,
    )
    result = hotspot_runs.analyse(db, scope=WHOLE, spec=spec, zone=ZONE)
    assert result["incidents"] == 900
    hot = {c["cell"] for c in result["cells"] if c["class"] == "hot"}

    def near(grid: str) -> set[str]:
        lon, lat = grid_centre(grid)
        return set(h3.grid_disk(h3.latlng_to_cell(lat, lon, 8), 1))

    assert hot & near("T-D2-S2-B2-G2") and hot & near("T-D1-S2-B1-G2")
    assert not hot & near("T-D1-S1-B1-G1")
    trends = {c["cell"]: c["trend"] for c in result["cells"]}
    assert "new" in {trends.get(c) for c in near("T-D2-S2-B2-G2")}
    assert "persistent" in {trends.get(c) for c in near("T-D1-S2-B1-G2")}
    assert "fading" in {trends.get(c) for c in near("T-D1-S1-B1-G1")}
    assert hot <= {c for c, t in trends.items() if t in ("new", "persistent")}
    assert result["compare"]["new"] >= 1 and result["compare"]["fading"] >= 1
    assert sum(result["hour_of_week"]) == 900
    assert result["by_category"] == {"criminal": 500, "traffic": 400}
    # the surface peaks at a cluster; bands are polygons
    assert result["surface"]["features"]
    assert all(f["geometry"]["type"] == "Polygon" for f in result["surface"]["features"])
    collection = hotspot_runs.geojson(result)
    kinds = {f["properties"]["kind"] for f in collection["features"]}
    assert {"cell", "density"} <= kinds

    # filters: a category, an hour of week; scope
    only = hotspot_runs.analyse(
        db,
        scope=WHOLE,
        spec=hotspot_runs.HotspotSpec(
            start=t1, end=t1 + timedelta(days=28), resolution=9, permutations=0,
            categories=("criminal",),
        ),
        zone=ZONE,
    )  # fmt: skip
    assert only["incidents"] == 500 and only["inference"] == "norm"
    hours = hotspot_runs.read_incidents(
        db, scope=WHOLE, start=t1, end=t1 + timedelta(days=28), zone=ZONE, hours=(0, 1, 2)
    )
    assert set(hours.hour.tolist()) <= {0, 1, 2}
    everything = hotspot_runs.read_incidents(
        db, scope=WHOLE, start=t1, end=t1 + timedelta(days=28), zone=ZONE
    )
    assert len(hours) == int(np.isin(everything.hour, [0, 1, 2]).sum()) > 0
    mine = hotspot_runs.analyse(
        db,
        scope=scope_of(db, "T-D2"),
        spec=hotspot_runs.HotspotSpec(start=t1, end=t1 + timedelta(days=28), permutations=0),
        zone=ZONE,
    )
    assert 250 <= mine["incidents"] < 900
    assert all(c["lon"] >= 120.08 - 0.01 for c in mine["cells"] if c["count"])


def test_analysis_refuses_bad_periods_and_resolutions(db: Session) -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        hotspot_runs.analyse(
            db, scope=WHOLE, spec=hotspot_runs.HotspotSpec(start=t, end=t), zone=ZONE
        )
    with pytest.raises(InvalidInput):
        hotspot_runs.HotspotSpec(start=t, end=t + timedelta(days=1), resolution=7).check()
    with pytest.raises(InvalidInput):
        hotspot_runs.HotspotSpec(start=t, end=t + timedelta(days=1), compare_start=t).check()
    empty = hotspot_runs.analyse(
        db,
        scope=WHOLE,
        spec=hotspot_runs.HotspotSpec(start=t, end=t + timedelta(hours=1)),
        zone=ZONE,
    )
    assert empty["incidents"] == 0 and empty["cells"] == []
