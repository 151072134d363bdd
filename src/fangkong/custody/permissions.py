"""Permissions of the custody of seized property.

``custody.read`` reads the items and their chains in one's areas; ``custody.write`` registers
items and records the steps of their chains (and corrections); the station and the command
centre keep them.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "custody.read"
WRITE = "custody.write"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE},
    Role.COMMANDER: {READ, WRITE},
    Role.STATION_OFFICER: {READ, WRITE},
    Role.INSPECTOR: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
