"""The road-network API over HTTP on a street grid: routes, rings, travel times, nearest,
matrix."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from shapely.geometry import shape

from conftest import LiveServer
from fangkong.core.errors import NotFound
from fangkong.network import service

CENTRE = {"lon": 120.082, "lat": 30.041}


@pytest.fixture()
def token(live_server: LiveServer, live_network: Path) -> str:
    return live_server.admin_token()


def test_network_info_and_rings(live_server: LiveServer, token: str) -> None:
    with live_server.client(token) as client:
        info = client.get("/api/v1/network").json()
        assert info["nodes"] > 500 and info["edges"] > 2 * info["nodes"] - 100
        rings = client.get("/api/v1/network/isochrone", params=CENTRE).json()
        thresholds = [f["properties"]["threshold_s"] for f in rings["features"]]
        assert thresholds == [60.0, 180.0, 300.0]
        polygons = [shape(f["geometry"]) for f in rings["features"]]
        assert polygons[0].area < polygons[1].area < polygons[2].area
        # Nested: each ring (buffered roads) lies within the next, up to the buffer's facets.
        assert polygons[0].difference(polygons[1]).area < 0.01 * polygons[0].area
        assert rings["properties"]["snap_distance_m"] < 150

        bad = client.get("/api/v1/network/isochrone", params={**CENTRE, "thresholds": "60,x"})
        assert bad.status_code == 422 and bad.json()["field"] == "thresholds"
        far = client.get("/api/v1/network/isochrone", params={"lon": 121.0, "lat": 31.0})
        assert far.status_code == 422 and "from every road" in far.json()["message"]


def test_travel_times_nearest_and_matrix_agree(live_server: LiveServer, token: str) -> None:
    targets = [{"lon": 120.01 + 0.013 * i, "lat": 30.005 + 0.007 * i} for i in range(10)]
    with live_server.client(token) as client:
        times = client.post(
            "/api/v1/network/travel-times", json={"source": CENTRE, "targets": targets}
        ).json()["time_s"]
        assert all(t is not None and t > 0 for t in times)
        nearest = client.post(
            "/api/v1/network/nearest", json={"source": CENTRE, "targets": targets, "k": 3}
        ).json()
        expected = sorted(range(len(times)), key=lambda i: times[i])[:3]
        assert [n["target"] for n in nearest] == expected
        assert [n["time_s"] for n in nearest] == pytest.approx(
            [times[i] for i in expected], abs=1e-6
        )
        cutoff = sorted(times)[4] + 1e-3
        grid = client.post(
            "/api/v1/network/matrix",
            json={"sources": [CENTRE], "targets": targets, "cutoff_s": cutoff},
        ).json()
        assert grid["shape"] == [1, 10]
        assert sorted(grid["target"]) == sorted(sorted(range(10), key=lambda i: times[i])[:5])
        too_big = client.post(
            "/api/v1/network/matrix",
            json={"sources": [CENTRE] * 1001, "targets": [CENTRE] * 1000, "cutoff_s": 60},
        )
        assert too_big.status_code == 422 and "1,000,000" in too_big.json()["message"]
        assert client.get("/api/v1/network").status_code == 200
    with live_server.client() as anonymous:
        assert anonymous.get("/api/v1/network").status_code == 401


def test_route_is_a_line_from_source_to_target_with_the_travel_time(
    live_server: LiveServer, token: str
) -> None:
    target = {"lon": 120.11, "lat": 30.07}
    params = {
        "from_lon": CENTRE["lon"],
        "from_lat": CENTRE["lat"],
        "to_lon": target["lon"],
        "to_lat": target["lat"],
    }
    with live_server.client(token) as client:
        (want,) = client.post(
            "/api/v1/network/travel-times", json={"source": CENTRE, "targets": [target]}
        ).json()["time_s"]
        answer = client.get("/api/v1/network/route", params=params)
        assert answer.status_code == 200
        feature = answer.json()
        line = shape(feature["geometry"])
        assert feature["properties"]["time_s"] == pytest.approx(want, abs=1e-3)
        assert feature["properties"]["edges"] > 3
        # the line runs from the snapped source to the snapped target, along the roads
        start, end = line.coords[0], line.coords[-1]
        assert abs(start[0] - CENTRE["lon"]) < 0.002 and abs(end[0] - target["lon"]) < 0.002
        assert line.length > math.dist(start, end)
        metres_per_degree = 111_320 * math.cos(math.radians(30.04))
        assert feature["properties"]["length_m"] == pytest.approx(
            line.length * metres_per_degree, rel=0.15
        )
        far = client.get("/api/v1/network/route", params={**params, "to_lon": 121.0})
        assert far.status_code == 422 and far.json()["field"] == "target"


def test_no_network_is_a_clear_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no road network has been imported"):
        service.current(tmp_path)
