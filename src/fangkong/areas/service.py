"""The jurisdiction tree, grid fusion check, point-to-area lookup and standard addresses."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.areas.coords import CoordinateError, CoordSystem, to_wgs84, to_wgs84_array
from fangkong.areas.geometry import GeometryError, area_m2, h3_cell, parse_polygon, to_geojson
from fangkong.areas.models import LEVELS, Area, AreaLevel, StandardAddress
from fangkong.areas.search import fold, search_key
from fangkong.core import audit, partitions
from fangkong.core.audit import Actor
from fangkong.core.county import county_of
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope, common_path, whole_tree
from fangkong.core.text_match import contains_text

DEFAULT_FUSION_TOLERANCE_M2 = 1.0


def geometry(area: Area) -> MultiPolygon:
    geom = shapely.from_wkb(area.geometry_wkb)
    assert isinstance(geom, MultiPolygon)
    return geom


def _check_child_level(
    level: AreaLevel, parent: Area | None, *, code: str, position: int | None = None
) -> None:
    """Refuse an area whose level does not follow its parent's: ``position`` names the
    feature of an imported file, else the area is named by its code."""
    if parent is None:
        if level is AreaLevel.CITY:
            return
        if position is None:
            raise InvalidInput(
                key="error.areas.needs_parent",
                params={"code": code, "level": level.value},
                field="parent_code",
            )
        raise InvalidInput(
            key="error.areas.feature_needs_parent",
            params={"position": position, "code": code, "level": level.value},
            field="parent_code",
        )
    expected = LEVELS[parent.level.depth + 1] if parent.level.depth + 1 < len(LEVELS) else None
    if expected is level:
        return
    if expected is None:
        if position is None:
            raise InvalidInput(
                key="error.areas.under_leaf",
                params={"code": code, "level": level.value, "parent_code": parent.code},
                field="level",
            )
        raise InvalidInput(
            key="error.areas.feature_under_leaf",
            params={
                "position": position,
                "code": code,
                "level": level.value,
                "parent_code": parent.code,
            },
            field="level",
        )
    if position is None:
        raise InvalidInput(
            key="error.areas.wrong_level",
            params={
                "code": code,
                "level": level.value,
                "parent_level": parent.level.value,
                "parent_code": parent.code,
                "expected": expected.value,
            },
            field="level",
        )
    raise InvalidInput(
        key="error.areas.feature_wrong_level",
        params={
            "position": position,
            "code": code,
            "level": level.value,
            "parent_level": parent.level.value,
            "parent_code": parent.code,
            "expected": expected.value,
        },
        field="level",
    )


def _insert(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    level: AreaLevel,
    parent: Area | None,
    geom: MultiPolygon,
    source: str,
) -> Area:
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    area = Area(
        code=code,
        name_zh=name_zh,
        name_en=name_en or name_zh,
        level=level,
        parent_id=parent.id if parent else None,
        geometry_wkb=shapely.to_wkb(geom),
        min_lon=min_lon,
        min_lat=min_lat,
        max_lon=max_lon,
        max_lat=max_lat,
        area_m2=area_m2(geom),
        source=source,
    )
    session.add(area)
    session.flush()
    area.path = f"{parent.path if parent else '/'}{area.id}/"
    session.flush()
    if county_of(area.path) == area.id:  # a county: its partitions (PostgreSQL)
        partitions.add_county(session.connection(), area.id)
    return area


def create(
    session: Session,
    *,
    code: str,
    name_zh: str,
    name_en: str,
    level: AreaLevel,
    geom: MultiPolygon,
    actor: Actor,
    parent_code: str | None = None,
    source: str = "import",
) -> Area:
    """Add one area under the area with ``parent_code`` (checked against the tree's levels)."""
    if get_by_code(session, code=code) is not None:
        raise Conflict(key="error.areas.area_exists", params={"code": code}, field="code")
    parent = get_by_code_or_raise(session, code=parent_code) if parent_code else None
    _check_child_level(level, parent, code=code)
    area = _insert(
        session,
        code=code,
        name_zh=name_zh,
        name_en=name_en,
        level=level,
        parent=parent,
        geom=geom,
        source=source,
    )
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="area",
        entity_id=area.id,
        detail={"code": code, "level": level.value},
        area_path=area.path,
    )
    return area


