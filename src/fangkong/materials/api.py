"""REST API of the hazardous-material registers under ``/api/v1/materials``: the catalogue,
holders and their sites, the append-only ledger (rows, corrections, counts), the county's
tolerances, the reconciliation with its discrepancies and the cases it opens, the map layer
and the imports. There is no route that changes or deletes a ledger row.

Every read is scoped to the user's areas (a holder's rows are filed under its area); a
holder or row outside them reads as not found.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from sqlalchemy import select

from fangkong.areas.models import Area
from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, AwareMoment, Offset, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope, as_system
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    actor_of,
    get_cipher,
    get_settings,
    requires,
)
from fangkong.materials import findings, importing, ledger, listing, reconcile, register
from fangkong.materials import permissions as perms
from fangkong.materials._common import MAX_IMPORT_BYTES, MAX_PERIOD_DAYS
from fangkong.materials.models import (
    Holder,
    HolderKind,
    Material,
    MaterialClass,
    Movement,
    MovementKind,
    Site,
    StockCount,
)
from fangkong.materials.personal import masked_contact, reveal_contact
from fangkong.materials.schemas import (
    BalanceOut,
    CapacityOut,
    ContactOut,
    CorrectionIn,
    CountIn,
    CountOut,
    DiscrepancyOut,
    HolderIn,
    HolderOut,
    HolderPage,
    ImportOut,
    MaterialIn,
    MaterialOut,
    MovementIn,
    MovementOut,
    MovementPage,
    OpenCasesIn,
    OpenCasesOut,
    ReconciliationOut,
    RowErrorOut,
    SiteIn,
    SiteOut,
    ToleranceIn,
    ToleranceOut,
)
from fangkong.materials.units import from_milli

router = APIRouter(prefix="/materials", tags=["materials"], dependencies=[requires(perms.READ)])
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
Code = Annotated[Text | None, Query(max_length=32)]


def material_out(m: Material) -> MaterialOut:
    return MaterialOut(
        id=m.id,
        code=m.code,
        name_zh=m.name_zh,
        name_en=m.name_en,
        material_class=m.material_class,
        base_unit=m.base_unit,
        units=dict(m.units or {}),
    )


def holder_out(h: Holder, cipher: Any, sites: int) -> HolderOut:
    name, phone = masked_contact(h, cipher)
    return HolderOut(
        id=h.id,
        code=h.code,
        name=h.name,
        kind=h.kind,
        licence_no=h.licence_no,
        licence_classes=[MaterialClass(c) for c in h.licence_classes or []],
        licence_from=h.licence_from,
        licence_until=h.licence_until,
        address=h.address,
        lon=h.lon,
        lat=h.lat,
        area_code=h.area.code if h.area else None,
        contact_name=name,
        contact_phone=phone,
        deregistered_at=h.deregistered_at,
        sites=sites,
    )


def site_out(db: Any, s: Site) -> SiteOut:
    holder = db.get(Holder, s.holder_id)
    found = db.get(Area, s.area_id) if s.area_id else None
    caps = register.capacities_of(db, site_ids=[s.id])[s.id]
    return SiteOut(
        id=s.id,
        code=s.code,
        holder_id=s.holder_id,
        holder_code=holder.code if holder else "",
        name=s.name,
        kind=s.kind,
        lon=s.lon,
        lat=s.lat,
        area_code=found.code if found else None,
        capacities=[
            CapacityOut(
                material_class=c.material_class, unit=c.unit, capacity=from_milli(c.capacity_milli)
            )
            for c in caps
        ],
    )


def movement_out(db: Any, m: Movement, superseded_by: int | None) -> MovementOut:
    holder = db.get(Holder, m.holder_id)
    site = db.get(Site, m.site_id)
    material = db.get(Material, m.material_id)
    with as_system(db):  # the other end's holder may lie outside the reader's areas
        cp = db.get(Holder, m.counterparty_id) if m.counterparty_id else None
    cp_site = db.get(Site, m.counterparty_site_id) if m.counterparty_site_id else None
    return MovementOut(
        id=m.id,
        holder_id=m.holder_id,
        holder_code=holder.code,
        site_code=site.code,
        material_code=material.code,
        kind=m.kind,
        quantity=m.quantity,
        unit=m.unit,
        quantity_base=from_milli(m.quantity_milli),
        base_unit=material.base_unit,
        occurred_at=m.occurred_at,
        document_no=m.document_no,
        counterparty_code=cp.code if cp else None,
        counterparty_site_code=cp_site.code if cp_site else None,
        corrects_id=m.corrects_id,
        void=m.void,
        reason=m.reason,
        superseded_by=superseded_by,
        recorded_at=m.recorded_at,
        recorded_by=m.recorded_by,
    )


def count_out(db: Any, c: StockCount) -> CountOut:
    site = db.get(Site, c.site_id)
    material = db.get(Material, c.material_id)
    return CountOut(
        id=c.id,
        site_code=site.code,
        material_code=material.code,
        quantity=c.quantity,
        unit=c.unit,
        quantity_base=from_milli(c.quantity_milli),
        counted_at=c.counted_at,
        document_no=c.document_no,
        corrects_id=c.corrects_id,
        void=c.void,
    )


# --- the catalogue -----------------------------------------------------------------------------


@router.get("", response_model=list[MaterialOut])
def list_materials(db: DbSession) -> list[MaterialOut]:
    """The catalogue of regulated materials: class, base unit and own units."""
    return [material_out(m) for m in register.get_materials(db)]


@router.post("", response_model=MaterialOut, status_code=201, dependencies=[requires(perms.WRITE)])
def create_material(body: MaterialIn, db: DbSession, actor: RequestActor) -> MaterialOut:
    return material_out(register.create_material(db, data=body, actor=actor))


# --- holders and sites ------------------------------------------------------------------------

HolderSort = Annotated[
    Text | None,
    Query(
        max_length=32,
        description="code, name, kind, licence_no, licence_until, area, "
        "deregistered_at; a leading - sorts descending",
    ),
]


def _holder_query(
    db: Any,
    scope: Scope,
    language: str,
    q: str | None,
    kind: HolderKind | None,
    material_class: MaterialClass | None,
    area: str | None,
    active: bool | None,
    sort: str | None,
) -> tables.TableQuery:
    table = listing.holders_table(db, scope=scope, language=language)
    return table.query(
        sort=sort,
        values={
            "q": q,
            "kind": kind.value if kind else None,
            "material_class": material_class.value if material_class else None,
            "area": area,
            "active": None if active is None else ("1" if active else "0"),
        },
    )


@router.get("/holders", response_model=HolderPage)
def list_holders(
    request: Request,
    db: DbSession,
    scope: UserScope,
    language: Language,
    q: Annotated[Text | None, Query(max_length=64, description="Code, name or licence")] = None,
    kind: HolderKind | None = None,
    material_class: MaterialClass | None = None,
    area: Code = None,
    active: bool | None = None,
    sort: HolderSort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> HolderPage:
    """Licensed holders of your areas (units, never people), contacts masked."""
    query = _holder_query(db, scope, language, q, kind, material_class, area, active, sort)
    stmt = query.apply(listing.holders_select(scope))
    total = tables.count(db, stmt)
    page = list(db.scalars(stmt.limit(limit).offset(offset)).unique())
    counts = register.site_counts(db, holder_ids=[h.id for h in page])
    cipher = get_cipher(request)
    return HolderPage(total=total, items=[holder_out(h, cipher, counts.get(h.id, 0)) for h in page])


@router.get("/holders/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_holders(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: Annotated[Text | None, Query(max_length=64)] = None,
    kind: HolderKind | None = None,
    material_class: MaterialClass | None = None,
    area: Code = None,
    active: bool | None = None,
    sort: HolderSort = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The holders of ``GET /materials/holders`` as CSV or XLSX (no contact; audited)."""
    return tables.export(
        db,
        listing.holders_select(scope),
        _holder_query(db, scope, language, q, kind, material_class, area, active, sort),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("materials.holders", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.post(
    "/holders", response_model=HolderOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def create_holder(
    request: Request, body: HolderIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> HolderOut:
    """Register a licensed holder in your areas; its contact is stored encrypted."""
    cipher = get_cipher(request)
    holder = register.create_holder(db, data=body, actor=actor, cipher=cipher, scope=scope)
    return holder_out(holder, cipher, 0)


@router.get("/holders/{holder_id:int}", response_model=HolderOut)
def get_holder(request: Request, holder_id: RowId, db: DbSession, scope: UserScope) -> HolderOut:
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    counts = register.site_counts(db, holder_ids=[holder.id])
    return holder_out(holder, get_cipher(request), counts.get(holder.id, 0))


@router.put(
    "/holders/{holder_id:int}", response_model=HolderOut, dependencies=[requires(perms.WRITE)]
)
def update_holder(
    request: Request,
    holder_id: RowId,
    body: HolderIn,
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
) -> HolderOut:
    cipher = get_cipher(request)
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    register.update_holder(db, holder=holder, data=body, actor=actor, cipher=cipher, scope=scope)
    counts = register.site_counts(db, holder_ids=[holder.id])
    return holder_out(holder, cipher, counts.get(holder.id, 0))


@router.post(
    "/holders/{holder_id:int}/deregister",
    response_model=HolderOut,
    dependencies=[requires(perms.WRITE)],
)
def deregister_holder(
    request: Request, holder_id: RowId, db: DbSession, scope: UserScope, actor: RequestActor
) -> HolderOut:
    """The holder no longer holds materials: its later movements are unlicensed."""
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    register.deregister_holder(db, holder=holder, actor=actor, now=utcnow())
    return holder_out(holder, get_cipher(request), 0)


@router.get(
    "/holders/{holder_id:int}/contact",
    response_model=ContactOut,
    dependencies=[requires(perms.UNMASK)],
)
def holder_contact(
    request: Request,
    holder_id: RowId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> ContactOut:
    """The holder's responsible contact in clear (roles that need it; every read audited)."""
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    name, phone = reveal_contact(
        db, holder=holder, viewer=user, cipher=get_cipher(request), actor=actor
    )
    return ContactOut(contact_name=name, contact_phone=phone)


@router.get("/sites", response_model=list[SiteOut])
def list_sites(db: DbSession, scope: UserScope, holder_code: Code = None) -> list[SiteOut]:
    """The sites of the holders of your areas (of one holder with ``holder_code``)."""
    holders = select(Holder.id).where(scope.clause(Holder.area_path))
    if holder_code:
        holders = holders.where(Holder.code == holder_code)
    ids = list(db.scalars(holders))
    return [site_out(db, s) for s in register.sites_of(db, holder_ids=ids)]


@router.post(
    "/sites", response_model=SiteOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def create_site(body: SiteIn, db: DbSession, scope: UserScope, actor: RequestActor) -> SiteOut:
    """Register a site of a holder of your areas, with its capacities."""
    return site_out(db, register.create_site(db, data=body, actor=actor, scope=scope))


# --- the ledger --------------------------------------------------------------------------------

MovementSort = Annotated[
    Text | None,
    Query(
        max_length=32,
        description="id, holder_code, site_code, material_code, kind, "
        "quantity, occurred_at, document_no; a leading - sorts descending",
    ),
]


def _movement_query(
    db: Any,
    scope: Scope,
    language: str,
    holder_code: str | None,
    kind: MovementKind | None,
    material_code: str | None,
    document_no: str | None,
    effective: bool | None,
    sort: str | None,
) -> tables.TableQuery:
    table = listing.movements_table(db, scope=scope, language=language)
    return table.query(
        sort=sort,
        values={
            "holder": holder_code,
            "kind": kind.value if kind else None,
            "material": material_code,
            "document_no": document_no,
            "effective": None if effective is None else ("1" if effective else "0"),
        },
    )


@router.get("/movements", response_model=MovementPage)
def list_movements(
    db: DbSession,
    scope: UserScope,
    language: Language,
    holder_code: Code = None,
    kind: MovementKind | None = None,
    material_code: Code = None,
    document_no: Annotated[Text | None, Query(max_length=64)] = None,
    start: AwareMoment | None = None,
    end: AwareMoment | None = None,
    effective: Annotated[
        bool | None,
        Query(description="Only the rows that count (true) or those replaced or void (false)"),
    ] = None,
    sort: MovementSort = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> MovementPage:
    """Ledger rows of your areas, latest first; each says what replaced it, if anything."""
    query = _movement_query(
        db, scope, language, holder_code, kind, material_code, document_no, effective, sort
    )
    stmt = query.apply(listing.movements_select(scope))
    if start is not None:
        stmt = stmt.where(Movement.occurred_s >= reconcile.seconds(start))
    if end is not None:
        stmt = stmt.where(Movement.occurred_s < reconcile.seconds(end))
    total = tables.count(db, stmt)
    rows = [r[0] for r in db.execute(stmt.limit(limit).offset(offset))]
    later = ledger.superseded_by(db, ids=[r.id for r in rows])
    return MovementPage(total=total, items=[movement_out(db, r, later.get(r.id)) for r in rows])


@router.get("/movements/export", response_class=Response, responses=tables.EXPORT_RESPONSES)
def export_movements(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    holder_code: Code = None,
    kind: MovementKind | None = None,
    material_code: Code = None,
    document_no: Annotated[Text | None, Query(max_length=64)] = None,
    effective: bool | None = None,
    sort: MovementSort = None,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
) -> Response:
    """The rows of ``GET /materials/movements`` as CSV or XLSX (audited)."""
    return tables.export(
        db,
        listing.movements_select(scope),
        _movement_query(
            db, scope, language, holder_code, kind, material_code, document_no, effective, sort
        ),
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("materials.ledger", language),
        actor=actor_of(request, user),
        scope=scope,
    )


@router.post(
    "/movements", response_model=MovementOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def record_movement(
    body: MovementIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> MovementOut:
    """Append a row to the ledger (at a site of a holder of your areas). Rows are never
    changed: a wrong one is corrected by ``POST /materials/movements/{id}/corrections``."""
    row = ledger.record_movement(db, data=body, actor=actor, now=utcnow(), scope=scope)
    return movement_out(db, row, None)


@router.get("/movements/{movement_id:int}", response_model=MovementOut)
def get_movement(movement_id: RowId, db: DbSession, scope: UserScope) -> MovementOut:
    row = ledger.get_movement_or_raise(db, movement_id=movement_id, scope=scope)
    return movement_out(db, row, ledger.superseded_by(db, ids=[row.id]).get(row.id))


@router.post(
    "/movements/{movement_id:int}/corrections",
    response_model=MovementOut,
    status_code=201,
    dependencies=[requires(perms.WRITE)],
)
def correct_movement(
    movement_id: RowId, body: CorrectionIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> MovementOut:
    """Append a correction of a row: the row as it should have been (it replaces it in the
    reconciliation), or ``void`` to cancel it; the corrected row stays in the ledger."""
    original = ledger.get_movement_or_raise(db, movement_id=movement_id, scope=scope)
    row = ledger.correct_movement(
        db, original=original, data=body, actor=actor, now=utcnow(), scope=scope
    )
    return movement_out(db, row, None)


@router.get("/counts", response_model=list[CountOut])
def list_counts(db: DbSession, scope: UserScope, holder_code: Code = None) -> list[CountOut]:
    """Stock counts of your areas' holders, latest first (200 at most)."""
    holder_id = None
    if holder_code:
        holder_id = register.get_holder_by_code_or_raise(db, code=holder_code, scope=scope).id
    return [count_out(db, c) for c in ledger.get_counts(db, scope=scope, holder_id=holder_id)]


@router.post(
    "/counts", response_model=CountOut, status_code=201, dependencies=[requires(perms.WRITE)]
)
def record_count(body: CountIn, db: DbSession, scope: UserScope, actor: RequestActor) -> CountOut:
    """Append a stock count (盘点), or the correction of one (``corrects_id``)."""
    return count_out(db, ledger.record_count(db, data=body, actor=actor, now=utcnow(), scope=scope))


# --- tolerances and the reconciliation -------------------------------------------------------


@router.get("/tolerances", response_model=list[ToleranceOut])
def list_tolerances(db: DbSession) -> list[ToleranceOut]:
    """The county's tolerance per material class (or the default)."""
    return [
        ToleranceOut(
            material_class=cls,
            relative=tol.relative,
            absolute=from_milli(tol.absolute_milli),
            window_hours=tol.window_hours,
            default=default,
        )
        for cls, tol, default in register.get_tolerances(db)
    ]


@router.put(
    "/tolerances/{material_class}",
    response_model=ToleranceOut,
    dependencies=[requires(perms.WRITE)],
)
def set_tolerance(
    material_class: MaterialClass, body: ToleranceIn, db: DbSession, actor: RequestActor
) -> ToleranceOut:
    register.set_tolerance(db, material_class=material_class, data=body, actor=actor)
    return ToleranceOut(
        material_class=material_class,
        relative=body.relative,
        absolute=body.absolute,
        window_hours=body.window_hours,
        default=False,
    )


def _period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput(key="error.materials.period_order", field="end")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            key="error.materials.period_long", params={"days": MAX_PERIOD_DAYS}, field="end"
        )


def _reconcile(
    request: Request, db: Any, scope: Scope, start: datetime, end: datetime, holder_code: str | None
) -> reconcile.Reconciliation:
    _period(start, end)
    holder_ids = None
    if holder_code:
        holder_ids = [register.get_holder_by_code_or_raise(db, code=holder_code, scope=scope).id]
    return reconcile.reconcile(
        db,
        scope=scope,
        start=start,
        end=end,
        now=utcnow(),
        zone=get_settings(request).zone,
        holder_ids=holder_ids,
    )


@router.get("/reconciliation", response_model=ReconciliationOut)
def reconciliation(
    request: Request,
    db: DbSession,
    scope: UserScope,
    language: Language,
    start: AwareMoment,
    end: AwareMoment,
    holder_code: Code = None,
) -> ReconciliationOut:
    """账实核对 over ``[start, end)`` for the holders of your areas (or one): per holder, site
    and material, opening + in - out = closing against the last count of the period, and
    every discrepancy (a count off the book, stock below zero, over capacity, a transfer end
    unmatched past its window or its ends differing in quantity or time, unlicensed rows),
    each with the case it opened, if any."""
    result = _reconcile(request, db, scope, start, end, holder_code)
    names = findings.Names.of(db, [*result.balances, *result.discrepancies])
    opened = findings.cases_of(db, fingerprints=[d.fingerprint for d in result.discrepancies])

    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    def base(milli: int | None) -> float | None:
        return None if milli is None else from_milli(milli)

    return ReconciliationOut(
        start=start,
        end=end,
        rows=result.rows,
        transfers_paired=result.transfers_paired,
        transfers_pending=result.transfers_pending,
        balances=[
            BalanceOut(
                holder_code=names.holder(b.holder_id) or "",
                site_code=names.site(b.site_id) or "",
                material_code=names.material(b.material_id) or "",
                base_unit=names.materials[b.material_id].base_unit,
                opening=from_milli(b.opening),
                inflow=from_milli(b.inflow),
                outflow=from_milli(b.outflow),
                closing=from_milli(b.closing),
                counted=base(b.counted),
                counted_at=at(b.counted_s) if b.counted_s is not None else None,
                book_at_count=base(b.book_at_count),
                difference=base(b.difference),
            )
            for b in result.balances
        ],
        discrepancies=[
            DiscrepancyOut(
                kind=d.kind,
                fingerprint=d.fingerprint,
                holder_code=names.holder(d.holder_id) or "",
                site_code=names.site(d.site_id),
                material_code=names.material(d.material_id),
                at=at(d.at_s),
                movement_ids=list(d.movement_ids),
                count_id=d.count_id,
                expected=(d.expected if d.kind.value == "transfer_time" else base(d.expected)),
                actual=(d.actual if d.kind.value == "transfer_time" else base(d.actual)),
                counterparty_code=names.holder(d.counterparty_id),
                rows=d.rows,
                message=findings.describe(d, names, language),
                case_id=opened.get(d.fingerprint),
            )
            for d in result.discrepancies
        ],
    )


@router.post(
    "/reconciliation/cases",
    response_model=OpenCasesOut,
    dependencies=[requires(perms.WRITE)],
)
def open_cases(
    request: Request,
    body: OpenCasesIn,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
) -> OpenCasesOut:
    """Reconcile as ``GET /materials/reconciliation`` and open a case for each discrepancy
    that has none (in its holder's area, linked to the holder); again, it opens nothing."""
    auth.require(user, "cases.create")
    result = _reconcile(request, db, scope, body.start, body.end, body.holder_code)
    opened, existing = findings.open_cases(
        db,
        discrepancies=result.discrepancies,
        user=user,
        actor=actor,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    return OpenCasesOut(opened=opened, existing=existing)


# --- the map layer and imports ----------------------------------------------------------------


@router.get("/geojson")
def materials_geojson(db: DbSession, scope: UserScope) -> dict[str, Any]:
    """Holders of your areas and their sites as GeoJSON points for the command map."""
    holders = list(db.scalars(listing.holders_select(scope)).unique())
    sites = register.sites_of(db, holder_ids=[h.id for h in holders])
    by_id = {h.id: h for h in holders}
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [h.lon, h.lat]},
            "properties": {
                "id": h.id,
                "code": h.code,
                "name": h.name,
                "layer": "holder",
                "kind": h.kind.value,
                "active": h.deregistered_at is None,
            },
        }
        for h in holders
    ] + [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
            "properties": {
                "id": s.id,
                "code": s.code,
                "name": s.name,
                "layer": "site",
                "kind": s.kind.value,
                "holder_id": s.holder_id,
                "holder_code": by_id[s.holder_id].code,
            },
        }
        for s in sites
    ]
    return {"type": "FeatureCollection", "features": features}


@router.post("/import/{kind}", response_model=ImportOut, dependencies=[requires(perms.WRITE)])
def import_file(
    request: Request,
    kind: Literal["materials", "holders", "sites", "movements", "counts"],
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
) -> ImportOut:
    """Load the catalogue, holders, sites, ledger rows or counts from a CSV or XLSX file with
    a header row (the columns of docs/registers.md; the export's labels are taken too). Each
    row is checked on its own; a ledger row or count the ledger holds already is counted as
    existing and not written twice."""
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            key="error.materials.file_large", params={"mib": MAX_IMPORT_BYTES >> 20}, field="file"
        )
    report = importing.import_file(
        db,
        kind=kind,
        name=file.filename or "",
        data=data,
        actor=actor,
        now=utcnow(),
        zone=get_settings(request).zone,
        cipher=get_cipher(request),
        scope=scope,
    )
    return ImportOut(
        created=report.created,
        updated=report.updated,
        existing=report.existing,
        errors=[RowErrorOut(row=e.row, field=e.field, message=e.message) for e in report.errors],
    )
