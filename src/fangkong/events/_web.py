"""What the event and plan routes (API and pages) share: an uploaded spreadsheet read within
its limit, the road network of the installation, the API's bounded parameters and an import's
report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Request, UploadFile

from fangkong.core.bounds import MAX_ID, Text
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.events._common import MAX_IMPORT_BYTES
from fangkong.events.schemas import ImportOut, RowErrorOut
from fangkong.http.deps import get_settings
from fangkong.http.sheets import ImportReport
from fangkong.network import service as network_service

RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Format = Annotated[Literal["csv", "xlsx"], Query()]
Sort = Annotated[Text | None, Query(max_length=32, description="A column; a leading - descends")]


def import_out(report: ImportReport) -> ImportOut:
    """An import's report as the API answers it."""
    return ImportOut(
        created=report.created,
        updated=report.updated,
        errors=[RowErrorOut(row=e.row, field=e.field, message=e.message) for e in report.errors],
    )


def read_upload(file: UploadFile) -> bytes:
    """The file's bytes; one larger than :data:`MAX_IMPORT_BYTES` is refused."""
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.events.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    return data


def network(request: Request) -> network_service.Network:
    """The installation's road network (:class:`NotFound` when none was imported)."""
    return network_service.current(get_settings(request).data_dir)


def network_or_none(request: Request) -> network_service.Network | None:
    try:
        return network(request)
    except NotFound:
        return None
