"""Activations of emergency plans, real and drill (docs/events.md).

Activating a plan from an incident starts its clock and asks the dispatch recommender for
the available units by road time; each tier takes, in order, the nearest units that match it
and are not taken by an earlier tier. The commander confirms (all or some): the units are
dispatched through dispatch, and their arrivals give the activation's timings against the
targets.

A drill (演练) is an activation on a simulated incident (source ``simulated``): flagged as a
drill on the activation and on the incident, it is left out of the dispatch KPIs (as every
simulated incident is) and of :func:`kpis` unless drills are asked for. Its findings are
cases of the ``drill_finding`` type linked to the simulated incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import service as cases
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case, CaseLink
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import Incident, Post, Priority, Source, Unit, UnitStatus
from fangkong.dispatch.recommend import MAX_LIMIT, recommend
from fangkong.dispatch.taxonomy import check as check_category
from fangkong.events.models import Activation, ActivationStep, EmergencyPlan, StepKind
from fangkong.events.plans import LEVEL_OF, checkpoints_of, facilities_of
from fangkong.events.schemas import FindingIn
from fangkong.network.service import Network

FINDING = "drill_finding"


# --- activation: the tiers proposed from the recommender ---------------------------------------


@dataclass(frozen=True)
class Shortfall:
    tier: int
    wanted: int
    found: int


def propose(
    session: Session,
    *,
    plan: EmergencyPlan,
    network: Network,
    incident: Incident,
    units: list[Unit],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[Shortfall]]:
    """The units each tier takes, in tier order: the recommender's ranking of the available
    ``units`` by road time, and per tier the nearest that match its unit types, posts,
    named units and stations (a unit's station: its post's area, else its home area), within
    its travel time, not taken by an earlier tier. A tier that finds fewer than it wants is a
    shortfall (the commander reinforces by hand)."""
    ranked = recommend(network, incident=incident, units=units, now=now, limit=MAX_LIMIT)
    based: dict[int, tuple[str, str]] = {
        int(i): (str(c), str(path or ""))
        for i, c, path in session.execute(
            select(Post.id, Post.code, Post.area_path).where(
                Post.id.in_({c.unit.home_post_id for c in ranked if c.unit.home_post_id})
            )
        ).all()
    }
    posts = {i: code for i, (code, _) in based.items()}
    stations = {
        tier["order"]: list(
            session.scalars(select(Area.path).where(Area.code.in_(tier.get("station_codes") or [])))
        )
        for tier in plan.tiers
    }
    taken: set[int] = set()
    proposals: list[dict[str, Any]] = []
    shortfalls: list[Shortfall] = []
    for tier in plan.tiers:
        found = 0
        for c in ranked:
            if found >= tier["count"]:
                break
            u = c.unit
            if u.id in taken:
                continue
            if tier["unit_types"] and u.unit_type.value not in tier["unit_types"]:
                continue
            if tier["post_codes"] and posts.get(u.home_post_id or 0) not in tier["post_codes"]:
                continue
            if tier.get("call_signs") and u.call_sign not in tier["call_signs"]:
                continue
            # A unit's station: its post's area where it has a post, else its home area.
            home = based[u.home_post_id][1] if u.home_post_id in based else u.home_area_path
            if stations[tier["order"]] and not any(
                home.startswith(path) for path in stations[tier["order"]]
            ):
                continue
            if tier.get("max_travel_s") and c.time_s > tier["max_travel_s"]:
                continue
            taken.add(u.id)
            found += 1
            proposals.append(
                {
                    "tier": tier["order"],
                    "unit_id": u.id,
                    "call_sign": u.call_sign,
                    "unit_type": u.unit_type.value,
                    "time_s": round(c.time_s, 1),
                    "ring": c.ring,
                }
            )
        if found < tier["count"]:
            shortfalls.append(Shortfall(tier["order"], tier["count"], found))
    return proposals, shortfalls


def shortfalls_of(activation: Activation) -> list[Shortfall]:
    """Tiers that found fewer units than they want."""
    out = []
    for tier in activation.plan.tiers:
        found = sum(1 for p in activation.proposals if p["tier"] == tier["order"])
        if found < tier["count"]:
            out.append(Shortfall(tier["order"], tier["count"], found))
    return out


def activate(
    session: Session,
    *,
    plan: EmergencyPlan,
    incident: Incident,
    network: Network,
    units: list[Unit],
    user: User | None,
    actor: Actor,
    now: datetime,
    drill: bool = False,
) -> Activation:
    """Start the plan's clock on ``incident`` and propose its dispatches (not sent: the
    commander confirms). A drill needs a simulated incident, and a simulated incident can
    only be drilled."""
    if not plan.active:
        raise Conflict(
            key="error.events.plan_inactive", params={"code": plan.code}, field="plan_id"
        )
    if drill != (incident.source == Source.SIMULATED):
        raise InvalidInput(key="error.events.drill_simulated", field="incident_id")
    if incident.status not in dispatch.DISPATCHABLE:
        raise Conflict(
            key="error.events.incident_closed",
            params={"id": incident.id, "status": incident.status.value},
            field="incident_id",
        )
    open_one = session.scalars(
        select(Activation.id).where(
            Activation.incident_id == incident.id,
            Activation.plan_id == plan.id,
            Activation.ended_at.is_(None),
        )
    ).first()
    if open_one is not None:
        raise Conflict(key="error.events.already_active", params={"id": open_one}, field="plan_id")
    proposals, _ = propose(
        session, plan=plan, network=network, incident=incident, units=units, now=now
    )
    activation = Activation(
        plan_id=plan.id,
        incident_id=incident.id,
        incident_county=incident.partition_county,
        drill=drill,
        area_path=incident.area_path,
        started_at=now,
        proposals=proposals,
        confirmed_unit_ids=[],
        started_by_id=user.id if user is not None else None,
    )
    activation.plan = plan
    session.add(activation)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="activate",
        entity="emergency_activation",
        entity_id=activation.id,
        detail={"plan": plan.code, "incident_id": incident.id, "drill": drill},
        area_path=incident.area_path,
    )
    return activation


def confirm(
    session: Session,
    *,
    activation: Activation,
    unit_ids: list[int] | None,
    scope: Scope,
    user: User | None,
    actor: Actor,
    now: datetime,
) -> Activation:
    """The commander's confirmation: the proposed units chosen (all by default) are
    dispatched to the incident through dispatch, with their predicted road times."""
    if activation.confirmed_at is not None or activation.ended_at is not None:
        raise Conflict(key="error.events.confirmed", params={"id": activation.id}, field="id")
    proposed = {int(p["unit_id"]): p for p in activation.proposals}
    chosen = list(proposed) if unit_ids is None else list(unit_ids)
    unknown = [u for u in chosen if u not in proposed]
    if unknown or not chosen:
        raise InvalidInput(
            key="error.events.not_proposed",
            params={"ids": ", ".join(map(str, unknown))},
            field="unit_ids",
        )
    incident = dispatch.get_or_raise(session, incident_id=activation.incident_id or 0, scope=scope)
    units = [dispatch.get_unit_or_raise(session, unit_id=u, scope=scope) for u in chosen]
    busy = [u.call_sign for u in units if u.status != UnitStatus.AVAILABLE]
    if busy:
        raise Conflict(
            key="error.events.units_busy", params={"call_signs": ", ".join(busy)}, field="unit_ids"
        )
    dispatch.dispatch(
        session,
        incident=incident,
        units=units,
        actor=actor,
        now=now,
        predicted_s={u: float(proposed[u]["time_s"]) for u in chosen},
        user=user,
    )
    activation.confirmed_at = now
    activation.confirmed_unit_ids = chosen
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="confirm",
        entity="emergency_activation",
        entity_id=activation.id,
        detail={"units": [proposed[u]["call_sign"] for u in chosen]},
        area_path=activation.area_path,
    )
    return activation


def end(session: Session, *, activation: Activation, actor: Actor, now: datetime) -> Activation:
    """Stop the activation's clock (the incident goes on in dispatch)."""
    if activation.ended_at is not None:
        raise Conflict(key="error.events.ended", params={"id": activation.id}, field="id")
    activation.ended_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="end",
        entity="emergency_activation",
        entity_id=activation.id,
        area_path=activation.area_path,
    )
    return activation


