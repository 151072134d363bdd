"""Planning's services, by name; the work is done in modules by concern:

- :mod:`~fangkong.planning.demand`: demand from incidents or standard addresses (and weights);
- :mod:`~fangkong.planning.coverage`: coverage by the nearest post, per ring and per area;
- :mod:`~fangkong.planning.placement`: candidate sites and the placement models
  (:mod:`~fangkong.planning.optimize` solves them);
- :mod:`~fangkong.planning.scenarios`: stored plans, their comparison and replay;
- :mod:`~fangkong.planning.ring`: checkpoints and the control ring's closure;
- :mod:`~fangkong.planning.runs` and :mod:`~fangkong.planning.jobs`: runs stored with their
  inputs, long ones in the background;
- :mod:`~fangkong.planning.export`: GeoJSON and XLSX of runs.

Every function takes the caller's session and flushes; the request, the job or the command
commits. Reads take a :class:`~fangkong.core.scoping.Scope`; out of scope reads as not found.
"""

from __future__ import annotations

from fangkong.planning.coverage import Site, analyse, current_sites, service_areas
from fangkong.planning.demand import address_demand, import_weights, incident_demand
from fangkong.planning.placement import PlacementInput, place
from fangkong.planning.ring import (
    create_checkpoint,
    delete_checkpoint,
    get_checkpoint_or_raise,
    get_checkpoints,
    update_checkpoint,
)

__all__ = [
    "PlacementInput",
    "Site",
    "address_demand",
    "analyse",
    "create_checkpoint",
    "current_sites",
    "delete_checkpoint",
    "get_checkpoint_or_raise",
    "get_checkpoints",
    "import_weights",
    "incident_demand",
    "place",
    "service_areas",
    "update_checkpoint",
]
