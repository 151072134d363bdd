"""Loading the device register and status reports from spreadsheets (CSV or XLSX), each row
checked on its own: a bad row is reported with its number, column and rule, and the others
still load. Rows whose code exists update that device (its status goes through a report, so
the history records the change); new codes register devices. One audit event per file.

The export of the register (:func:`export_rows`) has the import's columns, so it reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fangkong.core.audit import Actor
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.devices import register, status
from fangkong.devices.listing import IMPORT_COLUMNS, REQUIRED_COLUMNS, base_select
from fangkong.devices.models import Device, StatusSource
from fangkong.devices.schemas import DeviceIn, StatusIn
from fangkong.http.sheets import (
    Cell,
    ImportReport,
    Register,
    RowError,
    column_aliases,
    flag,
    import_register,
    parse_row,
    read_rows,
    require_columns,
)

STATUS_COLUMNS = ("code", "status", "at", "heartbeat_at")


def _keyed(rows: list[tuple[int, dict[str, Cell]]], names: dict[str, str]) -> None:
    for _, cells in rows:
        for column in list(cells):
            key = names.get(column)
            if key is not None and key != column:
                cells[key] = cells.pop(column)


def _label_values(cells: dict[str, Any]) -> dict[str, Any]:
    """Choice values written as their labels (相机) read as the values (camera)."""
    for column, prefix in (
        ("device_type", "devices.type"),
        ("owner_kind", "devices.owner"),
        ("zone_type", "devices.zone"),
        ("status", "devices.status"),
    ):
        value = cells.get(column)
        if isinstance(value, str):
            cells[column] = _VALUES.get(prefix, {}).get(value, value)
    return cells


def _values() -> dict[str, dict[str, str]]:
    from fangkong.devices.models import DeviceStatus, DeviceType, OwnerKind, ZoneType

    found: dict[str, dict[str, str]] = {}
    for prefix, enum in (
        ("devices.type", DeviceType),
        ("devices.owner", OwnerKind),
        ("devices.zone", ZoneType),
        ("devices.status", DeviceStatus),
    ):
        found[prefix] = {
            translate(f"{prefix}.{member.value}", language): member.value
            for member in enum
            for language in ("zh-CN", "en")
        }
    return found


_VALUES = _values()


def import_devices(
    session: Session,
    *,
    name: str,
    data: bytes,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
) -> ImportReport:
    """Register or update the devices of a CSV or XLSX file (columns
    :data:`~fangkong.devices.listing.IMPORT_COLUMNS`, by key or label)."""
    rows = read_rows(name, data)
    _keyed(rows, column_aliases(IMPORT_COLUMNS, "devices.field."))
    require_columns(rows, REQUIRED_COLUMNS)

    def parse(cells: dict[str, Cell]) -> tuple[DeviceIn, bool]:
        """The row as a device, and whether it names a status (which an update reports)."""
        cells = _label_values(dict(cells))
        cells["networked"] = (
            flag(cells.get("networked")) if cells.get("networked") is not None else None
        )
        data_in = parse_row(DeviceIn, {k: v for k, v in cells.items() if k in IMPORT_COLUMNS})
        return data_in, bool(cells.get("status"))

    def update(device: Device, row: tuple[DeviceIn, bool]) -> None:
        data_in, status_given = row
        register.update(
            session, device=device, data=data_in, actor=actor, now=now, scope=scope, audited=False
        )
        if status_given and data_in.status != device.status:
            outcome = status.report_many(
                session,
                reports=[StatusIn(code=device.code, status=data_in.status, at=now)],
                actor=actor,
                now=now,
                scope=scope,
                source=StatusSource.IMPORT,
            )[0]
            if outcome.error is not None:
                raise outcome.error

    devices: Register[tuple[DeviceIn, bool], Device] = Register(
        entity="device",
        parse=parse,
        find=lambda row: register.get_by_code(session, code=row[0].code.strip(), scope=None),
        create=lambda row: register.create(
            session, data=row[0], actor=actor, now=now, scope=scope, audited=False
        ),
        update=update,
        area_path=lambda device: device.area_path,
        exists_elsewhere=lambda device: InvalidInput(
            key="error.devices.exists", params={"code": device.code}, field="code"
        ),
    )
    return import_register(session, devices, name=name, rows=rows, actor=actor, scope=scope)


@dataclass
class StatusImport:
    changed: int = 0
    unchanged: int = 0
    stale: int = 0
    errors: list[RowError] = field(default_factory=list)


def import_statuses(
    session: Session,
    *,
    name: str,
    data: bytes,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
) -> StatusImport:
    """Apply the status reports of a CSV or XLSX file (columns ``code``, ``status``, ``at``
    and ``heartbeat_at``); as :func:`~fangkong.devices.status.report_many`, idempotent."""
    rows = read_rows(name, data)
    _keyed(rows, {**column_aliases(("code", "status"), "devices.field."), "at": "at"})
    require_columns(rows, ("code", "at"))
    reports: list[StatusIn] = []
    numbers: list[int] = []
    result = StatusImport()
    for number, cells in rows:
        cells = _label_values(dict(cells))
        try:
            reports.append(
                parse_row(StatusIn, {k: v for k, v in cells.items() if k in STATUS_COLUMNS})
            )
            numbers.append(number)
        except FangkongError as exc:
            result.errors.append(RowError.of(number, exc))
    outcomes = (
        status.report_many(
            session, reports=reports, actor=actor, now=now, scope=scope, source=StatusSource.IMPORT
        )
        if reports
        else []
    )
    for number, outcome in zip(numbers, outcomes, strict=True):
        if outcome.error is not None:
            result.errors.append(RowError.of(number, outcome.error))
        elif outcome.outcome == "changed":
            result.changed += 1
        elif outcome.outcome == "stale":
            result.stale += 1
        else:
            result.unchanged += 1
    result.errors.sort(key=lambda e: e.row)
    return result


def export_rows(session: Session, *, scope: Scope) -> tuple[list[str], Iterator[list[Any]]]:
    """The register in the import's columns (values, not labels): what the CLI writes."""

    def rows() -> Iterator[list[Any]]:
        for device in session.scalars(
            base_select(scope).order_by(Device.code).execution_options(yield_per=1000)
        ):
            yield [
                device.code,
                device.name,
                device.device_type.value,
                device.owner_kind.value,
                device.facility.code if device.facility else None,
                device.zone_type.value,
                "1" if device.networked else "0",
                device.status.value,
                device.lon,
                device.lat,
            ]

    return list(IMPORT_COLUMNS), rows()
