"""Permissions of large-event security and emergency plans, and the roles that hold them.

``events.read`` reads event applications, their security plans, emergency plans and their
activations and drills in one's areas; ``events.write`` registers applications, draws their
plans and keeps the emergency plans (approving an application is a case transition: the
case engine's roles decide); ``events.unmask`` reads the organiser's contact in clear
(audited); ``events.activate`` activates a plan from an incident, confirms its dispatches
and runs drills.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "events.read"
WRITE = "events.write"
UNMASK = "events.unmask"
ACTIVATE = "events.activate"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE, UNMASK, ACTIVATE},
    Role.COMMANDER: {READ, WRITE, UNMASK, ACTIVATE},
    Role.INSPECTOR: {READ, WRITE, UNMASK},
    Role.STATION_OFFICER: {READ, WRITE, ACTIVATE},
    Role.GRID_WORKER: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
