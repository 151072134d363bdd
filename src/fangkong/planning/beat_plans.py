"""Beats of a station (巡区) from its grids: the workload of each grid (incidents of a period ×
handling time, plus a patrol time per key facility), the road times between grid centres, the
partition (:mod:`fangkong.planning.beats`), the beats as polygons (each the union of whole
grids), and the grid-fusion check of the proposal (each beat covers whole grids, no overlap, no
gap, inside the station) before it may be adopted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.geometry import area_m2
from fangkong.areas.models import Area, AreaLevel
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Incident, IncidentStatus
from fangkong.dispatch.replay import road_times
from fangkong.facilities.models import Facility
from fangkong.network.service import Network
from fangkong.planning import beats

MAX_K = 100
MAX_UNITS = 2000
DEFAULT_HANDLING_H = 0.5
DEFAULT_FACILITY_H = 1.0


@dataclass(frozen=True)
class BeatSpec:
    k: int
    start: datetime
    end: datetime
    facility_hours: float = DEFAULT_FACILITY_H
    mu: float = beats.DEFAULT_MU
    time_limit_s: float = 5.0
    seed: int = 0


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def grid_adjacency(geoms: list[shapely.Geometry]) -> list[list[int]]:
    """Grids sharing a boundary of positive length (a shared corner is no neighbour)."""
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    adj: list[list[int]] = [[] for _ in geoms]
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        shared = shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j]))
        if shapely.length(shared) > 0:
            adj[i].append(j)
            adj[j].append(i)
    return adj


#: Where a grid's centre is off the roads: straight-line metres at this speed (m/s, ~20 km/h)
#: with a detour factor stand for the road time.
OFF_ROAD_SPEED_MS = 20_000 / 3600
DETOUR = 1.3


def fill_unreachable(times: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Road times with the pairs the roads do not join (a grid centre far from every road)
    estimated from the straight line: ``DETOUR × distance / OFF_ROAD_SPEED_MS``."""
    missing = ~np.isfinite(times)
    if not missing.any():
        return times
    k = np.pi / 180.0 * 6_371_008.8
    x = lon * k * np.cos(np.radians(float(np.mean(lat))))
    y = lat * k
    metres = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    return np.where(missing, DETOUR * metres / OFF_ROAD_SPEED_MS, times)


