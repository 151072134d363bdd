"""Loading the hazardous-material registers from spreadsheets (CSV or XLSX): the catalogue,
holders, sites, ledger rows and counts. Each row is checked on its own: a bad row is reported
with its number, column and rule, and the others still load.

Catalogue entries, holders and sites whose code exists are updated (a holder's contact
too); ledger rows and counts are appended, and a row the ledger holds already (same site,
material, kind, quantity, second and document) is reported as existing, not written twice,
so loading a file again adds nothing. A time without a zone is the county's local time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope, as_system, common_path
from fangkong.core.security import FieldCipher
from fangkong.http.sheets import Cell, RowError, parse_row, read_rows, require_columns
from fangkong.materials import ledger, register
from fangkong.materials.listing import HOLDER_COLUMNS, MOVEMENT_COLUMNS
from fangkong.materials.models import (
    BaseUnit,
    Holder,
    HolderKind,
    Material,
    MaterialClass,
    Movement,
    MovementKind,
    Site,
    SiteKind,
    StockCount,
)
from fangkong.materials.reconcile import seconds
from fangkong.materials.schemas import CapacityIn, CountIn, HolderIn, MaterialIn, MovementIn, SiteIn
from fangkong.materials.units import check_units, to_milli

Kind = Literal["materials", "holders", "sites", "movements", "counts"]
KINDS: tuple[Kind, ...] = ("materials", "holders", "sites", "movements", "counts")
COLUMNS: dict[str, tuple[str, ...]] = {
    "materials": ("code", "name_zh", "name_en", "material_class", "base_unit", "units"),
    "holders": HOLDER_COLUMNS,
    "sites": ("code", "holder_code", "name", "kind", "lon", "lat", "capacities"),
    "movements": MOVEMENT_COLUMNS,
    "counts": ("site_code", "material_code", "quantity", "unit", "counted_at", "document_no"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "materials": ("code", "name_zh", "material_class", "base_unit"),
    "holders": ("code", "name", "kind", "lon", "lat"),
    "sites": ("code", "holder_code", "name", "kind", "lon", "lat"),
    "movements": (
        "site_code",
        "material_code",
        "kind",
        "quantity",
        "unit",
        "occurred_at",
        "document_no",
    ),
    "counts": ("site_code", "material_code", "quantity", "unit", "counted_at"),
}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    existing: int = 0
    errors: list[RowError] = field(default_factory=list)


def _labels() -> dict[str, dict[str, str]]:
    """Choice labels (in either language) to their values, per kind of choice."""
    found: dict[str, dict[str, str]] = {}
    for prefix, enum in (
        ("materials.class", MaterialClass),
        ("materials.unit", BaseUnit),
        ("materials.holder_kind", HolderKind),
        ("materials.site_kind", SiteKind),
        ("materials.kind", MovementKind),
    ):
        found[prefix] = {
            translate(f"{prefix}.{m.value}", language): m.value
            for m in enum
            for language in ("zh-CN", "en")
        }
    return found


def _value(prefix: str, value: Cell) -> Cell:
    if isinstance(value, str):
        return _LABELS[prefix].get(value.strip(), value.strip())
    return value


_LABELS = _labels()


def moment(value: Cell, zone: ZoneInfo, field_name: str) -> datetime | Cell:
    """A sheet's time as an aware moment (no zone: the county's)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                key="error.materials.time_format", params={"column": field_name}, field=field_name
            ) from None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


def day(value: Cell) -> Cell:
    """A sheet's day (XLSX keeps a day as a moment at midnight)."""
    if isinstance(value, datetime):
        return value.date()
    return value


def _pairs(text: Cell, field_name: str) -> list[list[str]]:
    """``a=1; b=2`` or ``a:b:1; c:d:2`` as lists of their parts."""
    if text is None:
        return []
    out = []
    for part in str(text).replace("；", ";").split(";"):
        if part.strip():
            out.append([p.strip() for p in part.replace("=", ":").replace("：", ":").split(":")])
    if len(out) > 20:
        raise InvalidInput(
            key="error.materials.list_long", params={"column": field_name}, field=field_name
        )
    return out


def _material_row(cells: dict[str, Cell]) -> MaterialIn:
    units = {}
    for parts in _pairs(cells.get("units"), "units"):
        if len(parts) != 2:
            raise InvalidInput(key="error.materials.units_format", field="units")
        try:
            units[parts[0]] = float(parts[1])
        except ValueError:
            raise InvalidInput(key="error.materials.units_format", field="units") from None
    return parse_row(
        MaterialIn,
        {
            **cells,
            "material_class": _value("materials.class", cells.get("material_class")),
            "base_unit": _value("materials.unit", cells.get("base_unit")),
            "units": units,
        },
    )


