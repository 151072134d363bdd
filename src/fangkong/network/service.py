"""Travel-time questions over the current road network, for the API and other domains.

Points come in as lon/lat (WGS-84, or GCJ-02/BD-09 with ``crs``), are snapped to the nearest road
edge and answered by the engine; times are seconds, distances metres.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.coords import CoordinateError, CoordSystem, to_wgs84_array
from fangkong.areas.models import Area, AreaLevel
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.network.cache import cached_hierarchy, load_or_build_hierarchy
from fangkong.network.ch import ContractionHierarchy
from fangkong.network.engine import AUTO_HIERARCHY_NODES, Engine, PairTimes
from fangkong.network.graph import RoadGraph
from fangkong.network.isochrone import DEFAULT_THRESHOLDS_S, isochrone, piece_geometries
from fangkong.network.modes import ModeGraph, walking_graph
from fangkong.network.snap import DEFAULT_MAX_DISTANCE_M, Snapper, SnapResult
from fangkong.network.store import MAX_LOADED, load_current, network_dir

MAX_THRESHOLD_S = 3600.0
MAX_POINTS = 5_000
MAX_MATRIX_PAIRS = 1_000_000


@dataclass(frozen=True, eq=False)
class Network:
    """The loaded graph with its engine and snapper (built once per graph)."""

    graph: RoadGraph
    engine: Engine
    snapper: Snapper

    @cached_property
    def walking(self) -> Walking:
        """The same roads on foot (:mod:`fangkong.network.modes`), built on first use."""
        mode = walking_graph(self.graph, self.engine.twin)
        return Walking(mode, Engine(mode.graph))


@dataclass(frozen=True, eq=False)
class Walking:
    """The walking graph and its engine; ``mode.points`` carries driving points over."""

    mode: ModeGraph
    engine: Engine


_lock = threading.Lock()
_current: dict[Path, Network] = {}


def current(data_dir: Path) -> Network:
    """The network of ``data_dir``; :class:`NotFound` when none has been imported."""
    graph = load_current(data_dir)
    if graph is None:
        raise NotFound(key="error.network.none_imported", field="network")
    with _lock:
        cached = _current.get(data_dir)
        if cached is not None and cached.graph is graph:
            return cached
        # the contraction hierarchy from the cache beside the graph (built and stored by
        # `network import`, so that a restart loads it); without one there, large graphs
        # build and store theirs now, small ones build theirs on first use
        hierarchy: ContractionHierarchy | Literal["auto"] = (
            load_or_build_hierarchy(graph, network_dir(data_dir))[0]
            if graph.n_nodes > AUTO_HIERARCHY_NODES
            else cached_hierarchy(graph, network_dir(data_dir)) or "auto"
        )
        engine = Engine(graph, hierarchy=hierarchy)
        network = Network(graph=graph, engine=engine, snapper=Snapper(graph, twin=engine.twin))
        _current.pop(data_dir, None)
        while len(_current) >= MAX_LOADED:  # as many as the store keeps graphs loaded
            del _current[next(iter(_current))]
        _current[data_dir] = network
        return network


def for_county(data_dir: Path, code: str) -> Network | None:
    """The network serving county ``code`` of a province deployment: its cross-border graph
    when one was built (``network import ... --county CODE --border-buffer-m M``), else its
    own graph, else None (:func:`fangkong.network.border.county_network_dir`)."""
    from fangkong.network.border import county_network_dir

    where = county_network_dir(data_dir, code)
    return None if where is None else current(where)


def county_of(session: Session, area_path: str | None) -> str | None:
    """The code of the county (district-level area) a record filed under ``area_path`` lies
    in, or None (filed above the districts, or nowhere)."""
    ids = [int(part) for part in (area_path or "").strip("/").split("/") if part.isdigit()]
    if not ids:
        return None
    return session.scalars(
        select(Area.code).where(Area.id.in_(ids), Area.level == AreaLevel.DISTRICT).limit(1)
    ).first()


def for_area(session: Session, data_dir: Path, *, area_path: str | None) -> Network:
    """The road network for work on a place filed under ``area_path`` (an incident to rank
    units for, a county's coverage).

    In a province deployment (county networks under ``<data_dir>/counties``), the network of
    the county the area lies in -- its cross-border graph where one was built, so that a unit
    near the border is ranked by the roads across it too (:func:`for_county`); else, or for
    an area above the counties or a county with no network of its own, the deployment's
    current network (:func:`current`).

    Raises
    ------
    NotFound
        No network at all.
    """
    if (data_dir / "counties").is_dir():
        code = county_of(session, area_path)
        found = for_county(data_dir, code) if code is not None else None
        if found is not None:
            return found
    return current(data_dir)


def snap(
    network: Network,
    lons: ArrayLike,
    lats: ArrayLike,
    *,
    crs: CoordSystem = CoordSystem.WGS84,
    field: str = "points",
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
) -> SnapResult:
    """Snap points to the roads; a point too far from every road is an error naming it."""
    try:
        lon, lat = to_wgs84_array(lons, lats, crs)
    except CoordinateError as exc:
        raise InvalidInput(
            key="error.network.points_fault", params={"field": field, "reason": exc}, field=field
        ) from None
    result = network.snapper.snap(lon, lat, max_distance_m=max_distance_m)
    far = np.flatnonzero(result.too_far)
    if far.size:
        i = int(far[0])
        if far.size > 1:
            raise InvalidInput(
                key="error.network.far_from_roads",
                params={
                    "field": field,
                    "index": i,
                    "lon": float(lon[i]),
                    "lat": float(lat[i]),
                    "distance_m": max_distance_m,
                    "count": int(far.size),
                },
                field=field,
            )
        raise InvalidInput(
            key="error.network.far_from_road",
            params={
                "field": field,
                "index": i,
                "lon": float(lon[i]),
                "lat": float(lat[i]),
                "distance_m": max_distance_m,
            },
            field=field,
        )
    return result


def _check_size(count: int, field: str, limit: int = MAX_POINTS) -> None:
    if count == 0:
        raise InvalidInput(key="error.network.points_empty", params={"field": field}, field=field)
    if count > limit:
        raise InvalidInput(
            key="error.network.points_many",
            params={"field": field, "count": count, "limit": limit},
            field=field,
        )


def isochrones(
    network: Network,
    *,
    lon: float,
    lat: float,
    thresholds_s: tuple[float, ...] = DEFAULT_THRESHOLDS_S,
    crs: CoordSystem = CoordSystem.WGS84,
) -> dict[str, Any]:
    """The 1/3/5-minute (or other) rings of a point as a GeoJSON FeatureCollection."""
    if not thresholds_s or len(thresholds_s) > 10:
        raise InvalidInput(key="error.network.thresholds_count", field="thresholds")
    if min(thresholds_s) <= 0 or max(thresholds_s) > MAX_THRESHOLD_S:
        raise InvalidInput(
            key="error.network.thresholds_range",
            params={"max": MAX_THRESHOLD_S},
            field="thresholds",
        )
    snapped = snap(network, [lon], [lat], crs=crs, field="point")
    rings = isochrone(network.engine, snapped.points, sorted(thresholds_s))
    return {
        "type": "FeatureCollection",
        "features": [ring.feature() for ring in rings],
        "properties": {
            "snapped": [float(snapped.lon[0]), float(snapped.lat[0])],
            "snap_distance_m": round(float(snapped.distance_m[0]), 1),
        },
    }


def route(
    network: Network,
    *,
    source: tuple[float, float],
    target: tuple[float, float],
    crs: CoordSystem = CoordSystem.WGS84,
) -> dict[str, Any]:
    """The fastest road route between two points, as a GeoJSON Feature (LineString from the
    source's snapped point to the target's, lon/lat), with its time and length."""
    src = snap(network, [source[0]], [source[1]], crs=crs, field="source")
    tgt = snap(network, [target[0]], [target[1]], crs=crs, field="target")
    found = network.engine.route(src.points, tgt.points)
    if found is None:
        raise NotFound(key="error.network.no_route", field="target")
    start = [float(src.lon[0]), float(src.lat[0])]
    end = [float(tgt.lon[0]), float(tgt.lat[0])]
    coords: list[list[float]] = [start]
    for line in piece_geometries(network.engine, found):
        coords += [[float(x), float(y)] for x, y in line.coords if [x, y] != coords[-1]]
    if coords[-1] != end:
        coords.append(end)
    if len(coords) == 1:
        coords.append(end)  # source and target snap to one spot: a line of length 0
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {
            "time_s": round(found.time_s, 3),
            "length_m": round(found.length_m, 1),
            "edges": int(found.edge.shape[0]),
            "snap_distance_m": [
                round(float(src.distance_m[0]), 1),
                round(float(tgt.distance_m[0]), 1),
            ],
        },
    }


def travel_times(
    network: Network,
    *,
    source: tuple[float, float],
    targets: list[tuple[float, float]],
    cutoff_s: float = np.inf,
    crs: CoordSystem = CoordSystem.WGS84,
) -> list[float | None]:
    """Seconds from the source to each target (None where unreachable within the cutoff)."""
    _check_size(len(targets), "targets")
    src = snap(network, [source[0]], [source[1]], crs=crs, field="source")
    tgt = snap(network, [t[0] for t in targets], [t[1] for t in targets], crs=crs, field="targets")
    times = network.engine.one_to_many(src.points, tgt.points, cutoff_s=cutoff_s)
    return [float(t) if np.isfinite(t) else None for t in times]


def nearest(
    network: Network,
    *,
    source: tuple[float, float],
    targets: list[tuple[float, float]],
    k: int,
    cutoff_s: float = np.inf,
    crs: CoordSystem = CoordSystem.WGS84,
) -> list[tuple[int, float]]:
    """The ``k`` targets nearest in time: (index into targets, seconds), nearest first."""
    _check_size(len(targets), "targets")
    if k < 1:
        raise InvalidInput(key="error.network.k_positive", field="k")
    src = snap(network, [source[0]], [source[1]], crs=crs, field="source")
    tgt = snap(network, [t[0] for t in targets], [t[1] for t in targets], crs=crs, field="targets")
    index, times = network.engine.k_nearest(src.points, tgt.points, k, cutoff_s=cutoff_s)
    return [(int(i), float(t)) for i, t in zip(index, times, strict=True)]


def matrix(
    network: Network,
    *,
    sources: list[tuple[float, float]],
    targets: list[tuple[float, float]],
    cutoff_s: float,
    crs: CoordSystem = CoordSystem.WGS84,
) -> PairTimes:
    """The sparse travel-time matrix: only the pairs within ``cutoff_s`` seconds."""
    _check_size(len(sources), "sources")
    _check_size(len(targets), "targets")
    if len(sources) * len(targets) > MAX_MATRIX_PAIRS:
        raise InvalidInput(
            key="error.network.matrix_pairs",
            params={"sources": len(sources), "targets": len(targets), "max": MAX_MATRIX_PAIRS},
            field="targets",
        )
    if not 0 < cutoff_s <= MAX_THRESHOLD_S:
        raise InvalidInput(
            key="error.network.cutoff_range", params={"max": MAX_THRESHOLD_S}, field="cutoff_s"
        )
    src = snap(network, [s[0] for s in sources], [s[1] for s in sources], crs=crs, field="sources")
    tgt = snap(network, [t[0] for t in targets], [t[1] for t in targets], crs=crs, field="targets")
    return network.engine.many_to_many(src.points, tgt.points, cutoff_s=cutoff_s)


def info(network: Network) -> dict[str, Any]:
    graph = network.graph
    return {
        "nodes": graph.n_nodes,
        "edges": graph.n_edges,
        "directed_edge_km": round(float(graph.length_m.sum()) / 1000.0, 1),
        **graph.meta,
    }
