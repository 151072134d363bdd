"""The closed-loop engine: create, move, comment on, supervise and tick cases of any declared type.

Every function takes the session and an explicit ``now``: the engine never reads the clock, so
deadlines are tested with a frozen one. ``user`` is the staff member acting (their role and
permissions are checked) or ``None`` for the system itself (CLI jobs, the demo builder).
Services flush, never commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from fangkong.areas import service as area_service
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area, AreaLevel
from fangkong.cases import permissions as perms
from fangkong.cases import registry
from fangkong.cases.calendar import BusinessCalendar, shift
from fangkong.cases.declaration import CaseTypeDecl, FieldDecl, TransitionDecl
from fangkong.cases.models import (
    Case,
    CaseAttachment,
    CaseEvent,
    CaseLink,
    CaseNotice,
    CaseParty,
    DeadlineAction,
    EventKind,
)
from fangkong.cases.storage import AttachmentStorage, check_file
from fangkong.core import audit, auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fangkong.core.models import Role, User, UserArea
from fangkong.core.scoping import Scope, scope_for
from fangkong.core.security import FieldCipher, mask_phone

LINK_KINDS = ("incident", "facility", "case", "event", "tip")
MAX_TITLE = 200
MAX_TEXT = 4000
AGE_BUCKETS_DAYS: tuple[tuple[int, int | None], ...] = ((0, 3), (3, 7), (7, 30), (30, None))


# --- small helpers ---------------------------------------------------------------------------


def decl_of(case: Case) -> CaseTypeDecl:
    return registry.get(case.case_type)


def number(case: Case) -> str:
    """The case's display number, e.g. ``HZ-000042``."""
    prefix = decl_of(case).prefix if case.case_type in registry.names() else "CS"
    return f"{prefix}-{case.id:06d}"


def _require(user: User | None, permission: str) -> None:
    if user is not None:
        auth.require(user, permission)


def _check_version(case: Case, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            f"case {number(case)} changed meanwhile (version {case.version}, "
            f"not {expected_version}); reload it",
            field="version",
        )


def _flush(session: Session, case: Case) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"case {case.id} changed meanwhile; reload it", field="version") from None


def _event(case: Case, *, kind: EventKind, actor: Actor, now: datetime, **values: Any) -> CaseEvent:
    event = CaseEvent(
        kind=kind,
        at=now,
        user_id=actor.user_id,
        username=actor.username,
        data=values.pop("data", None) or {},
        **values,
    )
    case.events.append(event)
    return event


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def mask_text(value: str) -> str:
    """A personal text reduced to its length: nothing of it is shown."""
    return f"*** ({len(value)})"


def mask_name(value: str) -> str:
    """First character kept, the rest starred: 张三丰 → 张**."""
    return value[:1] + "*" * max(1, len(value) - 1) if value else ""


def _mask_contact(value: str) -> str:
    return (
        mask_phone(value)
        if value.replace("+", "").replace("-", "").isdigit()
        else (mask_name(value))
    )


# --- field values ----------------------------------------------------------------------------


