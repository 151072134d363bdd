"""The caller-contact retention purge: service, and the CLI over a real database file."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import fresh_database
from dispatch.dispatch_helpers import ACTOR, CIPHER, SECRET, T0, incident_in, new_incident
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.cli import app
from fangkong.core.audit import SYSTEM
from fangkong.core.errors import Conflict, InvalidInput
from fangkong.core.migrate import downgrade, upgrade
from fangkong.core.models import AuditEvent
from fangkong.dispatch import retention, service
from fangkong.dispatch.models import Incident, IncidentStatus
from fangkong.dispatch.personal import Retention


def _end(db: Session, incident: Incident, status: IncidentStatus, at: timedelta) -> None:
    service.transition(db, incident=incident, to=status, actor=ACTOR, now=T0 + at)


def test_purge_deletes_contacts_of_incidents_ended_before_the_cut_off(db: Session) -> None:
    old = new_incident(db, "ret-1")
    _end(db, old, IncidentStatus.CANCELLED, timedelta(hours=1))
    recent = new_incident(db, "ret-2")
    _end(db, recent, IncidentStatus.CANCELLED, timedelta(days=80))
    still_open = new_incident(db, "ret-3")  # received long ago but not ended: kept
    purged = service.purge_contacts(
        db, now=T0 + timedelta(days=90, hours=2), retention_days=90, actor=ACTOR
    )
    assert purged == 1
    assert old.caller_contact_encrypted is None
    assert old.category == "criminal" and old.received_at == T0  # the rest stays for KPIs
    assert recent.caller_contact_encrypted is not None
    assert still_open.caller_contact_encrypted is not None
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "purge", AuditEvent.entity == "incident")
    ).one()
    assert event.detail is not None
    assert event.detail["fields"] == {"incident.caller_contact": 1, "incident.request_hash": 1}
    assert old.request_hash is None and recent.request_hash is not None
    assert (
        service.purge_contacts(
            db, now=T0 + timedelta(days=90, hours=2), retention_days=90, actor=ACTOR
        )
        == 0
    )  # nothing left to purge
    with pytest.raises(InvalidInput):
        service.purge_contacts(db, now=T0, retention_days=0, actor=ACTOR)


def test_the_purge_clears_each_field_after_its_own_retention(db: Session) -> None:
    """Contacts (and the digest made from them) go after the contact's retention; the
    description and the handlers' notes after the text's."""
    incident = new_incident(db, "ret-text")
    service.transition(
        db,
        incident=incident,
        to=IncidentStatus.CANCELLED,
        actor=ACTOR,
        now=T0 + timedelta(hours=1),
        note="王五说是误报",
    )
    days = Retention(contact_days=30, text_days=60)
    cleared = retention.purge(db, now=T0 + timedelta(days=45), retention=days, actor=ACTOR)
    assert cleared == {
        "incident.caller_contact": 1,
        "incident.request_hash": 1,
        "incident.description": 0,
        "incident_event.note": 0,
    }
    assert incident.description == "bicycle stolen"
    assert [e.note for e in incident.events] == [None, "王五说是误报"]
    cleared = retention.purge(db, now=T0 + timedelta(days=61), retention=days, actor=ACTOR)
    assert cleared["incident.description"] == 1 and cleared["incident_event.note"] == 1
    db.expire_all()
    assert incident.description == "" and [e.note for e in incident.events] == [None, None]
    assert incident.category == "criminal" and incident.cancelled_at is not None


def test_purge_command(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    answer = runner.invoke(app, ["dispatch", "purge", "--data-dir", str(data), "--days", "30"])
    assert answer.exit_code == 0, answer.output
    assert "purged the caller contact of 0 incidents" in answer.output
    refused = runner.invoke(app, ["dispatch", "purge", "--data-dir", str(data), "--days", "0"])
    assert refused.exit_code != 0


def _guesses(phone: str, spread: int = 500) -> list[str]:
    """Mobile numbers around ``phone``: an attacker's small search space, the truth among it."""
    first = int(phone) - spread
    return [str(n) for n in range(first, first + 2 * spread + 1)]


