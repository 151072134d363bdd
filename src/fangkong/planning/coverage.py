"""Coverage: the share of demand within 1, 3 and 5 minutes by road of the nearest post.

For each demand point the road time from the nearest site (a post, or a scenario's site) is
the minimum over the sites of the engine's travel time from the site to the point, both
snapped to the roads, travelling as the chosen unit type does (cars drive the emergency
profile, foot patrols walk; :data:`fangkong.dispatch.recommend.TRAVEL`). One sparse
many-to-many query cut at the largest ring gives every pair within it, so the minimum is exact:
a point no site reaches within the largest ring is outside every ring. A point farther than
:data:`SNAP_M` from every road has no road access and is reported by name as unreachable.

Shares are weighted (incidents by priority, addresses by 1 or a chosen column) and reported for
the whole analysis and for every area of the jurisdiction tree in scope (an area's demand is the
demand whose deepest area lies in its subtree); the worst-served grids come first in
``worst_grids``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, AreaLevel
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import UnitType
from fangkong.dispatch.recommend import TRAVEL, Travel, travel_engine
from fangkong.network.engine import EdgePoints, Engine
from fangkong.network.service import Network
from fangkong.planning.demand import Demand

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The response rings (s): 1, 3 and 5 minutes.
DEFAULT_RINGS_S: tuple[float, ...] = (60.0, 180.0, 300.0)
MAX_RINGS = 5
MAX_RING_S = 3600.0
#: Demand farther than this from every road has no road access (m).
SNAP_M = 500.0
#: A site (post, candidate) farther than this from every road has none (m): a post may stand
#: back from the road it leaves by.
SITE_SNAP_M = 2000.0
#: The worst-served grids listed.
WORST_GRIDS = 20
#: Points listed by name when they are unreachable.
MAX_NAMED = 50
#: The most sites an analysis takes.
MAX_SITES = 5_000


@dataclass(frozen=True)
class Site:
    """A place units start from: a post, or a site a scenario or a placement adds."""

    code: str
    name: str
    lon: float
    lat: float
    kind: str = "post"  # post | added | moved | chosen
    post_id: int | None = None


def check_rings(rings_s: Sequence[float]) -> tuple[float, ...]:
    """Sorted distinct rings; 1 to :data:`MAX_RINGS`, each in [1, 3600] s."""
    rings = tuple(sorted({float(r) for r in rings_s}))
    if not 1 <= len(rings) <= MAX_RINGS:
        raise InvalidInput(
            key="error.planning.rings_count", params={"max": MAX_RINGS}, field="rings_s"
        )
    if rings[0] < 1 or rings[-1] > MAX_RING_S or not all(math.isfinite(r) for r in rings):
        raise InvalidInput(
            key="error.planning.rings_range", params={"max": MAX_RING_S}, field="rings_s"
        )
    return rings


def travel_of(unit_type: UnitType) -> Travel:
    travel = TRAVEL[unit_type]
    if travel is None:
        raise InvalidInput(
            key="error.planning.unit_off_road",
            params={"unit_type": unit_type.value},
            field="unit_type",
        )
    return travel


def current_sites(session: Session, *, scope: Scope) -> list[Site]:
    """The police posts in ``scope`` as sites."""
    return [
        Site(p.code, p.name, p.lon, p.lat, "post", p.id)
        for p in dispatch_service.get_posts(session, scope=scope)
    ]


def snap_points(network: Network, lon: FloatArray, lat: FloatArray) -> tuple[EdgePoints, Any]:
    """Points on the driving graph (edge -1 where farther than :data:`SNAP_M` from a road)."""
    snapped = network.snapper.snap(lon, lat, max_distance_m=SNAP_M)
    edge = np.where(snapped.too_far, -1, snapped.edge)
    return EdgePoints(edge, snapped.fraction), snapped.too_far


def snap_sites(network: Network, sites: Sequence[Site], field: str = "sites") -> EdgePoints:
    """Sites on the driving graph; a site farther than :data:`SITE_SNAP_M` from every road has
    no road access (edge -1: it reaches nothing) and is named by :func:`off_road`."""
    if len(sites) > MAX_SITES:
        raise InvalidInput(
            key="error.planning.sites_many",
            params={"count": len(sites), "max": MAX_SITES},
            field=field,
        )
    lon = np.array([s.lon for s in sites], dtype=np.float64)
    lat = np.array([s.lat for s in sites], dtype=np.float64)
    snapped = network.snapper.snap(lon, lat, max_distance_m=SITE_SNAP_M)
    return EdgePoints(np.where(snapped.too_far, -1, snapped.edge), snapped.fraction)


def off_road(points: EdgePoints, sites: Sequence[Site]) -> list[str]:
    """Codes of the sites with no road access (see :func:`snap_sites`)."""
    return [sites[int(i)].code for i in np.flatnonzero(points.edge < 0)]


def nearest_site(
    engine: Engine, sites: EdgePoints, demand: EdgePoints, cutoff_s: float
) -> tuple[FloatArray, IntArray]:
    """For each demand point, the time from the nearest site within ``cutoff_s`` (``inf``
    beyond) and that site's index (-1 beyond). Ties go to the lower site index."""
    times = np.full(len(demand), np.inf)
    which = np.full(len(demand), -1, dtype=np.int64)
    if len(sites) == 0 or len(demand) == 0:
        return times, which
    pairs = engine.many_to_many(sites, demand, cutoff_s=cutoff_s)
    order = np.lexsort((pairs.source, pairs.time_s, pairs.target))
    target = pairs.target[order]
    first = np.ones(target.size, dtype=np.bool_)
    first[1:] = target[1:] != target[:-1]
    keep = order[first]
    times[pairs.target[keep]] = pairs.time_s[keep]
    which[pairs.target[keep]] = pairs.source[keep]
    return times, which