def _coerce_one(
    session: Session, f: FieldDecl, raw: Any, *, zone: ZoneInfo, case_path: str | None
) -> Any:
    where = f"fields.{f.name}"
    if f.kind in ("text", "longtext"):
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInput(f"{where} must be non-empty text", field=where)
        if len(raw) > f.max_length:
            raise InvalidInput(
                f"{where} has {len(raw)} characters; at most {f.max_length}", field=where
            )
        return raw.strip()
    if f.kind == "choice":
        if raw not in f.options:
            raise InvalidInput(
                f"{where}: {raw!r} is not one of {', '.join(f.options)}", field=where
            )
        return raw
    if f.kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in (
            "true",
            "on",
            "1",
            "yes",
            "false",
            "off",
            "0",
            "no",
        ):
            return raw.lower() in ("true", "on", "1", "yes")
        raise InvalidInput(f"{where}: {raw!r} is not true or false", field=where)
    if f.kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"{where}: {raw!r} is not a whole number", field=where) from None
    if f.kind == "date":
        try:
            return date.fromisoformat(str(raw)).isoformat()
        except ValueError:
            raise InvalidInput(
                f"{where}: {raw!r} is not a date (YYYY-MM-DD)", field=where
            ) from None
    if f.kind == "datetime":
        try:
            moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        except ValueError:
            raise InvalidInput(
                f"{where}: {raw!r} is not a date and time (ISO 8601)", field=where
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return _iso(moment)
    # kind == "user": a staff member who can see the case
    try:
        user_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {raw!r} is not a user id", field=where) from None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise InvalidInput(f"{where}: user {user_id} does not exist or is inactive", field=where)
    if f.user_roles and user.role not in f.user_roles:
        raise InvalidInput(
            f"{where}: user {user.username!r} is not a "
            f"{' or '.join(r.value for r in f.user_roles)}",
            field=where,
        )
    if case_path is not None and not scope_for(session, user).covers(case_path):
        raise InvalidInput(
            f"{where}: user {user.username!r} is not bound to the case's area", field=where
        )
    return user_id


def coerce_fields(
    session: Session,
    decl: CaseTypeDecl,
    *,
    required: Iterable[str],
    optional: Iterable[str],
    raw: dict[str, Any],
    zone: ZoneInfo,
    case_path: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check and convert submitted field values: (plain values, personal values).

    Unknown fields, missing required ones and values of the wrong kind raise
    :class:`InvalidInput` naming ``fields.<name>`` and the rule. Empty optional values are
    dropped.
    """
    required = tuple(required)
    allowed = set(required) | set(optional)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(
            f"fields.{unknown[0]} is not asked here (asked: "
            f"{', '.join(sorted(allowed)) or 'nothing'})",
            field=f"fields.{unknown[0]}",
        )
    plain: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    for name in (*required, *sorted(allowed - set(required))):
        value = raw.get(name)
        f = decl.field(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in required and f.kind != "bool":
                raise InvalidInput(f"fields.{name} is required", field=f"fields.{name}")
            if f.kind == "bool" and name in required:
                value = False
            else:
                continue
        converted = _coerce_one(session, f, value, zone=zone, case_path=case_path)
        (personal if f.personal else plain)[name] = converted
    return plain, personal


def _encrypt_json(cipher: FieldCipher | None, values: dict[str, Any]) -> str | None:
    if not values:
        return None
    if cipher is None:
        raise ValueError("a cipher is needed to store personal fields")
    return cipher.encrypt(json.dumps(values, ensure_ascii=False))


def _decrypt_json(cipher: FieldCipher, token: str | None) -> dict[str, Any]:
    if token is None:
        return {}
    value = json.loads(cipher.decrypt(token))
    assert isinstance(value, dict)
    return value


# --- deadlines and states --------------------------------------------------------------------


def deadline_for(
    decl: CaseTypeDecl, case: Case, state: str, *, start: datetime, calendar: BusinessCalendar
) -> datetime | None:
    """When a case entering ``state`` at ``start`` is due (None: the state has no deadline).

    The state's hours (or the hours for the value of its ``by_field``) on its clock, multiplied
    by the risk declaration's ``deadline_factor`` while the case carries the escalation-risk flag.
    """
    deadline = decl.state(state).deadline
    if deadline is None:
        return None
    hours = deadline.hours
    if deadline.by_field is not None:
        hours = deadline.hours_by_value.get(str(case.data.get(deadline.by_field)), hours)
    if case.escalation_risk and decl.risk is not None:
        hours *= decl.risk.deadline_factor
    return shift(start, hours, clock=deadline.clock, calendar=calendar)


def _enter(
    decl: CaseTypeDecl, case: Case, state: str, *, now: datetime, calendar: BusinessCalendar
) -> None:
    spec = decl.state(state)
    case.state = state
    case.state_entered_at = now
    case.deadline_round = (case.deadline_round or 0) + 1
    case.is_overdue = False
    if spec.closing:
        case.closed_at = now
        case.resolved_at = now if spec.resolved else None
        case.due_at = None
    else:
        case.closed_at = None
        case.resolved_at = None
        case.due_at = deadline_for(decl, case, state, start=now, calendar=calendar)


# --- people to notify ------------------------------------------------------------------------


def _ancestor_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def users_bound_to(session: Session, *, area_id: int, roles: Iterable[Role]) -> list[User]:
    """Active users of ``roles`` bound to exactly the area ``area_id``."""
    wanted = list(set(roles))
    if not wanted:
        return []
    query = (
        select(User)
        .join(UserArea, UserArea.user_id == User.id)
        .where(UserArea.area_id == area_id, User.role.in_(wanted), User.is_active)
        .order_by(User.id)
    )
    return list(session.scalars(query).unique())


def nearest_users(
    session: Session, *, path: str, roles: Iterable[Role], skip_own: bool = False
) -> list[User]:
    """Users of ``roles`` bound to the deepest area on ``path`` that has any (own area first,
    or the parent first when ``skip_own``)."""
    ids = _ancestor_ids(path)
    if skip_own:
        ids = ids[:-1]
    roles = list(roles)
    for area_id in reversed(ids):
        found = users_bound_to(session, area_id=area_id, roles=roles)
        if found:
            return found
    return []


def _notify(
    session: Session, case: Case, users: Iterable[User], kind: EventKind, now: datetime
) -> list[str]:
    names: list[str] = []
    for user in {u.id: u for u in users}.values():
        session.add(CaseNotice(case_id=case.id, user_id=user.id, kind=kind, at=now))
        names.append(user.username)
    return sorted(names)


def _actors_of_state(decl: CaseTypeDecl, state: str) -> set[Role]:
    return {role for t in decl.leaving(state) for role in t.roles} - {Role.ADMIN}


def _assignee_or_actors(session: Session, decl: CaseTypeDecl, case: Case) -> list[User]:
    if case.assignee_user_id is not None:
        user = session.get(User, case.assignee_user_id)
        if user is not None and user.is_active:
            return [user]
    return nearest_users(session, path=case.area_path, roles=_actors_of_state(decl, case.state))


# --- escalation risk (of the case, from its own facts) ---------------------------------------


def risk_reasons(decl: CaseTypeDecl, case: Case) -> list[str]:
    """Why the case carries the escalation-risk flag, from its own recorded facts only.

    Returns reason codes: ``fact:<field>`` for a recorded bool fact, ``<field>:<value>`` for a
    category, ``repeated:<transition>.<field>=<value>`` for repeated events (e.g. failed
    sessions) in the case's timeline. Nothing about any person enters.
    """
    risk = decl.risk
    if risk is None:
        return []
    reasons = [f"fact:{name}" for name in risk.any_true if case.data.get(name) is True]
    reasons += [
        f"{name}:{case.data[name]}"
        for name, values in risk.field_in.items()
        if case.data.get(name) in values
    ]
    for rep in risk.repeated:
        count = sum(
            1
            for e in case.events
            if e.kind is EventKind.TRANSITION
            and e.transition == rep.transition
            and e.data.get(rep.field) == rep.value
        )
        if count >= rep.at_least:
            reasons.append(f"repeated:{rep.transition}.{rep.field}={rep.value}")
    return reasons


def _alert_area(session: Session, case: Case, level: AreaLevel) -> list[int]:
    chain = session.scalars(select(Area).where(Area.id.in_(_ancestor_ids(case.area_path))))
    by_depth = sorted(chain, key=lambda a: a.path.count("/"))
    wanted = [a.id for a in by_depth if a.level.depth <= level.depth]
    return wanted or [by_depth[0].id]


def _evaluate_risk(
    session: Session, decl: CaseTypeDecl, case: Case, *, now: datetime, calendar: BusinessCalendar
) -> None:
    if decl.risk is None:
        return
    reasons = risk_reasons(decl, case)
    if reasons and not case.escalation_risk:
        case.escalation_risk = True
        case.risk_reasons = reasons
        if case.closed_at is None and case.due_at is not None:
            shortened = deadline_for(
                decl, case, case.state, start=case.state_entered_at, calendar=calendar
            )
            if shortened is not None and shortened < case.due_at:
                case.due_at = shortened
        recipients: list[User] = []
        for area_id in reversed(_alert_area(session, case, decl.risk.alert_level)):
            recipients = users_bound_to(session, area_id=area_id, roles=decl.risk.alert_roles)
            if recipients:
                break
        names = _notify(session, case, recipients, EventKind.RISK, now)
        _event(
            case,
            kind=EventKind.RISK,
            actor=SYSTEM,
            now=now,
            data={
                "flag": True,
                "reasons": reasons,
                "alerted": names,
                "due_at": _iso(case.due_at) if case.due_at else None,
            },
        )
    elif reasons and reasons != case.risk_reasons:
        case.risk_reasons = reasons
    elif not reasons and case.escalation_risk:
        case.escalation_risk = False
        case.risk_reasons = []
        _event(case, kind=EventKind.RISK, actor=SYSTEM, now=now, data={"flag": False})


# --- reading ---------------------------------------------------------------------------------


def get(session: Session, *, case_id: int, scope: Scope | None) -> Case | None:
    case = session.get(Case, case_id)
    if case is None or (scope is not None and not scope.covers(case.area_path)):
        return None
    return case


def get_or_raise(session: Session, *, case_id: int, scope: Scope | None) -> Case:
    """The case; out of scope reads as not found, so ids do not leak."""
    case = get(session, case_id=case_id, scope=scope)
    if case is None:
        raise NotFound(f"case {case_id} does not exist or is outside your areas", field="case_id")
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
    clauses: list[ColumnElement[bool]] = [scope.clause(Case.area_path)]
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


def is_overdue(case: Case, now: datetime) -> bool:
    return case.closed_at is None and case.due_at is not None and case.due_at < now


def allowed_transitions(case: Case, user: User | None) -> list[TransitionDecl]:
    """The transitions ``user`` may take from the case's state now (all of them for the system)."""
    decl = decl_of(case)
    if user is not None and not auth.can(user, perms.ACT):
        return []
    return [t for t in decl.leaving(case.state) if user is None or user.role in t.roles]


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
            raise InvalidInput(f"point ({lon:.6f}, {lat:.6f}) is outside your areas", field="lon")
        return chain[-1]
    if area_code:
        return area_service.get_by_code_or_raise(session, code=area_code, scope=scope)
    raise InvalidInput("give area_code or lon and lat", field="area_code")


def _check_parties(decl: CaseTypeDecl, parties: list[PartyIn]) -> None:
    spec = decl.parties
    if spec is None:
        if parties:
            raise InvalidInput(f"a {decl.name} case has no parties", field="parties")
        return
    if not spec.minimum <= len(parties) <= spec.maximum:
        raise InvalidInput(
            f"a {decl.name} case needs {spec.minimum} to {spec.maximum} parties, "
            f"not {len(parties)}",
            field="parties",
        )
    for i, party in enumerate(parties):
        if party.role not in spec.roles:
            raise InvalidInput(
                f"parties.{i}.role: {party.role!r} is not one of {', '.join(spec.roles)}",
                field=f"parties.{i}.role",
            )
        if not party.name.strip() or len(party.name) > 64:
            raise InvalidInput(
                f"parties.{i}.name must be 1-64 characters", field=f"parties.{i}.name"
            )
        if party.contact is not None and len(party.contact) > 64:
            raise InvalidInput(
                f"parties.{i}.contact has more than 64 characters", field=f"parties.{i}.contact"
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
    _require(user, perms.CREATE)
    if user is not None and user.role not in decl.create_roles:
        raise Forbidden(
            f"role {user.role.value!r} may not open a {decl.name} case (allowed: "
            f"{', '.join(r.value for r in decl.create_roles)})"
        )
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise InvalidInput(f"title must be 1-{MAX_TITLE} characters", field="title")
    if len(description) > MAX_TEXT:
        raise InvalidInput(f"description has more than {MAX_TEXT} characters", field="description")
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
        personal_encrypted=_encrypt_json(cipher, personal),
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
    _enter(decl, case, decl.initial, now=now, calendar=calendar)
    session.add(case)
    _event(
        case,
        kind=EventKind.CREATE,
        actor=actor,
        now=now,
        to_state=decl.initial,
        data=plain,
        personal_encrypted=_encrypt_json(cipher, personal),
    )
    session.flush()
    _evaluate_risk(session, decl, case, now=now, calendar=calendar)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="case",
        entity_id=case.id,
        detail={"type": decl.name, "area": area.code},
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
    _check_version(case, expected_version)
    spec = decl.transition(name)
    if spec is None:
        raise InvalidInput(
            f"transition {name!r} is not declared for {decl.name} cases "
            f"(declared: {', '.join(t.name for t in decl.transitions)})",
            field="transition",
        )
    if case.state not in spec.sources:
        raise Conflict(
            f"transition {name!r} cannot start from state {case.state!r}; it starts "
            f"from {', '.join(spec.sources)}",
            field="transition",
        )
    _require(user, perms.ACT)
    if user is not None and user.role not in spec.roles:
        raise Forbidden(
            f"role {user.role.value!r} may not take transition {name!r} (allowed: "
            f"{', '.join(r.value for r in spec.roles)})"
        )
    note = (note or "").strip() or None
    if spec.note_required and note is None:
        raise InvalidInput(f"transition {name!r} needs a note", field="note")
    if note is not None and len(note) > MAX_TEXT:
        raise InvalidInput(f"note has more than {MAX_TEXT} characters", field="note")
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
        merged = {**(_decrypt_json(cipher, case.personal_encrypted) if cipher else {}), **personal}
        case.personal_encrypted = _encrypt_json(cipher, merged)
    if spec.assigns_org is not None and spec.assigns_org in plain:
        case.assignee_org = str(plain[spec.assigns_org])
    if spec.assigns_user is not None and spec.assigns_user in plain:
        case.assignee_user_id = int(plain[spec.assigns_user])
    if spec.reopen:
        case.reopen_count += 1
    if not spec.stay:
        _enter(decl, case, target, now=now, calendar=calendar)
    case.updated_at = now
    event = _event(
        case,
        kind=EventKind.TRANSITION,
        actor=actor,
        now=now,
        transition=name,
        from_state=source,
        to_state=target,
        note=note,
        data=plain,
        personal_encrypted=_encrypt_json(cipher, personal),
    )
    _evaluate_risk(session, decl, case, now=now, calendar=calendar)
    _flush(session, case)
    audit.record(
        session,
        actor=actor,
        action="transition",
        entity="case",
        entity_id=case.id,
        detail={"transition": name, "from": source, "to": target},
    )
    return event


def comment(
    session: Session, *, case: Case, text: str, user: User | None, actor: Actor, now: datetime
) -> CaseEvent:
    """Add a comment to the case's timeline."""
    _require(user, perms.ACT)
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise InvalidInput(f"comment must be 1-{MAX_TEXT} characters", field="text")
    event = _event(case, kind=EventKind.COMMENT, actor=actor, now=now, note=text)
    case.updated_at = now
    _flush(session, case)
    audit.record(session, actor=actor, action="comment", entity="case", entity_id=case.id)
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
    _require(user, perms.SUPERVISE)
    if case.closed_at is not None:
        raise Conflict(f"case {number(case)} is closed; reopen it first", field="case_id")
    if due_at.tzinfo is None:
        raise InvalidInput("due_at needs a time zone", field="due_at")
    if due_at <= now:
        raise InvalidInput("due_at must lie in the future", field="due_at")
    note = note.strip()
    if not 1 <= len(note) <= MAX_TEXT:
        raise InvalidInput(f"note must be 1-{MAX_TEXT} characters", field="note")
    decl = decl_of(case)
    previous = case.due_at
    case.due_at = due_at.astimezone(UTC)
    case.deadline_round += 1
    case.is_overdue = False
    case.supervised_at = now
    case.supervision_count += 1
    case.updated_at = now
    names = _notify(
        session, case, _assignee_or_actors(session, decl, case), EventKind.SUPERVISE, now
    )
    event = _event(
        case,
        kind=EventKind.SUPERVISE,
        actor=actor,
        now=now,
        note=note,
        data={
            "due_at": _iso(case.due_at),
            "previous_due_at": _iso(previous) if previous else None,
            "notified": names,
        },
    )
    _flush(session, case)
    audit.record(
        session,
        actor=actor,
        action="supervise",
        entity="case",
        entity_id=case.id,
        detail={"due_at": _iso(case.due_at)},
    )
    return event


def add_attachment(
    session: Session,
    *,
    case: Case,
    filename: str,
    content_type: str | None,
    data: bytes,
    storage: AttachmentStorage,
    user: User | None,
    actor: Actor,
    now: datetime,
) -> CaseAttachment:
    """Store a file for the case (type and size checked) and note it in the timeline."""
    _require(user, perms.ACT)
    if case.purged_at is not None:
        raise Conflict(f"case {number(case)} was purged", field="case_id")
    name = Path(filename.replace("\\", "/")).name.strip()[:200]
    kind = check_file(name, content_type, data)
    key = storage.save(data, suffix=Path(name).suffix.lower())
    attachment = CaseAttachment(
        filename=name,
        content_type=kind,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
        uploaded_by=actor.username,
        uploaded_at=now,
    )
    case.attachments.append(attachment)
    case.updated_at = now
    try:
        session.flush()
    except BaseException:
        storage.delete(key)
        raise
    _event(
        case,
        kind=EventKind.ATTACHMENT,
        actor=actor,
        now=now,
        data={"attachment_id": attachment.id, "filename": name, "size": len(data)},
    )
    _flush(session, case)
    audit.record(
        session,
        actor=actor,
        action="attach",
        entity="case",
        entity_id=case.id,
        detail={"attachment_id": attachment.id, "size": len(data)},
    )
    return attachment


def get_attachment(case: Case, attachment_id: int) -> CaseAttachment:
    for attachment in case.attachments:
        if attachment.id == attachment_id:
            return attachment
    raise NotFound(
        f"attachment {attachment_id} of case {case.id} does not exist", field="attachment_id"
    )


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
    _require(user, perms.ACT)
    if kind not in LINK_KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(LINK_KINDS)}", field="kind")
    ref_id, label = ref_id.strip(), label.strip()
    if not 1 <= len(ref_id) <= 64:
        raise InvalidInput("ref_id must be 1-64 characters", field="ref_id")
    if not 1 <= len(label) <= 200:
        raise InvalidInput("label must be 1-200 characters", field="label")
    if kind == "case" and (
        not ref_id.isdigit() or get(session, case_id=int(ref_id), scope=scope) is None
    ):
        raise InvalidInput(f"case {ref_id} does not exist or is outside your areas", field="ref_id")
    if any(link.kind == kind and link.ref_id == ref_id for link in case.links):
        raise Conflict(f"case {number(case)} already links {kind} {ref_id}", field="ref_id")
    link = CaseLink(kind=kind, ref_id=ref_id, label=label, created_at=now)
    case.links.append(link)
    _event(
        case,
        kind=EventKind.LINK,
        actor=actor,
        now=now,
        data={"kind": kind, "ref_id": ref_id, "label": label},
    )
    case.updated_at = now
    _flush(session, case)
    audit.record(
        session,
        actor=actor,
        action="link",
        entity="case",
        entity_id=case.id,
        detail={"kind": kind, "ref_id": ref_id},
    )
    return link


# --- personal data ---------------------------------------------------------------------------


@dataclass
class PartyView:
    id: int
    role: str
    name: str | None
    contact: str | None


@dataclass
class PersonalView:
    """Parties and personal field values of a case, masked or in clear."""

    masked: bool
    parties: list[PartyView] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    events: dict[int, dict[str, str]] = field(default_factory=dict)


def _personal_view(case: Case, cipher: FieldCipher, *, masked: bool) -> PersonalView:
    view = PersonalView(masked=masked)

    def show(value: Any, kind: str) -> str:
        text = str(value)
        if not masked:
            return text
        return {"name": mask_name, "contact": _mask_contact}.get(kind, mask_text)(text)

    for party in case.parties:
        view.parties.append(
            PartyView(
                id=party.id,
                role=party.role,
                name=show(cipher.decrypt(party.name_encrypted), "name")
                if party.name_encrypted
                else None,
                contact=show(cipher.decrypt(party.contact_encrypted), "contact")
                if party.contact_encrypted
                else None,
            )
        )
    view.fields = {
        k: show(v, "text") for k, v in _decrypt_json(cipher, case.personal_encrypted).items()
    }
    for event in case.events:
        if event.personal_encrypted:
            view.events[event.id] = {
                k: show(v, "text")
                for k, v in _decrypt_json(cipher, event.personal_encrypted).items()
            }
    return view


def masked_personal(case: Case, cipher: FieldCipher) -> PersonalView:
    """Personal data as anyone who may read the case sees it: masked."""
    return _personal_view(case, cipher, masked=True)


def reveal_personal(
    session: Session, *, case: Case, viewer: User | None, cipher: FieldCipher, actor: Actor
) -> PersonalView:
    """Unmask parties and personal fields: roles that need it only, and every read is audited."""
    _require(viewer, perms.UNMASK)
    audit.record(
        session,
        actor=actor,
        action="read_personal",
        entity="case",
        entity_id=case.id,
        detail={"parties": len(case.parties)},
    )
    return _personal_view(case, cipher, masked=False)


# --- deadline tick ---------------------------------------------------------------------------


@dataclass
class TickReport:
    checked: int = 0
    reminded: int = 0
    flagged_overdue: int = 0
    escalated: int = 0
    notices: int = 0


def _do_action(
    session: Session,
    decl: CaseTypeDecl,
    case: Case,
    kind: str,
    *,
    now: datetime,
    report: TickReport,
) -> None:
    assert case.due_at is not None
    due = _iso(case.due_at)
    if kind == "remind":
        names = (
            _notify(session, case, _assignee_or_actors(session, decl, case), EventKind.REMIND, now)
            if now < case.due_at
            else []
        )
        _event(
            case,
            kind=EventKind.REMIND,
            actor=SYSTEM,
            now=now,
            data={"due_at": due, "notified": names},
        )
        report.reminded += 1
    elif kind == "flag_overdue":
        case.is_overdue = True
        case.late = True
        names = _notify(
            session, case, _assignee_or_actors(session, decl, case), EventKind.OVERDUE, now
        )
        _event(
            case,
            kind=EventKind.OVERDUE,
            actor=SYSTEM,
            now=now,
            data={"due_at": due, "notified": names},
        )
        report.flagged_overdue += 1
    else:
        # 升级: to users of a supervising role bound to the parent area (or the nearest
        # ancestor above it that has any).
        recipients = nearest_users(
            session, path=case.area_path, roles=decl.supervising_roles, skip_own=True
        )
        names = _notify(session, case, recipients, EventKind.ESCALATE, now)
        case.escalated_at = now
        _event(
            case,
            kind=EventKind.ESCALATE,
            actor=SYSTEM,
            now=now,
            data={"due_at": due, "notified": names},
        )
        report.escalated += 1
    report.notices += len(names)


def tick(session: Session, *, now: datetime, calendar: BusinessCalendar) -> TickReport:
    """Do every deadline action that is due at ``now`` and not yet done; idempotent.

    For each open case with a deadline, each action of its state's deadline fires once when
    ``now`` reaches the due time shifted by the action's offset (on the state's clock). A row
    (case, deadline round, action) records it under a unique constraint, so running the tick
    twice — or twice at once — does each action once. O(open cases with a deadline).
    """
    report = TickReport()
    done = {
        (row.case_id, row.deadline_round, row.action)
        for row in session.execute(
            select(DeadlineAction.case_id, DeadlineAction.deadline_round, DeadlineAction.action)
            .join(
                Case,
                and_(
                    Case.id == DeadlineAction.case_id,
                    Case.deadline_round == DeadlineAction.deadline_round,
                ),
            )
            .where(Case.closed_at.is_(None))
        )
    }
    cases = session.scalars(
        select(Case).where(Case.closed_at.is_(None), Case.due_at.is_not(None)).order_by(Case.id)
    )
    known = set(registry.names())
    for case in cases:
        if case.case_type not in known or case.due_at is None:
            continue
        report.checked += 1
        decl = decl_of(case)
        deadline = decl.state(case.state).deadline
        if deadline is None:
            continue
        for action in deadline.actions:
            fire_at = shift(
                case.due_at, action.offset_hours, clock=deadline.clock, calendar=calendar
            )
            key = (case.id, case.deadline_round, action.kind)
            if now < fire_at or key in done:
                continue
            try:
                with session.begin_nested():
                    session.add(
                        DeadlineAction(
                            case_id=case.id,
                            deadline_round=case.deadline_round,
                            action=action.kind,
                            due_at=case.due_at,
                            done_at=now,
                        )
                    )
                    session.flush()
                    _do_action(session, decl, case, action.kind, now=now, report=report)
                    session.flush()
            except (IntegrityError, StaleDataError):
                continue  # another tick did it (or the case moved): nothing to do twice
            done.add(key)
    if report.reminded or report.flagged_overdue or report.escalated:
        audit.record(
            session,
            actor=SYSTEM,
            action="tick",
            entity="case",
            detail={
                "reminded": report.reminded,
                "overdue": report.flagged_overdue,
                "escalated": report.escalated,
            },
        )
    return report


# --- retention purge -------------------------------------------------------------------------


@dataclass
class PurgeReport:
    cases: int = 0
    parties: int = 0
    attachments: int = 0


def purge(
    session: Session, *, now: datetime, storage: AttachmentStorage | None, actor: Actor = SYSTEM
) -> PurgeReport:
    """Anonymise cases closed longer ago than their type's ``retention_days``.

    Parties' names and contacts, personal field values, free-text notes and comments, the
    title and description and the attachments are deleted; the case keeps its type, area,
    states, times, non-personal facts and timeline skeleton, so indicators still count it.
    """
    report = PurgeReport()
    for decl in registry.all_types():
        if decl.retention_days is None:
            continue
        cutoff = now - timedelta(days=decl.retention_days)
        cases = session.scalars(
            select(Case).where(
                Case.case_type == decl.name,
                Case.closed_at.is_not(None),
                Case.closed_at <= cutoff,
                Case.purged_at.is_(None),
            )
        )
        for case in cases:
            for party in case.parties:
                party.name_encrypted = None
                party.contact_encrypted = None
                party.anonymised_at = now
                report.parties += 1
            case.personal_encrypted = None
            case.title = f"{decl.prefix}-{case.id:06d}"
            case.description = ""
            for event in case.events:
                event.personal_encrypted = None
                event.note = None
            for attachment in list(case.attachments):
                if storage is not None:
                    storage.delete(attachment.storage_key)
                case.attachments.remove(attachment)
                report.attachments += 1
            for event in case.events:
                if event.kind is EventKind.ATTACHMENT:
                    event.data = {"attachment_id": event.data.get("attachment_id")}
            case.purged_at = now
            _event(
                case,
                kind=EventKind.PURGE,
                actor=actor,
                now=now,
                data={"retention_days": decl.retention_days},
            )
            report.cases += 1
    session.flush()
    if report.cases:
        audit.record(
            session,
            actor=actor,
            action="purge",
            entity="case",
            detail={
                "cases": report.cases,
                "parties": report.parties,
                "attachments": report.attachments,
            },
        )
    return report


# --- supervision board and notices -----------------------------------------------------------


@dataclass
class BoardRow:
    area: Area
    open: int = 0
    by_age: list[int] = field(default_factory=lambda: [0] * len(AGE_BUCKETS_DAYS))
    overdue: int = 0
    supervised: int = 0
    escalated: int = 0
    escalation_risk: int = 0


def _age_bucket(days: float) -> int:
    for i, (low, high) in enumerate(AGE_BUCKETS_DAYS):
        if days >= low and (high is None or days < high):
            return i
    return len(AGE_BUCKETS_DAYS) - 1


def board(
    session: Session,
    *,
    scope: Scope,
    now: datetime,
    area: Area | None = None,
    case_type: str | None = None,
) -> tuple[Area | None, list[BoardRow]]:
    """督办看板: open cases per child area of ``area`` (or of your bound areas), counted by age
    since opening (0–3, 3–7, 7–30, 30+ days), overdue, supervised, escalated and at risk."""
    if area is None:
        bound = list(
            session.scalars(select(Area).where(Area.path.in_(scope.paths)).order_by(Area.path))
        )
        if len(bound) == 1:
            area = bound[0]
        parents = bound if area is None else [area]
    else:
        if not scope.covers(area.path):
            raise NotFound(
                f"area {area.code!r} does not exist or is outside your areas", field="area"
            )
        parents = [area]
    row_areas: list[Area] = []
    for parent in parents:
        children = list(
            session.scalars(select(Area).where(Area.parent_id == parent.id).order_by(Area.code))
        )
        row_areas.extend(children if (area is not None and children) else [parent])
    rows = [BoardRow(area=a) for a in row_areas]
    query = select(
        Case.area_path,
        Case.opened_at,
        Case.due_at,
        Case.supervision_count,
        Case.escalated_at,
        Case.escalation_risk,
    ).where(scope.clause(Case.area_path), Case.closed_at.is_(None))
    if case_type:
        query = query.where(Case.case_type == registry.get(case_type).name)
    for path, opened_at, due_at, supervised, escalated_at, at_risk in session.execute(query):
        row = next((r for r in rows if path.startswith(r.area.path)), None)
        if row is None:
            continue
        row.open += 1
        row.by_age[_age_bucket((now - opened_at).total_seconds() / 86400)] += 1
        row.overdue += int(due_at is not None and due_at < now)
        row.supervised += int(supervised > 0)
        row.escalated += int(escalated_at is not None)
        row.escalation_risk += int(bool(at_risk))
    return area, rows


def notices_for(
    session: Session, *, user: User, scope: Scope, limit: int = 20, unread_only: bool = False
) -> list[tuple[CaseNotice, Case]]:
    """The newest notices addressed to ``user`` about cases they can still see."""
    query = (
        select(CaseNotice, Case)
        .join(Case, Case.id == CaseNotice.case_id)
        .where(CaseNotice.user_id == user.id, scope.clause(Case.area_path))
    )
    if unread_only:
        query = query.where(CaseNotice.read_at.is_(None))
    rows = session.execute(query.order_by(CaseNotice.id.desc()).limit(limit)).all()
    return [(notice, case) for notice, case in rows]


def mark_notices_read(
    session: Session, *, user: User, now: datetime, notice_ids: Iterable[int] | None = None
) -> int:
    """Mark ``user``'s notices (all, or those of ``notice_ids``) read; returns how many."""
    query = select(CaseNotice).where(CaseNotice.user_id == user.id, CaseNotice.read_at.is_(None))
    if notice_ids is not None:
        query = query.where(CaseNotice.id.in_(list(notice_ids)))
    notices = list(session.scalars(query))
    for notice in notices:
        notice.read_at = now
    session.flush()
    return len(notices)


def assignable_users(
    session: Session, *, case_path: str, roles: Iterable[Role] | None = None
) -> list[User]:
    """Active staff who can see a case at ``case_path`` (bound to its area or an ancestor)."""
    query = (
        select(User)
        .join(UserArea, UserArea.user_id == User.id)
        .where(
            UserArea.area_id.in_(_ancestor_ids(case_path)),
            User.is_active,
            User.role.not_in([Role.VIEWER, Role.EVALUATOR]),
        )
        .order_by(User.username)
    )
    if roles is not None:
        query = query.where(User.role.in_(list(roles)))
    return list(session.scalars(query).unique())
