"""Import the drivable road network of an OpenStreetMap extract (``.osm.pbf`` and the other
formats libosmium reads) into a :class:`~fangkong.network.graph.RoadGraph`.

What is read
------------
- **Ways**: ``highway=*`` in :data:`DRIVABLE_HIGHWAYS` that are not ``area=yes`` and that a
  unit may drive on: with an emergency profile an ``emergency=yes|designated|official|
  permissive`` tag admits the way and ``emergency=no`` bars it; otherwise the most specific of
  ``motorcar``, ``motor_vehicle``, ``vehicle``, ``access`` present decides, barring the values
  in :attr:`Profile.barred_access <fangkong.network.profile.Profile.barred_access>` (``no``,
  ``private``, ``agricultural``, ``forestry``, ``delivery``, ``psv``, ``bus`` by default).
- **Direction** (:func:`oneway_direction`): ``oneway=yes|true|1`` forward, ``-1|reverse``
  backward, ``no|false|0|alternating`` both ways; without a usable ``oneway`` tag, roundabouts
  (``junction=roundabout|circular``) and ``highway=motorway`` are one-way. Ways with
  ``oneway=reversible`` (direction changes with the time of day) are skipped: no fixed
  direction is right.
- **Speeds**: the profile's class speed, urban or rural, or the ``maxspeed`` tag
  (``maxspeed:forward``/``maxspeed:backward`` per direction); see :mod:`fangkong.network.profile`.
- **Edges**: ways are split at every node shared with another way (or met twice by the same
  way) and at their ends; the nodes in between become the edge's shape. Vertices whose
  location is missing from the extract (a way cut at its border) split the way too.

What is not modelled
--------------------
Turn restrictions (``type=restriction`` relations), turn costs and U-turn penalties: any edge
may follow any edge at a node, a U-turn at a dead end is free, so every node of the kept
strongly connected component is reachable from every other. Barriers on nodes (gates,
bollards), traffic signals, ferries, time-dependent access (``:conditional``) and lanes are
ignored.

Only the largest strongly connected component is kept; the report says how many nodes and
edges were dropped with the others (islands, private compounds reached only through barred
ways, roads cut at the extract's border).

Map data © OpenStreetMap contributors, ODbL.
"""

from __future__ import annotations

import time
from array import array
from pathlib import Path
from typing import Literal

import numpy as np
import osmium
from osmium.filter import EntityFilter, KeyFilter

from fangkong.core.errors import InvalidInput
from fangkong.network._build import (
    BACKWARD,
    BOTH,
    FORWARD,
    ImportReport,
    LineSet,
    ProgressFn,
    assemble,
)
from fangkong.network.graph import RoadGraph
from fangkong.network.profile import DEFAULT_PROFILE, Profile, RoadClass, parse_maxspeed

__all__ = [
    "CAR_ACCESS_KEYS",
    "DRIVABLE_HIGHWAYS",
    "car_forbidden",
    "graph_from_osm",
    "oneway_direction",
    "tag_value",
]

#: ``highway=*`` values treated as drivable by a patrol car.
DRIVABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
    }
)

#: Access keys from most to least specific for a car; the first one present decides.
CAR_ACCESS_KEYS: tuple[str, ...] = ("motorcar", "motor_vehicle", "vehicle", "access")
_NO_ACCESS = frozenset({"no", "private"})
_EMERGENCY_YES = frozenset({"yes", "designated", "official", "permissive"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})
_ONEWAY_NONE = frozenset({"no", "false", "0", "alternating"})

Direction = Literal["both", "forward", "backward", "reversible"]
_DIRECTION_CODE = {"both": BOTH, "forward": FORWARD, "backward": BACKWARD}
_PROGRESS_EVERY = 5000


def tag_value(tags: osmium.osm.TagList, key: str) -> str | None:
    """Tag value with surrounding whitespace removed; None when absent or blank."""
    value = tags.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def car_forbidden(
    tags: osmium.osm.TagList,
    *,
    barred: frozenset[str] | tuple[str, ...] = _NO_ACCESS,
    keys: tuple[str, ...] = CAR_ACCESS_KEYS,
) -> bool:
    """Whether the most specific access tag present in ``keys`` has a value in ``barred``."""
    for key in keys:
        value = tag_value(tags, key)
        if value is not None:
            return value.lower() in barred
    return False


