"""Incidents created under idempotency keys, placed in their areas, and read in scope.

:func:`create_many` is intake's one write path: the console form's one incident, the API's
group-committed batches (:mod:`fangkong.dispatch.intake`) and the file import's chunks.
Every function takes the caller's session and flushes; the request or the job commits.
Reads take a :class:`~fangkong.core.scoping.Scope`: an incident is in scope when its area is;
out of scope reads as not found, so ids do not leak.
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas import service as area_service
from fangkong.areas.coords import CoordinateError, CoordSystem, to_wgs84
from fangkong.areas.geometry import h3_cell
from fangkong.core import audit, auth
from fangkong.core.audit import Actor
from fangkong.core.bounds import check_text
from fangkong.core.county import county_of, partition_of
from fangkong.core.errors import Conflict, FangkongError, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.plain_sql import RowsInsert
from fangkong.core.scoping import Scope, in_partition, in_partitions
from fangkong.core.security import FieldCipher, mask_phone
from fangkong.dispatch import permissions as perms
from fangkong.dispatch import taxonomy
from fangkong.dispatch._common import require
from fangkong.dispatch.models import (
    Incident,
    IncidentEvent,
    IncidentKey,
    IncidentStatus,
    Priority,
    Source,
    mark_changed,
)

S = IncidentStatus
MAX_KEY_LENGTH = 64


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

    def canonical(self) -> str:
        """The fields as one text (sorted JSON), the same for the same request."""
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
        return json.dumps(body, sort_keys=True, ensure_ascii=False)

    def digest(self, cipher: FieldCipher) -> str:
        """The keyed digest of the fields, to tell a retry from another request under the same
        key. Keyed (HMAC), never a plain hash: the fields hold the caller's contact, and a plain
        hash of a phone number falls to a search of the few million numbers around it."""
        return cipher.keyed_digest(self.canonical())


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or key.strip() != key:
        raise InvalidInput(
            key="error.dispatch.key_format", params={"max": MAX_KEY_LENGTH}, field="idempotency_key"
        )


# The statements of intake's hot path are built once and run as plain SQL on the session's
# connection: building a statement (and its cache key) per call costs more than running it.
_CLAIMS_BY_KEYS = select(IncidentKey.idempotency_key, IncidentKey.incident_county).where(
    IncidentKey.idempotency_key.in_(bindparam("keys", expanding=True))
)
# A key already claimed is skipped, not an error: the statement waits for a concurrent claim
# of it to end, so that the lookup after it finds the winner.
_CLAIM_KEYS = RowsInsert(
    cast(Table, IncidentKey.__table__),
    ("idempotency_key", "incident_county"),
    on_conflict_skip=("idempotency_key",),
    returning=("idempotency_key",),
)


def claim_keys(connection: Connection, claims: list[tuple[str, int]]) -> set[str]:
    """Claim ``(idempotency key, partition key of its incident)`` pairs in the province; the
    keys claimed now (a key claimed before, or by a concurrent transaction that commits, is
    not). Every writer of incidents claims their keys in the same transaction: the claim's
    reference to its incident is checked at commit."""
    if not claims:
        return set()
    rows = [{"idempotency_key": key, "incident_county": county_} for key, county_ in claims]
    return {str(key) for (key,) in _CLAIM_KEYS.run(connection, rows)}


def incidents_by_keys(session: Session, keys: list[str]) -> dict[str, Incident]:
    """The incidents already created under ``keys``, by key: found through their claims,
    in their counties' partitions alone."""
    if not keys:
        return {}
    # Most keys are new: probe the claims, and load incidents only when there are some (all
    # in one query: a re-imported file finds thousands).
    found = session.connection().execute(_CLAIMS_BY_KEYS, {"keys": keys}).all()
    if not found:
        return {}
    loaded = session.scalars(
        select(Incident).where(
            Incident.idempotency_key.in_([str(key) for key, _ in found]),
            in_partitions(Incident.partition_county, {partition_of(c) for _, c in found}),
        )
    )
    return {incident.idempotency_key: incident for incident in loaded}


