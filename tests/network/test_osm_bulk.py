"""The bulk (columnar) OSM reader against libosmium's: the same lines, tallies and graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pytest

from fangkong.core.errors import InvalidInput
from fangkong.demo import osm as demo_osm
from fangkong.network import osm
from fangkong.network._build import LineSet
from fangkong.network._pbf import PbfUnsupported, read_blocks
from fangkong.network.osm import graph_from_osm
from fangkong.network.profile import DEFAULT_PROFILE

PBF = Path(demo_osm.__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"
_LINE_FIELDS = (
    "keys",
    "lon",
    "lat",
    "ptr",
    "road_class",
    "direction",
    "maxspeed_fwd",
    "maxspeed_bwd",
    "explicit_kmh",
    "zone",
)
_MEMORY_KEYS = ("peak_rss_kib", "reader_held_bytes")


def _quiet(stage: str, done: int, total: int) -> None:
    del stage, done, total


def assert_same_lines(a: LineSet, b: LineSet) -> None:
    for name in _LINE_FIELDS:
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        np.testing.assert_array_equal(left, right, err_msg=name)


def _tallies(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k not in _MEMORY_KEYS}


def test_demo_extract_reads_alike() -> None:
    bulk, bulk_counts = osm._read_ways_bulk(PBF, DEFAULT_PROFILE, _quiet)
    plain, plain_counts = osm._read_ways(PBF, DEFAULT_PROFILE, _quiet)
    assert_same_lines(bulk, plain)
    assert _tallies(bulk_counts) == plain_counts
    assert bulk_counts["reader_held_bytes"] > 0 and bulk_counts["peak_rss_kib"] > 0


def test_demo_graphs_are_equal() -> None:
    a, report_a = graph_from_osm(PBF, reader="bulk")
    b, report_b = graph_from_osm(PBF, reader="libosmium")
    for name in ("lon", "lat", "indptr", "head", "tail", "time_s", "shape_ptr"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (report_a.nodes, report_a.edges, report_a.road_km) == (
        report_b.nodes,
        report_b.edges,
        report_b.road_km,
    )


def _write(
    path: Path,
    nodes: dict[int, tuple[float, float]],
    ways: list[tuple[int, list[int], dict[str, str]]],
) -> None:
    with osmium.SimpleWriter(str(path)) as writer:
        for node_id, (lon, lat) in sorted(nodes.items()):
            writer.add_node(osmium.osm.mutable.Node(id=node_id, location=(lon, lat)))
        for way_id, refs, tags in ways:
            writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags))


_TAG_CHOICES: dict[str, tuple[str | None, ...]] = {
    "highway": ("primary", "residential", "service", "footway", "motorway", " tertiary "),
    "oneway": (None, None, "yes", "-1", "no", "reversible", "1"),
    "junction": (None, None, "roundabout"),
    "access": (None, None, None, "private", "no", "yes"),
    "motor_vehicle": (None, None, "destination", "no"),
    "emergency": (None, None, "yes", "no"),
    "area": (None, None, None, "yes"),
    "maxspeed": (None, "50", "30 mph", "DE:urban", "none", "fast", "RO:rural"),
    "maxspeed:forward": (None, None, "70"),
    "name": (None, "Hauptstrasse", "路"),
}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("emergency", [False, True])
def test_random_extracts_read_alike(tmp_path: Path, seed: int, emergency: bool) -> None:
    """Random ways over random nodes, about 1 % of them missing (a way cut at the
    extract's border), repeated vertices, tags of every rule; several PBF blocks."""
    rng = np.random.default_rng(seed)
    n_nodes = 20_000
    ids = np.sort(rng.choice(10**9, n_nodes, replace=False)) + 1
    lon = 9.0 + rng.random(n_nodes) * 0.5
    lat = -47.0 + rng.random(n_nodes) * 0.5 if seed == 2 else 47.0 + rng.random(n_nodes) * 0.5
    present = rng.random(n_nodes) > 0.01
    nodes = {
        int(i): (float(x), float(y)) for i, x, y, p in zip(ids, lon, lat, present, strict=True) if p
    }
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    for way_id in range(1, 9_001):
        length = int(rng.integers(1, 9))
        refs = [int(r) for r in rng.choice(ids, length)]
        if rng.random() < 0.05:
            refs.insert(1, refs[0])
        tags: dict[str, str] = {}
        for key, choices in _TAG_CHOICES.items():
            value = choices[int(rng.integers(len(choices)))]
            if value is not None:
                tags[key] = value
        ways.append((way_id, refs, tags))
    path = tmp_path / "random.osm.pbf"
    _write(path, nodes, ways)
    profile = DEFAULT_PROFILE.model_copy(update={"emergency": emergency})
    blocks = list(read_blocks(path))
    assert len(blocks) > 2
    bulk, bulk_counts = osm._read_ways_bulk(path, profile, _quiet)
    plain, plain_counts = osm._read_ways(path, profile, _quiet)
    assert_same_lines(bulk, plain)
    assert _tallies(bulk_counts) == plain_counts
    assert plain_counts["skipped_no_location"] > 0 and plain_counts["skipped_reversible"] > 0


def test_progress_reports_bytes(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    graph_from_osm(PBF, progress=lambda s, d, t: seen.append((s, d, t)), reader="bulk")
    size = PBF.stat().st_size
    read = [(d, t) for s, d, t in seen if s == "read"]
    assert read[-1] == (size, size) and all(t == size for _, t in read)
    assert any(s == "locations" for s, _, _ in seen)


def test_other_files_fall_back_on_libosmium(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all" * 10)
    with pytest.raises(PbfUnsupported):
        osm._read_ways_bulk(garbage, DEFAULT_PROFILE, _quiet)
    # the automatic choice names the fault as libosmium does
    with pytest.raises(InvalidInput, match="not an OSM extract"):
        graph_from_osm(garbage)
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(PBF.read_bytes()[: PBF.stat().st_size // 2])
    with pytest.raises(PbfUnsupported):
        osm._read_ways_bulk(truncated, DEFAULT_PROFILE, _quiet)
    with pytest.raises(InvalidInput):
        graph_from_osm(truncated)
