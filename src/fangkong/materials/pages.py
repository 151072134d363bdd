"""Console pages of the hazardous-material registers: holders (filters, sort, pages, export,
imports), a holder with its sites, capacities, counts and latest ledger rows (its contact
masked; in clear on request, audited), the ledger, and the reconciliation of a period with
its discrepancies and the cases they opened."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fangkong.cases.web import get_calendar
from fangkong.core import auth
from fangkong.core.bounds import MAX_ID, Day, Text
from fangkong.core.db import utcnow
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import as_system
from fangkong.http import forms, tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    RequestActor,
    UserScope,
    get_cipher,
    get_settings,
    requires,
)
from fangkong.http.templating import render
from fangkong.materials import (
    editing,
    findings,
    importing,
    ledger,
    listing,
    reconcile,
    register,
)
from fangkong.materials import permissions as perms
from fangkong.materials._common import MAX_IMPORT_BYTES, MAX_PERIOD_DAYS
from fangkong.materials.models import (
    Holder,
    Material,
    Movement,
    Site,
)
from fangkong.materials.personal import masked_contact, reveal_contact
from fangkong.materials.units import from_milli

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])
HolderId = Annotated[int, Path(ge=1, le=MAX_ID)]
SiteId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormValues = Annotated[dict[str, str], Depends(forms.form_values)]


def _holders(
    request: Request,
    db: Any,
    user: Any,
    scope: Any,
    language: str,
    *,
    imported: Any = None,
    kind: str | None = None,
    error: str | None = None,
) -> Response:
    return tables.list_page(
        request,
        db,
        listing.holders_table(db, scope=scope, language=language),
        listing.holders_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("materials.holders", language),
        template="materials/holders.html",
        context=lambda _page: {
            "can_write": auth.can(user, perms.WRITE),
            "kinds": importing.KINDS,
            "imported": imported,
            "imported_kind": kind,
            "error": error,
            "materials": register.get_materials(db),
        },
    )


@router.get("/materials", response_class=HTMLResponse)
def holders_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """危爆物品: the licensed holders of your areas; the catalogue; imports."""
    return _holders(request, db, user, scope, language)


@router.post("/materials/import", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)])
def import_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Text, Form(max_length=16)],
) -> Response:
    data = file.file.read(MAX_IMPORT_BYTES + 1)
    try:
        if len(data) > MAX_IMPORT_BYTES:
            raise InvalidInput(
                key="error.materials.file_large",
                params={"mib": MAX_IMPORT_BYTES >> 20},
                field="file",
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
    except FangkongError as exc:
        return _holders(request, db, user, scope, language, error=exc.text(language))
    return _holders(request, db, user, scope, language, imported=report, kind=kind)


# --- one holder's and one site's forms ----------------------------------------------------------


@router.get(
    "/materials/holders/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def new_holder_page(request: Request, user: CurrentUser, language: Language) -> Response:
    """Register one licensed holder (a unit, never a person): licence, place, contact."""
    return editing.holder_form(request, user, language, holder=None, values={})


@router.post(
    "/materials/holders/new", response_class=HTMLResponse, dependencies=[requires(perms.WRITE)]
)
def create_holder_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    return editing.save_holder(request, db, user, scope, language, actor, values, None)


@router.get(
    "/materials/holders/{holder_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def edit_holder_page(
    request: Request,
    holder_id: HolderId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Edit a holder's record (its code stays; its contact is kept unless typed anew)."""
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    return editing.holder_form(
        request, user, language, holder=holder, values=editing.holder_values(holder)
    )


