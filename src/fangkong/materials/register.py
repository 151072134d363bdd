"""The registers of hazardous materials: the catalogue of materials, licensed holders and their
storage sites with capacities, and the county's tolerances.

A holder is a unit, never a person: the one personal field is its responsible contact (name
and phone), stored encrypted (see :mod:`fangkong.materials.personal`). Holders are placed in
their areas and read by users whose scope covers them; their sites, ledger rows and counts
are filed under the holder's area.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, as_system
from fangkong.core.security import FieldCipher
from fangkong.core.text_match import contains_literal, contains_text
from fangkong.materials._common import check_code, check_name, place
from fangkong.materials.models import (
    Holder,
    Material,
    MaterialClass,
    Site,
    SiteCapacity,
    Tolerance,
)
from fangkong.materials.reconcile import DEFAULT_TOLERANCES, ClassTolerance
from fangkong.materials.schemas import HolderIn, MaterialIn, SiteIn, ToleranceIn
from fangkong.materials.units import check_units

# --- materials ---------------------------------------------------------------------------------


def get_materials(session: Session) -> list[Material]:
    return list(session.scalars(select(Material).order_by(Material.code)))


def get_material_by_code_or_raise(session: Session, *, code: str) -> Material:
    material = session.scalars(select(Material).where(Material.code == code)).one_or_none()
    if material is None:
        raise NotFound(
            key="error.materials.material_unknown",
            params={"code": code[:32]},
            field="material_code",
        )
    return material


def create_material(session: Session, *, data: MaterialIn, actor: Actor) -> Material:
    """Add a material to the catalogue (its code is unique)."""
    code = check_code(data.code)
    if session.scalars(select(Material.id).where(Material.code == code)).first() is not None:
        raise Conflict(key="error.materials.material_exists", params={"code": code}, field="code")
    material = Material(
        code=code,
        name_zh=check_name(data.name_zh, field="name_zh"),
        name_en=data.name_en.strip() or data.name_zh.strip(),
        material_class=data.material_class,
        base_unit=data.base_unit,
        units=check_units(data.base_unit, dict(data.units)),
    )
    session.add(material)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="material",
        entity_id=material.id,
        detail={"code": code},
    )
    return material


# --- holders -----------------------------------------------------------------------------------


def get_holder(session: Session, *, holder_id: int, scope: Scope | None) -> Holder | None:
    holder = session.get(Holder, holder_id)
    if holder is None or (scope is not None and not scope.covers(holder.area_path)):
        return None
    return holder


def get_holder_or_raise(session: Session, *, holder_id: int, scope: Scope | None) -> Holder:
    """The holder; one outside ``scope`` reads as not found."""
    holder = get_holder(session, holder_id=holder_id, scope=scope)
    if holder is None:
        raise NotFound(
            key="error.materials.holder_not_found", params={"id": holder_id}, field="holder_id"
        )
    return holder


def get_holder_by_code_or_raise(
    session: Session, *, code: str, scope: Scope | None, field: str = "holder_code"
) -> Holder:
    with as_system(session):  # read, then judged against ``scope`` here
        holder = session.scalars(select(Holder).where(Holder.code == code)).one_or_none()
    if holder is None or (scope is not None and not scope.covers(holder.area_path)):
        raise NotFound(
            key="error.materials.holder_unknown", params={"code": code[:32]}, field=field
        )
    return holder


@dataclass(frozen=True)
class HolderFilter:
    text: str | None = None
    kind: str | None = None
    material_class: MaterialClass | None = None
    area_path: str | None = None
    active: bool | None = None


def holders_query(scope: Scope, filters: HolderFilter = HolderFilter()) -> Select[Holder]:
    """Holders in ``scope`` matching ``filters`` (a select to page, sort or export)."""
    query = select(Holder).where(scope.clause(Holder.area_path))
    if filters.text:
        query = query.where(
            contains_text(filters.text, Holder.code, Holder.name, Holder.licence_no)
        )
    if filters.kind:
        query = query.where(Holder.kind == filters.kind)
    if filters.area_path:
        query = query.where(Holder.area_path.startswith(filters.area_path, autoescape=True))
    if filters.material_class is not None:
        # The licence's classes are a JSON list of names: its text holds the quoted name.
        query = query.where(
            contains_literal(
                f'"{filters.material_class.value}"', cast(Holder.licence_classes, String)
            )
        )
    if filters.active is True:
        query = query.where(Holder.deregistered_at.is_(None))
    elif filters.active is False:
        query = query.where(Holder.deregistered_at.is_not(None))
    return query


def get_holders(
    session: Session,
    *,
    scope: Scope,
    filters: HolderFilter = HolderFilter(),
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Holder]]:
    """Holders in scope matching ``filters``, by code: (total, page)."""
    query = holders_query(scope, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Holder.code).limit(limit).offset(offset))
    return int(total), list(page)


def _contact(cipher: FieldCipher, value: str | None) -> str | None:
    value = (value or "").strip()
    return cipher.encrypt(value) if value else None


def _check_licence(data: HolderIn) -> None:
    if (
        data.licence_from is not None
        and data.licence_until is not None
        and data.licence_until < data.licence_from
    ):
        raise InvalidInput(key="error.materials.licence_dates", field="licence_until")


def create_holder(
    session: Session, *, data: HolderIn, actor: Actor, cipher: FieldCipher, scope: Scope | None
) -> Holder:
    """Register a licensed holder at its point (in ``scope``); its contact is encrypted."""
    code = check_code(data.code)
    with as_system(session):  # a code is unique across the county, seen or not
        taken = session.scalars(select(Holder.id).where(Holder.code == code)).first()
    if taken is not None:
        raise Conflict(key="error.materials.holder_exists", params={"code": code}, field="code")
    _check_licence(data)
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=scope)
    holder = Holder(
        code=code,
        name=check_name(data.name),
        kind=data.kind,
        licence_no=data.licence_no.strip(),
        licence_classes=sorted({c.value for c in data.licence_classes}),
        licence_from=data.licence_from,
        licence_until=data.licence_until,
        address=data.address.strip(),
        lon=data.lon,
        lat=data.lat,
        h3_cell=cell,
        area_id=area_id,
        area_path=area_path,
        contact_name_encrypted=_contact(cipher, data.contact_name),
        contact_phone_encrypted=_contact(cipher, data.contact_phone),
    )
    session.add(holder)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="material_holder",
        entity_id=holder.id,
        detail={"code": code},
        area_path=area_path,
    )
    return holder


def update_holder(
    session: Session,
    *,
    holder: Holder,
    data: HolderIn,
    actor: Actor,
    cipher: FieldCipher,
    scope: Scope | None,
    keep_contact: bool = False,
) -> Holder:
    """Change a holder's name, kind, licence, address, place and contact (its code stays;
    with ``keep_contact`` the contact stays as it is, whatever ``data`` holds: the console's
    form never shows it in clear). Moved to another area, its ledger rows and counts move with
    it."""
    if data.code.strip() != holder.code:
        raise InvalidInput(key="error.materials.code_fixed", field="code")
    _check_licence(data)
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=scope)
    holder.name = check_name(data.name)
    holder.kind = data.kind
    holder.licence_no = data.licence_no.strip()
    holder.licence_classes = sorted({c.value for c in data.licence_classes})
    holder.licence_from = data.licence_from
    holder.licence_until = data.licence_until
    holder.address = data.address.strip()
    holder.lon, holder.lat, holder.h3_cell = data.lon, data.lat, cell
    if holder.area_path != area_path:
        _refile(session, holder, area_path)
    holder.area_id, holder.area_path = area_id, area_path
    if not keep_contact:
        holder.contact_name_encrypted = _contact(cipher, data.contact_name)
        holder.contact_phone_encrypted = _contact(cipher, data.contact_phone)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="material_holder",
        entity_id=holder.id,
        detail={"code": holder.code},
        area_path=area_path,
    )
    return holder


def _refile(session: Session, holder: Holder, area_path: str) -> None:
    """A holder that moved areas: its books go with it. Ledger rows are append-only, so the
    move is refused once the holder has any (register it anew under a new code)."""
    from fangkong.materials.models import Movement, StockCount

    has_rows = (
        session.scalars(select(Movement.id).where(Movement.holder_id == holder.id).limit(1)).first()
        or session.scalars(
            select(StockCount.id).where(StockCount.holder_id == holder.id).limit(1)
        ).first()
    )
    if has_rows is not None:
        raise Conflict(key="error.materials.holder_moves_books", field="lon")


def deregister_holder(session: Session, *, holder: Holder, actor: Actor, now: datetime) -> Holder:
    """The holder no longer holds materials: movements after ``now`` are unlicensed, and its
    contact goes after the register's retention."""
    if holder.deregistered_at is not None:
        raise Conflict(key="error.materials.holder_deregistered", field="holder_id")
    holder.deregistered_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="deregister",
        entity="material_holder",
        entity_id=holder.id,
        area_path=holder.area_path,
    )
    return holder


