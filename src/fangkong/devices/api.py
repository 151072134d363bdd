"""REST API of the device register under ``/api/v1/devices``: the register (list, export,
map layer, one device, its history and uptime), status reports (one, many, a file), the
figures per area and zone type, the zone types of areas, and the register's import.

Every read is scoped to the user's areas; a device outside them reads as not found.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from sqlalchemy import select

from fangkong.areas import service as area_service
from fangkong.core.bounds import MAX_ID, AwareMoment, Latitude, Longitude, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.devices import figures, importing, listing, register, status
from fangkong.devices import permissions as perms
from fangkong.devices._common import MAX_IMPORT_BYTES
from fangkong.devices.models import Device, DeviceStatus, DeviceType, OwnerKind, ZoneType
from fangkong.devices.schemas import (
    AreaFiguresOut,
    BulkStatusIn,
    BulkStatusOut,
    DeviceIn,
    DeviceOut,
    DevicePage,
    FacilityCoverageOut,
    ImportOut,
    RowErrorOut,
    StatusEventOut,
    StatusIn,
    StatusResultOut,
    UptimeOut,
    ZoneFiguresOut,
    ZonesIn,
)
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    requires,
)

router = APIRouter(prefix="/devices", tags=["devices"], dependencies=[requires(perms.READ)])
DeviceId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: The largest file an import takes.
#: The most devices one map layer answer holds (narrow it by area or bounding box).
MAX_FEATURES = 20_000


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        code=device.code,
        name=device.name,
        device_type=device.device_type,
        owner_kind=device.owner_kind,
        facility_id=device.facility_id,
        facility_code=device.facility.code if device.facility else None,
        zone_type=device.zone_type,
        networked=device.networked,
        status=device.status,
        status_at=device.status_at,
        last_heartbeat_at=device.last_heartbeat_at,
        lon=device.lon,
        lat=device.lat,
        area_code=device.area.code if device.area else None,
    )


def _query(
    db: Any,
    scope: Scope,
    language: str,
    *,
    q: str | None,
    device_type: DeviceType | None,
    owner_kind: OwnerKind | None,
    zone_type: ZoneType | None,
    status_: DeviceStatus | None,
    networked: bool | None,
    area: str | None,
    sort: str | None,
) -> tables.TableQuery:
    table = listing.table(db, scope=scope, language=language)
    values = {
        "q": q,
        "device_type": device_type.value if device_type else None,
        "owner_kind": owner_kind.value if owner_kind else None,
        "zone_type": zone_type.value if zone_type else None,
        "status": status_.value if status_ else None,
        "networked": None if networked is None else ("1" if networked else "0"),
        "area": area,
    }
    return table.query(sort=sort, values=values)


Text64 = Annotated[Text | None, Query(max_length=64, description="Code or name contains")]
AreaCode = Annotated[Text | None, Query(max_length=32, description="Area code: its subtree")]
Sort = Annotated[
    Text | None,
    Query(
        max_length=32,
        description="code, name, device_type, owner_kind, zone_type, networked, status, "
        "status_at, last_heartbeat_at, area; a leading - sorts descending",
    ),
]


@router.get("", response_model=DevicePage)
def list_devices(
    db: DbSession,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    device_type: DeviceType | None = None,
    owner_kind: OwnerKind | None = None,
    zone_type: ZoneType | None = None,
    status_: Annotated[DeviceStatus | None, Query(alias="status")] = None,
    networked: bool | None = None,
    area: AreaCode = None,
    sort: Sort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> DevicePage:
    """Devices of your areas (一机一档), by code unless ``sort`` says otherwise."""
    query = _query(
        db,
        scope,
        language,
        q=q,
        device_type=device_type,
        owner_kind=owner_kind,
        zone_type=zone_type,
        status_=status_,
        networked=networked,
        area=area,
        sort=sort,
    )
    stmt = query.apply(listing.base_select(scope))
    total = tables.count(db, stmt)
    items = [device_out(d) for d in db.scalars(stmt.limit(limit).offset(offset)).unique()]
    return DevicePage(total=total, items=items)


@router.get("/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_devices(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Text64 = None,
    device_type: DeviceType | None = None,
    owner_kind: OwnerKind | None = None,
    zone_type: ZoneType | None = None,
    status_: Annotated[DeviceStatus | None, Query(alias="status")] = None,
    networked: bool | None = None,
    area: AreaCode = None,
    sort: Sort = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The devices of ``GET /devices`` with the same parameters, every page, as CSV or XLSX
    with the labels in your language (audited)."""
    query = _query(
        db,
        scope,
        language,
        q=q,
        device_type=device_type,
        owner_kind=owner_kind,
        zone_type=zone_type,
        status_=status_,
        networked=networked,
        area=area,
        sort=sort,
    )
    return tables.export(
        db,
        listing.base_select(scope),
        query,
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("nav.devices", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.get("/geojson")
def devices_geojson(
    db: DbSession,
    scope: UserScope,
    area: AreaCode = None,
    device_type: DeviceType | None = None,
    west: Longitude | None = None,
    south: Latitude | None = None,
    east: Longitude | None = None,
    north: Latitude | None = None,
) -> dict[str, Any]:
    """Devices of your areas as GeoJSON points for the command map (type, owner, status,
    networked), at most 20,000 (``truncated`` says when more matched: narrow by area or by
    the bounding box ``west``, ``south``, ``east``, ``north``)."""
    stmt = select(
        Device.id,
        Device.code,
        Device.device_type,
        Device.owner_kind,
        Device.status,
        Device.networked,
        Device.lon,
        Device.lat,
    ).where(scope.clause(Device.area_path))
    if area:
        found = area_service.get_by_code_or_raise(db, code=area, scope=scope)
        stmt = stmt.where(Device.area_path.startswith(found.path, autoescape=True))
    if device_type is not None:
        stmt = stmt.where(Device.device_type == device_type)
    if None not in (west, south, east, north):
        stmt = stmt.where(
            Device.lon >= west, Device.lon <= east, Device.lat >= south, Device.lat <= north
        )
    rows = db.execute(stmt.order_by(Device.id).limit(MAX_FEATURES + 1)).all()
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
            "properties": {
                "id": r.id,
                "code": r.code,
                "device_type": r.device_type.value,
                "owner_kind": r.owner_kind.value,
                "status": r.status.value,
                "networked": bool(r.networked),
            },
        }
        for r in rows[:MAX_FEATURES]
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "truncated": len(rows) > MAX_FEATURES,
    }


