"""The control ring (圈层查控): checkpoints (卡口) and the closure share (围闭度) of a boundary.

Crossings
---------
Every road of the network that crosses the boundary of an area (the county, or a district): a
road segment between two nodes, one inside the area's polygon (or on its boundary) and one
outside, counted once whatever its directions. Its crossing point is where the segment meets
the boundary. (A segment whose two ends lie outside while its middle passes through a corner of
the area is not counted: road segments are short beside an area.)

Closure
-------
A crossing is closed when an **active** checkpoint lies within ``snap_m`` metres (default
:data:`DEFAULT_SNAP_M`) of its crossing point; planned and inactive checkpoints do not close
it. The closure share is closed ÷ all crossings, by count and weighted by road class
(:data:`DEFAULT_CLASS_WEIGHTS`: a motorway crossing weighs 10, a trunk 8, a primary road 6, a
secondary 4, a tertiary 2, every other road 1 — the share of traffic a class carries, roughly;
editable, stored as a setting). The target is the construction standard's (TARGETS.md: ≥ 60 %
Rugao, ≥ 80 % Shengzhou; default :data:`DEFAULT_TARGET`, editable).

The next checkpoints
--------------------
The ``k`` points that raise the weighted share most: candidates are the open crossings' points,
each closing every open crossing within ``snap_m`` of it (a dual carriageway's two crossings
close together); the best ``k`` are chosen exactly as a maximal covering problem
(:mod:`.optimize`) and listed in the order a greedy reading adds them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.geometry import h3_cell
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.bounds import MAX_ID
from fangkong.core.db import utcnow
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope
from fangkong.network.graph import RoadGraph, haversine_m
from fangkong.network.profile import CLASS_LABELS
from fangkong.planning import optimize
from fangkong.planning.models import Checkpoint, CheckpointStatus, Direction, Setting

FloatArray = NDArray[np.float64]

DEFAULT_SNAP_M = 200.0
MAX_SNAP_M = 5_000.0
MAX_K = 50
DEFAULT_TARGET = 0.8
#: Weight of a crossing by road class (labels of :class:`fangkong.network.profile.RoadClass`).
DEFAULT_CLASS_WEIGHTS: dict[str, float] = {
    "motorway": 10.0,
    "motorway_link": 10.0,
    "trunk": 8.0,
    "trunk_link": 8.0,
    "primary": 6.0,
    "primary_link": 6.0,
    "secondary": 4.0,
    "secondary_link": 4.0,
    "tertiary": 2.0,
    "tertiary_link": 2.0,
    "unclassified": 1.0,
    "residential": 1.0,
    "living_street": 1.0,
    "service": 1.0,
    "other": 1.0,
}
SETTING_KEY = "ring"


# --- checkpoints ----------------------------------------------------------------------------


def _check_text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if (required and not value) or len(value) > limit:
        raise InvalidInput(
            key="error.planning.text_length",
            params={"field": field, "min": 1 if required else 0, "max": limit},
            field=field,
        )
    return value


def _place(
    session: Session, *, lon: float, lat: float, area_code: str | None, scope: Scope
) -> tuple[float, float, Area]:
    """The area a checkpoint is filed under: the one it lies in, else ``area_code``."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(key="error.planning.lonlat_degrees", field="lon")
    lon, lat, chain = area_service.locate(session, lon=lon, lat=lat)
    leaf = chain[-1] if chain else None
    if leaf is None and area_code:
        leaf = area_service.get_by_code_or_raise(session, code=area_code, scope=scope)
    if leaf is None:
        raise InvalidInput(
            key="error.planning.point_no_area", params={"lon": lon, "lat": lat}, field="area_code"
        )
    if not scope.covers(leaf.path):
        raise InvalidInput(
            key="error.areas.point_outside", params={"lon": lon, "lat": lat}, field="lon"
        )
    return lon, lat, leaf


def create_checkpoint(
    session: Session,
    *,
    code: str,
    name: str,
    lon: float,
    lat: float,
    scope: Scope,
    actor: Actor,
    road: str = "",
    direction: Direction = Direction.BOTH,
    status: CheckpointStatus = CheckpointStatus.ACTIVE,
    area_code: str | None = None,
) -> Checkpoint:
    """Register a checkpoint at (lon, lat); the caller checks ``planning.write``."""
    code = _check_text(code, "code", 32)
    name = _check_text(name, "name", 128)
    road = _check_text(road, "road", 128, required=False)
    if session.scalars(select(Checkpoint.id).where(Checkpoint.code == code)).first() is not None:
        raise Conflict(key="error.planning.checkpoint_taken", params={"code": code}, field="code")
    lon, lat, leaf = _place(session, lon=lon, lat=lat, area_code=area_code, scope=scope)
    checkpoint = Checkpoint(
        code=code,
        name=name,
        road=road,
        direction=direction,
        status=status,
        lon=lon,
        lat=lat,
        h3_cell=h3_cell(lon, lat),
        area_id=leaf.id,
        area_path=leaf.path,
    )
    session.add(checkpoint)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="planning_checkpoint",
        entity_id=checkpoint.id,
        detail={"code": code, "status": status.value},
        area_path=leaf.path,
    )
    return checkpoint


