"""Incidents and units: intake with idempotency keys, the lifecycle, units and dispatch.

Every function takes the caller's session and flushes; the request or the job commits.
Reads take a :class:`~fangkong.core.scoping.Scope`: an incident is in scope when its area is,
a unit when its home area is; out of scope reads as not found, so ids do not leak.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas import service as area_service
from fangkong.areas.coords import CoordinateError, CoordSystem, to_wgs84
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area
from fangkong.core import audit, auth
from fangkong.core.audit import Actor
from fangkong.core.db import utcnow
from fangkong.core.errors import Conflict, FangkongError, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.plain_sql import RowsInsert
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher, mask_phone
from fangkong.dispatch import permissions as perms
from fangkong.dispatch import taxonomy
from fangkong.dispatch.models import (
    Assignment,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Post,
    PostKind,
    Priority,
    Source,
    Unit,
    UnitStatus,
    UnitType,
    mark_changed,
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
MAX_KEY_LENGTH = 64


def _require(user: User | auth.Principal | None, permission: str) -> None:
    if user is not None:
        auth.require(user, permission)


# --- incidents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentIn:
    """What a create request carries (the idempotency key aside)."""

    category: str
    subtype: str
    priority: Priority
    source: Source
    lon: float
    lat: float
    description: str = ""
    caller_contact: str | None = None

    def digest(self) -> str:
        """SHA-256 of the fields, to tell a retry from another request under the same key."""
        body = {
            "category": self.category,
            "subtype": self.subtype,
            "priority": self.priority.value,
            "source": self.source.value,
            "lon": round(self.lon, 7),
            "lat": round(self.lat, 7),
            "description": self.description,
            "caller_contact": self.caller_contact,
        }
        data = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or key.strip() != key:
        raise InvalidInput(
            f"idempotency key must be 1-{MAX_KEY_LENGTH} printable characters "
            "without surrounding spaces",
            field="idempotency_key",
        )


# The statements of intake's hot path are built once and run as plain SQL on the session's
# connection: building a statement (and its cache key) per call costs more than running it.
_IDS_BY_KEYS = select(Incident.id, Incident.idempotency_key).where(
    Incident.idempotency_key.in_(bindparam("keys", expanding=True))
)


def incidents_by_keys(session: Session, keys: list[str]) -> dict[str, Incident]:
    """The incidents already created under ``keys``, by key."""
    if not keys:
        return {}
    # Most keys are new: probe for the ids, and load incidents only when there are some (all
    # in one query: a re-imported file finds thousands).
    found = session.connection().execute(_IDS_BY_KEYS, {"keys": keys}).all()
    if not found:
        return {}
    loaded = {
        incident.id: incident
        for incident in session.scalars(
            select(Incident).where(Incident.id.in_([int(id_) for id_, _ in found]))
        )
    }
    return {str(key): loaded[int(id_)] for id_, key in found}


def _replay(existing: Incident, digest: str, key: str) -> tuple[Incident, bool]:
    if existing.request_hash != digest:
        raise Conflict(
            f"idempotency key {key!r} was already used for another request "
            f"(incident {existing.id})",
            field="idempotency_key",
            incident_id=existing.id,
        )
    return existing, False


@dataclass(frozen=True)
class _Leaf:
    id: int
    path: str
    code: str


def _leaves_at(
    session: Session, points: list[tuple[float, float]]
) -> list[tuple[float, float, _Leaf | None] | InvalidInput]:
    """Each WGS-84 point and the grid holding it, in one lookup: :func:`area_service.locate`
    without reading the ancestors and their polygons, which intake does not need."""
    out: list[tuple[float, float, _Leaf | None] | InvalidInput] = []
    for lon, lat in points:
        try:
            out.append((*to_wgs84(lon, lat, CoordSystem.WGS84), None))
        except CoordinateError as exc:
            out.append(InvalidInput(str(exc), field="lon"))
    valid = [i for i, o in enumerate(out) if not isinstance(o, InvalidInput)]
    if not valid:
        return out
    index = area_index.get(session)
    placed = [cast(tuple[float, float, None], out[i]) for i in valid]
    leaf_ids = index.locate([p[0] for p in placed], [p[1] for p in placed]).tolist()
    for i, (lon, lat, _), leaf_id in zip(valid, placed, leaf_ids, strict=True):
        if leaf_id >= 0:
            out[i] = (
                lon,
                lat,
                _Leaf(
                    id=leaf_id, path=str(index.path_of(leaf_id)), code=str(index.code_of(leaf_id))
                ),
            )
    return out


@dataclass(frozen=True)
class NewEvent:
    """The first timeline event of an incident :func:`create_many` wrote."""

    at: datetime
    to_status: str
    username: str | None
    from_status: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class NewIncident:
    """An incident as :func:`create_many` wrote it: what an answer about it shows, known
    without reading it back (its timeline is one event, it has no units yet)."""

    id: int
    category: str
    subtype: str
    priority: Priority
    source: Source
    status: IncidentStatus
    description: str
    lon: float
    lat: float
    h3_cell: str
    caller_contact_encrypted: str | None
    caller_contact_masked: str | None
    received_at: datetime
    area_id: int
    area_path: str
    area_code: str
    events: tuple[NewEvent, ...]
    assignments: tuple[()] = ()
    dispatched_at: None = None
    en_route_at: None = None
    on_scene_at: None = None
    cleared_at: None = None
    closed_at: None = None
    cancelled_at: None = None
    merged_into_id: None = None


@dataclass(frozen=True)
class Intake:
    """One incident to create: its idempotency key, its fields and who creates it (``scope``
    and ``user``: the areas it must lie in and the permission it needs, when given)."""

    key: str
    data: IncidentIn
    actor: Actor
    scope: Scope | None = None
    user: User | auth.Principal | None = None


#: What :func:`create_many` answers for an intake: the new incident, or the one a retry found.
Created = tuple[Incident | NewIncident, bool]


def _checked(intake: Intake) -> None:
    _require(intake.user, perms.INTAKE)
    _check_key(intake.key)


def _valid_fields(data: IncidentIn) -> str | None:
    """The caller's contact, stripped (None when empty); a fault raises :class:`InvalidInput`."""
    taxonomy.check(data.category, data.subtype)
    if len(data.description) > 4000:
        raise InvalidInput("description has more than 4000 characters", field="description")
    contact = (data.caller_contact or "").strip() or None
    if contact is not None and len(contact) > 64:
        raise InvalidInput("caller_contact has more than 64 characters", field="caller_contact")
    return contact