# --- sites ------------------------------------------------------------------------------------


def get_site_by_code_or_raise(
    session: Session, *, code: str, scope: Scope | None, field: str = "site_code"
) -> Site:
    """The site ``code`` of a holder in ``scope``."""
    site = session.scalars(select(Site).where(Site.code == code)).one_or_none()
    if site is not None and scope is not None:
        with as_system(session):
            holder = session.get(Holder, site.holder_id)
        if holder is None or not scope.covers(holder.area_path):
            site = None
    if site is None:
        raise NotFound(key="error.materials.site_unknown", params={"code": code[:32]}, field=field)
    return site


def get_site_or_raise(session: Session, *, site_id: int, scope: Scope | None) -> Site:
    """The site ``site_id`` of a holder in ``scope``; another reads as not found."""
    site = session.get(Site, site_id)
    if site is not None and scope is not None:
        with as_system(session):
            holder = session.get(Holder, site.holder_id)
        if holder is None or not scope.covers(holder.area_path):
            site = None
    if site is None:
        raise NotFound(
            key="error.materials.site_not_found", params={"id": site_id}, field="site_id"
        )
    return site


def sites_of(session: Session, *, holder_ids: list[int]) -> list[Site]:
    if not holder_ids:
        return []
    return list(
        session.scalars(select(Site).where(Site.holder_id.in_(holder_ids)).order_by(Site.code))
    )