def get_checkpoints(
    session: Session, *, scope: Scope, area: Area | None = None
) -> list[Checkpoint]:
    """Checkpoints in ``scope`` (and ``area``'s subtree), by code."""
    query = select(Checkpoint).where(scope.clause(Checkpoint.area_path))
    if area is not None:
        query = query.where(Checkpoint.area_path.startswith(area.path, autoescape=True))
    return list(session.scalars(query.order_by(Checkpoint.code)))


def get_checkpoint_or_raise(session: Session, *, checkpoint_id: int, scope: Scope) -> Checkpoint:
    query = select(Checkpoint).where(
        Checkpoint.id == checkpoint_id, scope.clause(Checkpoint.area_path)
    )
    # INTEGER ids: a larger one (past the API's bound, a caller's) names no row
    found = session.scalars(query).one_or_none() if checkpoint_id <= MAX_ID else None
    if found is None:
        raise NotFound(
            key="error.planning.checkpoint_not_found",
            params={"checkpoint_id": checkpoint_id},
            field="checkpoint_id",
        )
    return found


def update_checkpoint(
    session: Session,
    *,
    checkpoint: Checkpoint,
    scope: Scope,
    actor: Actor,
    name: str | None = None,
    road: str | None = None,
    direction: Direction | None = None,
    status: CheckpointStatus | None = None,
    lon: float | None = None,
    lat: float | None = None,
    area_code: str | None = None,
) -> Checkpoint:
    """Change a checkpoint's fields (a moved one is placed again)."""
    if name is not None:
        checkpoint.name = _check_text(name, "name", 128)
    if road is not None:
        checkpoint.road = _check_text(road, "road", 128, required=False)
    if direction is not None:
        checkpoint.direction = direction
    if status is not None:
        checkpoint.status = status
    if (lon is None) != (lat is None):
        raise InvalidInput(key="error.planning.lonlat_together", field="lon")
    if lon is not None and lat is not None:
        x, y, leaf = _place(session, lon=lon, lat=lat, area_code=area_code, scope=scope)
        checkpoint.lon, checkpoint.lat = x, y
        checkpoint.h3_cell = h3_cell(x, y)
        checkpoint.area_id, checkpoint.area_path = leaf.id, leaf.path
    checkpoint.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="planning_checkpoint",
        entity_id=checkpoint.id,
        detail={"code": checkpoint.code, "status": checkpoint.status.value},
        area_path=checkpoint.area_path,
    )
    return checkpoint


def delete_checkpoint(session: Session, *, checkpoint: Checkpoint, actor: Actor) -> None:
    audit.record(
        session,
        actor=actor,
        action="delete",
        entity="planning_checkpoint",
        entity_id=checkpoint.id,
        detail={"code": checkpoint.code},
        area_path=checkpoint.area_path,
    )
    session.delete(checkpoint)
    session.flush()


# --- settings -------------------------------------------------------------------------------


def settings(session: Session) -> tuple[dict[str, float], float]:
    """The road-class weights and the target share in force (the defaults until edited)."""
    row = session.get(Setting, SETTING_KEY)
    weights = dict(DEFAULT_CLASS_WEIGHTS)
    target = DEFAULT_TARGET
    if row is not None:
        data = json.loads(row.value)
        weights.update({str(k): float(v) for k, v in data.get("weights", {}).items()})
        target = float(data.get("target", target))
    return weights, target


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    out = dict(DEFAULT_CLASS_WEIGHTS)
    for label, value in weights.items():
        if label not in CLASS_LABELS:
            raise InvalidInput(
                key="error.planning.road_class_unknown",
                params={"label": label, "labels": ", ".join(CLASS_LABELS)},
                field="weights",
            )
        if not (math.isfinite(value) and 0 <= value <= 1000):
            raise InvalidInput(
                key="error.planning.road_weight", params={"label": label}, field="weights"
            )
        out[label] = float(value)
    return out


