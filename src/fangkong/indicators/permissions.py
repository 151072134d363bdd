"""Permissions of the indicator system and the roles that hold them.

``indicators.read`` reads the figures, targets, drill-downs, the task ledger and the reports
of one's areas; ``indicators.write`` enters manual inputs, sets targets, recomputes a period
and edits the report templates (the prevention office: evaluators, commanders);
``indicators.tasks`` keeps the task ledger.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "indicators.read"
WRITE = "indicators.write"
TASKS = "indicators.tasks"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE, TASKS},
    Role.COMMANDER: {READ, WRITE, TASKS},
    Role.EVALUATOR: {READ, WRITE, TASKS},
    Role.STATION_OFFICER: {READ, TASKS},
    Role.INSPECTOR: {READ},
    Role.GRID_WORKER: {READ},
    Role.MEDIATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
