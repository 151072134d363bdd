"""Declarations and cases as the API and the console show them: labels in the user's language,
personal values masked."""

from __future__ import annotations

from datetime import datetime

from fangkong.cases import service
from fangkong.cases.declaration import CaseTypeDecl, FieldDecl, TransitionDecl
from fangkong.cases.models import Case
from fangkong.cases.schemas import (
    AttachmentOut,
    CaseDetail,
    CaseSummary,
    CaseTypeOut,
    EventOut,
    FieldOut,
    LinkOut,
    PartiesOut,
    PartyOut,
    StateOut,
    TransitionOut,
)
from fangkong.core.i18n import translate
from fangkong.core.models import User
from fangkong.core.security import FieldCipher


def label_keys(decl: CaseTypeDecl) -> list[str]:
    """Every translation key a declaration's forms and pages use."""
    keys = [f"cases.type.{decl.name}"]
    keys += [f"cases.{decl.name}.state.{s.name}" for s in decl.states]
    keys += [f"cases.{decl.name}.transition.{t.name}" for t in decl.transitions]
    for f in decl.fields:
        keys.append(f"cases.{decl.name}.field.{f.name}")
        keys += [f"cases.{decl.name}.option.{f.name}.{o}" for o in f.options]
    if decl.parties is not None:
        keys += [f"cases.party_role.{role}" for role in decl.parties.roles]
    return keys


def field_out(decl: CaseTypeDecl, f: FieldDecl, language: str) -> FieldOut:
    return FieldOut(
        name=f.name,
        kind=f.kind,
        personal=f.personal,
        label=translate(f"cases.{decl.name}.field.{f.name}", language),
        options=[
            (o, translate(f"cases.{decl.name}.option.{f.name}.{o}", language)) for o in f.options
        ],
    )


def transition_out(decl: CaseTypeDecl, t: TransitionDecl, language: str) -> TransitionOut:
    return TransitionOut(
        name=t.name,
        label=translate(f"cases.{decl.name}.transition.{t.name}", language),
        target=t.target,
        stay=t.stay,
        note_required=t.note_required,
        style=t.style,
        fields=[field_out(decl, decl.field(n), language) for n in t.fields],
        optional_fields=[field_out(decl, decl.field(n), language) for n in t.optional_fields],
    )


def type_out(decl: CaseTypeDecl, language: str) -> CaseTypeOut:
    return CaseTypeOut(
        name=decl.name,
        prefix=decl.prefix,
        label=translate(f"cases.type.{decl.name}", language),
        initial=decl.initial,
        states=[
            StateOut(
                name=s.name,
                label=translate(f"cases.{decl.name}.state.{s.name}", language),
                closing=s.closing,
                resolved=s.resolved,
                deadline_hours=s.deadline.hours if s.deadline else None,
                deadline_clock=s.deadline.clock if s.deadline else None,
            )
            for s in decl.states
        ],
        create_fields=[field_out(decl, decl.field(n), language) for n in decl.create_fields],
        create_optional=[field_out(decl, decl.field(n), language) for n in decl.create_optional],
        transitions=[transition_out(decl, t, language) for t in decl.transitions],
        parties=PartiesOut(
            minimum=decl.parties.minimum,
            maximum=decl.parties.maximum,
            roles=list(decl.parties.roles),
        )
        if decl.parties
        else None,
        retention_days=decl.retention_days,
    )


def summary(case: Case, now: datetime) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        number=service.number(case),
        type=case.case_type,
        title=case.title,
        state=case.state,
        area_code=case.area.code,
        opened_at=case.opened_at,
        due_at=case.due_at,
        overdue=service.is_overdue(case, now),
        closed_at=case.closed_at,
        escalation_risk=case.escalation_risk,
        supervision_count=case.supervision_count,
        assignee_org=case.assignee_org,
        assignee_user_id=case.assignee_user_id,
    )


def detail(
    case: Case, *, user: User, cipher: FieldCipher, now: datetime, language: str
) -> CaseDetail:
    decl = service.decl_of(case)
    personal = service.masked_personal(case, cipher)
    return CaseDetail(
        **summary(case, now).model_dump(),
        description=case.description,
        version=case.version,
        data=case.data,
        personal=personal.fields,
        parties=[
            PartyOut(id=p.id, role=p.role, name=p.name, contact=p.contact) for p in personal.parties
        ],
        late=case.late,
        reopen_count=case.reopen_count,
        risk_reasons=case.risk_reasons,
        purged=case.purged_at is not None,
        timeline=[
            EventOut(
                id=e.id,
                at=e.at,
                kind=e.kind,
                username=e.username,
                transition=e.transition,
                from_state=e.from_state,
                to_state=e.to_state,
                note=e.note,
                data=e.data,
                personal=personal.events.get(e.id),
            )
            for e in case.events
        ],
        allowed_transitions=[
            transition_out(decl, t, language) for t in service.allowed_transitions(case, user)
        ],
        attachments=[AttachmentOut.model_validate(a) for a in case.attachments],
        links=[LinkOut.model_validate(link) for link in case.links],
    )
