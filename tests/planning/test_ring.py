"""The control ring's closure on a hand-made network: crossings by road class, checkpoints
within the snapping distance, shares by count and weight, and the next checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from fangkong.core.errors import InvalidInput
from fangkong.network.graph import from_edges
from fangkong.network.profile import RoadClass
from fangkong.planning import ring

# The boundary: a 0.1° square. Each road is (class, from, to, two-way).
ROADS = [
    ("A", RoadClass.PRIMARY, (119.95, 30.05), (120.02, 30.05), True),  # west
    ("B", RoadClass.MOTORWAY, (120.08, 30.05), (120.15, 30.05), False),  # east, one way
    ("C", RoadClass.RESIDENTIAL, (120.05, 30.08), (120.05, 30.12), True),  # north
    ("D", RoadClass.SECONDARY, (120.03, 30.02), (120.03, 29.97), True),  # south
    ("E", RoadClass.TERTIARY, (120.02, 30.06), (120.08, 30.06), True),  # inside only
    ("F1", RoadClass.TRUNK, (120.07, 30.02), (120.07, 29.97), False),  # a dual carriageway:
    ("F2", RoadClass.TRUNK, (120.0705, 29.97), (120.0705, 30.02), False),  # ~50 m apart
]
POLYGON = box(120.0, 30.0, 120.1, 30.1)


def _graph() -> object:
    lon: list[float] = []
    lat: list[float] = []
    tails: list[int] = []
    heads: list[int] = []
    classes: list[int] = []
    for _, klass, a, b, two_way in ROADS:
        i = len(lon)
        lon += [a[0], b[0]]
        lat += [a[1], b[1]]
        tails.append(i)
        heads.append(i + 1)
        classes.append(int(klass))
        if two_way:
            tails.append(i + 1)
            heads.append(i)
            classes.append(int(klass))
    return from_edges(lon, lat, tails, heads, np.full(len(tails), 10.0), road_class=classes)


def test_crossings_are_found_once_each_with_their_class() -> None:
    found = ring.crossings(_graph(), POLYGON)  # type: ignore[arg-type]
    assert [c["class"] for c in found] == [
        "primary", "motorway", "residential", "secondary", "trunk", "trunk",
    ]  # fmt: skip
    west = found[0]
    assert west["lon"] == pytest.approx(120.0) and west["lat"] == pytest.approx(30.05)


def test_closure_by_count_and_weight_and_the_next_checkpoints() -> None:
    report = ring.closure(
        graph=_graph(),  # type: ignore[arg-type]
        polygon=POLYGON,
        checkpoints=[("K-A", 120.0005, 30.05), ("K-far", 120.05, 30.11)],  # C's is 1.1 km off
        weights=ring.DEFAULT_CLASS_WEIGHTS,
        target=0.6,
        snap_m=200.0,
        k=2,
    )
    assert report["count"] == 6 and report["closed"] == 1
    assert report["share_count"] == pytest.approx(1 / 6)
    total = 6 + 10 + 1 + 4 + 8 + 8
    assert report["share_weighted"] == pytest.approx(6 / total)
    assert report["crossings"][0]["checkpoint"] == "K-A"
    assert report["meets_target"] is False
    assert report["by_class"]["trunk"] == {"crossings": 2, "closed": 0, "weight": 8.0}
    first, second = report["next"]
    # one checkpoint closes both carriageways of the trunk road (16), then the motorway (10)
    assert first["gain_weight"] == 16.0 and len(first["closes"]) == 2
    assert second["gain_weight"] == 10.0
    assert second["share_weighted_after"] == pytest.approx((6 + 16 + 10) / total)


def test_weights_are_editable_and_checked() -> None:
    report = ring.closure(
        graph=_graph(),  # type: ignore[arg-type]
        polygon=POLYGON,
        checkpoints=[("K-A", 120.0, 30.05)],
        weights={**ring.DEFAULT_CLASS_WEIGHTS, "primary": 0.0},
        target=0.8,
        k=0,
    )
    assert report["share_weighted"] == 0.0 and report["next"] == []
    with pytest.raises(InvalidInput):
        ring.check_weights({"footway": 1.0})
    with pytest.raises(InvalidInput):
        ring.closure(graph=_graph(), polygon=POLYGON, checkpoints=[], weights={}, target=0.8,  # type: ignore[arg-type]
                     snap_m=0.0)  # fmt: skip
