"""Permissions of the community safety forces and the public's tips.

``community.read`` reads teams, their counts, shifts, figures and the tips of one's areas;
``community.write`` keeps teams, members, shifts and the residents per area (grid workers and
station officers keep their communities' teams); ``community.personal.unmask`` reads a
member's name and phone, or a tipster's contact, in clear (audited).
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "community.read"
WRITE = "community.write"
UNMASK = "community.personal.unmask"

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, WRITE, UNMASK},
    Role.COMMANDER: {READ, WRITE, UNMASK},
    Role.STATION_OFFICER: {READ, WRITE, UNMASK},
    Role.GRID_WORKER: {READ, WRITE},
    Role.MEDIATOR: {READ},
    Role.INSPECTOR: {READ},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}

permissions.register(PERMISSIONS_BY_ROLE)
