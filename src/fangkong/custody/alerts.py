"""Overdue alerts of the custody chain on the supervision board: a case type declared on the
one engine (``custody_overdue``), opened by :func:`fangkong.custody.service.raise_alerts` for an
item whose stage passed its deadline, linked to nothing personal (the item's code only).

The declaration is registered with the case engine when this module is imported, as case
types loaded at start-up are; its labels are in this domain's catalogues.
"""

from __future__ import annotations

from typing import Any

from fangkong.cases import registry
from fangkong.cases.declaration import parse

HANDLERS = ["station_officer", "commander", "admin"]

CUSTODY_OVERDUE: dict[str, Any] = {
    "name": "custody_overdue",
    "prefix": "CO",
    "fields": [
        {"name": "item", "kind": "text", "max_length": 32},
        {
            "name": "stage",
            "kind": "choice",
            "options": ["received", "stored", "moved", "examined"],
        },
        {"name": "measures", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["item", "stage"],
    "create_roles": HANDLERS,
    "initial": "overdue",
    "supervising_roles": ["station_officer", "commander"],
    "retention_days": 730,
    "states": [
        {"name": "overdue", "deadline": {"hours": 24, "clock": "calendar"}},
        {"name": "resolved", "closing": True, "resolved": True},
        {"name": "dismissed", "closing": True},
    ],
    "transitions": [
        {
            "name": "resolve",
            "sources": ["overdue"],
            "target": "resolved",
            "roles": HANDLERS,
            "fields": ["measures"],
            "style": "primary",
        },
        {
            "name": "dismiss",
            "sources": ["overdue"],
            "target": "dismissed",
            "roles": HANDLERS,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "reopen",
            "sources": ["resolved", "dismissed"],
            "target": "overdue",
            "roles": HANDLERS,
            "fields": ["reason"],
            "reopen": True,
            "style": "danger",
        },
    ],
}

CUSTODY_OVERDUE_TYPE = parse(CUSTODY_OVERDUE, source="fangkong.custody.alerts")
registry.register(CUSTODY_OVERDUE_TYPE)
