"""The case engine's services, by name.

The work is done in modules by concern, and this module names what they offer so that callers
write ``service.create(...)``, ``service.tick(...)``:

- :mod:`~fangkong.cases.engine`: reading, opening, moving, commenting on, supervising and
  linking cases; :mod:`~fangkong.cases.fields` checks their field values;
- :mod:`~fangkong.cases.deadlines`: deadlines and the tick; :mod:`~fangkong.cases.risk`: the
  case's escalation-risk flag; :mod:`~fangkong.cases.notify`: who hears of a case;
- :mod:`~fangkong.cases.attachments`: files of a case, sealed at rest, downloads audited;
- :mod:`~fangkong.cases.personal`: the register's entries of cases; parties and personal
  values, masked or unmasked (audited);
- :mod:`~fangkong.cases.purge`: the retention purge;
- :mod:`~fangkong.cases.board`: the supervision board and notices.

Every function takes the session and an explicit ``now``: the engine never reads the clock, so
deadlines are tested with a frozen one. ``user`` is the staff member acting (their role and
permissions are checked) or ``None`` for the system itself (CLI jobs, the demo builder).
Services flush, never commit.
"""

from __future__ import annotations

from fangkong.cases._common import LINK_KINDS, MAX_TEXT, MAX_TITLE, decl_of, number
from fangkong.cases.attachments import (
    add_attachment,
    get_attachment,
    holds_personal_data,
    may_open_attachments,
    open_attachment,
    seal_stored_in_clear,
)
from fangkong.cases.board import (
    AGE_BUCKETS_DAYS,
    BoardRow,
    board,
    mark_notices_read,
    notices_for,
)
from fangkong.cases.deadlines import TickReport, deadline_for, tick
from fangkong.cases.engine import (
    CaseFilter,
    PartyIn,
    add_link,
    allowed_transitions,
    comment,
    create,
    get,
    get_all,
    get_map_cases,
    get_or_raise,
    is_overdue,
    resolve_area,
    supervise,
    transition,
)
from fangkong.cases.fields import coerce_fields
from fangkong.cases.notify import assignable_users, nearest_users, users_bound_to
from fangkong.cases.personal import (
    CaseField,
    PartyView,
    PersonalView,
    case_fields,
    mask_name,
    mask_text,
    masked_personal,
    reveal_personal,
)
from fangkong.cases.purge import PurgeReport, purge
from fangkong.cases.risk import risk_reasons

__all__ = [
    "AGE_BUCKETS_DAYS",
    "LINK_KINDS",
    "MAX_TEXT",
    "MAX_TITLE",
    "BoardRow",
    "CaseField",
    "CaseFilter",
    "PartyIn",
    "PartyView",
    "PersonalView",
    "PurgeReport",
    "TickReport",
    "add_attachment",
    "add_link",
    "allowed_transitions",
    "assignable_users",
    "board",
    "case_fields",
    "coerce_fields",
    "comment",
    "create",
    "deadline_for",
    "decl_of",
    "get",
    "get_all",
    "get_attachment",
    "get_map_cases",
    "get_or_raise",
    "holds_personal_data",
    "is_overdue",
    "mark_notices_read",
    "mask_name",
    "mask_text",
    "masked_personal",
    "may_open_attachments",
    "nearest_users",
    "notices_for",
    "number",
    "open_attachment",
    "purge",
    "resolve_area",
    "reveal_personal",
    "risk_reasons",
    "seal_stored_in_clear",
    "supervise",
    "tick",
    "transition",
    "users_bound_to",
]
