"""A hand-made two-county road network across the border of the test county's districts.

T-D1 (west, lon 120.00-120.08) and T-D2 (east) meet at lon 120.08. Incident I lies in T-D1
100 m... 200 m west of the border; unit U1 is near the border 3.3 km south of it, unit U2 is
3.7 km west of it. Inside T-D1 U1 reaches I only by a residential detour (8.7 km); across the
border a primary road takes it there in 4.7 km. Each county's file holds the two ways that
cross the border (as ``osmium extract`` keeps whole ways), T-D2's file also a road far east
(beyond a 2 km buffer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import county_data_dir, import_and_activate

U1 = (120.078, 30.010)
U2 = (120.040, 30.040)
INCIDENT = (120.078, 30.040)
J1 = (120.050, 30.040)
J2 = (120.050, 30.010)
X_U = (120.085, 30.010)  # in T-D2, east of U1
X_I = (120.085, 30.040)  # in T-D2, east of the incident
MIDDLE = (120.095, 30.040)  # T-D2, within 2 km of the border
FAR = (120.150, 30.040)  # T-D2, beyond 2 km of the border
WEST_COUNTY = "T-D1"
EAST_COUNTY = "T-D2"
#: T-D1's polygon (lon/lat box).
WEST_BOX = (120.00, 30.00, 120.08, 30.08)


def _way(road_class: str, *points: tuple[float, float]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"class": road_class},
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in points]},
    }


CROSSING = [_way("primary", U1, X_U), _way("primary", INCIDENT, X_I)]
WEST_ROADS = [
    _way("residential", U2, J1),
    _way("residential", J1, INCIDENT),
    _way("residential", J2, U1),
    _way("residential", J2, J1),
    *CROSSING,
]
EAST_ROADS = [
    *CROSSING,
    _way("primary", X_U, X_I),
    _way("residential", X_I, MIDDLE),
    _way("residential", MIDDLE, FAR),
]


def write_counties(data_dir: Path, folder: Path) -> None:
    """Write both counties' road files under ``folder`` and import each as its county's
    network under ``data_dir`` (``counties/<code>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for code, roads in ((WEST_COUNTY, WEST_ROADS), (EAST_COUNTY, EAST_ROADS)):
        path = folder / f"{code}.geojson"
        path.write_text(
            json.dumps({"type": "FeatureCollection", "features": roads}), encoding="utf-8"
        )
        import_and_activate(
            county_data_dir(data_dir, code), path, DEFAULT_PROFILE, class_field="class"
        )
