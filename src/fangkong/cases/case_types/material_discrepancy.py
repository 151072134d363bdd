"""危爆物品账实不符 — a discrepancy the reconciliation of the hazardous-material ledger found:
investigate, resolve or dismiss.

Opened by the reconciliation (or by hand) for one holder, linked to it
(``material_holder``), with the kind of discrepancy and its fingerprint (what it is about:
the ledger rows or the count), so that a discrepancy opens one case however often the
ledger is reconciled. Explosives do not wait: a day to start, three to resolve. The findings
and measures are free text in which people may write names: deleted two years after the case
closes.
"""

from __future__ import annotations

from typing import Any

HANDLERS = ["inspector", "station_officer", "commander", "admin"]

MATERIAL_DISCREPANCY: dict[str, Any] = {
    "name": "material_discrepancy",
    "prefix": "MX",
    "fields": [
        {
            "name": "discrepancy",
            "kind": "choice",
            "options": [
                "count_mismatch",
                "negative_stock",
                "over_capacity",
                "transfer_unmatched",
                "transfer_quantity",
                "transfer_time",
                "unlicensed",
            ],
        },
        {"name": "holder", "kind": "text", "max_length": 32},
        {"name": "fingerprint", "kind": "text", "max_length": 128},
        {
            "name": "cause",
            "kind": "choice",
            "options": [
                "recording_error",
                "counting_error",
                "loss",
                "theft",
                "unlicensed_activity",
                "other",
            ],
        },
        {"name": "finding", "kind": "longtext", "free_text": True},
        {"name": "measures", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["discrepancy", "holder"],
    "create_optional": ["fingerprint"],
    "create_roles": HANDLERS,
    "initial": "found",
    "supervising_roles": ["station_officer", "commander"],
    "retention_days": 730,
    "states": [
        {"name": "found", "deadline": {"hours": 24, "clock": "calendar"}},
        {"name": "investigating", "deadline": {"hours": 72, "clock": "calendar"}},
        {"name": "resolved", "closing": True, "resolved": True},
        {"name": "dismissed", "closing": True},
    ],
    "transitions": [
        {
            "name": "investigate",
            "sources": ["found"],
            "target": "investigating",
            "roles": HANDLERS,
            "style": "primary",
        },
        {
            "name": "resolve",
            "sources": ["investigating"],
            "target": "resolved",
            "roles": HANDLERS,
            "fields": ["cause", "finding", "measures"],
            "style": "primary",
        },
        {
            "name": "dismiss",
            "sources": ["found", "investigating"],
            "target": "dismissed",
            "roles": ["station_officer", "commander", "admin"],
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "reopen",
            "sources": ["resolved", "dismissed"],
            "target": "investigating",
            "roles": ["station_officer", "commander", "admin"],
            "fields": ["reason"],
            "reopen": True,
            "style": "danger",
        },
    ],
}
