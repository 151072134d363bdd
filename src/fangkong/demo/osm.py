"""Read the demo county's real map data from an OpenStreetMap ``.osm.pbf`` extract.

Three readers, all pure functions of the file (no database, no network):

- :func:`read_boundaries` -- administrative areas at admin_level 2 (country, plays the city),
  6 (districts) and 8 (municipalities, play the police-station precincts);
- :func:`read_roads` -- the drivable road network;
- :func:`read_address_points` -- tagged addresses as points.

Geometries are shapely objects in WGS-84 longitude/latitude (x = lon, y = lat).
Map data © OpenStreetMap contributors, ODbL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import osmium
import shapely
import shapely.wkb
from osmium.filter import EntityFilter, KeyFilter, TagFilter
from shapely.errors import ShapelyError
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

# The drivable-road rules are shared with the road-graph import, which owns them.
from fangkong.network.osm import DRIVABLE_HIGHWAYS, car_forbidden, oneway_direction
from fangkong.network.osm import tag_value as _tag

__all__ = [
    "ADMIN_LEVELS",
    "DRIVABLE_HIGHWAYS",
    "AddressPoint",
    "Boundary",
    "Road",
    "read_address_points",
    "read_boundaries",
    "read_roads",
]

#: The admin levels the demo uses: country (city), districts, municipalities (precincts).
ADMIN_LEVELS: frozenset[int] = frozenset({2, 6, 8})


@dataclass(frozen=True, slots=True)
class Boundary:
    """An administrative boundary.

    Attributes
    ----------
    osm_id : int
        Id of the OSM object the area was built from (normally a relation).
    admin_level : int
        OSM ``admin_level`` (2, 6 or 8).
    name : str
        The ``name`` tag.
    name_en : str or None
        The ``name:en`` tag, when the object has one.
    geometry : shapely.geometry.MultiPolygon
        Valid, non-empty lon/lat multipolygon.
    osm_type : str
        ``"relation"`` or ``"way"``: which kind of OSM object ``osm_id`` refers to.
    """

    osm_id: int
    admin_level: int
    name: str
    name_en: str | None
    geometry: MultiPolygon
    osm_type: str = "relation"


@dataclass(frozen=True, slots=True)
class Road:
    """A drivable OSM way.

    Attributes
    ----------
    osm_id : int
        OSM way id.
    highway : str
        The ``highway`` tag (one of :data:`DRIVABLE_HIGHWAYS`).
    name : str or None
        The ``name`` tag.
    oneway : bool
        True when traffic may only move in the direction of ``geometry``'s vertex order.
        ``oneway=-1`` ways are returned reversed with ``oneway=True``; roundabouts and
        motorways are one-way unless tagged otherwise.
    geometry : shapely.geometry.LineString
        Lon/lat line with at least two distinct vertices.
    """

    osm_id: int
    highway: str
    name: str | None
    oneway: bool
    geometry: LineString


@dataclass(frozen=True, slots=True)
class AddressPoint:
    """A tagged address reduced to one point.

    Attributes
    ----------
    osm_id : int
        Id of the OSM node, way or relation carrying the address (see ``osm_type``).
    street : str
        ``addr:street``; for street-less addresses, ``addr:place`` instead.
    housenumber : str
        ``addr:housenumber``.
    postcode : str or None
        ``addr:postcode``.
    place : str or None
        The settlement: ``addr:city``, else ``addr:place``.
    lon, lat : float
        WGS-84 position: the node itself, or for a building/area its centroid (its
        representative point when the centroid falls outside the shape).
    osm_type : str
        ``"node"``, ``"way"`` or ``"relation"``.
    """

    osm_id: int
    street: str
    housenumber: str
    postcode: str | None
    place: str | None
    lon: float
    lat: float
    osm_type: str = "node"


def _polygonal(geom: BaseGeometry) -> MultiPolygon:
    """Valid polygonal part of ``geom`` as a MultiPolygon (possibly empty)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polygons: list[Polygon] = []
    stack: list[BaseGeometry] = [geom]
    while stack:
        part = stack.pop()
        if isinstance(part, Polygon):
            if not part.is_empty:
                polygons.append(part)
        elif isinstance(part, MultiPolygon) or hasattr(part, "geoms"):
            stack.extend(reversed(list(part.geoms)))
    result = MultiPolygon(polygons)
    if not result.is_valid:  # parts that touch along an edge: merge them
        merged = shapely.union_all(polygons)
        result = MultiPolygon(
            [merged] if isinstance(merged, Polygon) else [p for p in merged.geoms]
        )
    return result