def figures_out(found: figures.AreaFigures, language: str) -> AreaFiguresOut:
    return AreaFiguresOut(
        area_code=found.code,
        area_name=found.name_en if language == "en" else found.name_zh,
        level=found.level,
        zones=[
            ZoneFiguresOut(
                zone=z.zone,
                devices=z.devices,
                by_type=z.by_type,
                networked=z.networked,
                online=z.online,
                working=z.working,
                networked_rate=z.networked_rate,
                online_rate=z.online_rate,
                working_rate=z.working_rate,
                public_cameras=z.public_cameras,
                km2=z.km2,
                density=z.density,
                density_target=z.density_target,
                meets_density=z.meets_density,
            )
            for z in found.zones
        ],
        facilities=[
            FacilityCoverageOut(
                facility_type=c.facility_type,
                facilities=c.facilities,
                covered=c.covered,
                share=c.share,
            )
            for c in found.facilities
        ],
    )


@router.get("/figures", response_model=list[AreaFiguresOut])
def device_figures(
    db: DbSession, scope: UserScope, language: Language, area: AreaCode = None
) -> list[AreaFiguresOut]:
    """Per area of your areas (every level; under ``area`` if given) and zone type (``all``
    first): devices by type, networked, online and working counts and rates, public camera
    density per km² against its target (160 central urban, 20 urban fringe, 10 rural, 70
    overall; Rugao 2021), and the key facilities of each type with video coverage."""
    root = None
    if area:
        root = area_service.get_by_code_or_raise(db, code=area, scope=scope).path
    return [figures_out(f, language) for f in figures.figures(db, scope=scope, root_path=root)]


@router.get("/zones")
def list_zones(db: DbSession, scope: UserScope) -> list[dict[str, str]]:
    """The areas of your areas with a zone type set (their leaves inherit it)."""
    return [
        {"area_code": area.code, "zone_type": zone.value}
        for area, zone in register.zones(db, scope=scope)
    ]