def create_many(
    session: Session,
    intakes: list[Intake],
    *,
    now: datetime,
    cipher: FieldCipher,
    expect_retries: bool = False,
) -> list[Created | FangkongError]:
    """Record incidents in the caller's transaction; for each, ``(incident, created)`` or the
    domain error that refused it (the others are still recorded).

    A retry with the same key and the same fields gives the original incident with
    ``created`` False, never a second one, also when both are in ``intakes`` and when the
    original is being created concurrently (its INSERT waits for that one's transaction); the
    same key with other fields is a :class:`Conflict`. Each point is placed in its areas (it
    must lie in the intake's scope). The new incidents go in one statement, as do their
    timeline events and their audit events: what a group commit of many calls needs (see
    :mod:`fangkong.dispatch.intake`).

    ``expect_retries``: look the keys up first, so that retries are answered before their
    fields are checked and placed (a file imported again); else a key is looked up only when
    it did not go in or its intake was refused (an API batch, whose retries are rare).
    """
    results: list[Created | FangkongError | _Later | None] = [None] * len(intakes)
    contacts: list[str | None] = [None] * len(intakes)
    digests = [intake.data.digest() for intake in intakes]
    # The well-formed keys of intakes allowed to create: one of them refused on its fields may
    # still be a retry, and a retry is answered as one whatever else is wrong with it.
    checked_keys: set[str] = set()
    taken = incidents_by_keys(session, sorted({i.key for i in intakes})) if (expect_retries) else {}
    for i, intake in enumerate(intakes):
        try:
            _checked(intake)
            checked_keys.add(intake.key)
            if intake.key in taken:
                results[i] = _replay(taken[intake.key], digests[i], intake.key)
            else:
                contacts[i] = _valid_fields(intake.data)
        except FangkongError as exc:
            results[i] = exc
    todo = [i for i, r in enumerate(results) if r is None]
    leaves = _leaves_at(session, [(intakes[i].data.lon, intakes[i].data.lat) for i in todo])
    rows: dict[str, tuple[int, dict[str, Any], _Leaf]] = {}
    for i, placed in zip(todo, leaves, strict=True):
        intake = intakes[i]
        try:
            if isinstance(placed, InvalidInput):
                raise placed
            if intake.key in rows:  # the same key twice in one batch: the second is a retry
                if rows[intake.key][1]["request_hash"] != digests[i]:
                    raise Conflict(
                        f"idempotency key {intake.key!r} was already used for another request",
                        field="idempotency_key",
                    )
                results[i] = _Later(rows[intake.key][0])
                continue
            lon, lat, leaf = placed
            if leaf is None or (intake.scope is not None and not intake.scope.covers(leaf.path)):
                raise InvalidInput(
                    f"point ({lon:.6f}, {lat:.6f}) is outside your areas", field="lon"
                )
        except FangkongError as exc:
            results[i] = exc
            continue
        data, contact = intake.data, contacts[i]
        rows[intake.key] = (
            i,
            dict(
                idempotency_key=intake.key,
                request_hash=digests[i],
                category=data.category,
                subtype=data.subtype,
                priority=data.priority,
                source=data.source,
                description=data.description,
                caller_contact_encrypted=cipher.encrypt(contact) if contact else None,
                status=S.RECEIVED,
                received_at=now,
                lon=lon,
                lat=lat,
                h3_cell=h3_cell(lon, lat),
                area_id=leaf.id,
                area_path=leaf.path,
                created_by_id=intake.actor.user_id,
            ),
            leaf,
        )
    ids = _insert(session, [row for _, row, _ in rows.values()])
    # A key that did not go in is held by an incident already (stored before, or committed by
    # a concurrent create while this one waited): the intake is a retry of it.
    unknown = checked_keys - taken.keys() - ids.keys()
    refused = [
        i
        for i, r in enumerate(results)
        if isinstance(r, FangkongError) and intakes[i].key in unknown
    ]
    taken.update(
        incidents_by_keys(
            session,
            sorted({key for key in rows if key not in ids} | {intakes[i].key for i in refused}),
        )
    )
    for i in [*(i for i, _, _ in rows.values() if intakes[i].key not in ids), *refused]:
        key = intakes[i].key
        if key in taken:
            try:
                results[i] = _replay(taken[key], digests[i], key)
            except FangkongError as exc:
                results[i] = exc
        elif results[i] is None:  # not inserted, yet nothing holds its key
            raise RuntimeError(f"idempotency key {key!r} was neither free nor taken")
        # else refused on its fields, and no retry: its error stands
    created: dict[int, NewIncident] = {}
    for i, row, leaf in rows.values():
        if row["idempotency_key"] not in ids:
            continue
        actor = intakes[i].actor
        created[i] = NewIncident(
            id=ids[row["idempotency_key"]],
            category=row["category"],
            subtype=row["subtype"],
            priority=row["priority"],
            source=row["source"],
            status=S.RECEIVED,
            description=row["description"],
            lon=row["lon"],
            lat=row["lat"],
            h3_cell=row["h3_cell"],
            caller_contact_encrypted=row["caller_contact_encrypted"],
            caller_contact_masked=None
            if contacts[i] is None
            else mask_phone(cast(str, contacts[i])),
            received_at=now,
            area_id=leaf.id,
            area_path=leaf.path,
            area_code=leaf.code,
            events=(NewEvent(at=now, to_status=S.RECEIVED.value, username=actor.username),),
        )
        results[i] = (created[i], True)
    if created:
        # The timeline's first event of each, then what the audit log keeps of each.
        _INSERT_EVENTS.run(
            session.connection(),
            [
                {
                    "incident_id": new.id,
                    "at": now,
                    "from_status": None,
                    "to_status": S.RECEIVED.value,
                    "user_id": intakes[i].actor.user_id,
                    "username": intakes[i].actor.username,
                }
                for i, new in created.items()
            ],
        )
        audit.record_many(
            session,
            [
                audit.Entry(
                    actor=intakes[i].actor,
                    action="create",
                    entity="incident",
                    entity_id=new.id,
                    detail={
                        "category": new.category,
                        "subtype": new.subtype,
                        "priority": new.priority.value,
                        "area": new.area_code,
                    },
                )
                for i, new in created.items()
            ],
        )
        mark_changed(session)
    for i, result in enumerate(results):
        if isinstance(result, _Later):  # a retry within the batch: answered with the first
            first = results[result.index]
            results[i] = (
                first if isinstance(first, FangkongError) else (cast(Created, first)[0], False)
            )
    return [cast(Created | FangkongError, r) for r in results]


