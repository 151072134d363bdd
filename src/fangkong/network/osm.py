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

import resource
import time
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import osmium
from numpy.typing import NDArray
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
from fangkong.network._pbf import COORDINATE_PRECISION, PbfBlock, PbfUnsupported, read_blocks
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
Reader = Literal["auto", "bulk", "libosmium"]
#: Tags as libosmium gives them or as a plain mapping (the bulk reader's).
Tags = osmium.osm.TagList | Mapping[str, str]
_DIRECTION_CODE = {"both": BOTH, "forward": FORWARD, "backward": BACKWARD}
_PROGRESS_EVERY = 5000


def tag_value(tags: Tags, key: str) -> str | None:
    """Tag value with surrounding whitespace removed; None when absent or blank."""
    value = tags.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def car_forbidden(
    tags: Tags,
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


def oneway_direction(tags: Tags, highway: str) -> Direction:
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


def _unit_barred(tags: Tags, profile: Profile) -> bool:
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


_COUNT_KEYS = (
    "ways",
    "skipped_access",
    "skipped_area",
    "skipped_reversible",
    "skipped_no_location",
    "maxspeed_used",
    "maxspeed_unparsed",
)
#: The tags :func:`_way_rule` reads (the bulk reader looks up only these).
RULE_KEYS: tuple[str, ...] = (
    "highway",
    "area",
    "emergency",
    *CAR_ACCESS_KEYS,
    "oneway",
    "junction",
    "maxspeed",
    "maxspeed:forward",
    "maxspeed:backward",
)
#: The attributes of a kept way: road class, direction code, zone (-1, 0, 1), km/h forward
#: and backward (NaN when no limit is posted).
WayAttributes = tuple[int, int, int, float, float]


def _way_rule(tags: Tags, profile: Profile, counts: dict[str, int]) -> WayAttributes | None:
    """Whether a ``highway=*`` way is kept and with which attributes; tallies ``counts``."""
    highway = tag_value(tags, "highway")
    if highway not in DRIVABLE_HIGHWAYS:
        return None
    counts["ways"] += 1
    if tag_value(tags, "area") == "yes":
        counts["skipped_area"] += 1
        return None
    if _unit_barred(tags, profile):
        counts["skipped_access"] += 1
        return None
    direction = oneway_direction(tags, highway)
    if direction == "reversible":
        counts["skipped_reversible"] += 1
        return None
    both_kmh, zone = _limit(tag_value(tags, "maxspeed"), counts)
    fwd_kmh, _ = _limit(tag_value(tags, "maxspeed:forward"), counts)
    bwd_kmh, _ = _limit(tag_value(tags, "maxspeed:backward"), counts)
    fwd_kmh = both_kmh if np.isnan(fwd_kmh) else fwd_kmh
    bwd_kmh = both_kmh if np.isnan(bwd_kmh) else bwd_kmh
    return (
        int(RoadClass.from_label(highway)),
        _DIRECTION_CODE[direction],
        -1 if zone is None else int(zone == "urban"),
        fwd_kmh,
        bwd_kmh,
    )


def _read_ways(
    path: Path, profile: Profile, progress: ProgressFn
) -> tuple[LineSet, dict[str, int]]:
    """Today's reader: libosmium hands every ``highway=*`` way to Python with its node
    locations (every node of the file kept in libosmium's location index)."""
    counts = dict.fromkeys(_COUNT_KEYS, 0)
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
        attributes = _way_rule(way.tags, profile, counts)
        if attributes is None:
            continue
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
    attributes: WayAttributes,
) -> None:
    road_class, direction, zone, fwd_kmh, bwd_kmh = attributes
    ptr.append(len(keys))
    classes.append(road_class)
    directions.append(direction)
    zones.append(zone)
    limit_f.append(fwd_kmh)
    limit_b.append(bwd_kmh)


#: libosmium's undefined coordinate and the valid range of a location (1e-7 degree).
_UNDEFINED = np.iinfo(np.int32).max
_MAX_X, _MAX_Y = 180 * COORDINATE_PRECISION, 90 * COORDINATE_PRECISION


