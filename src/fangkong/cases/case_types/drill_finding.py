"""演练问题 — a finding of an emergency drill: what went wrong against the plan (a tier late,
a checkpoint not closed, a facility not told), rectified by a deadline by its severity and
checked, or dismissed.

Opened by :mod:`fangkong.events` from a drill (linked to the drill's simulated incident,
``incident``). The finding and the measures are free text in which people may write names:
deleted two years after the case closes.
"""

from __future__ import annotations

from typing import Any

HANDLERS = ["inspector", "station_officer", "commander", "admin"]

DRILL_FINDING: dict[str, Any] = {
    "name": "drill_finding",
    "prefix": "DF",
    "fields": [
        {
            "name": "aspect",
            "kind": "choice",
            "options": ["timing", "dispatch", "checkpoints", "notification", "equipment", "other"],
        },
        {"name": "severity", "kind": "choice", "options": ["major", "general", "minor"]},
        {"name": "finding", "kind": "longtext", "free_text": True},
        {"name": "measures", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["aspect", "severity"],
    "create_optional": ["finding"],
    "create_roles": HANDLERS,
    "initial": "rectifying",
    "supervising_roles": ["station_officer", "commander"],
    "retention_days": 730,
    "states": [
        {
            "name": "rectifying",
            "deadline": {
                "hours": 360,
                "clock": "calendar",
                "by_field": "severity",
                "hours_by_value": {"major": 168, "general": 360, "minor": 720},
                "actions": [
                    {"kind": "remind", "offset_hours": -24},
                    {"kind": "flag_overdue", "offset_hours": 0},
                ],
            },
        },
        {"name": "checking", "deadline": {"hours": 42.5, "clock": "business"}},
        {"name": "rectified", "closing": True, "resolved": True},
        {"name": "dismissed", "closing": True},
    ],
    "transitions": [
        {
            "name": "report_rectified",
            "sources": ["rectifying"],
            "target": "checking",
            "roles": HANDLERS,
            "fields": ["measures"],
            "style": "primary",
        },
        {
            "name": "accept",
            "sources": ["checking"],
            "target": "rectified",
            "roles": HANDLERS,
            "style": "primary",
            "not_by": ["report_rectified"],
        },
        {
            "name": "send_back",
            "sources": ["checking"],
            "target": "rectifying",
            "roles": HANDLERS,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "dismiss",
            "sources": ["rectifying"],
            "target": "dismissed",
            "roles": ["station_officer", "commander", "admin"],
            "fields": ["reason"],
            "style": "danger",
        },
    ],
}