@router.put("/zones", dependencies=[requires(perms.WRITE)])
def set_zones(
    body: ZonesIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> dict[str, int]:
    """Set (or clear) the zone type of areas of your areas: the denominators of density."""
    return {"set": register.set_zones(db, items=body.items, actor=actor, scope=scope)}


@router.post("", response_model=DeviceOut, status_code=201, dependencies=[requires(perms.WRITE)])
def create_device(
    body: DeviceIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> DeviceOut:
    """Register a device in your areas."""
    return device_out(register.create(db, data=body, actor=actor, now=utcnow(), scope=scope))


@router.get("/{device_id:int}", response_model=DeviceOut)
def get_device(device_id: DeviceId, db: DbSession, scope: UserScope) -> DeviceOut:
    return device_out(register.get_or_raise(db, device_id=device_id, scope=scope))


@router.put("/{device_id:int}", response_model=DeviceOut, dependencies=[requires(perms.WRITE)])
def update_device(
    device_id: DeviceId, body: DeviceIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> DeviceOut:
    """Change a device's record (its status changes by a report, so its history keeps it)."""
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    return device_out(
        register.update(db, device=device, data=body, actor=actor, now=utcnow(), scope=scope)
    )


@router.get("/{device_id:int}/history", response_model=list[StatusEventOut])
def device_history(device_id: DeviceId, db: DbSession, scope: UserScope) -> list[StatusEventOut]:
    """The device's status changes, latest first (its uptime record)."""
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    return [
        StatusEventOut(
            at=e.at,
            status=e.status,
            previous=e.previous,
            source=e.source,
            recorded_by=e.recorded_by,
        )
        for e in status.history(db, device=device)
    ]


@router.get("/{device_id:int}/uptime", response_model=UptimeOut)
def device_uptime(
    device_id: DeviceId,
    db: DbSession,
    scope: UserScope,
    start: AwareMoment,
    end: AwareMoment,
) -> UptimeOut:
    """The shares of ``[start, end)`` the device spent working, faulty, offline (and before
    its first record), from its history."""
    if end <= start:
        raise InvalidInput(key="error.devices.period", field="end")
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    shares = status.uptime(db, device=device, start=start, end=end)
    return UptimeOut(
        start=start,
        end=end,
        working_share=shares["working"],
        fault_share=shares["fault"],
        offline_share=shares["offline"],
        unknown_share=shares["unknown"],
    )


def _result(outcome: status.Outcome) -> StatusResultOut:
    return StatusResultOut(
        index=outcome.index,
        code=outcome.code,
        outcome=outcome.outcome,
        status=outcome.status,
        field=outcome.field,
        message=outcome.message,
    )


@router.post("/status", response_model=StatusResultOut, dependencies=[requires(perms.STATUS)])
def report_status(
    body: StatusIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> StatusResultOut:
    """One status report (and heartbeat): ``changed``, ``unchanged`` (sent again, or no
    change), ``stale`` (older than the current status: not applied) or ``heartbeat``; an
    unknown device or two statuses of one moment are refused."""
    (outcome,) = status.report_many(db, reports=[body], actor=actor, now=utcnow(), scope=scope)
    if outcome.error is not None:
        raise outcome.error
    return _result(outcome)


def _bulk(outcomes: list[status.Outcome]) -> BulkStatusOut:
    counts = {k: sum(o.outcome == k for o in outcomes) for k in ("changed", "unchanged", "stale")}
    return BulkStatusOut(
        changed=counts["changed"],
        unchanged=counts["unchanged"],
        stale=counts["stale"],
        errors=sum(o.outcome == "error" for o in outcomes),
        items=[_result(o) for o in outcomes],
    )


@router.post("/status/bulk", response_model=BulkStatusOut, dependencies=[requires(perms.STATUS)])
def report_statuses(
    body: BulkStatusIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> BulkStatusOut:
    """Up to 10,000 status reports at once, each answered on its own (errors among them do
    not stop the others); sending the same batch again changes nothing."""
    return _bulk(status.report_many(db, reports=body.items, actor=actor, now=utcnow(), scope=scope))


def _read(file: UploadFile) -> bytes:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.devices.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    return data


def _errors(errors: list[Any]) -> list[RowErrorOut]:
    return [RowErrorOut(row=e.row, field=e.field, message=e.message) for e in errors]


@router.post("/import", response_model=ImportOut, dependencies=[requires(perms.WRITE)])
def import_devices(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> ImportOut:
    """Register or update devices from a CSV or XLSX file with a header row (code, name,
    device_type, owner_kind, facility_code, zone_type, networked, status, lon, lat; the
    labels of the export are taken too). Each row is checked on its own: the bad ones are
    answered with their row, column and rule, the others load."""
    report = importing.import_devices(
        db, name=file.filename or "", data=_read(file), actor=actor, now=utcnow(), scope=scope
    )
    return ImportOut(created=report.created, updated=report.updated, errors=_errors(report.errors))


@router.post("/status/import", response_model=BulkStatusOut, dependencies=[requires(perms.STATUS)])
def import_statuses(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> BulkStatusOut:
    """Status reports from a CSV or XLSX file (code, status, at, heartbeat_at), as
    ``POST /devices/status/bulk``; errors name their row."""
    result = importing.import_statuses(
        db, name=file.filename or "", data=_read(file), actor=actor, now=utcnow(), scope=scope
    )
    return BulkStatusOut(
        changed=result.changed,
        unchanged=result.unchanged,
        stale=result.stale,
        errors=len(result.errors),
        items=[
            StatusResultOut(index=e.row, code="", outcome="error", field=e.field, message=e.message)
            for e in result.errors
        ],
    )
