"""REST API of the jurisdiction tree, the fusion check, point lookup and standard addresses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from fangkong.areas import index as area_index
from fangkong.areas import permissions as area_perms
from fangkong.areas import service
from fangkong.areas.coords import CoordSystem, to_wgs84_array
from fangkong.areas.geometry import h3_cell, to_geojson
from fangkong.areas.models import Area, AreaLevel
from fangkong.areas.schemas import (
    AddressIn,
    AddressOut,
    AreaNode,
    AreaOut,
    FusionReportOut,
    FusionViolationOut,
    ImportReportOut,
    LocateOut,
)
from fangkong.core.bounds import JsonObject, Latitude, Longitude, Offset, Text
from fangkong.core.errors import InvalidInput
from fangkong.http.deps import DbSession, Language, RequestActor, UserScope, requires

router = APIRouter(tags=["areas"], dependencies=[requires(area_perms.READ)])

MAX_BATCH_POINTS = 100_000
#: The largest GeoJSON the area import takes (its route's body limit, see web/app.py).
MAX_IMPORT_BYTES = 32 << 20


@router.get("/areas", response_model=list[AreaOut])
def list_areas(
    db: DbSession, scope: UserScope, level: AreaLevel | None = None, parent_code: Text | None = None
) -> list[Area]:
    """Areas within your scope, optionally of one level or under one parent."""
    return service.get_all(db, scope=scope, level=level, parent_code=parent_code)


@router.get("/areas/tree", response_model=list[AreaNode])
def area_tree(db: DbSession, scope: UserScope) -> list[AreaNode]:
    """Your areas as a tree: the roots are the areas you are bound to."""
    areas = service.get_all(db, scope=scope)
    nodes = {a.id: AreaNode.model_validate(a) for a in areas}
    roots: list[AreaNode] = []
    for a in areas:
        parent = nodes.get(a.parent_id) if a.parent_id is not None else None
        (parent.children if parent else roots).append(nodes[a.id])
    return roots


@router.get("/areas/geojson")
def areas_geojson(
    db: DbSession,
    scope: UserScope,
    language: Language,
    level: AreaLevel | None = None,
    simplify_m: Annotated[float, Query(ge=0, le=500)] = 5.0,
) -> dict[str, Any]:
    """Areas within your scope as GeoJSON for maps, simplified to about ``simplify_m`` metres."""
    areas = service.get_all(db, scope=scope, level=level)
    return service.feature_collection(areas, tolerance_deg=simplify_m / 111_000, language=language)


@router.post(
    "/areas/import",
    response_model=ImportReportOut,
    status_code=201,
    dependencies=[requires(area_perms.WRITE)],
)
def import_areas(
    db: DbSession,
    scope: UserScope,
    actor: RequestActor,
    data: Annotated[JsonObject, Body(description="GeoJSON FeatureCollection")],
    crs: CoordSystem = CoordSystem.WGS84,
) -> ImportReportOut:
    """Import areas from GeoJSON, all or nothing (see the README for the properties)."""
    report = service.import_geojson(db, data=data, crs=crs, actor=actor, scope=scope)
    return ImportReportOut(created=report.created, by_level=report.by_level)


@router.get("/areas/fusion-check", response_model=FusionReportOut)
def fusion_check(
    db: DbSession,
    scope: UserScope,
    tolerance_m2: Annotated[float, Query(ge=0)] = service.DEFAULT_FUSION_TOLERANCE_M2,
) -> FusionReportOut:
    """Grid fusion check of the stations in your scope; each fault with codes and area in m²."""
    report = service.fusion_check(db, scope=scope, tolerance_m2=tolerance_m2)
    return FusionReportOut(
        checked_stations=report.checked_stations,
        checked_beats=report.checked_beats,
        tolerance_m2=report.tolerance_m2,
        violations=[
            FusionViolationOut(
                kind=v.kind,
                codes=list(v.codes),
                area_m2=round(v.area_m2, 2),
                geometry=to_geojson(v.geometry) if v.geometry is not None else None,
            )
            for v in report.violations
        ],
    )


@router.get("/areas/locate", response_model=LocateOut)
def locate(
    db: DbSession,
    scope: UserScope,
    lon: Longitude,
    lat: Latitude,
    crs: CoordSystem = CoordSystem.WGS84,
) -> LocateOut:
    """The areas holding a point (within your scope) and its H3 cell."""
    lon, lat, chain = service.locate(db, lon=lon, lat=lat, crs=crs, scope=scope)
    return LocateOut(
        lon=lon,
        lat=lat,
        h3_cell=h3_cell(lon, lat),
        areas=[AreaOut.model_validate(a) for a in chain],
    )


class BatchLocateIn(BaseModel):
    lons: list[Longitude] = Field(max_length=MAX_BATCH_POINTS)
    lats: list[Latitude] = Field(max_length=MAX_BATCH_POINTS)
    crs: CoordSystem = CoordSystem.WGS84


class BatchLocateOut(BaseModel):
    area_codes: list[str | None] = Field(description="Deepest area code per point, or null")


@router.post("/areas/locate", response_model=BatchLocateOut)
def locate_batch(db: DbSession, scope: UserScope, body: BatchLocateIn) -> BatchLocateOut:
    """Deepest area of many points at once (up to 100,000); out-of-scope points give null."""
    if len(body.lons) != len(body.lats):
        raise InvalidInput(key="error.areas.lengths_differ", field="lats")
    lons, lats = to_wgs84_array(body.lons, body.lats, body.crs)
    index = area_index.get(db)
    ids = index.locate(lons, lats)
    wanted = {int(i) for i in set(ids.tolist()) if i >= 0}
    codes = {
        a.id: a.code for a in db.query(Area).filter(Area.id.in_(wanted)) if scope.covers(a.path)
    }
    return BatchLocateOut(area_codes=[codes.get(int(i)) for i in ids])


@router.get("/areas/{code}", response_model=AreaOut)
def read_area(code: Text, db: DbSession, scope: UserScope) -> Area:
    return service.get_by_code_or_raise(db, code=code, scope=scope)


@router.get("/addresses", response_model=dict[str, Any])
def list_addresses(
    db: DbSession,
    scope: UserScope,
    area_code: Text | None = None,
    q: Annotated[Text | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Standard addresses within your scope: ``{"total": n, "items": [...]}``."""
    total, page = service.get_addresses(
        db, scope=scope, area_code=area_code, text=q, limit=limit, offset=offset
    )
    return {"total": total, "items": [AddressOut.model_validate(a).model_dump() for a in page]}


@router.get("/addresses/search", response_model=list[AddressOut])
def search_addresses(
    db: DbSession,
    scope: UserScope,
    q: Annotated[Text, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=service.MAX_SUGGESTIONS)] = 10,
) -> list[AddressOut]:
    """Suggestions of standard addresses within your scope for what was typed: a code
    prefix, Chinese or English text (accents and case aside), full pinyin or its initials
    ("zhongshan" or "zs" find 中山路); code prefixes first."""
    found = service.search_addresses(db, scope=scope, q=q, limit=limit)
    return [AddressOut.model_validate(a) for a in found]


@router.post(
    "/addresses",
    response_model=AddressOut,
    status_code=201,
    dependencies=[requires(area_perms.WRITE)],
)
def create_address(
    body: AddressIn, db: DbSession, scope: UserScope, actor: RequestActor
) -> AddressOut:
    """Register a standard address; the point may be given in GCJ-02 or BD-09 (``crs``)."""
    address = service.create_address(
        db,
        code=body.code,
        text_zh=body.text_zh,
        text_en=body.text_en,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        actor=actor,
        scope=scope,
    )
    return AddressOut.model_validate(address)
