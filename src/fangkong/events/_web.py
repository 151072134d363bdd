"""What the event and plan routes (API and pages) share: an uploaded spreadsheet read within
its limit, and the road network of the installation."""

from __future__ import annotations

from fastapi import Request, UploadFile

from fangkong.core.errors import InvalidInput, NotFound
from fangkong.events._common import MAX_IMPORT_BYTES
from fangkong.http.deps import get_settings
from fangkong.network import service as network_service


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