def oneway_direction(tags: osmium.osm.TagList, highway: str) -> Direction:
    """The directions a way may be driven in (see the module docstring)."""
    value = (tag_value(tags, "oneway") or "").lower()
    if value in _ONEWAY_FORWARD:
        return "forward"
    if value in _ONEWAY_REVERSE:
        return "backward"
    if value == "reversible":
        return "reversible"
    if value in _ONEWAY_NONE:
        return "both"
    implied = tag_value(tags, "junction") in ("roundabout", "circular") or highway == "motorway"
    return "forward" if implied else "both"


def _unit_barred(tags: osmium.osm.TagList, profile: Profile) -> bool:
    if profile.emergency:
        emergency = (tag_value(tags, "emergency") or "").lower()
        if emergency in _EMERGENCY_YES:
            return False
        if emergency == "no":
            return True
    return car_forbidden(tags, barred=profile.barred_access)


def _limit(value: str | None, counts: dict[str, int]) -> tuple[float, str | None]:
    """A ``maxspeed*`` tag as (km/h or NaN, zone); tallies used and unreadable values."""
    if value is None:
        return float("nan"), None
    parsed = parse_maxspeed(value)
    if parsed is None:
        counts["maxspeed_unparsed"] += 1
        return float("nan"), None
    if parsed.kmh is not None:
        counts["maxspeed_used"] += 1
    return (float("nan") if parsed.kmh is None else parsed.kmh), parsed.zone


def _read_ways(
    path: Path, profile: Profile, progress: ProgressFn
) -> tuple[LineSet, dict[str, int]]:
    counts = dict.fromkeys(
        (
            "ways",
            "skipped_access",
            "skipped_area",
            "skipped_reversible",
            "skipped_no_location",
            "maxspeed_used",
            "maxspeed_unparsed",
        ),
        0,
    )
    keys, lons, lats = array("q"), array("d"), array("d")
    ptr = [0]
    classes, directions, zones = array("b"), array("b"), array("b")
    limit_f, limit_b = array("d"), array("d")
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(EntityFilter(osmium.osm.WAY))
        .with_filter(KeyFilter("highway"))
    )
    seen = 0
    for way in processor:
        if not isinstance(way, osmium.osm.Way):
            continue
        seen += 1
        if seen % _PROGRESS_EVERY == 0:
            progress("read", seen, 0)
        tags = way.tags
        highway = tag_value(tags, "highway")
        if highway not in DRIVABLE_HIGHWAYS:
            continue
        counts["ways"] += 1
        if tag_value(tags, "area") == "yes":
            counts["skipped_area"] += 1
            continue
        if _unit_barred(tags, profile):
            counts["skipped_access"] += 1
            continue
        direction = oneway_direction(tags, highway)
        if direction == "reversible":
            counts["skipped_reversible"] += 1
            continue
        both_kmh, zone = _limit(tag_value(tags, "maxspeed"), counts)
        fwd_kmh, _ = _limit(tag_value(tags, "maxspeed:forward"), counts)
        bwd_kmh, _ = _limit(tag_value(tags, "maxspeed:backward"), counts)
        fwd_kmh = both_kmh if np.isnan(fwd_kmh) else fwd_kmh
        bwd_kmh = both_kmh if np.isnan(bwd_kmh) else bwd_kmh
        attributes = (
            int(RoadClass.from_label(highway)),
            _DIRECTION_CODE[direction],
            -1 if zone is None else int(zone == "urban"),
            fwd_kmh,
            bwd_kmh,
        )
        # Each run of vertices with known locations is one line; a missing location (a node
        # outside the extract) ends the run.
        start = len(keys)
        missing = False
        for node in way.nodes:
            location = node.location
            if not location.valid():
                missing = True
                if len(keys) - start >= 2:
                    _close_line(ptr, keys, classes, directions, zones, limit_f, limit_b, attributes)
                else:
                    del keys[start:], lons[start:], lats[start:]
                start = len(keys)
                continue
            keys.append(node.ref)
            lons.append(location.lon)
            lats.append(location.lat)
        if len(keys) - start >= 2:
            _close_line(ptr, keys, classes, directions, zones, limit_f, limit_b, attributes)
        else:
            del keys[start:], lons[start:], lats[start:]
        if missing:
            counts["skipped_no_location"] += 1
    progress("read", seen, seen)
    lines = LineSet(
        keys=np.frombuffer(keys, dtype=np.int64).copy(),
        lon=np.frombuffer(lons, dtype=np.float64).copy(),
        lat=np.frombuffer(lats, dtype=np.float64).copy(),
        ptr=np.asarray(ptr, dtype=np.int64),
        road_class=np.frombuffer(classes, dtype=np.int8).copy(),
        direction=np.frombuffer(directions, dtype=np.int8).copy(),
        maxspeed_fwd=np.frombuffer(limit_f, dtype=np.float64).copy(),
        maxspeed_bwd=np.frombuffer(limit_b, dtype=np.float64).copy(),
        explicit_kmh=np.full(len(classes), np.nan),
        zone=np.frombuffer(zones, dtype=np.int8).copy(),
    )
    return lines, counts