@dataclass(frozen=True)
class _Later:
    """A retry of an intake earlier in the same batch: answered once that one is."""

    index: int


# A key already taken is skipped, not an error: the statement waits for a concurrent create of
# it to end, so that the lookup after it finds the winner. With each id its row's key: a
# multi-row INSERT need not return the rows in order.
_INSERT_INCIDENTS = RowsInsert(
    cast(Table, Incident.__table__),
    (
        "idempotency_key",
        "request_hash",
        "category",
        "subtype",
        "priority",
        "source",
        "description",
        "caller_contact_encrypted",
        "status",
        "received_at",
        "lon",
        "lat",
        "h3_cell",
        "area_id",
        "area_path",
        "created_by_id",
    ),
    on_conflict_skip=("idempotency_key",),
    returning=("id", "idempotency_key"),
)
_INSERT_EVENTS = RowsInsert(
    cast(Table, IncidentEvent.__table__),
    ("incident_id", "at", "from_status", "to_status", "user_id", "username"),
)


def _insert(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the new incidents whose keys are free; the ids of those inserted, by key."""
    if not rows:
        return {}
    session.flush()  # pending ORM objects first, as a flush would order them
    return {key: int(id_) for id_, key in _INSERT_INCIDENTS.run(session.connection(), rows)}


def create(
    session: Session,
    *,
    key: str,
    data: IncidentIn,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> tuple[Incident, bool]:
    """Record one incident; ``(incident, created)``, or raise the domain error that refused
    it. See :func:`create_many`."""
    [result] = create_many(
        session,
        [Intake(key=key, data=data, actor=actor, scope=scope, user=user)],
        now=now,
        cipher=cipher,
    )
    if isinstance(result, FangkongError):
        raise result
    incident, created = result
    if isinstance(incident, NewIncident):  # the caller gets the mapped incident to work on
        incident = session.get_one(Incident, incident.id)
    return incident, created


def get(session: Session, *, incident_id: int, scope: Scope | None) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id)
    if scope is not None:
        query = query.where(scope.clause(Incident.area_path))
    return session.scalars(query).one_or_none()


def get_or_raise(session: Session, *, incident_id: int, scope: Scope | None) -> Incident:
    """The incident; out of scope reads as not found."""
    incident = get(session, incident_id=incident_id, scope=scope)
    if incident is None:
        raise NotFound(
            f"incident {incident_id} does not exist or is outside your areas", field="incident_id"
        )
    return incident


@dataclass(frozen=True)
class IncidentFilter:
    status: IncidentStatus | None = None
    open: bool | None = None
    priority: Priority | None = None
    category: str | None = None
    area_code: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


def get_all(
    session: Session,
    *,
    scope: Scope,
    filters: IncidentFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Incident]]:
    """Incidents in ``scope``, newest first: ``(total matching, one page)``."""
    f = filters or IncidentFilter()
    query = select(Incident).where(scope.clause(Incident.area_path))
    if f.status is not None:
        query = query.where(Incident.status == f.status)
    if f.open is not None:
        query = query.where(
            Incident.status.in_(OPEN_STATUSES) if f.open else Incident.status.not_in(OPEN_STATUSES)
        )
    if f.priority is not None:
        query = query.where(Incident.priority == f.priority)
    if f.category is not None:
        query = query.where(Incident.category == f.category)
    if f.area_code is not None:
        area = area_service.get_by_code_or_raise(session, code=f.area_code, scope=scope)
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    if f.received_from is not None:
        query = query.where(Incident.received_at >= f.received_from)
    if f.received_to is not None:
        query = query.where(Incident.received_at < f.received_to)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Incident.received_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    )
    return int(total), list(page)


def masked_contact(incident: Incident | NewIncident, cipher: FieldCipher) -> str | None:
    if isinstance(incident, NewIncident):  # masked when made: no decryption of what it wrote
        return incident.caller_contact_masked
    if incident.caller_contact_encrypted is None:
        return None
    return mask_phone(cipher.decrypt(incident.caller_contact_encrypted))


def reveal_contact(
    session: Session, *, incident: Incident, viewer: User | None, cipher: FieldCipher, actor: Actor
) -> str | None:
    """The caller's contact in clear: roles that need it only, and every read is audited."""
    _require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="incident",
        entity_id=incident.id,
        detail={"field": "caller_contact"},
    )
    if incident.caller_contact_encrypted is None:
        return None
    return cipher.decrypt(incident.caller_contact_encrypted)


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
        allowed = ", ".join(sorted(t.value for t in TRANSITIONS[source])) or "none (final)"
        raise Conflict(
            f"incident {incident.id} cannot go from {source.value} to "
            f"{target.value} (allowed from {source.value}: {allowed})",
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
    _require(user, perms.ACT)
    if to == S.DISPATCHED:
        raise InvalidInput(
            "an incident is dispatched by assigning units "
            "(POST /incidents/{id}/dispatch), not by a transition",
            field="to",
        )
    detail: dict[str, Any] = {}
    if to == S.MERGED:
        if merged_into is None:
            raise InvalidInput(
                "merged needs merged_into_id: the incident to merge into", field="merged_into_id"
            )
        if merged_into.id == incident.id:
            raise InvalidInput("an incident cannot be merged into itself", field="merged_into_id")
        if merged_into.status not in OPEN_STATUSES:
            raise Conflict(
                f"incident {merged_into.id} is {merged_into.status.value}; merge "
                "only into an open incident",
                field="merged_into_id",
            )
        detail["merged_into"] = merged_into.id
    elif merged_into is not None:
        raise InvalidInput("merged_into_id is only for the merged status", field="merged_into_id")
    _move(session, incident, to, actor=actor, now=now, note=note, detail=detail)
    if to == S.MERGED and merged_into is not None:
        incident.merged_into_id = merged_into.id
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
    _require(user, perms.ACT)
    assignment = next(
        (a for a in incident.assignments if a.unit_id == unit.id and a.released_at is None), None
    )
    if assignment is None:
        raise Conflict(
            f"unit {unit.call_sign} is not assigned to incident {incident.id}", field="unit_id"
        )
    if assignment.arrived_at is not None:
        raise Conflict(
            f"unit {unit.call_sign} already arrived at incident {incident.id}", field="unit_id"
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
            f"incident {incident.id} is {incident.status.value}; units arrive only "
            "at a dispatched, en-route or on-scene incident",
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
        detail={"unit": unit.call_sign},
    )
    session.flush()
    return incident


# --- units -----------------------------------------------------------------------------------


def create_post(
    session: Session,
    *,
    code: str,
    name: str,
    kind: PostKind,
    lon: float,
    lat: float,
    actor: Actor,
    scope: Scope | None = None,
    user: User | None = None,
) -> Post:
    """Register a police post at (lon, lat), placed in its areas (which must lie in ``scope``)."""
    _require(user, perms.UNITS)
    code, name = code.strip(), name.strip()
    if not code or len(code) > 32:
        raise InvalidInput("code must be 1-32 characters", field="code")
    if not name or len(name) > 128:
        raise InvalidInput("name must be 1-128 characters", field="name")
    if session.scalars(select(Post.id).where(Post.code == code)).first() is not None:
        raise Conflict(f"post code {code!r} is taken", field="code")
    lon, lat, chain = area_service.locate(session, lon=lon, lat=lat)
    leaf = chain[-1] if chain else None
    if leaf is None or (scope is not None and not scope.covers(leaf.path)):
        raise InvalidInput(f"point ({lon:.6f}, {lat:.6f}) is outside your areas", field="lon")
    post = Post(
        code=code,
        name=name,
        kind=kind,
        lon=lon,
        lat=lat,
        h3_cell=h3_cell(lon, lat),
        area_id=leaf.id,
        area_path=leaf.path,
    )
    session.add(post)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="police_post",
        entity_id=post.id,
        detail={"code": code, "kind": kind.value, "area": leaf.code},
    )
    return post


