"""Key facilities (重点单位): schools, hospitals, banks, fuel stations, plants and the other
places the standard names, their protection, their compliance with the county's declared
rules, and their periodic security inspections (a case type on the one engine).

What the application wires in: ``fangkong.facilities.api.router`` (under ``/api/v1``),
``fangkong.facilities.pages.router`` and :data:`NAV`; ``fangkong.facilities.permissions``
registers its permissions with core.
"""

from __future__ import annotations

from fangkong.facilities.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.facilities", "/facilities"),
    (READ, "nav.facility_rates", "/facilities/rates"),
]

__all__ = ["NAV"]
