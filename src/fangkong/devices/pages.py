"""Console pages of the device register: the list (filters, sort, pages, export, import), a
device with its status history and a status report (at phone width: a patrol reports a fault
where it stands), and the figures per area and zone type against the targets."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.devices import figures, importing, listing, register, status
from fangkong.devices import permissions as perms
from fangkong.devices._common import MAX_IMPORT_BYTES
from fangkong.devices.models import (
    Device,
    DeviceStatus,
    DeviceType,
    OwnerKind,
    StatusSource,
    ZoneType,
)
from fangkong.devices.schemas import DeviceIn, StatusIn
from fangkong.http import forms, tables
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
DeviceId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _list(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    *,
    imported: Any = None,
    status_imported: Any = None,
    error: str | None = None,
) -> Response:
    return tables.list_page(
        request,
        db,
        listing.table(db, scope=scope, language=language),
        listing.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("devices.title", language),
        template="devices/list.html",
        context=lambda _page: {
            "can_write": auth.can(user, perms.WRITE),
            "can_report": auth.can(user, perms.STATUS),
            "imported": imported,
            "status_imported": status_imported,
            "error": error,
        },
    )


@router.get("/devices", response_class=HTMLResponse)
def devices_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """一机一档: the devices of your areas as the shared table; export and import."""
    return _list(request, db, user, scope, language)


def _read(file: UploadFile) -> bytes:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.devices.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    return data


@router.post("/devices/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def import_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        report = importing.import_devices(
            db, name=file.filename or "", data=_read(file), actor=actor, now=utcnow(), scope=scope
        )
    except FangkongError as exc:
        return _list(request, db, user, scope, language, error=exc.text(language))
    return _list(request, db, user, scope, language, imported=report)


@router.post(
    "/devices/status/import", response_class=HTMLResponse, dependencies=[requires(perms.STATUS)]
)
def import_status_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        result = importing.import_statuses(
            db, name=file.filename or "", data=_read(file), actor=actor, now=utcnow(), scope=scope
        )
    except FangkongError as exc:
        return _list(request, db, user, scope, language, error=exc.text(language))
    return _list(request, db, user, scope, language, status_imported=result)


# --- one device's form ------------------------------------------------------------------------

FIELDS = (
    "code",
    "name",
    "device_type",
    "owner_kind",
    "facility_code",
    "zone_type",
    "networked",
    "status",
    "lon",
    "lat",
)
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]


def _values_of(device: Device) -> dict[str, str]:
    """A device's record as the form shows it (a ticked box is a key present)."""
    values = {
        "code": device.code,
        "name": device.name,
        "device_type": device.device_type.value,
        "owner_kind": device.owner_kind.value,
        "facility_code": device.facility.code if device.facility else "",
        "zone_type": device.zone_type.value,
        "lon": f"{device.lon:.6f}",
        "lat": f"{device.lat:.6f}",
    }
    if device.networked:
        values["networked"] = "1"
    return values


def _options(prefix: str, members: Any, language: str) -> list[tuple[str, str]]:
    return [(m.value, translate(f"{prefix}{m.value}", language)) for m in members]


def _form(
    request: Request,
    user: Any,
    language: str,
    *,
    device: Device | None,
    values: dict[str, str],
    errors: forms.FormErrors | None = None,
) -> Response:
    return render(
        request,
        "devices/form.html",
        language=language,
        user=user,
        status_code=422 if errors else 200,
        device=device,
        values=values,
        errors=errors or forms.FormErrors(),
        types=_options("devices.type.", DeviceType, language),
        owners=_options("devices.owner.", OwnerKind, language),
        zones=_options("devices.zone.", ZoneType, language),
        statuses=_options("devices.status.", DeviceStatus, language),
    )