def get_by_code(session: Session, *, code: str) -> Area | None:
    return session.scalars(select(Area).where(Area.code == code)).one_or_none()


def get_by_code_or_raise(session: Session, *, code: str, scope: Scope | None = None) -> Area:
    """The area with ``code``; out of scope reads as not found, so codes do not leak."""
    area = get_by_code(session, code=code)
    if area is None or (scope is not None and not scope.covers(area.path)):
        raise NotFound(key="error.areas.area_not_found", params={"code": code}, field="code")
    return area


def get_all(
    session: Session,
    *,
    scope: Scope,
    level: AreaLevel | None = None,
    parent_code: str | None = None,
) -> list[Area]:
    query = select(Area).where(scope.clause(Area.path)).order_by(Area.path)
    if level is not None:
        query = query.where(Area.level == level)
    if parent_code is not None:
        parent = get_by_code_or_raise(session, code=parent_code, scope=scope)
        query = query.where(Area.parent_id == parent.id)
    return list(session.scalars(query))


def ancestors(session: Session, *, area: Area) -> list[Area]:
    """The area's ancestors and itself, top down."""
    ids = [int(part) for part in area.path.strip("/").split("/") if part]
    by_id = {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(ids)))}
    return [by_id[i] for i in ids if i in by_id]


def count_by_level(session: Session, *, scope: Scope) -> dict[str, int]:
    rows = session.execute(
        select(Area.level, func.count(Area.id)).where(scope.clause(Area.path)).group_by(Area.level)
    ).all()
    counts = {level.value: 0 for level in LEVELS}
    counts.update({row[0].value: int(row[1]) for row in rows})
    return counts


