"""Console pages of the device register: the list (filters, sort, pages, export, import), a
device with its status history and a status report (at phone width: a patrol reports a fault
where it stands), and the figures per area and zone type against the targets."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import auth
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.devices import figures, importing, listing, register, status
from fangkong.devices import permissions as perms
from fangkong.devices._common import MAX_IMPORT_BYTES
from fangkong.devices.models import DeviceStatus, StatusSource, ZoneType
from fangkong.devices.schemas import StatusIn
from fangkong.http import tables
from fangkong.http.deps import CurrentUser, DbSession, Language, RequestActor, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
DeviceId = Annotated[int, Path(ge=1, le=2**63 - 1)]


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
    result = tables.view(
        request,
        db,
        listing.table(db, scope=scope, language=language),
        listing.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("devices.title", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "devices/list.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        can_write=auth.can(user, perms.WRITE),
        can_report=auth.can(user, perms.STATUS),
        imported=imported,
        status_imported=status_imported,
        error=error,
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


@router.get("/devices/{device_id:int}", response_class=HTMLResponse)
def device_page(
    request: Request,
    device_id: DeviceId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
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
    area: Annotated[str | None, Query(max_length=32)] = None,
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
