"""Incidents as the API shows them: labels in the user's language, the caller's contact
masked, the scene's access to the roads; shared by the routes (``api.py``) and the intake
writer's answers (``fastpath.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.errors import NotFound
from fangkong.core.i18n import translate
from fangkong.core.security import FieldCipher
from fangkong.dispatch import kpis, recommend, service
from fangkong.dispatch.models import Incident
from fangkong.dispatch.schemas import (
    AssignmentOut,
    EventOut,
    IncidentDetail,
    RoadAccessOut,
    TimesOut,
)
from fangkong.network import service as network_service


def incident_fields(
    incident: Incident | service.NewIncident, cipher: FieldCipher, language: str
) -> dict[str, object]:
    times = kpis.incident_times(incident)
    return dict(
        id=incident.id,
        category=incident.category,
        subtype=incident.subtype,
        category_label=translate(f"dispatch.category.{incident.category}", language),
        subtype_label=translate(
            f"dispatch.subtype.{incident.category}.{incident.subtype}", language
        ),
        priority=incident.priority,
        source=incident.source,
        status=incident.status,
        description=incident.description,
        lon=incident.lon,
        lat=incident.lat,
        h3_cell=incident.h3_cell,
        area_code=None,
        caller_contact_masked=service.masked_contact(incident, cipher),
        received_at=incident.received_at,
        dispatched_at=incident.dispatched_at,
        en_route_at=incident.en_route_at,
        on_scene_at=incident.on_scene_at,
        cleared_at=incident.cleared_at,
        closed_at=incident.closed_at,
        cancelled_at=incident.cancelled_at,
        merged_into_id=incident.merged_into_id,
        times=TimesOut(**vars(times)),
    )


_AREA_CODE = select(Area.code).where(Area.id == bindparam("id"))


def area_code_of(db: Session, incident: Incident | service.NewIncident) -> str | None:
    if incident.area_id is None:
        return None
    # Built once, run as plain SQL: every answer about one incident reads it.
    found = db.connection().execute(_AREA_CODE, {"id": incident.area_id}).scalar_one_or_none()
    return None if found is None else str(found)


def network_or_none(data_dir: Path) -> network_service.Network | None:
    try:
        return network_service.current(data_dir)
    except NotFound:
        return None


def roads(
    network: network_service.Network | None, incidents: Sequence[Incident | service.NewIncident]
) -> list[RoadAccessOut | None]:
    """Each scene snapped to the roads, in one snap (None when no road network has been
    imported or no road is in reach)."""
    if network is None:
        return [None] * len(incidents)
    return [
        None
        if road is None
        else RoadAccessOut(lon=road.lon, lat=road.lat, distance_m=round(road.distance_m, 1))
        for road in recommend.road_accesses(
            network, [i.lon for i in incidents], [i.lat for i in incidents]
        )
    ]


def detail_of(
    db: Session,
    incident: Incident | service.NewIncident,
    language: str,
    *,
    cipher: FieldCipher,
    road: RoadAccessOut | None,
    area_code: str | None = None,
) -> IncidentDetail:
    """The incident with its timeline, units, area code (read when not given) and road
    access."""
    out = IncidentDetail.model_validate(
        {
            **incident_fields(incident, cipher, language),
            "events": [
                EventOut(
                    at=e.at,
                    from_status=e.from_status,
                    to_status=e.to_status,
                    username=e.username,
                    note=e.note,
                )
                for e in incident.events
            ],
            "assignments": [
                AssignmentOut(
                    id=a.id,
                    unit_id=a.unit_id,
                    call_sign=a.unit.call_sign,
                    dispatched_at=a.dispatched_at,
                    predicted_s=a.predicted_s,
                    arrived_at=a.arrived_at,
                    released_at=a.released_at,
                )
                for a in incident.assignments
            ],
        }
    )
    out.area_code = area_code if area_code is not None else area_code_of(db, incident)
    out.road = road
    return out