def _holder_row(cells: dict[str, Cell]) -> HolderIn:
    classes = [
        _value("materials.class", c.strip())
        for c in str(cells.get("licence_classes") or "")
        .replace("，", ",")
        .replace("、", ",")
        .split(",")
        if c.strip()
    ]
    for name in ("contact_phone", "licence_no"):
        value = cells.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            cells[name] = str(int(value))
    return parse_row(
        HolderIn,
        {
            **cells,
            "kind": _value("materials.holder_kind", cells.get("kind")),
            "licence_classes": classes,
            "licence_from": day(cells.get("licence_from")),
            "licence_until": day(cells.get("licence_until")),
        },
    )


def _site_row(cells: dict[str, Cell]) -> SiteIn:
    capacities = []
    for parts in _pairs(cells.get("capacities"), "capacities"):
        if len(parts) != 3:
            raise InvalidInput(key="error.materials.capacities_format", field="capacities")
        capacities.append(
            parse_row(
                CapacityIn,
                {
                    "material_class": _value("materials.class", parts[0]),
                    "unit": _value("materials.unit", parts[1]),
                    "capacity": parts[2],
                },
            )
        )
    return parse_row(
        SiteIn,
        {
            **cells,
            "kind": _value("materials.site_kind", cells.get("kind")),
            "capacities": capacities,
        },
    )


