"""Loading event applications and emergency plans from spreadsheets (CSV or XLSX), each row
checked on its own: a bad row is reported with its number, column and rule, and the others
still load. A row whose code exists updates that record. One audit event per file.
:func:`export_events` and :func:`export_plans` write the imports' columns, so an export
reads back.

Cells that are not plain values:

- ``venue_polygon``: corners as ``lon lat`` pairs separated by ``;``
  (``120.01 30.01; 120.02 30.01; 120.02 30.02``); or ``facility_code``: a key facility's code;
- ``starts_at`` / ``ends_at``: a date and time (ISO 8601 in text); without a zone, the
  county's;
- ``tiers``: tiers separated by ``;``, each
  ``types:count[:max seconds[:posts[:stations[:call signs]]]]`` with each list joined by ``+``
  (``car+motorcycle:2:300;foot:1::P-01+P-02;:1:::T-D1-S1:C-07``; an empty list: any unit);
- ``checkpoint_codes`` / ``facility_codes``: codes separated by spaces or commas.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases.calendar import BusinessCalendar
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.dispatch.taxonomy import TAXONOMY
from fangkong.events import plans, register
from fangkong.events.listing import (
    EVENT_COLUMNS,
    EVENT_REQUIRED,
    PLAN_COLUMNS,
    PLAN_REQUIRED,
    events_select,
    plans_select,
)
from fangkong.events.models import EmergencyPlan, EventApplication, VenueKind
from fangkong.events.schemas import EventIn, PlanIn
from fangkong.facilities.models import Facility
from fangkong.http.sheets import (
    Cell,
    ImportReport,
    Register,
    column_aliases,
    flag,
    import_register,
    parse_row,
    read_rows,
    require_keys,
    whole,
)
from fangkong.planning.models import Checkpoint

#: Import-only columns: the organiser's contact goes in, never out.
CONTACT_COLUMNS = ("contact_name", "contact_phone")


def polygon_text(corners: list[list[float]] | None) -> str:
    return "; ".join(f"{lon:.6f} {lat:.6f}" for lon, lat in corners or [])


def parse_polygon(value: Cell) -> list[list[float]] | Cell:
    """``lon lat; lon lat; ...`` as corners; else as given, for the schema to refuse."""
    if not isinstance(value, str):
        return value
    try:
        return [[float(x) for x in part.split()] for part in value.split(";") if part.strip()]
    except ValueError:
        return value


def _moment(value: Cell, zone: tzinfo) -> Cell:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def codes(value: Cell) -> list[str]:
    if value is None:
        return []
    return [c for c in str(value).replace(",", " ").split() if c]


def tiers_text(tiers: list[dict[str, Any]]) -> str:
    parts = []
    for t in tiers:
        fields = [
            "+".join(t["unit_types"]),
            str(t["count"]),
            str(t.get("max_travel_s") or ""),
            "+".join(t.get("post_codes") or []),
            "+".join(t.get("station_codes") or []),
            "+".join(t.get("call_signs") or []),
        ]
        while len(fields) > 2 and not fields[-1]:
            fields.pop()
        parts.append(":".join(fields))
    return "; ".join(parts)


def parse_tiers(value: Cell) -> list[dict[str, Any]] | Cell:
    """``types:count[:max_s[:posts]]; ...`` as tiers; else as given, for the schema to refuse."""
    if not isinstance(value, str):
        return value
    tiers: list[dict[str, Any]] = []
    for part in value.split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split(":")]
        if len(fields) < 2 or len(fields) > 6:
            return value
        tier: dict[str, Any] = {
            "unit_types": [t for t in fields[0].split("+") if t],
            "count": fields[1],
        }
        if len(fields) > 2 and fields[2]:
            tier["max_travel_s"] = fields[2]
        for i, key in ((3, "post_codes"), (4, "station_codes"), (5, "call_signs")):
            if len(fields) > i:
                tier[key] = [p for p in fields[i].split("+") if p]
        tiers.append(tier)
    return tiers


def _event_row(session: Session, cells: dict[str, Cell], zone: tzinfo) -> dict[str, Any]:
    names = column_aliases(EVENT_COLUMNS + CONTACT_COLUMNS, "events.field.")
    kinds = {
        translate(f"events.venue.{v.value}", language): v.value
        for v in VenueKind
        for language in ("zh-CN", "en")
    }
    out: dict[str, Any] = {}
    for column, value in cells.items():
        key = names.get(column)
        if key is None or value is None:
            continue
        if key == "facility_code":
            found = session.scalars(select(Facility.id).where(Facility.code == str(value))).first()
            if found is None:
                raise InvalidInput(
                    key="error.events.code_unknown",
                    params={"code": str(value)[:32]},
                    field="facility_code",
                )
            out["facility_id"] = found
        elif key == "venue_polygon":
            out[key] = parse_polygon(value)
        elif key in ("capacity", "expected_attendance"):
            out[key] = whole(value)
        elif key in ("starts_at", "ends_at"):
            out[key] = _moment(value, zone)
        elif key == "venue_kind" and isinstance(value, str):
            out[key] = kinds.get(value, value)
        elif key in ("contact_phone", "code") and isinstance(value, int | float):
            out[key] = str(whole(value))
        else:
            out[key] = value
    return out


def import_events(
    session: Session,
    *,
    name: str,
    data: bytes,
    actor: Actor,
    cipher: FieldCipher,
    scope: Scope | None,
    now: datetime,
    calendar: BusinessCalendar,
    zone: tzinfo,
) -> ImportReport:
    """Register or update the applications of a CSV or XLSX file (columns
    :data:`~fangkong.events.listing.EVENT_COLUMNS` and the contact's, by key or label); a new
    one opens its approval case."""
    rows = read_rows(name, data)
    require_keys(
        rows, column_aliases(EVENT_COLUMNS + CONTACT_COLUMNS, "events.field."), EVENT_REQUIRED
    )

    def create(data_in: EventIn) -> EventApplication:
        return register.create(
            session,
            data=data_in,
            user=None,
            actor=actor,
            cipher=cipher,
            scope=scope,
            now=now,
            calendar=calendar,
            audited=False,
        )

    def update(event: EventApplication, data_in: EventIn) -> None:
        register.update(
            session,
            event=event,
            data=data_in,
            actor=actor,
            cipher=cipher,
            scope=scope,
            now=now,
            audited=False,
        )

    events: Register[EventIn, EventApplication] = Register(
        entity="event_application",
        parse=lambda cells: parse_row(EventIn, _event_row(session, cells, zone)),
        find=lambda data_in: register.get_by_code(session, code=data_in.code.strip(), scope=None),
        create=create,
        update=update,
        area_path=lambda event: event.area_path,
        exists_elsewhere=lambda event: InvalidInput(
            key="error.events.exists", params={"code": event.code}, field="code"
        ),
    )
    return import_register(session, events, name=name, rows=rows, actor=actor, scope=scope)


def export_events(session: Session, *, scope: Scope) -> tuple[list[str], Iterator[list[Any]]]:
    """The applications in the import's columns (values, not labels; no contact)."""
    codes = {int(i): str(c) for i, c in session.execute(select(Facility.id, Facility.code))}

    def rows() -> Iterator[list[Any]]:
        for e in session.scalars(events_select(scope).order_by(EventApplication.code)):
            yield [
                e.code,
                e.name,
                e.organiser,
                e.venue_kind.value,
                codes.get(e.facility_id) if e.facility_id else None,
                polygon_text(e.venue_polygon) if e.venue_polygon else None,
                e.capacity,
                e.expected_attendance,
                e.starts_at,
                e.ends_at,
            ]

    return list(EVENT_COLUMNS), rows()


def _plan_row(cells: dict[str, Cell]) -> dict[str, Any]:
    names = column_aliases(PLAN_COLUMNS, "events.plan.")
    categories = {
        translate(f"dispatch.category.{c}", language): c
        for c in TAXONOMY
        for language in ("zh-CN", "en")
    }
    out: dict[str, Any] = {}
    for column, value in cells.items():
        key = names.get(column)
        if key is None or value is None:
            continue
        if key == "tiers":
            out[key] = parse_tiers(value)
        elif key in ("checkpoint_codes", "facility_codes"):
            out[key] = codes(value)
        elif key in ("level", "target_first_s", "target_full_s"):
            out[key] = whole(value)
        elif key == "active":
            out[key] = flag(value)
        elif key == "category" and isinstance(value, str):
            out[key] = categories.get(value, value)
        elif key in ("code", "area_code") and isinstance(value, int | float):
            out[key] = str(whole(value))
        else:
            out[key] = value
    return out


def import_plans(
    session: Session, *, name: str, data: bytes, actor: Actor, scope: Scope | None
) -> ImportReport:
    """Keep or update the plans of a CSV or XLSX file (columns
    :data:`~fangkong.events.listing.PLAN_COLUMNS`, by key or label)."""
    rows = read_rows(name, data)
    require_keys(rows, column_aliases(PLAN_COLUMNS, "events.plan."), PLAN_REQUIRED)

    def update(plan: EmergencyPlan, data_in: PlanIn) -> None:
        plans.update_plan(session, plan=plan, data=data_in, actor=actor, scope=scope, audited=False)

    emergency_plans: Register[PlanIn, EmergencyPlan] = Register(
        entity="emergency_plan",
        parse=lambda cells: parse_row(PlanIn, _plan_row(cells)),
        find=lambda data_in: plans.get_by_code(session, code=data_in.code.strip(), scope=None),
        create=lambda data_in: plans.create_plan(
            session, data=data_in, actor=actor, scope=scope, audited=False
        ),
        update=update,
        area_path=lambda plan: plan.area_path,
        exists_elsewhere=lambda plan: InvalidInput(
            key="error.events.plan_exists", params={"code": plan.code}, field="code"
        ),
    )
    return import_register(session, emergency_plans, name=name, rows=rows, actor=actor, scope=scope)


def export_plans(session: Session, *, scope: Scope) -> tuple[list[str], Iterator[list[Any]]]:
    """The plans in the import's columns."""

    def rows() -> Iterator[list[Any]]:
        for p in session.scalars(plans_select(scope).order_by(EmergencyPlan.code)):
            area = session.get(Area, p.area_id) if p.area_id else None
            checkpoints = session.scalars(
                select(Checkpoint.code).where(Checkpoint.id.in_(p.checkpoint_ids or [0]))
            ).all()
            facilities = session.scalars(
                select(Facility.code).where(Facility.id.in_(p.facility_ids or [0]))
            ).all()
            yield [
                p.code,
                p.name,
                p.category,
                p.level,
                area.code if area else None,
                tiers_text(p.tiers),
                " ".join(sorted(checkpoints)),
                " ".join(sorted(facilities)),
                p.target_first_s,
                p.target_full_s,
                "1" if p.active else "0",
            ]

    return list(PLAN_COLUMNS), rows()
