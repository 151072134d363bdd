"""Request dependencies of the case pages and API: the business calendar and attachment storage."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fangkong.cases.calendar import BusinessCalendar, load_calendar
from fangkong.cases.storage import AttachmentStorage, DiskStorage
from fangkong.core.config import Settings

ATTACHMENTS_DIR = "attachments"


def storage_for(settings: Settings) -> DiskStorage:
    return DiskStorage(settings.data_dir / ATTACHMENTS_DIR)


def get_calendar(request: Request) -> BusinessCalendar:
    """The installation's calendar, read once per app from ``<data_dir>/cases.toml``."""
    calendar = getattr(request.app.state, "cases_calendar", None)
    if not isinstance(calendar, BusinessCalendar):
        settings: Settings = request.app.state.settings
        calendar = load_calendar(settings.data_dir, zone=settings.timezone)
        request.app.state.cases_calendar = calendar
    return calendar


def get_storage(request: Request) -> AttachmentStorage:
    storage: AttachmentStorage | None = getattr(request.app.state, "cases_storage", None)
    if storage is None:
        storage = storage_for(request.app.state.settings)
        request.app.state.cases_storage = storage
    return storage


Calendar = Annotated[BusinessCalendar, Depends(get_calendar)]
Storage = Annotated[AttachmentStorage, Depends(get_storage)]
