"""风险隐患 — hazards: find, assess, route, handle, re-inspect, close (排查、评估、流转、处置).

The "四三二一" loop of the source documents: four finding routes, three assessment levels, two
routing channels (internal, external) and one end-to-end supervision.

A hazard is about a place, but the place described in words, the measures, the results and the
reasons are free text in which people may write names: they are deleted two years after the
case closes, with the title, description and notes (the counts stay for the indicators).
"""

from __future__ import annotations

from typing import Any

ACTORS = ["grid_worker", "station_officer", "inspector", "commander", "admin"]
OFFICERS = ["station_officer", "commander", "admin"]

HAZARD: dict[str, Any] = {
    "name": "hazard",
    "prefix": "HZ",
    "fields": [
        {
            "name": "finding_route",
            "kind": "choice",
            "options": [
                "rolling_special",
                "on_foot",
                "data",
                "inter_department",
                "public_tip",
            ],
        },
        {
            "name": "category",
            "kind": "choice",
            "options": [
                "fire",
                "traffic",
                "structural",
                "chemical",
                "crowd",
                "public_order",
                "other",
            ],
        },
        {"name": "place", "kind": "text", "max_length": 200, "free_text": True},
        {"name": "assessment_level", "kind": "choice", "options": ["grid", "station", "county"]},
        {
            "name": "risk_grade",
            "kind": "choice",
            "options": ["major", "significant", "general", "low"],
        },
        {"name": "department", "kind": "text", "max_length": 128},
        {"name": "handler", "kind": "user"},
        {"name": "measures", "kind": "longtext", "free_text": True},
        {"name": "reinspection_result", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["finding_route", "category"],
    "create_optional": ["place"],
    "create_roles": ACTORS,
    "initial": "found",
    "supervising_roles": ["station_officer", "commander"],
    # Two years after closing: a year-on-year review of the loop still finds the cases whole.
    "retention_days": 730,
    "states": [
        {"name": "found", "deadline": {"hours": 17, "clock": "business"}},
        {"name": "assessed", "deadline": {"hours": 8.5, "clock": "business"}},
        {
            "name": "handling",
            "deadline": {
                "hours": 120,
                "clock": "calendar",
                "by_field": "risk_grade",
                "hours_by_value": {"major": 24, "significant": 72, "general": 168, "low": 360},
                "actions": [
                    {"kind": "remind", "offset_hours": -12},
                    {"kind": "flag_overdue", "offset_hours": 0},
                    {"kind": "escalate", "offset_hours": 24},
                ],
            },
        },
        {"name": "reinspecting", "deadline": {"hours": 42.5, "clock": "business"}},
        {"name": "closed", "closing": True, "resolved": True},
        {"name": "dismissed", "closing": True},
    ],
    "transitions": [
        {
            "name": "assess",
            "sources": ["found"],
            "target": "assessed",
            "roles": ACTORS,
            "fields": ["assessment_level", "risk_grade"],
            "style": "primary",
        },
        {
            "name": "route_internal",
            "sources": ["assessed"],
            "target": "handling",
            "roles": OFFICERS,
            "fields": ["department"],
            "optional_fields": ["handler"],
            "assigns_org": "department",
            "assigns_user": "handler",
            "style": "primary",
        },
        {
            "name": "route_external",
            "sources": ["assessed"],
            "target": "handling",
            "roles": OFFICERS,
            "fields": ["department"],
            "assigns_org": "department",
        },
        {
            "name": "report_handled",
            "sources": ["handling"],
            "target": "reinspecting",
            "roles": ACTORS,
            "fields": ["measures"],
            "style": "primary",
        },
        {
            "name": "pass_reinspection",
            "sources": ["reinspecting"],
            "target": "closed",
            "roles": ["station_officer", "inspector", "commander", "admin"],
            "fields": ["reinspection_result"],
            "style": "primary",
            # Separation of duties: whoever reported it handled, or was its handler, does not
            # pass their own work (failing it back stays open to them).
            "not_by": ["report_handled", "handler"],
        },
        {
            "name": "fail_reinspection",
            "sources": ["reinspecting"],
            "target": "handling",
            "roles": ["station_officer", "inspector", "commander", "admin"],
            "fields": ["reinspection_result"],
            "style": "danger",
        },
        {
            "name": "dismiss",
            "sources": ["found", "assessed"],
            "target": "dismissed",
            "roles": OFFICERS,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "reopen",
            "sources": ["closed"],
            "target": "handling",
            "roles": OFFICERS,
            "fields": ["reason"],
            "reopen": True,
            "style": "danger",
        },
    ],
}