def start_drill(
    session: Session,
    *,
    plan: EmergencyPlan,
    lon: float,
    lat: float,
    subtype: str,
    priority: Priority | None,
    network: Network,
    units: list[Unit],
    scope: Scope | None,
    user: User | None,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
) -> Activation:
    """A drill: a simulated incident of the plan's category at the point (in ``scope``), and
    the plan activated on it."""
    check_category(plan.category, subtype)
    level = priority or next(p for p, n in LEVEL_OF.items() if n == plan.level)
    incident, _ = dispatch.create(
        session,
        key=f"drill-{plan.code}-{now.timestamp():.6f}"[:64],
        data=dispatch.IncidentIn(
            category=plan.category,
            subtype=subtype,
            priority=level,
            source=Source.SIMULATED,
            lon=lon,
            lat=lat,
            description=f"[演练 drill] {plan.code}",
        ),
        actor=actor,
        now=now,
        cipher=cipher,
        scope=scope,
        user=user,
    )
    return activate(
        session,
        plan=plan,
        incident=incident,
        network=network,
        units=units,
        user=user,
        actor=actor,
        now=now,
        drill=True,
    )


# --- the steps: checkpoints closed, facilities notified ----------------------------------------


NOTE_MAX = 500


@dataclass(frozen=True)
class StepRow:
    """One of the plan's checkpoints or facilities on an activation's page: its code and
    name, and the entry that marked it done (None while open) with the seconds from the
    activation to it."""

    kind: StepKind
    ref_id: int
    code: str
    name: str
    step: ActivationStep | None

    @property
    def after_s(self) -> float | None:
        if self.step is None:
            return None
        return (self.step.done_at - self.step.activation.started_at).total_seconds()