def get_posts(session: Session, *, scope: Scope) -> list[Post]:
    """Posts in ``scope``, by code."""
    return list(
        session.scalars(select(Post).where(scope.clause(Post.area_path)).order_by(Post.code))
    )


def get_post_by_code_or_raise(session: Session, *, code: str, scope: Scope | None) -> Post:
    query = select(Post).where(Post.code == code)
    if scope is not None:
        query = query.where(scope.clause(Post.area_path))
    post = session.scalars(query).one_or_none()
    if post is None:
        raise NotFound(
            f"post {code!r} does not exist or is outside your areas", field="home_post_code"
        )
    return post


def create_unit(
    session: Session,
    *,
    call_sign: str,
    unit_type: UnitType,
    home_area: Area,
    actor: Actor,
    staged: bool = False,
    home_post: Post | None = None,
    now: datetime | None = None,
    user: User | None = None,
) -> Unit:
    """Register a unit based in ``home_area``; it starts available. A unit based at
    ``home_post`` starts at the post's position (reported at ``now``), else with none."""
    _require(user, perms.UNITS)
    call_sign = call_sign.strip()
    if not call_sign or len(call_sign) > 32:
        raise InvalidInput("call_sign must be 1-32 characters", field="call_sign")
    if session.scalars(select(Unit.id).where(Unit.call_sign == call_sign)).first() is not None:
        raise Conflict(f"call sign {call_sign!r} is taken", field="call_sign")
    unit = Unit(
        call_sign=call_sign,
        unit_type=unit_type,
        home_area_id=home_area.id,
        home_area_path=home_area.path,
        status=UnitStatus.AVAILABLE,
        staged=staged,
    )
    if home_post is not None:
        unit.home_post_id = home_post.id
        unit.lon, unit.lat, unit.position_at = home_post.lon, home_post.lat, now or utcnow()
    session.add(unit)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="unit",
        entity_id=unit.id,
        detail={
            "call_sign": call_sign,
            "type": unit_type.value,
            "home_area": home_area.code,
            "home_post": home_post.code if home_post else None,
        },
    )
    return unit


