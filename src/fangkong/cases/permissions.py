"""Permissions of the case engine and the roles that hold them.

Who may move a case through a given transition is the declaration's business (roles per
transition); these permissions gate the kinds of work: reading, creating, acting, supervising,
unmasking parties' personal data, and running the deadline tick and the retention purge
by hand (``cases.admin``).
"""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "cases.read"
CREATE = "cases.create"
ACT = "cases.act"
SUPERVISE = "cases.supervise"
UNMASK = "cases.personal.unmask"
ADMIN = "cases.admin"

_WORKERS = {READ, CREATE, ACT}

PERMISSIONS_BY_ROLE: dict[Role, set[str]] = {
    Role.ADMIN: {READ, CREATE, ACT, SUPERVISE, UNMASK, ADMIN},
    Role.COMMANDER: {READ, CREATE, ACT, SUPERVISE, UNMASK},
    Role.STATION_OFFICER: {*_WORKERS, UNMASK},
    Role.GRID_WORKER: set(_WORKERS),
    Role.MEDIATOR: {*_WORKERS, UNMASK},
    Role.INSPECTOR: {*_WORKERS, SUPERVISE},
    Role.EVALUATOR: {READ},
    Role.VIEWER: {READ},
}


permissions.register(PERMISSIONS_BY_ROLE)
