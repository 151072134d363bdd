"""The closed-loop case engine (研、交、办、督、结) and the case types declared on it.

What the application wires in (see the package's README section in the report):
``fangkong.cases.api.router``, ``fangkong.cases.pages.router``, :data:`NAV`,
``fangkong.cases.cli.cases_app``; ``fangkong.cases.permissions`` registers its permissions
with core.
"""

from __future__ import annotations

from fangkong.cases.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.cases", "/cases"),
    (READ, "nav.cases_board", "/cases/board"),
]

__all__ = ["NAV"]