def get_unit_or_raise(session: Session, *, unit_id: int, scope: Scope | None) -> Unit:
    query = select(Unit).where(Unit.id == unit_id)
    if scope is not None:
        query = query.where(scope.clause(Unit.home_area_path))
    unit = session.scalars(query).one_or_none()
    if unit is None:
        raise NotFound(f"unit {unit_id} does not exist or is outside your areas", field="unit_id")
    return unit


def get_units(
    session: Session,
    *,
    scope: Scope,
    status: UnitStatus | None = None,
    unit_type: UnitType | None = None,
) -> list[Unit]:
    """Units based in ``scope``, by call sign."""
    query = select(Unit).where(scope.clause(Unit.home_area_path))
    if status is not None:
        query = query.where(Unit.status == status)
    if unit_type is not None:
        query = query.where(Unit.unit_type == unit_type)
    return list(session.scalars(query.order_by(Unit.call_sign)))


def report_position(
    session: Session,
    *,
    unit: Unit,
    lon: float,
    lat: float,
    now: datetime,
    staged: bool | None = None,
    status: UnitStatus | None = None,
    user: User | None = None,
) -> Unit:
    """Replace the unit's latest position (no history is kept); optionally its staged flag
    and a status change to or from ``out_of_service`` / ``available``."""
    _require(user, perms.POSITION)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"({lon}, {lat}) is not a WGS-84 lon/lat", field="lon")
    unit.lon, unit.lat, unit.position_at = lon, lat, now
    if staged is not None:
        unit.staged = staged
    if status is not None and status != unit.status:
        idle = (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE)
        if status not in idle or unit.status not in idle:
            raise Conflict(
                f"unit {unit.call_sign} is {unit.status.value}; a position report "
                "may only switch between available and out_of_service (units on an "
                "incident follow the incident)",
                field="status",
            )
        unit.status = status
    session.flush()
    return unit