def steps_of(session: Session, activation: Activation) -> list[StepRow]:
    """The plan's checkpoints to close then its facilities to notify, in code order, each
    with the entry that marked it done on this activation."""
    done = {(s.kind, s.ref_id): s for s in activation.steps}
    rows = [
        StepRow(StepKind.CHECKPOINT, c.id, c.code, c.name, done.get((StepKind.CHECKPOINT, c.id)))
        for c in checkpoints_of(session, activation.plan)
    ]
    rows += [
        StepRow(StepKind.FACILITY, f.id, f.code, f.name, done.get((StepKind.FACILITY, f.id)))
        for f in facilities_of(session, activation.plan)
    ]
    return rows


def mark_step(
    session: Session,
    *,
    activation: Activation,
    kind: StepKind,
    ref_id: int,
    note: str = "",
    user: User | None,
    actor: Actor,
    now: datetime,
) -> ActivationStep:
    """The commander marks one of the plan's checkpoints closed or facilities notified: who
    and when are kept and audited. Once only: there is no undo, and a second mark of the
    same one is refused (a mistake is said in a note or a finding)."""
    if activation.ended_at is not None:
        raise Conflict(key="error.events.ended", params={"id": activation.id}, field="id")
    named = (
        activation.plan.checkpoint_ids
        if kind == StepKind.CHECKPOINT
        else (activation.plan.facility_ids)
    )
    if ref_id not in named:
        raise InvalidInput(
            key="error.events.step_not_in_plan",
            params={"id": ref_id, "plan": activation.plan.code},
            field="ref_id",
        )
    earlier = next((s for s in activation.steps if s.kind == kind and s.ref_id == ref_id), None)
    if earlier is not None:
        raise Conflict(
            key="error.events.step_done",
            params={"at": earlier.done_at.isoformat(timespec="seconds")},
            field="ref_id",
        )
    text = note.strip()
    if len(text) > NOTE_MAX:
        raise InvalidInput(key="error.events.note_length", params={"max": NOTE_MAX}, field="note")
    step = ActivationStep(
        activation_id=activation.id,
        kind=kind,
        ref_id=ref_id,
        done_at=now,
        done_by_id=user.id if user is not None else actor.user_id,
        done_by=(actor.username or "")[:128],
        note=text,
    )
    try:
        with session.begin_nested():
            session.add(step)
    except IntegrityError:
        # another commander marked it in the same instant: theirs stands
        raise Conflict(
            key="error.events.step_done",
            params={"at": now.isoformat(timespec="seconds")},
            field="ref_id",
        ) from None
    session.expire(activation, ["steps"])
    audit.record(
        session,
        actor=actor,
        action="mark_step",
        entity="emergency_activation",
        entity_id=activation.id,
        detail={
            "kind": kind.value,
            "ref_id": ref_id,
            "after_s": round((now - activation.started_at).total_seconds(), 1),
        }
        | ({"note": text} if text else {}),
        area_path=activation.area_path,
    )
    return step


# --- reads, timings and findings -------------------------------------------------------------


def get_activation(
    session: Session, *, activation_id: int, scope: Scope | None
) -> Activation | None:
    found = session.get(Activation, activation_id) if activation_id <= 2**31 - 1 else None
    if found is None or (scope is not None and not scope.covers(found.area_path)):
        return None
    return found


def get_activation_or_raise(
    session: Session, *, activation_id: int, scope: Scope | None
) -> Activation:
    found = get_activation(session, activation_id=activation_id, scope=scope)
    if found is None:
        raise NotFound(
            key="error.events.activation_not_found", params={"id": activation_id}, field="id"
        )
    return found


def activations_select(scope: Scope) -> Select[Activation]:
    return select(Activation).where(scope.clause(Activation.area_path))


