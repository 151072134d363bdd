"""Dispatch recommendation: available units ranked by road time to an incident.

The incident and each unit's latest position are snapped to the road network; the engine's
:meth:`~fangkong.network.engine.Engine.k_nearest_sources` (one search on the reverse graph
from the incident, stopping at the k-th unit) gives each unit's time to the scene.

Units travel as their type does (:data:`TRAVEL`): cars, motorcycles and drone teams drive the
road network (its emergency driving profile); foot patrols walk the same roads, either way along
one-way streets (:mod:`fangkong.network.modes`); boats are not ranked, as the road network has
no waterways. Each way of travel is searched on its own graph, and the candidates are merged by
time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from fangkong.core.errors import InvalidInput
from fangkong.dispatch.models import Incident, Priority, Unit, UnitStatus, UnitType
from fangkong.network import service as network_service
from fangkong.network.engine import EdgePoints, Engine
from fangkong.network.service import Network

#: The response rings (seconds): arrive within 1 minute (post), 3 (beat), 5 (district).
Ring = Literal["1min", "3min", "5min", "beyond"]
Role = Literal["primary", "reinforcement", "alternative"]
RINGS_S: tuple[tuple[float, Ring], ...] = ((60.0, "1min"), (180.0, "3min"), (300.0, "5min"))
BEYOND: Ring = "beyond"
#: How many units a P1 incident is suggested: the first and two reinforcements.
P1_UNITS = 3
MAX_LIMIT = 50
Travel = Literal["drive", "walk"]
#: How each type of unit reaches a scene; None: not over roads (never ranked by road time).
TRAVEL: dict[UnitType, Travel | None] = {
    UnitType.CAR: "drive",
    UnitType.MOTORCYCLE: "drive",
    UnitType.DRONE_TEAM: "drive",  # the team drives to where it launches
    UnitType.FOOT: "walk",
    UnitType.BOAT: None,
}
TRAVELS: tuple[Travel, ...] = ("drive", "walk")


def travel_engine(
    network: Network, travel: Travel, points: EdgePoints
) -> tuple[Engine, EdgePoints]:
    """The engine of a way of travel, and ``points`` (snapped on the driving graph) on it."""
    if travel == "walk":
        walking = network.walking
        return walking.engine, walking.mode.points(points)
    return network.engine, points


#: An incident farther than this from every road has no road access (units stop short of it).
ROAD_ACCESS_MAX_M = 1000.0


@dataclass(frozen=True)
class RoadAccess:
    """Where a scene meets the road network: the nearest point on a road (lon/lat) and the
    scene's distance from it in metres."""

    lon: float
    lat: float
    distance_m: float


def road_access(network: Network, lon: float, lat: float) -> RoadAccess | None:
    """The scene's point snapped to the nearest road, or None with no road within
    :data:`ROAD_ACCESS_MAX_M`."""
    return road_accesses(network, [lon], [lat])[0]


def road_accesses(
    network: Network, lons: Sequence[float], lats: Sequence[float]
) -> list[RoadAccess | None]:
    """:func:`road_access` of each scene, in one call of
    :meth:`~fangkong.network.snap.Snapper.nearest_points`: its fixed cost is several times a
    point's, and intake answers a batch of incidents at once."""
    if not lons:
        return []
    nearest = network.snapper.nearest_points(
        np.asarray(lons, dtype=np.float64),
        np.asarray(lats, dtype=np.float64),
        max_distance_m=ROAD_ACCESS_MAX_M,
    )
    return [
        RoadAccess(lon, lat, distance) if math.isfinite(distance) else None
        for lon, lat, distance in zip(
            nearest.lon.tolist(), nearest.lat.tolist(), nearest.distance_m.tolist(), strict=True
        )
    ]


def ring_of(seconds: float) -> Ring:
    """The smallest ring the time meets: ``1min`` (≤ 60 s), ``3min`` (≤ 180), ``5min``
    (≤ 300), else ``beyond``."""
    for limit, name in RINGS_S:
        if seconds <= limit:
            return name
    return BEYOND


@dataclass(frozen=True)
class Candidate:
    """One ranked unit: its road time to the scene (s), expected arrival and ring.

    ``role`` is ``primary`` for the first, ``reinforcement`` for the second and third of a
    P1 incident, ``alternative`` otherwise; ``suggested`` marks the units to send.
    """

    rank: int
    unit: Unit
    time_s: float
    eta: datetime
    ring: Ring
    role: Role
    suggested: bool


class _SnapCache:
    """Units' snapped positions per network, so that a recommendation snaps only the units
    that moved since the last one (snapping is most of a recommendation's time otherwise).

    Keyed by unit id and position; a new network (an import) starts a new cache.
    """

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._network: Network | None = None
        self._points: dict[int, tuple[float, float, int, float]] = {}

    def points(
        self, network: Network, where: list[tuple[int, float, float]]
    ) -> tuple[list[int], list[float]]:
        """Edge and fraction of each unit given as (id, lon, lat) (edge -1: too far from every
        road)."""
        with self._lock:
            if self._network is not network or len(self._points) > self.MAX_ENTRIES:
                self._network, self._points = network, {}
            cached = self._points
            known = {w[0]: hit for w in where if (hit := cached.get(w[0])) is not None}
        missing = [w for w in where if (hit := known.get(w[0])) is None or hit[:2] != (w[1], w[2])]
        if missing:
            snapped = network.snapper.snap(
                np.array([w[1] for w in missing], dtype=np.float64),
                np.array([w[2] for w in missing], dtype=np.float64),
            )
            edges = np.where(snapped.too_far, -1, snapped.edge).tolist()
            fresh = {
                w[0]: (w[1], w[2], int(e), float(f))
                for w, e, f in zip(missing, edges, snapped.fraction.tolist(), strict=True)
            }
            known.update(fresh)
            with self._lock:
                if self._network is network:
                    self._points.update(fresh)
        rows = [known[w[0]] for w in where]
        return [r[2] for r in rows], [r[3] for r in rows]