# --- dispatch --------------------------------------------------------------------------------


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
    _require(user, perms.ACT)
    if not units:
        raise InvalidInput("give at least one unit", field="unit_ids")
    if len({u.id for u in units}) != len(units):
        raise InvalidInput("a unit is listed twice", field="unit_ids")
    if incident.status not in DISPATCHABLE:
        raise Conflict(
            f"incident {incident.id} is {incident.status.value}; units go only to an open incident",
            field="status",
            from_status=incident.status.value,
            to_status=S.DISPATCHED.value,
        )
    busy = [u.call_sign for u in units if u.status != UnitStatus.AVAILABLE]
    if busy:
        raise Conflict(f"units not available: {', '.join(busy)}", field="unit_ids")
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
        detail={"units": [u.call_sign for u in units]},
    )
    return assignments


# --- bulk import -----------------------------------------------------------------------------

#: Fields of an imported incident; a place is ``lon`` and ``lat`` or an ``address_code``;
#: ``description``, ``caller_contact`` and ``address_code`` may be left out.
IMPORT_FIELDS = (
    "idempotency_key",
    "category",
    "subtype",
    "priority",
    "source",
    "lon",
    "lat",
    "address_code",
    "description",
    "caller_contact",
)
REQUIRED_FIELDS = ("idempotency_key", "category", "subtype", "priority", "source")
MAX_IMPORT_ROWS = 10_000
#: Rows written by one :func:`create_many`: an import of the most rows takes seconds, not the
#: half-minute that one row at a time took while it held the database's write lock.
IMPORT_CHUNK = 500


