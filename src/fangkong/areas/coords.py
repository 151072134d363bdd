"""Conversion between WGS-84, GCJ-02 and BD-09 longitude/latitude coordinates.

The platform stores every position in WGS-84 (what GNSS receivers report).  Phone map
apps in China show and export other systems: Gaode (AMap) and Tencent use GCJ-02, the
state-mandated obfuscation nicknamed "Mars coordinates", and Baidu uses BD-09, an extra
offset applied on top of GCJ-02.  This module converts both to and from WGS-84, for a
single point (:func:`to_wgs84`, :func:`from_wgs84`) or for numpy arrays
(:func:`to_wgs84_array`, :func:`from_wgs84_array`).

All longitudes and latitudes are in decimal degrees, longitude first.

Notes
-----
**WGS-84 -> GCJ-02** is the widely published reconstruction of the official algorithm:
two trigonometric polynomials in ``(lon - 105, lat - 35)`` give an offset in metres,
which is turned into degrees with the meridian and prime-vertical radii of curvature of
the Krasovsky 1940 ellipsoid (``a = 6378245.0`` m, ``e² = 0.00669342162296594323``).
The offset is a few hundred metres up to about a kilometre and varies smoothly with
position.

**Outside China** GCJ-02 equals WGS-84.  Like the reference implementations, "inside
China" is the crude bounding box ``72.004 <= lon <= 137.8347`` and
``0.8293 <= lat <= 55.8271`` (:data:`CHINA_BBOX`); it also covers Mongolia, the Korean
peninsula and parts of neighbouring countries, where the offset is therefore applied
too.  The test is made on the WGS-84 point.

**GCJ-02 -> WGS-84** has no closed form, so it is solved numerically: find ``w`` with
``gcj(w) = w + d(w) = g``.  The offset ``d`` changes by less than 1 % of any step in
``w`` (measured: each step shrinks the error by a factor of about 0.007), so the
fixed-point iteration ``w <- w - (gcj(w) - g)``, started from the one-step estimate
``w0 = g - d(g)``, is a contraction that gains more than two decimal digits per step.
It stops when the residual ``|gcj(w) - g|`` is below 1e-11 degrees (about 1 µm) in both
coordinates, normally after four or five steps and after at most
:data:`MAX_ITERATIONS`; with a contraction factor below 0.01 the error in ``w`` is no
larger than the residual.  Measured on a 0.02-degree grid over the whole box (9 million
points), ``to_wgs84(from_wgs84(p))`` reproduces ``p`` to within 1e-13 degrees, far
below the 1e-6 degrees (about 0.1 m) the platform needs.  The only rough spot is the
``sqrt(|lon - 105|)`` term, whose slope is unbounded at ``lon = 105``: there the forward
map is not one-to-one within about 1e-12 degrees, and the inverse returns one of the
preimages.  For comparison, the one-step estimate alone, which many libraries return,
is off by up to 6e-5 degrees (several metres).

Close to the edges of the box the forward map is not one-to-one either (a point just
inside is moved to where a point just outside stays).  The inverse returns the
preimage inside the box when there is one (within 1e-9 degrees of it, so that points
exactly on an edge survive rounding) and the input unchanged otherwise.  Hence
``to_wgs84(from_wgs84(p))`` is ``p`` (to 1e-13 degrees) for every valid ``p``, while a
GCJ-02 point less than about 0.01 degrees outside the box may map to a WGS-84 point
inside it.

**GCJ-02 <-> BD-09** uses Baidu's published formulas with ``x_pi = pi * 3000 / 180``: a
small perturbation of the polar radius and angle of the point followed by a shift of
``(0.0065, 0.006)`` degrees.  Like the reference implementations it is applied
everywhere, also outside China, so BD-09 values near ±180 degrees of longitude or ±90
of latitude can leave the valid range and are then refused as input.  The published
reverse formula (BD-09 -> GCJ-02) evaluates the perturbation at the wrong point and is
off by up to about 4e-6 degrees (2e-6 inside China), so it only starts the same kind of
fixed-point iteration as above (contraction factor below 0.01), which makes
BD-09 -> GCJ-02 the inverse of GCJ-02 -> BD-09 to within about 3e-13 degrees.

Every point is iterated until it alone has converged, so a point's result does not
depend on the other points converted with it, and the scalar functions (which run the
same numpy code on one-element arrays) agree with the array ones to the last bit.  That
costs numpy's per-call overhead: a scalar conversion takes a few hundred microseconds,
an array conversion about 1 µs (forward) to 3 µs (inverse) per point, so convert
batches with the array functions.

References
----------
The formulas are as published with, for example, the open-source ``eviltransform``
(github.com/googollee/eviltransform), ``coordtransform``
(github.com/wandergis/coordtransform) and ``gcoord`` (github.com/hujiulong/gcoord)
libraries; the tests check this implementation against their published test vectors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from fangkong.core.errors import InvalidInput

__all__ = [
    "CHINA_BBOX",
    "MAX_ITERATIONS",
    "CoordSystem",
    "CoordinateError",
    "FloatArray",
    "from_wgs84",
    "from_wgs84_array",
    "in_china",
    "to_wgs84",
    "to_wgs84_array",
]

FloatArray = npt.NDArray[np.float64]


class CoordSystem(StrEnum):
    """Coordinate systems a longitude/latitude pair can be given in."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


