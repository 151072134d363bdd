"""Road network import: OSM extracts, GIS line layers, arrays; profiles; the graph cache; CLI."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
import typer
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from typer.testing import CliRunner

from fangkong.areas.coords import from_wgs84_array
from fangkong.core.errors import InvalidInput
from fangkong.demo import osm as demo_osm
from fangkong.network import profile as profile_module
from fangkong.network._build import largest_scc
from fangkong.network.cache import cache_path, load_or_build
from fangkong.network.cli import network_app
from fangkong.network.gis import graph_from_arrays, graph_from_lines
from fangkong.network.graph import RoadGraph, from_edges, haversine_m
from fangkong.network.osm import graph_from_osm, oneway_direction
from fangkong.network.profile import (
    DEFAULT_PROFILE,
    MaxSpeed,
    Profile,
    RoadClass,
    edge_speeds_kmh,
    load_profile,
    parse_maxspeed,
    profile_hash,
)
from fangkong.network.store import current_graph_path, load_current

PBF = Path(demo_osm.__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"
EMERGENCY = DEFAULT_PROFILE.emergency_factor
PATROL = load_profile("patrol")


def strongly_connected(graph: RoadGraph) -> bool:
    n = graph.n_nodes
    # copies (csr_matrix would share graph.head) with parallel edges merged (scipy's strong
    # component search misbehaves on duplicate entries)
    matrix = csr_matrix(
        (np.ones(graph.n_edges), graph.head.copy(), graph.indptr.copy()), shape=(n, n)
    )
    matrix.sum_duplicates()
    return bool(connected_components(matrix, directed=True, connection="strong")[0] == 1)


def edge_map(graph: RoadGraph) -> dict[tuple[int, int], list[int]]:
    found: dict[tuple[int, int], list[int]] = {}
    for e in range(graph.n_edges):
        found.setdefault((int(graph.tail[e]), int(graph.head[e])), []).append(e)
    return found


def node_at(graph: RoadGraph, lon: float, lat: float) -> int:
    hits = np.flatnonzero((np.abs(graph.lon - lon) < 1e-9) & (np.abs(graph.lat - lat) < 1e-9))
    assert hits.shape[0] == 1, (lon, lat)
    return int(hits[0])


# ----------------------------------------------------------------------------- the demo extract


@pytest.fixture(scope="module")
def demo() -> tuple[RoadGraph, Any]:
    return graph_from_osm(PBF)


def test_demo_extract_imports(demo: tuple[RoadGraph, Any]) -> None:
    graph, report = demo
    # Measured: 3380 nodes, 7568 edges, 25 components, 50 nodes and 55 edges dropped, 399 km.
    assert 3000 < graph.n_nodes < 4000 and 6500 < graph.n_edges < 8500
    assert report.nodes == graph.n_nodes and report.edges == graph.n_edges
    assert report.components > 1
    assert 0 < report.dropped_nodes < 0.05 * graph.n_nodes
    assert 0 < report.dropped_edges < 0.05 * graph.n_edges
    assert 300 < report.road_km < 500 and 0 < report.urban_km < report.road_km
    assert report.counts["ways"] > 2000 and report.counts["skipped_access"] > 0
    assert report.counts["maxspeed_used"] > 300
    assert 9.4 < graph.lon.min() < graph.lon.max() < 9.7
    assert set(np.unique(graph.road_class)) <= {int(c) for c in RoadClass}
    assert graph.meta["kind"] == "osm" and graph.meta["profile_hash"] == profile_hash(
        DEFAULT_PROFILE
    )


def test_demo_graph_is_one_strong_component(demo: tuple[RoadGraph, Any]) -> None:
    graph, _ = demo
    assert strongly_connected(graph)
    # CSR layout and shapes agree with the edges.
    assert np.all(np.diff(graph.tail) >= 0)
    assert graph.indptr[-1] == graph.n_edges
    first = graph.shape_ptr[:-1]
    last = graph.shape_ptr[1:] - 1
    assert np.allclose(graph.shape_lon[first], graph.lon[graph.tail])
    assert np.allclose(graph.shape_lat[last], graph.lat[graph.head])


def test_demo_oneway_roads_have_no_reverse_edge(demo: tuple[RoadGraph, Any]) -> None:
    graph, _ = demo
    # An edge is known by its first shape piece; a one-way road's piece must appear only in its
    # own direction, a two-way road's in both.
    starts = {
        (
            round(graph.shape_lon[p], 7),
            round(graph.shape_lat[p], 7),
            round(graph.shape_lon[p + 1], 7),
            round(graph.shape_lat[p + 1], 7),
        )
        for p in graph.shape_ptr[:-1].tolist()
    }
    ends = {
        (
            round(graph.shape_lon[p - 2], 7),
            round(graph.shape_lat[p - 2], 7),
            round(graph.shape_lon[p - 1], 7),
            round(graph.shape_lat[p - 1], 7),
        )
        for p in graph.shape_ptr[1:].tolist()
    }
    pieces = starts | ends  # (from, to) pieces at either end of an edge, in driving order
    checked = {True: 0, False: 0}
    for road in demo_osm.read_roads(PBF):
        coords = [(round(x, 7), round(y, 7)) for x, y in road.geometry.coords]
        (x0, y0), (x1, y1) = coords[0], coords[1]
        along, against = (x0, y0, x1, y1) in pieces, (x1, y1, x0, y0) in pieces
        if not along and not against:
            continue  # dropped with a small component, or an inner piece of an edge
        checked[road.oneway] += 1
        assert along, road.osm_id
        assert against != road.oneway, road.osm_id
    assert checked[True] > 50 and checked[False] > 1000


def test_demo_speeds_come_from_the_profile(demo: tuple[RoadGraph, Any]) -> None:
    graph, _ = demo
    implied = graph.length_m * 3.6 / graph.time_s
    urban, rural = DEFAULT_PROFILE.speed_table()
    class_speeds = np.concatenate([urban, rural]) * EMERGENCY
    limits = np.array([5, 20, 30, 40, 50, 60, 80]) * DEFAULT_PROFILE.maxspeed_factor * EMERGENCY
    allowed = np.round(np.concatenate([class_speeds, limits]), 6)
    positive = graph.length_m > 0
    assert np.isin(np.round(implied[positive], 6), allowed).all()
    assert (graph.time_s >= 0).all() and np.isfinite(graph.time_s).all()


# ----------------------------------------------------------------------------- synthetic OSM


def _osm_xml(
    nodes: dict[int, tuple[float, float]], ways: dict[int, tuple[list[int], dict[str, str]]]
) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (x, y) in sorted(nodes.items()):
        out.append(
            f'<node id="{nid}" version="1" lat="{47.0 + 0.001 * y:.7f}" '
            f'lon="{9.5 + 0.001 * x:.7f}"/>'
        )
    for wid, (refs, tags) in sorted(ways.items()):
        out.append(f'<way id="{wid}" version="1">')
        out += [f'<nd ref="{r}"/>' for r in refs]
        out += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        out.append("</way>")
    out.append("</osm>")
    return "\n".join(out)


NODES: dict[int, tuple[float, float]] = {
    1: (0, 0),
    2: (1, 0),
    3: (2, 0),
    4: (2, 1),
    5: (2, 2),
    6: (1, 2),
    7: (2, 3),
    8: (0, -1),
    9: (3, 0),
    10: (0, 1),
    11: (0, 2),
}
WAYS = {
    10: ([1, 2, 3], {"highway": "primary"}),
    11: ([3, 4, 5], {"highway": "residential", "oneway": "yes"}),
    12: ([1, 10, 11, 5], {"highway": "unclassified", "oneway": "-1", "maxspeed": "50"}),
    13: ([5, 7], {"highway": "service", "access": "private"}),
    14: ([1, 8], {"highway": "footway"}),
    15: ([3, 9], {"highway": "tertiary", "oneway": "yes"}),
    16: ([6, 5], {"highway": "residential", "maxspeed:forward": "20"}),
    17: ([6, 11], {"highway": "residential", "oneway": "reversible"}),
    18: ([1, 6], {"highway": "secondary", "maxspeed": "CN:urban"}),
}


@pytest.fixture
def small_osm(tmp_path: Path) -> Path:
    path = tmp_path / "small.osm"
    path.write_text(_osm_xml(NODES, WAYS), encoding="utf-8")
    return path


def _lonlat(node: int) -> tuple[float, float]:
    x, y = NODES[node]
    return round(9.5 + 0.001 * x, 7), round(47.0 + 0.001 * y, 7)


def _path_length(*nodes: int) -> float:
    pts = [_lonlat(n) for n in nodes]
    return float(sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in pairwise(pts)))


@pytest.mark.parametrize("profile", [DEFAULT_PROFILE, PATROL], ids=["emergency", "patrol"])
def test_synthetic_osm_edges_directions_and_times(small_osm: Path, profile: Profile) -> None:
    graph, report = graph_from_osm(small_osm, profile)
    factor = profile.emergency_factor if profile.emergency else 1.0
    ids = {osm: node_at(graph, *_lonlat(osm)) for osm in (1, 3, 5, 6)}
    assert graph.n_nodes == 4  # 2, 4, 10, 11 are shape points; 9 is a one-way dead end
    assert report.components == 2 and report.dropped_nodes == 1 and report.dropped_edges == 1
    assert report.counts["skipped_access"] == 1 and report.counts["skipped_reversible"] == 1
    edges = edge_map(graph)
    expected = {  # (from, to): (km/h before the emergency factor, OSM nodes along the edge)
        (1, 3): (70, (1, 2, 3)),
        (3, 1): (70, (3, 2, 1)),  # rural primary
        (3, 5): (30, (3, 4, 5)),  # one-way residential
        (5, 1): (50 * 0.8, (5, 11, 10, 1)),  # oneway=-1, maxspeed 50 set x 0.8
        (6, 5): (20 * 0.8, (6, 5)),
        (5, 6): (30, (5, 6)),  # maxspeed:forward only
        (1, 6): (40, (1, 6)),
        (6, 1): (40, (6, 1)),  # CN:urban: urban secondary
    }
    assert set(edges) == {(ids[a], ids[b]) for a, b in expected}
    for (a, b), (kmh, along) in expected.items():
        (e,) = edges[(ids[a], ids[b])]
        length = _path_length(*along)
        assert graph.length_m[e] == pytest.approx(length, rel=1e-9)
        speed = min(kmh * factor, profile.max_speed_kmh)
        assert abs(graph.time_s[e] - graph.length_m[e] * 3.6 / speed) < 1e-9
        shape = graph.edge_shape(e)
        assert [tuple(np.round(p, 7)) for p in shape] == [_lonlat(n) for n in along]
    assert strongly_connected(graph)


def test_oneway_rules() -> None:
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"oneway": "yes"}, "residential", "forward"),
        ({"oneway": "1"}, "residential", "forward"),
        ({"oneway": "true"}, "residential", "forward"),
        ({"oneway": "-1"}, "residential", "backward"),
        ({"oneway": "reversible"}, "residential", "reversible"),
        ({"oneway": "alternating"}, "residential", "both"),
        ({"junction": "roundabout"}, "residential", "forward"),
        ({"junction": "roundabout", "oneway": "no"}, "residential", "both"),
        ({}, "motorway", "forward"),
        ({"oneway": "no"}, "motorway", "both"),
        ({}, "motorway_link", "both"),
    ]
    for tags, highway, expected in cases:
        direction = oneway_direction(tags, highway)  # type: ignore[arg-type]  # a dict will do
        assert direction == expected, (tags, highway)


def test_osm_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=re.escape("missing.osm.pbf: no such file")):
        graph_from_osm(tmp_path / "missing.osm.pbf")
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all" * 10)
    with pytest.raises(InvalidInput, match=re.escape("garbage.osm.pbf: not an OSM extract")):
        graph_from_osm(garbage)
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match=re.escape("empty.osm.pbf: not an OSM extract")):
        graph_from_osm(empty)
    text = tmp_path / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(InvalidInput, match=re.escape("notes.txt: not an OSM extract")):
        graph_from_osm(text)
    footpaths = tmp_path / "footpaths.osm"
    footpaths.write_text(
        _osm_xml({1: (0, 0), 2: (1, 0)}, {5: ([1, 2], {"highway": "path"})}), encoding="utf-8"
    )
    with pytest.raises(InvalidInput, match=re.escape("footpaths.osm: no drivable roads")) as info:
        graph_from_osm(footpaths)
    assert info.value.field == "file"


# ----------------------------------------------------------------------------- profiles


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", MaxSpeed(50.0)),
        (" 50 ", MaxSpeed(50.0)),
        ("7.5", MaxSpeed(7.5)),
        ("30 mph", MaxSpeed(30 * 1.609344)),
        ("30mph", MaxSpeed(30 * 1.609344)),
        ("60 km/h", MaxSpeed(60.0)),
        ("10 knots", MaxSpeed(18.52)),
        ("walk", MaxSpeed(6.0)),
        ("50;30", MaxSpeed(30.0)),
        ("60 mph; 80", MaxSpeed(80.0)),
        ("CN:urban", MaxSpeed(None, "urban")),
        ("DE:rural", MaxSpeed(None, "rural")),
        ("DE:zone30", MaxSpeed(30.0, "urban")),
        ("DE:zone:20", MaxSpeed(20.0, "urban")),
        ("RU:motorway", MaxSpeed(None)),
        ("none", MaxSpeed(None)),
        ("signals", MaxSpeed(None)),
        ("0", None),
        ("fast", None),
        ("50;fast", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_maxspeed(value: str | None, expected: MaxSpeed | None) -> None:
    parsed = parse_maxspeed(value)
    if expected is None or expected.kmh is None:
        assert parsed == expected
    else:
        assert parsed is not None and parsed.zone == expected.zone
        assert parsed.kmh == pytest.approx(expected.kmh)


def test_edge_speeds_modes() -> None:
    cls = [int(RoadClass.PRIMARY)] * 3
    urban = [True, False, True]
    limits = [np.nan, 100.0, 30.0]
    plain = DEFAULT_PROFILE.model_copy(update={"emergency": False})
    assert edge_speeds_kmh(plain, cls, urban, maxspeed_kmh=limits).tolist() == pytest.approx(
        [50, 80, 24]
    )
    cap = plain.model_copy(update={"maxspeed_mode": "cap"})
    assert edge_speeds_kmh(cap, cls, urban, maxspeed_kmh=limits).tolist() == [50, 70, 30]
    ignore = plain.model_copy(update={"maxspeed_mode": "ignore"})
    assert edge_speeds_kmh(ignore, cls, urban, maxspeed_kmh=limits).tolist() == [50, 70, 50]
    given = edge_speeds_kmh(plain, cls, urban, explicit_kmh=[np.nan, 90, 0])
    assert given.tolist() == [50, 90, 50]
    fast = DEFAULT_PROFILE  # emergency: x 1.3, capped at 120
    speeds = edge_speeds_kmh(
        fast, [int(RoadClass.MOTORWAY)] * 2, [False, False], maxspeed_kmh=[np.nan, 100]
    )
    assert speeds.tolist() == pytest.approx([120, 100 * 0.8 * 1.3])


def test_profile_toml_override(tmp_path: Path) -> None:
    path = tmp_path / "county.toml"
    path.write_text(
        'name = "county"\nemergency_factor = 1.5\n'
        "[speeds.primary]\nurban = 45\n"
        "[speeds]\nservice = { urban = 12, rural = 18 }\n"
        '[class_aliases]\n"城市主干道" = "primary"\n"人行道" = "exclude"\n',
        encoding="utf-8",
    )
    profile = load_profile(path)
    assert profile.name == "county" and profile.emergency_factor == 1.5
    assert profile.speeds["primary"].urban == 45 and profile.speeds["primary"].rural == 70
    assert profile.speeds["service"].rural == 18
    assert profile.speeds["motorway"] == DEFAULT_PROFILE.speeds["motorway"]
    assert profile.classify("城市主干道") is RoadClass.PRIMARY
    assert profile.classify("国道") is RoadClass.TRUNK  # defaults kept
    assert profile.classify("人行道") is None
    assert profile_hash(profile) != profile_hash(DEFAULT_PROFILE)
    assert profile_hash(load_profile(path)) == profile_hash(profile)


def test_packaged_profiles() -> None:
    assert load_profile("default") == DEFAULT_PROFILE
    assert PATROL.emergency is False and PATROL.speeds == DEFAULT_PROFILE.speeds
    # stable across runs: a fixed value for a fixed profile would break with every harmless
    # field reordering, so check it is insensitive to dict order instead
    shuffled = Profile.model_validate(
        {
            **DEFAULT_PROFILE.model_dump(),
            "speeds": dict(reversed(DEFAULT_PROFILE.model_dump()["speeds"].items())),
        }
    )
    assert profile_hash(shuffled) == profile_hash(DEFAULT_PROFILE)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("[speeds.primary]\nurban = -5\n", "speeds.primary.urban", "greater than 0"),
        ("[speeds.highway]\nurban = 50\nrural = 60\n", "speeds", "unknown road class 'highway'"),
        ("emergency_factor = 0.5\n", "emergency_factor", "greater than or equal to 1"),
        ('maxspeed_mode = "fastest"\n', "maxspeed_mode", "'set', 'cap' or 'ignore'"),
        ("speed_of_light = 1\n", "speed_of_light", "Extra inputs are not permitted"),
        ('[class_aliases]\n"土路" = "dirt"\n', "class_aliases", "neither a road class"),
        ('[direction_aliases]\n"9" = "sideways"\n', "direction_aliases.9", "Input should be"),
    ],
)
def test_profile_validation_errors(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_profile(path)
    assert info.value.field == field
    assert field in info.value.message and message in info.value.message


def test_profile_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load_profile(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("speeds = [", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_profile(broken)


def test_docstring_table_is_the_default_profile() -> None:
    doc = profile_module.__doc__ or ""
    rows = re.findall(r"^([a-z_]+)\s+(\d+)\s+(\d+)\s", doc, flags=re.MULTILINE)
    table = {name: (float(u), float(r)) for name, u, r in rows}
    assert table == {name: (s.urban, s.rural) for name, s in DEFAULT_PROFILE.speeds.items()}


# ----------------------------------------------------------------------------- GIS line layers

D = 0.001  # degrees between grid points in the synthetic layers
X0, Y0 = 120.0, 30.0


def _pt(x: float, y: float) -> list[float]:
    return [X0 + D * x, Y0 + D * y]


def _line(coords: list[list[float]], **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords},
    }


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


# a -> b (FT, 36 km/h), b <-> c (B, 次干路), c -> d (2, primary), d -> a (TF on a-d, no class),
# a crossing line without a shared vertex (an overpass), and a spur from b snapped 0.3 m away.
SQUARE = [
    _line([_pt(0, 0), _pt(1, 0)], dir="FT", kmh=36, grade=None),
    _line([_pt(1, 0), _pt(1, 0.5), _pt(1, 1)], dir="B", kmh=None, grade="次干路"),
    _line([_pt(1, 1), _pt(0, 1)], dir=2, kmh=0, grade="primary"),
    _line([_pt(0, 0), _pt(0, 1)], dir="TF", kmh="", grade=None),
    _line([_pt(0.5, -0.5), _pt(0.5, 0.5)], dir=None, kmh=None, grade="residential"),
    _line(
        [[X0 + D + 0.3 / 111_195 / np.cos(np.radians(Y0)), Y0], _pt(2, 0)],
        dir="双向",
        kmh=None,
        grade="支路",
    ),
]
FIELDS = {"direction_field": "dir", "speed_field": "kmh", "class_field": "grade"}


@pytest.fixture
def square(tmp_path: Path) -> Path:
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps(_collection(SQUARE), ensure_ascii=False), encoding="utf-8")
    return path


def _check_square(graph: RoadGraph, report: Any, profile: Profile = DEFAULT_PROFILE) -> None:
    a, b, c, d, e = (
        node_at(graph, *_pt(x, y)) for x, y in [(0, 0), (1, 0), (1, 1), (0, 1), (2, 0)]
    )
    edges = edge_map(graph)
    assert set(edges) == {(a, b), (b, c), (c, b), (c, d), (d, a), (b, e), (e, b)}
    assert report.components == 2 and report.dropped_nodes == 2 and report.dropped_edges == 2
    factor = profile.emergency_factor
    speeds = {
        (a, b): 36 * factor,
        (b, c): 60 * factor,
        (c, d): 70 * factor,
        (d, a): 40 * factor,
        (b, e): 40 * factor,
    }
    for (u, v), kmh in speeds.items():
        (k,) = edges[(u, v)]
        assert abs(graph.time_s[k] - graph.length_m[k] * 3.6 / kmh) < 1e-9
    (k,) = edges[(b, c)]
    assert graph.road_class[k] == RoadClass.SECONDARY and graph.edge_shape(k).shape == (3, 2)
    (k,) = edges[(d, a)]
    assert graph.road_class[k] == RoadClass.OTHER
    assert np.allclose(graph.edge_shape(k), [_pt(0, 1), _pt(0, 0)])
    assert strongly_connected(graph)


def test_geojson_layer_with_fields(square: Path) -> None:
    graph, report = graph_from_lines(square, **FIELDS)
    _check_square(graph, report)
    assert report.counts["features"] == 6 and report.counts["speed_given"] == 1
    assert graph.meta["kind"] == "gis"


def test_snapping_distance(square: Path) -> None:
    graph, report = graph_from_lines(square, snap_m=0.1, **FIELDS)
    assert graph.n_nodes == 4  # the spur is 0.3 m off b: now an island, dropped
    assert report.components == 3


def test_geojson_gcj02(tmp_path: Path) -> None:
    lon = np.array([X0, X0 + D, X0 + D])
    lat = np.array([Y0, Y0, Y0 + D])
    glon, glat = from_wgs84_array(lon, lat, "gcj02")
    path = tmp_path / "gcj.geojson"
    coords = [[float(x), float(y)] for x, y in zip(glon, glat, strict=True)]
    path.write_text(json.dumps(_collection([_line(coords)])), encoding="utf-8")
    graph, _ = graph_from_lines(path, crs="gcj02")
    assert graph.n_nodes == 2
    assert np.allclose(sorted(graph.lon), [X0, X0 + D], atol=1e-7)


def test_closed_loop_is_split(tmp_path: Path) -> None:
    ring = [_pt(0, 0), _pt(1, 0), _pt(1, 1), _pt(0, 1), _pt(0, 0)]
    path = tmp_path / "loop.geojson"
    path.write_text(
        json.dumps(_collection([_line(ring), _line([_pt(0, 0), _pt(-1, 0)])])), encoding="utf-8"
    )
    graph, report = graph_from_lines(path)
    assert graph.n_nodes == 3 and graph.n_edges == 6 and report.components == 1
    sides = [(ring[i], ring[i + 1]) for i in range(4)] + [(_pt(0, 0), _pt(-1, 0))]
    metres = sum(float(haversine_m(p[0], p[1], q[0], q[1])) for p, q in sides)
    assert report.road_km == pytest.approx(metres / 1000, abs=1e-3)


@pytest.mark.parametrize(
    ("feature", "fault", "field"),
    [
        ({"type": "Feature", "properties": {}, "geometry": None}, "no geometry", "features"),
        (
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [1, 2]},
            },
            "geometry type Point",
            "features",
        ),
        (_line([_pt(0, 0)]), "at least 2 positions", "features"),
        (_line([[1, "x"], [2, 3]]), "[longitude, latitude] numbers", "features"),
        (_line([[500_000.0, 3_300_000.0], [500_100.0, 3_300_000.0]]), "looks projected", "crs"),
        (_line([_pt(0, 0), _pt(1, 0)], dir="sideways"), "direction 'sideways'", "direction_field"),
        (_line([_pt(0, 0), _pt(1, 0)], kmh="fast"), "speed 'fast'", "speed_field"),
        (_line([_pt(0, 0), _pt(1, 0)], kmh=-5), "speed -5", "speed_field"),
        (_line([_pt(0, 0), _pt(1, 0)], grade="土路"), "class '土路'", "class_field"),
    ],
)
def test_bad_feature_is_named(
    tmp_path: Path, feature: dict[str, Any], fault: str, field: str
) -> None:
    good = _line([_pt(5, 5), _pt(6, 5)], dir="B", kmh=30, grade="primary")
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(_collection([good, feature]), ensure_ascii=False), "utf-8")
    with pytest.raises(InvalidInput) as info:
        graph_from_lines(path, **FIELDS)
    assert "bad.geojson: feature 1: " in info.value.message
    assert fault in info.value.message and info.value.field == field


def test_gis_file_errors(tmp_path: Path, square: Path) -> None:
    with pytest.raises(InvalidInput, match="no field 'richtung'") as info:
        graph_from_lines(square, direction_field="richtung")
    assert info.value.field == "direction_field" and "dir, grade, kmh" in info.value.message
    with pytest.raises(InvalidInput, match=re.escape("nope.geojson: no such file")):
        graph_from_lines(tmp_path / "nope.geojson")
    broken = tmp_path / "broken.geojson"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(InvalidInput, match=re.escape("broken.geojson: not a GeoJSON file")):
        graph_from_lines(broken)
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps(_collection([])), encoding="utf-8")
    with pytest.raises(InvalidInput, match=re.escape("empty.geojson: no road lines")):
        graph_from_lines(empty)
    merc = tmp_path / "merc.geojson"
    merc.write_text(
        json.dumps(
            {
                **_collection(SQUARE),
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
            }
        ),
        "utf-8",
    )
    with pytest.raises(InvalidInput, match="reproject"):
        graph_from_lines(merc)


def _write_gpkg(
    path: Path, features: list[dict[str, Any]], *, crs: str = "EPSG:4326", layer: str = "roads"
) -> None:
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    from shapely.geometry import shape

    geometry = shapely.to_wkb(np.array([shape(f["geometry"]) for f in features], dtype=object))
    names = ["dir", "kmh", "grade"]
    columns = []
    for name in names:
        values = [f["properties"].get(name) for f in features]
        as_text = [None if v is None or v == "" else str(v) for v in values]
        columns.append(np.array(as_text, dtype=object))
    pyogrio.raw.write(
        str(path),
        geometry,
        columns,
        names,
        layer=layer,
        driver="GPKG",
        geometry_type="LineString",
        crs=crs,
        append=path.exists(),
    )


def test_geopackage_layer(tmp_path: Path) -> None:
    pyogrio = pytest.importorskip("pyogrio")
    path = tmp_path / "roads.gpkg"
    _write_gpkg(path, SQUARE)
    graph, report = graph_from_lines(path, **FIELDS)
    _check_square(graph, report)
    # a second line layer: the road layer must be named
    _write_gpkg(path, SQUARE[:2], layer="other")
    assert len(pyogrio.list_layers(str(path))) == 2
    with pytest.raises(InvalidInput, match="2 layers") as info:
        graph_from_lines(path, **FIELDS)
    assert info.value.field == "layer"
    graph, report = graph_from_lines(path, layer="roads", **FIELDS)
    _check_square(graph, report)
    with pytest.raises(InvalidInput, match="cannot be read as a GIS layer"):
        graph_from_lines(path, layer="missing")


def test_geopackage_in_projected_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "merc.gpkg"
    _write_gpkg(path, SQUARE, crs="EPSG:3857")
    with pytest.raises(InvalidInput, match=r"EPSG:3857.*reproject") as info:
        graph_from_lines(path)
    assert info.value.field == "crs"


def test_shapefile_layer_and_its_sidecars_in_the_cache_key(tmp_path: Path) -> None:
    pyogrio = pytest.importorskip("pyogrio")
    shapely = pytest.importorskip("shapely")
    from shapely.geometry import shape

    from fangkong.network.cache import source_digest

    path = tmp_path / "roads.shp"
    geometry = shapely.to_wkb(np.array([shape(f["geometry"]) for f in SQUARE], dtype=object))
    columns = [
        np.array(
            [
                None if f["properties"].get(name) in (None, "") else str(f["properties"][name])
                for f in SQUARE
            ],
            dtype=object,
        )
        for name in ("dir", "kmh", "grade")
    ]
    pyogrio.raw.write(
        str(path),
        geometry,
        columns,
        ["dir", "kmh", "grade"],
        driver="ESRI Shapefile",
        geometry_type="LineString",
        crs="EPSG:4326",
        encoding="UTF-8",
    )
    graph, report = graph_from_lines(path, **FIELDS)
    _check_square(graph, report)
    before = source_digest(path)
    dbf = path.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes() + b" ")  # attributes changed, geometry not
    assert source_digest(path) != before


def test_missing_pyogrio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyogrio", None)
    path = tmp_path / "roads.gpkg"
    path.write_bytes(b"not read")
    with pytest.raises(InvalidInput, match=re.escape("pip install 'fangkong[gis]'")):
        graph_from_lines(path)


# ----------------------------------------------------------------------------- arrays


def test_graph_from_arrays_keeps_the_strong_component() -> None:
    lon = [120.0, 120.001, 120.002, 120.003]
    lat = [30.0, 30.0, 30.0, 30.0]
    # 0 <-> 1 <-> 2, and 2 -> 3 (a trap)
    graph, report = graph_from_arrays(
        lon, lat, [0, 1, 1, 2, 2], [1, 0, 2, 1, 3], [10.0, 10.0, 12.0, 12.0, 5.0]
    )
    assert graph.n_nodes == 3 and graph.n_edges == 4 and strongly_connected(graph)
    assert report.components == 2 and report.dropped_nodes == 1 and report.dropped_edges == 1
    assert report.road_km == pytest.approx(
        float(haversine_m(120.0, 30, 120.002, 30)) / 1000, abs=1e-3
    )
    whole, _ = graph_from_arrays(
        lon,
        lat,
        [0, 1, 1, 2, 2],
        [1, 0, 2, 1, 3],
        [10.0, 10.0, 12.0, 12.0, 5.0],
        keep_largest=False,
    )
    assert whole.n_nodes == 4 and whole.n_edges == 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_largest_scc_matches_networkx(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 300, 700
    tails, heads = rng.integers(0, n, m), rng.integers(0, n, m)
    tails, heads = np.concatenate([tails, tails[:50]]), np.concatenate([heads, heads[:50]])
    graph = from_edges(rng.random(n), rng.random(n), tails, heads, rng.random(m + 50))
    before = graph.head.copy()
    kept, n_components, keep = largest_scc(graph)
    assert np.array_equal(graph.head, before)  # the input graph is left alone
    multi = nx.MultiDiGraph()
    multi.add_nodes_from(range(n))
    multi.add_edges_from(zip(tails.tolist(), heads.tolist(), strict=True))
    components = list(nx.strongly_connected_components(multi))
    assert n_components == len(components)
    biggest = max(len(c) for c in components)
    assert set(np.flatnonzero(keep).tolist()) in [c for c in components if len(c) == biggest]
    assert kept.n_nodes == biggest and strongly_connected(kept)
    inside = keep[tails] & keep[heads]
    assert kept.n_edges == int(inside.sum())
    assert np.isclose(kept.time_s.sum(), graph.time_s[keep[graph.tail] & keep[graph.head]].sum())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lat": [0.0]}, "lon has 2 nodes but lat has 1"),
        ({"tails": [0, 1], "heads": [1]}, "same length"),
        ({"heads": [2]}, "node ids in 0..1"),
        ({"tails": [-1]}, "node ids in 0..1"),
        ({"time_s": [-1.0]}, "finite and >= 0"),
        ({"time_s": [float("nan")]}, "finite and >= 0"),
        ({"tails": [], "heads": [], "time_s": []}, "no nodes or no edges"),
    ],
)
def test_from_edges_errors(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "lon": [120.0, 120.001],
        "lat": [30.0, 30.0],
        "tails": [0],
        "heads": [1],
        "time_s": [1.0],
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=re.escape(message)):
        from_edges(args["lon"], args["lat"], args["tails"], args["heads"], args["time_s"])
    with pytest.raises(InvalidInput, match=re.escape(message)):
        graph_from_arrays(args["lon"], args["lat"], args["tails"], args["heads"], args["time_s"])


# ----------------------------------------------------------------------------- cache


@pytest.fixture
def counted_builder() -> Iterator[tuple[list[int], Any]]:
    calls: list[int] = []

    def make(path: Path, profile: Profile) -> Any:
        def build() -> RoadGraph:
            calls.append(1)
            return graph_from_lines(path, profile=profile, **FIELDS)[0]

        return build

    yield calls, make


def test_cache_hit_and_rebuilds(
    tmp_path: Path, square: Path, counted_builder: tuple[list[int], Any]
) -> None:
    calls, make = counted_builder
    cache = tmp_path / "cache"
    g1, hit = load_or_build(square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE))
    assert not hit and len(calls) == 1
    g2, hit = load_or_build(square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE))
    assert hit and len(calls) == 1
    assert np.array_equal(g1.time_s, g2.time_s) and g2.meta == g1.meta
    assert cache_path(cache, g1.meta["cache_key"]).is_file()
    # another profile: rebuilt, the first entry stays
    _, hit = load_or_build(square, PATROL, cache, make(square, PATROL))
    assert not hit and len(calls) == 2
    _, hit = load_or_build(square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE))
    assert hit and len(calls) == 2
    # other options: rebuilt
    _, hit = load_or_build(
        square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE), options={"snap_m": 0.1}
    )
    assert not hit and len(calls) == 3
    # the file changes: rebuilt
    square.write_text(json.dumps(_collection(SQUARE[:4]), ensure_ascii=False), "utf-8")
    g3, hit = load_or_build(square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE))
    assert not hit and len(calls) == 4 and g3.n_nodes == 4
    # a corrupt cache file: rebuilt and replaced
    entry = cache_path(cache, g3.meta["cache_key"])
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    _, hit = load_or_build(square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE))
    assert not hit and len(calls) == 5
    _, hit = load_or_build(square, DEFAULT_PROFILE, cache, make(square, DEFAULT_PROFILE))
    assert hit and len(calls) == 5
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary left


def test_cache_of_the_demo_extract(tmp_path: Path) -> None:
    pbf = tmp_path / "demo.osm.pbf"
    shutil.copyfile(PBF, pbf)
    calls: list[int] = []

    def build() -> RoadGraph:
        calls.append(1)
        return graph_from_osm(pbf)[0]

    first, hit = load_or_build(pbf, DEFAULT_PROFILE, tmp_path, build)
    assert not hit
    second, hit = load_or_build(pbf, DEFAULT_PROFILE, tmp_path, build)
    assert hit and len(calls) == 1
    for name in ("lon", "indptr", "head", "time_s", "road_class", "shape_lat"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name


# ----------------------------------------------------------------------------- CLI


def test_cli_import_and_current_graph(tmp_path: Path, square: Path) -> None:
    app = typer.Typer()
    app.add_typer(network_app, name="network")
    runner = CliRunner()
    data_dir = tmp_path / "data"
    assert current_graph_path(data_dir) is None and load_current(data_dir) is None
    args = [
        "network",
        "import",
        str(square),
        "--data-dir",
        str(data_dir),
        "--direction-field",
        "dir",
        "--speed-field",
        "kmh",
        "--class-field",
        "grade",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "miss" in result.output and "edges" in result.output
    graph = load_current(data_dir)
    assert graph is not None and graph.n_nodes == 5 and graph.n_edges == 7
    assert load_current(data_dir) is graph  # kept in memory while the file is unchanged
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "hit" in result.output
    result = runner.invoke(app, [*args, "--profile", "patrol"])
    assert result.exit_code == 0 and "miss" in result.output and "patrol" in result.output
    current = current_graph_path(data_dir)
    assert current is not None and RoadGraph.load(current).meta["profile"] == "patrol"
    result = runner.invoke(app, ["network", "info", "--data-dir", str(data_dir)])
    assert result.exit_code == 0 and "patrol" in result.output
    result = runner.invoke(
        app,
        [
            "network",
            "import",
            str(square),
            "--data-dir",
            str(data_dir),
            "--direction-field",
            "nope",
        ],
    )
    assert result.exit_code == 2 and "no field 'nope'" in result.output
    odd = tmp_path / "roads.xyz"
    odd.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["network", "import", str(odd), "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "--format" in result.output


def test_the_current_graph_follows_its_pointer_file(tmp_path: Path, square: Path) -> None:
    data_dir = tmp_path / "data"
    runner = CliRunner()
    app = typer.Typer()
    app.add_typer(network_app, name="network")
    result = runner.invoke(
        app,
        ["network", "import", str(square), "--data-dir", str(data_dir), "--direction-field", "dir"],
    )
    assert result.exit_code == 0, result.output
    current = current_graph_path(data_dir)
    assert current is not None and current_graph_path(data_dir) == current  # read once, kept
    pointer = current.parent / "current.json"
    pointer.write_text("{not json", encoding="utf-8")  # changed in place: read again
    with pytest.raises(InvalidInput, match="unreadable"):
        current_graph_path(data_dir)
    pointer.write_text(json.dumps({"graph": current.name}), encoding="utf-8")
    assert current_graph_path(data_dir) == current
    pointer.write_text(json.dumps({"graph": "../elsewhere.npz"}), encoding="utf-8")
    with pytest.raises(InvalidInput, match="names no graph file"):
        current_graph_path(data_dir)
    pointer.unlink()
    assert current_graph_path(data_dir) is None