def analyse(
    session: Session, *, scope: Scope, station: Area, spec: BeatSpec, network: Network
) -> dict[str, Any]:
    """k beats for ``station`` (a station's precinct, or a district) from its grids (see the
    module docstring). A district's beats may cross its stations' boundaries: they are drawn
    and exported, not adopted (the tree keeps beats under one station)."""
    if station.level not in (AreaLevel.STATION, AreaLevel.DISTRICT):
        raise InvalidInput(
            key="error.planning.beats_station", params={"code": station.code}, field="area_code"
        )
    grids = list(
        session.scalars(
            select(Area)
            .where(
                Area.level == AreaLevel.GRID,
                Area.path.startswith(station.path, autoescape=True),
                scope.clause(Area.path),
            )
            .order_by(Area.code)
        )
    )
    if not 1 <= spec.k <= min(len(grids), MAX_K) or len(grids) > MAX_UNITS:
        raise InvalidInput(
            key="error.planning.beats_k",
            params={"k": spec.k, "grids": len(grids)},
            field="k",
        )
    geoms = [area_service.geometry(g) for g in grids]
    paths = [g.path for g in grids]
    index = {p: i for i, p in enumerate(paths)}
    incidents = np.zeros(len(grids))
    handling = np.full(len(grids), DEFAULT_HANDLING_H)
    rows = session.execute(
        select(Incident.area_path, Incident.on_scene_at, Incident.cleared_at).where(
            Incident.area_path.startswith(station.path, autoescape=True),
            scope.clause(Incident.area_path),
            Incident.received_at >= spec.start,
            Incident.received_at < spec.end,
            Incident.status != IncidentStatus.MERGED,
            or_(
                Incident.status != IncidentStatus.CANCELLED,
                and_(
                    Incident.status == IncidentStatus.CANCELLED,
                    Incident.dispatched_at.is_not(None),
                ),
            ),
        )
    ).all()
    hours = np.zeros(len(grids))
    for path, on_scene, cleared in rows:
        i = index.get(path or "", -1)
        if i < 0:
            continue
        incidents[i] += 1
        hours[i] += (
            max(60.0, (_aware(cleared) - _aware(on_scene)).total_seconds()) / 3600.0
            if on_scene is not None and cleared is not None
            else DEFAULT_HANDLING_H
        )
    with_hours = incidents > 0
    handling[with_hours] = hours[with_hours] / incidents[with_hours]
    facilities = np.zeros(len(grids))
    for path, count in session.execute(
        select(Facility.area_path, func.count(Facility.id))
        .where(Facility.area_path.startswith(station.path, autoescape=True))
        .group_by(Facility.area_path)
    ):
        i = index.get(path or "", -1)
        if i >= 0:
            facilities[i] = count
    weeks = max((spec.end - spec.start).total_seconds() / (7 * 86400), 1e-9)
    # hours of work a week: incidents' handling, plus each key facility's patrol time
    workload = hours / weeks + facilities * spec.facility_hours
    centres = [g.representative_point() for g in geoms]
    lon = np.array([p.x for p in centres])
    lat = np.array([p.y for p in centres])
    out, _ = road_times(network, origins=(lon, lat), targets=(lon, lat), both_ways=False)
    out = fill_unreachable(out, lon, lat)
    adj = grid_adjacency(geoms)
    found = beats.partition(
        adj, workload, out, spec.k, mu=spec.mu, time_limit_s=spec.time_limit_s, seed=spec.seed
    )
    features: list[dict[str, Any]] = []
    table: list[list[Any]] = []
    for r in range(spec.k):
        members = np.flatnonzero(found.labels == r).tolist()
        shape = shapely.union_all([geoms[i] for i in members])
        code = f"{station.code}-PB{r + 1}"
        props: dict[str, Any] = {
            "kind": "beat",
            "code": code,
            "name_zh": f"{station.name_zh}巡区{r + 1}",
            "name_en": f"{station.name_en} beat {r + 1}",
            "level": "beat",
            "parent_code": station.code,
            "workload_h": round(float(found.workload[r]), 3),
            "farthest_s": round(float(found.farthest_s[r]), 1),
            "centre": grids[int(found.centres[r])].code,
            "grids": [grids[i].code for i in members],
            "incidents": int(incidents[members].sum()),
            "facilities": int(facilities[members].sum()),
        }
        features.append(
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(shape)}
        )
        table.append(
            [code, len(members), props["incidents"], props["facilities"], props["workload_h"],
             props["farthest_s"], props["centre"], " ".join(props["grids"])]
        )  # fmt: skip
    mean = float(found.workload.mean())
    return {
        "station": station.code,
        "level": station.level.value,
        "k": spec.k,
        "grids": len(grids),
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "incidents": int(incidents.sum()),
        "facilities": int(facilities.sum()),
        "workload_h": round(float(workload.sum()), 3),
        "mean_workload_h": round(mean, 3),
        "imbalance": round(found.imbalance, 4),
        # no partition of whole grids does better than the busiest grid over the mean
        "busiest_grid_h": round(float(workload.max()), 3),
        "imbalance_floor": round(float(max(workload.max(), mean) / mean), 4) if mean > 0 else 1.0,
        "farthest_s": round(float(found.farthest_s.max()), 1),
        "contiguous": beats.contiguous(beats.join_islands(adj, out), found.labels),
        "geojson": {"type": "FeatureCollection", "features": features},
        "tables": {
            "beats": {
                "header": ["beat", "grids", "incidents", "facilities", "workload_h",
                           "farthest_s", "centre", "grid_codes"],
                "rows": table,
            }
        },
    }  # fmt: skip


def fusion_faults(
    session: Session, *, result: dict[str, Any], tolerance_m2: float = 1.0
) -> list[dict[str, Any]]:
    """The grid-fusion check of proposed beats: each grid of the station in exactly one beat,
    the beats inside the station, no gap and no overlap beyond ``tolerance_m2``."""
    station = area_service.get_by_code(session, code=result["station"])
    if station is None:
        return [{"rule": "station", "codes": [result["station"]]}]
    station_geom = area_service.geometry(station)
    beat_geoms: list[tuple[str, shapely.Geometry]] = []
    faults: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for feature in result.get("geojson", {}).get("features", []):
        props = feature["properties"]
        beat_geoms.append((props["code"], shapely.geometry.shape(feature["geometry"])))
        for grid in props["grids"]:
            if grid in seen:
                faults.append({"rule": "grid_twice", "codes": [grid, seen[grid], props["code"]]})
            seen[grid] = props["code"]
    grids = session.scalars(
        select(Area.code).where(
            Area.level == AreaLevel.GRID, Area.path.startswith(station.path, autoescape=True)
        )
    ).all()
    for code in grids:
        if code not in seen:
            faults.append({"rule": "grid_missing", "codes": [code]})
    union = shapely.union_all([g for _, g in beat_geoms])
    gap = area_m2(station_geom.difference(union))
    if gap > tolerance_m2:
        faults.append({"rule": "gap", "codes": [station.code], "area_m2": round(gap, 1)})
    for code, geom in beat_geoms:
        outside = area_m2(geom.difference(station_geom))
        if outside > tolerance_m2:
            faults.append({"rule": "outside_parent", "codes": [code], "area_m2": round(outside, 1)})
    for i in range(len(beat_geoms)):
        for j in range(i + 1, len(beat_geoms)):
            overlap = area_m2(beat_geoms[i][1].intersection(beat_geoms[j][1]))
            if overlap > tolerance_m2:
                faults.append(
                    {"rule": "overlap", "codes": [beat_geoms[i][0], beat_geoms[j][0]],
                     "area_m2": round(overlap, 1)}
                )  # fmt: skip
    return faults


def default_period(now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=90), now