def feature_collection(
    areas: list[Area], *, tolerance_deg: float = 0.0, language: str = "zh-CN"
) -> dict[str, Any]:
    """Areas as a GeoJSON FeatureCollection for the map (simplified when asked)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": a.id,
                "properties": {
                    "id": a.id,
                    "code": a.code,
                    "name": a.name(language),
                    "name_zh": a.name_zh,
                    "name_en": a.name_en,
                    "level": a.level.value,
                    "parent_id": a.parent_id,
                    "area_km2": round(a.area_m2 / 1e6, 3),
                },
                "geometry": to_geojson(geometry(a), tolerance_deg=tolerance_deg),
            }
            for a in areas
        ],
    }


# --- import ---------------------------------------------------------------------------------


@dataclass
class _Feature:
    position: int
    code: str
    name_zh: str
    name_en: str
    level: AreaLevel
    parent_code: str | None
    geom: MultiPolygon


@dataclass
class ImportReport:
    created: int = 0
    by_level: dict[str, int] = field(default_factory=dict)


def _read_feature(position: int, feature: Any, crs: CoordSystem) -> _Feature:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidInput(
            key="error.areas.not_a_feature", params={"position": position}, field="features"
        )
    props = feature.get("properties") or {}
    code = str(props.get("code") or "").strip()
    if not code:
        raise InvalidInput(
            key="error.areas.feature_no_code", params={"position": position}, field="code"
        )
    if len(code) > 32:
        raise InvalidInput(
            key="error.areas.feature_code_long",
            params={"position": position, "code": code},
            field="code",
        )
    name_zh = str(props.get("name_zh") or props.get("name") or "").strip()
    if not name_zh:
        raise InvalidInput(
            key="error.areas.feature_no_name",
            params={"position": position, "code": code},
            field="name_zh",
        )
    try:
        level = AreaLevel(str(props.get("level")))
    except ValueError:
        raise InvalidInput(
            key="error.areas.feature_level",
            params={
                "position": position,
                "code": code,
                "level": props.get("level"),
                "levels": ", ".join(lv.value for lv in LEVELS),
            },
            field="level",
        ) from None
    try:
        geom = parse_polygon(feature.get("geometry"))
        if crs is not CoordSystem.WGS84:
            geom = _convert_geometry(geom, crs)
    except ValueError as exc:
        # A geometry's or a coordinate's fault (in the reader's language), else the words of
        # the geometry library.
        reason = exc if isinstance(exc, GeometryError | CoordinateError) else str(exc)
        raise InvalidInput(
            key="error.areas.feature_fault",
            params={"position": position, "code": code, "reason": reason},
            field="geometry",
        ) from None
    parent_code = props.get("parent_code")
    return _Feature(
        position=position,
        code=code,
        name_zh=name_zh,
        name_en=str(props.get("name_en") or name_zh).strip(),
        level=level,
        parent_code=str(parent_code).strip() if parent_code else None,
        geom=geom,
    )


def _convert_geometry(geom: MultiPolygon, crs: CoordSystem) -> MultiPolygon:
    def convert(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lons, lats = to_wgs84_array(coords[:, 0], coords[:, 1], crs)
        return np.column_stack([lons, lats])

    converted = shapely.transform(geom, convert)
    assert isinstance(converted, MultiPolygon)
    return converted


def import_geojson(
    session: Session,
    *,
    data: Any,
    actor: Actor,
    crs: CoordSystem = CoordSystem.WGS84,
    source: str = "import",
    scope: Scope | None = None,
) -> ImportReport:
    """Import areas from a GeoJSON FeatureCollection, all or nothing.

    Each feature carries ``code``, ``name_zh`` (or ``name``), ``name_en``, ``level`` and, for all
    but a city, ``parent_code`` — a code in the same file or already in the database. Features
    may come in any order. The first fault raises :class:`InvalidInput` naming the feature and
    the rule; the caller's transaction then rolls back, so nothing is half-imported.

    ``scope``: the importer's areas. A parent in the database must lie in them (one outside
    is answered as one that does not exist), and a new root (a city) needs a scope over the
    whole tree; without a scope (the command line) any parent will do.
    """
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InvalidInput(key="error.areas.not_a_collection", field="type")
    raw = data.get("features")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(key="error.areas.no_features", field="features")
    features = [_read_feature(i, f, crs) for i, f in enumerate(raw)]

    seen: dict[str, _Feature] = {}
    for feat in features:
        if feat.code in seen:
            raise InvalidInput(
                key="error.areas.feature_code_repeats",
                params={
                    "position": feat.position,
                    "code": feat.code,
                    "first": seen[feat.code].position,
                },
                field="code",
            )
        seen[feat.code] = feat
    existing = set(session.scalars(select(Area.code).where(Area.code.in_(list(seen)))))
    if existing:
        first = next(f for f in features if f.code in existing)
        raise InvalidInput(
            key="error.areas.feature_code_exists",
            params={"position": first.position, "code": first.code},
            field="code",
        )

    report = ImportReport()
    created: dict[str, Area] = {}
    for feat in sorted(features, key=lambda f: (f.level.depth, f.position)):
        parent: Area | None = None
        if feat.parent_code:
            parent = created.get(feat.parent_code) or get_by_code(session, code=feat.parent_code)
            if parent is not None and scope is not None and feat.parent_code not in created:
                parent = parent if scope.covers(parent.path) else None
            if parent is None and scope is not None:
                raise InvalidInput(
                    key="error.areas.feature_parent_outside",
                    params={
                        "position": feat.position,
                        "code": feat.code,
                        "parent_code": feat.parent_code,
                    },
                    field="parent_code",
                )
            if parent is None:
                raise InvalidInput(
                    key="error.areas.feature_parent_unknown",
                    params={
                        "position": feat.position,
                        "code": feat.code,
                        "parent_code": feat.parent_code,
                    },
                    field="parent_code",
                )
        elif scope is not None and not whole_tree(session, scope):
            raise InvalidInput(
                key="error.areas.feature_root_outside",
                params={"position": feat.position, "code": feat.code},
                field="parent_code",
            )
        _check_child_level(feat.level, parent, code=feat.code, position=feat.position)
        created[feat.code] = _insert(
            session,
            code=feat.code,
            name_zh=feat.name_zh,
            name_en=feat.name_en,
            level=feat.level,
            parent=parent,
            geom=feat.geom,
            source=source,
        )
        report.created += 1
        report.by_level[feat.level.value] = report.by_level.get(feat.level.value, 0) + 1
    audit.record(
        session,
        actor=actor,
        action="import",
        entity="area",
        detail={"created": report.created, "by_level": report.by_level},
        # The deepest area holding all that came (none if they share no root).
        area_path=common_path(a.path for a in created.values()),
    )
    return report


# --- grid fusion check ------------------------------------------------------------------------


@dataclass(frozen=True)
class FusionViolation:
    """One fault of the tree's coverage, with the codes involved and the offending area."""

    kind: str  # gap | overlap | outside_parent
    codes: tuple[str, ...]
    area_m2: float
    geometry: BaseGeometry | None = None