class CoordinateError(InvalidInput, ValueError):
    """A longitude/latitude (or the coordinate system) is not acceptable: a ``ValueError``
    and the domain's :class:`~fangkong.core.errors.InvalidInput`, whose text (catalogue key
    ``error.areas.*``) a person reads in their language.

    Attributes
    ----------
    value : object
        The offending value.
    rule : str
        The rule the value breaks, in words (English).
    """

    def __init__(
        self,
        *,
        key: str,
        params: dict[str, object],
        value: object,
        rule: str,
        field: str = "lon",
    ) -> None:
        super().__init__(key=key, params=params, field=field)
        self.value = value
        self.rule = rule

    def at(self, field: str) -> CoordinateError:
        """The same error, naming ``field`` of the request as the one at fault."""
        self.field = field
        return self


#: ``(min_lon, min_lat, max_lon, max_lat)`` of the box inside which GCJ-02 differs from WGS-84.
CHINA_BBOX: Final[tuple[float, float, float, float]] = (72.004, 0.8293, 137.8347, 55.8271)

#: Upper bound on the steps of the iterative inverses (they normally need two to five).
MAX_ITERATIONS: Final = 30

_KRASOVSKY_A: Final = 6378245.0
_KRASOVSKY_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0
_BD_SHIFT_LON: Final = 0.0065
_BD_SHIFT_LAT: Final = 0.006
# 1e-11 degrees is about 1 µm: far below anything measurable, yet well above both the
# double rounding noise (~3e-14 at |coordinates| ~ 100) and the ~1e-12 jitter the
# non-smooth sqrt(|lon - 105|) term causes right at lon = 105, so the loops do end.
_TOLERANCE: Final = 1e-11
# Far larger than the inverse's error, far smaller than any real distance.
_EDGE_SLACK: Final = 1e-9
# A GCJ-02 point can only have a preimage inside the box if it lies within the largest
# GCJ-02 offset (about 0.01 degrees) of it; the margin keeps the iteration away from the
# poles, where the longitude offset divides by cos(lat) = 0.
_INVERSE_MARGIN: Final = 0.1

_LON_RULE: Final = "longitude must be a finite number of degrees in [-180, 180]"
_LAT_RULE: Final = "latitude must be a finite number of degrees in [-90, 90]"


def _coerce_system(system: CoordSystem | str) -> CoordSystem:
    try:
        return CoordSystem(system)
    except ValueError:
        accepted = ", ".join(member.value for member in CoordSystem)
        rule = f"coordinate system must be one of {accepted}"
        raise CoordinateError(
            key="error.areas.crs_unknown",
            params={"system": system, "accepted": accepted},
            value=system,
            rule=rule,
            field="crs",
        ) from None


def _check_scalar(lon: float, lat: float) -> None:
    # `not (abs(v) <= limit)` is also true for NaN, which every ordered comparison rejects.
    if not abs(lon) <= 180.0:
        raise CoordinateError(
            key="error.areas.longitude", params={"value": lon}, value=lon, rule=_LON_RULE
        )
    if not abs(lat) <= 90.0:
        raise CoordinateError(
            key="error.areas.latitude",
            params={"value": lat},
            value=lat,
            rule=_LAT_RULE,
            field="lat",
        )


