"""Permissions of the device register and the roles that hold them.

``devices.read`` reads devices, their histories and the figures in one's areas;
``devices.write`` registers and edits devices, imports the register and sets the zone types
of areas; ``devices.status`` reports statuses (one or many; an integration's account holds
it). The register holds no personal data: nothing to unmask.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "devices.read"
WRITE = "devices.write"
STATUS = "devices.status"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE, STATUS},
    Role.COMMANDER: {READ, WRITE, STATUS},
    Role.INSPECTOR: {READ, WRITE, STATUS},
    Role.STATION_OFFICER: {READ, STATUS},
    Role.GRID_WORKER: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
