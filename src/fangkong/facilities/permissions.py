"""Permissions of the key-facility register and the roles that hold them.

``facilities.read`` reads facilities, their compliance and the rates in one's areas;
``facilities.write`` registers and edits facilities and imports the register (inspections
are cases: opening one needs the case engine's permission too); ``facilities.rules``
changes the county's compliance rules.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "facilities.read"
WRITE = "facilities.write"
RULES = "facilities.rules"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE, RULES},
    Role.COMMANDER: {READ, WRITE, RULES},
    Role.INSPECTOR: {READ, WRITE},
    Role.STATION_OFFICER: {READ, WRITE},
    Role.GRID_WORKER: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