def _check_arrays(lons: FloatArray, lats: FloatArray) -> None:
    if lons.shape != lats.shape:
        raise CoordinateError(
            key="error.areas.shape_mismatch",
            params={"lon_shape": str(lons.shape), "lat_shape": str(lats.shape)},
            value=(lons.shape, lats.shape),
            rule="longitude and latitude arrays must have the same shape",
            field="lat",
        )
    bad = ~(np.abs(lons) <= 180.0)
    if bad.any():
        value, index = _first(lons, bad)
        if index is None:
            raise CoordinateError(
                key="error.areas.longitude", params={"value": value}, value=value, rule=_LON_RULE
            )
        raise CoordinateError(
            key="error.areas.longitude_at",
            params={"value": value, "index": index},
            value=value,
            rule=_LON_RULE,
        )
    bad = ~(np.abs(lats) <= 90.0)
    if bad.any():
        value, index = _first(lats, bad)
        if index is None:
            raise CoordinateError(
                key="error.areas.latitude",
                params={"value": value},
                value=value,
                rule=_LAT_RULE,
                field="lat",
            )
        raise CoordinateError(
            key="error.areas.latitude_at",
            params={"value": value, "index": index},
            value=value,
            rule=_LAT_RULE,
            field="lat",
        )


def _first(values: FloatArray, bad: npt.NDArray[np.bool_]) -> tuple[float, str | None]:
    """The first bad value and its index (``3``, ``(1, 0)``; None for a 0-d array)."""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    value = float(values[index])
    if not index:
        return value, None
    return value, str(index[0]) if len(index) == 1 else str(index)


def _as_float_arrays(lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    lon_array = np.asarray(lons, dtype=np.float64)
    lat_array = np.asarray(lats, dtype=np.float64)
    _check_arrays(lon_array, lat_array)
    return lon_array, lat_array


def in_china(lons: npt.ArrayLike, lats: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return where WGS-84 points fall inside :data:`CHINA_BBOX` (edges included).

    Parameters
    ----------
    lons, lats : array_like
        Longitudes and latitudes in degrees.

    Returns
    -------
    numpy.ndarray of bool
        True where GCJ-02 applies an offset to the point.
    """
    lon_array = np.asarray(lons, dtype=np.float64)
    lat_array = np.asarray(lats, dtype=np.float64)
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    inside: npt.NDArray[np.bool_] = (
        (lon_array >= min_lon)
        & (lon_array <= max_lon)
        & (lat_array >= min_lat)
        & (lat_array <= max_lat)
    )
    return inside


def _gcj_offset(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the GCJ-02 offset ``(dlon, dlat)`` in degrees at WGS-84 points, box ignored."""
    x = lons - 105.0
    y = lats - 35.0
    pi = math.pi
    sqrt_abs_x = np.sqrt(np.abs(x))
    # The high-frequency longitude term is shared by both polynomials.
    shared = (20.0 * np.sin(6.0 * pi * x) + 20.0 * np.sin(2.0 * pi * x)) * 2.0 / 3.0
    north_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + shared
        + (20.0 * np.sin(pi * y) + 40.0 * np.sin(pi * y / 3.0)) * 2.0 / 3.0
        + (160.0 * np.sin(pi * y / 12.0) + 320.0 * np.sin(pi * y / 30.0)) * 2.0 / 3.0
    )
    east_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + shared
        + (20.0 * np.sin(pi * x) + 40.0 * np.sin(pi * x / 3.0)) * 2.0 / 3.0
        + (150.0 * np.sin(pi * x / 12.0) + 300.0 * np.sin(pi * x / 30.0)) * 2.0 / 3.0
    )
    # The polynomials are metres on the Krasovsky ellipsoid; dividing by the meridian
    # radius of curvature M and the parallel's radius N*cos(lat) turns them into radians.
    lat_rad = np.radians(lats)
    one_minus_e2sin2 = 1.0 - _KRASOVSKY_EE * np.sin(lat_rad) ** 2
    meridian_radius = (
        _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (one_minus_e2sin2 * np.sqrt(one_minus_e2sin2))
    )
    parallel_radius = _KRASOVSKY_A / np.sqrt(one_minus_e2sin2) * np.cos(lat_rad)
    dlat = north_m * 180.0 / (meridian_radius * pi)
    dlon = east_m * 180.0 / (parallel_radius * pi)
    return dlon, dlat