def _close_line(
    ptr: list[int],
    keys: array[int],
    classes: array[int],
    directions: array[int],
    zones: array[int],
    limit_f: array[float],
    limit_b: array[float],
    attributes: tuple[int, int, int, float, float],
) -> None:
    road_class, direction, zone, fwd_kmh, bwd_kmh = attributes
    ptr.append(len(keys))
    classes.append(road_class)
    directions.append(direction)
    zones.append(zone)
    limit_f.append(fwd_kmh)
    limit_b.append(bwd_kmh)


def graph_from_osm(
    path: Path,
    profile: Profile = DEFAULT_PROFILE,
    *,
    progress: ProgressFn | None = None,
) -> tuple[RoadGraph, ImportReport]:
    """Build the drivable road graph of an OSM extract.

    Parameters
    ----------
    path : pathlib.Path
        An ``.osm.pbf`` (or ``.osm``, ``.osm.bz2``... anything libosmium reads by its suffix).
    profile : Profile
        Speeds, access rules and the urban rule.
    progress : callable, optional
        ``progress(stage, done, total)`` with stages ``"read"`` (ways, total unknown until the
        end), ``"split"``, ``"speeds"``, ``"components"``.

    Returns
    -------
    (RoadGraph, ImportReport)
        The largest strongly connected component, nodes numbered by OSM node id order, and
        what was kept and dropped. ``report.counts`` holds ``ways`` (drivable-class ways
        read), ``skipped_access``, ``skipped_area``, ``skipped_reversible``,
        ``skipped_no_location`` (ways with a node missing from the extract; their known parts
        are kept), ``maxspeed_used``, ``maxspeed_unparsed``, ``lines_degenerate`` and
        ``loops_dropped``.

    Raises
    ------
    InvalidInput
        When the file is missing, not an OSM file libosmium can read, or holds no drivable
        road; the message names the file and the reason.

    Notes
    -----
    One pass over the file with node locations kept in libosmium's index (memory grows with
    the extract's node count), then vectorised numpy work, O(N log N) in the road vertices.
    """
    started = time.perf_counter()
    report_progress = progress or (lambda stage, done, total: None)
    path = Path(path)
    if not path.exists():
        raise InvalidInput(
            key="error.network.no_file", params={"name": path.name, "path": str(path)}, field="file"
        )
    if not path.is_file():
        raise InvalidInput(key="error.network.not_a_file", params={"name": path.name}, field="file")
    try:
        lines, counts = _read_ways(path, profile, report_progress)
    except RuntimeError as exc:  # libosmium: unknown format, corrupt block, truncated file
        raise InvalidInput(
            key="error.network.osm_unreadable",
            params={"name": path.name, "reason": str(exc)},
            field="file",
        ) from None
    if lines.n_lines == 0:
        raise InvalidInput(
            key="error.network.osm_no_roads",
            params={"name": path.name, "highways": "|".join(sorted(DRIVABLE_HIGHWAYS))},
            field="file",
        )
    try:
        return assemble(
            lines,
            profile,
            source=path.name,
            kind="osm",
            counts=counts,
            progress=report_progress,
            started=started,
        )
    except InvalidInput as exc:
        raise InvalidInput(
            key="error.network.osm_no_network",
            params={"name": path.name, "reason": exc},
            field="file",
        ) from None