@dataclass
class FusionReport:
    checked_stations: int
    checked_beats: int
    tolerance_m2: float
    violations: list[FusionViolation]


def _coverage_violations(
    parent: Area,
    parent_geom: MultiPolygon,
    children: list[tuple[Area, MultiPolygon]],
    tolerance_m2: float,
) -> list[FusionViolation]:
    found: list[FusionViolation] = []
    if not children:
        return [FusionViolation("gap", (parent.code,), parent.area_m2, parent_geom)]
    union = shapely.union_all([g for _, g in children])
    gap = parent_geom.difference(union)
    gap_m2 = area_m2(gap)
    if gap_m2 > tolerance_m2:
        found.append(FusionViolation("gap", (parent.code,), gap_m2, gap))
    for child, geom in children:
        outside = geom.difference(parent_geom)
        outside_m2 = area_m2(outside)
        if outside_m2 > tolerance_m2:
            found.append(
                FusionViolation("outside_parent", (child.code, parent.code), outside_m2, outside)
            )
    tree = shapely.STRtree([g for _, g in children])
    left, right = tree.query([g for _, g in children], predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        overlap = children[i][1].intersection(children[j][1])
        overlap_m2 = area_m2(overlap)
        if overlap_m2 > tolerance_m2:
            codes = (children[i][0].code, children[j][0].code)
            found.append(FusionViolation("overlap", codes, overlap_m2, overlap))
    return found


def fusion_check(
    session: Session, *, scope: Scope, tolerance_m2: float = DEFAULT_FUSION_TOLERANCE_M2
) -> FusionReport:
    """Check grid fusion (警格网格融合) in the stations within ``scope``.

    Rules: the beat areas of a station cover it with no gap and no overlap, and lie inside it;
    the grids of a beat area cover it, do not overlap and lie inside it — so every grid lies in
    exactly one beat area. Areas are measured in m² on an equal-area projection; a fault smaller
    than ``tolerance_m2`` is digitising noise and not reported.

    Complexity: O(n log n) in the number of areas per station (an STRtree finds candidate
    overlaps), plus the polygon operations.
    """
    if tolerance_m2 < 0:
        raise InvalidInput(key="error.areas.tolerance_negative", field="tolerance_m2")
    areas = list(
        session.scalars(
            select(Area).where(
                scope.clause(Area.path),
                Area.level.in_([AreaLevel.STATION, AreaLevel.BEAT, AreaLevel.GRID]),
            )
        )
    )
    children: dict[int, list[Area]] = defaultdict(list)
    for a in areas:
        if a.parent_id is not None:
            children[a.parent_id].append(a)
    geoms = {a.id: geometry(a) for a in areas}
    violations: list[FusionViolation] = []
    stations = [a for a in areas if a.level is AreaLevel.STATION]
    beats = [a for a in areas if a.level is AreaLevel.BEAT]
    for parent in itertools.chain(stations, beats):
        kids = [(c, geoms[c.id]) for c in sorted(children[parent.id], key=lambda c: c.code)]
        violations.extend(_coverage_violations(parent, geoms[parent.id], kids, tolerance_m2))
    return FusionReport(
        checked_stations=len(stations),
        checked_beats=len(beats),
        tolerance_m2=tolerance_m2,
        violations=violations,
    )


# --- point lookup -----------------------------------------------------------------------------


def locate(
    session: Session,
    *,
    lon: float,
    lat: float,
    crs: CoordSystem = CoordSystem.WGS84,
    scope: Scope | None = None,
) -> tuple[float, float, list[Area]]:
    """WGS-84 point and the areas holding it (top down), limited to ``scope`` when given."""
    try:
        lon, lat = to_wgs84(lon, lat, crs)
    except CoordinateError as exc:
        raise exc.at("lon") from None
    leaf_id = int(area_index.get(session).locate([lon], [lat])[0])
    if leaf_id < 0:
        return lon, lat, []
    leaf = session.get(Area, leaf_id)
    assert leaf is not None
    chain = ancestors(session, area=leaf)
    if scope is not None:
        chain = [a for a in chain if scope.covers(a.path)]
    return lon, lat, chain


# --- standard addresses ----------------------------------------------------------------------


def create_address(
    session: Session,
    *,
    code: str,
    text_zh: str,
    text_en: str,
    lon: float,
    lat: float,
    actor: Actor,
    crs: CoordSystem = CoordSystem.WGS84,
    source: str = "import",
    scope: Scope | None = None,
) -> StandardAddress:
    """Register a standard address; its point is placed in its areas and its H3 cell."""
    if session.scalars(select(StandardAddress.id).where(StandardAddress.code == code)).first():
        raise Conflict(key="error.areas.address_exists", params={"code": code}, field="code")
    lon, lat, chain = locate(session, lon=lon, lat=lat, crs=crs)
    leaf = chain[-1] if chain else None
    if scope is not None and (leaf is None or not scope.covers(leaf.path)):
        raise InvalidInput(
            key="error.areas.point_outside", params={"lon": lon, "lat": lat}, field="lon"
        )
    address = StandardAddress(
        code=code,
        text_zh=text_zh,
        text_en=text_en or text_zh,
        lon=lon,
        lat=lat,
        h3_cell=h3_cell(lon, lat),
        area_id=leaf.id if leaf else None,
        area_path=leaf.path if leaf else None,
        source=source,
        search_key=search_key(text_zh, text_en or text_zh),
    )
    session.add(address)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="standard_address",
        entity_id=address.id,
        detail={"code": code},
        area_path=address.area_path,
    )
    return address


