"""矛盾纠纷 — disputes brought for mediation: intake, mediator, sessions, agreement, follow-up.

Parties' names and contacts, agreement texts and session notes are personal data: encrypted,
masked, unmasked only by roles that need them (audited), and purged a year after closing. The
escalation-risk flag belongs to the CASE and is computed from the case's own facts (threats or
weapons recorded, a domestic-violence category, repeated failed sessions); no person is scored.
"""

from __future__ import annotations

from typing import Any

INTAKE = ["grid_worker", "station_officer", "mediator", "commander", "admin"]
MEDIATION = ["mediator", "station_officer", "admin"]
FOLLOW_UP_DAYS = 30

DISPUTE: dict[str, Any] = {
    "name": "dispute",
    "prefix": "MD",
    "fields": [
        {
            "name": "category",
            "kind": "choice",
            "options": [
                "neighbour",
                "family",
                "domestic_violence",
                "marriage",
                "property",
                "labour",
                "land",
                "contract",
                "consumer",
                "other",
            ],
        },
        {"name": "channel", "kind": "choice", "options": ["people", "administrative", "judicial"]},
        {
            "name": "source",
            "kind": "choice",
            "options": ["walk_in", "hotline", "grid_visit", "police_referral", "court_referral"],
        },
        {"name": "threats_recorded", "kind": "bool"},
        {"name": "weapons_recorded", "kind": "bool"},
        {"name": "mediator", "kind": "user", "user_roles": ["mediator"]},
        {"name": "session_at", "kind": "datetime"},
        {"name": "session_result", "kind": "choice", "options": ["progress", "failed"]},
        {"name": "session_note", "kind": "longtext", "personal": True},
        {"name": "agreement_text", "kind": "longtext", "personal": True, "max_length": 10000},
        {
            "name": "referral",
            "kind": "choice",
            "options": ["litigation", "arbitration", "administrative", "police", "other"],
        },
        {
            "name": "follow_up_result",
            "kind": "choice",
            "options": ["fulfilled", "partially_fulfilled"],
        },
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["category", "channel", "source"],
    "create_optional": ["threats_recorded", "weapons_recorded"],
    "create_roles": INTAKE,
    "initial": "intake",
    "supervising_roles": ["station_officer", "commander"],
    "parties": {"minimum": 2, "maximum": 10},
    "retention_days": 365,
    "risk": {
        "any_true": ["threats_recorded", "weapons_recorded"],
        "field_in": {"category": ["domestic_violence"]},
        "repeated": [
            {
                "transition": "hold_session",
                "field": "session_result",
                "value": "failed",
                "at_least": 2,
            }
        ],
        "deadline_factor": 0.5,
        "alert_roles": ["station_officer"],
        "alert_level": "station",
    },
    "rates": [
        {
            "name": "agreement_rate",
            "of": ["record_agreement", "record_no_agreement"],
            "hit": ["record_agreement"],
            "source": "调解成功率: agreements ÷ mediations ended with or without one",
        },
        {
            "name": "follow_up_rate",
            "of": ["record_agreement"],
            "hit": ["follow_up", "follow_up_broken"],
            "due_days": FOLLOW_UP_DAYS,
            "source": "回访率: agreements followed up ÷ agreements whose follow-up was due or done",
        },
    ],
    "states": [
        {"name": "intake", "deadline": {"hours": 8.5, "clock": "business"}},
        {
            "name": "mediating",
            "deadline": {
                "hours": 30 * 24,
                "clock": "calendar",
                "actions": [
                    {"kind": "remind", "offset_hours": -72},
                    {"kind": "flag_overdue", "offset_hours": 0},
                    {"kind": "escalate", "offset_hours": 24},
                ],
            },
        },
        {
            "name": "agreed",
            "deadline": {
                "hours": FOLLOW_UP_DAYS * 24,
                "clock": "calendar",
                "actions": [
                    {"kind": "remind", "offset_hours": -72},
                    {"kind": "flag_overdue", "offset_hours": 0},
                ],
            },
        },
        {"name": "closed", "closing": True, "resolved": True},
        {"name": "referred", "closing": True},
        {"name": "withdrawn", "closing": True},
    ],
    "transitions": [
        {
            "name": "assign_mediator",
            "sources": ["intake"],
            "target": "mediating",
            "roles": ["station_officer", "mediator", "commander", "admin"],
            "fields": ["mediator"],
            "assigns_user": "mediator",
            "style": "primary",
        },
        {
            "name": "hold_session",
            "sources": ["mediating"],
            "stay": True,
            "roles": MEDIATION,
            "fields": ["session_at", "session_result"],
            "optional_fields": ["session_note"],
        },
        {
            "name": "record_risk_facts",
            "sources": ["intake", "mediating", "agreed"],
            "stay": True,
            "roles": INTAKE,
            "fields": ["threats_recorded", "weapons_recorded"],
            "note_required": True,
        },
        {
            "name": "record_agreement",
            "sources": ["mediating"],
            "target": "agreed",
            "roles": MEDIATION,
            "fields": ["agreement_text"],
            "style": "primary",
        },
        {
            "name": "record_no_agreement",
            "sources": ["mediating"],
            "target": "referred",
            "roles": MEDIATION,
            "fields": ["referral", "reason"],
            "style": "danger",
        },
        {
            "name": "follow_up",
            "sources": ["agreed"],
            "target": "closed",
            "roles": MEDIATION,
            "fields": ["follow_up_result"],
            "style": "primary",
        },
        {
            "name": "follow_up_broken",
            "sources": ["agreed"],
            "target": "mediating",
            "roles": MEDIATION,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "withdraw",
            "sources": ["intake", "mediating"],
            "target": "withdrawn",
            "roles": MEDIATION,
            "fields": ["reason"],
            "style": "danger",
        },
        {
            "name": "reopen",
            "sources": ["closed"],
            "target": "mediating",
            "roles": ["station_officer", "commander", "admin"],
            "fields": ["reason"],
            "reopen": True,
            "style": "danger",
        },
    ],
}