@router.post(
    "/materials/holders/{holder_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def update_holder_page(
    request: Request,
    holder_id: HolderId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    return editing.save_holder(request, db, user, scope, language, actor, values, holder)


@router.get(
    "/materials/holders/{holder_id:int}/sites/new",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def new_site_page(
    request: Request,
    holder_id: HolderId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Register a storage or work site of the holder, with its capacities."""
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    return editing.site_form(request, user, language, holder=holder, site=None, values={})


@router.post(
    "/materials/holders/{holder_id:int}/sites/new",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def create_site_page(
    request: Request,
    holder_id: HolderId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    return editing.save_site(request, db, user, scope, language, actor, values, holder, None)


@router.get(
    "/materials/sites/{site_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def edit_site_page(
    request: Request,
    site_id: SiteId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """Edit a site: name, kind, point and capacities (its code and holder stay)."""
    site = register.get_site_or_raise(db, site_id=site_id, scope=scope)
    holder = register.get_holder_or_raise(db, holder_id=site.holder_id, scope=scope)
    caps = register.capacities_of(db, site_ids=[site.id])[site.id]
    values = editing.site_values(site, holder, caps)
    return editing.site_form(request, user, language, holder=holder, site=site, values=values)


@router.post(
    "/materials/sites/{site_id:int}/edit",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def update_site_page(
    request: Request,
    site_id: SiteId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
    values: FormValues,
) -> Response:
    site = register.get_site_or_raise(db, site_id=site_id, scope=scope)
    holder = register.get_holder_or_raise(db, holder_id=site.holder_id, scope=scope)
    return editing.save_site(request, db, user, scope, language, actor, values, holder, site)


@router.get("/materials/holders/{holder_id:int}", response_class=HTMLResponse)
def holder_page(
    request: Request,
    holder_id: HolderId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """A holder: licence, masked contact, sites and capacities, counts, the latest rows."""
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    sites = register.sites_of(db, holder_ids=[holder.id])
    _, rows = ledger.get_movements(
        db, scope=scope, filters=ledger.MovementFilter(holder_id=holder.id), limit=50
    )
    return render(
        request,
        "materials/holder.html",
        language=language,
        user=user,
        holder=holder,
        contact=masked_contact(holder, get_cipher(request)),
        revealed=None,
        can_unmask=auth.can(user, perms.UNMASK),
        can_write=auth.can(user, perms.WRITE),
        sites=sites,
        capacities=register.capacities_of(db, site_ids=[s.id for s in sites]),
        rows=rows,
        superseded=ledger.superseded_by(db, ids=[r.id for r in rows]),
        counts=ledger.get_counts(db, scope=scope, holder_id=holder.id, limit=20),
        names=_names(db, rows),
        milli=from_milli,
    )


def _holders_of(db: Any, ids: set[int]) -> dict[int, Holder]:
    with as_system(db):  # the other ends' holders may lie outside the reader's areas
        return {h.id: h for h in db.scalars(select(Holder).where(Holder.id.in_(ids)))}


def _names(db: Any, rows: list[Movement]) -> dict[str, dict[int, Any]]:
    """Sites, materials and counterparties of ``rows`` (and every material) by id."""
    sites = {r.site_id for r in rows}
    others = {r.counterparty_id for r in rows if r.counterparty_id}
    return {
        "site": {s.id: s for s in db.scalars(select(Site).where(Site.id.in_(sites)))},
        "material": {m.id: m for m in db.scalars(select(Material))},
        "holder": _holders_of(db, others),
    }


@router.post(
    "/materials/holders/{holder_id:int}/contact",
    response_class=HTMLResponse,
    dependencies=[requires(perms.UNMASK)],
)
def reveal_page(
    request: Request,
    holder_id: HolderId,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    actor: RequestActor,
) -> Response:
    """The holder's page with its contact in clear (the read is audited)."""
    holder = register.get_holder_or_raise(db, holder_id=holder_id, scope=scope)
    revealed = reveal_contact(
        db, holder=holder, viewer=user, cipher=get_cipher(request), actor=actor
    )
    sites = register.sites_of(db, holder_ids=[holder.id])
    _, rows = ledger.get_movements(
        db, scope=scope, filters=ledger.MovementFilter(holder_id=holder.id), limit=50
    )
    return render(
        request,
        "materials/holder.html",
        language=language,
        user=user,
        holder=holder,
        contact=masked_contact(holder, get_cipher(request)),
        revealed=revealed,
        can_unmask=True,
        can_write=auth.can(user, perms.WRITE),
        sites=sites,
        capacities=register.capacities_of(db, site_ids=[s.id for s in sites]),
        rows=rows,
        superseded=ledger.superseded_by(db, ids=[r.id for r in rows]),
        counts=ledger.get_counts(db, scope=scope, holder_id=holder.id, limit=20),
        names=_names(db, rows),
        milli=from_milli,
    )


@router.get("/materials/ledger", response_class=HTMLResponse)
def ledger_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """The movement ledger of your areas' holders as the shared table (append-only: a
    correction is a row of its own)."""
    result = tables.view(
        request,
        db,
        listing.movements_table(db, scope=scope, language=language),
        listing.movements_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("materials.ledger", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "materials/ledger.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        superseded=ledger.superseded_by(db, ids=[r[0].id for r in result.rows]),
    )


def _moment(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@router.get("/materials/reconciliation", response_class=HTMLResponse)
def reconciliation_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    start: Day | None = None,
    end: Day | None = None,
    holder: Annotated[Text | None, Query(max_length=32)] = None,
    opened: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> Response:
    """账实核对 of a period (days in the county's zone, both included; this month so far by
    default) for your areas' holders or one: balances and every discrepancy."""
    zone = get_settings(request).zone
    today = utcnow().astimezone(zone).date()
    first = start or today.replace(day=1)
    last = end or today
    error = None
    result = None
    names = None
    cases_of: dict[str, int | None] = {}
    try:
        if last < first:
            raise InvalidInput(key="error.materials.period_order", field="end")
        if (last - first).days > MAX_PERIOD_DAYS:
            raise InvalidInput(
                key="error.materials.period_long", params={"days": MAX_PERIOD_DAYS}, field="end"
            )
        holder_ids = None
        if holder:
            holder_ids = [register.get_holder_by_code_or_raise(db, code=holder, scope=scope).id]
        result = reconcile.reconcile(
            db,
            scope=scope,
            start=_moment(first, zone),
            end=_moment(last + timedelta(days=1), zone),
            now=utcnow(),
            zone=zone,
            holder_ids=holder_ids,
        )
        names = findings.Names.of(db, [*result.balances, *result.discrepancies])
        cases_of = findings.cases_of(db, fingerprints=[d.fingerprint for d in result.discrepancies])
    except FangkongError as exc:
        error = exc.text(language)
    return render(
        request,
        "materials/reconciliation.html",
        language=language,
        user=user,
        status_code=422 if error else 200,
        start=first,
        end=last,
        holder=holder or "",
        result=result,
        names=names,
        describe=(lambda d: findings.describe(d, names, language)) if names else None,
        cases_of=cases_of,
        error=error,
        milli=from_milli,
        moment=lambda s: datetime.fromtimestamp(s, UTC),
        can_open=auth.can(user, perms.WRITE) and auth.can(user, "cases.create"),
        opened=opened,
    )


@router.post(
    "/materials/reconciliation/cases",
    response_class=HTMLResponse,
    dependencies=[requires(perms.WRITE)],
)
def open_cases_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    actor: RequestActor,
    start: Annotated[Day, Form()],
    end: Annotated[Day, Form()],
    holder: Annotated[Text, Form(max_length=32)] = "",
) -> Response:
    """Open a case for each discrepancy of the period that has none; back to the page."""
    auth.require(user, "cases.create")
    zone = get_settings(request).zone
    if end < start or (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput(key="error.materials.period_order", field="end")
    holder_ids = None
    if holder:
        holder_ids = [register.get_holder_by_code_or_raise(db, code=holder, scope=scope).id]
    result = reconcile.reconcile(
        db,
        scope=scope,
        start=_moment(start, zone),
        end=_moment(end + timedelta(days=1), zone),
        now=utcnow(),
        zone=zone,
        holder_ids=holder_ids,
    )
    opened, _ = findings.open_cases(
        db,
        discrepancies=result.discrepancies,
        user=user,
        actor=actor,
        now=utcnow(),
        calendar=get_calendar(request),
    )
    target = f"/materials/reconciliation?start={start}&end={end}&opened={len(opened)}"
    if holder:
        target += f"&holder={holder}"
    return RedirectResponse(target, status_code=303)
