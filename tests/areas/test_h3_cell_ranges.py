"""areas.geometry.h3_cell_ranges: every point of a box has its cell in one of the ranges."""

from __future__ import annotations

import numpy as np
import pytest

from fangkong.areas.geometry import h3_cell, h3_cell_ranges


@pytest.mark.parametrize(
    "box",
    [
        (120.0, 30.0, 120.16, 30.08),  # a county
        (120.05, 30.04, 120.0501, 30.0401),  # a facility and its 100 m
        (119.0, 29.0, 121.0, 31.0),  # a province
        (-0.01, 51.49, 0.01, 51.51),  # across the prime meridian
        (81.3306, 47.66018, 81.3777, 47.66096),  # 3.5 km by 87 m: narrower than a cell
        (120.0, 30.0, 120.0004, 30.3),  # 33 km by 40 m
    ],
)
def test_every_point_of_the_box_is_in_a_range(box: tuple[float, float, float, float]) -> None:
    west, south, east, north = box
    ranges = h3_cell_ranges(west, south, east, north)
    assert 0 < len(ranges) <= 64
    assert all(len(low) == len(high) == 15 and low <= high for low, high in ranges)
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(west, east, 3000), [west, east, west, east]])
    lat = np.concatenate([rng.uniform(south, north, 3000), [south, south, north, north]])
    for x, y in zip(lon, lat, strict=True):
        cell = h3_cell(float(x), float(y))
        assert any(low <= cell <= high for low, high in ranges), (x, y, cell)


def test_a_point_far_away_is_in_none() -> None:
    ranges = h3_cell_ranges(120.0, 30.0, 120.16, 30.08)
    cell = h3_cell(121.5, 31.2)
    assert not any(low <= cell <= high for low, high in ranges)


def test_an_empty_box_has_no_ranges() -> None:
    assert h3_cell_ranges(120.1, 30.0, 120.0, 30.1) == []


def test_every_point_of_random_boxes_is_in_a_range() -> None:
    """Boxes of every shape from 1 m to 200 km a side, anywhere below 70 degrees."""
    rng = np.random.default_rng(11)
    for _ in range(150):
        west, south = rng.uniform(-179.0, 177.0), rng.uniform(-70.0, 68.0)
        east = west + 10 ** rng.uniform(-5.0, 0.3)
        north = south + 10 ** rng.uniform(-5.0, 0.3)
        ranges = h3_cell_ranges(west, south, east, north)
        assert len(ranges) <= 128
        for x, y in zip(
            np.concatenate([rng.uniform(west, east, 60), [west, east, west, east]]),
            np.concatenate([rng.uniform(south, north, 60), [south, south, north, north]]),
            strict=True,
        ):
            cell = h3_cell(float(x), float(y))
            box = (west, south, east, north)
            assert any(low <= cell <= high for low, high in ranges), (box, x, y)
