"""Bulk import of incidents from CSV or JSON: per-row errors, retries found by their keys."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, FangkongError, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.dispatch import permissions as perms
from fangkong.dispatch._common import require
from fangkong.dispatch.incidents import IncidentIn, Intake, create_many, place
from fangkong.dispatch.models import (
    Priority,
    Source,
)

#: Fields of an imported incident; a place is ``lon`` and ``lat`` or an ``address_code``;
#: ``description``, ``caller_contact`` and ``address_code`` may be left out.
IMPORT_FIELDS = (
    "idempotency_key",
    "category",
    "subtype",
    "priority",
    "source",
    "lon",
    "lat",
    "address_code",
    "description",
    "caller_contact",
)
REQUIRED_FIELDS = ("idempotency_key", "category", "subtype", "priority", "source")
MAX_IMPORT_ROWS = 10_000
#: Rows written by one :func:`create_many`: an import of the most rows takes seconds, not the
#: half-minute that one row at a time took while it held the database's write lock.
IMPORT_CHUNK = 500


@dataclass
class RowError:
    """A row that did not import: its line (CSV, the header is line 1) or item (JSON, from 1),
    the field at fault and the rule it broke: ``message`` in English, :meth:`text` in a
    reader's language, ``error`` the refusal itself (its catalogue key and values)."""

    row: int
    field: str | None
    message: str
    error: FangkongError | None = None

    @classmethod
    def of(cls, row: int, error: FangkongError) -> RowError:
        """The row's fault as ``error`` tells it."""
        return cls(row=row, field=error.field, message=error.message, error=error)

    def text(self, language: str) -> str:
        """The rule the row broke, in ``language``."""
        return self.message if self.error is None else self.error.text(language)


@dataclass
class ImportReport:
    """Rows created, rows already imported (same key and fields), and per-row errors."""

    created: list[int]
    existing: list[int]
    errors: list[RowError]


def _text(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value).strip()


def _row_incident(session: Session, row: dict[str, Any], scope: Scope | None) -> IncidentIn:
    lon, lat = place(
        session,
        lon=row.get("lon"),
        lat=row.get("lat"),
        address_code=_text(row, "address_code"),
        scope=scope,
    )
    try:
        priority = Priority(_text(row, "priority"))
    except ValueError:
        raise InvalidInput(
            key="error.dispatch.priority_unknown",
            params={"priority": row.get("priority")},
            field="priority",
        ) from None
    try:
        source = Source(_text(row, "source"))
    except ValueError:
        raise InvalidInput(
            key="error.dispatch.source_unknown",
            params={"source": row.get("source"), "sources": ", ".join(s.value for s in Source)},
            field="source",
        ) from None
    return IncidentIn(
        category=_text(row, "category"),
        subtype=_text(row, "subtype"),
        priority=priority,
        source=source,
        lon=lon,
        lat=lat,
        description=_text(row, "description"),
        caller_contact=_text(row, "caller_contact") or None,
    )


def _import_rows(
    session: Session,
    rows: list[tuple[int, dict[str, Any]]],
    *,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None,
) -> ImportReport:
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(
            key="error.dispatch.import_rows", params={"max": MAX_IMPORT_ROWS}, field="file"
        )
    report = ImportReport(created=[], existing=[], errors=[])
    numbers: list[int] = []
    intakes: list[Intake] = []
    for number, row in rows:
        try:
            data = _row_incident(session, row, scope)
        except (InvalidInput, Conflict, NotFound) as exc:
            report.errors.append(RowError.of(number, exc))
            continue
        numbers.append(number)
        intakes.append(
            Intake(key=_text(row, "idempotency_key"), data=data, actor=actor, scope=scope)
        )
    # A refused row is refused before anything of it is written: the others still import.
    for start in range(0, len(intakes), IMPORT_CHUNK):
        results = create_many(
            session,
            intakes[start : start + IMPORT_CHUNK],
            now=now,
            cipher=cipher,
            expect_retries=True,
        )
        for number, result in zip(numbers[start : start + IMPORT_CHUNK], results, strict=True):
            if isinstance(result, InvalidInput | Conflict | NotFound):
                report.errors.append(RowError.of(number, result))
            elif isinstance(result, FangkongError):
                raise result
            else:
                (report.created if result[1] else report.existing).append(result[0].id)
    report.errors.sort(key=lambda error: error.row)
    return report


def import_csv(
    session: Session,
    *,
    text: str,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> ImportReport:
    """Import incidents from CSV with a header row naming :data:`IMPORT_FIELDS` (the place as
    ``lon`` and ``lat`` or an ``address_code``). Each row is its own savepoint: a bad row is
    reported with its line number, field and rule and the others still import; a row whose
    key was imported before is reported as existing, never duplicated."""
    require(user, perms.INTAKE)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = set(reader.fieldnames or [])
    missing = [c for c in REQUIRED_FIELDS if c not in header]
    if not ({"lon", "lat"} <= header or "address_code" in header):
        missing.append("lon, lat (or address_code)")
    if missing:
        raise InvalidInput(
            key="error.dispatch.csv_header", params={"missing": ", ".join(missing)}, field="file"
        )
    rows = [(number, dict(row)) for number, row in enumerate(reader, start=2)]
    return _import_rows(session, rows, actor=actor, now=now, cipher=cipher, scope=scope)


def import_json(
    session: Session,
    *,
    text: str,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> ImportReport:
    """Import incidents from a JSON array of objects with the fields of :data:`IMPORT_FIELDS`
    (numbers or strings); rows are numbered from 1 and handled as in :func:`import_csv`."""
    require(user, perms.INTAKE)
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            key="error.dispatch.not_json",
            params={"reason": exc.msg, "line": exc.lineno},
            field="file",
        ) from None
    except RecursionError:
        # Nested deeper than the parser's recursion takes: an incident file nests two deep.
        raise InvalidInput(key="error.dispatch.json_nested", field="file") from None
    if not isinstance(items, list):
        raise InvalidInput(key="error.dispatch.json_not_array", field="file")
    rows: list[tuple[int, dict[str, Any]]] = []
    bad: list[RowError] = []
    for number, item in enumerate(items, start=1):
        nested = (
            next((k for k, v in item.items() if isinstance(v, dict | list)), None)
            if isinstance(item, dict)
            else None
        )
        if not isinstance(item, dict):
            bad.append(RowError.of(number, InvalidInput(key="error.dispatch.row_not_object")))
        elif nested is not None:
            # Fields are numbers or text: nothing nests further.
            name = str(nested)[:64]
            error = InvalidInput(
                key="error.dispatch.field_nested", params={"field": name}, field=name
            )
            bad.append(RowError.of(number, error))
        else:
            rows.append((number, item))
    report = _import_rows(session, rows, actor=actor, now=now, cipher=cipher, scope=scope)
    report.errors = sorted(bad + report.errors, key=lambda e: e.row)
    return report


def import_file(
    session: Session,
    *,
    name: str,
    text: str,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    scope: Scope | None = None,
    user: User | None = None,
) -> ImportReport:
    """Import a CSV or JSON file: JSON when the name ends in ``.json`` or the text starts with
    ``[``, CSV otherwise."""
    as_json = name.lower().endswith(".json") or text.lstrip("\ufeff \t\r\n").startswith("[")
    reader = import_json if as_json else import_csv
    return reader(session, text=text, actor=actor, now=now, cipher=cipher, scope=scope, user=user)
