"""An incident is snapped to the road network: the nearest point on a road, where units arrive,
in the API's answer and on the detail page."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import LiveServer
from factories import grid_centre
from fangkong.dispatch import recommend
from fangkong.network.graph import haversine_m


def test_the_answer_names_the_road_point_and_its_distance(
    live_server: LiveServer, live_network: Path
) -> None:
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    with live_server.client(live_server.admin_token()) as admin:
        made = admin.post(
            "/api/v1/incidents",
            headers={"Idempotency-Key": "road-access-1"},
            json={
                "category": "traffic",
                "subtype": "collision",
                "priority": "P2",
                "source": "call",
                "lon": lon,
                "lat": lat,
            },
        )
        assert made.status_code == 201, made.text
        road = made.json()["road"]
        assert road is not None
        # the distance is the one between the scene and the road point, and within reach
        apart = float(
            haversine_m(
                np.array([lon]), np.array([lat]), np.array([road["lon"]]), np.array([road["lat"]])
            )[0]
        )
        assert road["distance_m"] == pytest.approx(apart, abs=1.0)
        assert road["distance_m"] < recommend.ROAD_ACCESS_MAX_M
        # the same on a read, and on the detail page
        again = admin.get(f"/api/v1/incidents/{made.json()['id']}").json()["road"]
        assert again == road
        page = admin.get(f"/incidents/{made.json()['id']}")
        assert page.status_code == 200
        assert f"{road['lon']:.6f}" in page.text and "road-access" in page.text


def test_intakes_answered_in_one_batch_each_get_their_own_road(
    live_server: LiveServer, live_network: Path
) -> None:
    # Sent at once, they are written (and snapped) in shared batches.
    grids = ["T-D1-S1-B1-G1", "T-D1-S2-B2-G2", "T-D2-S1-B2-G1", "T-D2-S2-B1-G2"]
    scenes = [
        (lon + dx, lat + dy)
        for lon, lat in map(grid_centre, grids)
        for dx, dy in ((0.0, 0.0), (0.0004, 0.0002), (-0.0003, 0.0005))
    ]
    token = live_server.admin_token()

    def post(i: int) -> dict[str, object]:
        lon, lat = scenes[i]
        with live_server.client(token) as client:
            made = client.post(
                "/api/v1/incidents",
                headers={"Idempotency-Key": f"roads-{i}"},
                json={
                    "category": "traffic",
                    "subtype": "collision",
                    "priority": "P2",
                    "source": "call",
                    "lon": lon,
                    "lat": lat,
                },
            )
        assert made.status_code == 201, made.text
        return dict(made.json())

    with ThreadPoolExecutor(len(scenes)) as pool:
        answers = list(pool.map(post, range(len(scenes))))
    for (lon, lat), answer in zip(scenes, answers, strict=True):
        assert (answer["lon"], answer["lat"]) == pytest.approx((lon, lat))
        road = answer["road"]
        assert isinstance(road, dict)
        apart = float(
            haversine_m(
                np.array([lon]), np.array([lat]), np.array([road["lon"]]), np.array([road["lat"]])
            )[0]
        )
        assert road["distance_m"] == pytest.approx(apart, abs=1.0)
        assert apart < recommend.ROAD_ACCESS_MAX_M
    assert len(
        {
            (a["road"]["lon"], a["road"]["lat"])
            for a in answers  # type: ignore[index]
        }
    ) == len(scenes)


def test_no_road_in_reach_is_said(live_server: LiveServer, live_network: Path) -> None:
    from fangkong.network import service as network_service

    network = network_service.current(live_network.parent)
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    # 0.05 degrees of latitude south of the street grid: more than 5 km from any road
    assert recommend.road_access(network, lon, lat - 0.05) is None
    near = recommend.road_access(network, lon, lat)
    assert near is not None and math.isfinite(near.distance_m)