def _save(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    actor: Any,
    values: dict[str, str],
    device: Device | None,
) -> Response:
    """Check the form by the API's schema and save it in a savepoint; a refusal is shown
    beside its field, the form filled in as sent. An edit leaves the status alone: it is
    reported on the device's page, so that its history records the change."""
    names = [n for n in FIELDS if n != "networked" and (device is None or n != "status")]
    data: dict[str, Any] = forms.text(values, *names)
    if device is not None:
        data["code"] = device.code  # a device's code does not change
    data["networked"] = forms.flag(values, "networked")
    checked, errors = forms.validate(DeviceIn, data, language=language)
    if checked is not None:
        now = utcnow()
        try:
            with db.begin_nested():  # a refused save leaves nothing behind in the request
                if device is None:
                    device = register.create(db, data=checked, actor=actor, now=now, scope=scope)
                else:
                    register.update(
                        db, device=device, data=checked, actor=actor, now=now, scope=scope
                    )
            return RedirectResponse(f"/devices/{device.id}", status_code=303)
        except FangkongError as exc:
            if exc.status_code not in (404, 409, 422):
                raise
            errors = forms.from_error(exc, language=language, fields=FIELDS)
    shown = dict(values) | ({"code": device.code} if device is not None else {})
    return _form(request, user, language, device=device, values=shown, errors=errors)


@router.get("/devices/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def new_device_page(request: Request, user: CurrentUser, language: Language) -> Response:
    """Register one device (一机一档): what, where, whose, its zone and first status."""
    values = {"status": DeviceStatus.WORKING.value, "owner_kind": OwnerKind.PUBLIC.value}
    return _form(request, user, language, device=None, values=values)


@router.post("/devices/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def create_device_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    return _save(request, db, user, scope, language, actor, values, None)


@router.get(
    "/devices/{device_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def edit_device_page(
    request: Request,
    device_id: DeviceId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Edit a device's record (its code stays; its status is reported on its page)."""
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    return _form(request, user, language, device=device, values=_values_of(device))


@router.post(
    "/devices/{device_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def update_device_page(
    request: Request,
    device_id: DeviceId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    return _save(request, db, user, scope, language, actor, values, device)


@router.get("/devices/{device_id:int}", response_class=HTMLResponse)
def device_page(
    request: Request,
    device_id: DeviceId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    outcome: Annotated[Text | None, Query(max_length=16)] = None,
) -> Response:
    """A device (一机一档): what, where, whose, its status and its history; a status report."""
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    now = utcnow()
    return render(
        request,
        "devices/detail.html",
        language=language,
        user=user,
        device=device,
        history=status.history(db, device=device, limit=100),
        uptime=status.uptime(db, device=device, start=now - timedelta(days=30), end=now),
        statuses=list(DeviceStatus),
        can_report=auth.can(user, perms.STATUS),
        can_write=auth.can(user, perms.WRITE),
        outcome=outcome if outcome in ("changed", "unchanged", "stale", "heartbeat") else None,
    )


@router.post(
    "/devices/{device_id:int}/status",
    response_class=HTMLResponse,
    dependencies=[requires(perms.STATUS)],
)
def report_page(
    device_id: DeviceId,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    status_: Annotated[DeviceStatus, Form(alias="status")],
) -> Response:
    """A status reported from the console, at this moment; back to the device."""
    device = register.get_or_raise(db, device_id=device_id, scope=scope)
    now = utcnow()
    (outcome,) = status.report_many(
        db,
        reports=[StatusIn(code=device.code, status=status_, at=now, heartbeat_at=None)],
        actor=actor,
        now=now,
        scope=scope,
        source=StatusSource.CONSOLE,
    )
    if outcome.error is not None:
        raise outcome.error
    return RedirectResponse(f"/devices/{device.id}?outcome={outcome.outcome}", status_code=303)


@router.get("/devices/figures", response_class=HTMLResponse)
def figures_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    area: Annotated[Text | None, Query(max_length=32)] = None,
) -> Response:
    """The figures of an area of yours (the top of your areas by default) and of the areas
    just below it, per zone type, against the targets; the key facilities' coverage."""
    root = None
    if area:
        root = area_service.get_by_code_or_raise(db, code=area, scope=scope).path
    found = figures.figures(db, scope=scope, root_path=root)
    if not found:
        return render(request, "devices/figures.html", language=language, user=user, top=None)
    top = found[0]
    depth = top.path.count("/")
    children = [f for f in found if f.path.count("/") == depth + 1 and f.path.startswith(top.path)]
    parent = None
    parts = [p for p in top.path.strip("/").split("/") if p]
    if len(parts) > 1:
        parent_path = "/" + "/".join(parts[:-1]) + "/"
        if scope.covers(parent_path):
            parent = db.scalars(select(Area).where(Area.path == parent_path)).first()
    return render(
        request,
        "devices/figures.html",
        language=language,
        user=user,
        top=top,
        children=children,
        parent=parent,
        zones=["all", *(z.value for z in ZoneType)],
    )
