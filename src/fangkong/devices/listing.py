"""The device register as a table of :mod:`fangkong.http.tables`: the devices of the user's
areas, searched and filtered by type, owner, zone, status and network, sorted by any column,
exported as CSV or XLSX. Its columns' keys are the import's, so an export reads back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.core.collation import pinyin
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.text_match import contains_text
from fangkong.devices.models import Device, DeviceStatus, DeviceType, OwnerKind, ZoneType
from fangkong.http.tables import Column, Filter, Table

#: The columns of an import (and of an export): what :class:`~.schemas.DeviceIn` takes.
IMPORT_COLUMNS = (
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
REQUIRED_COLUMNS = ("code", "device_type", "owner_kind", "lon", "lat")


def base_select(scope: Scope) -> Select[Device]:
    return select(Device).where(scope.clause(Device.area_path))


def table(session: Session, *, scope: Scope, language: str) -> Table:
    """The register's table for a reader with ``scope`` in ``language``, by code."""

    def t(key: str) -> str:
        return translate(key, language)

    def label(prefix: str) -> Any:
        return lambda value: t(f"{prefix}.{getattr(value, 'value', value)}")

    def choices(prefix: str, values: Any) -> tuple[tuple[str, str], ...]:
        return tuple((v.value, t(f"{prefix}.{v.value}")) for v in values)

    def area(code: str) -> ColumnElement[bool]:
        found = area_service.get_by_code_or_raise(session, code=code, scope=scope)
        return Device.area_path.startswith(found.path, autoescape=True)

    def text(value: str) -> ColumnElement[bool]:
        return contains_text(value, Device.code, Device.name)

    yes_no = (("1", t("devices.yes")), ("0", t("devices.no")))
    return Table(
        name="device",
        columns=(
            Column("code", t("devices.field.code"), lambda d: d.code, sort=Device.code),
            Column("name", t("devices.field.name"), lambda d: d.name, sort=pinyin(Device.name)),
            Column(
                "device_type",
                t("devices.field.device_type"),
                lambda d: label("devices.type")(d.device_type),
                sort=Device.device_type,
            ),
            Column(
                "owner_kind",
                t("devices.field.owner_kind"),
                lambda d: label("devices.owner")(d.owner_kind),
                sort=Device.owner_kind,
            ),
            Column(
                "facility_code",
                t("devices.field.facility_code"),
                lambda d: d.facility.code if d.facility else None,
            ),
            Column(
                "zone_type",
                t("devices.field.zone_type"),
                lambda d: label("devices.zone")(d.zone_type),
                sort=Device.zone_type,
            ),
            Column(
                "networked",
                t("devices.field.networked"),
                lambda d: yes_no[0][1] if d.networked else yes_no[1][1],
                sort=Device.networked,
            ),
            Column(
                "status",
                t("devices.field.status"),
                lambda d: label("devices.status")(d.status),
                sort=Device.status,
            ),
            Column(
                "status_at",
                t("devices.field.status_at"),
                lambda d: d.status_at,
                sort=Device.status_at,
            ),
            Column(
                "last_heartbeat_at",
                t("devices.field.last_heartbeat_at"),
                lambda d: d.last_heartbeat_at,
                sort=Device.last_heartbeat_at,
                show=False,
            ),
            Column(
                "area",
                t("devices.field.area"),
                lambda d: d.area.code if d.area else None,
                sort=Device.area_path,
            ),
            Column("lon", t("devices.field.lon"), lambda d: d.lon, numeric=True, show=False),
            Column("lat", t("devices.field.lat"), lambda d: d.lat, numeric=True, show=False),
        ),
        filters=(
            Filter("q", t("devices.search"), where=text, max_length=64),
            Filter(
                "device_type",
                t("devices.field.device_type"),
                "choice",
                where=lambda v: Device.device_type == v,
                choices=choices("devices.type", DeviceType),
            ),
            Filter(
                "owner_kind",
                t("devices.field.owner_kind"),
                "choice",
                where=lambda v: Device.owner_kind == v,
                choices=choices("devices.owner", OwnerKind),
            ),
            Filter(
                "zone_type",
                t("devices.field.zone_type"),
                "choice",
                where=lambda v: Device.zone_type == v,
                choices=choices("devices.zone", ZoneType),
            ),
            Filter(
                "status",
                t("devices.field.status"),
                "choice",
                where=lambda v: Device.status == v,
                choices=choices("devices.status", DeviceStatus),
            ),
            Filter(
                "networked",
                t("devices.field.networked"),
                "choice",
                where=lambda v: Device.networked.is_(v == "1"),
                choices=yes_no,
            ),
            Filter("area", t("devices.field.area"), where=area, max_length=32),
        ),
        default_sort="code",
        tiebreak=(Device.id,),
    )
