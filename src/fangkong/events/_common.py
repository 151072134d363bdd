"""What the event and plan modules share: placing a point in its areas within the caller's
scope, the bounds of codes and names, and the venue's polygon."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas.geometry import h3_cell
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope

CODE_MAX = 32
NAME_MAX = 128
#: A drawn venue has 3 to this many corners.
POLYGON_MAX = 200
#: The largest spreadsheet an import takes (bytes).
MAX_IMPORT_BYTES = 4 << 20


def place(session: Session, *, lon: float, lat: float, scope: Scope | None) -> tuple[int, str, str]:
    """The deepest area holding the point (id and path) and its H3 cell; a point outside every
    area, or outside ``scope``, is invalid input."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(key="error.events.point_range", field="lon")
    index = area_index.get(session)
    leaf = int(index.locate([lon], [lat])[0])
    path = index.path_of(leaf) if leaf >= 0 else None
    if path is None or (scope is not None and not scope.covers(path)):
        raise InvalidInput(
            key="error.events.point_outside",
            params={"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"},
            field="lon",
        )
    return leaf, path, h3_cell(lon, lat)


def check_code(value: str, *, field: str = "code") -> str:
    value = value.strip()
    if not 1 <= len(value) <= CODE_MAX or "\x00" in value:
        raise InvalidInput(key="error.events.code_length", params={"max": CODE_MAX}, field=field)
    return value


def check_name(value: str, *, field: str = "name", limit: int = NAME_MAX) -> str:
    value = value.strip()
    if not 1 <= len(value) <= limit or "\x00" in value:
        raise InvalidInput(
            key="error.events.name_length", params={"field": field, "max": limit}, field=field
        )
    return value


def check_polygon(ring: list[list[float]], *, field: str = "venue_polygon") -> list[list[float]]:
    """The ring's corners as [lon, lat] (a closing corner equal to the first is dropped): 3 to
    :data:`POLYGON_MAX` finite points in range, not all on one spot."""
    corners = [list(map(float, p)) for p in ring]
    if len(corners) > 1 and corners[0] == corners[-1]:
        corners = corners[:-1]
    ok = 3 <= len(corners) <= POLYGON_MAX and all(
        len(p) == 2
        and math.isfinite(p[0])
        and math.isfinite(p[1])
        and -180 <= p[0] <= 180
        and -90 <= p[1] <= 90
        for p in corners
    )
    if not ok or abs(polygon_area(corners)) < 1e-12:
        raise InvalidInput(key="error.events.polygon", params={"max": POLYGON_MAX}, field=field)
    return corners


def polygon_area(corners: list[list[float]]) -> float:
    """Signed area in square degrees (shoelace)."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        total += x0 * y1 - x1 * y0
    return total / 2


def centroid(corners: list[list[float]]) -> tuple[float, float]:
    """The polygon's centre of area (lon, lat), in degrees: fine at a venue's size."""
    area = polygon_area(corners)
    cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    return cx / (6 * area), cy / (6 * area)
