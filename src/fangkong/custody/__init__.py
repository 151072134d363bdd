"""Custody of seized property (涉案财物): items as assets held for an incident's or a case's
number (never a person), their append-only chain of custody (received, stored, moved,
examined, returned, disposed; corrections as new steps), deadlines per stage and the overdue
alerts on the supervision board (a case type of the engine).

What the application wires in: ``fangkong.custody.api.router`` (under ``/api/v1``),
``fangkong.custody.pages.router``, :data:`NAV` and ``fangkong.custody.jobs`` (the alerts'
tick); ``fangkong.custody.permissions`` registers its permissions with core and
``fangkong.custody.alerts`` its case type with the engine.
"""

from __future__ import annotations

from fangkong.custody import alerts as _alerts  # noqa: F401 - the overdue case type
from fangkong.custody.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.custody", "/custody"),
]

__all__ = ["NAV"]
