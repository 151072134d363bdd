"""督办 — the supervision of an overdue task of the indicator system's ledger (重点任务清单).

Opened by :mod:`fangkong.indicators.tasks` when a task passes its deadline unfinished, in the
task's area: the responsible unit answers within three working days (a plan to finish), the
prevention office follows it until the task is done, when the case closes as completed (the
ledger closes it), or cancels it. Open, it stands on the supervision board (督办看板) with the
other cases; past its own deadline it is flagged overdue and escalated like any case.
"""

from __future__ import annotations

from typing import Any

OFFICE = ["evaluator", "commander", "admin"]
UNITS = ["station_officer", *OFFICE]

TASK_SUPERVISION: dict[str, Any] = {
    "name": "task_supervision",
    "prefix": "TS",
    "fields": [
        {"name": "task_code", "kind": "text", "max_length": 32},
        {"name": "responsible_unit", "kind": "text", "max_length": 128},
        {"name": "plan", "kind": "longtext", "free_text": True},
        {"name": "reason", "kind": "longtext", "free_text": True},
    ],
    "create_fields": ["task_code", "responsible_unit"],
    "create_roles": OFFICE,
    "initial": "awaiting_plan",
    "supervising_roles": OFFICE,
    "retention_days": 730,
    "states": [
        {"name": "awaiting_plan", "deadline": {"hours": 25.5, "clock": "business"}},
        {"name": "following", "deadline": {"hours": 720, "clock": "calendar"}},
        {"name": "completed", "closing": True, "resolved": True},
        {"name": "cancelled", "closing": True},
    ],
    "transitions": [
        {
            "name": "submit_plan",
            "sources": ["awaiting_plan"],
            "target": "following",
            "roles": UNITS,
            "fields": ["plan"],
            "style": "primary",
        },
        {
            "name": "complete",
            "sources": ["awaiting_plan", "following"],
            "target": "completed",
            "roles": OFFICE,
            "style": "primary",
        },
        {
            "name": "cancel",
            "sources": ["awaiting_plan", "following"],
            "target": "cancelled",
            "roles": OFFICE,
            "fields": ["reason"],
            "style": "danger",
        },
    ],
}