def _ring_key(ring: float) -> str:
    return f"{ring:g}"


def _areas(session: Session, scope: Scope, area: Area | None) -> list[Area]:
    query = select(Area).where(scope.clause(Area.path))
    if area is not None:
        query = query.where(Area.path.startswith(area.path, autoescape=True))
    return list(session.scalars(query.order_by(Area.path)))


def area_rows(
    areas: Sequence[Area],
    paths: Sequence[str | None],
    weight: FloatArray,
    time_s: FloatArray,
    rings: tuple[float, ...],
) -> list[dict[str, Any]]:
    """Per area (in tree order): demand points, weight and the weight within each ring."""
    unique: dict[str, int] = {}
    index = np.array([unique.setdefault(p or "", len(unique)) for p in paths], dtype=np.int64)
    n_paths = len(unique)
    per_path_w = np.bincount(index, weights=weight, minlength=n_paths).astype(np.float64)
    per_path_n: IntArray = np.bincount(index, minlength=n_paths)
    per_path_ring: list[FloatArray] = [
        np.bincount(index, weights=weight * (time_s <= r), minlength=n_paths).astype(np.float64)
        for r in rings
    ]
    totals: dict[int, list[float]] = {}
    for path, k in unique.items():
        for part in path.strip("/").split("/"):
            if not part:
                continue
            acc = totals.setdefault(int(part), [0.0, 0.0] + [0.0] * len(rings))
            acc[0] += float(per_path_n[k])
            acc[1] += float(per_path_w[k])
            for q in range(len(rings)):
                acc[2 + q] += float(per_path_ring[q][k])
    out = []
    for a in areas:
        acc = totals.get(a.id, [0.0, 0.0] + [0.0] * len(rings))
        w = acc[1]
        out.append(
            {
                "code": a.code,
                "name_zh": a.name_zh,
                "name_en": a.name_en,
                "level": a.level.value,
                "depth": a.level.depth,
                "points": int(acc[0]),
                "weight": round(w, 6),
                "covered": {_ring_key(r): round(acc[2 + q], 6) for q, r in enumerate(rings)},
                "share": {
                    _ring_key(r): (round(acc[2 + q] / w, 6) if w > 0 else None)
                    for q, r in enumerate(rings)
                },
            }
        )
    return out


def worst_grids(rows: Sequence[dict[str, Any]], ring: float, limit: int = WORST_GRIDS) -> list[str]:
    """Grid codes with demand, the lowest share within ``ring`` first (more uncovered weight
    first among equal shares)."""
    key = _ring_key(ring)
    grids = [r for r in rows if r["level"] == AreaLevel.GRID.value and r["weight"] > 0]
    grids.sort(key=lambda r: (r["share"][key], -(r["weight"] - r["covered"][key]), r["code"]))
    return [r["code"] for r in grids[:limit]]


