"""Where attachment bytes live: a small interface and its disk implementation.

Files are stored under ``<data_dir>/attachments/`` by a random key, sealed (encrypted) by
:mod:`fangkong.cases.attachments` before they get here; the database keeps the name, type,
size, a keyed digest and the file's key (encrypted). Limits: :data:`MAX_BYTES` per file and
the types in :data:`ALLOWED_TYPES`, checked against the file's first bytes, not only its name.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Protocol

from fangkong.core.errors import InvalidInput, NotFound

MAX_BYTES = 10 * 1024 * 1024
#: The folder of attachments in the data folder.
ATTACHMENTS_DIR = "attachments"
ALLOWED_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
    "text/plain": (),
}
EXTENSIONS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
}


class AttachmentStorage(Protocol):
    """Stores bytes by key; keys are created by the storage and never come from a user."""

    def save(self, data: bytes, *, suffix: str) -> str: ...

    def read(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class DiskStorage:
    """Attachments as files in one folder, written atomically (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not key or "/" in key or "\\" in key or key.startswith("."):
            raise NotFound(key="error.cases.stored_file_missing", params={"key": key}, field="key")
        return self.root / key

    def save(self, data: bytes, *, suffix: str) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(16) + suffix
        path = self._path(key)
        temporary = path.with_name(f".{key}.part")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
        return key

    def read(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(key="error.cases.stored_file_missing", params={"key": key}, field="key")
        return path.read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def storage_in(data_dir: Path) -> DiskStorage:
    """The attachments of the installation whose data folder is ``data_dir``."""
    return DiskStorage(data_dir / ATTACHMENTS_DIR)


def check_file(filename: str, content_type: str | None, data: bytes) -> str:
    """The checked content type of an upload; a fault names the rule it broke."""
    if not data:
        raise InvalidInput(key="error.cases.file_empty", field="file")
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            key="error.cases.file_large", params={"size": len(data), "max": MAX_BYTES}, field="file"
        )
    suffix = Path(filename).suffix.lower()
    declared = EXTENSIONS.get(suffix)
    if declared is None:
        raise InvalidInput(
            key="error.cases.file_type",
            params={"suffix": suffix or "(none)", "allowed": ", ".join(sorted(EXTENSIONS))},
            field="file",
        )
    if content_type and content_type not in (declared, "application/octet-stream"):
        raise InvalidInput(
            key="error.cases.file_content_type",
            params={"content_type": content_type, "suffix": suffix},
            field="file",
        )
    signatures = ALLOWED_TYPES[declared]
    if signatures and not any(data.startswith(sig) for sig in signatures):
        raise InvalidInput(
            key="error.cases.file_content", params={"declared": declared}, field="file"
        )
    if declared == "text/plain":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(key="error.cases.file_not_utf8", field="file") from None
    return declared
