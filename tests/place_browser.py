"""Shared steps of the browser tests of the place picker (templates/_place.html,
static/place_picker.js): wait for a form's map, click it at a coordinate, read where its
marker and centre are."""

from __future__ import annotations

import re
from typing import Any

#: A click lands within a pixel of the point; at the picker's zooms a pixel is well under this.
NEAR_DEG = 1e-3


def map_ready(page: Any, map_id: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f"#{map_id}")).to_have_attribute("data-ready", "true", timeout=30_000)


def click_at(page: Any, map_id: str, lon: float, lat: float) -> None:
    """Click (or tap) the map ``map_id`` where the point (lon, lat) is drawn."""
    from playwright.sync_api import expect

    map_ready(page, map_id)
    page.locator(f"#{map_id}").scroll_into_view_if_needed()
    at = page.evaluate(
        "([id, lon, lat]) => { const p = window.fangkongPlaceMaps[id].project([lon, lat]);"
        " return { x: p.x, y: p.y }; }",
        [map_id, lon, lat],
    )
    box = page.locator(f"#{map_id}").bounding_box()
    assert box is not None
    assert 0 < at["x"] < box["width"] and 0 < at["y"] < box["height"], (at, box)
    page.locator(f"#{map_id} canvas").click(position=at)
    expect(page.locator(f"#{map_id}")).to_have_attribute("data-picked", re.compile(r"\d"))


def pan_to(page: Any, map_id: str, lon: float, lat: float) -> None:
    """Bring (lon, lat) to the middle of the map, as a user dragging it would."""
    page.evaluate(
        "([id, lon, lat]) => window.fangkongPlaceMaps[id].jumpTo({ center: [lon, lat] })",
        [map_id, lon, lat],
    )


def centre(page: Any, map_id: str) -> tuple[float, float]:
    found = page.evaluate(
        "(id) => { const c = window.fangkongPlaceMaps[id].getCenter(); return [c.lng, c.lat]; }",
        map_id,
    )
    return float(found[0]), float(found[1])


def marker(page: Any, map_id: str) -> tuple[float, float] | None:
    text = page.locator(f"#{map_id}").get_attribute("data-marker")
    if not text:
        return None
    lon, lat = text.split(",")
    return float(lon), float(lat)


def near(
    a: tuple[float, float] | None, b: tuple[float, float], tolerance: float = NEAR_DEG
) -> bool:
    return a is not None and abs(a[0] - b[0]) < tolerance and abs(a[1] - b[1]) < tolerance