_SNAPS = _SnapCache()


def _unit_points(
    network: Network, units: list[Unit], *, available_only: bool
) -> tuple[list[Unit], EdgePoints, NDArray[np.str_]]:
    """The units (available ones only, with ``available_only``) that travel by road and lie
    near a road: the units, their snapped points and their ways of travel. Each unit's
    attributes are read once: on a few hundred units, ORM attribute reads are most of the
    cost of a recommendation."""
    chosen: list[Unit] = []
    where: list[tuple[int, float, float]] = []
    ways: list[str] = []
    for unit in units:
        if available_only and unit.status != UnitStatus.AVAILABLE:
            continue
        way = TRAVEL[unit.unit_type]
        lon, lat = unit.lon, unit.lat
        if way is None or lon is None or lat is None:
            continue
        chosen.append(unit)
        where.append((unit.id, float(lon), float(lat)))
        ways.append(way)
    if not chosen:
        return [], EdgePoints(np.zeros(0, dtype=np.int64), np.zeros(0)), np.array([], dtype=str)
    edges, fractions = _SNAPS.points(network, where)
    keep = [i for i, e in enumerate(edges) if e >= 0]
    return (
        [chosen[i] for i in keep],
        EdgePoints([edges[i] for i in keep], [fractions[i] for i in keep]),
        np.array([ways[i] for i in keep], dtype=str),
    )


def _incident_point(network: Network, incident: Incident) -> EdgePoints:
    return network_service.snap(network, [incident.lon], [incident.lat], field="incident").points


def recommend(
    network: Network,
    *,
    incident: Incident,
    units: list[Unit],
    now: datetime,
    limit: int = 5,
) -> list[Candidate]:
    """Rank the available ``units`` by road time to ``incident``.

    Parameters
    ----------
    network : Network
        The current road network (``fangkong.network.service.current``).
    incident : Incident
        The scene; it must lie within the snapping distance of a road.
    units : list of Unit
        Candidates (e.g. the units of the user's scope); only ``available`` units with a
        position near a road are ranked.
    now : datetime
        Time the expected arrivals count from.
    limit : int
        How many to return (at least 3 for a P1 incident).

    Returns
    -------
    list of Candidate
        Nearest first; unreachable units are left out.

    Notes
    -----
    One reverse Dijkstra from the incident that stops when the ``limit``-th unit is final:
    O(m' + n' log n') for the n' nodes nearer than that unit.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(key="error.dispatch.limit", params={"max": MAX_LIMIT}, field="limit")
    target = _incident_point(network, incident)
    located, points, ways = _unit_points(network, units, available_only=True)
    if not located:
        return []
    p1 = incident.priority == Priority.P1
    k = min(max(limit, P1_UNITS if p1 else 1), len(located))
    found: list[tuple[float, int]] = []  # (time, index into located)
    for travel, members in _by_travel(ways).items():
        engine, (scene, starts) = _on(network, travel, target, points[members])
        index, times = engine.k_nearest_sources(scene, starts, min(k, members.shape[0]))
        found += [(t, int(members[i])) for i, t in zip(index.tolist(), times.tolist(), strict=True)]
    found.sort()
    out: list[Candidate] = []
    for rank, (t, i) in enumerate(found[:k], start=1):
        if not math.isfinite(t):
            continue
        role: Role = (
            "primary"
            if rank == 1
            else ("reinforcement" if p1 and rank <= P1_UNITS else "alternative")
        )
        out.append(
            Candidate(
                rank=rank,
                unit=located[i],
                time_s=float(t),
                eta=now + timedelta(seconds=float(t)),
                ring=ring_of(float(t)),
                role=role,
                suggested=role != "alternative",
            )
        )
    return out


def _by_travel(ways: NDArray[np.str_]) -> dict[Travel, NDArray[np.int64]]:
    """Indices per way of travel."""
    return {t: members for t in TRAVELS if (members := np.flatnonzero(ways == t)).shape[0]}


def _on(
    network: Network, travel: Travel, target: EdgePoints, starts: EdgePoints
) -> tuple[Engine, tuple[EdgePoints, EdgePoints]]:
    """The engine of ``travel`` with the scene and the units' points on its graph."""
    engine, scene = travel_engine(network, travel, target)
    _, on_graph = travel_engine(network, travel, starts)
    return engine, (scene, on_graph)


def predict(network: Network, *, incident: Incident, units: list[Unit]) -> dict[int, float]:
    """Road time (s) from each unit's position to the incident, by unit id, each unit by its
    way of travel; units without a position, too far from a road, not travelling by road or
    unreachable are left out."""
    target = _incident_point(network, incident)
    located, points, ways = _unit_points(network, units, available_only=False)
    out: dict[int, float] = {}
    for travel, members in _by_travel(ways).items():
        engine, (scene, starts) = _on(network, travel, target, points[members])
        times = engine.many_to_one(starts, scene)
        out.update(
            (located[int(i)].id, float(t))
            for i, t in zip(members.tolist(), times.tolist(), strict=True)
            if math.isfinite(t)
        )
    return out