def _admin_level(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def read_boundaries(pbf_path: Path) -> list[Boundary]:
    """Read the administrative boundaries at admin_level 2, 6 and 8.

    Areas are assembled by pyosmium from ``boundary=administrative`` relations (and closed
    ways), converted through WKB and repaired with :func:`shapely.make_valid`, keeping the
    polygonal parts only.

    Parameters
    ----------
    pbf_path : pathlib.Path
        An ``.osm.pbf`` (or any format libosmium reads) extract.

    Returns
    -------
    list of Boundary
        Sorted by ``(admin_level, name, osm_id)``. Unnamed boundaries are skipped (in the
        Liechtenstein extract these are closed ways duplicating municipal exclaves), as are
        boundaries whose members are missing from the extract (neighbouring countries'),
        because libosmium cannot assemble them. When a named way and a relation give the same
        level and name, the relation wins.
    """
    wkb = osmium.geom.WKBFactory()
    admin = TagFilter(("boundary", "administrative"))
    processor = (
        osmium.FileProcessor(str(pbf_path))
        .with_areas(admin)
        .with_filter(EntityFilter(osmium.osm.AREA))
        .with_filter(TagFilter(("boundary", "administrative")))
    )
    found: dict[tuple[int, str], Boundary] = {}
    for area in processor:
        if not isinstance(area, osmium.osm.Area):
            continue
        level = _admin_level(_tag(area.tags, "admin_level"))
        name = _tag(area.tags, "name")
        if level not in ADMIN_LEVELS or level is None or not name:
            continue
        try:
            raw = shapely.wkb.loads(wkb.create_multipolygon(area), hex=True)
        except (RuntimeError, ValueError, ShapelyError):
            continue
        geometry = _polygonal(raw)
        if geometry.is_empty:
            continue
        from_way = area.from_way()
        boundary = Boundary(
            osm_id=area.orig_id(),
            admin_level=level,
            name=name,
            name_en=_tag(area.tags, "name:en"),
            geometry=geometry,
            osm_type="way" if from_way else "relation",
        )
        key = (level, name)
        previous = found.get(key)
        if previous is None or (previous.osm_type == "way" and not from_way):
            found[key] = boundary
    return sorted(found.values(), key=lambda b: (b.admin_level, b.name, b.osm_id))


def _oneway(tags: osmium.osm.TagList, highway: str) -> tuple[bool, bool]:
    """Return ``(oneway, reverse)`` for a way's tags; reversible ways count as two-way here."""
    direction = oneway_direction(tags, highway)
    return direction in ("forward", "backward"), direction == "backward"


def read_roads(pbf_path: Path) -> list[Road]:
    """Read the drivable roads.

    A way is drivable when its ``highway`` tag is in :data:`DRIVABLE_HIGHWAYS`, it is not an
    ``area=yes`` (e.g. a paved square), and cars are not barred: the most specific access tag
    present among ``motorcar``, ``motor_vehicle``, ``vehicle``, ``access`` is not ``no`` or
    ``private``. Footways, paths, tracks, cycleways, steps, pedestrian streets, bridleways,
    construction and proposed roads are therefore excluded.

    Parameters
    ----------
    pbf_path : pathlib.Path
        The OSM extract.

    Returns
    -------
    list of Road
        In file order (ascending way id). Ways whose nodes are missing from the extract or
        that have fewer than two distinct vertices are skipped.
    """
    wkb = osmium.geom.WKBFactory()
    processor = (
        osmium.FileProcessor(str(pbf_path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(EntityFilter(osmium.osm.WAY))
        .with_filter(KeyFilter("highway"))
    )
    roads: list[Road] = []
    for way in processor:
        if not isinstance(way, osmium.osm.Way):
            continue
        tags = way.tags
        highway = _tag(tags, "highway") or ""
        if highway not in DRIVABLE_HIGHWAYS or _tag(tags, "area") == "yes":
            continue
        if car_forbidden(tags):
            continue
        try:
            line = shapely.wkb.loads(wkb.create_linestring(way), hex=True)
        except (RuntimeError, ValueError, ShapelyError):
            continue  # missing node locations or a degenerate way
        if not isinstance(line, LineString) or line.is_empty:
            continue
        oneway, reverse = _oneway(tags, highway)
        if reverse:
            line = shapely.reverse(line)
        roads.append(
            Road(
                osm_id=way.id,
                highway=highway,
                name=_tag(tags, "name"),
                oneway=oneway,
                geometry=line,
            )
        )
    return roads


def _address_fields(tags: osmium.osm.TagList) -> tuple[str, str, str | None, str | None] | None:
    housenumber = _tag(tags, "addr:housenumber")
    street = _tag(tags, "addr:street") or _tag(tags, "addr:place")
    if housenumber is None or street is None:
        return None
    place = _tag(tags, "addr:city") or _tag(tags, "addr:place")
    return street, housenumber, _tag(tags, "addr:postcode"), place


def _inside_point(geom: BaseGeometry) -> Point:
    centroid = geom.centroid
    if geom.covers(centroid):
        return centroid
    return geom.representative_point()


def read_address_points(pbf_path: Path) -> list[AddressPoint]:
    """Read the tagged addresses as points.

    An object counts when it has ``addr:housenumber`` and ``addr:street`` (or, for
    street-less addresses, ``addr:place``). Nodes give their own position; closed ways and
    multipolygon relations (buildings, mostly) the centroid of the assembled area, or its
    representative point when the centroid lies outside; open ways the centroid of the line.
    A closed way whose area cannot be assembled falls back to the centroid of its outline.

    Parameters
    ----------
    pbf_path : pathlib.Path
        The OSM extract.

    Returns
    -------
    list of AddressPoint
        Nodes first, then ways, then relations, each by ascending id. The same address may
        appear twice when both an entrance node and its building carry it.
    """
    wkb = osmium.geom.WKBFactory()
    processor = (
        osmium.FileProcessor(str(pbf_path))
        .with_areas(KeyFilter("addr:housenumber"))
        .with_filter(KeyFilter("addr:housenumber"))
    )
    nodes: list[AddressPoint] = []
    ways: dict[int, AddressPoint] = {}  # open ways, and areas built from closed ways
    way_fallback: dict[int, AddressPoint] = {}  # closed ways, in case area assembly fails
    relations: dict[int, AddressPoint] = {}
    for obj in processor:
        fields = _address_fields(obj.tags)
        if fields is None:
            continue
        street, housenumber, postcode, place = fields
        if isinstance(obj, osmium.osm.Node):
            location = obj.location
            if not location.valid():
                continue
            nodes.append(
                AddressPoint(
                    obj.id, street, housenumber, postcode, place, location.lon, location.lat, "node"
                )
            )
        elif isinstance(obj, osmium.osm.Way):
            try:
                line = shapely.wkb.loads(wkb.create_linestring(obj), hex=True)
            except (RuntimeError, ValueError, ShapelyError):
                continue
            point = line.centroid
            record = AddressPoint(
                obj.id, street, housenumber, postcode, place, float(point.x), float(point.y), "way"
            )
            if obj.is_closed():
                way_fallback[obj.id] = record
            else:
                ways[obj.id] = record
        elif isinstance(obj, osmium.osm.Area):
            try:
                raw = shapely.wkb.loads(wkb.create_multipolygon(obj), hex=True)
            except (RuntimeError, ValueError, ShapelyError):
                continue
            area = _polygonal(raw)
            if area.is_empty:
                continue
            point = _inside_point(area)
            osm_type = "way" if obj.from_way() else "relation"
            record = AddressPoint(
                obj.orig_id(),
                street,
                housenumber,
                postcode,
                place,
                float(point.x),
                float(point.y),
                osm_type,
            )
            (ways if osm_type == "way" else relations)[record.osm_id] = record
    for way_id, record in way_fallback.items():
        ways.setdefault(way_id, record)
    nodes.sort(key=lambda a: a.osm_id)
    return nodes + [ways[k] for k in sorted(ways)] + [relations[k] for k in sorted(relations)]
