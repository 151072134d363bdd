"""Hotspots: Gi* against esda's G_Local (the same weights, the same permutations by seed), the
FDR bound against esda's fdr, the density surface against scikit-learn's exact KernelDensity,
road segments per km, and the analysis of the incidents in scope on both databases."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pytest
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import scope_of
from factories import grid_centre, street_grid_geojson
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Priority
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate
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


def _street_lattice(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A street lattice of 14 × 11 junctions: two-way streets (an edge and its twin), a few
    one-way ones, and a lone two-way street far from the rest (an island); edge lengths of
    30-400 m. Returns tail, head, twin and length per edge."""
    rng = np.random.default_rng(seed)
    cols, rows = 14, 11
    tail: list[int] = []
    head: list[int] = []
    twin: list[int] = []
    for r in range(rows):
        for c in range(cols):
            u = r * cols + c
            for v in ([u + 1] if c + 1 < cols else []) + ([u + cols] if r + 1 < rows else []):
                if rng.uniform() < 0.1:  # one-way
                    tail.append(u), head.append(v), twin.append(-1)
                else:
                    e = len(tail)
                    tail.extend([u, v]), head.extend([v, u]), twin.extend([e + 1, e])
    island = rows * cols
    e = len(tail)
    tail.extend([island, island + 1]), head.extend([island + 1, island]), twin.extend([e + 1, e])
    length = rng.uniform(30.0, 400.0, len(tail))
    length[np.asarray(twin) >= 0] = np.minimum(  # an edge and its twin are as long
        length[np.asarray(twin) >= 0], length[np.asarray(twin)[np.asarray(twin) >= 0]]
    )
    return (np.asarray(tail), np.asarray(head), np.asarray(twin), length)


