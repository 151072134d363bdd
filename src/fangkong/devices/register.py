"""The device register (一机一档): devices placed in their areas, their owner and facility,
their zone type; and the zone type of each area.

A device is an asset and nothing else: no image, capture, recognition result or record of a
person is stored with it or anywhere in this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, as_system, common_path
from fangkong.core.text_match import contains_text
from fangkong.devices._common import check_code, place
from fangkong.devices.models import (
    AreaZone,
    Device,
    DeviceStatus,
    DeviceStatusEvent,
    DeviceType,
    OwnerKind,
    StatusSource,
    ZoneType,
)
from fangkong.devices.schemas import DeviceIn, ZoneIn
from fangkong.facilities.models import Facility


def get(session: Session, *, device_id: int, scope: Scope | None) -> Device | None:
    device = session.get(Device, device_id)
    if device is None or (scope is not None and not scope.covers(device.area_path)):
        return None
    return device


def get_or_raise(session: Session, *, device_id: int, scope: Scope | None) -> Device:
    """The device; one outside ``scope`` reads as not found."""
    device = get(session, device_id=device_id, scope=scope)
    if device is None:
        raise NotFound(key="error.devices.not_found", params={"id": device_id}, field="device_id")
    return device


def get_by_code(session: Session, *, code: str, scope: Scope | None) -> Device | None:
    device = session.scalars(select(Device).where(Device.code == code)).one_or_none()
    if device is None or (scope is not None and not scope.covers(device.area_path)):
        return None
    return device


@dataclass(frozen=True)
class DeviceFilter:
    text: str | None = None
    device_type: DeviceType | None = None
    owner_kind: OwnerKind | None = None
    zone_type: ZoneType | None = None
    status: DeviceStatus | None = None
    networked: bool | None = None
    area_path: str | None = None
    facility_id: int | None = None


def devices_query(scope: Scope, filters: DeviceFilter = DeviceFilter()) -> Select[Device]:
    """Devices in ``scope`` matching ``filters`` (a select to page, sort or export)."""
    query = select(Device).where(scope.clause(Device.area_path))
    if filters.text:
        query = query.where(contains_text(filters.text, Device.code, Device.name))
    for column, value in (
        (Device.device_type, filters.device_type),
        (Device.owner_kind, filters.owner_kind),
        (Device.zone_type, filters.zone_type),
        (Device.status, filters.status),
        (Device.networked, filters.networked),
        (Device.facility_id, filters.facility_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.area_path:
        query = query.where(Device.area_path.startswith(filters.area_path, autoescape=True))
    return query


def get_all(
    session: Session,
    *,
    scope: Scope,
    filters: DeviceFilter = DeviceFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Device]]:
    """Devices by code: (total, page)."""
    query = devices_query(scope, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Device.code).limit(limit).offset(offset))
    return int(total), list(page)


def zone_of_area(session: Session, *, area_id: int | None) -> ZoneType | None:
    """The zone type set on the area or its nearest ancestor that has one."""
    if area_id is None:
        return None
    area = session.get(Area, area_id)
    if area is None:
        return None
    ids = [int(p) for p in area.path.strip("/").split("/") if p]
    zones = dict(
        session.execute(
            select(AreaZone.area_id, AreaZone.zone_type).where(AreaZone.area_id.in_(ids))
        ).all()
    )
    for area_id_up in reversed(ids):
        if area_id_up in zones:
            return ZoneType(zones[area_id_up])
    return None


def _facility(session: Session, code: str | None, scope: Scope | None) -> Facility | None:
    if not code:
        return None
    facility = session.scalars(select(Facility).where(Facility.code == code)).one_or_none()
    if facility is None or (scope is not None and not scope.covers(facility.area_path)):
        raise NotFound(
            key="error.devices.facility_unknown",
            params={"code": code[:32]},
            field="facility_code",
        )
    return facility


def _resolve(
    session: Session, data: DeviceIn, scope: Scope | None
) -> tuple[int, str, str, Facility | None, ZoneType]:
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=scope)
    facility = _facility(session, data.facility_code, scope)
    if facility is not None and data.owner_kind is OwnerKind.PUBLIC:
        # A public camera may watch a facility, but it belongs to the programme.
        facility = facility
    zone = data.zone_type
    if zone is None:
        zone = ZoneType.KEY_SITE if facility is not None else zone_of_area(session, area_id=area_id)
    if zone is None:
        raise InvalidInput(key="error.devices.zone_needed", field="zone_type")
    return area_id, area_path, cell, facility, zone


def create(
    session: Session,
    *,
    data: DeviceIn,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
    audited: bool = True,
) -> Device:
    """Register a device at its point (in ``scope``); its first status is its history's
    first line."""
    code = check_code(data.code)
    with as_system(session):  # a code is unique across the county, seen or not
        taken = session.scalars(select(Device.id).where(Device.code == code)).first()
    if taken is not None:
        raise Conflict(key="error.devices.exists", params={"code": code}, field="code")
    area_id, area_path, cell, facility, zone = _resolve(session, data, scope)
    device = Device(
        code=code,
        name=data.name.strip(),
        device_type=data.device_type,
        owner_kind=data.owner_kind,
        facility_id=facility.id if facility else None,
        zone_type=zone,
        networked=data.networked,
        status=data.status,
        status_at=now,
        lon=data.lon,
        lat=data.lat,
        h3_cell=cell,
        area_id=area_id,
        area_path=area_path,
    )
    session.add(device)
    session.flush()
    session.add(
        DeviceStatusEvent(
            device_id=device.id,
            at=now,
            status=data.status,
            previous=None,
            source=StatusSource.REGISTER,
            recorded_at=now,
            recorded_by=actor.username,
        )
    )
    if audited:
        audit.record(
            session,
            actor=actor,
            action="create",
            entity="device",
            entity_id=device.id,
            detail={"code": code},
            area_path=area_path,
        )
    return device


def update(
    session: Session,
    *,
    device: Device,
    data: DeviceIn,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
    audited: bool = True,
) -> Device:
    """Change a device's record (its code stays; its status goes through
    :func:`fangkong.devices.status.report`, so that its history records the change)."""
    if data.code.strip() != device.code:
        raise InvalidInput(key="error.devices.code_fixed", field="code")
    area_id, area_path, cell, facility, zone = _resolve(session, data, scope)
    device.name = data.name.strip()
    device.device_type = data.device_type
    device.owner_kind = data.owner_kind
    device.facility_id = facility.id if facility else None
    device.zone_type = zone
    device.networked = data.networked
    device.lon, device.lat, device.h3_cell = data.lon, data.lat, cell
    device.area_id, device.area_path = area_id, area_path
    device.updated_at = now
    session.flush()
    if audited:
        audit.record(
            session,
            actor=actor,
            action="update",
            entity="device",
            entity_id=device.id,
            detail={"code": device.code},
            area_path=area_path,
        )
    return device


def set_zones(session: Session, *, items: list[ZoneIn], actor: Actor, scope: Scope | None) -> int:
    """Set (or clear, with None) the zone type of areas in ``scope``; the number set."""
    paths = []
    for item in items:
        area = area_service.get_by_code_or_raise(session, code=item.area_code, scope=scope)
        row = session.get(AreaZone, area.id)
        if item.zone_type is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(AreaZone(area_id=area.id, zone_type=ZoneType(item.zone_type)))
        else:
            row.zone_type = ZoneType(item.zone_type)
        paths.append(area.path)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="set_zones",
        entity="device_area_zone",
        detail={"areas": len(items)},
        area_path=common_path(paths),
    )
    return len(items)


def zones(session: Session, *, scope: Scope) -> list[tuple[Area, ZoneType]]:
    """The areas in ``scope`` with a zone type set."""
    return [
        (area, ZoneType(zone))
        for area, zone in session.execute(
            select(Area, AreaZone.zone_type)
            .join(AreaZone, AreaZone.area_id == Area.id)
            .where(scope.clause(Area.path))
            .order_by(Area.code)
        ).all()
    ]
