"""The incident lifecycle: status transitions, units' arrivals, and dispatch (units sent).

Each step is stamped with the server's ``now``, recorded in the incident's timeline and
audited; the assigned units follow the incident's status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput
from fangkong.core.models import User
from fangkong.dispatch import permissions as perms
from fangkong.dispatch._common import require
from fangkong.dispatch.models import (
    Assignment,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Unit,
    UnitStatus,
)

S = IncidentStatus

#: The lifecycle: from each status, the statuses an incident may move to.
#: ``dispatched`` is entered only by :func:`dispatch` (it needs units); ``merged`` needs the
#: incident merged into.
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.RECEIVED: frozenset({S.DISPATCHED, S.CANCELLED, S.MERGED}),
    S.DISPATCHED: frozenset({S.EN_ROUTE, S.ON_SCENE, S.CANCELLED, S.MERGED}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.CANCELLED}),
    S.ON_SCENE: frozenset({S.CLEARED}),
    S.CLEARED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
    S.MERGED: frozenset(),
}
OPEN_STATUSES = frozenset({S.RECEIVED, S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE})
# Where an incident may take more units (reinforcement).
DISPATCHABLE = frozenset({S.RECEIVED, S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE})
# The timestamp each status stamps (first entry only); a merge stamps ``cancelled_at``: the
# moment the incident left the queue of its own.
_TIME_FIELD = {
    S.DISPATCHED: "dispatched_at",
    S.EN_ROUTE: "en_route_at",
    S.ON_SCENE: "on_scene_at",
    S.CLEARED: "cleared_at",
    S.CLOSED: "closed_at",
    S.CANCELLED: "cancelled_at",
    S.MERGED: "cancelled_at",
}


def _move(
    session: Session,
    incident: Incident,
    target: IncidentStatus,
    *,
    actor: Actor,
    now: datetime,
    note: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    source = incident.status
    if target not in TRANSITIONS[source]:
        allowed = ", ".join(sorted(t.value for t in TRANSITIONS[source]))
        if not allowed:
            raise Conflict(
                key="error.dispatch.status_final",
                params={"incident_id": incident.id, "source": source.value, "target": target.value},
                field="status",
                from_status=source.value,
                to_status=target.value,
            )
        raise Conflict(
            key="error.dispatch.status_move",
            params={
                "incident_id": incident.id,
                "source": source.value,
                "target": target.value,
                "allowed": allowed,
            },
            field="status",
            from_status=source.value,
            to_status=target.value,
        )
    incident.status = target
    field = _TIME_FIELD[target]
    if getattr(incident, field) is None:
        setattr(incident, field, now)
    # Through the collection, so that a timeline already loaded (as after intake) stays whole.
    incident.events.append(
        IncidentEvent(
            county_id=incident.county_id,  # the incident's, known: no look-up of it by id
            at=now,
            from_status=source.value,
            to_status=target.value,
            user_id=actor.user_id,
            username=actor.username,
            note=note,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="transition",
        entity="incident",
        entity_id=incident.id,
        area_path=incident.area_path,
        detail={"from": source.value, "to": target.value, **(detail or {})},
    )


def _release_units(incident: Incident, now: datetime) -> None:
    for assignment in incident.assignments:
        if assignment.released_at is None:
            assignment.released_at = now
            if assignment.unit.status in (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE):
                assignment.unit.status = UnitStatus.AVAILABLE


def transition(
    session: Session,
    *,
    incident: Incident,
    to: IncidentStatus,
    actor: Actor,
    now: datetime,
    note: str | None = None,
    merged_into: Incident | None = None,
    user: User | None = None,
) -> Incident:
    """Move ``incident`` to status ``to``, timestamped ``now`` by the server and audited.

    The assigned units follow: ``on_scene`` marks the units still en route as arrived,
    ``cleared``, ``cancelled`` and ``merged`` release them (available again). ``merged``
    needs ``merged_into``, another open incident.
    """
    require(user, perms.ACT)
    if to == S.DISPATCHED:
        raise InvalidInput(
            key="error.dispatch.dispatch_by_units",
            params={"operation": "POST /incidents/{id}/dispatch"},
            field="to",
        )
    detail: dict[str, Any] = {}
    if to == S.MERGED:
        if merged_into is None:
            raise InvalidInput(key="error.dispatch.merge_target_missing", field="merged_into_id")
        if merged_into.id == incident.id:
            raise InvalidInput(key="error.dispatch.merge_into_itself", field="merged_into_id")
        if merged_into.status not in OPEN_STATUSES:
            raise Conflict(
                key="error.dispatch.merge_target_closed",
                params={"incident_id": merged_into.id, "status": merged_into.status.value},
                field="merged_into_id",
            )
        detail["merged_into"] = merged_into.id
    elif merged_into is not None:
        raise InvalidInput(key="error.dispatch.merge_target_unasked", field="merged_into_id")
    _move(session, incident, to, actor=actor, now=now, note=note, detail=detail)
    if to == S.MERGED and merged_into is not None:
        incident.merged_into_id = merged_into.id
        incident.merged_into_county = merged_into.partition_county
    if to == S.ON_SCENE:
        for assignment in incident.assignments:
            if assignment.released_at is None and assignment.arrived_at is None:
                assignment.arrived_at = now
                assignment.unit.status = UnitStatus.ON_SCENE
    if to in (S.CLEARED, S.CANCELLED, S.MERGED):
        _release_units(incident, now)
    session.flush()
    return incident


def arrive(
    session: Session,
    *,
    incident: Incident,
    unit: Unit,
    actor: Actor,
    now: datetime,
    user: User | None = None,
) -> Incident:
    """Record that one assigned ``unit`` reached the scene (a reinforcement arrives on its own
    time). The first arrival puts the incident on scene; the other units stay en route.
    """
    require(user, perms.ACT)
    assignment = next(
        (a for a in incident.assignments if a.unit_id == unit.id and a.released_at is None), None
    )
    if assignment is None:
        raise Conflict(
            key="error.dispatch.unit_not_assigned",
            params={"call_sign": unit.call_sign, "incident_id": incident.id},
            field="unit_id",
        )
    if assignment.arrived_at is not None:
        raise Conflict(
            key="error.dispatch.unit_arrived",
            params={"call_sign": unit.call_sign, "incident_id": incident.id},
            field="unit_id",
        )
    if incident.status in (S.DISPATCHED, S.EN_ROUTE):
        _move(
            session,
            incident,
            S.ON_SCENE,
            actor=actor,
            now=now,
            note=None,
            detail={"first_unit": unit.call_sign},
        )
    elif incident.status != S.ON_SCENE:
        raise Conflict(
            key="error.dispatch.arrive_status",
            params={"incident_id": incident.id, "status": incident.status.value},
            field="status",
        )
    assignment.arrived_at = now
    unit.status = UnitStatus.ON_SCENE
    audit.record(
        session,
        actor=actor,
        action="arrive",
        entity="incident",
        entity_id=incident.id,
        area_path=incident.area_path,
        detail={"unit": unit.call_sign},
    )
    session.flush()
    return incident


def dispatch(
    session: Session,
    *,
    incident: Incident,
    units: list[Unit],
    actor: Actor,
    now: datetime,
    predicted_s: dict[int, float] | None = None,
    user: User | None = None,
) -> list[Assignment]:
    """Send ``units`` to ``incident`` in one step: one dispatch record per unit.

    The incident goes ``received → dispatched`` (an incident already dispatched, en route or
    on scene takes the units as reinforcement); each unit goes ``available → en_route``.
    A unit that is not available refuses the whole call (nothing is half-written).
    """
    require(user, perms.ACT)
    if not units:
        raise InvalidInput(key="error.dispatch.no_units", field="unit_ids")
    if len({u.id for u in units}) != len(units):
        raise InvalidInput(key="error.dispatch.unit_twice", field="unit_ids")
    if incident.status not in DISPATCHABLE:
        raise Conflict(
            key="error.dispatch.dispatch_status",
            params={"incident_id": incident.id, "status": incident.status.value},
            field="status",
            from_status=incident.status.value,
            to_status=S.DISPATCHED.value,
        )
    busy = [u.call_sign for u in units if u.status != UnitStatus.AVAILABLE]
    if busy:
        raise Conflict(
            key="error.dispatch.units_busy",
            params={"call_signs": ", ".join(busy)},
            field="unit_ids",
        )
    if incident.status == S.RECEIVED:
        _move(
            session,
            incident,
            S.DISPATCHED,
            actor=actor,
            now=now,
            note=None,
            detail={"units": [u.call_sign for u in units]},
        )
    assignments = []
    for unit in units:
        unit.status = UnitStatus.EN_ROUTE
        assignment = Assignment(
            incident_id=incident.id,
            county_id=incident.county_id,  # the incident's, known: no look-up of it by id
            unit_id=unit.id,
            dispatched_at=now,
            predicted_s=(predicted_s or {}).get(unit.id),
            dispatched_by_id=actor.user_id,
        )
        assignment.unit = unit
        incident.assignments.append(assignment)
        assignments.append(assignment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="dispatch",
        entity="incident",
        entity_id=incident.id,
        area_path=incident.area_path,
        detail={"units": [u.call_sign for u in units]},
    )
    return assignments
