"""The permission registry: which role holds which permission.

Core holds the registry, not the knowledge: each domain declares its permissions in its own
``permissions.py`` and registers them here when that module is imported. A module that checks
a permission imports the module that names it, so a permission is registered before it is
checked. A role never granted a permission never has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from fangkong.core.models import Role

_granted: dict[Role, set[str]] = {role: set() for role in Role}
_known: set[str] = set()


def register(by_role: Mapping[Role, Set[str]], *, declared: Set[str] = frozenset()) -> None:
    """Grant each role its permissions; ``declared`` names permissions no role holds yet."""
    for role, permissions in by_role.items():
        _granted[role] |= set(permissions)
        _known.update(permissions)
    _known.update(declared)


def of_role(role: Role) -> frozenset[str]:
    """Every permission registered for ``role``."""
    return frozenset(_granted[role])


def held(role: Role, permission: str) -> bool:
    return permission in _granted[role]


def known() -> frozenset[str]:
    """Every permission registered, held by a role or not."""
    return frozenset(_known)


# The core's own permissions: managing users, reading the audit log and verifying its chain,
# unmasking staff phones.
MANAGE_USERS = "users.manage"
READ_AUDIT = "audit.read"
VERIFY_AUDIT = "audit.verify"
UNMASK_PERSONAL = "personal.unmask"

register(
    {
        Role.ADMIN: {MANAGE_USERS, READ_AUDIT, VERIFY_AUDIT, UNMASK_PERSONAL},
        Role.COMMANDER: {UNMASK_PERSONAL},
        Role.EVALUATOR: {READ_AUDIT},
    }
)
