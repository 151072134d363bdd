"""Permissions of the hazardous-material registers and the roles that hold them.

``materials.read`` reads holders, sites, the ledger and its reconciliation in one's areas;
``materials.write`` registers materials, holders, sites and capacities, records movements,
counts and corrections, sets the tolerances and opens cases for discrepancies;
``materials.personal.unmask`` reads a holder's responsible contact in clear (audited).
Inspectors keep the registers; the command centre and administrators may too.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "materials.read"
WRITE = "materials.write"
UNMASK = "materials.personal.unmask"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE, UNMASK},
    Role.COMMANDER: {READ, WRITE, UNMASK},
    Role.INSPECTOR: {READ, WRITE, UNMASK},
    Role.STATION_OFFICER: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