def save_settings(
    session: Session, *, weights: Mapping[str, float], target: float, actor: Actor
) -> tuple[dict[str, float], float]:
    """Store edited weights and target; the caller checks ``planning.write``."""
    checked = check_weights(weights)
    if not (math.isfinite(target) and 0 < target <= 1):
        raise InvalidInput(key="error.planning.target_range", field="target")
    row = session.get(Setting, SETTING_KEY)
    value = json.dumps({"weights": checked, "target": target})
    if row is None:
        session.add(Setting(key=SETTING_KEY, value=value, updated_by_id=actor.user_id))
    else:
        row.value, row.updated_at, row.updated_by_id = value, utcnow(), actor.user_id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="planning_setting",
        entity_id=SETTING_KEY,
        detail={"target": target},
    )
    return checked, target


# --- crossings and closure ------------------------------------------------------------------


def crossings(graph: RoadGraph, polygon: Any) -> list[dict[str, Any]]:
    """Road segments crossing the polygon's boundary (see the module docstring): each with its
    nodes, road class label and crossing point (lon, lat), in node order."""
    # a node on the boundary itself counts as inside (covers, not contains)
    inside = shapely.intersects_xy(polygon, graph.lon, graph.lat)
    tail, head = graph.tail.astype(np.int64), graph.head.astype(np.int64)
    cross = inside[tail] != inside[head]
    u = np.minimum(tail[cross], head[cross])
    v = np.maximum(tail[cross], head[cross])
    klass = graph.road_class[cross].astype(np.int64)
    best: dict[tuple[int, int], int] = {}
    for a, b, c in zip(u.tolist(), v.tolist(), klass.tolist(), strict=True):
        key = (a, b)
        # a two-way road's directions carry one class; keep the higher-ranked one if not
        best[key] = c if key not in best else _higher(best[key], c)
    boundary = polygon.boundary
    out = []
    for (a, b), c in sorted(best.items()):
        segment = LineString([(graph.lon[a], graph.lat[a]), (graph.lon[b], graph.lat[b])])
        hit = segment.intersection(boundary)
        point = _first_point(hit) or Point((graph.lon[a] + graph.lon[b]) / 2,
                                           (graph.lat[a] + graph.lat[b]) / 2)  # fmt: skip
        out.append(
            {
                "nodes": [a, b],
                "class": CLASS_LABELS[c] if 0 <= c < len(CLASS_LABELS) else "other",
                "lon": round(point.x, 7),
                "lat": round(point.y, 7),
            }
        )
    return out


def _higher(a: int, b: int) -> int:
    """Of two road class codes, the more important (lower code, 0 'other' the least)."""
    if a == 0:
        return b
    if b == 0:
        return a
    return min(a, b)


def _first_point(geometry: Any) -> Point | None:
    if geometry.is_empty:
        return None
    if isinstance(geometry, Point):
        return geometry
    parts = getattr(geometry, "geoms", None)
    if parts:
        return _first_point(parts[0])
    coords = list(geometry.coords) if hasattr(geometry, "coords") else []
    return Point(coords[0]) if coords else None


