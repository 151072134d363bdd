"""Large-event security (大型活动安保) and emergency plans and drills (应急预案, 演练).

Event applications by organisers with their venue, risk grade by a documented rule, approval
on the case engine and security plan on the map, its rings checked on the road network; plans
per incident category and level with tiered reinforcement, activated from an incident through
the dispatch recommender, and drills on simulated incidents that never count in real figures.

What the application wires in: ``fangkong.events.api.router`` (under ``/api/v1``),
``fangkong.events.pages.router`` and :data:`NAV`; ``fangkong.events.permissions`` registers
its permissions with core and ``fangkong.events.personal`` its entries in the personal-data
register.
"""

from __future__ import annotations

from fangkong.events import personal as _personal  # noqa: F401 - the register's entries
from fangkong.events.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.events", "/events"),
    (READ, "nav.emergency_plans", "/emergency-plans"),
]

__all__ = ["NAV"]
