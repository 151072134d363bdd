"""Shared builders of the dispatch tests."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.core.audit import Actor
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service
from fangkong.dispatch.models import Incident, Priority, Source

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SECRET = "k" * 40
CIPHER = FieldCipher(SECRET)
ACTOR = Actor(user_id=None, username="dispatcher", client="test")


def area(db: Session, code: str) -> Area:
    return db.scalars(select(Area).where(Area.code == code)).one()


def scope_of(db: Session, *codes: str) -> Scope:
    return Scope(paths=tuple(area(db, c).path for c in codes))


def incident_in(
    grid: str = "T-D1-S1-B1-G1",
    *,
    priority: Priority = Priority.P2,
    category: str = "criminal",
    subtype: str = "theft",
    contact: str | None = "13800138000",
    offset: tuple[float, float] = (0.0, 0.0),
    at: tuple[float, float] | None = None,
) -> service.IncidentIn:
    """An incident in ``grid`` of the test county (at its centre, moved by ``offset``), or
    ``at`` a point of another map."""
    lon, lat = grid_centre(grid) if at is None else at
    return service.IncidentIn(
        category=category,
        subtype=subtype,
        priority=priority,
        source=Source.CALL,
        lon=lon + offset[0],
        lat=lat + offset[1],
        description="bicycle stolen",
        caller_contact=contact,
    )


def new_incident(
    db: Session, key: str, data: service.IncidentIn | None = None, *, now: datetime = T0
) -> Incident:
    incident, created = service.create(
        db, key=key, data=data or incident_in(), actor=ACTOR, now=now, cipher=CIPHER
    )
    assert created
    return incident
