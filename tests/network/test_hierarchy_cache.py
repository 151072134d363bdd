"""Per-county contraction hierarchies on disk: a restart loads them, a changed network
rebuilds them, and a hierarchy is taken only for the graph it was built for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fangkong.core.errors import InvalidInput
from fangkong.demo import osm as demo_osm
from fangkong.network import cache, engine, service, store
from fangkong.network.cache import cached_hierarchy, graph_digest, load_or_build_hierarchy
from fangkong.network.ch import ContractionHierarchy, build_hierarchy
from fangkong.network.graph import RoadGraph
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import county_data_dir, import_and_activate, network_dir
from fangkong.network.synthetic import grid_city

PBF = Path(demo_osm.__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"


def _restart() -> None:
    """What a new server process starts with: no graph, pointer or network in memory."""
    service._current.clear()
    store._loaded.clear()
    store._pointers.clear()


class _Builds:
    """Counts contraction hierarchy builds (wherever they happen)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = build_hierarchy

        def counted(graph: RoadGraph) -> ContractionHierarchy:
            self.count += 1
            return real(graph)

        monkeypatch.setattr(cache, "build_hierarchy", counted)
        monkeypatch.setattr(engine, "build_hierarchy", counted)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> _Builds:
    return _Builds(monkeypatch)


def test_a_restart_loads_each_countys_hierarchy(tmp_path: Path, builds: _Builds) -> None:
    north = county_data_dir(tmp_path, "C-north")
    south = county_data_dir(tmp_path, "C-south")
    import_and_activate(north, PBF, DEFAULT_PROFILE)
    slow = DEFAULT_PROFILE.model_copy(update={"emergency": False})
    import_and_activate(south, PBF, slow)
    assert builds.count == 2  # one per county, at import
    assert len(list(network_dir(north).glob("ch-*.npz"))) == 1
    assert len(list(network_dir(south).glob("ch-*.npz"))) == 1
    _restart()
    for county in (north, south):
        network = service.current(county)
        hierarchy = network.engine.hierarchy
        assert hierarchy is not None
        assert hierarchy.meta["graph_digest"] == graph_digest(network.graph)
        # and it answers: the travel time of a pair equals plain Dijkstra's
        plain = engine.Engine(network.graph, hierarchy=None)
        targets = np.arange(0, network.graph.n_nodes, 97)
        got = network.engine.one_to_many(5, targets)
        want = plain.one_to_many(5, targets)
        np.testing.assert_allclose(got, want, rtol=1e-9)
    assert builds.count == 2  # nothing rebuilt after the restart
    # two counties, two networks: the slower profile gives longer times
    times = [service.current(c).graph.time_s.sum() for c in (north, south)]
    assert times[1] > times[0]


def test_a_changed_network_rebuilds_the_hierarchy(tmp_path: Path, builds: _Builds) -> None:
    county = county_data_dir(tmp_path, "C1")
    import_and_activate(county, PBF, DEFAULT_PROFILE)
    first = service.current(county).engine.hierarchy
    assert builds.count == 1 and first is not None
    # the county's roads imported again with other speeds: a new graph, a new hierarchy
    import_and_activate(county, PBF, DEFAULT_PROFILE.model_copy(update={"emergency_factor": 1.1}))
    assert builds.count == 2
    _restart()
    network = service.current(county)
    second = network.engine.hierarchy
    assert second is not None and builds.count == 2
    assert second.meta["graph_digest"] == graph_digest(network.graph)
    assert second.meta["graph_digest"] != first.meta["graph_digest"]


def test_a_hierarchy_of_another_graph_under_the_same_key_is_refused(
    tmp_path: Path, builds: _Builds
) -> None:
    graph = grid_city(900, seed=3)
    graph.meta["cache_key"] = "k" * 64
    _, hit = load_or_build_hierarchy(graph, tmp_path)
    assert not hit and builds.count == 1
    assert cached_hierarchy(graph, tmp_path) is not None
    # the same key, other travel times (an edited cache, an importer's fix)
    changed = grid_city(900, seed=3)
    changed.meta["cache_key"] = graph.meta["cache_key"]
    changed.time_s[0] += 1.0
    assert cached_hierarchy(changed, tmp_path) is None
    again, hit = load_or_build_hierarchy(changed, tmp_path)
    assert not hit and builds.count == 2
    assert again.meta["graph_digest"] == graph_digest(changed)
    assert cached_hierarchy(graph, tmp_path) is None  # the file now holds the new one


@pytest.mark.parametrize("code", ["", "..", "../x", "a/b", "a\\b", ".hidden", "x" * 65, "区"])
def test_county_codes_name_a_folder_only(tmp_path: Path, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        county_data_dir(tmp_path, code)
    assert info.value.field == "county"


def test_county_folders(tmp_path: Path) -> None:
    assert county_data_dir(tmp_path, "340123") == tmp_path / "counties" / "340123"
    assert county_data_dir(tmp_path, "C_1.a-b").parent == tmp_path / "counties"
