"""Incidents and units: the dispatch domain's services, by name.

The work is done in modules by concern, and this module names what they offer so that callers
write ``service.create(...)``, ``service.transition(...)``:

- :mod:`~fangkong.dispatch.incidents`: intake with idempotency keys, reads in scope;
- :mod:`~fangkong.dispatch.history`: lists of incidents, their filters and the history table;
- :mod:`~fangkong.dispatch.lifecycle`: status transitions, arrivals, dispatch of units;
- :mod:`~fangkong.dispatch.units`: posts and units, position reports;
- :mod:`~fangkong.dispatch.importing`: incidents from CSV or JSON files;
- :mod:`~fangkong.dispatch.personal`: the caller's contact, masked or unmasked (audited);
- :mod:`~fangkong.dispatch.retention`: personal data deleted on schedule.

Every function takes the caller's session and flushes; the request or the job commits.
Reads take a :class:`~fangkong.core.scoping.Scope`: an incident is in scope when its area is,
a unit when its home area is; out of scope reads as not found, so ids do not leak.
"""

from __future__ import annotations

from fangkong.dispatch.history import IncidentFilter, get_all
from fangkong.dispatch.importing import (
    IMPORT_CHUNK,
    IMPORT_FIELDS,
    MAX_IMPORT_ROWS,
    REQUIRED_FIELDS,
    ImportReport,
    RowError,
    import_csv,
    import_file,
    import_json,
)
from fangkong.dispatch.incidents import (
    MAX_KEY_LENGTH,
    Created,
    IncidentIn,
    Intake,
    NewEvent,
    NewIncident,
    claim_keys,
    create,
    create_many,
    get,
    get_or_raise,
    incidents_by_keys,
    place,
    referred,
)
from fangkong.dispatch.lifecycle import (
    DISPATCHABLE,
    OPEN_STATUSES,
    TRANSITIONS,
    arrive,
    dispatch,
    transition,
)
from fangkong.dispatch.personal import masked_contact, reveal_contact
from fangkong.dispatch.retention import purge_contacts
from fangkong.dispatch.units import (
    create_post,
    create_unit,
    get_post_by_code_or_raise,
    get_posts,
    get_unit_or_raise,
    get_units,
    report_position,
)

__all__ = [
    "DISPATCHABLE",
    "IMPORT_CHUNK",
    "IMPORT_FIELDS",
    "MAX_IMPORT_ROWS",
    "MAX_KEY_LENGTH",
    "OPEN_STATUSES",
    "REQUIRED_FIELDS",
    "TRANSITIONS",
    "Created",
    "ImportReport",
    "IncidentFilter",
    "IncidentIn",
    "Intake",
    "NewEvent",
    "NewIncident",
    "RowError",
    "arrive",
    "claim_keys",
    "create",
    "create_many",
    "create_post",
    "create_unit",
    "dispatch",
    "get",
    "get_all",
    "get_or_raise",
    "get_post_by_code_or_raise",
    "get_posts",
    "get_unit_or_raise",
    "get_units",
    "import_csv",
    "import_file",
    "import_json",
    "incidents_by_keys",
    "masked_contact",
    "place",
    "purge_contacts",
    "referred",
    "report_position",
    "reveal_contact",
    "transition",
]
