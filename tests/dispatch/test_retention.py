"""The caller-contact retention purge: service, and the CLI over a real database file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from dispatch.dispatch_helpers import ACTOR, T0, new_incident
from fangkong.cli import app
from fangkong.core.errors import InvalidInput
from fangkong.core.models import AuditEvent
from fangkong.dispatch import service
from fangkong.dispatch.models import Incident, IncidentStatus


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
    assert event.detail is not None and event.detail["caller_contacts"] == 1
    assert (
        service.purge_contacts(
            db, now=T0 + timedelta(days=90, hours=2), retention_days=90, actor=ACTOR
        )
        == 0
    )  # nothing left to purge
    with pytest.raises(InvalidInput):
        service.purge_contacts(db, now=T0, retention_days=0, actor=ACTOR)


def test_purge_command(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(app, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    answer = runner.invoke(app, ["dispatch", "purge", "--data-dir", str(data), "--days", "30"])
    assert answer.exit_code == 0, answer.output
    assert "purged the caller contact of 0 incidents" in answer.output
    refused = runner.invoke(app, ["dispatch", "purge", "--data-dir", str(data), "--days", "0"])
    assert refused.exit_code != 0
