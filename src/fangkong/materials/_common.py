"""What the materials modules share: placing a point in its areas within the caller's scope,
and the bounds of codes and names."""

from __future__ import annotations

import math

from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas.geometry import h3_cell
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope

CODE_MAX = 32
NAME_MAX = 128
DOCUMENT_MAX = 64


def place(session: Session, *, lon: float, lat: float, scope: Scope | None) -> tuple[int, str, str]:
    """The deepest area holding the point (id and path) and its H3 cell; a point outside every
    area, or outside ``scope``, is invalid input: stored there, nobody would see it."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(key="error.materials.point_range", field="lon")
    index = area_index.get(session)
    leaf = int(index.locate([lon], [lat])[0])
    path = index.path_of(leaf) if leaf >= 0 else None
    if path is None or (scope is not None and not scope.covers(path)):
        raise InvalidInput(
            key="error.materials.point_outside",
            params={"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"},
            field="lon",
        )
    return leaf, path, h3_cell(lon, lat)


def check_code(value: str, *, field: str = "code") -> str:
    value = value.strip()
    if not 1 <= len(value) <= CODE_MAX or "\x00" in value:
        raise InvalidInput(key="error.materials.code_length", params={"max": CODE_MAX}, field=field)
    return value


def check_name(value: str, *, field: str = "name", limit: int = NAME_MAX) -> str:
    value = value.strip()
    if not 1 <= len(value) <= limit or "\x00" in value:
        raise InvalidInput(
            key="error.materials.name_length", params={"field": field, "max": limit}, field=field
        )
    return value


#: The largest spreadsheet an import takes (bytes).
MAX_IMPORT_BYTES = 16 << 20
#: The longest period one reconciliation covers (days).
MAX_PERIOD_DAYS = 3 * 366
