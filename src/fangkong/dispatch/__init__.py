"""Incidents (警情), units (警力), dispatch recommendation and response-ring KPIs.

What the application wires in: ``fangkong.dispatch.api.router`` (under ``/api/v1``),
``fangkong.dispatch.pages.router`` and :data:`NAV`; ``fangkong.dispatch.permissions``
registers its permissions with core.
"""

from __future__ import annotations

from fangkong.dispatch.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.incidents", "/incidents"),
    (READ, "nav.incident_history", "/incidents/history"),
    (READ, "nav.kpis", "/dispatch/kpis"),
    (READ, "nav.replay", "/dispatch/replay"),
]

__all__ = ["NAV"]
