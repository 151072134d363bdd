"""An incident is snapped to the road network: the nearest point on a road, where units arrive,
in the API's answer and on the detail page."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import LiveServer
from factories import grid_centre
from fangkong.dispatch import recommend
from fangkong.network.graph import haversine_m


def test_the_answer_names_the_road_point_and_its_distance(live_server: LiveServer,
                                                          live_network: Path) -> None:
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    with live_server.client(live_server.admin_token()) as admin:
        made = admin.post("/api/v1/incidents", headers={"Idempotency-Key": "road-access-1"},
                          json={"category": "traffic", "subtype": "collision",
                                "priority": "P2", "source": "call", "lon": lon, "lat": lat})
        assert made.status_code == 201, made.text
        road = made.json()["road"]
        assert road is not None
        # the distance is the one between the scene and the road point, and within reach
        apart = float(haversine_m(np.array([lon]), np.array([lat]), np.array([road["lon"]]),
                                  np.array([road["lat"]]))[0])
        assert road["distance_m"] == pytest.approx(apart, abs=1.0)
        assert road["distance_m"] < recommend.ROAD_ACCESS_MAX_M
        # the same on a read, and on the detail page
        again = admin.get(f"/api/v1/incidents/{made.json()['id']}").json()["road"]
        assert again == road
        page = admin.get(f"/incidents/{made.json()['id']}")
        assert page.status_code == 200
        assert f"{road['lon']:.6f}" in page.text and "road-access" in page.text


def test_no_road_in_reach_is_said(live_server: LiveServer, live_network: Path) -> None:
    from fangkong.network import service as network_service

    network = network_service.current(live_network.parent)
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    # 0.05 degrees of latitude south of the street grid: more than 5 km from any road
    assert recommend.road_access(network, lon, lat - 0.05) is None
    near = recommend.road_access(network, lon, lat)
    assert near is not None and math.isfinite(near.distance_m)