def _gcj_unboxed(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlon, dlat = _gcj_offset(lons, lats)
    return lons + dlon, lats + dlat


_Forward = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]


def _solve(
    forward: _Forward,
    target_lons: FloatArray,
    target_lats: FloatArray,
    start_lons: FloatArray,
    start_lats: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(p) = target`` for 1-D arrays by fixed-point iteration from ``start``.

    Only ``forward`` maps close to the identity (derivative within 0.01 of it) converge.
    """
    lons = start_lons.copy()
    lats = start_lats.copy()
    # Each point stops on its own, so its result does not depend on the other points in
    # the batch: array and scalar conversions agree to the last bit.
    active = np.arange(lons.size)
    for _ in range(MAX_ITERATIONS):
        if active.size == 0:
            break
        f_lons, f_lats = forward(lons[active], lats[active])
        r_lons = f_lons - target_lons[active]
        r_lats = f_lats - target_lats[active]
        lons[active] -= r_lons
        lats[active] -= r_lats
        converged = (np.abs(r_lons) < _TOLERANCE) & (np.abs(r_lats) < _TOLERANCE)
        active = active[~converged]
    return lons, lats


def _wgs84_to_gcj02(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    out_lon = lons.copy()
    out_lat = lats.copy()
    inside = in_china(lons, lats)
    if inside.any():
        dlon, dlat = _gcj_offset(lons[inside], lats[inside])
        out_lon[inside] += dlon
        out_lat[inside] += dlat
    return out_lon, out_lat


def _gcj02_to_wgs84(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    out_lon = lons.copy()
    out_lat = lats.copy()
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    candidate = (
        (lons >= min_lon - _INVERSE_MARGIN)
        & (lons <= max_lon + _INVERSE_MARGIN)
        & (lats >= min_lat - _INVERSE_MARGIN)
        & (lats <= max_lat + _INVERSE_MARGIN)
    )
    if not candidate.any():
        return out_lon, out_lat
    g_lon = lons[candidate]
    g_lat = lats[candidate]
    dlon, dlat = _gcj_offset(g_lon, g_lat)
    w_lon, w_lat = _solve(_gcj_unboxed, g_lon, g_lat, g_lon - dlon, g_lat - dlat)
    # Only a preimage inside the box is a real one: outside it GCJ-02 adds no offset.
    # The slack keeps points lying exactly on an edge, which the iteration may return a
    # rounding error outside it.
    keep = (
        (w_lon >= min_lon - _EDGE_SLACK)
        & (w_lon <= max_lon + _EDGE_SLACK)
        & (w_lat >= min_lat - _EDGE_SLACK)
        & (w_lat <= max_lat + _EDGE_SLACK)
    )
    index = np.flatnonzero(candidate)[keep]
    out_lon.flat[index] = w_lon[keep]
    out_lat.flat[index] = w_lat[keep]
    return out_lon, out_lat


def _gcj02_to_bd09(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    radius = np.hypot(lons, lats) + 0.00002 * np.sin(lats * _X_PI)
    angle = np.arctan2(lats, lons) + 0.000003 * np.cos(lons * _X_PI)
    return radius * np.cos(angle) + _BD_SHIFT_LON, radius * np.sin(angle) + _BD_SHIFT_LAT


def _bd09_to_gcj02(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Baidu's published reverse formula is only a first guess: it evaluates the
    # perturbation at the BD-09 point instead of the unknown GCJ-02 one.
    x = lons - _BD_SHIFT_LON
    y = lats - _BD_SHIFT_LAT
    radius = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    angle = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = _solve(
        _gcj02_to_bd09,
        lons.ravel(),
        lats.ravel(),
        (radius * np.cos(angle)).ravel(),
        (radius * np.sin(angle)).ravel(),
    )
    return g_lon.reshape(lons.shape), g_lat.reshape(lats.shape)


def to_wgs84_array(
    lons: npt.ArrayLike, lats: npt.ArrayLike, system: CoordSystem | str
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of points given in ``system`` to WGS-84.

    Parameters
    ----------
    lons, lats : array_like
        Longitudes and latitudes in degrees, of the same shape.
    system : CoordSystem or str
        The system the points are given in.

    Returns
    -------
    tuple of numpy.ndarray
        New float64 arrays ``(lons, lats)`` in WGS-84, of the input shape.

    Raises
    ------
    CoordinateError
        If the shapes differ, a value is NaN or out of range, or ``system`` is unknown.
    """
    source = _coerce_system(system)
    lon_array, lat_array = _as_float_arrays(lons, lats)
    if source is CoordSystem.WGS84:
        return lon_array.copy(), lat_array.copy()
    if source is CoordSystem.BD09:
        lon_array, lat_array = _bd09_to_gcj02(lon_array, lat_array)
    return _gcj02_to_wgs84(lon_array, lat_array)


def from_wgs84_array(
    lons: npt.ArrayLike, lats: npt.ArrayLike, system: CoordSystem | str
) -> tuple[FloatArray, FloatArray]:
    """Convert arrays of WGS-84 points to ``system``.

    Parameters
    ----------
    lons, lats : array_like
        WGS-84 longitudes and latitudes in degrees, of the same shape.
    system : CoordSystem or str
        The system to convert to.

    Returns
    -------
    tuple of numpy.ndarray
        New float64 arrays ``(lons, lats)`` in ``system``, of the input shape.  BD-09
        values are not range-checked: near ±180 degrees its shift can exceed 180.

    Raises
    ------
    CoordinateError
        If the shapes differ, a value is NaN or out of range, or ``system`` is unknown.
    """
    target = _coerce_system(system)
    lon_array, lat_array = _as_float_arrays(lons, lats)
    if target is CoordSystem.WGS84:
        return lon_array.copy(), lat_array.copy()
    gcj_lon, gcj_lat = _wgs84_to_gcj02(lon_array, lat_array)
    if target is CoordSystem.GCJ02:
        return gcj_lon, gcj_lat
    return _gcj02_to_bd09(gcj_lon, gcj_lat)


def to_wgs84(lon: float, lat: float, system: CoordSystem | str) -> tuple[float, float]:
    """Convert one point given in ``system`` to WGS-84.

    Parameters
    ----------
    lon, lat : float
        Longitude and latitude in degrees.
    system : CoordSystem or str
        The system the point is given in.

    Returns
    -------
    tuple of float
        ``(lon, lat)`` in WGS-84.

    Raises
    ------
    CoordinateError
        If a value is NaN or out of range, or ``system`` is unknown.

    Examples
    --------
    >>> lon, lat = to_wgs84(116.41024449916938, 39.91640428150164, CoordSystem.GCJ02)
    >>> round(lon, 9), round(lat, 9)
    (116.404, 39.915)
    """
    source = _coerce_system(system)
    _check_scalar(lon, lat)
    if source is CoordSystem.WGS84:  # checked, nothing to convert: no arrays for one point
        return float(lon), float(lat)
    out_lon, out_lat = to_wgs84_array(np.array([lon]), np.array([lat]), source)
    return float(out_lon[0]), float(out_lat[0])


def from_wgs84(lon: float, lat: float, system: CoordSystem | str) -> tuple[float, float]:
    """Convert one WGS-84 point to ``system``.

    Parameters
    ----------
    lon, lat : float
        WGS-84 longitude and latitude in degrees.
    system : CoordSystem or str
        The system to convert to.

    Returns
    -------
    tuple of float
        ``(lon, lat)`` in ``system``.

    Raises
    ------
    CoordinateError
        If a value is NaN or out of range, or ``system`` is unknown.

    Examples
    --------
    >>> from_wgs84(116.404, 39.915, CoordSystem.GCJ02)
    (116.41024449916938, 39.91640428150164)
    >>> from_wgs84(-0.1276, 51.5072, CoordSystem.GCJ02)
    (-0.1276, 51.5072)
    """
    target = _coerce_system(system)
    _check_scalar(lon, lat)
    if target is CoordSystem.WGS84:
        return float(lon), float(lat)
    out_lon, out_lat = from_wgs84_array(np.array([lon]), np.array([lat]), target)
    return float(out_lon[0]), float(out_lat[0])