def site_counts(session: Session, *, holder_ids: list[int]) -> dict[int, int]:
    if not holder_ids:
        return {}
    return {
        holder_id: int(n)
        for holder_id, n in session.execute(
            select(Site.holder_id, func.count(Site.id))
            .where(Site.holder_id.in_(holder_ids))
            .group_by(Site.holder_id)
        )
    }


def capacities_of(session: Session, *, site_ids: list[int]) -> dict[int, list[SiteCapacity]]:
    found: dict[int, list[SiteCapacity]] = {i: [] for i in site_ids}
    if site_ids:
        for cap in session.scalars(
            select(SiteCapacity)
            .where(SiteCapacity.site_id.in_(site_ids))
            .order_by(SiteCapacity.material_class, SiteCapacity.unit)
        ):
            found[cap.site_id].append(cap)
    return found


def create_site(session: Session, *, data: SiteIn, actor: Actor, scope: Scope | None) -> Site:
    """Register a site of a holder in ``scope``, with its capacities per class and unit."""
    code = check_code(data.code)
    holder = get_holder_by_code_or_raise(session, code=data.holder_code, scope=scope)
    with as_system(session):  # a code is unique across the county, seen or not
        taken = session.scalars(select(Site.id).where(Site.code == code)).first()
    if taken is not None:
        raise Conflict(key="error.materials.site_exists", params={"code": code}, field="code")
    # The site itself may lie outside the caller's areas (a magazine out of town): placed in
    # whatever area holds it, filed under its holder.
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=None)
    site = Site(
        code=code,
        holder_id=holder.id,
        name=check_name(data.name),
        kind=data.kind,
        lon=data.lon,
        lat=data.lat,
        h3_cell=cell,
        area_id=area_id,
        area_path=area_path,
    )
    session.add(site)
    session.flush()
    set_capacities(session, site=site, capacities=data.capacities)
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="material_site",
        entity_id=site.id,
        detail={"code": code, "holder": holder.code},
        area_path=holder.area_path,
    )
    return site


