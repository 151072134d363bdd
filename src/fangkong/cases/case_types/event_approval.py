"""大型活动安全许可 — the approval of a large-event security application: review, ask for
more, approve with conditions or refuse, within the legal deadline.

Opened by :mod:`fangkong.events` when an organiser's application is registered, linked to it
(``event``), with the risk grade the rule gave. The Regulations on the Safety Management of
Large-scale Mass Activities (大型群众性活动安全管理条例, 2007), art. 13: the police decide
within 7 working days of receiving the application (here 59.5 business hours, 8.5 per
day); an application sent back for more documents gives the organiser 5 days, then the
review's clock starts again; a decision reconsidered (on review or appeal) goes back to
review. The decision, its conditions and the reasons are free text in
which people may write names: deleted two years after the case closes.
"""

from __future__ import annotations

from typing import Any

REVIEWERS = ["inspector", "station_officer", "commander", "admin"]
DECIDERS = ["commander", "admin"]

EVENT_APPROVAL: dict[str, Any] = {
    "name": "event_approval",
    "prefix": "EA",
    "fields": [
        {"name": "risk_grade", "kind": "choice", "options": ["low", "medium", "high", "very_high"]},
        {"name": "missing", "kind": "longtext", "free_text": True},
        {"name": "conditions", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["risk_grade"],
    "create_optional": [],
    "create_roles": REVIEWERS,
    "initial": "reviewing",
    "supervising_roles": ["station_officer", "commander"],
    "retention_days": 730,
    "states": [
        {
            "name": "reviewing",
            "deadline": {
                "hours": 59.5,
                "clock": "business",
                "actions": [
                    {"kind": "remind", "offset_hours": -8.5},
                    {"kind": "flag_overdue", "offset_hours": 0},
                    {"kind": "escalate", "offset_hours": 8.5},
                ],
            },
        },
        {"name": "supplementing", "deadline": {"hours": 120, "clock": "calendar"}},
        {"name": "approved", "closing": True, "resolved": True},
        {"name": "refused", "closing": True, "resolved": True},
        {"name": "withdrawn", "closing": True},
    ],
    "transitions": [
        {
            "name": "approve",
            "sources": ["reviewing"],
            "target": "approved",
            "roles": DECIDERS,
            "fields": ["conditions"],
            "style": "primary",
        },
        {
            "name": "ask_more",
            "sources": ["reviewing"],
            "target": "supplementing",
            "roles": REVIEWERS,
            "fields": ["missing"],
        },
        {
            "name": "resubmit",
            "sources": ["supplementing"],
            "target": "reviewing",
            "roles": REVIEWERS,
            "style": "primary",
        },
        {
            "name": "refuse",
            "sources": ["reviewing"],
            "target": "refused",
            "roles": DECIDERS,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "withdraw",
            "sources": ["reviewing", "supplementing"],
            "target": "withdrawn",
            "roles": REVIEWERS,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "reconsider",
            "sources": ["approved", "refused"],
            "target": "reviewing",
            "roles": DECIDERS,
            "fields": ["reason"],
            "reopen": True,
            "style": "danger",
        },
    ],
}
