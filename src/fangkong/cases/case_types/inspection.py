"""安全检查 — periodic security inspections of key facilities: inspect, find, rectify by a
deadline, re-inspect, close.

A case is opened for one facility (linked to it: ``facility``), periodically or because a
compliance rule failed (the rules' codes in ``rules``). An inspection that finds nothing
passes at once; one with findings sets a rectification deadline by their severity, and a
re-inspection by someone other than who reported the rectification closes it or sends it
back. The findings, measures and results are free text in which people may write names:
deleted two years after the case closes (the counts stay for the rates).
"""

from __future__ import annotations

from typing import Any

INSPECTORS = ["inspector", "station_officer", "commander", "admin"]

INSPECTION: dict[str, Any] = {
    "name": "inspection",
    "prefix": "SI",
    "fields": [
        {
            "name": "trigger",
            "kind": "choice",
            "options": ["periodic", "rule_failure", "spot_check", "referral"],
        },
        {"name": "rules", "kind": "text", "max_length": 500},
        {"name": "severity", "kind": "choice", "options": ["major", "general", "minor"]},
        {"name": "findings", "kind": "longtext", "free_text": True},
        {"name": "measures", "kind": "longtext", "free_text": True},
        {"name": "reinspection_result", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["trigger"],
    "create_optional": ["rules"],
    "create_roles": INSPECTORS,
    "initial": "inspecting",
    "supervising_roles": ["station_officer", "commander"],
    "retention_days": 730,
    "states": [
        # Ten working days to inspect once the inspection is opened.
        {"name": "inspecting", "deadline": {"hours": 85, "clock": "business"}},
        {
            "name": "rectifying",
            "deadline": {
                "hours": 360,
                "clock": "calendar",
                "by_field": "severity",
                "hours_by_value": {"major": 72, "general": 360, "minor": 720},
                "actions": [
                    {"kind": "remind", "offset_hours": -24},
                    {"kind": "flag_overdue", "offset_hours": 0},
                    {"kind": "escalate", "offset_hours": 48},
                ],
            },
        },
        {"name": "reinspecting", "deadline": {"hours": 42.5, "clock": "business"}},
        {"name": "passed", "closing": True, "resolved": True},
        {"name": "rectified", "closing": True, "resolved": True},
        {"name": "cancelled", "closing": True},
    ],
    "transitions": [
        {
            "name": "pass",
            "sources": ["inspecting"],
            "target": "passed",
            "roles": INSPECTORS,
            "style": "primary",
        },
        {
            "name": "find",
            "sources": ["inspecting"],
            "target": "rectifying",
            "roles": INSPECTORS,
            "fields": ["severity", "findings"],
            "style": "danger",
        },
        {
            "name": "report_rectified",
            "sources": ["rectifying"],
            "target": "reinspecting",
            "roles": INSPECTORS,
            "fields": ["measures"],
            "style": "primary",
        },
        {
            "name": "pass_reinspection",
            "sources": ["reinspecting"],
            "target": "rectified",
            "roles": INSPECTORS,
            "fields": ["reinspection_result"],
            "style": "primary",
            "not_by": ["report_rectified"],
        },
        {
            "name": "fail_reinspection",
            "sources": ["reinspecting"],
            "target": "rectifying",
            "roles": INSPECTORS,
            "fields": ["reinspection_result"],
            "style": "danger",
        },
        {
            "name": "cancel",
            "sources": ["inspecting"],
            "target": "cancelled",
            "roles": ["station_officer", "commander", "admin"],
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "reopen",
            "sources": ["passed", "rectified"],
            "target": "rectifying",
            "roles": ["station_officer", "commander", "admin"],
            "fields": ["severity", "reason"],
            "reopen": True,
            "style": "danger",
        },
    ],
    "rates": [
        {
            "name": "rectified_at_reinspection",
            "of": ["find"],
            "hit": ["pass_reinspection"],
            "source": "the inspection loop: findings rectified and passed at re-inspection",
        }
    ],
}