@dataclass
class RowError:
    """A row that did not import: its line (CSV, the header is line 1) or item (JSON, from 1),
    the field at fault and the rule it broke."""

    row: int
    field: str | None
    message: str


@dataclass
class ImportReport:
    """Rows created, rows already imported (same key and fields), and per-row errors."""

    created: list[int]
    existing: list[int]
    errors: list[RowError]


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value).strip()


def place(
    session: Session, *, lon: object, lat: object, address_code: str | None, scope: Scope | None
) -> tuple[float, float]:
    """An incident's point: ``lon`` and ``lat`` (numbers, or text as in a form or a file), or
    when both are empty the point of the standard address ``address_code`` (in ``scope``)."""
    lon_text = "" if lon is None else str(lon).strip()
    lat_text = "" if lat is None else str(lat).strip()
    code = (address_code or "").strip()
    if not lon_text and not lat_text and code:
        address = area_service.get_address_by_code_or_raise(session, code=code, scope=scope)
        return address.lon, address.lat
    try:
        return float(lon_text), float(lat_text)
    except ValueError:
        raise InvalidInput(
            f"lon/lat ({lon_text!r}, {lat_text!r}) are not numbers (or give an address_code)",
            field="lon",
        ) from None


def _row_incident(session: Session, row: dict[str, Any], scope: Scope | None) -> IncidentIn:
    lon, lat = place(
        session,
        lon=row.get("lon"),
        lat=row.get("lat"),
        address_code=_text(row, "address_code"),
        scope=scope,
    )
    try:
        priority = Priority(_text(row, "priority"))
    except ValueError:
        raise InvalidInput(
            f"priority {row.get('priority')!r} is not one of P1-P4", field="priority"
        ) from None
    try:
        source = Source(_text(row, "source"))
    except ValueError:
        raise InvalidInput(
            f"source {row.get('source')!r} is not one of {', '.join(s.value for s in Source)}",
            field="source",
        ) from None
    return IncidentIn(
        category=_text(row, "category"),
        subtype=_text(row, "subtype"),
        priority=priority,
        source=source,
        lon=lon,
        lat=lat,
        description=_text(row, "description"),
        caller_contact=_text(row, "caller_contact") or None,
    )


def _import_rows(
    session: Session,
    rows: list[tuple[int, dict[str, Any]]],
    *,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None,
) -> ImportReport:
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(f"at most {MAX_IMPORT_ROWS:,} rows per import", field="file")
    report = ImportReport(created=[], existing=[], errors=[])
    numbers: list[int] = []
    intakes: list[Intake] = []
    for number, row in rows:
        try:
            data = _row_incident(session, row, scope)
        except (InvalidInput, Conflict, NotFound) as exc:
            report.errors.append(RowError(row=number, field=exc.field, message=exc.message))
            continue
        numbers.append(number)
        intakes.append(
            Intake(key=_text(row, "idempotency_key"), data=data, actor=actor, scope=scope)
        )
    # A refused row is refused before anything of it is written: the others still import.
    for start in range(0, len(intakes), IMPORT_CHUNK):
        results = create_many(
            session,
            intakes[start : start + IMPORT_CHUNK],
            now=now,
            cipher=cipher,
            expect_retries=True,
        )
        for number, result in zip(numbers[start : start + IMPORT_CHUNK], results, strict=True):
            if isinstance(result, InvalidInput | Conflict | NotFound):
                report.errors.append(
                    RowError(row=number, field=result.field, message=result.message)
                )
            elif isinstance(result, FangkongError):
                raise result
            else:
                (report.created if result[1] else report.existing).append(result[0].id)
    report.errors.sort(key=lambda error: error.row)
    return report