def _replay(existing: Incident, digest: str, key: str) -> tuple[Incident, bool]:
    # No digest: deleted with the caller's contact (retention); nothing to tell a retry by.
    if existing.request_hash is None or not hmac.compare_digest(existing.request_hash, digest):
        # Not naming the incident: it may lie outside the caller's areas.
        raise Conflict(
            key="error.dispatch.key_reused",
            params={"idempotency_key": key},
            field="idempotency_key",
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
            out.append(exc.at("lon"))
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
    require(intake.user, perms.INTAKE)
    _check_key(intake.key)


def _valid_fields(data: IncidentIn) -> str | None:
    """The caller's contact, stripped (None when empty); a fault raises :class:`InvalidInput`."""
    taxonomy.check(data.category, data.subtype)
    if len(data.description) > 4000:
        raise InvalidInput(
            key="error.dispatch.description_long", params={"max": 4000}, field="description"
        )
    check_text(data.description, field="description")
    check_text(data.caller_contact or "", field="caller_contact")
    contact = (data.caller_contact or "").strip() or None
    if contact is not None and len(contact) > 64:
        raise InvalidInput(
            key="error.dispatch.contact_long", params={"max": 64}, field="caller_contact"
        )
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
    digests = [intake.data.digest(cipher) for intake in intakes]
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
                        key="error.dispatch.key_reused",
                        params={"idempotency_key": intake.key},
                        field="idempotency_key",
                    )
                results[i] = _Later(rows[intake.key][0])
                continue
            lon, lat, leaf = placed
            if leaf is None or (intake.scope is not None and not intake.scope.covers(leaf.path)):
                raise InvalidInput(
                    key="error.areas.point_outside", params={"lon": lon, "lat": lat}, field="lon"
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
    claimed = claim_keys(
        session.connection(),
        [(key, partition_of(county_of(leaf.path))) for key, (_, _, leaf) in rows.items()],
    )
    ids = _insert(session, [row for key, (_, row, _) in rows.items() if key in claimed])
    # A key not claimed is held by an incident already (stored before, or committed by a
    # concurrent create while this one waited): the intake is a retry of it.
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
                    "county_id": county_of(new.area_path),
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
                    area_path=new.area_path,
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


# Their keys claimed first (claim_keys). With each id its row's key: a multi-row INSERT need
# not return the rows in order.
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
    returning=("id", "idempotency_key"),
)
_INSERT_EVENTS = RowsInsert(
    cast(Table, IncidentEvent.__table__),
    ("incident_id", "county_id", "at", "from_status", "to_status", "user_id", "username"),
)


def _insert(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert the new incidents (their keys claimed); their ids, by key."""
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
        found = referred(
            session, incident_id=incident.id, partition=partition_of(county_of(incident.area_path))
        )
        if found is None:  # inserted in this transaction: never
            raise RuntimeError(f"incident {incident.id} went missing")
        incident = found
    return incident, created


def referred(session: Session, *, incident_id: int, partition: int | None) -> Incident | None:
    """The incident a row refers to, by its id and its partition key (as the row keeps
    them: an activation's, an assignment's), read in that partition alone on PostgreSQL; no
    scope (the caller read the row in scope)."""
    query = select(Incident).where(
        Incident.id == incident_id, in_partition(Incident.partition_county, partition)
    )
    return session.scalars(query).one_or_none()


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
            key="error.dispatch.incident_not_found",
            params={"incident_id": incident_id},
            field="incident_id",
        )
    return incident


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
        if isinstance(lon, bool) or isinstance(lat, bool):
            raise ValueError("true or false is no coordinate")
        point = float(lon_text), float(lat_text)
    except ValueError:
        raise InvalidInput(
            key="error.dispatch.lonlat_not_numbers",
            params={"lon": lon_text, "lat": lat_text},
            field="lon",
        ) from None
    for name, value, limit in (("lon", point[0], 180.0), ("lat", point[1], 90.0)):
        if not (math.isfinite(value) and -limit <= value <= limit):
            raise InvalidInput(
                key="error.dispatch.coordinate_range",
                params={"name": name, "value": str(value), "limit": limit},
                field=name,
            )
    return point
