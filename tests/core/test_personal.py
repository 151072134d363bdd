"""The register of personal data, walked: every field it declares is written through the
services, found protected as declared (encrypted and masked, as written, or a keyed digest),
kept until its retention ends and gone just after, with a frozen clock, on both backends.

A field added to the register without a probe here fails the walk; so does a case type whose
declared personal or free-text fields the walker cannot reach.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, add_user
from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.cases import registry
from fangkong.cases import service as cases
from fangkong.cases.declaration import CaseTypeDecl, FieldDecl, TransitionDecl
from fangkong.cases.models import Case, CaseAttachment, EventKind
from fangkong.cases.storage import AttachmentStorage, storage_in
from fangkong.community import personal as community_personal
from fangkong.community import service as community_service
from fangkong.community import tips
from fangkong.community.models import PublicTip, SafetyMember, TeamKind, TipCategory
from fangkong.community.schemas import MemberIn, PublicTipIn, TeamIn
from fangkong.core import auth
from fangkong.core import personal as register
from fangkong.core.audit import SYSTEM
from fangkong.core.config import Settings
from fangkong.core.errors import NotFound
from fangkong.core.models import Role, User
from fangkong.core.personal import PersonalField, Protection, PurgeContext
from fangkong.core.security import FieldCipher, hash_password
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Incident, IncidentStatus, Priority, Source
from fangkong.events import personal as events_personal
from fangkong.events import register as events_register
from fangkong.events.models import EventApplication, VenueKind
from fangkong.events.schemas import EventIn
from fangkong.materials import personal as materials_personal
from fangkong.materials import register as materials_register
from fangkong.materials.models import Holder, HolderKind
from fangkong.materials.schemas import HolderIn

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
GRID = "T-D1-S1-B1-G1"
STATION = "T-D1-S1"
#: Who people write about: every marker holds the name, so a masked or purged value is
#: checked for the name, whatever the field.
NAME = "张三丰"


@dataclass
class Probe:
    """One register field as written by the test: ``held`` gives the values stored now that
    still hold it (raw: ciphertext, sealed bytes, text as written); ``clear`` the value read
    through the audited path (encrypted fields); ``shown`` what a reader sees without
    unmasking; ``made_from`` the text a keyed digest was made from."""

    anchor: datetime
    marker: str
    held: Callable[[], list[str | bytes]]
    clear: Callable[[], str | bytes] | None = None
    shown: Callable[[], str | None] | None = None
    made_from: str | None = None


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="register-" + "k" * 40,
        environment="test",
        caller_contact_retention_days=30,
        incident_text_retention_days=60,
    )


def _holding(values: list[Any], marker: str) -> list[str | bytes]:
    return [v for v in values if v is not None and marker in str(v)]


# --- the core: staff phones ------------------------------------------------------------------


def _staff_probes(db: Session, cipher: FieldCipher) -> tuple[dict[str, Probe], User]:
    phone, kept_phone = "13712345678", "13787654321"
    leaver, colleague = (
        User(
            username=name,
            display_name=name,
            password_hash=hash_password("correct-horse-battery"),
            role=Role.STATION_OFFICER,
            is_active=active,
            phone_encrypted=cipher.encrypt(number),
        )
        for name, active, number in (
            ("reg_leaver", False, phone),
            ("reg_colleague", True, kept_phone),
        )
    )
    db.add_all([leaver, colleague])
    db.flush()

    def held() -> list[str | bytes]:
        db.refresh(leaver)
        return [leaver.phone_encrypted] if leaver.phone_encrypted else []

    probe = Probe(
        anchor=T0,  # deactivated now: the phone goes at the next purge
        marker=phone,
        held=held,
        clear=lambda: cipher.decrypt(leaver.phone_encrypted or ""),
        shown=lambda: auth.masked_phone(leaver, cipher),
    )
    return {register.STAFF_PHONE: probe}, colleague


# --- dispatch: one incident, its caller, its text ----------------------------------------------


def _incident_probes(db: Session, cipher: FieldCipher) -> dict[str, Probe]:
    phone = "13812345678"
    lon, lat = grid_centre(GRID)
    data = dispatch.IncidentIn(
        category="criminal",
        subtype="theft",
        priority=Priority.P2,
        source=Source.CALL,
        lon=lon,
        lat=lat,
        description=f"{NAME}的电动车被偷",
        caller_contact=phone,
    )
    incident, _ = dispatch.create(
        db, key="register-walk", data=data, actor=SYSTEM, now=T0, cipher=cipher
    )
    ended = T0 + timedelta(hours=1)
    dispatch.transition(
        db,
        incident=incident,
        to=IncidentStatus.CANCELLED,
        actor=SYSTEM,
        now=ended,
        note=f"{NAME}说是误报",
    )

    def row() -> Incident:
        db.expire_all()
        return db.get_one(Incident, incident.id)

    return {
        "incident.caller_contact": Probe(
            anchor=ended,
            marker=phone,
            held=lambda: [v for v in [row().caller_contact_encrypted] if v],
            clear=lambda: (
                dispatch.reveal_contact(
                    db, incident=row(), viewer=None, cipher=cipher, actor=SYSTEM
                )
                or ""
            ),
            shown=lambda: dispatch.masked_contact(row(), cipher),
        ),
        "incident.request_hash": Probe(
            anchor=ended,
            marker=phone,
            held=lambda: [v for v in [row().request_hash] if v],
            made_from=data.canonical(),
        ),
        "incident.description": Probe(
            anchor=ended, marker=NAME, held=lambda: _holding([row().description], NAME)
        ),
        "incident_event.note": Probe(
            anchor=ended,
            marker=NAME,
            held=lambda: _holding([e.note for e in row().events], NAME),
        ),
    }


# --- materials: a holder's responsible contact ------------------------------------------------


def _holder_probes(db: Session, cipher: FieldCipher) -> dict[str, Probe]:
    phone = "13612345678"
    lon, lat = grid_centre(GRID)
    holder = materials_register.create_holder(
        db,
        data=HolderIn(
            code="REG-H1",
            name="登记爆破公司",
            kind=HolderKind.BLASTING,
            lon=lon,
            lat=lat,
            contact_name=NAME,
            contact_phone=phone,
        ),
        actor=SYSTEM,
        cipher=cipher,
        scope=None,
    )
    materials_register.deregister_holder(db, holder=holder, actor=SYSTEM, now=T0)

    def row() -> Holder:
        db.expire_all()
        return db.get_one(Holder, holder.id)

    def revealed() -> tuple[str | None, str | None]:
        return materials_personal.reveal_contact(
            db, holder=row(), viewer=None, cipher=cipher, actor=SYSTEM
        )

    return {
        materials_personal.CONTACT_NAME: Probe(
            anchor=T0,
            marker=NAME,
            held=lambda: [v for v in [row().contact_name_encrypted] if v],
            clear=lambda: revealed()[0] or "",
            shown=lambda: materials_personal.masked_contact(row(), cipher)[0],
        ),
        materials_personal.CONTACT_PHONE: Probe(
            anchor=T0,
            marker=phone,
            held=lambda: [v for v in [row().contact_phone_encrypted] if v],
            clear=lambda: revealed()[1] or "",
            shown=lambda: materials_personal.masked_contact(row(), cipher)[1],
        ),
    }


# --- events: an organiser's contact ----------------------------------------------------------


def _event_probes(db: Session, cipher: FieldCipher) -> dict[str, Probe]:
    phone = "13512345678"
    lon, lat = grid_centre(GRID)
    event = events_register.create(
        db,
        data=EventIn(
            code="REG-E1",
            name="登记灯会",
            organiser="登记文化公司",
            contact_name=NAME,
            contact_phone=phone,
            venue_polygon=[[lon - 1e-3, lat - 1e-3], [lon + 1e-3, lat - 1e-3], [lon, lat + 1e-3]],
            venue_kind=VenueKind.SQUARE,
            capacity=1000,
            expected_attendance=500,
            starts_at=T0 - timedelta(hours=6),
            ends_at=T0,
        ),
        user=None,
        actor=SYSTEM,
        cipher=cipher,
        scope=None,
        now=T0,
        calendar=CALENDAR,
    )

    def row() -> EventApplication:
        db.expire_all()
        return db.get_one(EventApplication, event.id)

    def revealed() -> tuple[str | None, str | None]:
        return events_personal.reveal_contact(
            db, event=row(), viewer=None, cipher=cipher, actor=SYSTEM
        )

    return {
        events_personal.CONTACT_NAME: Probe(
            anchor=T0,
            marker=NAME,
            held=lambda: [v for v in [row().contact_name_encrypted] if v],
            clear=lambda: revealed()[0] or "",
            shown=lambda: events_personal.masked_contact(row(), cipher)[0],
        ),
        events_personal.CONTACT_PHONE: Probe(
            anchor=T0,
            marker=phone,
            held=lambda: [v for v in [row().contact_phone_encrypted] if v],
            clear=lambda: revealed()[1] or "",
            shown=lambda: events_personal.masked_contact(row(), cipher)[1],
        ),
    }


# --- community: a member's name and phone, a tipster's contact ----------------------------------


def _community_probes(db: Session, cipher: FieldCipher, tmp: Path) -> dict[str, Probe]:
    phone, contact = "13512345678", "13587654321"
    team = community_service.create_team(
        db,
        data=TeamIn(code="REG-T1", name="登记巡逻队", kind=TeamKind.VOLUNTEER_PATROL, area=GRID),
        actor=SYSTEM,
        scope=None,
    )
    member = community_service.add_member(
        db, team=team, data=MemberIn(name=NAME, phone=phone), cipher=cipher, actor=SYSTEM, now=T0
    )
    community_service.member_leaves(db, team=team, member=member, actor=SYSTEM, now=T0)
    token = tips.issue_token(cipher, now_s=time.time() - 10)
    lon, lat = grid_centre(GRID)
    taken = tips.take_tip(
        db,
        data=PublicTipIn(
            category=TipCategory.FIRE,
            text="楼道堆放杂物",
            lon=lon,
            lat=lat,
            contact=f"{NAME} {contact}",
            token=token,
            nonce=tips.solve(token, 4),
        ),
        photo=None,
        cipher=cipher,
        storage=storage_in(tmp),
        calendar=CALENDAR,
        now=T0 - timedelta(days=1),
        difficulty=4,
    )
    assert taken.case is not None
    cases.transition(
        db,
        case=taken.case,
        name="dismiss",
        fields={"reason": "核查无隐患"},
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
    )

    def row() -> SafetyMember:
        db.expire_all()
        return db.get_one(SafetyMember, member.id)

    def tip() -> PublicTip:
        db.expire_all()
        return db.get_one(PublicTip, taken.tip.id)

    def revealed() -> tuple[str | None, str | None]:
        return community_personal.reveal_member(
            db, member=row(), viewer=None, cipher=cipher, actor=SYSTEM
        )

    return {
        community_personal.MEMBER_NAME: Probe(
            anchor=T0,
            marker=NAME,
            held=lambda: [v for v in [row().name_encrypted] if v],
            clear=lambda: revealed()[0] or "",
            shown=lambda: community_personal.masked_member(row(), cipher)[0],
        ),
        community_personal.MEMBER_PHONE: Probe(
            anchor=T0,
            marker=phone,
            held=lambda: [v for v in [row().phone_encrypted] if v],
            clear=lambda: revealed()[1] or "",
            shown=lambda: community_personal.masked_member(row(), cipher)[1],
        ),
        community_personal.TIP_CONTACT: Probe(
            anchor=T0,  # the tip's case closed
            marker=contact,
            held=lambda: [v for v in [tip().contact_encrypted] if v],
            clear=lambda: (
                community_personal.reveal_contact(
                    db, tip=tip(), viewer=None, cipher=cipher, actor=SYSTEM
                )
                or ""
            ),
            shown=lambda: community_personal.masked_contact(tip(), cipher),
        ),
    }


# --- cases: every declared type, walked through its transitions --------------------------------


def _walk(decl: CaseTypeDecl) -> list[TransitionDecl]:
    """Transitions from the initial state that ask, at least once, every field of the register
    that creation does not, then end in a closing state: at each step the nearest transition
    asking a field still missing, one that leaves the case able to go on first."""

    def path(start: str, goal: Callable[[str], bool]) -> list[TransitionDecl] | None:
        queue: deque[tuple[str, list[TransitionDecl]]] = deque([(start, [])])
        seen = {start}
        while queue:
            state, steps = queue.popleft()
            if goal(state):
                return steps
            for t in decl.leaving(state):
                target = decl.target_of(t, state)
                if target not in seen:
                    seen.add(target)
                    queue.append((target, [*steps, t]))
        return None

    def after(steps: list[TransitionDecl], state: str) -> str:
        for t in steps:
            state = decl.target_of(t, state)
        return state

    created = {*decl.create_fields, *decl.create_optional}
    missing = {f.name for f in decl.fields if _in_register(f)} - created
    steps: list[TransitionDecl] = []
    state = decl.initial
    while missing:
        options = []
        for index, t in enumerate(decl.transitions):
            if not missing & {*t.fields, *t.optional_fields}:
                continue
            route = path(state, lambda s, t=t: s in t.sources)
            if route is None:
                continue
            end = after([*route, t], state)
            stuck = path(end, lambda s: s not in decl.closing_states) is None
            options.append((stuck, len(route), index, [*route, t]))
        assert options, f"{decl.name}: fields {sorted(missing)} cannot be reached"
        *_, chosen = min(options)
        for t in chosen:
            missing -= {*t.fields, *t.optional_fields}
        state = after(chosen, state)
        steps += chosen
    closing = path(state, lambda s: s in decl.closing_states)
    assert closing is not None, f"{decl.name}: no closing state after {state!r}"
    return steps + closing


def _in_register(f: FieldDecl) -> bool:
    return f.personal or f.free_text


def _value(db: Session, decl: CaseTypeDecl, f: FieldDecl, users: dict[Role, User]) -> Any:
    if _in_register(f):
        return f"{NAME}:{f.name}"
    if f.kind == "user":
        role = f.user_roles[0] if f.user_roles else Role.STATION_OFFICER
        return users[role].id
    return {
        "choice": f.options[0] if f.options else None,
        "bool": False,
        "datetime": T0.isoformat(),
        "int": 1,
        "date": "2026-11-23",
    }.get(f.kind, "消防通道")


def _fields(
    db: Session,
    decl: CaseTypeDecl,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    users: dict[Role, User],
) -> dict[str, Any]:
    names = [*required, *(n for n in optional if _in_register(decl.field(n)))]
    return {n: _value(db, decl, decl.field(n), users) for n in names}


def _case_probes(
    db: Session, decl: CaseTypeDecl, cipher: FieldCipher, storage: AttachmentStorage
) -> dict[str, Probe]:
    users = {
        role: add_user(db, username=f"reg_{role.value}", role=role, area_code=STATION)
        for role in Role
    }
    contact = "13912345678"
    parties = (
        [
            cases.PartyIn(role=decl.parties.roles[i % 2], name=f"{NAME}{i}", contact=contact)
            for i in range(max(decl.parties.minimum, 1))
        ]
        if decl.parties is not None
        else None
    )
    case = cases.create(
        db,
        case_type=decl.name,
        title=f"{NAME}反映的问题",
        description=f"{NAME}来电",
        area=_area(db),
        fields=_fields(db, decl, decl.create_fields, decl.create_optional, users),
        user=None,
        actor=SYSTEM,
        now=T0,
        calendar=CALENDAR,
        cipher=cipher,
        parties=parties,
    )
    now = T0
    cases.comment(db, case=case, text=f"{NAME}补充了情况", user=None, actor=SYSTEM, now=now)
    cases.add_link(
        db,
        case=case,
        kind="incident",
        ref_id="110-0001",
        label=f"{NAME}的报警",
        user=None,
        actor=SYSTEM,
        now=now,
    )
    attachment = cases.add_attachment(
        db,
        case=case,
        filename=f"{NAME}的材料.txt",
        content_type="text/plain",
        data=f"{NAME}的身份证号".encode(),
        storage=storage,
        cipher=cipher,
        user=None,
        actor=SYSTEM,
        now=now,
    )
    file_key, attachment_id = attachment.storage_key, attachment.id
    for t in _walk(decl):
        now += timedelta(minutes=10)
        cases.transition(
            db,
            case=case,
            name=t.name,
            fields=_fields(db, decl, t.fields, t.optional_fields, users),
            note=f"{NAME}在场",
            user=None,
            actor=SYSTEM,
            now=now,
            calendar=CALENDAR,
            cipher=cipher,
        )
    assert case.closed_at is not None, f"{decl.name}: the walk did not close the case"
    closed = case.closed_at

    def fresh() -> Case:
        db.expire_all()
        return db.get_one(Case, case.id)

    def file_bytes() -> list[str | bytes]:
        try:
            return [storage.read(file_key)]
        except NotFound:
            return []

    def files() -> list[str | bytes]:
        rows = db.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case.id)).all()
        return file_bytes() + [r.storage_key for r in rows]

    def opened() -> bytes:
        return cases.open_attachment(
            db,
            case=fresh(),
            attachment_id=attachment_id,
            storage=storage,
            cipher=cipher,
            user=None,
            actor=SYSTEM,
        )[1]

    def revealed() -> cases.PersonalView:
        return cases.reveal_personal(db, case=fresh(), viewer=None, cipher=cipher, actor=SYSTEM)

    def masked() -> cases.PersonalView:
        return cases.masked_personal(fresh(), cipher)

    prefix = f"case.{decl.name}"
    probes = {
        f"{prefix}.title": Probe(closed, NAME, lambda: _holding([fresh().title], NAME)),
        f"{prefix}.description": Probe(closed, NAME, lambda: _holding([fresh().description], NAME)),
        f"{prefix}.notes": Probe(
            closed, NAME, lambda: _holding([e.note for e in fresh().events], NAME)
        ),
        f"{prefix}.link_labels": Probe(
            closed,
            NAME,
            lambda: _holding(
                [link.label for link in fresh().links]
                + [e.data.get("label") for e in fresh().events if e.kind is EventKind.LINK],
                NAME,
            ),
        ),
        f"{prefix}.attachments": Probe(
            closed, f"{NAME}的身份证号", files, clear=lambda: opened().decode()
        ),
        f"{prefix}.attachment_names": Probe(
            closed,
            NAME,
            lambda: _holding(
                [a.filename for a in fresh().attachments]
                + [e.data.get("filename") for e in fresh().events],
                NAME,
            ),
        ),
    }
    if decl.parties is not None:
        probes[f"{prefix}.party.name"] = Probe(
            closed,
            f"{NAME}0",
            lambda: [p.name_encrypted for p in fresh().parties if p.name_encrypted],
            clear=lambda: " ".join(p.name or "" for p in revealed().parties),
            shown=lambda: " ".join(p.name or "" for p in masked().parties),
        )
        probes[f"{prefix}.party.contact"] = Probe(
            closed,
            contact,
            lambda: [p.contact_encrypted for p in fresh().parties if p.contact_encrypted],
            clear=lambda: " ".join(p.contact or "" for p in revealed().parties),
            shown=lambda: " ".join(p.contact or "" for p in masked().parties),
        )
    for f in decl.fields:
        marker = f"{NAME}:{f.name}"
        if f.personal:
            probes[f"{prefix}.data.{f.name}"] = Probe(
                closed,
                marker,
                lambda: [
                    v
                    for v in [fresh().personal_encrypted]
                    + [e.personal_encrypted for e in fresh().events]
                    if v
                ],
                clear=lambda name=f.name: revealed().fields.get(name, ""),
                shown=lambda name=f.name: masked().fields.get(name),
            )
        elif f.free_text:
            probes[f"{prefix}.data.{f.name}"] = Probe(
                closed,
                marker,
                lambda name=f.name, marker=marker: _holding(
                    [fresh().data.get(name)] + [e.data.get(name) for e in fresh().events], marker
                ),
            )
    return probes


def _area(db: Session) -> Area:
    return db.scalars(select(Area).where(Area.code == GRID)).one()


# --- the walk --------------------------------------------------------------------------------


def _check_protection(entry: PersonalField, probe: Probe, cipher: FieldCipher) -> None:
    held = probe.held()
    assert held, f"{entry.key}: nothing stored"
    if entry.protection is Protection.FREE_TEXT:
        assert any(probe.marker in str(v) for v in held), f"{entry.key}: not as written"
    elif entry.protection is Protection.ENCRYPTED:
        for value in held:
            raw = value if isinstance(value, bytes) else value.encode()
            assert probe.marker.encode() not in raw, f"{entry.key}: stored in clear"
        assert probe.clear is not None, f"{entry.key}: no audited read to check"
        assert probe.marker in str(probe.clear()), f"{entry.key}: does not decrypt"
        if probe.shown is not None:
            shown = probe.shown()
            assert shown and probe.marker not in shown, f"{entry.key}: not masked: {shown}"
    else:
        assert entry.protection is Protection.KEYED_DIGEST
        assert probe.made_from is not None
        (digest,) = held
        assert digest == cipher.keyed_digest(probe.made_from), f"{entry.key}: not keyed"
        assert digest != hashlib.sha256(probe.made_from.encode()).hexdigest()


def test_every_register_field_is_protected_as_declared_and_gone_after_its_retention(
    db: Session, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    cipher = FieldCipher(settings.ensure_secret_key())
    storage = storage_in(settings.data_dir)
    probes, colleague = _staff_probes(db, cipher)
    probes |= _incident_probes(db, cipher)
    probes |= _holder_probes(db, cipher)
    probes |= _community_probes(db, cipher, tmp_path)
    probes |= _event_probes(db, cipher)
    for decl in registry.all_types():
        probes |= _case_probes(db, decl, cipher, storage)
    entries = {entry.key: entry for entry in register.fields(settings)}
    assert sorted(entries) == sorted(probes), "the register and the probes differ"

    for key, entry in entries.items():
        _check_protection(entry, probes[key], cipher)

    def purge(at: datetime) -> None:
        register.purge_all(db, PurgeContext(now=at, settings=settings, cipher=cipher))
        db.flush()

    # By the moment each retention ends: just before, every field of that moment is kept;
    # just after, it is gone (and those that ended before are still gone).
    ends: dict[datetime, list[str]] = {}
    for key, entry in entries.items():
        ends.setdefault(probes[key].anchor + timedelta(days=entry.retention_days), []).append(key)
    minute = timedelta(minutes=1)
    for end in sorted(ends):
        purge(end - minute)
        for key in ends[end]:
            if entries[key].retention_days > 0:
                assert probes[key].held(), f"{key}: gone before its retention ended"
        purge(end + minute)
        for key in ends[end]:
            assert probes[key].held() == [], f"{key}: kept after its retention ended"
    db.refresh(colleague)
    assert colleague.phone_encrypted is not None  # an active account keeps its phone
    for key in entries:
        assert probes[key].held() == [], f"{key}: came back"


def test_every_register_entry_says_why_how_and_how_long(tmp_path: Path) -> None:
    entries = register.fields(_settings(tmp_path))
    assert {e.key.split(".")[0] for e in entries} >= {
        "user_account",
        "incident",
        "case",
        "material_holder",
    }
    for entry in entries:
        assert entry.purpose and entry.stored_in and entry.anchor and entry.cleared, entry.key
        assert entry.configured_by and entry.retention_days >= 0, entry.key
    assert {e.key for e in entries if e.protection is Protection.KEYED_DIGEST} == {
        "incident.request_hash"
    }
