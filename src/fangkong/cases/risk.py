"""The escalation-risk flag of a CASE, computed from its own recorded facts (never a person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel
from fangkong.cases._common import add_event, iso
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.deadlines import deadline_for, reschedule
from fangkong.cases.declaration import CaseTypeDecl
from fangkong.cases.models import (
    Case,
    EventKind,
)
from fangkong.cases.notify import ancestor_ids, notify, users_bound_to
from fangkong.core.audit import SYSTEM
from fangkong.core.models import User


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
    chain = session.scalars(select(Area).where(Area.id.in_(ancestor_ids(case.area_path))))
    by_depth = sorted(chain, key=lambda a: a.path.count("/"))
    wanted = [a.id for a in by_depth if a.level.depth <= level.depth]
    return wanted or [by_depth[0].id]


def evaluate_risk(
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
                reschedule(case, now=now)
        recipients: list[User] = []
        for area_id in reversed(_alert_area(session, case, decl.risk.alert_level)):
            recipients = users_bound_to(session, area_id=area_id, roles=decl.risk.alert_roles)
            if recipients:
                break
        names = notify(session, case, recipients, EventKind.RISK, now)
        add_event(
            case,
            kind=EventKind.RISK,
            actor=SYSTEM,
            now=now,
            data={
                "flag": True,
                "reasons": reasons,
                "alerted": names,
                "due_at": iso(case.due_at) if case.due_at else None,
            },
        )
    elif reasons and reasons != case.risk_reasons:
        case.risk_reasons = reasons
    elif not reasons and case.escalation_risk:
        case.escalation_risk = False
        case.risk_reasons = []
        add_event(case, kind=EventKind.RISK, actor=SYSTEM, now=now, data={"flag": False})