def import_csv(
    session: Session,
    *,
    text: str,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> ImportReport:
    """Import incidents from CSV with a header row naming :data:`IMPORT_FIELDS` (the place as
    ``lon`` and ``lat`` or an ``address_code``). Each row is its own savepoint: a bad row is
    reported with its line number, field and rule and the others still import; a row whose
    key was imported before is reported as existing, never duplicated."""
    _require(user, perms.INTAKE)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = set(reader.fieldnames or [])
    missing = [c for c in REQUIRED_FIELDS if c not in header]
    if not ({"lon", "lat"} <= header or "address_code" in header):
        missing.append("lon, lat (or address_code)")
    if missing:
        raise InvalidInput(f"the CSV header lacks {', '.join(missing)}", field="file")
    rows = [(number, dict(row)) for number, row in enumerate(reader, start=2)]
    return _import_rows(session, rows, actor=actor, now=now, cipher=cipher, scope=scope)


def import_json(
    session: Session,
    *,
    text: str,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> ImportReport:
    """Import incidents from a JSON array of objects with the fields of :data:`IMPORT_FIELDS`
    (numbers or strings); rows are numbered from 1 and handled as in :func:`import_csv`."""
    _require(user, perms.INTAKE)
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the file is not JSON: {exc.msg} at line {exc.lineno}", field="file"
        ) from None
    if not isinstance(items, list):
        raise InvalidInput("the JSON file must hold an array of incidents", field="file")
    rows: list[tuple[int, dict[str, Any]]] = []
    bad: list[RowError] = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            rows.append((number, item))
        else:
            bad.append(RowError(row=number, field=None, message="an incident must be an object"))
    report = _import_rows(session, rows, actor=actor, now=now, cipher=cipher, scope=scope)
    report.errors = sorted(bad + report.errors, key=lambda e: e.row)
    return report


def import_file(
    session: Session,
    *,
    name: str,
    text: str,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> ImportReport:
    """Import a CSV or JSON file: JSON when the name ends in ``.json`` or the text starts with
    ``[``, CSV otherwise."""
    as_json = name.lower().endswith(".json") or text.lstrip("\ufeff \t\r\n").startswith("[")
    reader = import_json if as_json else import_csv
    return reader(session, text=text, actor=actor, now=now, cipher=cipher, scope=scope, user=user)


# --- retention -------------------------------------------------------------------------------


def purge_contacts(session: Session, *, now: datetime, retention_days: int, actor: Actor) -> int:
    """Delete the caller's contact of incidents that ended (closed, cancelled or merged) more
    than ``retention_days`` ago; the number purged.

    The incident keeps everything else (times, place, category), so KPIs still count it; one
    audit event records how many were purged and the cut-off.
    """
    if retention_days < 1:
        raise InvalidInput("retention_days must be at least 1", field="retention_days")
    cutoff = now - timedelta(days=retention_days)
    ended = func.coalesce(Incident.closed_at, Incident.cancelled_at)
    # One UPDATE, not a load of every expired incident; "fetch" keeps loaded ones in step.
    result = session.execute(
        update(Incident)
        .where(Incident.caller_contact_encrypted.is_not(None), ended.is_not(None), ended <= cutoff)
        .values(caller_contact_encrypted=None)
        .execution_options(synchronize_session="fetch")
    )
    purged = cast("CursorResult[Any]", result).rowcount  # an UPDATE answers a CursorResult
    if purged:
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="incident",
            entity_id=None,
            detail={
                "caller_contacts": purged,
                "ended_before": cutoff.isoformat(),
                "retention_days": retention_days,
            },
        )
    return purged