def _peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenated ``arange(s, s + n)`` for each start ``s`` and length ``n``."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(total, dtype=np.int64) + offsets


_ROW_HASH = np.uint64(0x9E3779B97F4A7C15)


def _distinct_rows(rows: NDArray[np.int32]) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """The distinct rows and each row's index among them (``np.unique(axis=0)``'s answer,
    in another order): rows hashed to one integer and checked against their representative
    (``np.unique(axis=0)`` itself when two rows share a hash)."""
    if rows.shape[0] == 0:
        return rows, np.zeros(0, dtype=np.int64)
    hashed = np.zeros(rows.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(rows.shape[1]):
            hashed = hashed * _ROW_HASH + rows[:, column].astype(np.uint64)
    _, first, inverse = np.unique(hashed, return_index=True, return_inverse=True)
    combos = rows[first]
    if not np.array_equal(combos[inverse], rows):
        combos, inverse = np.unique(rows, axis=0, return_inverse=True)
    return combos, inverse.ravel().astype(np.int64)


class _BlockRules:
    """The way rule over a block's ways at once: one decision per distinct combination of
    the :data:`RULE_KEYS` values, remembered across blocks."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.slots = {key.encode(): i for i, key in enumerate(RULE_KEYS)}
        # values (bytes or None per key) -> (attributes or None, tallies)
        self.memo: dict[tuple[bytes | None, ...], tuple[WayAttributes | None, dict[str, int]]] = {}

    def decide(
        self, block: PbfBlock
    ) -> tuple[
        NDArray[np.int64], list[WayAttributes | None], list[dict[str, int]], NDArray[np.int64]
    ]:
        """The ``highway=*`` ways of the block (indices), the distinct decisions (attributes
        or None) with their tallies, and per ``highway=*`` way the index of its decision."""
        n_ways = block.way_id.shape[0]
        slot_of = np.full(len(block.strings), -1, dtype=np.int32)
        for i, text in enumerate(block.strings):
            slot = self.slots.get(text)
            if slot is not None:
                slot_of[i] = slot
        slots = slot_of[block.tag_key]
        way_of = np.repeat(np.arange(n_ways), np.diff(block.tag_ptr))
        hit = np.flatnonzero(slots >= 0)[::-1]  # reversed: the first of a repeated key wins
        values = np.full((n_ways, len(RULE_KEYS)), -1, dtype=np.int32)
        values[way_of[hit], slots[hit]] = block.tag_val[hit]
        highway = np.flatnonzero(values[:, 0] >= 0)
        combos, inverse = _distinct_rows(values[highway])
        decisions: list[WayAttributes | None] = []
        tallies: list[dict[str, int]] = []
        for row in combos.tolist():
            key = tuple(None if i < 0 else block.strings[i] for i in row)
            known = self.memo.get(key)
            if known is None:
                tags = {
                    name: value.decode("utf-8", "replace")
                    for name, value in zip(RULE_KEYS, key, strict=True)
                    if value is not None
                }
                counts = dict.fromkeys(_COUNT_KEYS, 0)
                known = self.memo[key] = (_way_rule(tags, self.profile, counts), counts)
            decisions.append(known[0])
            tallies.append(known[1])
        return highway, decisions, tallies, inverse


def _read_ways_bulk(
    path: Path, profile: Profile, progress: ProgressFn
) -> tuple[LineSet, dict[str, int]]:
    """The columnar reader: whole PBF blocks decoded into arrays (:mod:`._pbf`), in two passes.

    The first pass keeps the node references of the kept ways; the second reads only the
    blocks holding nodes and keeps the locations of the nodes those ways reference. Memory
    is 8 bytes per kept way vertex, 16 per distinct one and one decoded block: it grows with
    the roads, not with the file's nodes (libosmium's location index holds all of them).
    Extracts are sorted (nodes before ways); in a file that is not, the bulk reader still finds
    the locations of nodes that come after their ways, which libosmium's one pass misses.

    Raises
    ------
    PbfUnsupported
        When the file is not a PBF this reader decodes (the caller falls back on libosmium).
    """
    counts = dict.fromkeys(_COUNT_KEYS, 0)
    rules = _BlockRules(profile)
    size = max(path.stat().st_size, 1)
    ref_parts: list[NDArray[np.int64]] = []
    length_parts: list[NDArray[np.int64]] = []
    attribute_parts: list[NDArray[np.float64]] = []
    node_blocks: set[int] = set()
    n_blocks = 0
    for number, offset, block in read_blocks(path, ways=True, nodes=False):
        n_blocks = number + 1
        if block.has_nodes:
            node_blocks.add(number)
        progress("read", offset, size)
        if block.way_id.shape[0] == 0:
            continue
        highway, decisions, tallies, which = rules.decide(block)
        uses = np.bincount(which, minlength=len(decisions))
        for tally, used in zip(tallies, uses.tolist(), strict=True):
            for key, value in tally.items():
                counts[key] += value * used
        kept_decision = np.array([d is not None for d in decisions], dtype=bool)
        if not kept_decision.any():
            continue
        table = np.array(
            [d if d is not None else (0, 0, 0, np.nan, np.nan) for d in decisions],
            dtype=np.float64,
        ).reshape(len(decisions), 5)
        mask = kept_decision[which]
        ways = highway[mask]
        lengths = np.diff(block.ref_ptr)[ways]
        ref_parts.append(block.refs[_ranges(block.ref_ptr[ways], lengths)])
        length_parts.append(lengths)
        attribute_parts.append(table[which[mask]])
    progress("read", size, size)
    refs = np.concatenate(ref_parts) if ref_parts else np.zeros(0, dtype=np.int64)
    lengths = np.concatenate(length_parts) if length_parts else np.zeros(0, dtype=np.int64)
    attributes = (
        np.concatenate(attribute_parts) if attribute_parts else np.zeros((0, 5), dtype=np.float64)
    )
    del ref_parts, length_parts, attribute_parts
    # second pass: the locations of the referenced nodes only
    needed = np.sort(refs)  # distinct by sort: faster than np.unique's hash on millions
    needed = needed[np.concatenate(([True], needed[1:] != needed[:-1]))] if needed.size else needed
    loc_x = np.full(needed.shape[0], _UNDEFINED, dtype=np.int32)
    loc_y = np.full(needed.shape[0], _UNDEFINED, dtype=np.int32)
    skip = set(range(n_blocks)) - node_blocks
    held = refs.nbytes + needed.nbytes + loc_x.nbytes + loc_y.nbytes + attributes.nbytes
    if needed.shape[0]:
        for _, offset, block in read_blocks(path, ways=False, nodes=True, skip=skip):
            progress("locations", offset, size)
            pos = np.searchsorted(needed, block.node_id)
            pos[pos == needed.shape[0]] = 0
            hit = needed[pos] == block.node_id
            loc_x[pos[hit]] = block.node_x[hit]
            loc_y[pos[hit]] = block.node_y[hit]
    vertex = np.searchsorted(needed, refs)
    x, y = loc_x[vertex], loc_y[vertex]
    del vertex
    valid = (np.abs(x) <= _MAX_X) & (np.abs(y) <= _MAX_Y) & (x != _UNDEFINED)
    # Each run of vertices with known locations is one line (as in the libosmium reader).
    n_ways = lengths.shape[0]
    way_of = np.repeat(np.arange(n_ways), lengths)
    first = np.zeros(refs.shape[0], dtype=bool)
    first[np.concatenate(([0], np.cumsum(lengths)[:-1]))[lengths > 0]] = True
    previous_valid = np.concatenate(([False], valid[:-1]))
    starts = valid & (first | ~previous_valid)
    run = np.cumsum(starts) - 1
    run_length = np.bincount(run[valid], minlength=int(starts.sum()))
    keep_run = run_length >= 2
    keep = valid & keep_run[np.maximum(run, 0)]
    counts["skipped_no_location"] = int(
        np.count_nonzero(np.bincount(way_of[~valid], minlength=n_ways))
    )
    line_way = way_of[np.flatnonzero(starts)[keep_run]]
    ptr = np.zeros(line_way.shape[0] + 1, dtype=np.int64)
    np.cumsum(run_length[keep_run], out=ptr[1:])
    line_attributes = attributes[line_way]
    counts["reader_held_bytes"] = int(held + refs.nbytes * 3)
    counts["peak_rss_kib"] = _peak_rss_kib()
    lines = LineSet(
        keys=refs[keep],
        lon=x[keep] / COORDINATE_PRECISION,
        lat=y[keep] / COORDINATE_PRECISION,
        ptr=ptr,
        road_class=line_attributes[:, 0].astype(np.int8),
        direction=line_attributes[:, 1].astype(np.int8),
        maxspeed_fwd=line_attributes[:, 3].copy(),
        maxspeed_bwd=line_attributes[:, 4].copy(),
        explicit_kmh=np.full(line_way.shape[0], np.nan),
        zone=line_attributes[:, 2].astype(np.int8),
    )
    return lines, counts


def _read(
    path: Path, profile: Profile, progress: ProgressFn, reader: Reader
) -> tuple[LineSet, dict[str, int]]:
    if reader == "bulk" or (reader == "auto" and path.suffix.lower() == ".pbf"):
        try:
            return _read_ways_bulk(path, profile, progress)
        except PbfUnsupported:
            if reader == "bulk":
                raise
    lines, counts = _read_ways(path, profile, progress)
    counts["peak_rss_kib"] = _peak_rss_kib()
    return lines, counts


def graph_from_osm(
    path: Path,
    profile: Profile = DEFAULT_PROFILE,
    *,
    progress: ProgressFn | None = None,
    reader: Reader = "auto",
) -> tuple[RoadGraph, ImportReport]:
    """Build the drivable road graph of an OSM extract.

    Parameters
    ----------
    path : pathlib.Path
        An ``.osm.pbf`` (or ``.osm``, ``.osm.bz2``... anything libosmium reads by its suffix).
    profile : Profile
        Speeds, access rules and the urban rule.
    progress : callable, optional
        ``progress(stage, done, total)`` with stages ``"read"`` (bytes of the file for the
        bulk reader; ways, total unknown until the end, for libosmium's), ``"locations"``
        (the bulk reader's second pass, bytes), ``"split"``, ``"speeds"``, ``"components"``.
    reader : {"auto", "bulk", "libosmium"}
        ``"bulk"`` decodes ``.pbf`` blocks into arrays (:func:`_read_ways_bulk`: memory grows
        with the road vertices, not with the file's nodes); ``"libosmium"`` hands each way
        to Python with its locations (any format libosmium reads); ``"auto"`` takes the bulk
        reader for a ``.pbf`` and falls back on libosmium when it cannot read the file.
        Both give the same graph.

    Returns
    -------
    (RoadGraph, ImportReport)
        The largest strongly connected component, nodes numbered by OSM node id order, and
        what was kept and dropped. ``report.counts`` holds ``ways`` (drivable-class ways
        read), ``skipped_access``, ``skipped_area``, ``skipped_reversible``,
        ``skipped_no_location`` (ways with a node missing from the extract; their known parts
        are kept), ``maxspeed_used``, ``maxspeed_unparsed``, ``lines_degenerate``,
        ``loops_dropped`` and ``peak_rss_kib`` (the process's peak resident memory after the
        read); the bulk reader adds ``reader_held_bytes`` (its arrays at their largest).

    Raises
    ------
    InvalidInput
        When the file is missing, not an OSM file libosmium can read, or holds no drivable
        road; the message names the file and the reason.

    Notes
    -----
    The bulk reader makes two passes over the file (the second over the blocks holding nodes)
    and keeps the locations of road nodes only; libosmium's makes one pass with every node's
    location in its index (memory grows with the extract's node count). Then vectorised
    numpy work, O(N log N) in the road vertices.
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
        lines, counts = _read(path, profile, report_progress, reader)
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
