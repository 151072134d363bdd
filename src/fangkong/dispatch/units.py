"""Police posts and units: registration, reads in scope, and units' position reports.

A unit is in scope when its home area is; out of scope reads as not found.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas import service as area_service
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.db import utcnow
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.models import User
from fangkong.core.scoping import Scope
from fangkong.dispatch import permissions as perms
from fangkong.dispatch._common import require
from fangkong.dispatch.models import (
    Post,
    PostKind,
    Unit,
    UnitStatus,
    UnitType,
)


def create_post(
    session: Session,
    *,
    code: str,
    name: str,
    kind: PostKind,
    lon: float,
    lat: float,
    actor: Actor,
    scope: Scope | None = None,
    user: User | None = None,
) -> Post:
    """Register a police post at (lon, lat), placed in its areas (which must lie in ``scope``)."""
    require(user, perms.UNITS)
    code, name = code.strip(), name.strip()
    if not code or len(code) > 32:
        raise InvalidInput(key="error.dispatch.post_code_length", field="code")
    if not name or len(name) > 128:
        raise InvalidInput(key="error.dispatch.post_name_length", field="name")
    if session.scalars(select(Post.id).where(Post.code == code)).first() is not None:
        raise Conflict(key="error.dispatch.post_code_taken", params={"code": code}, field="code")
    lon, lat, chain = area_service.locate(session, lon=lon, lat=lat)
    leaf = chain[-1] if chain else None
    if leaf is None or (scope is not None and not scope.covers(leaf.path)):
        raise InvalidInput(
            key="error.areas.point_outside", params={"lon": lon, "lat": lat}, field="lon"
        )
    post = Post(
        code=code,
        name=name,
        kind=kind,
        lon=lon,
        lat=lat,
        h3_cell=h3_cell(lon, lat),
        area_id=leaf.id,
        area_path=leaf.path,
    )
    session.add(post)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="police_post",
        entity_id=post.id,
        detail={"code": code, "kind": kind.value, "area": leaf.code},
        area_path=post.area_path,
    )
    return post


def get_posts(session: Session, *, scope: Scope) -> list[Post]:
    """Posts in ``scope``, by code."""
    return list(
        session.scalars(select(Post).where(scope.clause(Post.area_path)).order_by(Post.code))
    )


def get_post_by_code_or_raise(session: Session, *, code: str, scope: Scope | None) -> Post:
    query = select(Post).where(Post.code == code)
    if scope is not None:
        query = query.where(scope.clause(Post.area_path))
    post = session.scalars(query).one_or_none()
    if post is None:
        raise NotFound(
            key="error.dispatch.post_not_found", params={"code": code}, field="home_post_code"
        )
    return post


def create_unit(
    session: Session,
    *,
    call_sign: str,
    unit_type: UnitType,
    home_area: Area,
    actor: Actor,
    staged: bool = False,
    home_post: Post | None = None,
    now: datetime | None = None,
    user: User | None = None,
) -> Unit:
    """Register a unit based in ``home_area``; it starts available. A unit based at
    ``home_post`` starts at the post's position (reported at ``now``), else with none."""
    require(user, perms.UNITS)
    call_sign = call_sign.strip()
    if not call_sign or len(call_sign) > 32:
        raise InvalidInput(key="error.dispatch.call_sign_length", field="call_sign")
    if session.scalars(select(Unit.id).where(Unit.call_sign == call_sign)).first() is not None:
        raise Conflict(
            key="error.dispatch.call_sign_taken", params={"call_sign": call_sign}, field="call_sign"
        )
    unit = Unit(
        call_sign=call_sign,
        unit_type=unit_type,
        home_area_id=home_area.id,
        home_area_path=home_area.path,
        status=UnitStatus.AVAILABLE,
        staged=staged,
    )
    if home_post is not None:
        unit.home_post_id = home_post.id
        unit.lon, unit.lat, unit.position_at = home_post.lon, home_post.lat, now or utcnow()
    session.add(unit)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="unit",
        entity_id=unit.id,
        detail={
            "call_sign": call_sign,
            "type": unit_type.value,
            "home_area": home_area.code,
            "home_post": home_post.code if home_post else None,
        },
        area_path=unit.home_area_path,
    )
    return unit


def get_unit_or_raise(session: Session, *, unit_id: int, scope: Scope | None) -> Unit:
    query = select(Unit).where(Unit.id == unit_id)
    if scope is not None:
        query = query.where(scope.clause(Unit.home_area_path))
    unit = session.scalars(query).one_or_none()
    if unit is None:
        raise NotFound(
            key="error.dispatch.unit_not_found", params={"unit_id": unit_id}, field="unit_id"
        )
    return unit


def get_units(
    session: Session,
    *,
    scope: Scope,
    status: UnitStatus | None = None,
    unit_type: UnitType | None = None,
) -> list[Unit]:
    """Units based in ``scope``, by call sign."""
    query = select(Unit).where(scope.clause(Unit.home_area_path))
    if status is not None:
        query = query.where(Unit.status == status)
    if unit_type is not None:
        query = query.where(Unit.unit_type == unit_type)
    return list(session.scalars(query.order_by(Unit.call_sign)))


def report_position(
    session: Session,
    *,
    unit: Unit,
    lon: float,
    lat: float,
    now: datetime,
    staged: bool | None = None,
    status: UnitStatus | None = None,
    user: User | None = None,
) -> Unit:
    """Replace the unit's latest position (no history is kept); optionally its staged flag
    and a status change to or from ``out_of_service`` / ``available``."""
    require(user, perms.POSITION)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            key="error.dispatch.position_range", params={"lon": lon, "lat": lat}, field="lon"
        )
    # Where the county's areas are: a unit reports from its county, never from lon 91.
    if int(area_index.get(session).locate([lon], [lat])[0]) < 0:
        raise InvalidInput(
            key="error.dispatch.position_outside",
            params={"lon": f"{lon:.6f}", "lat": f"{lat:.6f}"},
            field="lon",
        )
    unit.lon, unit.lat, unit.position_at = lon, lat, now
    if staged is not None:
        unit.staged = staged
    if status is not None and status != unit.status:
        idle = (UnitStatus.AVAILABLE, UnitStatus.OUT_OF_SERVICE)
        if status not in idle or unit.status not in idle:
            raise Conflict(
                key="error.dispatch.position_status",
                params={"call_sign": unit.call_sign, "status": unit.status.value},
                field="status",
            )
        unit.status = status
    session.flush()
    return unit
