"""The movement ledger and stock counts: rows are appended, never changed.

Each row names the holder's site where the stock changes, the material, what happened
(:class:`~fangkong.materials.models.MovementKind`), the quantity in the unit it was given in
(converted to thousandths of the material's base unit), the moment (to the second) and the
document number. A transfer's ends name the counterparty holder. A wrong row is corrected by
a new row that names it (``corrects_id``) and replaces it, or cancels it (``void``); the wrong
row stays, so the history cannot be rewritten (and the database refuses to: triggers on
UPDATE and DELETE).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, as_system
from fangkong.materials import register
from fangkong.materials._common import DOCUMENT_MAX
from fangkong.materials.models import (
    IN_ENDS,
    OUT_ENDS,
    CorrectionReason,
    Holder,
    Material,
    Movement,
    MovementKind,
    Site,
    StockCount,
)
from fangkong.materials.reconcile import seconds
from fangkong.materials.schemas import CorrectionIn, CountIn, MovementIn
from fangkong.materials.units import to_milli

# --- checking a row ------------------------------------------------------------------------


@dataclass
class Lookups:
    """Sites, materials and holders by code, read once for many rows (an import)."""

    sites: dict[str, Site]
    materials: dict[str, Material]
    holders: dict[str, Holder]
    holders_by_id: dict[int, Holder]
    #: Sites named as a transfer's other end: any of the register's, not only the caller's.
    counterparty_sites: dict[str, Site] = dataclasses.field(default_factory=dict)

    @classmethod
    def empty(cls) -> Lookups:
        return cls({}, {}, {}, {})


def _document(value: str, field: str = "document_no") -> str:
    value = value.strip()
    if not 1 <= len(value) <= DOCUMENT_MAX or "\x00" in value:
        raise InvalidInput(
            key="error.materials.document_length", params={"max": DOCUMENT_MAX}, field=field
        )
    return value


def site_of(session: Session, lookups: Lookups, code: str, scope: Scope | None) -> Site:
    site = lookups.sites.get(code)
    if site is None:
        site = register.get_site_by_code_or_raise(session, code=code, scope=scope)
        lookups.sites[code] = site
    return site


def material_of(session: Session, lookups: Lookups, code: str) -> Material:
    material = lookups.materials.get(code)
    if material is None:
        material = register.get_material_by_code_or_raise(session, code=code)
        lookups.materials[code] = material
    return material


def _holder_by_id(session: Session, lookups: Lookups, holder_id: int) -> Holder:
    holder = lookups.holders_by_id.get(holder_id)
    if holder is None:
        with as_system(session):  # the site's holder, judged by the site's lookup
            holder = session.get_one(Holder, holder_id)
        lookups.holders_by_id[holder_id] = holder
    return holder


def _counterparty(session: Session, lookups: Lookups, code: str) -> Holder:
    holder = lookups.holders.get(code)
    if holder is None:
        # Any holder of the register: the other end of a transfer may be in another district.
        with as_system(session):
            holder = register.get_holder_by_code_or_raise(
                session, code=code, scope=None, field="counterparty_code"
            )
        lookups.holders[code] = holder
    return holder


def _counterparty_site(session: Session, lookups: Lookups, code: str) -> Site:
    """Any site of the register (judged against the counterparty by the caller), kept apart
    from the sites of the caller's areas: a site named as the other end is no site of
    theirs for the next row."""
    site = lookups.counterparty_sites.get(code)
    if site is None:
        with as_system(session):  # its holder may lie outside the caller's areas
            site = register.get_site_by_code_or_raise(
                session, code=code, scope=None, field="counterparty_site_code"
            )
        lookups.counterparty_sites[code] = site
    return site


def build_movement(
    session: Session,
    data: MovementIn,
    *,
    scope: Scope | None,
    actor: Actor,
    now: datetime,
    lookups: Lookups | None = None,
) -> Movement:
    """A checked ledger row for ``data`` (not yet added): the site must be of a holder in
    ``scope``, the unit one of the material's, a transfer's counterparty as its kind needs."""
    lookups = lookups or Lookups.empty()
    site = site_of(session, lookups, data.site_code, scope)
    holder = _holder_by_id(session, lookups, site.holder_id)
    material = material_of(session, lookups, data.material_code)
    milli = to_milli(material, data.quantity, data.unit.strip())
    counterparty: Holder | None = None
    counterparty_site: Site | None = None
    if data.counterparty_code:
        if data.kind not in OUT_ENDS | IN_ENDS:
            raise InvalidInput(
                key="error.materials.no_counterparty",
                params={"kind": data.kind.value},
                field="counterparty_code",
            )
        counterparty = _counterparty(session, lookups, data.counterparty_code)
    elif data.kind in (MovementKind.TRANSPORT, MovementKind.STORE):
        raise InvalidInput(
            key="error.materials.counterparty_needed",
            params={"kind": data.kind.value},
            field="counterparty_code",
        )
    if data.counterparty_site_code:
        if counterparty is None:
            raise InvalidInput(
                key="error.materials.counterparty_needed",
                params={"kind": data.kind.value},
                field="counterparty_code",
            )
        counterparty_site = _counterparty_site(session, lookups, data.counterparty_site_code)
        if counterparty_site.holder_id != counterparty.id:
            raise InvalidInput(
                key="error.materials.counterparty_site",
                params={"site": counterparty_site.code, "holder": counterparty.code},
                field="counterparty_site_code",
            )
    if counterparty is not None:
        internal = counterparty.id == holder.id
        if data.kind is MovementKind.STORE and not internal:
            raise InvalidInput(key="error.materials.store_internal", field="counterparty_code")
        if data.kind is MovementKind.RECEIVE and internal:
            raise InvalidInput(key="error.materials.receive_external", field="counterparty_code")
        if internal and (counterparty_site is None or counterparty_site.id == site.id):
            raise InvalidInput(key="error.materials.internal_site", field="counterparty_site_code")
    occurred = data.occurred_at.replace(microsecond=0)
    return Movement(
        holder_id=holder.id,
        site_id=site.id,
        material_id=material.id,
        kind=data.kind,
        quantity=float(data.quantity),
        unit=data.unit.strip(),
        quantity_milli=milli,
        occurred_at=occurred,
        occurred_s=seconds(occurred),
        document_no=_document(data.document_no),
        counterparty_id=counterparty.id if counterparty else None,
        counterparty_site_id=counterparty_site.id if counterparty_site else None,
        area_path=holder.area_path,
        recorded_at=now,
        recorded_by=actor.username,
    )


def record_movement(
    session: Session, *, data: MovementIn, actor: Actor, now: datetime, scope: Scope | None
) -> Movement:
    """Append one row to the ledger."""
    row = build_movement(session, data, scope=scope, actor=actor, now=now)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="record",
        entity="material_movement",
        entity_id=row.id,
        detail={"kind": row.kind.value, "document_no": row.document_no},
        area_path=row.area_path,
    )
    return row


def record_movements(
    session: Session,
    *,
    rows: Iterable[Movement],
    actor: Actor,
    source: str,
) -> int:
    """Append checked rows (an import) with one audit event."""
    batch = list(rows)
    if not batch:
        return 0
    session.add_all(batch)
    session.flush()
    paths = {r.area_path for r in batch if r.area_path}
    from fangkong.core.scoping import common_path

    audit.record(
        session,
        actor=actor,
        action="import",
        entity="material_movement",
        detail={"rows": len(batch), "source": source},
        area_path=common_path(paths),
    )
    return len(batch)


def get_movement(session: Session, *, movement_id: int, scope: Scope | None) -> Movement | None:
    row = session.get(Movement, movement_id)
    if row is None or (scope is not None and not scope.covers(row.area_path)):
        return None
    return row


def get_movement_or_raise(session: Session, *, movement_id: int, scope: Scope | None) -> Movement:
    row = get_movement(session, movement_id=movement_id, scope=scope)
    if row is None:
        raise NotFound(
            key="error.materials.movement_not_found",
            params={"id": movement_id},
            field="movement_id",
        )
    return row


def superseded_by(session: Session, *, ids: list[int]) -> dict[int, int]:
    """The correction of each of ``ids`` that has one."""
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Movement.corrects_id, Movement.id).where(Movement.corrects_id.in_(ids))
        ).all()  # type: ignore[arg-type]
    )


def correct_movement(
    session: Session,
    *,
    original: Movement,
    data: CorrectionIn,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
) -> Movement:
    """Append a correction of ``original``: the row as it should have been (same holder),
    or a void that cancels it. A row is corrected once; correct the correction after that."""
    if superseded_by(session, ids=[original.id]):
        raise Conflict(
            key="error.materials.already_corrected",
            params={"id": original.id},
            field="movement_id",
        )
    if data.void:
        row = Movement(
            holder_id=original.holder_id,
            site_id=original.site_id,
            material_id=original.material_id,
            kind=original.kind,
            quantity=original.quantity,
            unit=original.unit,
            quantity_milli=original.quantity_milli,
            occurred_at=original.occurred_at,
            occurred_s=original.occurred_s,
            document_no=original.document_no,
            counterparty_id=original.counterparty_id,
            counterparty_site_id=original.counterparty_site_id,
            area_path=original.area_path,
            recorded_at=now,
            recorded_by=actor.username,
            void=True,
        )
    else:
        if data.row is None:
            raise InvalidInput(key="error.materials.correction_row", field="row")
        row = build_movement(session, data.row, scope=scope, actor=actor, now=now)
        if row.holder_id != original.holder_id:
            raise InvalidInput(key="error.materials.correction_holder", field="row.site_code")
    row.corrects_id = original.id
    row.reason = CorrectionReason(data.reason)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="correct",
        entity="material_movement",
        entity_id=row.id,
        detail={"corrects": original.id, "void": row.void, "reason": row.reason.value},
        area_path=row.area_path,
    )
    return row


@dataclass(frozen=True)
class MovementFilter:
    holder_id: int | None = None
    site_id: int | None = None
    material_id: int | None = None
    kind: MovementKind | None = None
    document_no: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    #: False: only the effective rows (neither replaced nor void).
    corrections: bool = True


def movements_query(scope: Scope, filters: MovementFilter = MovementFilter()) -> Select[Movement]:
    """Ledger rows in ``scope`` matching ``filters`` (a select to page, sort or export)."""
    query = select(Movement).where(scope.clause(Movement.area_path))
    if filters.holder_id is not None:
        query = query.where(Movement.holder_id == filters.holder_id)
    if filters.site_id is not None:
        query = query.where(Movement.site_id == filters.site_id)
    if filters.material_id is not None:
        query = query.where(Movement.material_id == filters.material_id)
    if filters.kind is not None:
        query = query.where(Movement.kind == filters.kind)
    if filters.document_no:
        query = query.where(Movement.document_no == filters.document_no)
    if filters.start is not None:
        query = query.where(Movement.occurred_s >= seconds(filters.start))
    if filters.end is not None:
        query = query.where(Movement.occurred_s < seconds(filters.end))
    if not filters.corrections:
        later = aliased(Movement)
        query = query.where(
            Movement.void.is_(False),
            ~select(later.id).where(later.corrects_id == Movement.id).exists(),
        )
    return query


def get_movements(
    session: Session,
    *,
    scope: Scope,
    filters: MovementFilter = MovementFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Movement]]:
    """Ledger rows, latest first: (total, page)."""
    query = movements_query(scope, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Movement.occurred_s.desc(), Movement.id.desc()).limit(limit).offset(offset)
    )
    return int(total), list(page)


# --- counts ---------------------------------------------------------------------------------


def record_count(
    session: Session, *, data: CountIn, actor: Actor, now: datetime, scope: Scope | None
) -> StockCount:
    """Append a stock count (or its correction, naming the count it corrects)."""
    lookups = Lookups.empty()
    site = site_of(session, lookups, data.site_code, scope)
    holder = _holder_by_id(session, lookups, site.holder_id)
    material = material_of(session, lookups, data.material_code)
    milli = to_milli(material, data.quantity, data.unit.strip(), allow_zero=True)
    if data.corrects_id is not None:
        original = session.get(StockCount, data.corrects_id)
        if original is None or original.holder_id != holder.id:
            raise NotFound(
                key="error.materials.count_not_found",
                params={"id": data.corrects_id},
                field="corrects_id",
            )
        taken = session.scalars(
            select(StockCount.id).where(StockCount.corrects_id == original.id)
        ).first()
        if taken is not None:
            raise Conflict(
                key="error.materials.already_corrected",
                params={"id": original.id},
                field="corrects_id",
            )
    elif data.void:
        raise InvalidInput(key="error.materials.void_needs_target", field="corrects_id")
    counted = data.counted_at.replace(microsecond=0)
    row = StockCount(
        holder_id=holder.id,
        site_id=site.id,
        material_id=material.id,
        counted_at=counted,
        counted_s=seconds(counted),
        quantity=float(data.quantity),
        unit=data.unit.strip(),
        quantity_milli=milli,
        document_no=data.document_no.strip(),
        corrects_id=data.corrects_id,
        void=data.void,
        area_path=holder.area_path,
        recorded_at=now,
        recorded_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="count",
        entity="material_stock_count",
        entity_id=row.id,
        detail={"site": site.code, "material": material.code},
        area_path=row.area_path,
    )
    return row


def get_counts(
    session: Session, *, scope: Scope, holder_id: int | None = None, limit: int = 200
) -> list[StockCount]:
    query = select(StockCount).where(scope.clause(StockCount.area_path))
    if holder_id is not None:
        query = query.where(StockCount.holder_id == holder_id)
    return list(
        session.scalars(
            query.order_by(StockCount.counted_s.desc(), StockCount.id.desc()).limit(limit)
        )
    )