def test_segment_contiguity_joins_segments_at_their_junctions() -> None:
    tail, head, twin, _ = _street_lattice(0)
    segments = np.unique(hs.segment_of_edge(twin))
    # each two-way street is one segment, named by its smaller edge
    assert segments.size == int((twin < 0).sum() + (twin >= 0).sum() // 2)
    weights = hs.segment_contiguity(segments, tail, head)
    assert weights.cells == [str(s) for s in segments]
    for i, s in enumerate(segments):
        ends = {tail[s], head[s]}
        expected = [j for j, o in enumerate(segments) if o != s and ends & {tail[o], head[o]}]
        assert weights.indices[weights.indptr[i] : weights.indptr[i + 1]].tolist() == expected
    card = weights.cardinalities()
    assert card[-1] == 0  # the island
    # a street of the lattice meets 3 (at a corner) to 6 others at its two junctions
    assert card.max() == 6 and card[:-1].min() == 3
    # the star weights: the segment and each neighbour 1 / (k + 1), rows summing to 1
    star = weights.star_matrix()
    np.testing.assert_allclose(np.asarray(star.sum(axis=1)).ravel(), 1.0)
    assert star[0, 0] == pytest.approx(1.0 / (card[0] + 1))


@pytest.mark.parametrize(("seed", "permutations"), [(1, 999), (2, 99)])
def test_segment_gi_star_equals_esda_g_local(seed: int, permutations: int) -> None:
    """Gi* over road segments (incidents per km, junction contiguity, row-standardised with
    the segment itself) equals esda's G_Local on the same weights and permuted draws."""
    tail, head, twin, length = _street_lattice(seed)
    segments = np.unique(hs.segment_of_edge(twin))
    weights = hs.segment_contiguity(segments, tail, head)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(0.6, segments.size).astype(np.float64)
    counts[:12] += rng.poisson(9.0, 12)  # a busy stretch of the first streets
    y = hs.per_km(counts, length[segments])
    assert (length[segments] < hs.MIN_SEGMENT_M).any()  # short segments counted as 100 m
    mine = hs.gi_star(y, weights, permutations=permutations, seed=seed * 7)
    theirs = _esda(y, weights, permutations, seed * 7)
    np.testing.assert_allclose(mine.gs, theirs.Gs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.expected, theirs.EGs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.variance, theirs.VGs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.z, theirs.Zs, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(mine.p_norm, theirs.p_norm, rtol=0, atol=1e-9)  # type: ignore[attr-defined]
    theirs_larger = np.rint(np.asarray(theirs.p_sim, dtype=np.float64) * (permutations + 1))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(np.rint(mine.p_sim * (permutations + 1)), theirs_larger)
    np.testing.assert_allclose(mine.p_sim, theirs_larger / (permutations + 1), rtol=0, atol=1e-9)
    classes, _ = hs.classify(mine, inference="norm")
    assert "hot" in classes[:12]  # the busy stretch
    other = hs.gi_star(y, weights, permutations=permutations, seed=seed * 7 + 1)
    assert not np.array_equal(other.p_sim, mine.p_sim)


def test_a_single_place_is_never_classed() -> None:
    """A region of one segment (or cell) has no variance: NaN z and p, class none, no error
    (warnings are errors in the tests)."""
    weights = hs.segment_contiguity(np.array([0]), np.array([0, 1]), np.array([1, 0]))
    result = hs.gi_star(np.array([3.0]), weights, permutations=99, seed=1)
    assert np.isnan(result.z).all() and np.isnan(result.p_sim).all()
    assert hs.classify(result)[0] == ["none"]


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
    p4 = hotspot_runs.analyse(
        db,
        scope=WHOLE,
        spec=hotspot_runs.HotspotSpec(
            start=t1, end=t1 + timedelta(days=28), resolution=9, permutations=0,
            priorities=("P4",),
        ),
        zone=ZONE,
    )  # fmt: skip
    assert p4["incidents"] == 400 and p4["by_priority"] == {"P4": 400}
    assert p4["by_category"] == {"traffic": 400}
    assert result["by_priority"] == {"P2": 500, "P4": 400}
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


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("hotspot-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def test_analysis_finds_hot_road_segments_and_their_trend(db: Session, network: Network) -> None:
    """Gi* over road segments on the test county's streets: incidents snapped to the road and
    counted per km; the segments around this period's cluster read hot (new), those around the
    earlier period's only cluster fade, those around a cluster of both periods persist; each a
    line in the GeoJSON with its class, z and p."""
    t0 = datetime(2025, 1, 6, tzinfo=UTC)
    t1 = t0 + timedelta(days=28)
    _background(db, 300, t0, seed=11)
    _background(db, 300, t1, seed=12)
    _cluster(db, "T-D1-S1-B1-G1", 200, t0, seed=13)  # before only
    _cluster(db, "T-D2-S2-B2-G2", 200, t1, seed=14)  # now only
    _cluster(db, "T-D1-S2-B1-G2", 200, t0, seed=15)  # both
    _cluster(db, "T-D1-S2-B1-G2", 200, t1, seed=16)
    spec = hotspot_runs.HotspotSpec(
        start=t1, end=t1 + timedelta(days=28), resolution=8, permutations=999, seed=3,
        compare_start=t0, compare_end=t1,
    )  # fmt: skip
    result = hotspot_runs.analyse(db, scope=WHOLE, spec=spec, zone=ZONE, network=network)
    summary = result["segment_gi"]
    assert summary["snapped"] == 700  # every incident lies within 500 m of a street
    # the study region: every street of the county, not only those with incidents
    assert summary["segments_in_region"] > len({s["segment"] for s in result["segments"]})
    assert summary["hot"] >= 3 and summary["compare"]["new"] >= 1
    assert summary["compare"]["fading"] >= 1 and summary["compare"]["persistent"] >= 1
    rows = result["segments"]
    per_km = [r["per_km"] for r in rows]
    assert per_km == sorted(per_km, reverse=True)
    for r in rows:
        km = max(r["length_m"], hs.MIN_SEGMENT_M) / 1000
        assert r["per_km"] == pytest.approx(r["count"] / km, rel=1e-3)  # length rounded

    def middle(r: dict[str, object]) -> tuple[float, float]:
        coords = np.asarray(r["coordinates"])
        return float(coords[:, 0].mean()), float(coords[:, 1].mean())

    def near(r: dict[str, object], grid: str, within: float = 0.006) -> bool:
        (x, y), (gx, gy) = middle(r), grid_centre(grid)
        return abs(x - gx) < within and abs(y - gy) < within

    hot = [r for r in rows if r["class"] == "hot"]
    assert hot and all(
        near(r, "T-D2-S2-B2-G2", 0.012) or near(r, "T-D1-S2-B1-G2", 0.012) for r in hot
    )
    assert any(r["trend"] == "new" and near(r, "T-D2-S2-B2-G2") for r in rows)
    assert any(r["trend"] == "persistent" and near(r, "T-D1-S2-B1-G2") for r in rows)
    assert any(r["trend"] == "fading" and near(r, "T-D1-S1-B1-G1") for r in rows)
    assert not any(r["class"] == "hot" and near(r, "T-D1-S1-B1-G1") for r in rows)
    lines = [
        f for f in hotspot_runs.geojson(result)["features"] if f["properties"]["kind"] == "segment"
    ]
    assert len(lines) == len(rows)
    assert all(f["geometry"]["type"] == "LineString" for f in lines)
    assert {"class", "z", "p_sim", "trend", "per_km"} <= set(lines[0]["properties"])
    # without permutations: the normal p-values decide; without a network: no segments
    norm = hotspot_runs.analyse(
        db, scope=WHOLE, spec=hotspot_runs.HotspotSpec(start=t1, end=t1 + timedelta(days=28),
        permutations=0), zone=ZONE, network=network,
    )  # fmt: skip
    assert norm["segment_gi"]["hot"] >= 1 and norm["segments"][0]["p_sim"] is None
    assert norm["segment_gi"]["compare"] is None
    bare = hotspot_runs.analyse(
        db, scope=WHOLE, spec=hotspot_runs.HotspotSpec(start=t1, end=t1 + timedelta(days=28),
        permutations=0), zone=ZONE,
    )  # fmt: skip
    assert bare["segments"] == [] and bare["segment_gi"] is None


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
