"""What the dispatch modules share: the permission check that a system call skips."""

from __future__ import annotations

from fangkong.core import auth
from fangkong.core.models import User


def require(user: User | auth.Principal | None, permission: str) -> None:
    """Check ``permission`` of ``user``; ``None`` is the system itself (jobs, imports)."""
    if user is not None:
        auth.require(user, permission)