def update_site(
    session: Session, *, site: Site, data: SiteIn, actor: Actor, scope: Scope | None
) -> Site:
    """Change a site's name, kind, point and capacities (its code and its holder stay)."""
    if data.code.strip() != site.code:
        raise InvalidInput(key="error.materials.site_code_fixed", field="code")
    holder = get_holder_by_code_or_raise(session, code=data.holder_code, scope=scope)
    if holder.id != site.holder_id:
        raise InvalidInput(key="error.materials.site_holder", field="holder_code")
    # Wherever it stands, as when registered: filed under its holder.
    area_id, area_path, cell = place(session, lon=data.lon, lat=data.lat, scope=None)
    site.name = check_name(data.name)
    site.kind = data.kind
    site.lon, site.lat, site.h3_cell = data.lon, data.lat, cell
    site.area_id, site.area_path = area_id, area_path
    set_capacities(session, site=site, capacities=data.capacities)
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="material_site",
        entity_id=site.id,
        detail={"code": site.code, "holder": holder.code},
        area_path=holder.area_path,
    )
    return site


def set_capacities(session: Session, *, site: Site, capacities: list) -> None:  # type: ignore[type-arg]
    """Replace the site's capacities (one per class and unit)."""
    seen: set[tuple[str, str]] = set()
    for cap in capacities:
        key = (cap.material_class.value, cap.unit.value)
        if key in seen:
            raise InvalidInput(
                key="error.materials.capacity_repeats",
                params={"material_class": key[0], "unit": key[1]},
                field="capacities",
            )
        seen.add(key)
    for old in session.scalars(select(SiteCapacity).where(SiteCapacity.site_id == site.id)):
        session.delete(old)
    session.flush()
    for cap in capacities:
        session.add(
            SiteCapacity(
                site_id=site.id,
                material_class=cap.material_class,
                unit=cap.unit,
                capacity_milli=int(Decimal(repr(float(cap.capacity))) * 1000),
            )
        )
    session.flush()


# --- tolerances -------------------------------------------------------------------------------


def get_tolerances(session: Session) -> list[tuple[MaterialClass, ClassTolerance, bool]]:
    """Each class's tolerance and whether it is the default."""
    rows = {r.material_class: r for r in session.scalars(select(Tolerance))}
    found = []
    for cls in MaterialClass:
        row = rows.get(cls)
        if row is None:
            found.append((cls, DEFAULT_TOLERANCES[cls], True))
        else:
            found.append(
                (cls, ClassTolerance(row.relative, row.absolute_milli, row.window_hours), False)
            )
    return found


def set_tolerance(
    session: Session, *, material_class: MaterialClass, data: ToleranceIn, actor: Actor
) -> Tolerance:
    """Set the county's tolerance of a class (over the default)."""
    row = session.get(Tolerance, material_class)
    if row is None:
        row = Tolerance(material_class=material_class)
        session.add(row)
    row.relative = data.relative
    row.absolute_milli = round(data.absolute * 1000)
    row.window_hours = data.window_hours
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="set_tolerance",
        entity="material_tolerance",
        entity_id=material_class.value,
        detail={
            "relative": data.relative,
            "absolute": data.absolute,
            "window_hours": data.window_hours,
        },
    )
    return row
