"""Hotspot analyses of the incidents in scope (place-based, SCOPE.md): the incidents of a period
counted per H3 cell and per road segment, filtered by category, priority and hour of week;
Gi* with FDR; a kernel density surface; the comparison with an earlier period.

Only an incident's point, time, category and priority are read: nothing about callers.
The numerics are :mod:`fangkong.planning.hotspots`; this module reads and shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import contourpy
import h3
import numpy as np
import shapely
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Incident, IncidentStatus, Priority
from fangkong.network.service import Network
from fangkong.planning import hotspots as hs

#: The most incidents one analysis reads.
MAX_INCIDENTS = 2_000_000
#: The most permutations (esda's default is 999).
MAX_PERMUTATIONS = 9_999
#: The road segments listed (most incidents per km first).
MAX_SEGMENTS = 500
#: The most road segments one analysis keeps (the busiest, then the hot, cold, new and fading).
MAX_SEGMENT_ROWS = 5_000
#: Incidents farther from every road are not counted on a segment (m).
SNAP_M = 500.0
#: Cells of the density surface per side.
SURFACE_SIZE = 256
#: Density bands drawn on the map (quantiles of the positive density).
SURFACE_LEVELS = (0.5, 0.75, 0.9, 0.97, 0.99)
DEFAULT_PERIOD = timedelta(days=90)


@dataclass(frozen=True)
class Incidents:
    """The incidents of one period: point, hour of week, category and priority."""

    lon: hs.FloatArray
    lat: hs.FloatArray
    hour: hs.IntArray
    category: list[str]
    priority: list[str]

    def __len__(self) -> int:
        return int(self.lon.shape[0])


@dataclass(frozen=True)
class HotspotSpec:
    """What a hotspot analysis counts and tests (see :func:`analyse`)."""

    start: datetime
    end: datetime
    resolution: int = 9
    categories: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    hours: tuple[int, ...] = ()
    permutations: int = 999
    seed: int = 12345
    alpha: float = 0.05
    inference: Literal["sim", "norm"] = "sim"
    compare_start: datetime | None = None
    compare_end: datetime | None = None
    bandwidth_m: float | None = None
    segments: bool = True

    def check(self) -> None:
        if self.end <= self.start:
            raise InvalidInput(key="error.planning.period_order", field="end")
        if (self.compare_start is None) != (self.compare_end is None):
            raise InvalidInput(key="error.planning.hotspot_compare_period", field="compare_end")
        if (
            self.compare_start is not None
            and self.compare_end is not None
            and self.compare_end <= self.compare_start
        ):
            raise InvalidInput(key="error.planning.period_order", field="compare_end")
        if self.resolution not in hs.RESOLUTIONS:
            raise InvalidInput(
                key="error.planning.hotspot_resolution",
                params={"value": self.resolution},
                field="resolution",
            )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def read_incidents(
    session: Session,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    area: Area | None = None,
    categories: Sequence[str] = (),
    priorities: Sequence[str] = (),
    hours: Sequence[int] = (),
) -> Incidents:
    """Incidents received in [start, end) in scope (and ``area``'s subtree), with the filters;
    merged ones and those cancelled before dispatch left out (as demand does). The hour of week
    is the local one of ``zone`` (Monday 00:00 is 0)."""
    query = select(
        Incident.lon, Incident.lat, Incident.received_at, Incident.category, Incident.priority
    ).where(
        scope.clause(Incident.area_path),
        Incident.received_at >= start,
        Incident.received_at < end,
        Incident.status != IncidentStatus.MERGED,
        or_(
            Incident.status != IncidentStatus.CANCELLED,
            and_(Incident.status == IncidentStatus.CANCELLED, Incident.dispatched_at.is_not(None)),
        ),
    )
    if area is not None:
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    if categories:
        query = query.where(Incident.category.in_(list(categories)))
    if priorities:
        query = query.where(Incident.priority.in_([Priority(p) for p in priorities]))
    rows = session.execute(query.order_by(Incident.id).limit(MAX_INCIDENTS + 1)).all()
    if len(rows) > MAX_INCIDENTS:
        raise InvalidInput(
            key="error.planning.hotspot_many",
            params={"max": MAX_INCIDENTS},
            field="start",
        )
    lon = np.array([r[0] for r in rows], dtype=np.float64)
    lat = np.array([r[1] for r in rows], dtype=np.float64)
    local = [_aware(r[2]).astimezone(zone) for r in rows]
    hour = hs.hour_of_week(
        np.array([t.weekday() for t in local], dtype=np.int64),
        np.array([t.hour for t in local], dtype=np.int64),
    )
    category = [str(r[3]) for r in rows]
    priority = [str(getattr(r[4], "value", r[4])) for r in rows]
    if hours:
        keep = np.isin(hour, np.asarray(sorted(set(hours)), dtype=np.int64))
        index = np.flatnonzero(keep)
        return Incidents(
            lon[keep],
            lat[keep],
            hour[keep],
            [category[i] for i in index],
            [priority[i] for i in index],
        )
    return Incidents(lon, lat, hour, category, priority)


def region_polygons(session: Session, *, scope: Scope, area: Area | None) -> list[shapely.Polygon]:
    """The polygons of the study region: the area, else the top areas of the scope."""
    if area is not None:
        areas = [area]
    else:
        query = select(Area).where(scope.clause(Area.path))
        found = list(session.scalars(query))
        paths = {a.path for a in found}
        areas = [a for a in found if not any(a.path != p and a.path.startswith(p) for p in paths)]
    out: list[shapely.Polygon] = []
    for a in areas:
        geometry = shapely.from_wkb(a.geometry_wkb)
        out.extend(getattr(geometry, "geoms", [geometry]))
    return [g for g in out if isinstance(g, shapely.Polygon) and not g.is_empty]


def _study(polygons: Sequence[shapely.Polygon], resolution: int, cells: Sequence[str]) -> set[str]:
    region = hs.study_cells([list(p.exterior.coords) for p in polygons], resolution)
    region.update(cells)
    return region


def _gi(
    counts: dict[str, float], region: set[str], spec: HotspotSpec
) -> tuple[hs.Contiguity, hs.GiStar, list[hs.HotspotClass], float]:
    weights = hs.h3_contiguity(sorted(region))
    y = np.array([counts.get(c, 0.0) for c in weights.cells], dtype=np.float64)
    result = hs.gi_star(y, weights, permutations=spec.permutations, seed=spec.seed)
    classes, cut = hs.classify(result, alpha=spec.alpha, inference=spec.inference)
    return weights, result, classes, cut


def _round(value: float, digits: int = 6) -> float | None:
    return None if not np.isfinite(value) else round(float(value), digits)


def surface(incidents: Incidents, bandwidth_m: float | None) -> dict[str, Any] | None:
    """The kernel density surface as GeoJSON bands (quantiles of the positive density)."""
    if len(incidents) < 2:
        return None
    lon0 = float(np.median(incidents.lon))
    lat0 = float(np.median(incidents.lat))
    x, y = hs.project(incidents.lon, incidents.lat, lon0, lat0)
    h = float(bandwidth_m) if bandwidth_m else hs.scott_bandwidth(x, y)
    pad = 3.0 * h
    bounds = (
        float(x.min() - pad),
        float(y.min() - pad),
        float(x.max() + pad),
        float(y.max() + pad),
    )
    density = hs.kernel_density(x, y, bandwidth_m=h, bounds=bounds, size=SURFACE_SIZE)
    cell = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / SURFACE_SIZE
    positive = density[density > density.max() * 1e-3]
    if positive.size == 0:
        return None
    levels = sorted({float(np.quantile(positive, q)) for q in SURFACE_LEVELS})
    xs = bounds[0] + (np.arange(SURFACE_SIZE) + 0.5) * cell
    ys = bounds[1] + (np.arange(SURFACE_SIZE) + 0.5) * cell
    k = np.pi / 180.0 * hs.EARTH_M
    lons = lon0 + xs / (k * np.cos(np.radians(lat0)))
    lats = lat0 + ys / k
    generator = contourpy.contour_generator(
        lons, lats, density, fill_type=contourpy.FillType.OuterOffset
    )
    features: list[dict[str, Any]] = []
    uppers = [*levels[1:], float(density.max()) + 1.0]
    for band, (lower, upper) in enumerate(zip(levels, uppers, strict=True)):
        filled: Any = generator.filled(lower, upper)
        for pts, offs in zip(filled[0], filled[1], strict=True):
            rings = [
                [[round(float(a), 6), round(float(b), 6)] for a, b in pts[offs[j] : offs[j + 1]]]
                for j in range(len(offs) - 1)
            ]
            features.append(
                {
                    "type": "Feature",
                    "properties": {"kind": "density", "band": band, "density_km2": lower},
                    "geometry": {"type": "Polygon", "coordinates": rings},
                }
            )
    return {
        "bandwidth_m": round(h, 1),
        "cell_m": round(cell, 1),
        "max_km2": round(float(density.max()), 3),
        "levels_km2": [round(v, 3) for v in levels],
        "features": features,
    }


def _segment_row(network: Network, seg: int, count: int, rate: float) -> dict[str, Any]:
    shape = network.graph.edge_shape(seg)
    return {
        "segment": seg,
        "count": count,
        "per_km": round(rate, 3),
        "length_m": round(float(network.graph.length_m[seg]), 1),
        "coordinates": [[round(float(a), 6), round(float(b), 6)] for a, b in shape],
    }


def _segment_counts(network: Network, incidents: Incidents) -> dict[int, float]:
    """Incidents snapped to the road (within :data:`SNAP_M`) per segment."""
    if len(incidents) == 0:
        return {}
    snapped = network.snapper.snap(incidents.lon, incidents.lat, max_distance_m=SNAP_M)
    edge = np.asarray(snapped.edge, dtype=np.int64)
    seg = hs.segment_of_edge(network.snapper.twin)[edge[edge >= 0]]
    found, counts = np.unique(seg, return_counts=True)
    return {int(s): float(c) for s, c in zip(found, counts, strict=True)}


def region_segments(network: Network, polygons: Sequence[shapely.Polygon]) -> set[int]:
    """The road segments of the study region: those whose middle (between its two junctions)
    lies in one of the polygons."""
    if not polygons:
        return set()
    graph = network.graph
    tail = np.asarray(graph.tail, dtype=np.int64)
    head = np.asarray(graph.head, dtype=np.int64)
    x = (graph.lon[tail] + graph.lon[head]) / 2.0
    y = (graph.lat[tail] + graph.lat[head]) / 2.0
    inside = shapely.contains_xy(shapely.union_all(list(polygons)), x, y)
    seg = hs.segment_of_edge(network.snapper.twin)
    return {int(s) for s in np.unique(seg[inside])}


def _segment_gi(
    network: Network, counts: dict[int, float], region: set[int], spec: HotspotSpec
) -> tuple[hs.Contiguity, hs.FloatArray, hs.GiStar, list[hs.HotspotClass], float]:
    graph = network.graph
    weights = hs.segment_contiguity(
        np.asarray(sorted(region), dtype=np.int64), graph.tail, graph.head
    )
    ids = np.asarray([int(c) for c in weights.cells], dtype=np.int64)
    rate = hs.per_km(np.array([counts.get(int(s), 0.0) for s in ids]), graph.length_m[ids])
    result = hs.gi_star(rate, weights, permutations=spec.permutations, seed=spec.seed)
    classes, cut = hs.classify(result, alpha=spec.alpha, inference=spec.inference)
    return weights, rate, result, classes, cut


def segment_hotspots(
    network: Network,
    now: Incidents,
    polygons: Sequence[shapely.Polygon],
    spec: HotspotSpec,
    before: Incidents | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Gi* over road segments: incidents snapped to the road (within :data:`SNAP_M`) per
    segment and per km (:func:`.hotspots.per_km`), over every segment of the study region
    (:func:`region_segments`) and every segment with an incident; neighbours are segments
    sharing a junction (:func:`.hotspots.segment_contiguity`), weighed as the H3 cells are
    (binary, row-standardised with the segment itself); the same permutations, seed, FDR bound
    and classes as the cells; with ``before``, each segment's trend.

    Returns the rows (the :data:`MAX_SEGMENTS` segments with most incidents per km, and every
    hot, cold, new or fading one, up to :data:`MAX_SEGMENT_ROWS`; most per km first) and the
    summary (None when no incident lies near a road)."""
    counts = _segment_counts(network, now)
    if not counts:
        return [], None
    region = region_segments(network, polygons) | set(counts)
    weights, rate, gi, classes, cut = _segment_gi(network, counts, region, spec)
    before_class: dict[int, hs.HotspotClass] = {}
    before_counts: dict[int, float] = {}
    if before is not None:
        before_counts = _segment_counts(network, before)
        if before_counts:
            weights_b, _, _, classes_b, _ = _segment_gi(
                network, before_counts, region | set(before_counts), spec
            )
            before_class = {int(c): k for c, k in zip(weights_b.cells, classes_b, strict=True)}
    trends = {"new": 0, "persistent": 0, "fading": 0}
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(weights.cells):
        seg = int(name)
        tr = hs.trend(before_class.get(seg, "none"), classes[i])
        if tr != "none":
            trends[tr] += 1
        rows.append(
            {
                **_segment_row(network, seg, int(counts.get(seg, 0.0)), float(rate[i])),
                "z": _round(float(gi.z[i]), 4),
                "p_norm": _round(float(gi.p_norm[i]), 6),
                "p_sim": _round(float(gi.p_sim[i]), 6),
                "class": classes[i],
                "trend": tr if before is not None else None,
                "before_count": int(before_counts.get(seg, 0.0)) if before is not None else None,
            }
        )
    for seg, was in before_class.items():
        if was == "hot" and seg not in region:
            trends["fading"] += 1
            rows.append(
                {
                    **_segment_row(network, seg, 0, 0.0),
                    "z": None, "p_norm": None, "p_sim": None, "class": "none",
                    "trend": "fading", "before_count": int(before_counts.get(seg, 0.0)),
                }
            )  # fmt: skip
    # the busiest by rate, then every other significant or changing one
    rows.sort(key=lambda r: (-r["per_km"], r["segment"]))
    busiest = [r for r in rows[:MAX_SEGMENTS] if r["count"] > 0]
    listed = {r["segment"] for r in busiest}
    marked = [
        r
        for r in rows
        if r["segment"] not in listed and (r["class"] != "none" or r["trend"] not in (None, "none"))
    ]
    # hot ones and the changes first, then cold ones by z (the most significant first)
    marked.sort(
        key=lambda r: (r["class"] != "hot" and r["trend"] in (None, "none"), -abs(r["z"] or 0))
    )
    kept = sorted(
        busiest + marked[: max(0, MAX_SEGMENT_ROWS - len(busiest))],
        key=lambda r: (-r["per_km"], r["segment"]),
    )
    summary: dict[str, Any] = {
        "segments_in_region": weights.n,
        "snapped": int(sum(counts.values())),
        "hot": sum(1 for c in classes if c == "hot"),
        "cold": sum(1 for c in classes if c == "cold"),
        "fdr_cut": cut,
        "listed": len(kept),
        "weights": "junction contiguity, row-standardised with the segment itself",
        "compare": trends if before is not None else None,
    }
    return kept, summary


def analyse(
    session: Session,
    *,
    scope: Scope,
    spec: HotspotSpec,
    zone: ZoneInfo,
    area: Area | None = None,
    network: Network | None = None,
) -> dict[str, Any]:
    """A hotspot analysis of the incidents in scope.

    Counts per H3 cell at ``spec.resolution`` over the study region (every cell whose centre
    lies in the area, or in the scope's top areas, plus every cell with an incident); Gi* with
    each cell and its ring of neighbours (:func:`.hotspots.gi_star`), the permutation (or
    normal) p-values cut by Benjamini-Hochberg at ``alpha``; hot and cold cells; with an earlier
    period, each cell's trend (new, persistent, fading); incidents per road segment per km
    (when a network is given); a kernel density surface; counts per hour of week.
    """
    spec.check()
    now = read_incidents(
        session,
        scope=scope,
        start=spec.start,
        end=spec.end,
        zone=zone,
        area=area,
        categories=spec.categories,
        priorities=spec.priorities,
        hours=spec.hours,
    )
    polygons = region_polygons(session, scope=scope, area=area)
    cells = hs.cells_of(now.lon, now.lat, spec.resolution)
    counts = hs.count_cells(cells)
    result: dict[str, Any] = {
        "resolution": spec.resolution,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "incidents": len(now),
        "alpha": spec.alpha,
        "inference": spec.inference if spec.permutations > 0 else "norm",
        "permutations": spec.permutations,
        "seed": spec.seed,
        "hour_of_week": np.bincount(now.hour, minlength=hs.HOURS_OF_WEEK).tolist(),
        "by_category": _tally(now.category),
        "by_priority": _tally(now.priority),
        "cells": [],
        "hot": 0,
        "cold": 0,
        "fdr_cut": None,
        "compare": None,
        "segments": [],
        "segment_gi": None,
        "surface": None,
    }
    if len(now) == 0:
        return result
    region = _study(polygons, spec.resolution, cells)
    weights, gi, classes, cut = _gi(counts, region, spec)
    result["cells_in_region"] = weights.n
    result["fdr_cut"] = cut
    before_class: dict[str, hs.HotspotClass] = {}
    before_counts: dict[str, float] = {}
    before: Incidents | None = None
    if spec.compare_start is not None and spec.compare_end is not None:
        before = read_incidents(
            session,
            scope=scope,
            start=spec.compare_start,
            end=spec.compare_end,
            zone=zone,
            area=area,
            categories=spec.categories,
            priorities=spec.priorities,
            hours=spec.hours,
        )
        before_cells = hs.cells_of(before.lon, before.lat, spec.resolution)
        before_counts = hs.count_cells(before_cells)
        if len(before):
            region_b = region | set(before_cells)
            weights_b, _, classes_b, _ = _gi(before_counts, region_b, spec)
            before_class = dict(zip(weights_b.cells, classes_b, strict=True))
    rows: list[dict[str, Any]] = []
    trends = {"new": 0, "persistent": 0, "fading": 0}
    for i, cell in enumerate(weights.cells):
        cls = classes[i]
        count = counts.get(cell, 0.0)
        was = before_class.get(cell, "none")
        tr = hs.trend(was, cls)
        if tr != "none":
            trends[tr] += 1
        if count == 0 and cls == "none" and tr == "none":
            continue
        lat, lon = h3.cell_to_latlng(cell)
        rows.append(
            {
                "cell": cell,
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "count": int(count),
                "gs": _round(float(gi.gs[i]), 9),
                "z": _round(float(gi.z[i]), 4),
                "p_norm": _round(float(gi.p_norm[i]), 6),
                "p_sim": _round(float(gi.p_sim[i]), 6),
                "class": cls,
                "trend": tr if before_class or spec.compare_start is not None else None,
                "before_count": int(before_counts.get(cell, 0.0)) if spec.compare_start else None,
            }
        )
    # cells that were hot before and are outside today's region (no incident now)
    for cell, was in before_class.items():
        if was == "hot" and cell not in region:
            trends["fading"] += 1
            lat, lon = h3.cell_to_latlng(cell)
            rows.append(
                {
                    "cell": cell,
                    "lon": round(lon, 6),
                    "lat": round(lat, 6),
                    "count": 0,
                    "gs": None,
                    "z": None,
                    "p_norm": None,
                    "p_sim": None,
                    "class": "none",
                    "trend": "fading",
                    "before_count": int(before_counts.get(cell, 0.0)),
                }
            )
    rows.sort(key=lambda r: (-(r["z"] if r["z"] is not None else -1e9), r["cell"]))
    result["cells"] = rows
    result["hot"] = sum(1 for c in classes if c == "hot")
    result["cold"] = sum(1 for c in classes if c == "cold")
    if spec.compare_start is not None and spec.compare_end is not None:
        result["compare"] = {
            "start": spec.compare_start.isoformat(),
            "end": spec.compare_end.isoformat(),
            **trends,
        }
    if network is not None and spec.segments:
        result["segments"], result["segment_gi"] = segment_hotspots(
            network, now, polygons, spec, before
        )
    result["surface"] = surface(now, spec.bandwidth_m)
    return result


def _tally(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def cell_polygon(cell: str) -> list[list[float]]:
    """A cell's boundary as a closed GeoJSON ring (lon, lat)."""
    ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3.cell_to_boundary(cell)]
    return [*ring, ring[0]]


def geojson(result: dict[str, Any]) -> dict[str, Any]:
    """The analysis as a FeatureCollection: cells (count, z, p, class, trend), road segments
    as lines (count, per km, z, p, class, trend) and the density bands."""
    features: list[dict[str, Any]] = []
    for row in result.get("cells", []):
        features.append(
            {
                "type": "Feature",
                "properties": {"kind": "cell", **{k: v for k, v in row.items() if k != "lon"}},
                "geometry": {"type": "Polygon", "coordinates": [cell_polygon(row["cell"])]},
            }
        )
    for seg in result.get("segments", []):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "kind": "segment",
                    **{k: v for k, v in seg.items() if k != "coordinates"},
                },
                "geometry": {"type": "LineString", "coordinates": seg["coordinates"]},
            }
        )
    surface_ = result.get("surface") or {}
    features.extend(surface_.get("features", []))
    return {"type": "FeatureCollection", "features": features}


def default_period(now: datetime) -> tuple[datetime, datetime]:
    return now - DEFAULT_PERIOD, now


__all__ = ["HotspotSpec", "Incidents", "analyse", "geojson", "read_incidents"]
