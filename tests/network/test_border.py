"""Cross-border graphs: a county's roads plus its neighbours' within a buffer (issue 23)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point, box

from fangkong.core.errors import InvalidInput
from fangkong.network import service as network_service
from fangkong.network.border import (
    border_data_dir,
    buffered,
    build_border_network,
    county_network_dir,
    imported_counties,
)
from fangkong.network.cache import cached_hierarchy
from fangkong.network.graph import haversine_m
from fangkong.network.service import Network
from fangkong.network.store import county_data_dir, load_current, network_dir
from network.border_helpers import (
    EAST_COUNTY,
    FAR,
    INCIDENT,
    MIDDLE,
    U1,
    U2,
    WEST_BOX,
    WEST_COUNTY,
    write_counties,
)


@pytest.fixture()
def province(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    write_counties(data_dir, tmp_path / "sources")
    return data_dir


def _time(network: Network, start: tuple[float, float], end: tuple[float, float]) -> float:
    source = network_service.snap(network, [start[0]], [start[1]]).points
    target = network_service.snap(network, [end[0]], [end[1]]).points
    return float(network.engine.one_to_many(source, target)[0])


def _county(data_dir: Path, code: str) -> Network:
    found = network_service.for_county(data_dir, code)
    assert found is not None
    return found


def test_the_border_graph_ranks_the_unit_that_drives_across_the_border_first(
    province: Path,
) -> None:
    west = _county(province, WEST_COUNTY)
    east = _county(province, EAST_COUNTY)
    # on the county's own graph U1 must take the detour inside T-D1: U2 reads nearer
    assert _time(west, U1, INCIDENT) > _time(west, U2, INCIDENT)
    built = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    assert built.neighbours == (EAST_COUNTY,) and not built.hit
    assert county_network_dir(province, WEST_COUNTY) == border_data_dir(province, WEST_COUNTY)
    border = _county(province, WEST_COUNTY)
    assert border.graph.meta["cache_key"] == built.graph.meta["cache_key"]
    # across the border U1 is nearer; its time is the route through T-D2's primary road
    # (T-D2's own graph holds that whole route), U2's is unchanged
    assert _time(border, U1, INCIDENT) < _time(border, U2, INCIDENT)
    assert _time(border, U1, INCIDENT) == pytest.approx(_time(east, U1, INCIDENT), abs=1e-6)
    assert _time(border, U2, INCIDENT) == pytest.approx(_time(west, U2, INCIDENT), abs=1e-6)
    # the neighbour's own network is untouched
    assert county_network_dir(province, EAST_COUNTY) == county_data_dir(province, EAST_COUNTY)


def test_node_ids_are_stable_and_mapped(province: Path) -> None:
    west = load_current(county_data_dir(province, WEST_COUNTY))
    east = load_current(county_data_dir(province, EAST_COUNTY))
    assert west is not None and east is not None
    built = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    graph, nodes = built.graph, built.node_map
    n = west.n_nodes
    assert built.county_nodes == n and built.nodes == graph.n_nodes > n
    np.testing.assert_array_equal(graph.lon[:n], west.lon)
    np.testing.assert_array_equal(graph.lat[:n], west.lat)
    assert nodes.codes == (WEST_COUNTY, EAST_COUNTY)
    np.testing.assert_array_equal(nodes.county[:n], 0)
    np.testing.assert_array_equal(nodes.node[:n], np.arange(n))
    sources = {0: west, 1: east}
    for i in range(graph.n_nodes):
        source = sources[int(nodes.county[i])]
        assert graph.lon[i] == source.lon[nodes.node[i]]
        assert graph.lat[i] == source.lat[nodes.node[i]]
    # every edge of the county graph is there with its time
    for e in range(west.n_edges):
        out = range(int(graph.indptr[west.tail[e]]), int(graph.indptr[west.tail[e] + 1]))
        assert any(graph.head[f] == west.head[e] and graph.time_s[f] == west.time_s[e] for f in out)
    # the ways both counties hold are taken once
    pairs = list(zip(graph.tail.tolist(), graph.head.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    # shapes follow their edges
    for e in range(graph.n_edges):
        shape = graph.edge_shape(e)
        assert tuple(shape[0]) == (graph.lon[graph.tail[e]], graph.lat[graph.tail[e]])
        assert tuple(shape[-1]) == (graph.lon[graph.head[e]], graph.lat[graph.head[e]])


def test_the_buffer_bounds_the_neighbours_roads(province: Path) -> None:
    def has(graph_lon: np.ndarray, graph_lat: np.ndarray, point: tuple[float, float]) -> bool:
        return bool(np.any((graph_lon == point[0]) & (graph_lat == point[1])))

    wide = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    assert has(wide.graph.lon, wide.graph.lat, MIDDLE)
    assert not has(wide.graph.lon, wide.graph.lat, FAR)
    # 300 m reaches no node of T-D2's own roads: the county's graph alone, U1 ranked behind
    narrow = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=300.0)
    assert narrow.neighbours == (EAST_COUNTY,)  # its crossing ways' ends lie in the buffer
    assert not has(narrow.graph.lon, narrow.graph.lat, MIDDLE)
    border = _county(province, WEST_COUNTY)
    assert border.graph.meta["cache_key"] == narrow.graph.meta["cache_key"]
    assert _time(border, U1, INCIDENT) > _time(border, U2, INCIDENT)


def test_the_border_graph_and_its_hierarchy_are_cached(province: Path) -> None:
    first = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    again = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    assert not first.hit and again.hit and again.path == first.path
    np.testing.assert_array_equal(again.node_map.node, first.node_map.node)
    assert cached_hierarchy(again.graph, network_dir(border_data_dir(province, WEST_COUNTY)))
    other = build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2500.0)
    assert not other.hit and other.path != first.path


def test_faults_are_named(province: Path, tmp_path: Path) -> None:
    polygon = box(*WEST_BOX)
    for buffer_m in (0.0, -5.0, float("nan"), 1e9):
        with pytest.raises(InvalidInput) as caught:
            build_border_network(province, WEST_COUNTY, polygon=polygon, buffer_m=buffer_m)
        assert caught.value.field == "border_buffer_m"
    with pytest.raises(InvalidInput) as caught:
        build_border_network(province, "T-D9", polygon=polygon, buffer_m=1000.0)
    assert caught.value.key == "error.network.county_not_imported"
    with pytest.raises(InvalidInput):
        build_border_network(
            province, WEST_COUNTY, polygon=polygon, buffer_m=1000.0, neighbours=["T-D9"]
        )
    assert imported_counties(province) == [WEST_COUNTY, EAST_COUNTY]
    assert imported_counties(tmp_path / "nothing") == []
    assert network_service.for_county(province, "T-D9") is None


def test_buffered_grows_by_metres() -> None:
    square = box(120.0, 30.0, 120.01, 30.01)
    grown = buffered(square, 1000.0)
    east = (120.01 + 0.0099, 30.005)  # ~953 m east of the square
    west = (120.0 - 0.0106, 30.005)  # ~1,021 m west
    assert haversine_m(120.01, 30.005, *east) < 1000 < haversine_m(120.0, 30.005, *west)
    assert grown.contains(Point(*east)) and not grown.contains(Point(*west))
    assert buffered(square, 0.0) is square


def test_cli_builds_the_border_graph_from_the_countys_polygon(tmp_path: Path) -> None:
    import typer
    from sqlalchemy.orm import Session
    from typer.testing import CliRunner

    from factories import county_geojson
    from fangkong.areas import service as area_service
    from fangkong.core.audit import SYSTEM
    from fangkong.core.commands import settings_for, upgrade
    from fangkong.core.db import make_engine
    from fangkong.network.cli import network_app

    data_dir = tmp_path / "data"
    settings = settings_for(data_dir)
    upgrade(settings)
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        session.commit()
    engine.dispose()
    write_counties(data_dir, tmp_path / "sources")
    app = typer.Typer()
    app.add_typer(network_app, name="network")
    runner = CliRunner()
    west = str(tmp_path / "sources" / f"{WEST_COUNTY}.geojson")
    base = ["--data-dir", str(data_dir), "--class-field", "class", "--county", WEST_COUNTY]
    result = runner.invoke(app, ["network", "import", west, *base, "--border-buffer-m", "2000"])
    assert result.exit_code == 0, result.output
    assert "cross-border road network of T-D1" in result.output and EAST_COUNTY in result.output
    border = _county(data_dir, WEST_COUNTY)
    assert _time(border, U1, INCIDENT) < _time(border, U2, INCIDENT)
    result = runner.invoke(
        app, ["network", "border", "--county", WEST_COUNTY, "--buffer-m", "2000",
              "--data-dir", str(data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0 and "hit" in result.output
    east = str(tmp_path / "sources" / f"{EAST_COUNTY}.geojson")  # as if the province's file
    result = runner.invoke(
        app, ["network", "border", "--county", WEST_COUNTY, "--source", east, "--class-field",
              "class", "--buffer-m", "2000", "--data-dir", str(data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "@province" in result.output and "miss" in result.output
    assert (data_dir / "province" / "network").is_dir()
    border = _county(data_dir, WEST_COUNTY)
    assert _time(border, U1, INCIDENT) < _time(border, U2, INCIDENT)
    result = runner.invoke(
        app, ["network", "border", "--county", "T-D9", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 2 and "T-D9" in result.output
    result = runner.invoke(app, ["network", "import", west, "--data-dir", str(data_dir),
                                 "--border-buffer-m", "2000"])  # fmt: skip
    assert result.exit_code == 2 and "--county" in result.output


def test_a_process_keeps_each_countys_network_while_it_turns_between_them(
    province: Path,
) -> None:
    """A batch worker or a province's server turns from county to county: each county's
    network stays loaded (it was reloaded from disk, its engine rebuilt, at every turn)."""
    west = _county(province, WEST_COUNTY)
    east = _county(province, EAST_COUNTY)
    assert _county(province, WEST_COUNTY) is west
    assert _county(province, EAST_COUNTY) is east
    build_border_network(province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
    border = _county(province, WEST_COUNTY)
    assert border is not west and _county(province, EAST_COUNTY) is east
    assert _county(province, WEST_COUNTY) is border


def test_the_border_graph_cut_from_a_province_extract(province: Path, tmp_path: Path) -> None:
    """The same roads taken from one file of the whole province (a GIS layer here; an
    ``.osm.pbf`` alike) instead of the neighbours' graphs: the same ranking and times."""
    import json

    from fangkong.network.border import SOURCE_LABEL, source_graph
    from network.border_helpers import EAST_ROADS, WEST_ROADS

    whole = tmp_path / "province.geojson"
    features = WEST_ROADS + [f for f in EAST_ROADS if f not in WEST_ROADS]
    whole.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    extract, hit = source_graph(province, whole, class_field="class")
    assert not hit and source_graph(province, whole, class_field="class")[1]
    built = build_border_network(
        province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0, source=extract
    )
    assert built.neighbours == (SOURCE_LABEL,) and built.node_map.codes[1] == SOURCE_LABEL
    west = load_current(county_data_dir(province, WEST_COUNTY))
    assert west is not None
    np.testing.assert_array_equal(built.graph.lon[: west.n_nodes], west.lon)
    assert not has_far(built.graph.lon)
    cut = _county(province, WEST_COUNTY)
    assert cut.graph.meta["cache_key"] == built.graph.meta["cache_key"]
    from_neighbours = build_border_network(
        province, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0
    )
    border = _county(province, WEST_COUNTY)
    assert (
        border.graph.meta["cache_key"]
        == from_neighbours.graph.meta["cache_key"]
        != (built.graph.meta["cache_key"])
    )
    assert _time(cut, U1, INCIDENT) < _time(cut, U2, INCIDENT)
    for start in (U1, U2):
        assert _time(cut, start, INCIDENT) == pytest.approx(_time(border, start, INCIDENT))
    with pytest.raises(InvalidInput):
        source_graph(province, tmp_path / "nothing.osm.pbf")


def has_far(lon: np.ndarray) -> bool:
    return bool(np.any(lon == FAR[0]))
