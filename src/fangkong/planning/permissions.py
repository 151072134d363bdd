"""Permissions of planning and the roles that hold them.

``planning.read`` reads coverage, placements, scenarios, checkpoints and the control ring, and
runs analyses that store nothing but their own run (coverage, control ring);
``planning.write`` runs placements, edits scenarios, registers checkpoints and edits the
control ring's weights. Planners of the command centre and the prevention office plan; station
officers and evaluators read the plans of their areas.
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "planning.read"
WRITE = "planning.write"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE},
    Role.COMMANDER: {READ, WRITE},
    Role.STATION_OFFICER: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
