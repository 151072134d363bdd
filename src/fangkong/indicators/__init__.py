"""The indicator system (评价指标体系): the catalogue of indicators as declarations, their
figures computed per area and period from fangkong's records (de-identified: no personal
field is read), targets per area and year with their history, manual inputs, the dashboard,
the task ledger (重点任务清单) and the reports a prevention office files.

What the application wires in: ``fangkong.indicators.api.router`` (under ``/api/v1``),
``fangkong.indicators.pages.router`` and :data:`NAV`; ``fangkong.indicators.permissions``
registers its permissions with core. Importing the package parses the catalogue: a broken
declaration stops the start with its name.
"""

from __future__ import annotations

from fangkong.indicators import catalogue as catalogue
from fangkong.indicators.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.indicators", "/indicators"),
    (READ, "nav.indicator_tasks", "/indicators/tasks"),
]

__all__ = ["NAV"]