def closure(
    *,
    graph: RoadGraph,
    polygon: Any,
    checkpoints: list[tuple[str, float, float]],
    weights: Mapping[str, float],
    target: float,
    snap_m: float = DEFAULT_SNAP_M,
    k: int = 5,
) -> dict[str, Any]:
    """The closure of the polygon's boundary by the (active) ``checkpoints`` (code, lon, lat)
    and the ``k`` next checkpoints; see the module docstring.

    Notes
    -----
    Crossings: O(n + m) to classify the nodes, plus a segment intersection per crossing.
    Closure: O(crossings × checkpoints) distances. Next checkpoints: a maximal covering problem
    over the open crossings (a few hundred at most), solved exactly.
    """
    if not 0 < snap_m <= MAX_SNAP_M:
        raise InvalidInput(
            key="error.planning.snap_range", params={"max": MAX_SNAP_M}, field="snap_m"
        )
    if not 0 <= k <= MAX_K:
        raise InvalidInput(key="error.planning.k_range", params={"max": MAX_K}, field="k")
    weights = check_weights(weights)
    found = crossings(graph, polygon)
    lon = np.array([c["lon"] for c in found], dtype=np.float64)
    lat = np.array([c["lat"] for c in found], dtype=np.float64)
    weight = np.array([weights.get(c["class"], 1.0) for c in found], dtype=np.float64)
    closed_by: list[str | None] = [None] * len(found)
    distance: list[float | None] = [None] * len(found)
    if checkpoints and found:
        cx = np.array([c[1] for c in checkpoints])
        cy = np.array([c[2] for c in checkpoints])
        d = haversine_m(lon[:, None], lat[:, None], cx[None, :], cy[None, :])
        nearest = np.argmin(d, axis=1)
        for i in range(len(found)):
            j = int(nearest[i])
            if d[i, j] <= snap_m:
                closed_by[i] = checkpoints[j][0]
                distance[i] = round(float(d[i, j]), 1)
    closed = np.array([c is not None for c in closed_by], dtype=np.bool_)
    by_class: dict[str, dict[str, float]] = {}
    for c, is_closed, w in zip(found, closed.tolist(), weight.tolist(), strict=True):
        entry = by_class.setdefault(c["class"], {"crossings": 0, "closed": 0, "weight": w})
        entry["crossings"] += 1
        entry["closed"] += int(is_closed)
    total_w = float(weight.sum())
    share_count = float(closed.mean()) if found else None
    share_weighted = float(weight[closed].sum() / total_w) if total_w > 0 else None
    rows = [
        {**c, "id": i + 1, "weight": float(weight[i]), "checkpoint": closed_by[i],
         "distance_m": distance[i]}
        for i, c in enumerate(found)
    ]  # fmt: skip
    return {
        "snap_m": snap_m,
        "target": target,
        "weights": weights,
        "crossings": rows,
        "count": len(found),
        "closed": int(closed.sum()),
        "share_count": share_count,
        "share_weighted": share_weighted,
        "meets_target": share_weighted is not None and share_weighted >= target,
        "by_class": by_class,
        "next": next_checkpoints(lon, lat, weight, closed, snap_m, k, total_w),
    }


def next_checkpoints(
    lon: FloatArray,
    lat: FloatArray,
    weight: FloatArray,
    closed: NDArray[np.bool_],
    snap_m: float,
    k: int,
    total_weight: float,
) -> list[dict[str, Any]]:
    """The ``k`` checkpoints (at open crossings) that raise the weighted share most, in the
    order a greedy reading adds them, each with the crossings it closes and the shares after."""
    open_ = np.flatnonzero(~closed)
    if k == 0 or open_.size == 0 or total_weight <= 0:
        return []
    d = haversine_m(lon[open_][:, None], lat[open_][:, None], lon[open_][None, :],
                    lat[open_][None, :])  # fmt: skip
    d[d > snap_m] = np.inf
    p = min(k, open_.size)
    solution = optimize.solve(
        optimize.Instance.from_dense(d, weight[open_]),
        method="mclp",
        p=p,
        ring_s=snap_m,
        time_limit_s=10.0,
    )
    reach = np.isfinite(d)
    covered = np.zeros(open_.size, dtype=np.bool_)
    done_w = float(weight[closed].sum())
    done_n = int(closed.sum())
    left = [int(j) for j in solution.chosen]
    out = []
    while left:
        gains = [float(weight[open_][reach[j] & ~covered].sum()) for j in left]
        best = int(np.argmax(gains))
        j = left.pop(best)
        newly = reach[j] & ~covered
        if not newly.any():
            continue
        covered |= newly
        done_w += gains[best]
        done_n += int(newly.sum())
        out.append(
            {
                "lon": float(lon[open_[j]]),
                "lat": float(lat[open_[j]]),
                "closes": [int(open_[i]) + 1 for i in np.flatnonzero(newly)],
                "gain_weight": gains[best],
                "share_weighted_after": done_w / total_weight,
                "share_count_after": done_n / lon.size,
            }
        )
    return out


def analyse(
    session: Session,
    *,
    graph: RoadGraph,
    scope: Scope,
    area: Area,
    snap_m: float = DEFAULT_SNAP_M,
    k: int = 5,
    weights: Mapping[str, float] | None = None,
    target: float | None = None,
) -> dict[str, Any]:
    """The control ring of ``area`` (in scope) with the active checkpoints the user sees."""
    if not scope.covers(area.path):
        raise NotFound(
            key="error.areas.area_not_found", params={"code": area.code}, field="area_code"
        )
    saved_weights, saved_target = settings(session)
    points = [
        (c.code, c.lon, c.lat)
        for c in get_checkpoints(session, scope=scope)
        if c.status == CheckpointStatus.ACTIVE
    ]
    report = closure(
        graph=graph,
        polygon=area_service.geometry(area),
        checkpoints=points,
        weights={**saved_weights, **(weights or {})},
        target=saved_target if target is None else target,
        snap_m=snap_m,
        k=k,
    )
    report["area_code"] = area.code
    report["checkpoints"] = len(points)
    return report
