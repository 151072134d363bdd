"""Area in m² against exact ellipsoidal values; GeoJSON parsing faults; H3 cells."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import box

from fangkong.areas.geometry import WGS84_A, WGS84_E2, area_m2, h3_cell, parse_polygon


def exact_box_area(west: float, south: float, east: float, north: float) -> float:
    """Exact area of a lon/lat box on the WGS-84 ellipsoid (authalic-latitude formula)."""
    e = math.sqrt(WGS84_E2)

    def q(phi: float) -> float:
        s = math.sin(phi)
        return (1 - WGS84_E2) * (
            s / (1 - WGS84_E2 * s * s) - math.log((1 - e * s) / (1 + e * s)) / (2 * e)
        )

    return (
        (WGS84_A**2 / 2)
        * math.radians(east - west)
        * (q(math.radians(north)) - q(math.radians(south)))
    )


@pytest.mark.parametrize("lat", [0.0, 23.0, 30.0, 47.1, 60.0])
def test_area_matches_the_ellipsoid_at_county_scale(lat: float) -> None:
    west, south, east, north = 120.0, lat, 120.2, lat + 0.15
    assert area_m2(box(west, south, east, north)) == pytest.approx(
        exact_box_area(west, south, east, north), rel=1e-5
    )


def test_parse_polygon_faults() -> None:
    with pytest.raises(ValueError, match="missing"):
        parse_polygon(None)
    with pytest.raises(ValueError, match="empty"):
        parse_polygon({"type": "Polygon", "coordinates": []})
    with pytest.raises(ValueError, match="cannot be read"):
        parse_polygon({"type": "Polygon", "coordinates": [[[1, 2], [3]]]})
    square = parse_polygon(
        {
            "type": "Polygon",
            "coordinates": [[[120, 30], [120.1, 30], [120.1, 30.1], [120, 30.1], [120, 30]]],
        }
    )
    assert square.geom_type == "MultiPolygon" and len(square.geoms) == 1


def test_h3_cell_is_resolution_9() -> None:
    import h3

    cell = h3_cell(120.15, 30.25)
    assert h3.get_resolution(cell) == 9
    lat, lon = h3.cell_to_latlng(cell)
    assert (lon, lat) == pytest.approx((120.15, 30.25), abs=0.005)


def test_hairline_sliver_along_a_long_edge_measures_near_zero() -> None:
    from shapely.geometry import Polygon

    # A 3 km straight lon/lat edge and a path that leaves it by 1e-12 degrees (about 0.1 µm):
    # projecting only the vertices would bend the edge and report tens of m².
    a, e = (9.486, 47.1782), (9.5245, 47.1718)
    x = ((a[0] + e[0]) / 2, (a[1] + e[1]) / 2 + 1e-12)
    assert area_m2(Polygon([a, x, e, a])) < 0.01
