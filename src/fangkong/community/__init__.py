"""Community safety forces (群防群治) and tips from the public (群众举报): safety teams as
counts (volunteer patrols, safety committees, informant networks), the minimal member records
of patrols and committees, rosters and patrol shifts, residents per area and the figures
against the targets; the public's tips, taken with no login, each a hazard case on the one
engine or rejected with a reason.

What the application wires in: ``fangkong.community.api.router`` and
``fangkong.community.public.api_router`` (under ``/api/v1``),
``fangkong.community.pages.router`` and ``fangkong.community.public.pages_router``, and
:data:`NAV`; ``fangkong.community.permissions`` registers its permissions with core and
``fangkong.community.personal`` its entries in the personal-data register.
"""

from __future__ import annotations

from fangkong.community import personal as _personal  # noqa: F401 - the register's entries
from fangkong.community.permissions import READ

# (permission, translation key, path) of the console pages, for the main navigation.
NAV: list[tuple[str | None, str, str]] = [
    (READ, "nav.community", "/community"),
]

__all__ = ["NAV"]
