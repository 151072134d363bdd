"""The closed-loop engine: read, open, move, comment on, supervise and link cases of any type.

Every function takes the session and an explicit ``now``: the engine never reads the clock, so
deadlines are tested with a frozen one. ``user`` is the staff member acting (their role and
permissions are checked) or ``None`` for the system itself (CLI jobs, the demo builder).
Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area
from fangkong.cases import permissions as perms
from fangkong.cases import registry
from fangkong.cases._common import (
    LINK_KINDS,
    MAX_TEXT,
    MAX_TITLE,
    add_event,
    check_version,
    decl_of,
    flush_case,
    iso,
    number,
    require,
)
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.deadlines import enter_state, reschedule
from fangkong.cases.declaration import CaseTypeDecl, TransitionDecl
from fangkong.cases.fields import coerce_fields
from fangkong.cases.models import (
    Case,
    CaseEvent,
    CaseLink,
    CaseParty,
    EventKind,
)
from fangkong.cases.notify import assignee_or_actors, notify
from fangkong.cases.personal import decrypt_json, encrypt_json
from fangkong.cases.risk import evaluate_risk
from fangkong.core import audit, auth
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher


def get(session: Session, *, case_id: int, scope: Scope | None) -> Case | None:
    case = session.get(Case, case_id)
    if case is None or (scope is not None and not scope.covers(case.area_path)):
        return None
    return case


def get_or_raise(session: Session, *, case_id: int, scope: Scope | None) -> Case:
    """The case; out of scope reads as not found, so ids do not leak."""
    case = get(session, case_id=case_id, scope=scope)
    if case is None:
        raise NotFound(key="error.cases.not_found", params={"case_id": case_id}, field="case_id")
    return case


@dataclass(frozen=True)
class CaseFilter:
    case_type: str | None = None
    state: str | None = None
    area_code: str | None = None
    overdue: bool | None = None
    open: bool | None = None
    escalation_risk: bool | None = None


def _filter_clauses(
    session: Session, *, scope: Scope, filters: CaseFilter, now: datetime
) -> list[ColumnElement[bool]]:
    return [
        scope.clause(Case.area_path),
        *filter_clauses(session, scope=scope, filters=filters, now=now),
    ]


def filter_clauses(
    session: Session, *, scope: Scope, filters: CaseFilter, now: datetime
) -> list[ColumnElement[bool]]:
    """The SQL conditions of ``filters`` (the scope's not among them); an area code outside
    ``scope`` is not found, as a read of it would be."""
    clauses: list[ColumnElement[bool]] = []
    if filters.case_type:
        registry.get(filters.case_type)
        clauses.append(Case.case_type == filters.case_type)
    if filters.state:
        clauses.append(Case.state == filters.state)
    if filters.area_code:
        area = area_service.get_by_code_or_raise(session, code=filters.area_code, scope=scope)
        clauses.append(Case.area_path.startswith(area.path, autoescape=True))
    overdue_now = and_(Case.closed_at.is_(None), Case.due_at.is_not(None), Case.due_at < now)
    if filters.overdue is True:
        clauses.append(overdue_now)
    elif filters.overdue is False:
        clauses.append(~overdue_now)
    if filters.open is True:
        clauses.append(Case.closed_at.is_(None))
    elif filters.open is False:
        clauses.append(Case.closed_at.is_not(None))
    if filters.escalation_risk is not None:
        clauses.append(Case.escalation_risk.is_(filters.escalation_risk))
    return clauses


def get_all(
    session: Session,
    *,
    scope: Scope,
    now: datetime,
    filters: CaseFilter = CaseFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Case]]:
    """Cases in scope matching ``filters``, newest first: (total, page)."""
    clauses = _filter_clauses(session, scope=scope, filters=filters, now=now)
    total = session.scalar(select(func.count(Case.id)).where(*clauses)) or 0
    page = session.scalars(
        select(Case).where(*clauses).order_by(Case.id.desc()).limit(limit).offset(offset)
    )
    return int(total), list(page)


#: The case types the command map shows: hazards and disputes, each at its place.
MAP_TYPES = ("hazard", "dispute")
#: The most cases the command map's layer carries (the newest).
MAX_MAP_CASES = 5000


def get_map_cases(
    session: Session,
    *,
    scope: Scope,
    types: tuple[str, ...] = MAP_TYPES,
    limit: int = MAX_MAP_CASES,
) -> list[Case]:
    """Open cases of ``types`` in ``scope`` that have a point, newest first: the command
    map's cases layer (scoped as the case list)."""
    query = (
        select(Case)
        .where(
            scope.clause(Case.area_path),
            Case.closed_at.is_(None),
            Case.lon.is_not(None),
            Case.lat.is_not(None),
            Case.case_type.in_(types),
        )
        .order_by(Case.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def is_overdue(case: Case, now: datetime) -> bool:
    return case.closed_at is None and case.due_at is not None and case.due_at < now


def allowed_transitions(case: Case, user: User | None) -> list[TransitionDecl]:
    """The transitions ``user`` may take from the case's state now (all of them for the system):
    by role, and not those the declaration's ``not_by`` keeps from them on this case."""
    decl = decl_of(case)
    if user is not None and not auth.can(user, perms.ACT):
        return []
    return [
        t
        for t in decl.leaving(case.state)
        if user is None or (user.role in t.roles and separated_by(case, t, user) is None)
    ]


def separated_by(case: Case, spec: TransitionDecl, user: User) -> str | None:
    """The first of ``spec.not_by`` that keeps ``user`` from taking ``spec`` on ``case``: a
    transition they took on it, or a user field of the case that names them (None: free).

    Separation of duties is a rule of the declaration: whoever handled a hazard does not pass
    its re-inspection.
    """
    user_fields = {f.name for f in decl_of(case).fields if f.kind == "user"}
    for name in spec.not_by:
        if name in user_fields:
            if name in case.data and str(case.data[name]) == str(user.id):
                return name
        elif any(
            e.kind == EventKind.TRANSITION and e.transition == name and e.user_id == user.id
            for e in case.events
        ):
            return name
    return None


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyIn:
    role: str
    name: str
    contact: str | None = None


def resolve_area(
    session: Session,
    *,
    scope: Scope | None,
    area_code: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> Area:
    """The area a new case belongs to: the deepest area holding its point, or the named area."""
    if lon is not None and lat is not None:
        _, _, chain = area_service.locate(session, lon=lon, lat=lat)
        if not chain or (scope is not None and not scope.covers(chain[-1].path)):
            raise InvalidInput(
                key="error.areas.point_outside", params={"lon": lon, "lat": lat}, field="lon"
            )
        if not area_code:
            return chain[-1]
        # Both given: the named area, and the point must lie inside it.
        area = area_service.get_by_code_or_raise(session, code=area_code, scope=scope)
        if not chain[-1].path.startswith(area.path):
            raise InvalidInput(
                key="error.cases.point_outside_area",
                params={"lon": lon, "lat": lat, "area": area.code},
                field="lon",
            )
        return area
    if area_code:
        return area_service.get_by_code_or_raise(session, code=area_code, scope=scope)
    raise InvalidInput(key="error.cases.no_place", field="area_code")


def _check_parties(decl: CaseTypeDecl, parties: list[PartyIn]) -> None:
    spec = decl.parties
    if spec is None:
        if parties:
            raise InvalidInput(
                key="error.cases.no_parties", params={"type": decl.name}, field="parties"
            )
        return
    if not spec.minimum <= len(parties) <= spec.maximum:
        raise InvalidInput(
            key="error.cases.party_count",
            params={
                "type": decl.name,
                "minimum": spec.minimum,
                "maximum": spec.maximum,
                "count": len(parties),
            },
            field="parties",
        )
    for i, party in enumerate(parties):
        if party.role not in spec.roles:
            raise InvalidInput(
                key="error.cases.party_role",
                params={"index": i, "role": party.role, "roles": ", ".join(spec.roles)},
                field=f"parties.{i}.role",
            )
        if not party.name.strip() or len(party.name) > 64:
            raise InvalidInput(
                key="error.cases.party_name", params={"index": i}, field=f"parties.{i}.name"
            )
        if party.contact is not None and len(party.contact) > 64:
            raise InvalidInput(
                key="error.cases.party_contact", params={"index": i}, field=f"parties.{i}.contact"
            )


def create(
    session: Session,
    *,
    case_type: str,
    title: str,
    area: Area,
    fields: dict[str, Any],
    user: User | None,
    actor: Actor,
    now: datetime,
    calendar: BusinessCalendar,
    cipher: FieldCipher | None = None,
    description: str = "",
    parties: list[PartyIn] | None = None,
    lon: float | None = None,
    lat: float | None = None,
) -> Case:
    """Open a case of ``case_type`` in ``area`` with the declaration's creation fields."""
    decl = registry.get(case_type)
    require(user, perms.CREATE)
    if user is not None and user.role not in decl.create_roles:
        raise Forbidden(
            key="error.cases.role_may_not_open",
            params={
                "role": user.role.value,
                "type": decl.name,
                "allowed": ", ".join(r.value for r in decl.create_roles),
            },
        )
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise InvalidInput(key="error.cases.title_length", params={"max": MAX_TITLE}, field="title")
    if len(description) > MAX_TEXT:
        raise InvalidInput(
            key="error.cases.description_long", params={"max": MAX_TEXT}, field="description"
        )
    parties = parties or []
    _check_parties(decl, parties)
    plain, personal = coerce_fields(
        session,
        decl,
        required=decl.create_fields,
        optional=decl.create_optional,
        raw=fields,
        zone=calendar.tz,
        case_path=area.path,
    )
    if parties and cipher is None:
        raise ValueError("a cipher is needed to store parties")
    case = Case(
        case_type=decl.name,
        title=title,
        description=description.strip(),
        area_id=area.id,
        area_path=area.path,
        lon=lon,
        lat=lat,
        h3_cell=h3_cell(lon, lat) if lon is not None and lat is not None else None,
        data=plain,
        personal_encrypted=encrypt_json(cipher, personal),
        created_by_id=user.id if user else None,
        opened_at=now,
        state_entered_at=now,
        state=decl.initial,
        deadline_round=0,
        late=False,
        reopen_count=0,
        supervision_count=0,
        escalation_risk=False,
        risk_reasons=[],
        created_at=now,
        updated_at=now,
    )
    for party in parties:
        assert cipher is not None
        case.parties.append(
            CaseParty(
                role=party.role,
                name_encrypted=cipher.encrypt(party.name.strip()),
                contact_encrypted=cipher.encrypt(party.contact.strip()) if party.contact else None,
            )
        )
    enter_state(decl, case, decl.initial, now=now, calendar=calendar)
    session.add(case)
    add_event(
        case,
        kind=EventKind.CREATE,
        actor=actor,
        now=now,
        to_state=decl.initial,
        data=plain,
        personal_encrypted=encrypt_json(cipher, personal),
    )
    session.flush()
    evaluate_risk(session, decl, case, now=now, calendar=calendar)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="case",
        entity_id=case.id,
        detail={"type": decl.name, "area": area.code},
        area_path=case.area_path,
    )
    return case


def transition(
    session: Session,
    *,
    case: Case,
    name: str,
    fields: dict[str, Any],
    user: User | None,
    actor: Actor,
    now: datetime,
    calendar: BusinessCalendar,
    cipher: FieldCipher | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """Move a case along the declared transition ``name``.

    The transition must start from the case's state (else :class:`Conflict`), the user's role
    must be among its roles (else :class:`Forbidden`), and its required fields must be given
    (else :class:`InvalidInput` naming the field). A deadline passed before the move marks the
    case late; entering a state sets its deadline; a closing state closes the case; a reopen
    counts. The escalation-risk flag is re-evaluated from the case's facts.
    """
    decl = decl_of(case)
    check_version(case, expected_version)
    spec = decl.transition(name)
    if spec is None:
        raise InvalidInput(
            key="error.cases.transition_unknown",
            params={
                "transition": name,
                "type": decl.name,
                "declared": ", ".join(t.name for t in decl.transitions),
            },
            field="transition",
        )
    if case.state not in spec.sources:
        raise Conflict(
            key="error.cases.transition_source",
            params={"transition": name, "state": case.state, "sources": ", ".join(spec.sources)},
            field="transition",
        )
    require(user, perms.ACT)
    if user is not None and user.role not in spec.roles:
        raise Forbidden(
            key="error.cases.role_may_not_act",
            params={
                "role": user.role.value,
                "transition": name,
                "allowed": ", ".join(r.value for r in spec.roles),
            },
        )
    if user is not None and (by := separated_by(case, spec, user)) is not None:
        if decl.transition(by) is not None:
            raise Forbidden(
                key="error.cases.separation_of_duties",
                params={"number": number(case), "transition": name, "by": by},
                field="transition",
            )
        raise Forbidden(
            key="error.cases.separation_of_duties_field",
            params={"number": number(case), "transition": name, "by": by},
            field="transition",
        )
    note = (note or "").strip() or None
    if spec.note_required and note is None:
        raise InvalidInput(
            key="error.cases.note_required", params={"transition": name}, field="note"
        )
    if note is not None and len(note) > MAX_TEXT:
        raise InvalidInput(key="error.cases.note_long", params={"max": MAX_TEXT}, field="note")
    plain, personal = coerce_fields(
        session,
        decl,
        required=spec.fields,
        optional=spec.optional_fields,
        raw=fields,
        zone=calendar.tz,
        case_path=case.area_path,
    )
    source = case.state
    target = decl.target_of(spec, source)
    if not spec.stay and case.due_at is not None and now > case.due_at:
        case.late = True
    case.data = {**case.data, **plain}
    if personal:
        merged = {**(decrypt_json(cipher, case.personal_encrypted) if cipher else {}), **personal}
        case.personal_encrypted = encrypt_json(cipher, merged)
    if spec.assigns_org is not None and spec.assigns_org in plain:
        case.assignee_org = str(plain[spec.assigns_org])
    if spec.assigns_user is not None and spec.assigns_user in plain:
        case.assignee_user_id = int(plain[spec.assigns_user])
    if spec.reopen:
        case.reopen_count += 1
    if not spec.stay:
        enter_state(decl, case, target, now=now, calendar=calendar)
    case.updated_at = now
    event = add_event(
        case,
        kind=EventKind.TRANSITION,
        actor=actor,
        now=now,
        transition=name,
        from_state=source,
        to_state=target,
        note=note,
        data=plain,
        personal_encrypted=encrypt_json(cipher, personal),
    )
    evaluate_risk(session, decl, case, now=now, calendar=calendar)
    flush_case(session, case)
    audit.record(
        session,
        actor=actor,
        action="transition",
        entity="case",
        entity_id=case.id,
        detail={"transition": name, "from": source, "to": target},
        area_path=case.area_path,
    )
    return event


def comment(
    session: Session, *, case: Case, text: str, user: User | None, actor: Actor, now: datetime
) -> CaseEvent:
    """Add a comment to the case's timeline."""
    require(user, perms.ACT)
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise InvalidInput(key="error.cases.comment_length", params={"max": MAX_TEXT}, field="text")
    event = add_event(case, kind=EventKind.COMMENT, actor=actor, now=now, note=text)
    case.updated_at = now
    flush_case(session, case)
    audit.record(
        session,
        actor=actor,
        action="comment",
        entity="case",
        entity_id=case.id,
        area_path=case.area_path,
    )
    return event


def supervise(
    session: Session,
    *,
    case: Case,
    due_at: datetime,
    note: str,
    user: User | None,
    actor: Actor,
    now: datetime,
) -> CaseEvent:
    """督办: set a new deadline with a note; the deadline actions start over for it."""
    require(user, perms.SUPERVISE)
    if case.closed_at is not None:
        raise Conflict(key="error.cases.closed", params={"number": number(case)}, field="case_id")
    if due_at.tzinfo is None:
        raise InvalidInput(key="error.cases.due_zone", field="due_at")
    if due_at <= now:
        raise InvalidInput(key="error.cases.due_past", field="due_at")
    note = note.strip()
    if not 1 <= len(note) <= MAX_TEXT:
        raise InvalidInput(key="error.cases.note_length", params={"max": MAX_TEXT}, field="note")
    decl = decl_of(case)
    previous = case.due_at
    case.due_at = due_at.astimezone(UTC)
    case.deadline_round += 1
    reschedule(case, now=now)
    case.is_overdue = False
    case.supervised_at = now
    case.supervision_count += 1
    case.updated_at = now
    names = notify(session, case, assignee_or_actors(session, decl, case), EventKind.SUPERVISE, now)
    event = add_event(
        case,
        kind=EventKind.SUPERVISE,
        actor=actor,
        now=now,
        note=note,
        data={
            "due_at": iso(case.due_at),
            "previous_due_at": iso(previous) if previous else None,
            "notified": names,
        },
    )
    flush_case(session, case)
    audit.record(
        session,
        actor=actor,
        action="supervise",
        entity="case",
        entity_id=case.id,
        detail={"due_at": iso(case.due_at)},
        area_path=case.area_path,
    )
    return event


def add_link(
    session: Session,
    *,
    case: Case,
    kind: str,
    ref_id: str,
    label: str,
    user: User | None,
    actor: Actor,
    now: datetime,
    scope: Scope | None = None,
) -> CaseLink:
    """Link the case to a record of another domain by kind, id and label."""
    require(user, perms.ACT)
    if kind not in LINK_KINDS:
        raise InvalidInput(
            key="error.cases.link_kind",
            params={"kind": kind, "kinds": ", ".join(LINK_KINDS)},
            field="kind",
        )
    ref_id, label = ref_id.strip(), label.strip()
    if not 1 <= len(ref_id) <= 64:
        raise InvalidInput(key="error.cases.link_ref_length", field="ref_id")
    if not 1 <= len(label) <= 200:
        raise InvalidInput(key="error.cases.link_label_length", field="label")
    if kind == "case" and (
        not ref_id.isdigit() or get(session, case_id=int(ref_id), scope=scope) is None
    ):
        raise InvalidInput(key="error.cases.not_found", params={"case_id": ref_id}, field="ref_id")
    if any(link.kind == kind and link.ref_id == ref_id for link in case.links):
        raise Conflict(
            key="error.cases.link_exists",
            params={"number": number(case), "kind": kind, "ref_id": ref_id},
            field="ref_id",
        )
    link = CaseLink(kind=kind, ref_id=ref_id, label=label, created_at=now)
    case.links.append(link)
    add_event(
        case,
        kind=EventKind.LINK,
        actor=actor,
        now=now,
        data={"kind": kind, "ref_id": ref_id, "label": label},
    )
    case.updated_at = now
    flush_case(session, case)
    audit.record(
        session,
        actor=actor,
        action="link",
        entity="case",
        entity_id=case.id,
        detail={"kind": kind, "ref_id": ref_id},
        area_path=case.area_path,
    )
    return link
