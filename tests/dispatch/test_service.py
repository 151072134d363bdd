"""Incidents and units in the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import fresh_database
from dispatch.dispatch_helpers import ACTOR, CIPHER, T0, area, incident_in, new_incident, scope_of
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.core import audit
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.dispatch import service, taxonomy
from fangkong.dispatch.models import (
    Assignment,
    Incident,
    IncidentEvent,
    IncidentKey,
    IncidentStatus,
    Priority,
    UnitStatus,
    UnitType,
)

S = IncidentStatus


def test_create_places_the_incident_and_encrypts_the_contact(db: Session) -> None:
    incident = new_incident(db, "k-place")
    leaf = area(db, "T-D1-S1-B1-G1")
    assert incident.area_id == leaf.id and incident.area_path == leaf.path
    assert len(incident.h3_cell) == 15
    assert incident.status == S.RECEIVED and incident.received_at == T0
    assert incident.caller_contact_encrypted is not None
    assert "13800138000" not in incident.caller_contact_encrypted
    assert service.masked_contact(incident, CIPHER) == "138******00"
    events = db.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident.id))
    assert [(e.from_status, e.to_status) for e in events] == [(None, "received")]


def test_idempotency_key_returns_the_original_and_refuses_another_body(db: Session) -> None:
    first = new_incident(db, "k-retry")
    again, created = service.create(
        db,
        key="k-retry",
        data=incident_in(),
        actor=ACTOR,
        now=T0 + timedelta(seconds=5),
        cipher=CIPHER,
    )
    assert not created and again.id == first.id
    count = db.scalar(select(Incident.id).where(Incident.idempotency_key == "k-retry"))
    assert count == first.id
    with pytest.raises(Conflict, match="already used") as err:
        service.create(
            db,
            key="k-retry",
            data=incident_in(priority=Priority.P1),
            actor=ACTOR,
            now=T0,
            cipher=CIPHER,
        )
    assert err.value.field == "idempotency_key"
    # The original may lie in another precinct: the refusal does not name it (issue 16,
    # item 10).
    assert str(first.id) not in err.value.message and not err.value.detail
    assert str(first.id) not in str(err.value.to_dict())
    with pytest.raises(InvalidInput, match="idempotency key"):
        service.create(db, key=" padded ", data=incident_in(), actor=ACTOR, now=T0, cipher=CIPHER)


def test_a_key_is_one_incidents_in_the_whole_province(db: Session) -> None:
    """The incidents are partitioned by county on PostgreSQL, where a table's unique keys
    hold within a partition: the key's claim keeps it one incident's in every county."""
    first = new_incident(db, "k-province", incident_in("T-D1-S1-B1-G1"))
    claim = db.get_one(IncidentKey, "k-province")
    assert claim.incident_county == first.partition_county == first.county_id
    # the same key placed in the other county, with another body: refused, not a second one
    with pytest.raises(Conflict) as err:
        new_incident(db, "k-province", incident_in("T-D2-S1-B1-G1"))
    assert err.value.field == "idempotency_key"
    # the same body again: the original, found in its county
    again, created = service.create(
        db, key="k-province", data=incident_in(), actor=ACTOR, now=T0, cipher=CIPHER
    )
    assert (again.id, created) == (first.id, False)
    assert service.incidents_by_keys(db, ["k-province", "k-none"]) == {"k-province": first}
    # the incident placed again in the other county takes its claim along
    other = area(db, "T-D2-S1-B1-G1")
    first.area_id, first.area_path = other.id, other.path
    db.flush()
    db.expire_all()
    assert db.get_one(IncidentKey, "k-province").incident_county == other.county_id
    assert service.incidents_by_keys(db, ["k-province"])["k-province"].id == first.id


def test_a_create_racing_another_for_its_key_waits_and_answers_the_winner(
    backend: str, tmp_path: Path
) -> None:
    engine = fresh_database(backend, tmp_path, suffix="_key_race")
    try:
        with Session(engine) as session:
            area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
            session.commit()
        winner = Session(engine)
        made, created = service.create(
            winner, key="k-race", data=incident_in(), actor=ACTOR, now=T0, cipher=CIPHER
        )  # not committed yet
        assert created
        made_id = made.id
        answers: list[tuple[int, bool] | BaseException] = []

        def racer() -> None:
            with Session(engine) as session:
                try:
                    found, new = service.create(
                        session,
                        key="k-race",
                        data=incident_in(),
                        actor=ACTOR,
                        now=T0,
                        cipher=CIPHER,
                    )
                    session.commit()
                    answers.append((found.id, new))
                except BaseException as exc:  # the test's thread reads it
                    answers.append(exc)

        thread = threading.Thread(target=racer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # its INSERT waits for the winner's transaction to end
        winner.commit()
        winner.close()
        thread.join(30)
        assert answers == [(made_id, False)]
        with Session(engine) as session:
            stored = session.scalars(
                select(Incident.id).where(Incident.idempotency_key == "k-race")
            ).all()
        assert stored == [made_id]
    finally:
        engine.dispose()


@pytest.mark.parametrize("expect_retries", [False, True])  # the same answers either way
def test_create_many_answers_each_intake_and_writes_the_new_ones_together(
    db: Session, expect_retries: bool
) -> None:
    stored = new_incident(db, "m-old")
    station = scope_of(db, "T-D1-S1")
    elsewhere = incident_in("T-D2-S1-B1-G1")
    intakes = [
        service.Intake(key="m-1", data=incident_in(), actor=ACTOR, scope=station),
        service.Intake(key="m-bad", data=incident_in(category="weather"), actor=ACTOR),
        service.Intake(key="m-1", data=incident_in(), actor=ACTOR),  # a retry in the batch
        service.Intake(key="m-1", data=incident_in(priority=Priority.P1), actor=ACTOR),
        service.Intake(key="m-old", data=incident_in(), actor=ACTOR),  # a retry of a stored one
        # ... answered as a retry whatever else is wrong with it
        service.Intake(key="m-old", data=incident_in(category="weather"), actor=ACTOR),
        service.Intake(key="m-old", data=incident_in(), actor=ACTOR, scope=scope_of(db, "T-D2-S1")),
        service.Intake(key="m-out", data=elsewhere, actor=ACTOR, scope=station),
        service.Intake(key="m-2", data=elsewhere, actor=ACTOR),
        service.Intake(key=" ", data=incident_in(), actor=ACTOR),
    ]
    results = service.create_many(db, intakes, now=T0, cipher=CIPHER, expect_retries=expect_retries)
    first, bad, retry, other, old, old_bad, old_elsewhere, out, second, blank = results
    assert isinstance(old_bad, Conflict) and old_bad.field == "idempotency_key"
    assert not isinstance(old_elsewhere, Exception)
    assert old_elsewhere[0].id == stored.id and not old_elsewhere[1]
    assert isinstance(bad, InvalidInput) and bad.field == "category"
    assert isinstance(other, Conflict) and other.field == "idempotency_key"
    assert isinstance(out, InvalidInput) and "outside your areas" in out.message
    assert isinstance(blank, InvalidInput) and blank.field == "idempotency_key"
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    assert not isinstance(retry, Exception) and not isinstance(old, Exception)
    assert first[1] and second[1] and not retry[1] and not old[1]
    assert retry[0].id == first[0].id and old[0].id == stored.id
    new = first[0]
    assert isinstance(new, service.NewIncident)
    assert new.area_code == "T-D1-S1-B1-G1" and new.status == S.RECEIVED
    # What the answer shows is what was stored.
    row = db.get_one(Incident, new.id)
    assert (
        row.idempotency_key,
        row.area_id,
        row.area_path,
        row.h3_cell,
        row.priority,
        row.received_at,
    ) == ("m-1", new.area_id, new.area_path, new.h3_cell, new.priority, T0)
    assert service.masked_contact(new, CIPHER) == service.masked_contact(row, CIPHER)
    keys = db.scalars(
        select(Incident.idempotency_key)
        .where(Incident.idempotency_key.like("m-%"))
        .order_by(Incident.idempotency_key)
    ).all()
    assert keys == ["m-1", "m-2", "m-old"]
    ids = [new.id, second[0].id]
    # Each id is its own row's (a multi-row INSERT returns the ids in no set order).
    assert [db.get_one(Incident, i).idempotency_key for i in ids] == ["m-1", "m-2"]
    assert db.get_one(Incident, second[0].id).area_id == second[0].area_id
    events = db.execute(
        select(IncidentEvent.incident_id, IncidentEvent.to_status).where(
            IncidentEvent.incident_id.in_(ids)
        )
    ).all()
    assert sorted(events) == sorted((i, "received") for i in ids)
    audited = db.scalars(
        select(AuditEvent.entity_id).where(
            AuditEvent.entity == "incident",
            AuditEvent.action == "create",
            AuditEvent.entity_id.in_([str(i) for i in ids]),
        )
    ).all()
    assert sorted(audited) == sorted(str(i) for i in ids)


def test_taxonomy_and_place_are_checked(db: Session) -> None:
    with pytest.raises(InvalidInput) as err:
        new_incident(db, "k-cat", incident_in(category="weather", subtype="other"))
    assert err.value.field == "category"
    with pytest.raises(InvalidInput) as err:
        new_incident(db, "k-sub", incident_in(category="fire", subtype="theft"))
    assert err.value.field == "subtype" and "fire" in err.value.message
    outside = service.IncidentIn(
        category="other",
        subtype="other",
        priority=Priority.P4,
        source=incident_in().source,
        lon=121.5,
        lat=31.2,
    )
    with pytest.raises(InvalidInput, match="outside your areas"):
        new_incident(db, "k-out", outside)
    with pytest.raises(InvalidInput, match="outside your areas"):
        service.create(
            db,
            key="k-scope",
            data=incident_in("T-D2-S1-B1-G1"),
            actor=ACTOR,
            now=T0,
            cipher=CIPHER,
            scope=scope_of(db, "T-D1-S1"),
        )
    assert all(subs[-1] == "other" for subs in taxonomy.TAXONOMY.values())


def test_lifecycle_timestamps_and_refusals(db: Session) -> None:
    incident = new_incident(db, "k-life")
    unit = service.create_unit(
        db, call_sign="LIFE-1", unit_type=UnitType.CAR, home_area=area(db, "T-D1-S1"), actor=ACTOR
    )
    with pytest.raises(Conflict) as err:
        service.transition(db, incident=incident, to=S.ON_SCENE, actor=ACTOR, now=T0)
    assert "from received to on_scene" in err.value.message
    assert err.value.detail == {"from_status": "received", "to_status": "on_scene"}
    with pytest.raises(InvalidInput, match="dispatched by assigning units"):
        service.transition(db, incident=incident, to=S.DISPATCHED, actor=ACTOR, now=T0)

    service.dispatch(
        db,
        incident=incident,
        units=[unit],
        actor=ACTOR,
        now=T0 + timedelta(seconds=40),
        predicted_s={unit.id: 95.0},
    )
    assert incident.status == S.DISPATCHED and unit.status == UnitStatus.EN_ROUTE
    steps = [(S.EN_ROUTE, 50), (S.ON_SCENE, 150), (S.CLEARED, 900), (S.CLOSED, 1000)]
    for status, seconds in steps:
        service.transition(
            db, incident=incident, to=status, actor=ACTOR, now=T0 + timedelta(seconds=seconds)
        )
        if status == S.ON_SCENE:
            assert unit.status == UnitStatus.ON_SCENE
    assert incident.dispatched_at == T0 + timedelta(seconds=40)
    assert incident.on_scene_at == T0 + timedelta(seconds=150)
    assert incident.closed_at == T0 + timedelta(seconds=1000)
    assert unit.status == UnitStatus.AVAILABLE
    (assignment,) = db.scalars(select(Assignment).where(Assignment.incident_id == incident.id))
    assert assignment.predicted_s == 95.0
    assert assignment.arrived_at == T0 + timedelta(seconds=150)
    assert assignment.released_at == T0 + timedelta(seconds=900)
    with pytest.raises(Conflict, match=r"from closed to cancelled .*none \(final\)"):
        service.transition(db, incident=incident, to=S.CANCELLED, actor=ACTOR, now=T0)
    trail = [(e.from_status, e.to_status) for e in incident.events]
    assert trail == [
        (None, "received"),
        ("received", "dispatched"),
        ("dispatched", "en_route"),
        ("en_route", "on_scene"),
        ("on_scene", "cleared"),
        ("cleared", "closed"),
    ]
    logged = audit.get_all(
        db, scope=SYSTEM_SCOPE, reader_id=None, entity="incident", action="transition"
    )
    assert {"from": "on_scene", "to": "cleared"} in [e.detail for e in logged]
    # Each step belongs to the incident's area: read by those whose areas hold it.
    assert {e.area_path for e in logged if e.entity_id == str(incident.id)} == {incident.area_path}


def test_dispatch_refuses_busy_units_whole(db: Session) -> None:
    first = new_incident(db, "k-busy-1")
    second = new_incident(db, "k-busy-2", incident_in(offset=(0.001, 0.0)))
    a = service.create_unit(
        db, call_sign="BUSY-A", unit_type=UnitType.CAR, home_area=area(db, "T-D1"), actor=ACTOR
    )
    b = service.create_unit(
        db, call_sign="BUSY-B", unit_type=UnitType.FOOT, home_area=area(db, "T-D1"), actor=ACTOR
    )
    service.dispatch(db, incident=first, units=[a], actor=ACTOR, now=T0)
    with pytest.raises(Conflict, match="not available: BUSY-A"):
        service.dispatch(db, incident=second, units=[b, a], actor=ACTOR, now=T0)
    assert second.status == S.RECEIVED and b.status == UnitStatus.AVAILABLE
    # Reinforcement: a dispatched incident takes another unit and stays dispatched.
    service.dispatch(db, incident=first, units=[b], actor=ACTOR, now=T0 + timedelta(minutes=1))
    assert first.status == S.DISPATCHED and len(first.assignments) == 2


def test_each_unit_arrives_on_its_own_time(db: Session) -> None:
    incident = new_incident(db, "k-arrive", incident_in(priority=Priority.P1))
    first, second, idle = (
        service.create_unit(
            db,
            call_sign=f"ARR-{n}",
            unit_type=UnitType.CAR,
            home_area=area(db, "T-D1"),
            actor=ACTOR,
        )
        for n in range(3)
    )
    service.dispatch(db, incident=incident, units=[first, second], actor=ACTOR, now=T0)
    service.arrive(db, incident=incident, unit=first, actor=ACTOR, now=T0 + timedelta(seconds=140))
    assert incident.status == S.ON_SCENE and incident.on_scene_at == T0 + timedelta(seconds=140)
    times = {a.unit.call_sign: a.arrived_at for a in incident.assignments}
    assert times == {"ARR-0": T0 + timedelta(seconds=140), "ARR-1": None}
    assert (first.status, second.status) == (UnitStatus.ON_SCENE, UnitStatus.EN_ROUTE)
    service.arrive(db, incident=incident, unit=second, actor=ACTOR, now=T0 + timedelta(seconds=260))
    assert incident.on_scene_at == T0 + timedelta(seconds=140)  # the first arrival counts
    assert second.status == UnitStatus.ON_SCENE
    with pytest.raises(Conflict, match="already arrived"):
        service.arrive(db, incident=incident, unit=second, actor=ACTOR, now=T0)
    with pytest.raises(Conflict, match="not assigned"):
        service.arrive(db, incident=incident, unit=idle, actor=ACTOR, now=T0)


def test_cancel_and_merge_release_units(db: Session) -> None:
    main = new_incident(db, "k-main")
    dup = new_incident(db, "k-dup", incident_in(offset=(0.0005, 0.0)))
    unit = service.create_unit(
        db,
        call_sign="MERGE-1",
        unit_type=UnitType.MOTORCYCLE,
        home_area=area(db, "T-D1"),
        actor=ACTOR,
    )
    service.dispatch(db, incident=dup, units=[unit], actor=ACTOR, now=T0)
    with pytest.raises(InvalidInput, match="merged_into_id"):
        service.transition(db, incident=dup, to=S.MERGED, actor=ACTOR, now=T0)
    with pytest.raises(InvalidInput, match="into itself"):
        service.transition(db, incident=dup, to=S.MERGED, actor=ACTOR, now=T0, merged_into=dup)
    service.transition(db, incident=dup, to=S.MERGED, actor=ACTOR, now=T0, merged_into=main)
    assert dup.merged_into_id == main.id and unit.status == UnitStatus.AVAILABLE
    assert dup.merged_into_county == main.partition_county == main.county_id
    service.transition(db, incident=main, to=S.CANCELLED, actor=ACTOR, now=T0, note="hoax")
    assert main.cancelled_at == T0 and main.events[-1].note == "hoax"


def test_scoped_reads(db: Session) -> None:
    here = new_incident(db, "k-scope-1", incident_in("T-D1-S1-B2-G1"))
    there = new_incident(db, "k-scope-2", incident_in("T-D2-S2-B1-G1"))
    station = scope_of(db, "T-D1-S1")
    total, items = service.get_all(db, scope=station)
    assert here in items and there not in items and total == len(items)
    assert service.get(db, incident_id=there.id, scope=station) is None
    with pytest.raises(NotFound, match="outside your areas"):
        service.get_or_raise(db, incident_id=there.id, scope=station)
    filtered = service.get_all(
        db, scope=scope_of(db, "T"), filters=service.IncidentFilter(area_code="T-D2-S2", open=True)
    )[1]
    assert filtered == [there]


def test_reveal_contact_is_audited(db: Session) -> None:
    incident = new_incident(db, "k-reveal")
    assert (
        service.reveal_contact(db, incident=incident, viewer=None, cipher=CIPHER, actor=ACTOR)
        == "13800138000"
    )
    (event,) = audit.get_all(
        db, scope=SYSTEM_SCOPE, reader_id=None, entity="incident", action="read_personal", limit=1
    )
    assert event.entity_id == str(incident.id) and event.username == "dispatcher"
    assert event.area_path == incident.area_path


def test_units_positions_and_scope(db: Session) -> None:
    unit = service.create_unit(
        db,
        call_sign="POS-1",
        unit_type=UnitType.DRONE_TEAM,
        home_area=area(db, "T-D2-S1"),
        actor=ACTOR,
        staged=True,
    )
    with pytest.raises(Conflict, match="taken"):
        service.create_unit(
            db, call_sign="POS-1", unit_type=UnitType.CAR, home_area=area(db, "T-D2"), actor=ACTOR
        )
    service.report_position(db, unit=unit, lon=120.1, lat=30.01, now=T0)
    service.report_position(
        db,
        unit=unit,
        lon=120.11,
        lat=30.02,
        now=T0 + timedelta(seconds=30),
        status=UnitStatus.OUT_OF_SERVICE,
    )
    assert (unit.lon, unit.lat, unit.position_at) == (120.11, 30.02, T0 + timedelta(seconds=30))
    assert unit.status == UnitStatus.OUT_OF_SERVICE and unit.staged
    with pytest.raises(InvalidInput):
        service.report_position(db, unit=unit, lon=200.0, lat=30.0, now=T0)
    # A WGS-84 point, but none of the county's (issue 16, item 11): refused, nothing stored.
    for lon, lat in ((91.0, 30.0), (120.1, 31.5), (float("nan"), 30.0)):
        with pytest.raises(InvalidInput) as outside:
            service.report_position(db, unit=unit, lon=lon, lat=lat, now=T0)
        assert outside.value.field == "lon"
    assert (unit.lon, unit.lat) == (120.11, 30.02)
    assert unit not in service.get_units(db, scope=scope_of(db, "T-D1"))
    with pytest.raises(NotFound):
        service.get_unit_or_raise(db, unit_id=unit.id, scope=scope_of(db, "T-D1"))
    assert unit in service.get_units(
        db, scope=scope_of(db, "T-D2"), status=UnitStatus.OUT_OF_SERVICE
    )
