"""Oracles for lon/lat geometry tests, independent of ``fangkong.areas.geometry``.

- :func:`oracle_area_m2`: the exact ellipsoidal area of a polygon with edges straight in lon/lat,
  by densifying and measuring in an equal-area projection;
- :func:`spikes`: the vertices of a polygon that make a zero-width spike.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

# WGS-84: semi-major axis and flattening, the defining constants.
A = 6_378_137.0
F = 1 / 298.257_223_563
E2 = F * (2 - F)


def _equal_area_y(lat: NDArray[np.float64]) -> NDArray[np.float64]:
    """Northing of Lambert's cylindrical equal-area projection of the ellipsoid (m):
    ``y = a·(1 - e²)/2 · q(φ)`` (Snyder 1987, eqs. 3-12 and 10-15, k₀ = 1)."""
    e = math.sqrt(E2)
    s = np.sin(np.radians(lat))
    q = (1 - E2) * (s / (1 - E2 * s * s) + np.arctanh(e * s) / e)
    return np.asarray(A * q / 2, dtype=np.float64)


def oracle_area_m2(geom: BaseGeometry, *, step_deg: float = 2e-5) -> float:
    """Area of a lon/lat geometry whose edges are straight in lon/lat, by an independent route.

    Every edge is cut into pieces of at most ``step_deg``, the points are mapped to Lambert's
    cylindrical equal-area projection of the WGS-84 ellipsoid (``x = a·λ``, ``y`` as in
    :func:`_equal_area_y`; equal-area exactly), and each ring is measured by the shoelace
    formula about its first point. The chords' error falls with the square of the step: at
    2e-5° (about 2 m) it is below 1e-9 of the area of a county's polygons.
    """

    def ring_area(coords: NDArray[np.float64]) -> float:
        points = [coords[:1]]
        for p, r in itertools.pairwise(coords):
            n = max(1, math.ceil(float(np.abs(r - p).max()) / step_deg))
            t = np.arange(1, n + 1)[:, None] / n
            points.append(p + t * (r - p))
        dense = np.vstack(points)
        x = A * np.radians(dense[:, 0] - dense[0, 0])
        y = _equal_area_y(dense[:, 1]) - _equal_area_y(dense[:1, 1])
        return abs(float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))) / 2

    total = 0.0
    for poly in shapely.get_parts(geom):
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        total += ring_area(np.asarray(poly.exterior.coords))
        total -= sum(ring_area(np.asarray(hole.coords)) for hole in poly.interiors)
    return total


def spikes(
    geom: BaseGeometry, *, min_reach_m: float = 1.0, max_area_m2: float = 0.01
) -> list[tuple[float, float]]:
    """The vertices (lon, lat) of ``geom``'s rings that make a spike: taking one out changes
    the area by less than ``max_area_m2`` (the triangle it makes with its neighbours) yet
    moves the boundary by more than ``min_reach_m`` (its distance to the segment joining its
    neighbours). A vertex on a straight stretch moves the boundary by nothing; a real corner
    changes the area; the tip of a way out and back along one line does neither.

    Distances in a local plane about each ring's mean latitude (spherical radius, to ~0.5 %).
    """
    found: list[tuple[float, float]] = []
    for poly in shapely.get_parts(geom):
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        for ring in [poly.exterior, *poly.interiors]:
            lonlat = np.asarray(ring.coords)[:-1, :2]
            if len(lonlat) < 3:
                continue
            lat0 = float(lonlat[:, 1].mean())
            xy = np.column_stack(
                (
                    np.radians(lonlat[:, 0]) * A * math.cos(math.radians(lat0)),
                    np.radians(lonlat[:, 1] - lat0) * A,
                )
            )
            xy -= xy[0]
            u, v, w = np.roll(xy, 1, axis=0), xy, np.roll(xy, -1, axis=0)
            uw, uv = w - u, v - u
            triangle = np.abs(uv[:, 0] * uw[:, 1] - uv[:, 1] * uw[:, 0]) / 2
            length2 = (uw**2).sum(axis=1)
            t = np.clip((uv * uw).sum(axis=1) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
            reach = np.hypot(*(u + t[:, None] * uw - v).T)
            for i in np.flatnonzero((reach > min_reach_m) & (triangle < max_area_m2)).tolist():
                found.append((float(lonlat[i, 0]), float(lonlat[i, 1])))
    return found
