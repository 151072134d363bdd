"""Request dependencies of the case pages and API: the business calendar and attachment storage."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response

from fangkong.cases.calendar import BusinessCalendar, load_calendar
from fangkong.cases.models import CaseAttachment
from fangkong.cases.storage import AttachmentStorage, DiskStorage, storage_in
from fangkong.core.config import Settings


def storage_for(settings: Settings) -> DiskStorage:
    return storage_in(settings.data_dir)


def calendar_of(app: FastAPI) -> BusinessCalendar:
    """The installation's calendar, read once per app from ``<data_dir>/cases.toml``."""
    calendar = getattr(app.state, "cases_calendar", None)
    if not isinstance(calendar, BusinessCalendar):
        settings: Settings = app.state.settings
        calendar = load_calendar(settings.data_dir, zone=settings.timezone)
        app.state.cases_calendar = calendar
    return calendar


def get_calendar(request: Request) -> BusinessCalendar:
    return calendar_of(request.app)


def get_storage(request: Request) -> AttachmentStorage:
    storage: AttachmentStorage | None = getattr(request.app.state, "cases_storage", None)
    if storage is None:
        storage = storage_for(request.app.state.settings)
        request.app.state.cases_storage = storage
    return storage


Calendar = Annotated[BusinessCalendar, Depends(get_calendar)]
Storage = Annotated[AttachmentStorage, Depends(get_storage)]


def attachment_response(attachment: CaseAttachment, data: bytes) -> Response:
    """A file (:func:`fangkong.cases.service.open_attachment`) as a download; never rendered
    inline (nosniff, attachment) nor kept in a cache."""
    return Response(
        data,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": "attachment; filename*=UTF-8''"
            + quote(attachment.filename, safe=""),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