def _plain_digest(row: Incident, contact: str | None, description: str) -> str:
    """What a plain SHA-256 over the create request would be, rebuilt from the row's columns."""
    body = {
        "category": row.category,
        "subtype": row.subtype,
        "priority": row.priority.value,
        "source": row.source.value,
        "lon": round(row.lon, 7),
        "lat": round(row.lat, 7),
        "description": description,
        "caller_contact": contact,
    }
    data = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def test_a_purged_incident_gives_back_nothing_of_its_caller(db: Session) -> None:
    """The idempotency digest of a purged incident yields no phone number to a search of the
    candidates, with a plain hash or with the installation's own key."""
    phone = "13912345678"
    incident = new_incident(db, "ret-hash", incident_in(contact=phone))
    description = incident.description
    # Before the purge the digest is keyed: a plain hash of the request does not match it.
    assert incident.request_hash is not None
    assert incident.request_hash != _plain_digest(incident, phone, description)
    _end(db, incident, IncidentStatus.CANCELLED, timedelta(hours=1))
    service.purge_contacts(db, now=T0 + timedelta(days=91), retention_days=90, actor=ACTOR)
    db.expire_all()
    row = db.get_one(Incident, incident.id)
    assert row.caller_contact_encrypted is None
    stored = row.request_hash
    found = [
        guess
        for guess in _guesses(phone)
        if stored is not None
        and stored
        in {
            _plain_digest(row, guess, description),
            CIPHER.keyed_digest(
                service.IncidentIn(
                    category=row.category,
                    subtype=row.subtype,
                    priority=row.priority,
                    source=row.source,
                    lon=row.lon,
                    lat=row.lat,
                    description=description,
                    caller_contact=guess,
                ).canonical()
            ),
        }
    ]
    assert found == []
    assert stored is None  # the digest went with the contact it was made from


def test_the_migration_keys_the_digests_it_can_check_and_deletes_the_rest(
    backend: str, tmp_path: Path
) -> None:
    """Revision 0007 over rows the version before wrote (a plain SHA-256 of the request):
    a digest it can rebuild and check is keyed, one it cannot (the contact purged) is deleted,
    and without the secret key every digest is deleted."""
    engine = fresh_database(backend, tmp_path, suffix="_rekey")
    requests = {
        "mig-kept": incident_in(contact="13911112222"),
        "mig-none": incident_in(contact=None),
        "mig-purged": incident_in(contact="13933334444"),
    }
    table = Incident.__table__

    def as_before() -> None:
        downgrade(engine, "0006")
        with engine.begin() as conn:
            for key, data in requests.items():
                plain = hashlib.sha256(data.canonical().encode("utf-8")).hexdigest()
                conn.execute(
                    update(table).where(table.c.idempotency_key == key).values(request_hash=plain)
                )
            conn.execute(
                update(table)
                .where(table.c.idempotency_key == "mig-purged")
                .values(caller_contact_encrypted=None)
            )

    def digests() -> dict[str, str | None]:
        with Session(engine) as session:
            rows = session.execute(select(Incident.idempotency_key, Incident.request_hash))
            return {key: digest for key, digest in rows}

    try:
        with Session(engine) as session:
            area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
            for key, data in requests.items():
                new_incident(session, key, data)
            session.commit()
        as_before()
        upgrade(engine, secret_key=SECRET)
        assert digests() == {
            "mig-kept": CIPHER.keyed_digest(requests["mig-kept"].canonical()),
            "mig-none": CIPHER.keyed_digest(requests["mig-none"].canonical()),
            "mig-purged": None,
        }
        with Session(engine) as session:  # a retry is still told from another request
            _, created = service.create(
                session,
                key="mig-kept",
                data=requests["mig-kept"],
                actor=ACTOR,
                now=T0,
                cipher=CIPHER,
            )
            assert created is False
            with pytest.raises(Conflict):
                service.create(
                    session,
                    key="mig-purged",
                    data=requests["mig-purged"],
                    actor=ACTOR,
                    now=T0,
                    cipher=CIPHER,
                )
        as_before()
        upgrade(engine)  # no secret key handed over: nothing can be keyed, nothing is kept
        assert set(digests().values()) == {None}
    finally:
        engine.dispose()
