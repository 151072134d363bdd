"""Permissions of the dispatch domain and the roles that hold them.

``dispatch.read`` reads incidents, units and KPIs; ``dispatch.intake`` records incidents;
``dispatch.act`` moves incidents through their lifecycle, recommends and dispatches units;
``dispatch.units`` registers units; ``dispatch.position`` reports a unit's position;
``dispatch.personal.unmask`` reads a caller's contact in clear (always audited).
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "dispatch.read"
INTAKE = "dispatch.intake"
ACT = "dispatch.act"
UNITS = "dispatch.units"
POSITION = "dispatch.position"
UNMASK = "dispatch.personal.unmask"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, INTAKE, ACT, UNITS, POSITION, UNMASK},
    Role.COMMANDER: {READ, INTAKE, ACT, UNITS, POSITION, UNMASK},
    Role.STATION_OFFICER: {READ, INTAKE, ACT, POSITION},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}


permissions.register(PERMISSIONS_BY_ROLE)