def get_activations(
    session: Session,
    *,
    scope: Scope,
    drill: bool | None = None,
    plan_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Activation]]:
    """Activations of ``scope``, latest first; ``drill`` True or False for one kind only."""
    query = activations_select(scope)
    if drill is not None:
        query = query.where(Activation.drill.is_(drill))
    if plan_id is not None:
        query = query.where(Activation.plan_id == plan_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Activation.started_at.desc(), Activation.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return int(total), list(page)


@dataclass(frozen=True)
class Timing:
    """Seconds from the activation to the first confirmed unit on scene and to the last unit
    of the first tier on scene (None until then), against the plan's targets."""

    first_arrival_s: float | None
    full_arrival_s: float | None
    target_first_s: int
    target_full_s: int

    @property
    def first_met(self) -> bool | None:
        if self.first_arrival_s is None:
            return None
        return self.first_arrival_s <= self.target_first_s

    @property
    def full_met(self) -> bool | None:
        if self.full_arrival_s is None:
            return None
        return self.full_arrival_s <= self.target_full_s


def _incident_of(session: Session, activation: Activation) -> Incident | None:
    if activation.incident_id is None:
        return None
    return dispatch.referred(
        session, incident_id=activation.incident_id, partition=activation.incident_county
    )


def timing(session: Session, activation: Activation) -> Timing:
    """The activation's timings from the incident's dispatch records."""
    plan = activation.plan
    incident = _incident_of(session, activation)
    arrived: dict[int, datetime] = {}
    if incident is not None:
        for a in incident.assignments:
            if a.unit_id in activation.confirmed_unit_ids and a.arrived_at is not None:
                arrived[a.unit_id] = min(a.arrived_at, arrived.get(a.unit_id, a.arrived_at))
    first = (min(arrived.values()) - activation.started_at).total_seconds() if arrived else None
    tier_one = [
        int(p["unit_id"])
        for p in activation.proposals
        if p["tier"] == 1 and int(p["unit_id"]) in activation.confirmed_unit_ids
    ]
    full = (
        (max(arrived[u] for u in tier_one) - activation.started_at).total_seconds()
        if tier_one and all(u in arrived for u in tier_one)
        else None
    )
    return Timing(first, full, plan.target_first_s, plan.target_full_s)


def findings_of(session: Session, activation: Activation) -> list[Case]:
    """The drill's findings: ``drill_finding`` cases linked to its incident."""
    if activation.incident_id is None:
        return []
    return list(
        session.scalars(
            select(Case)
            .join(CaseLink, CaseLink.case_id == Case.id)
            .where(
                CaseLink.kind == "incident",
                CaseLink.ref_id == str(activation.incident_id),
                Case.case_type == FINDING,
            )
            .order_by(Case.id)
        )
    )


def add_finding(
    session: Session,
    *,
    activation: Activation,
    data: FindingIn,
    user: User | None,
    actor: Actor,
    now: datetime,
    calendar: BusinessCalendar,
) -> Case:
    """Record a finding of a drill as a case on the engine, linked to its incident."""
    if not activation.drill:
        raise InvalidInput(key="error.events.findings_drill", field="id")
    incident = _incident_of(session, activation)
    area = session.get(Area, incident.area_id) if incident and incident.area_id else None
    if incident is None or area is None:
        raise InvalidInput(key="error.events.no_incident", field="id")
    fields: dict[str, object] = {"aspect": data.aspect, "severity": data.severity}
    if data.finding.strip():
        fields["finding"] = data.finding.strip()
    case = cases.create(
        session,
        case_type=FINDING,
        title=f"{activation.plan.code} · {data.aspect}"[:200],
        area=area,
        fields=fields,
        user=user,
        actor=actor,
        now=now,
        calendar=calendar,
        lon=incident.lon,
        lat=incident.lat,
    )
    cases.add_link(
        session,
        case=case,
        kind="incident",
        ref_id=str(incident.id),
        label=f"{activation.plan.code} drill #{activation.id}",
        user=user,
        actor=actor,
        now=now,
    )
    return case


# --- the figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpis:
    """Activations of one kind (real or drill) started in a period, and how their timings met
    the plans' targets. Formula: first_met_share = first_met / timed, where ``timed`` counts
    activations with a first arrival; mean_first_arrival_s over the same."""

    drill: bool
    activations: int
    timed: int
    first_met: int
    full_met: int
    mean_first_arrival_s: float | None

    @property
    def first_met_share(self) -> float | None:
        return self.first_met / self.timed if self.timed else None


def kpis(
    session: Session,
    *,
    scope: Scope,
    since: datetime,
    until: datetime,
    drill: bool = False,
) -> Kpis:
    """The activations' figures in ``[since, until)``; real ones by default, drills only with
    ``drill``: the two are never counted together."""
    rows = session.scalars(
        activations_select(scope).where(
            Activation.drill.is_(drill),
            Activation.started_at >= since,
            Activation.started_at < until,
        )
    ).all()
    timings = [timing(session, a) for a in rows]
    firsts = [t.first_arrival_s for t in timings if t.first_arrival_s is not None]
    return Kpis(
        drill=drill,
        activations=len(rows),
        timed=len(firsts),
        first_met=sum(1 for t in timings if t.first_met),
        full_met=sum(1 for t in timings if t.full_met),
        mean_first_arrival_s=fmean(firsts) if firsts else None,
    )