def get_address_by_code_or_raise(
    session: Session, *, code: str, scope: Scope | None = None
) -> StandardAddress:
    """The standard address ``code`` (in ``scope`` when given), else :class:`NotFound`."""
    query = select(StandardAddress).where(StandardAddress.code == code)
    if scope is not None:
        query = query.where(scope.clause(StandardAddress.area_path))
    address = session.scalars(query).one_or_none()
    if address is None:
        raise NotFound(
            key="error.areas.address_not_found", params={"code": code}, field="address_code"
        )
    return address


def get_addresses(
    session: Session,
    *,
    scope: Scope,
    area_code: str | None = None,
    text: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[StandardAddress]]:
    """Addresses in scope, optionally inside one area or matching a text; (total, page)."""
    query = select(StandardAddress).where(scope.clause(StandardAddress.area_path))
    if area_code is not None:
        area = get_by_code_or_raise(session, code=area_code, scope=scope)
        query = query.where(StandardAddress.area_path.startswith(area.path, autoescape=True))
    if text:
        query = query.where(contains_text(text, StandardAddress.text_zh, StandardAddress.text_en))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(StandardAddress.code).limit(limit).offset(offset))
    return int(total), list(page)


#: The most suggestions one search gives.
MAX_SUGGESTIONS = 20


def search_addresses(
    session: Session, *, scope: Scope, q: str, limit: int = 10
) -> list[StandardAddress]:
    """Addresses of ``scope`` for what was typed: a code prefix (case aside), or a substring of the
    folded Chinese or English text, the full pinyin or its initials ("zhongshan", "zs",
    "Zhōngshān" all find 中山路). Code prefixes first, then keys starting with the query,
    then by code; at most ``limit`` (up to :data:`MAX_SUGGESTIONS`)."""
    raw = q.strip()
    folded = fold(raw)
    if not folded:
        return []
    limit = max(1, min(limit, MAX_SUGGESTIONS))
    by_code = StandardAddress.code.istartswith(raw, autoescape=True)
    by_key = StandardAddress.search_key.contains(folded, autoescape=True)
    rank = case(
        (by_code, 0),
        (StandardAddress.search_key.startswith(folded, autoescape=True), 1),
        else_=2,
    )
    query = (
        select(StandardAddress)
        .where(scope.clause(StandardAddress.area_path), by_code | by_key)
        .order_by(rank, StandardAddress.code)
        .limit(limit)
    )
    return list(session.scalars(query))