def _text(cells: dict[str, Cell], *names: str) -> dict[str, Cell]:
    for name in names:
        value = cells.get(name)
        if isinstance(value, float) and value.is_integer():
            cells[name] = str(int(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            cells[name] = str(value)
    return cells


def _keyed(rows: list[tuple[int, dict[str, Cell]]], kind: str) -> None:
    names: dict[str, str] = {}
    for key in (*COLUMNS[kind], "holder_code"):
        names[key] = key
        for language in ("zh-CN", "en"):
            names[translate(f"materials.field.{key}", language)] = key
    for _, cells in rows:
        for column in list(cells):
            known = names.get(column)
            if known is not None and known != column:
                cells[known] = cells.pop(column)
    require_columns(rows, REQUIRED[kind])


def _movement_key(row: Movement) -> tuple[Any, ...]:
    return (
        row.site_id,
        row.material_id,
        row.kind.value,
        row.quantity_milli,
        row.occurred_s,
        row.document_no,
        row.counterparty_id,
    )


def import_file(
    session: Session,
    *,
    kind: str,
    name: str,
    data: bytes,
    actor: Actor,
    now: datetime,
    zone: ZoneInfo,
    cipher: FieldCipher,
    scope: Scope | None,
) -> ImportReport:
    """Load a CSV or XLSX file of ``kind`` (materials, holders, sites, movements or counts;
    columns :data:`COLUMNS`, by key or label)."""
    if kind not in KINDS:
        raise InvalidInput(
            key="error.materials.import_kind",
            params={"kind": kind[:32], "kinds": ", ".join(KINDS)},
            field="kind",
        )
    rows = read_rows(name, data)
    _keyed(rows, kind)
    report = ImportReport()
    paths: set[str] = set()
    lookups = ledger.Lookups.empty()
    seen: set[tuple[Any, ...]] = set()
    if kind in ("movements", "counts"):
        docs = {str(c.get("document_no") or "").strip() for _, c in rows}
        model: Any = Movement if kind == "movements" else StockCount
        for start in range(0, len(docs), 1000):
            chunk = sorted(docs)[start : start + 1000]
            for row in session.scalars(select(model).where(model.document_no.in_(chunk))):
                seen.add(
                    _movement_key(row)
                    if kind == "movements"
                    else (
                        row.site_id,
                        row.material_id,
                        row.quantity_milli,
                        row.counted_s,
                        row.document_no,
                    )
                )
    appended: list[Movement] = []
    for number, raw in rows:
        cells = dict(raw)
        nested = session.begin_nested()
        try:
            path = _import_row(
                session,
                kind,
                cells,
                actor=actor,
                now=now,
                zone=zone,
                cipher=cipher,
                scope=scope,
                report=report,
                lookups=lookups,
                seen=seen,
                appended=appended,
            )
            session.flush()
            nested.commit()
            if path:
                paths.add(path)
        except FangkongError as exc:
            nested.rollback()
            report.errors.append(RowError.of(number, exc))
    if appended:
        ledger.record_movements(session, rows=appended, actor=actor, source=name[:100])
    elif report.created or report.updated:
        audit.record(
            session,
            actor=actor,
            action="import",
            entity=f"material_{kind}",
            detail={"created": report.created, "updated": report.updated, "file": name[:100]},
            area_path=common_path(paths),
        )
    return report


def _import_row(
    session: Session,
    kind: str,
    cells: dict[str, Cell],
    *,
    actor: Actor,
    now: datetime,
    zone: ZoneInfo,
    cipher: FieldCipher,
    scope: Scope | None,
    report: ImportReport,
    lookups: ledger.Lookups,
    seen: set[tuple[Any, ...]],
    appended: list[Movement],
) -> str | None:
    """One row of ``kind``; the area path it lies in (for the audit event)."""
    if kind == "materials":
        data = _material_row(cells)
        found = session.scalars(select(Material).where(Material.code == data.code.strip())).first()
        if found is None:
            register.create_material(session, data=data, actor=actor)
            report.created += 1
        else:
            found.name_zh, found.name_en = data.name_zh, data.name_en or data.name_zh
            if (found.material_class, found.base_unit) != (data.material_class, data.base_unit):
                raise InvalidInput(key="error.materials.material_fixed", field="base_unit")
            found.units = check_units(data.base_unit, dict(data.units))
            report.updated += 1
        return None
    if kind == "holders":
        data_h = _holder_row(_text(cells, "licence_no", "contact_phone"))
        with as_system(session):  # a code is unique across the county, seen or not
            holder = session.scalars(
                select(Holder).where(Holder.code == data_h.code.strip())
            ).first()
        if holder is None:
            holder = register.create_holder(
                session, data=data_h, actor=actor, cipher=cipher, scope=scope
            )
            report.created += 1
        else:
            if scope is not None and not scope.covers(holder.area_path):
                raise InvalidInput(
                    key="error.materials.holder_exists", params={"code": holder.code}, field="code"
                )
            register.update_holder(
                session, holder=holder, data=data_h, actor=actor, cipher=cipher, scope=scope
            )
            report.updated += 1
        return holder.area_path
    if kind == "sites":
        data_s = _site_row(cells)
        with as_system(session):  # a code is unique across the county, seen or not
            site = session.scalars(select(Site).where(Site.code == data_s.code.strip())).first()
        if site is None:
            site = register.create_site(session, data=data_s, actor=actor, scope=scope)
            report.created += 1
        else:
            holder = register.get_holder_by_code_or_raise(
                session, code=data_s.holder_code, scope=scope
            )
            if site.holder_id != holder.id:
                raise InvalidInput(key="error.materials.site_holder", field="holder_code")
            site.name, site.kind = data_s.name.strip(), data_s.kind
            register.set_capacities(session, site=site, capacities=data_s.capacities)
            report.updated += 1
        return site.area_path
    if kind == "movements":
        cells["occurred_at"] = moment(cells.get("occurred_at"), zone, "occurred_at")
        cells["kind"] = _value("materials.kind", cells.get("kind"))
        data_m = parse_row(
            MovementIn,
            _text({k: v for k, v in cells.items() if k in MOVEMENT_COLUMNS}, "document_no"),
        )
        row = ledger.build_movement(
            session, data_m, scope=scope, actor=actor, now=now, lookups=lookups
        )
        key = _movement_key(row)
        if key in seen:
            report.existing += 1
            return None
        seen.add(key)
        appended.append(row)
        report.created += 1
        return row.area_path
    cells["counted_at"] = moment(cells.get("counted_at"), zone, "counted_at")
    data_c = parse_row(
        CountIn, _text({k: v for k, v in cells.items() if k in COLUMNS["counts"]}, "document_no")
    )
    site = ledger.site_of(session, lookups, data_c.site_code, scope)
    material = ledger.material_of(session, lookups, data_c.material_code)
    key = (
        site.id,
        material.id,
        to_milli(material, data_c.quantity, data_c.unit.strip(), allow_zero=True),
        seconds(data_c.counted_at.replace(microsecond=0)),
        data_c.document_no.strip(),
    )
    if key in seen:
        report.existing += 1
        return None
    seen.add(key)
    count = ledger.record_count(session, data=data_c, actor=actor, now=now, scope=scope)
    report.created += 1
    return count.area_path


def export_movements(
    session: Session, *, scope: Scope, zone: ZoneInfo
) -> tuple[list[str], Iterator[list[Any]]]:
    """The effective ledger in the import's columns (values, not labels; local times)."""
    from fangkong.materials.listing import movements_select

    def rows() -> Iterator[list[Any]]:
        stmt = ledger.movements_query(scope, ledger.MovementFilter(corrections=False))
        ids = select(stmt.subquery().c.id)
        full = (
            movements_select(scope)
            .where(Movement.id.in_(ids))
            .order_by(Movement.occurred_s, Movement.id)
        )
        for movement, _holder, site, material in session.execute(
            full.execution_options(yield_per=1000)
        ):
            cp = session.get(Holder, movement.counterparty_id) if movement.counterparty_id else None
            cp_site = (
                session.get(Site, movement.counterparty_site_id)
                if movement.counterparty_site_id
                else None
            )
            yield [
                site.code,
                material.code,
                movement.kind.value,
                movement.quantity,
                movement.unit,
                movement.occurred_at.astimezone(zone).replace(tzinfo=None).isoformat(),
                movement.document_no,
                cp.code if cp else None,
                cp_site.code if cp_site else None,
            ]

    return list(MOVEMENT_COLUMNS), rows()
