"""Hazardous materials (危爆物品): licensed holders, their sites and capacities, the
append-only movement ledger and its reconciliation.

What the application wires in: ``fangkong.materials.api.router`` (under ``/api/v1``),
``fangkong.materials.pages.router`` and :data:`NAV`; ``fangkong.materials.permissions``
registers its permissions with core, ``fangkong.materials.personal`` its entries in the
register of personal data.
"""

from __future__ import annotations

from fangkong.materials.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.materials", "/materials"),
]

__all__ = ["NAV"]
