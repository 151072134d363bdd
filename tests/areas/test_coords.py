"""WGS-84 <-> GCJ-02 <-> BD-09 conversion: published reference points, round trips, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fangkong.areas.coords import (
    CHINA_BBOX,
    CoordinateError,
    CoordSystem,
    from_wgs84,
    from_wgs84_array,
    in_china,
    to_wgs84,
    to_wgs84_array,
)

# The round-trip accuracy the platform promises (about 1 cm).
ROUND_TRIP_TOLERANCE = 1e-7

Point = tuple[float, float]

# Published test vectors of googollee/eviltransform (go/transform_test.go; the same three
# cities appear in its C, PHP and JavaScript tests), given there as
# (wgsLat, wgsLng, gcjLat, gcjLng) with full double precision; reordered here to
# ((lon, lat) WGS-84, (lon, lat) GCJ-02).
EVILTRANSFORM_WGS_GCJ: dict[str, tuple[Point, Point]] = {
    "shanghai": ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    "shenzhen": ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    "beijing": ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
}

# Published results of wandergis/coordtransform (test/app.js) for the input
# (116.404, 39.915), near Tiananmen, full double precision.
COORDTRANSFORM_INPUT: Point = (116.404, 39.915)
COORDTRANSFORM_WGS84_TO_GCJ02: Point = (116.41024449916938, 39.91640428150164)
COORDTRANSFORM_GCJ02_TO_BD09: Point = (116.41036949371029, 39.92133699351021)
# These two come from that library's one-step approximate inverses, good to ~1e-5 degrees.
COORDTRANSFORM_GCJ02_TO_WGS84_ONE_STEP: Point = (116.39775550083061, 39.91359571849836)
COORDTRANSFORM_BD09_TO_GCJ02_ONE_STEP: Point = (116.39762729119315, 39.90865673957631)

# Prefecture seats from hujiulong/gcoord (test/fixtures/china-cities.json), printed to 7
# decimals: (GCJ-02, BD-09) pairs, (lon, lat).  The fixture's WGS-84 column agrees with the
# published GCJ-02 formula only to ~1e-5 degrees (gcoord itself checks it to 4 decimals),
# so it is not used here.
GCOORD_GCJ_BD: dict[str, tuple[Point, Point]] = {
    "zhumadian": ((114.022306, 33.0115324), (114.0287781, 33.0176697)),
    "shaoyang": ((111.4677938, 27.2388981), (111.4742271, 27.2451662)),
    "nagqu": ((92.0512438, 31.4762063), (92.0576832, 31.4824421)),
    "shenyang": ((123.4314787, 41.8057023), (123.438095, 41.8114013)),
    "jiuquan": ((98.4943595, 39.7328234), (98.5008441, 39.7388949)),
    "xilinhot": ((116.0482308, 43.9334573), (116.0546232, 43.9397782)),
}
GCOORD_PRINTED_TOLERANCE = 1e-7  # half a unit in the 7th decimal, plus rounding slack

# gcoord's BD09.spec: BD-09 (123, 45) to GCJ-02 and WGS-84, checked there to 5 decimals
# (|error| < 5e-6) because it uses the one-step inverse.
GCOORD_BD09_INPUT: Point = (123.0, 45.0)
GCOORD_BD09_TO_GCJ02: Point = (122.99363304, 44.99365430)
GCOORD_BD09_TO_WGS84: Point = (122.98762210, 44.99171540)
GCOORD_SPEC_TOLERANCE = 5e-6

OUTSIDE_CHINA: dict[str, Point] = {
    "london": (-0.1276, 51.5072),
    "new_york": (-74.006, 40.7128),
    "sydney": (151.2093, -33.8688),
    "tokyo": (139.6917, 35.6895),  # east of the box's 137.8347
    "moscow": (37.6173, 55.7558),
    "null_island": (0.0, 0.0),
    "south_pole": (0.0, -90.0),
    "antimeridian": (180.0, 10.0),
}

min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
china_lons = st.floats(min_value=min_lon, max_value=max_lon)
china_lats = st.floats(min_value=min_lat, max_value=max_lat)
# GCJ-02 offsets are at most ~0.011 degrees, so within this band along the outside of the box
# the forward map is not one-to-one (see the module's Notes) and round trips are not defined.
EDGE_BAND = 0.05
interior_lons = st.floats(min_value=min_lon + EDGE_BAND, max_value=max_lon - EDGE_BAND)
interior_lats = st.floats(min_value=min_lat + EDGE_BAND, max_value=max_lat - EDGE_BAND)
any_lons = st.floats(min_value=-180.0, max_value=180.0)
any_lats = st.floats(min_value=-90.0, max_value=90.0)
shifted_systems = st.sampled_from([CoordSystem.GCJ02, CoordSystem.BD09])


def assert_close(actual: Point, expected: Point, tolerance: float) -> None:
    assert actual == pytest.approx(expected, abs=tolerance, rel=0.0)


# --- published reference points --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EVILTRANSFORM_WGS_GCJ))
def test_eviltransform_wgs84_to_gcj02(name: str) -> None:
    wgs, gcj = EVILTRANSFORM_WGS_GCJ[name]
    # The references print full precision, so agreement is limited only by libm rounding.
    assert_close(from_wgs84(*wgs, CoordSystem.GCJ02), gcj, 1e-9)


@pytest.mark.parametrize("name", sorted(EVILTRANSFORM_WGS_GCJ))
def test_eviltransform_gcj02_to_wgs84_is_exact(name: str) -> None:
    wgs, gcj = EVILTRANSFORM_WGS_GCJ[name]
    # eviltransform's own "exact" inverse only promises 0.5 m; ours recovers the input.
    assert_close(to_wgs84(*gcj, CoordSystem.GCJ02), wgs, 1e-9)


def test_coordtransform_wgs84_to_gcj02() -> None:
    got = from_wgs84(*COORDTRANSFORM_INPUT, CoordSystem.GCJ02)
    assert_close(got, COORDTRANSFORM_WGS84_TO_GCJ02, 1e-9)


def test_coordtransform_gcj02_to_bd09() -> None:
    # The API only converts to and from WGS-84, so go to BD-09 through it.
    wgs = to_wgs84(*COORDTRANSFORM_INPUT, CoordSystem.GCJ02)
    assert_close(from_wgs84(*wgs, CoordSystem.BD09), COORDTRANSFORM_GCJ02_TO_BD09, 1e-9)


def test_coordtransform_one_step_inverses_are_close_but_ours_is_better() -> None:
    ours_wgs = to_wgs84(*COORDTRANSFORM_INPUT, CoordSystem.GCJ02)
    assert_close(ours_wgs, COORDTRANSFORM_GCJ02_TO_WGS84_ONE_STEP, 1e-5)
    ours_error = _distance(from_wgs84(*ours_wgs, CoordSystem.GCJ02), COORDTRANSFORM_INPUT)
    one_step_error = _distance(
        from_wgs84(*COORDTRANSFORM_GCJ02_TO_WGS84_ONE_STEP, CoordSystem.GCJ02),
        COORDTRANSFORM_INPUT,
    )
    assert ours_error < 1e-10 < one_step_error

    # BD-09 -> GCJ-02 -> WGS-84 should land where GCJ-02 -> WGS-84 of the one-step GCJ-02 does.
    via_bd = to_wgs84(*COORDTRANSFORM_INPUT, CoordSystem.BD09)
    via_one_step = to_wgs84(*COORDTRANSFORM_BD09_TO_GCJ02_ONE_STEP, CoordSystem.GCJ02)
    assert_close(via_bd, via_one_step, 1e-5)


@pytest.mark.parametrize("name", sorted(GCOORD_GCJ_BD))
def test_gcoord_gcj02_to_bd09(name: str) -> None:
    gcj, bd = GCOORD_GCJ_BD[name]
    wgs = to_wgs84(*gcj, CoordSystem.GCJ02)
    assert_close(from_wgs84(*wgs, CoordSystem.BD09), bd, GCOORD_PRINTED_TOLERANCE)


@pytest.mark.parametrize("name", sorted(GCOORD_GCJ_BD))
def test_gcoord_bd09_and_gcj02_agree_in_wgs84(name: str) -> None:
    gcj, bd = GCOORD_GCJ_BD[name]
    from_bd = to_wgs84(*bd, CoordSystem.BD09)
    from_gcj = to_wgs84(*gcj, CoordSystem.GCJ02)
    # Both printed points carry their own rounding error.
    assert_close(from_bd, from_gcj, 2 * GCOORD_PRINTED_TOLERANCE)


def test_gcoord_bd09_spec_point() -> None:
    wgs = to_wgs84(*GCOORD_BD09_INPUT, CoordSystem.BD09)
    assert_close(wgs, GCOORD_BD09_TO_WGS84, GCOORD_SPEC_TOLERANCE)
    assert_close(from_wgs84(*wgs, CoordSystem.GCJ02), GCOORD_BD09_TO_GCJ02, GCOORD_SPEC_TOLERANCE)


def _distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


# --- round trips -------------------------------------------------------------------------


@given(lon=china_lons, lat=china_lats, system=shifted_systems)
def test_round_trip_inside_china(lon: float, lat: float, system: CoordSystem) -> None:
    shifted = from_wgs84(lon, lat, system)
    assert shifted != (lon, lat)
    assert_close(to_wgs84(*shifted, system), (lon, lat), ROUND_TRIP_TOLERANCE)


@given(lon=interior_lons, lat=interior_lats, system=shifted_systems)
def test_inverse_then_forward_inside_china(lon: float, lat: float, system: CoordSystem) -> None:
    wgs = to_wgs84(lon, lat, system)
    assert in_china(*wgs)
    assert_close(from_wgs84(*wgs, system), (lon, lat), ROUND_TRIP_TOLERANCE)


def _in_edge_band(lon: float, lat: float) -> bool:
    near = (
        min_lon - EDGE_BAND <= lon <= max_lon + EDGE_BAND
        and min_lat - EDGE_BAND <= lat <= max_lat + EDGE_BAND
    )
    return near and not bool(in_china(lon, lat))


@given(lon=any_lons, lat=any_lats)
def test_round_trip_gcj02_anywhere(lon: float, lat: float) -> None:
    assume(not _in_edge_band(lon, lat))
    shifted = from_wgs84(lon, lat, CoordSystem.GCJ02)
    assert_close(to_wgs84(*shifted, CoordSystem.GCJ02), (lon, lat), ROUND_TRIP_TOLERANCE)


@given(
    lon=st.floats(min_value=-179.9, max_value=179.9),
    lat=st.floats(min_value=-89.9, max_value=89.9),
)
def test_round_trip_bd09_anywhere(lon: float, lat: float) -> None:
    assume(not _in_edge_band(lon, lat))
    shifted = from_wgs84(lon, lat, CoordSystem.BD09)
    assert_close(to_wgs84(*shifted, CoordSystem.BD09), (lon, lat), ROUND_TRIP_TOLERANCE)


@pytest.mark.parametrize(
    "point",
    [
        (min_lon, 30.0),
        (max_lon, 30.0),
        (110.0, min_lat),
        (110.0, max_lat),
        (min_lon, min_lat),
        (max_lon, max_lat),
    ],
)
def test_round_trip_on_box_edges(point: Point) -> None:
    # Edges are inside; the inverse must not lose them to a rounding error.
    shifted = from_wgs84(*point, CoordSystem.GCJ02)
    assert shifted != point
    assert_close(to_wgs84(*shifted, CoordSystem.GCJ02), point, 1e-12)


@pytest.mark.parametrize("offset", [0.0, 1e-13, -1e-13, 1e-10, -1e-10, 1e-6, -1e-6])
def test_round_trip_at_the_sqrt_kink(offset: float) -> None:
    # The offset polynomial has sqrt(|lon - 105|), whose slope is unbounded at 105.
    point = (105.0 + offset, 30.0)
    shifted = from_wgs84(*point, CoordSystem.GCJ02)
    assert_close(to_wgs84(*shifted, CoordSystem.GCJ02), point, 1e-11)


def test_offsets_are_the_expected_size() -> None:
    lon, lat = from_wgs84(116.404, 39.915, CoordSystem.GCJ02)
    # Hundreds of metres, not kilometres: catches a radians/degrees slip.
    assert 0.001 < abs(lon - 116.404) < 0.02
    assert 0.0001 < abs(lat - 39.915) < 0.01


# --- outside China, and WGS-84 itself ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(OUTSIDE_CHINA))
def test_outside_china_gcj02_is_wgs84(name: str) -> None:
    point = OUTSIDE_CHINA[name]
    assert from_wgs84(*point, CoordSystem.GCJ02) == point
    assert to_wgs84(*point, CoordSystem.GCJ02) == point


def test_outside_china_bd09_still_applies_baidus_shift() -> None:
    # Like the reference implementations: GCJ-02 -> BD-09 has no box test.
    london = OUTSIDE_CHINA["london"]
    shifted = from_wgs84(*london, CoordSystem.BD09)
    assert shifted != london
    assert_close(to_wgs84(*shifted, CoordSystem.BD09), london, 1e-12)


def test_in_china_box() -> None:
    assert in_china(116.404, 39.915)
    assert in_china(min_lon, min_lat)
    assert not in_china(*OUTSIDE_CHINA["tokyo"])
    assert not in_china(min_lon - 1e-9, 30.0)


@pytest.mark.parametrize("system", list(CoordSystem))
def test_system_may_be_given_as_its_string_value(system: CoordSystem) -> None:
    assert from_wgs84(116.404, 39.915, system.value) == from_wgs84(116.404, 39.915, system)
    assert to_wgs84(116.404, 39.915, system.value) == to_wgs84(116.404, 39.915, system)


def test_wgs84_is_the_identity() -> None:
    assert from_wgs84(116.404, 39.915, CoordSystem.WGS84) == (116.404, 39.915)
    assert to_wgs84(116.404, 39.915, CoordSystem.WGS84) == (116.404, 39.915)


# --- arrays ------------------------------------------------------------------------------


@pytest.mark.parametrize("system", list(CoordSystem))
def test_arrays_match_scalars_and_keep_their_shape(system: CoordSystem) -> None:
    lons = np.array([[116.404, 121.5272106, -0.1276], [92.0499619, 105.0, 123.0]])
    lats = np.array([[39.915, 31.1774276, 51.5072], [31.4784436, 30.0, 45.0]])
    before = (lons.copy(), lats.copy())
    for convert, scalar in ((from_wgs84_array, from_wgs84), (to_wgs84_array, to_wgs84)):
        out_lons, out_lats = convert(lons, lats, system)
        assert out_lons.shape == out_lats.shape == lons.shape
        assert out_lons.dtype == out_lats.dtype == np.float64
        for index in np.ndindex(lons.shape):
            expected = scalar(float(lons[index]), float(lats[index]), system)
            assert (float(out_lons[index]), float(out_lats[index])) == expected
    np.testing.assert_array_equal(lons, before[0])
    np.testing.assert_array_equal(lats, before[1])


def test_arrays_accept_sequences_scalars_and_empty_input() -> None:
    lons, lats = from_wgs84_array([116.404], [39.915], CoordSystem.GCJ02)
    assert (lons[0], lats[0]) == COORDTRANSFORM_WGS84_TO_GCJ02
    lon0, lat0 = to_wgs84_array(116.404, 39.915, CoordSystem.BD09)
    assert lon0.shape == lat0.shape == ()
    for system in CoordSystem:
        empty_lons, empty_lats = to_wgs84_array([], [], system)
        assert empty_lons.shape == empty_lats.shape == (0,)


def test_arrays_round_trip_on_a_grid_over_the_box() -> None:
    lons, lats = np.meshgrid(np.linspace(min_lon, max_lon, 200), np.linspace(min_lat, max_lat, 150))
    for system in (CoordSystem.GCJ02, CoordSystem.BD09):
        back_lons, back_lats = to_wgs84_array(*from_wgs84_array(lons, lats, system), system)
        assert np.max(np.abs(back_lons - lons)) < 1e-12
        assert np.max(np.abs(back_lats - lats)) < 1e-12


# --- invalid input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "fragment"),
    [
        (180.0001, 30.0, "longitude 180.0001"),
        (-181.0, 30.0, "longitude -181.0"),
        (math.nan, 30.0, "longitude nan"),
        (math.inf, 30.0, "longitude inf"),
        (116.0, 90.5, "latitude 90.5"),
        (116.0, -91.0, "latitude -91.0"),
        (116.0, math.nan, "latitude nan"),
    ],
)
@pytest.mark.parametrize("system", list(CoordSystem))
def test_invalid_points_are_refused(
    lon: float, lat: float, fragment: str, system: CoordSystem
) -> None:
    for convert in (from_wgs84, to_wgs84):
        with pytest.raises(CoordinateError, match=fragment) as caught:
            convert(lon, lat, system)
        assert isinstance(caught.value, ValueError)
        assert "[-180, 180]" in str(caught.value) or "[-90, 90]" in str(caught.value)
        assert caught.value.rule in str(caught.value)


def test_invalid_array_values_are_named_with_their_index() -> None:
    with pytest.raises(CoordinateError, match=r"latitude 95\.0 at index 2: latitude must"):
        to_wgs84_array([116.0, 117.0, 118.0], [30.0, 31.0, 95.0], CoordSystem.GCJ02)
    with pytest.raises(CoordinateError, match=r"longitude nan at index \(1, 0\)"):
        from_wgs84_array([[116.0], [math.nan]], [[30.0], [31.0]], CoordSystem.BD09)


def test_mismatched_array_shapes_are_refused() -> None:
    with pytest.raises(CoordinateError, match="same shape"):
        to_wgs84_array([116.0, 117.0], [30.0], CoordSystem.GCJ02)


def test_unknown_system_is_refused() -> None:
    with pytest.raises(CoordinateError, match=r"'mercator'.*wgs84, gcj02, bd09"):
        to_wgs84(116.0, 30.0, "mercator")
