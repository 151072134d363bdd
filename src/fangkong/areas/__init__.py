"""The jurisdiction tree (city > district > station > beat area > grid) and standard addresses."""

from __future__ import annotations

from fangkong.areas.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.areas", "/areas"),
    (READ, "nav.fusion", "/areas/fusion"),
    (READ, "nav.addresses", "/addresses"),
]

__all__ = ["NAV"]