def nearest_address(
    session: Session, *, scope: Scope, lon: float, lat: float, within_m: float = 500.0
) -> StandardAddress | None:
    """The standard address of ``scope`` nearest to a point, within about ``within_m``
    metres (a box first, then the distance on a local flat projection), else ``None``."""
    dlat = within_m / 111_320.0
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    candidates = session.scalars(
        select(StandardAddress).where(
            scope.clause(StandardAddress.area_path),
            StandardAddress.lon.between(lon - dlon, lon + dlon),
            StandardAddress.lat.between(lat - dlat, lat + dlat),
        )
    ).all()
    scale = math.cos(math.radians(lat))

    def distance2(a: StandardAddress) -> float:
        return ((a.lon - lon) * scale) ** 2 + (a.lat - lat) ** 2

    best = min(candidates, key=distance2, default=None)
    if best is None or distance2(best) > dlat**2:
        return None
    return best


@dataclass(frozen=True)
class AddressRow:
    code: str
    text_zh: str
    text_en: str
    lon: float
    lat: float


def import_addresses(
    session: Session,
    *,
    rows: list[AddressRow],
    actor: Actor,
    crs: CoordSystem = CoordSystem.WGS84,
    source: str = "import",
) -> int:
    """Register many standard addresses at once, all or nothing; returns how many.

    Points are converted and placed in their areas in one vectorised lookup, so a county's
    register (tens of thousands of rows) imports in seconds. Row numbers in errors count from 1.
    """
    if not rows:
        return 0
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if not row.code or len(row.code) > 32:
            raise InvalidInput(
                key="error.areas.row_code_length", params={"row": number}, field="code"
            )
        if not row.text_zh:
            raise InvalidInput(
                key="error.areas.row_no_text",
                params={"row": number, "code": row.code},
                field="text_zh",
            )
        if row.code in seen:
            raise InvalidInput(
                key="error.areas.row_code_repeats",
                params={"row": number, "code": row.code, "first": seen[row.code]},
                field="code",
            )
        seen[row.code] = number
    existing = session.scalars(
        select(StandardAddress.code).where(StandardAddress.code.in_(list(seen)))
    ).first()
    if existing is not None:
        raise InvalidInput(
            key="error.areas.row_address_exists",
            params={"row": seen[existing], "code": existing},
            field="code",
        )
    try:
        lons, lats = to_wgs84_array([r.lon for r in rows], [r.lat for r in rows], crs)
    except CoordinateError as exc:
        raise InvalidInput(
            key="error.areas.coordinates", params={"reason": exc}, field="lon"
        ) from None
    index = area_index.get(session)
    leaf_ids = index.locate(lons, lats)
    # Stored outside every area, a row would be in no one's scope: seen by nobody.
    stray = np.flatnonzero(leaf_ids < 0)
    if stray.size:
        number = int(stray[0]) + 1
        raise InvalidInput(
            key="error.areas.address_outside",
            params={"row": number, "code": rows[number - 1].code, "count": int(stray.size)},
            field="lon",
        )
    session.add_all(
        StandardAddress(
            code=row.code,
            text_zh=row.text_zh,
            text_en=row.text_en or row.text_zh,
            lon=float(lon),
            lat=float(lat),
            h3_cell=h3_cell(float(lon), float(lat)),
            area_id=int(leaf),
            area_path=index.path_of(int(leaf)),
            source=source,
            search_key=search_key(row.text_zh, row.text_en or row.text_zh),
        )
        for row, lon, lat, leaf in zip(rows, lons, lats, leaf_ids, strict=True)
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import",
        entity="standard_address",
        detail={"created": len(rows), "source": source},
        area_path=common_path(p for leaf in leaf_ids if (p := index.path_of(int(leaf)))),
    )
    return len(rows)