def analyse(
    session: Session,
    *,
    network: Network,
    scope: Scope,
    demand: Demand,
    sites: Sequence[Site],
    rings_s: Sequence[float] = DEFAULT_RINGS_S,
    unit_type: UnitType = UnitType.CAR,
    area: Area | None = None,
    with_points: bool = True,
) -> dict[str, Any]:
    """The coverage of ``demand`` by ``sites`` (see the module docstring) as a JSON-able dict.

    Returns
    -------
    dict
        ``rings_s``, ``unit_type``, ``demand`` (counts, total weight, unreachable points by
        name), ``totals`` (weight and weight/share within each ring), ``sites`` (each site's
        nearest-site demand within each ring), ``areas`` (per area, tree order),
        ``worst_grids`` and, with ``with_points``, ``points`` (lon, lat, time_s or None
        beyond the largest ring, site index or -1, weight) for the map and the exports.

    Notes
    -----
    One many-to-many query of the sites against the demand cut at the largest ring:
    O(s · (m_c + n_c)) for the nodes and edges within it, then O(pairs log pairs).
    """
    rings = check_rings(rings_s)
    travel = travel_of(unit_type)
    demand_points, far = snap_points(network, demand.lon, demand.lat)
    site_points = snap_sites(network, sites)
    engine, src = travel_engine(network, travel, site_points)
    _, dst = travel_engine(network, travel, demand_points)
    time_s, which = nearest_site(engine, src, dst, rings[-1])
    w = demand.weight
    total = float(w.sum())
    covered = {_ring_key(r): float(w[time_s <= r].sum()) for r in rings}
    site_rows = []
    for k, site in enumerate(sites):
        mine = which == k
        site_rows.append(
            {
                "code": site.code,
                "name": site.name,
                "lon": site.lon,
                "lat": site.lat,
                "kind": site.kind,
                "covered": {_ring_key(r): float(w[mine & (time_s <= r)].sum()) for r in rings},
            }
        )
    rows = area_rows(_areas(session, scope, area), demand.area_path, w, time_s, rings)
    report: dict[str, Any] = {
        "rings_s": list(rings),
        "unit_type": unit_type.value,
        "travel": travel,
        "area_code": area.code if area is not None else None,
        "demand": {
            "kind": demand.kind,
            "points": len(demand),
            "weight": total,
            "missing_weight": demand.missing_weight,
            "no_road_access": int(far.sum()),
            "no_road_access_names": demand.names(np.flatnonzero(far)[:MAX_NAMED]),
        },
        "totals": {
            "weight": total,
            "covered": covered,
            "share": {k: (v / total if total > 0 else None) for k, v in covered.items()},
        },
        "sites": site_rows,
        "sites_without_road": off_road(site_points, sites),
        "areas": rows,
        "worst_grids": worst_grids(rows, rings[min(1, len(rings) - 1)]),
    }
    if with_points:
        report["points"] = {
            "lon": [round(float(x), 7) for x in demand.lon],
            "lat": [round(float(y), 7) for y in demand.lat],
            "time_s": [round(float(t), 1) if math.isfinite(t) else None for t in time_s],
            "site": which.tolist(),
            "weight": w.tolist(),
        }
    return report


def service_areas(
    network: Network,
    *,
    sites: Sequence[Site],
    ring_s: float,
    unit_type: UnitType = UnitType.CAR,
) -> dict[str, Any]:
    """Each site's service area: the road nodes nearer in time to it than to any other site and
    within ``ring_s``, as a polygon (their concave hull, buffered ~60 m), GeoJSON.

    Notes
    -----
    One multi-source search from all the sites (:meth:`Engine.multi_source_nearest`): O(n + m)
    whatever the number of sites. Ties between equally near sites go to either.
    """
    travel = travel_of(unit_type)
    ring = check_rings([ring_s])[0]
    points = snap_sites(network, sites)
    engine, src = travel_engine(network, travel, points)
    label, time_s = engine.multi_source_nearest(src, cutoff_s=ring)
    graph = engine.graph
    features = []
    for k, site in enumerate(sites):
        nodes = np.flatnonzero((label == k) & (time_s <= ring))
        if nodes.size == 0:
            continue
        cloud = shapely.multipoints(np.column_stack([graph.lon[nodes], graph.lat[nodes]]))
        hull = shapely.concave_hull(cloud, ratio=0.3) if nodes.size >= 3 else cloud
        shape = shapely.buffer(hull, 0.0006)
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(shapely.simplify(shape, 0.0001)),
                "properties": {
                    "code": site.code,
                    "name": site.name,
                    "kind": site.kind,
                    "ring_s": ring,
                    "nodes": int(nodes.size),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
