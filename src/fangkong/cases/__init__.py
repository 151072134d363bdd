"""The closed-loop case engine (研、交、办、督、结) and the case types declared on it.

What the application wires in (see the package's README section in the report):
``fangkong.cases.api.router``, ``fangkong.cases.pages.router``, :data:`NAV`,
``fangkong.cases.cli.cases_app``, :data:`PERMISSIONS_BY_ROLE` and
``fangkong.cases.demo.build_demo_cases``.
"""

from __future__ import annotations

from fangkong.cases.permissions import PERMISSIONS_BY_ROLE, READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.cases", "/cases"),
    (READ, "nav.cases_board", "/cases/board"),
]

__all__ = ["NAV", "PERMISSIONS_BY_ROLE"]
