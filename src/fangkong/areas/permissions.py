"""Permissions of the jurisdiction tree and the standard addresses, registered with core."""

from __future__ import annotations

from fangkong.core import permissions
from fangkong.core.models import Role

READ = "areas.read"
WRITE = "areas.write"

permissions.register({role: {READ} for role in Role} | {Role.ADMIN: {READ, WRITE}})
