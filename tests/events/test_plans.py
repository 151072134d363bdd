"""Emergency plans on both backends: tiers filled in order from the dispatch recommender's
ranking (unit types, posts, travel time; a shortfall named), the commander's confirmation
dispatching through dispatch, timings against the targets, and drills: simulated, flagged,
left out of the real KPIs and of the dispatch KPIs, their findings as cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from dispatch.dispatch_helpers import incident_in as dispatch_incident_in
from dispatch.dispatch_helpers import new_incident, scope_of
from events.events_helpers import ACTOR, CIPHER, T0, add_post, add_unit, street_network
from factories import grid_centre
from fangkong.cases import service as cases
from fangkong.core.errors import Conflict, InvalidInput
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.dispatch import kpis as dispatch_kpis
from fangkong.dispatch import service as dispatch
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Priority,
    Source,
    UnitStatus,
    UnitType,
)
from fangkong.events import activations, plans
from fangkong.events.models import Activation, ActivationStep, EmergencyPlan, StepKind
from fangkong.events.schemas import FindingIn, PlanIn
from fangkong.facilities import register as facility_register
from fangkong.facilities.models import FacilityType
from fangkong.facilities.schemas import FacilityIn
from fangkong.network.service import Network
from fangkong.planning import service as planning
from fangkong.planning.models import CheckpointStatus, Direction

GRID = "T-D1-S1-B1-G1"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    return street_network(Path(tmp_path_factory.mktemp("plans-network")))


def plan_in(code: str, **values: object) -> PlanIn:
    base: dict[str, object] = {
        "code": code,
        "name": f"{code} 群体性事件处置",
        "category": "public_order",
        "level": 2,
        "area_code": "T-D1",
        "tiers": [
            {"unit_types": ["car"], "count": 2, "max_travel_s": 600},
            {"unit_types": ["foot"], "post_codes": ["PL-B"], "count": 1},
        ],
        "target_first_s": 300,
        "target_full_s": 600,
    }
    return PlanIn.model_validate(base | values)


def incident(db: Session, key: str) -> Incident:
    return new_incident(
        db,
        key,
        dispatch_incident_in(GRID, category="public_order", subtype="gathering"),
        now=T0,
    )


@pytest.fixture()
def forces(db: Session) -> dict[str, int]:
    """Two posts near the scene and one far: cars and foot patrols at each."""
    near = add_post(db, "PL-A", GRID)
    other = add_post(db, "PL-B", GRID, (0.006, 0.0))
    far = add_post(db, "PL-C", "T-D1-S2-B2-G2")
    units = {
        "A-car": add_unit(db, "PL-A-car", near),
        "A-foot": add_unit(db, "PL-A-foot", near, UnitType.FOOT),
        "B-car": add_unit(db, "PL-B-car", other),
        "B-foot": add_unit(db, "PL-B-foot", other, UnitType.FOOT),
        "C-car": add_unit(db, "PL-C-car", far),
    }
    return {k: u.id for k, u in units.items()}


def activate(db: Session, plan: EmergencyPlan, network: Network, event: Incident) -> Activation:
    return activations.activate(
        db,
        plan=plan,
        incident=event,
        network=network,
        units=dispatch.get_units(db, scope=SYSTEM_SCOPE, status=UnitStatus.AVAILABLE),
        user=None,
        actor=ACTOR,
        now=T0 + timedelta(minutes=1),
    )


def test_a_plan_names_its_checkpoints_facilities_and_area(
    db: Session, forces: dict[str, int]
) -> None:
    lon, lat = grid_centre(GRID)
    checkpoint = planning.create_checkpoint(
        db,
        code="PL-K1",
        name="东出口卡口",
        lon=lon + 0.002,
        lat=lat,
        direction=Direction.BOTH,
        status=CheckpointStatus.ACTIVE,
        actor=ACTOR,
        scope=SYSTEM_SCOPE,
    )
    plan = plans.create_plan(
        db, data=plan_in("PL-1", checkpoint_codes=["PL-K1"]), actor=ACTOR, scope=None
    )
    assert plans.checkpoints_of(db, plan) == [checkpoint]
    assert plan.area_path is not None and plan.tiers[1]["order"] == 2
    with pytest.raises(InvalidInput) as unknown:
        plans.create_plan(
            db, data=plan_in("PL-2", checkpoint_codes=["NOPE"]), actor=ACTOR, scope=None
        )
    assert unknown.value.key == "error.events.code_unknown"
    with pytest.raises(InvalidInput):
        plans.create_plan(db, data=plan_in("PL-3", category="weather"), actor=ACTOR, scope=None)
    with pytest.raises(Conflict):
        plans.create_plan(db, data=plan_in("PL-1"), actor=ACTOR, scope=None)
    other = scope_of(db, "T-D2")
    assert plans.get(db, plan_id=plan.id, scope=other) is None
    assert plans.get_all(db, scope=other)[0] == 0


def test_activation_fills_the_tiers_in_order_from_the_recommender(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    plan = plans.create_plan(db, data=plan_in("PL-4"), actor=ACTOR, scope=None)
    scene = incident(db, "pl-real-1")
    assert plans.plans_for(db, incident=scene, scope=SYSTEM_SCOPE) == [plan]
    activation = activate(db, plan, network, scene)
    # the reference to the incident names its partition (migration 0026)
    assert activation.incident_county == scene.partition_county == scene.county_id
    got = [(p["tier"], p["call_sign"]) for p in activation.proposals]
    # Tier 1: the two nearest cars (the far post's car is beyond 600 s or farther); tier 2:
    # a foot patrol of post B only, though A's foot patrol is nearer.
    assert got == [(1, "PL-A-car"), (1, "PL-B-car"), (2, "PL-B-foot")]
    times = [p["time_s"] for p in activation.proposals[:2]]
    assert times == sorted(times)
    assert activations.shortfalls_of(activation) == []
    assert scene.status == IncidentStatus.RECEIVED  # nothing sent before the commander confirms
    with pytest.raises(Conflict):
        activate(db, plan, network, scene)


def test_a_tier_short_of_units_is_named(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    plan = plans.create_plan(
        db,
        data=plan_in("PL-5", tiers=[{"unit_types": ["boat"], "count": 2}, {"count": 1}]),
        actor=ACTOR,
        scope=None,
    )
    activation = activate(db, plan, network, incident(db, "pl-real-2"))
    assert [(s.tier, s.wanted, s.found) for s in activations.shortfalls_of(activation)] == [
        (1, 2, 0)
    ]
    assert [p["tier"] for p in activation.proposals] == [2]


def test_confirmation_dispatches_and_the_arrivals_time_the_plan(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    plan = plans.create_plan(db, data=plan_in("PL-6"), actor=ACTOR, scope=None)
    scene = incident(db, "pl-real-3")
    activation = activate(db, plan, network, scene)
    with pytest.raises(InvalidInput):
        activations.confirm(
            db,
            activation=activation,
            unit_ids=[forces["C-car"]],
            scope=SYSTEM_SCOPE,
            user=None,
            actor=ACTOR,
            now=T0,
        )
    started = activation.started_at
    activations.confirm(
        db,
        activation=activation,
        unit_ids=None,
        scope=SYSTEM_SCOPE,
        user=None,
        actor=ACTOR,
        now=started + timedelta(seconds=30),
    )
    assert scene.status == IncidentStatus.DISPATCHED
    assert {a.unit_id for a in scene.assignments} == set(activation.confirmed_unit_ids)
    assert activations.timing(db, activation).first_arrival_s is None
    units = {u: dispatch.get_unit_or_raise(db, unit_id=u, scope=None) for u in forces.values()}
    dispatch.arrive(
        db,
        incident=scene,
        unit=units[forces["A-car"]],
        actor=ACTOR,
        now=started + timedelta(seconds=240),
    )
    partial = activations.timing(db, activation)
    assert (partial.first_arrival_s, partial.first_met) == (240.0, True)
    assert partial.full_arrival_s is None and partial.full_met is None
    dispatch.arrive(
        db,
        incident=scene,
        unit=units[forces["B-car"]],
        actor=ACTOR,
        now=started + timedelta(seconds=700),
    )
    done = activations.timing(db, activation)
    assert (done.full_arrival_s, done.full_met) == (700.0, False)  # target 600 s
    with pytest.raises(Conflict):
        activations.confirm(
            db,
            activation=activation,
            unit_ids=None,
            scope=SYSTEM_SCOPE,
            user=None,
            actor=ACTOR,
            now=T0,
        )


def test_a_drill_is_simulated_flagged_and_never_counted_in_the_real_figures(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    plan = plans.create_plan(db, data=plan_in("PL-7"), actor=ACTOR, scope=None)
    lon, lat = grid_centre(GRID)
    real = activate(db, plan, network, incident(db, "pl-real-4"))
    activations.confirm(
        db,
        activation=real,
        unit_ids=[forces["A-car"]],
        scope=SYSTEM_SCOPE,
        user=None,
        actor=ACTOR,
        now=real.started_at,
    )
    real_incident = db.get_one(Incident, real.incident_id)
    dispatch.arrive(
        db,
        incident=real_incident,
        unit=dispatch.get_unit_or_raise(db, unit_id=forces["A-car"], scope=None),
        actor=ACTOR,
        now=real.started_at + timedelta(seconds=400),
    )
    drill = activations.start_drill(
        db,
        plan=plan,
        lon=lon,
        lat=lat,
        subtype="gathering",
        priority=None,
        network=network,
        units=dispatch.get_units(db, scope=SYSTEM_SCOPE, status=UnitStatus.AVAILABLE),
        scope=None,
        user=None,
        actor=ACTOR,
        now=T0 + timedelta(minutes=5),
        cipher=CIPHER,
    )
    simulated = db.get_one(Incident, drill.incident_id)
    assert drill.drill and simulated.source == Source.SIMULATED
    assert simulated.priority == Priority.P2  # the plan's level
    activations.confirm(
        db,
        activation=drill,
        unit_ids=[p["unit_id"] for p in drill.proposals[:1]],
        scope=SYSTEM_SCOPE,
        user=None,
        actor=ACTOR,
        now=drill.started_at,
    )
    dispatch.arrive(
        db,
        incident=simulated,
        unit=dispatch.get_unit_or_raise(db, unit_id=drill.confirmed_unit_ids[0], scope=None),
        actor=ACTOR,
        now=drill.started_at + timedelta(seconds=100),
    )
    window = {"since": T0 - timedelta(days=1), "until": T0 + timedelta(days=1)}
    figures = activations.kpis(db, scope=SYSTEM_SCOPE, **window)
    assert (figures.activations, figures.timed, figures.first_met) == (1, 1, 0)
    assert figures.mean_first_arrival_s == 400.0  # the drill's 100 s is not in it
    drills = activations.kpis(db, scope=SYSTEM_SCOPE, drill=True, **window)
    assert (drills.activations, drills.first_met, drills.mean_first_arrival_s) == (1, 1, 100.0)
    response = dispatch_kpis.area_kpis(
        db, scope=scope_of(db, "T"), start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)
    )
    assert response.incidents == 1  # the real one; the drill's simulated incident left out
    assert response.dispatch_to_arrival.count == 1
    # A drill's activation cannot run on a real incident, nor a real one on a simulated one.
    with pytest.raises(InvalidInput):
        activations.activate(
            db,
            plan=plan,
            incident=simulated,
            network=network,
            units=[],
            user=None,
            actor=ACTOR,
            now=T0,
        )


def test_a_drills_findings_are_cases_linked_to_its_incident(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    plan = plans.create_plan(db, data=plan_in("PL-8"), actor=ACTOR, scope=None)
    lon, lat = grid_centre(GRID)
    drill = activations.start_drill(
        db,
        plan=plan,
        lon=lon,
        lat=lat,
        subtype="gathering",
        priority=Priority.P2,
        network=network,
        units=dispatch.get_units(db, scope=SYSTEM_SCOPE, status=UnitStatus.AVAILABLE),
        scope=None,
        user=None,
        actor=ACTOR,
        now=T0,
        cipher=CIPHER,
    )
    case = activations.add_finding(
        db,
        activation=drill,
        data=FindingIn(aspect="checkpoints", severity="major", finding="东出口卡口 12 分钟才封闭"),
        user=None,
        actor=ACTOR,
        now=T0 + timedelta(hours=1),
        calendar=CALENDAR,
    )
    assert (case.case_type, case.state) == ("drill_finding", "rectifying")
    assert case.due_at == T0 + timedelta(hours=1, days=7)
    assert activations.findings_of(db, drill) == [case]
    assert cases.number(case).startswith("DF")
    real = activate(db, plan, network, incident(db, "pl-real-5"))
    with pytest.raises(InvalidInput) as refused:
        activations.add_finding(
            db,
            activation=real,
            data=FindingIn(aspect="other", severity="minor"),
            user=None,
            actor=ACTOR,
            now=T0,
            calendar=CALENDAR,
        )
    assert refused.value.key == "error.events.findings_drill"


def test_a_tier_may_name_its_units_or_the_stations_they_come_from(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    plan = plans.create_plan(
        db,
        data=plan_in(
            "PL-9",
            tiers=[
                {"call_signs": ["PL-C-car"], "count": 1},
                {"station_codes": ["T-D1-S1"], "unit_types": ["car"], "count": 3},
            ],
        ),
        actor=ACTOR,
        scope=None,
    )
    activation = activate(db, plan, network, incident(db, "pl-real-6"))
    got = [(p["tier"], p["call_sign"]) for p in activation.proposals]
    # The far post's car by name first, though the nearest; then the station's cars only.
    assert got[0] == (1, "PL-C-car")
    assert {c for t, c in got if t == 2} == {"PL-A-car", "PL-B-car"}
    assert [(s.tier, s.wanted, s.found) for s in activations.shortfalls_of(activation)] == [
        (2, 3, 2)
    ]
    with pytest.raises(InvalidInput):
        plans.create_plan(
            db,
            data=plan_in("PL-10", tiers=[{"call_signs": ["NOBODY"], "count": 1}]),
            actor=ACTOR,
            scope=None,
        )


def test_the_commander_marks_checkpoints_closed_and_facilities_notified_once(
    db: Session, network: Network, forces: dict[str, int]
) -> None:
    lon, lat = grid_centre(GRID)
    checkpoint = planning.create_checkpoint(
        db,
        code="PL-K9",
        name="西出口卡口",
        lon=lon - 0.002,
        lat=lat,
        direction=Direction.BOTH,
        status=CheckpointStatus.ACTIVE,
        actor=ACTOR,
        scope=SYSTEM_SCOPE,
    )
    hospital = facility_register.create(
        db,
        data=FacilityIn.model_validate(
            {
                "code": "PL-H1",
                "name": "县人民医院",
                "facility_type": FacilityType.HOSPITAL,
                "lon": lon,
                "lat": lat + 0.002,
            }
        ),
        actor=ACTOR,
        scope=None,
    )
    plan = plans.create_plan(
        db,
        data=plan_in("PL-S1", checkpoint_codes=["PL-K9"], facility_codes=["PL-H1"]),
        actor=ACTOR,
        scope=None,
    )
    activation = activate(db, plan, network, incident(db, "pl-steps-1"))
    rows = activations.steps_of(db, activation)
    assert [(r.kind, r.code, r.step) for r in rows] == [
        (StepKind.CHECKPOINT, "PL-K9", None),
        (StepKind.FACILITY, "PL-H1", None),
    ]
    started = activation.started_at
    closed = activations.mark_step(
        db,
        activation=activation,
        kind=StepKind.CHECKPOINT,
        ref_id=checkpoint.id,
        user=None,
        actor=ACTOR,
        now=started + timedelta(seconds=185),
    )
    assert (closed.done_by, closed.done_at) == (ACTOR.username, started + timedelta(seconds=185))
    # A second mark of the same checkpoint is refused: no undo, no re-marking.
    with pytest.raises(Conflict) as again:
        activations.mark_step(
            db,
            activation=activation,
            kind=StepKind.CHECKPOINT,
            ref_id=checkpoint.id,
            note="重复",
            user=None,
            actor=ACTOR,
            now=started + timedelta(seconds=200),
        )
    assert again.value.key == "error.events.step_done"
    # A facility id is not a checkpoint of the plan, nor is anything outside the plan.
    for kind, ref in ((StepKind.CHECKPOINT, hospital.id + 10_000), (StepKind.FACILITY, 0)):
        with pytest.raises(InvalidInput) as outside:
            activations.mark_step(
                db,
                activation=activation,
                kind=kind,
                ref_id=ref,
                user=None,
                actor=ACTOR,
                now=started,
            )
        assert outside.value.key == "error.events.step_not_in_plan"
    # Two commanders mark the same facility in the same instant: the page each saw had it
    # open, the database keeps the first, the second is told so (a conflict, not a fault).
    assert (StepKind.FACILITY, hospital.id) not in {(s.kind, s.ref_id) for s in activation.steps}
    other = {
        "activation_id": activation.id,
        "kind": StepKind.FACILITY,
        "ref_id": hospital.id,
        "done_at": started + timedelta(seconds=419),
        "done_by": "another",
        "note": "",
    }
    db.execute(insert(ActivationStep).values(**other))
    with pytest.raises(Conflict) as raced:
        activations.mark_step(
            db,
            activation=activation,
            kind=StepKind.FACILITY,
            ref_id=hospital.id,
            user=None,
            actor=ACTOR,
            now=started + timedelta(seconds=419),
        )
    assert raced.value.key == "error.events.step_done"
    db.execute(delete(ActivationStep).where(ActivationStep.done_by == "another"))
    activations.mark_step(
        db,
        activation=activation,
        kind=StepKind.FACILITY,
        ref_id=hospital.id,
        note="电话通知急诊科，先前误报已更正",
        user=None,
        actor=ACTOR,
        now=started + timedelta(seconds=420),
    )
    db.expire_all()
    reread = activations.get_activation_or_raise(db, activation_id=activation.id, scope=None)
    rows = activations.steps_of(db, reread)
    assert [(r.code, r.after_s) for r in rows] == [("PL-K9", 185.0), ("PL-H1", 420.0)]
    assert rows[1].step is not None and rows[1].step.note.startswith("电话通知")
    marks = db.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == "emergency_activation",
            AuditEvent.entity_id == str(activation.id),
            AuditEvent.action == "mark_step",
        )
    ).all()
    assert sorted(m.detail["after_s"] for m in marks) == [185.0, 420.0]
    activations.end(db, activation=reread, actor=ACTOR, now=started + timedelta(seconds=500))
    with pytest.raises(Conflict):
        activations.mark_step(
            db,
            activation=reread,
            kind=StepKind.CHECKPOINT,
            ref_id=checkpoint.id,
            user=None,
            actor=ACTOR,
            now=started + timedelta(seconds=600),
        )
