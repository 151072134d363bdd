"""Events, plans and activations as the API shows them (the contact masked)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.core.security import FieldCipher
from fangkong.events import activations, plans, register
from fangkong.events.models import Activation, EmergencyPlan, EventApplication
from fangkong.events.personal import masked_contact
from fangkong.events.schemas import (
    ActivationOut,
    EventOut,
    FactorOut,
    FindingOut,
    NamedOut,
    PlanOut,
    PostOut,
    ProposalOut,
    ShortfallOut,
    StepOut,
    TierOut,
    TimingOut,
)


def event_out(session: Session, event: EventApplication, cipher: FieldCipher) -> EventOut:
    name, phone = masked_contact(event, cipher)
    case = register.case_of(session, event)
    signs = register.call_signs(session, event.posts)
    area = session.get(Area, event.area_id) if event.area_id else None
    return EventOut(
        id=event.id,
        code=event.code,
        name=event.name,
        organiser=event.organiser,
        contact_name=name,
        contact_phone=phone,
        facility_id=event.facility_id,
        venue_polygon=event.venue_polygon,
        venue_kind=event.venue_kind,
        capacity=event.capacity,
        expected_attendance=event.expected_attendance,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        lon=event.lon,
        lat=event.lat,
        area_code=area.code if area else None,
        risk_grade=event.risk_grade,
        risk_score=event.risk_score,
        risk_factors=[FactorOut.model_validate(f) for f in event.risk_factors],
        case_id=event.case_id,
        case_number=cases.number(case) if case else None,
        case_state=case.state if case else None,
        staffing=sum(p.staffing for p in event.posts),
        posts=[
            PostOut(
                id=p.id,
                kind=p.kind,
                name=p.name,
                lon=p.lon,
                lat=p.lat,
                staffing=p.staffing,
                unit_ids=list(p.unit_ids),
                call_signs=[signs[u] for u in p.unit_ids if u in signs],
            )
            for p in event.posts
        ],
    )


def plan_out(session: Session, plan: EmergencyPlan) -> PlanOut:
    area = session.get(Area, plan.area_id) if plan.area_id else None
    return PlanOut(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        category=plan.category,
        level=plan.level,
        area_code=area.code if area else None,
        tiers=[TierOut.model_validate(t) for t in plan.tiers],
        checkpoints=[
            NamedOut(id=c.id, code=c.code, name=c.name, lon=c.lon, lat=c.lat)
            for c in plans.checkpoints_of(session, plan)
        ],
        facilities=[
            NamedOut(id=f.id, code=f.code, name=f.name, lon=f.lon, lat=f.lat)
            for f in plans.facilities_of(session, plan)
        ],
        target_first_s=plan.target_first_s,
        target_full_s=plan.target_full_s,
        active=plan.active,
    )


def activation_out(session: Session, activation: Activation) -> ActivationOut:
    timing = activations.timing(session, activation)
    return ActivationOut(
        id=activation.id,
        plan_id=activation.plan_id,
        plan_code=activation.plan.code,
        incident_id=activation.incident_id,
        drill=activation.drill,
        started_at=activation.started_at,
        confirmed_at=activation.confirmed_at,
        ended_at=activation.ended_at,
        proposals=[ProposalOut.model_validate(p) for p in activation.proposals],
        shortfalls=[
            ShortfallOut(tier=s.tier, wanted=s.wanted, found=s.found)
            for s in activations.shortfalls_of(activation)
        ],
        confirmed_unit_ids=list(activation.confirmed_unit_ids),
        timing=TimingOut(
            first_arrival_s=timing.first_arrival_s,
            full_arrival_s=timing.full_arrival_s,
            target_first_s=timing.target_first_s,
            target_full_s=timing.target_full_s,
            first_met=timing.first_met,
            full_met=timing.full_met,
        ),
        findings=[
            FindingOut(case_id=c.id, number=cases.number(c), state=c.state)
            for c in activations.findings_of(session, activation)
        ],
        steps=[step_out(r) for r in activations.steps_of(session, activation)],
    )


def step_out(row: activations.StepRow) -> StepOut:
    return StepOut(
        kind=row.kind,
        ref_id=row.ref_id,
        code=row.code,
        name=row.name,
        done=row.step is not None,
        done_at=row.step.done_at if row.step else None,
        done_by=row.step.done_by if row.step else None,
        after_s=row.after_s,
        note=row.step.note if row.step else None,
    )
