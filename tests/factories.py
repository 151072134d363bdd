"""A small synthetic county for tests: a 2 x 2 x 2 x 2 tree of rectangles near Hangzhou.

city (0.16 x 0.08 deg) > 2 districts > 2 stations each > 2 beat areas each > 2 grids each:
1 + 2 + 4 + 8 + 16 = 31 areas, every level an exact partition of its parent.
"""

from __future__ import annotations

from typing import Any

WEST, SOUTH, EAST, NORTH = 120.00, 30.00, 120.16, 30.08
CITY = "T"


def rectangle(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(
    code: str, level: str, parent: str | None, geometry: dict[str, Any], name_zh: str | None = None
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "code": code,
        "level": level,
        "name_zh": name_zh or f"区域{code}",
        "name_en": f"Area {code}",
    }
    if parent:
        props["parent_code"] = parent
    return {"type": "Feature", "properties": props, "geometry": geometry}


def county_geojson() -> dict[str, Any]:
    """The whole test county as one FeatureCollection (parents before children or not)."""
    features = [feature(CITY, "city", None, rectangle(WEST, SOUTH, EAST, NORTH))]
    width = (EAST - WEST) / 2
    for d in range(2):
        dw = WEST + d * width
        d_code = f"{CITY}-D{d + 1}"
        features.append(feature(d_code, "district", CITY, rectangle(dw, SOUTH, dw + width, NORTH)))
        height = (NORTH - SOUTH) / 2
        for s in range(2):
            ss = SOUTH + s * height
            s_code = f"{d_code}-S{s + 1}"
            features.append(
                feature(s_code, "station", d_code, rectangle(dw, ss, dw + width, ss + height))
            )
            for b in range(2):
                bw = dw + b * width / 2
                b_code = f"{s_code}-B{b + 1}"
                features.append(
                    feature(b_code, "beat", s_code, rectangle(bw, ss, bw + width / 2, ss + height))
                )
                for g in range(2):
                    gs = ss + g * height / 2
                    features.append(
                        feature(
                            f"{b_code}-G{g + 1}",
                            "grid",
                            b_code,
                            rectangle(bw, gs, bw + width / 2, gs + height / 2),
                        )
                    )
    return {"type": "FeatureCollection", "features": features}


def grid_centre(code: str) -> tuple[float, float]:
    """Centre of a grid of the test county, by code (e.g. ``T-D1-S2-B1-G2``)."""
    for f in county_geojson()["features"]:
        if f["properties"]["code"] == code:
            ring = f["geometry"]["coordinates"][0]
            return (ring[0][0] + ring[1][0]) / 2, (ring[0][1] + ring[2][1]) / 2
    raise KeyError(code)


def street_grid_geojson(spacing_deg: float = 0.004) -> dict[str, Any]:
    """Two-way streets on a regular grid over the test county, noded at every crossing."""
    xs = [WEST + i * spacing_deg for i in range(round((EAST - WEST) / spacing_deg) + 1)]
    ys = [SOUTH + j * spacing_deg for j in range(round((NORTH - SOUTH) / spacing_deg) + 1)]
    features: list[dict[str, Any]] = []
    for j, y in enumerate(ys):
        features.append(
            {
                "type": "Feature",
                "properties": {"class": "primary" if j % 5 == 0 else "residential"},
                "geometry": {"type": "LineString", "coordinates": [[x, y] for x in xs]},
            }
        )
    for i, x in enumerate(xs):
        features.append(
            {
                "type": "Feature",
                "properties": {"class": "primary" if i % 5 == 0 else "residential"},
                "geometry": {"type": "LineString", "coordinates": [[x, y] for y in ys]},
            }
        )
    return {"type": "FeatureCollection", "features": features}
