"""Reading the demo county's OSM extract: boundaries, drivable roads, address points."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon

from fangkong.demo import osm
from fangkong.demo.tessellate import area_m2

PBF = Path(osm.__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"
PBF_SHA256 = "b8b6c7f2122bd46a65b1d1c669b47c20df4f784a501ace3221d5ea6053121ecc"

OBERLAND = {"Vaduz", "Schaan", "Balzers", "Triesen", "Triesenberg", "Planken"}
UNTERLAND = {"Eschen", "Mauren", "Gamprin", "Ruggell", "Schellenberg"}
# Official municipal areas in hectares (the bfs:GEMFLAECHE tags on the relations).
AREA_HA = {
    "Vaduz": 1728,
    "Schaan": 2695,
    "Balzers": 1972,
    "Triesen": 2646,
    "Triesenberg": 2972,
    "Planken": 536,
    "Eschen": 1039,
    "Mauren": 747,
    "Gamprin": 617,
    "Ruggell": 739,
    "Schellenberg": 356,
}
NOT_DRIVABLE = {"footway", "path", "track", "cycleway", "steps", "pedestrian", "construction"}


@pytest.fixture(scope="module")
def boundaries() -> list[osm.Boundary]:
    return osm.read_boundaries(PBF)


@pytest.fixture(scope="module")
def roads() -> list[osm.Road]:
    return osm.read_roads(PBF)


@pytest.fixture(scope="module")
def addresses() -> list[osm.AddressPoint]:
    return osm.read_address_points(PBF)


def _level(boundaries: list[osm.Boundary], level: int) -> dict[str, osm.Boundary]:
    return {b.name: b for b in boundaries if b.admin_level == level}


def test_packaged_extract_is_the_documented_file() -> None:
    assert hashlib.sha256(PBF.read_bytes()).hexdigest() == PBF_SHA256
    readme = (PBF.parent / "README.md").read_text(encoding="utf-8")
    assert PBF_SHA256 in readme
    assert "OpenStreetMap contributors" in readme
    assert "ODbL" in readme


def test_boundary_levels_and_names(boundaries: list[osm.Boundary]) -> None:
    assert sorted(b.admin_level for b in boundaries) == [2] + [6] * 2 + [8] * 11
    (country,) = _level(boundaries, 2).values()
    assert country.name == "Liechtenstein"
    assert country.name_en == "Liechtenstein"
    assert set(_level(boundaries, 6)) == {"Wahlkreis Oberland", "Wahlkreis Unterland"}
    assert set(_level(boundaries, 8)) == OBERLAND | UNTERLAND
    assert all(b.osm_type == "relation" and b.osm_id > 0 for b in boundaries)


def test_boundary_geometries_are_valid_multipolygons(boundaries: list[osm.Boundary]) -> None:
    for b in boundaries:
        assert isinstance(b.geometry, MultiPolygon), b.name
        assert b.geometry.is_valid and not b.geometry.is_empty, b.name
        minx, miny, maxx, maxy = b.geometry.bounds
        assert 9.4 < minx < maxx < 9.7 and 47.0 < miny < maxy < 47.3, b.name


def test_municipalities_tile_the_country(boundaries: list[osm.Boundary]) -> None:
    country = _level(boundaries, 2)["Liechtenstein"].geometry
    municipalities = _level(boundaries, 8)
    for name, muni in municipalities.items():
        outside = muni.geometry.difference(country).area
        assert outside <= 1e-9 * muni.geometry.area, name
    union = shapely.union_all([m.geometry for m in municipalities.values()])
    assert union.symmetric_difference(country).area <= 1e-9 * country.area


def test_municipalities_fall_in_their_district(boundaries: list[osm.Boundary]) -> None:
    districts = _level(boundaries, 6)
    for name, muni in _level(boundaries, 8).items():
        expected = "Wahlkreis Oberland" if name in OBERLAND else "Wahlkreis Unterland"
        share = muni.geometry.intersection(districts[expected].geometry).area
        assert share >= (1 - 1e-9) * muni.geometry.area, name


def test_municipal_areas_match_official_figures(boundaries: list[osm.Boundary]) -> None:
    for name, muni in _level(boundaries, 8).items():
        assert area_m2(muni.geometry) == pytest.approx(AREA_HA[name] * 1e4, rel=0.005), name
    country = _level(boundaries, 2)["Liechtenstein"].geometry
    assert area_m2(country) == pytest.approx(160.5e6, rel=0.005)


def test_exclaves_are_kept(boundaries: list[osm.Boundary]) -> None:
    municipalities = _level(boundaries, 8)
    assert len(municipalities["Vaduz"].geometry.geoms) == 7
    assert len(municipalities["Planken"].geometry.geoms) == 5
    assert len(municipalities["Mauren"].geometry.geoms) == 1


def test_roads_are_drivable(roads: list[osm.Road]) -> None:
    assert len(roads) > 1000
    classes = {r.highway for r in roads}
    assert classes <= osm.DRIVABLE_HIGHWAYS
    assert not classes & NOT_DRIVABLE
    assert {"primary", "secondary", "residential", "service"} <= classes
    assert len({r.osm_id for r in roads}) == len(roads)
    for r in roads:
        assert isinstance(r.geometry, LineString)
        assert len(r.geometry.coords) >= 2 and r.geometry.length > 0
    assert any(r.oneway for r in roads)
    assert any(r.name == "Landstrasse" for r in roads)


def test_address_points(addresses: list[osm.AddressPoint], boundaries: list[osm.Boundary]) -> None:
    assert len(addresses) > 900
    assert {a.osm_type for a in addresses} == {"node", "way", "relation"}
    keys = [(a.osm_type, a.osm_id) for a in addresses]
    assert len(set(keys)) == len(keys)
    for a in addresses:
        assert a.street and a.street == a.street.strip()
        assert a.housenumber and a.housenumber == a.housenumber.strip()
        assert a.postcode is None or a.postcode == a.postcode.strip()
        assert 9.4 < a.lon < 9.7 and 47.0 < a.lat < 47.3
    country = _level(boundaries, 2)["Liechtenstein"].geometry
    inside = shapely.contains_xy(country, [a.lon for a in addresses], [a.lat for a in addresses])
    assert inside.mean() > 0.95  # a few lie across the border in Feldkirch (Austria)


_SYNTHETIC_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" version="1" lat="47.100" lon="9.500"/>
  <node id="2" version="1" lat="47.100" lon="9.510"/>
  <node id="3" version="1" lat="47.110" lon="9.510"/>
  <node id="4" version="1" lat="47.110" lon="9.500"/>
  <node id="5" version="1" lat="47.105" lon="9.505">
    <tag k="addr:place" v="Malbun"/>
    <tag k="addr:housenumber" v=" 7 "/>
    <tag k="addr:postcode" v="9497 "/>
  </node>
  <node id="6" version="1" lat="47.106" lon="9.506">
    <tag k="addr:housenumber" v="8"/>
  </node>
  <way id="10" version="1">
    <nd ref="1"/><nd ref="2"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="-1"/><tag k="name" v="Im Bretscha"/>
  </way>
  <way id="11" version="1">
    <nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="service"/><tag k="access" v="private"/>
  </way>
  <way id="12" version="1">
    <nd ref="3"/><nd ref="4"/>
    <tag k="highway" v="footway"/>
  </way>
  <way id="13" version="1">
    <nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="unclassified"/><tag k="access" v="no"/>
    <tag k="motor_vehicle" v="yes"/>
  </way>
  <way id="14" version="1">
    <nd ref="1"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="motor_vehicle" v="no"/>
  </way>
  <way id="15" version="1">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="yes"/><tag k="addr:street" v="Städtle"/>
    <tag k="addr:housenumber" v="32"/><tag k="addr:city" v="Vaduz"/>
  </way>
  <way id="16" version="1">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="tertiary"/><tag k="junction" v="roundabout"/>
  </way>
</osm>
"""


def test_synthetic_tags(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm"
    path.write_text(_SYNTHETIC_OSM, encoding="utf-8")

    roads = {r.osm_id: r for r in osm.read_roads(path)}
    assert set(roads) == {10, 13, 16}  # private, footway and motor_vehicle=no are dropped
    assert roads[10].oneway and roads[10].name == "Im Bretscha"
    assert list(roads[10].geometry.coords) == [(9.51, 47.1), (9.5, 47.1)]  # oneway=-1 reversed
    assert not roads[13].oneway  # access=no overridden by motor_vehicle=yes
    assert roads[16].oneway  # roundabouts are one-way

    points = {(a.osm_type, a.osm_id): a for a in osm.read_address_points(path)}
    assert set(points) == {("node", 5), ("way", 15)}
    malbun = points[("node", 5)]
    assert (malbun.street, malbun.housenumber, malbun.postcode, malbun.place) == (
        "Malbun",
        "7",
        "9497",
        "Malbun",
    )
    building = points[("way", 15)]
    assert (building.street, building.place) == ("Städtle", "Vaduz")
    assert building.lon == pytest.approx(9.505) and building.lat == pytest.approx(47.105)

    assert osm.read_boundaries(path) == []
