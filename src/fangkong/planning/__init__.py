"""Planning (规划): coverage of demand by posts, site placement, scenarios and the control ring.

What the application wires in: ``fangkong.planning.api.router`` (under ``/api/v1``),
``fangkong.planning.pages.router`` and :data:`NAV`; ``fangkong.planning.permissions``
registers its permissions with core.
"""

from __future__ import annotations

from fangkong.planning.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation; the
# coverage, placement and control-ring pages link to each other.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.planning", "/planning/coverage"),
    (READ, "nav.planning_analysis", "/planning/analysis"),
]

__all__ = ["NAV"]
