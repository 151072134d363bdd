"""Import a road line layer from a GIS file (GeoJSON, GeoPackage, Shapefile), or plain arrays.

Many agencies keep their own road data rather than OSM. :func:`graph_from_lines` reads one
line layer and builds the same :class:`~fangkong.network.graph.RoadGraph` as the OSM import
(the same splitting, speeds, urban rule and largest strongly connected component);
:func:`graph_from_arrays` takes node coordinates and edges with travel times from Python.

Files
-----
GeoJSON (``.geojson``, ``.json``) is read with the standard library. GeoPackage (``.gpkg``),
Shapefile (``.shp`` with its ``.dbf``/``.shx``/``.prj``) and any other format GDAL reads go
through ``pyogrio``, an optional dependency: ``pip install 'fangkong[gis]'``. A GeoPackage with
several layers needs ``layer`` unless exactly one of them holds lines.

Geometry: ``LineString`` or ``MultiLineString`` features (each part is a line; Z values are
dropped). Coordinates must be longitude/latitude: WGS-84 (EPSG:4326) or CGCS2000
(EPSG:4490, the Chinese national datum, within centimetres of WGS-84), or GCJ-02/BD-09 with
``crs="gcj02"``/``"bd09"`` (converted with :func:`fangkong.areas.coords.to_wgs84_array`). A
layer in projected coordinates (metres: a Gauss-Krüger zone, Web Mercator) is refused:
reproject it first, e.g. ``ogr2ogr -t_srs EPSG:4326 roads_wgs84.gpkg roads.gpkg``.

Noding
------
Lines are joined where their vertices coincide: vertices within ``snap_m`` metres of each
other (transitively) become one node, placed at the first of them in file order. Lines that
cross without a shared vertex are *not* connected -- that is how a bridge or an overpass is
modelled, so a layer whose junctions lack a vertex must be noded in a GIS first (e.g. QGIS
"Split with lines", or ``v.clean tool=break`` in GRASS).

Attributes (all optional; name the fields)
------------------------------------------
``direction_field`` -- the directions a line may be driven, relative to its vertex order.
Values are matched after trimming and lower-casing; numbers are read as integers (``2.0`` is
``2``). The defaults (:data:`DEFAULT_DIRECTION_VALUES`) follow the common Chinese navigation
data convention for digits (0 unknown = both, 1 both, 2 along, 3 against) and Esri's
``FT``/``TF``/``B``/``N``:

==========  ==================================================================
meaning     values
==========  ==================================================================
both        (empty/null), ``0``, ``1``, ``b``, ``both``, ``two-way``, ``twoway``, ``no``,
            ``false``, ``双向``, ``双行``
forward     ``2``, ``ft``, ``f``, ``forward``, ``oneway``, ``yes``, ``true``, ``正向``,
            ``顺向``, ``单行``
backward    ``3``, ``-1``, ``tf``, ``t``, ``backward``, ``reverse``, ``反向``, ``逆向``
closed      ``n``, ``4``, ``none``, ``closed``, ``禁行``, ``禁止通行`` (the feature is skipped)
==========  ==================================================================

A layer whose digits mean something else (e.g. ``1`` = one-way along the line, OSM style)
remaps them in the profile: ``[direction_aliases] "1" = "forward"``.

``speed_field`` -- the driving speed in km/h (a number or numeric text). It replaces the
class speed and any limit; the profile's emergency factor and cap still apply. Null, empty or
0 means "no speed given" (many layers use 0 for unknown): the class speed applies.

``class_field`` -- the road class: an OSM ``highway`` value (``primary``) or an alias from the
profile's ``class_aliases`` (the defaults cover 高速公路, 国道, 省道, 县道, 乡道, 村道, 城市快速路,
主干路, 次干路, 支路, 一级公路 ... 四级公路; see
:data:`~fangkong.network.profile.DEFAULT_CLASS_ALIASES`). An alias to ``"exclude"`` skips the
feature (footpaths in a mixed layer). Null means class ``other``.

Every fault in a feature -- a missing or non-line geometry, too few positions, a coordinate
out of range, an unreadable direction, speed or class -- is an ``InvalidInput`` naming the
feature (its 0-based index in file order) and the rule.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fangkong.areas.coords import CoordinateError, CoordSystem, to_wgs84_array
from fangkong.core.errors import InvalidInput
from fangkong.network._build import (
    BACKWARD,
    BOTH,
    FORWARD,
    ImportReport,
    LineSet,
    ProgressFn,
    assemble,
    finish,
    largest_scc,
    road_km,
)
from fangkong.network.graph import EARTH_RADIUS_M, FloatArray, RoadGraph, from_edges
from fangkong.network.profile import DEFAULT_PROFILE, Profile, RoadClass

__all__ = [
    "DEFAULT_DIRECTION_VALUES",
    "GEOJSON_SUFFIXES",
    "graph_from_arrays",
    "graph_from_lines",
]

DirectionWord = Literal["both", "forward", "backward", "closed"]

#: Direction values understood without a profile entry (see the module docstring).
DEFAULT_DIRECTION_VALUES: dict[str, DirectionWord] = {
    **dict.fromkeys(
        ("", "0", "1", "b", "both", "two-way", "twoway", "no", "false", "双向", "双行"), "both"
    ),
    **dict.fromkeys(
        ("2", "ft", "f", "forward", "oneway", "yes", "true", "正向", "顺向", "单行"), "forward"
    ),
    **dict.fromkeys(("3", "-1", "tf", "t", "backward", "reverse", "反向", "逆向"), "backward"),
    **dict.fromkeys(("n", "4", "none", "closed", "禁行", "禁止通行"), "closed"),
}
_DIRECTION_CODE = {"both": BOTH, "forward": FORWARD, "backward": BACKWARD}

GEOJSON_SUFFIXES = frozenset({".geojson", ".json"})
# CRS identifiers read as longitude/latitude on the WGS-84 (or the practically equal CGCS2000)
# datum; anything else is refused rather than guessed.
_LONLAT_CRS = re.compile(r"(EPSG:+(4326|4490)|CRS:?84)$")
_GEOGRAPHIC_WKT = re.compile(
    r"^GEOG(CS|CRS)\[\"[^\"]*(WGS[ _]?84|WGS[ _]1984|CGCS[ _]?2000|China[ _]2000)"
)
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0


class _Layer:
    """Features read from a file: line parts with their feature index, and field values."""

    def __init__(
        self,
        name: str,
        n_features: int,
        parts: list[tuple[int, FloatArray]],
        fields: Mapping[str, Sequence[object]],
    ) -> None:
        self.name = name
        self.n_features = n_features
        self.parts = parts
        self.fields = fields


def _bad(source: str, index: int, fault: InvalidInput, field: str = "features") -> InvalidInput:
    """A feature's ``fault``, named by its file and position."""
    return InvalidInput(
        key="error.network.feature_fault",
        params={"source": source, "index": index, "fault": fault},
        field=field,
        feature=index,
    )


def _line_coords(source: str, index: int, coords: object) -> FloatArray:
    if not isinstance(coords, list) or len(coords) < 2:
        raise _bad(source, index, InvalidInput(key="error.network.line_short"))
    try:
        array = np.array([position[:2] for position in coords], dtype=np.float64)
    except (TypeError, ValueError, IndexError):
        raise _bad(source, index, InvalidInput(key="error.network.positions")) from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise _bad(source, index, InvalidInput(key="error.network.positions"))
    return array


def _check_crs(source: str, crs: object) -> None:
    if crs is None:
        return
    text = str(crs).strip()
    if not (_LONLAT_CRS.search(text.upper()) or _GEOGRAPHIC_WKT.match(text)):
        raise InvalidInput(
            key="error.network.layer_crs", params={"source": source, "crs": crs}, field="crs"
        )


def _read_geojson(path: Path) -> _Layer:
    source = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            key="error.network.not_geojson",
            params={"source": source, "reason": str(exc)},
            field="file",
        ) from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if (
        not isinstance(data, dict)
        or data.get("type") != "FeatureCollection"
        or not isinstance(data.get("features"), list)
    ):
        raise InvalidInput(
            key="error.network.not_collection", params={"source": source}, field="file"
        )
    crs = data.get("crs")
    if isinstance(crs, dict):
        _check_crs(source, (crs.get("properties") or {}).get("name"))
    parts: list[tuple[int, FloatArray]] = []
    properties: list[dict[str, Any]] = []
    for index, feature in enumerate(data["features"]):
        if not isinstance(feature, dict):
            raise _bad(source, index, InvalidInput(key="error.network.not_feature"))
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict):
            raise _bad(source, index, InvalidInput(key="error.network.no_geometry"))
        kind, coords = geometry.get("type"), geometry.get("coordinates")
        if kind == "LineString":
            parts.append((index, _line_coords(source, index, coords)))
        elif kind == "MultiLineString" and isinstance(coords, list) and coords:
            parts.extend((index, _line_coords(source, index, line)) for line in coords)
        else:
            raise _bad(
                source,
                index,
                InvalidInput(key="error.network.geometry_type_geojson", params={"type": kind}),
            )
        props = feature.get("properties")
        properties.append(props if isinstance(props, dict) else {})
    names = sorted({key for props in properties for key in props})
    fields = {name: [props.get(name) for props in properties] for name in names}
    return _Layer(source, len(properties), parts, fields)


def _read_ogr(path: Path, layer: str | int | None) -> _Layer:
    source = path.name
    try:
        import pyogrio
        import pyogrio.errors
        import shapely
    except ImportError:
        raise InvalidInput(
            key="error.network.needs_pyogrio", params={"source": source}, field="file"
        ) from None
    try:
        if layer is None:
            layers = pyogrio.list_layers(str(path))
            if len(layers) > 1:
                lines = [str(name) for name, kind in layers if "LINE" in str(kind).upper()]
                if len(lines) != 1:
                    names = ", ".join(str(name) for name, _ in layers)
                    raise InvalidInput(
                        key="error.network.layers",
                        params={"source": source, "count": len(layers), "names": names},
                        field="layer",
                    )
                layer = lines[0]
        meta, _, geometry, field_data = pyogrio.raw.read(str(path), layer=layer, force_2d=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InvalidInput(
            key="error.network.layer_unreadable",
            params={"source": source, "reason": str(exc)},
            field="layer" if layer is not None else "file",
        ) from None
    _check_crs(source, meta.get("crs"))
    geoms = shapely.from_wkb(geometry) if geometry is not None else np.zeros(0, dtype=object)
    type_ids = shapely.get_type_id(geoms)
    parts: list[tuple[int, FloatArray]] = []
    for index, (geom, type_id) in enumerate(zip(geoms, type_ids, strict=True)):
        if geom is None or type_id < 0:
            raise _bad(source, index, InvalidInput(key="error.network.no_geometry"))
        if type_id == 1:  # LineString
            lines_of = [geom]
        elif type_id == 5:  # MultiLineString
            lines_of = list(geom.geoms)
        else:
            raise _bad(
                source,
                index,
                InvalidInput(key="error.network.geometry_type", params={"type": geom.geom_type}),
            )
        if not lines_of:
            raise _bad(source, index, InvalidInput(key="error.network.empty_geometry"))
        for line in lines_of:
            coords = shapely.get_coordinates(line)
            if coords.shape[0] < 2:
                raise _bad(source, index, InvalidInput(key="error.network.line_short"))
            parts.append((index, np.asarray(coords, dtype=np.float64)))
    field_names = [str(name) for name in meta["fields"]]
    fields = {name: list(values) for name, values in zip(field_names, field_data, strict=True)}
    return _Layer(source, len(geoms), parts, fields)


def _null(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _text(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip().lower()


def _number(value: object) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _field(layer: _Layer, name: str | None, option: str) -> Sequence[object] | None:
    if name is None:
        return None
    if name not in layer.fields:
        raise InvalidInput(
            key="error.network.no_field",
            params={
                "source": layer.name,
                "name": name,
                "option": option,
                "fields": ", ".join(layer.fields) or "none",
            },
            field=option,
        )
    return layer.fields[name]


def _attributes(
    layer: _Layer,
    profile: Profile,
    direction_field: str | None,
    speed_field: str | None,
    class_field: str | None,
) -> tuple[NDArray[np.int8], NDArray[np.int8], FloatArray, NDArray[np.bool_], dict[str, int]]:
    """Per feature: class code, direction code, speed (NaN = none), and whether to skip."""
    n = layer.n_features
    classes = np.zeros(n, dtype=np.int8)
    directions = np.zeros(n, dtype=np.int8)
    speeds = np.full(n, np.nan)
    skip = np.zeros(n, dtype=bool)
    counts = {"features": n, "skipped_closed": 0, "skipped_class": 0, "speed_given": 0}
    direction_values: dict[str, str] = {
        **DEFAULT_DIRECTION_VALUES,
        **{k.strip().lower(): v for k, v in profile.direction_aliases.items()},
    }
    values = _field(layer, direction_field, "direction_field")
    if values is not None:
        for index, value in enumerate(values):
            word = "both" if _null(value) else direction_values.get(_text(value))
            if word is None:
                raise _bad(
                    layer.name,
                    index,
                    InvalidInput(
                        key="error.network.direction_value",
                        params={"value": value, "field": direction_field},
                    ),
                    "direction_field",
                )
            if word == "closed":
                skip[index] = True
                counts["skipped_closed"] += 1
            else:
                directions[index] = _DIRECTION_CODE[word]
    values = _field(layer, speed_field, "speed_field")
    if values is not None:
        for index, value in enumerate(values):
            if _null(value):
                continue
            kmh = _number(value)
            if not math.isfinite(kmh) or kmh < 0 or kmh > 250:
                raise _bad(
                    layer.name,
                    index,
                    InvalidInput(
                        key="error.network.speed_value",
                        params={"value": value, "field": speed_field},
                    ),
                    "speed_field",
                )
            if kmh > 0:
                speeds[index] = kmh
                counts["speed_given"] += 1
    values = _field(layer, class_field, "class_field")
    if values is not None:
        for index, value in enumerate(values):
            if _null(value):
                continue
            try:
                road_class = profile.classify(_text(value) if not isinstance(value, str) else value)
            except KeyError:
                raise _bad(
                    layer.name,
                    index,
                    InvalidInput(
                        key="error.network.class_value",
                        params={"value": value, "field": class_field},
                    ),
                    "class_field",
                ) from None
            if road_class is None:
                skip[index] = True
                counts["skipped_class"] += 1
            else:
                classes[index] = int(road_class)
    return classes, directions, speeds, skip, counts


def _node_keys(
    lon: FloatArray, lat: FloatArray, snap_m: float
) -> tuple[NDArray[np.int64], FloatArray, FloatArray]:
    """Cluster vertices within ``snap_m`` (transitively): key and position of each vertex."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    points = np.column_stack([lon, lat])
    unique, first, inverse = np.unique(points, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n = unique.shape[0]
    if snap_m > 0 and n > 1:
        cos0 = math.cos(math.radians(float(np.mean(unique[:, 1]))))
        xy = np.column_stack([unique[:, 0] * _M_PER_DEG * cos0, unique[:, 1] * _M_PER_DEG])
        pairs = cKDTree(xy).query_pairs(snap_m, output_type="ndarray")
        matrix = coo_matrix(
            (np.ones(pairs.shape[0], dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
        )
        _, labels = connected_components(matrix, directed=False)
    else:
        labels = np.arange(n)
    # The cluster sits where its first vertex in file order is.
    rep = np.full(int(labels.max()) + 1, lon.shape[0], dtype=np.int64)
    np.minimum.at(rep, labels, first)
    keys = labels[inverse].astype(np.int64)
    return keys, lon[rep[keys]], lat[rep[keys]]


def graph_from_lines(
    path: Path,
    *,
    layer: str | int | None = None,
    direction_field: str | None = None,
    speed_field: str | None = None,
    class_field: str | None = None,
    profile: Profile = DEFAULT_PROFILE,
    snap_m: float = 0.5,
    crs: CoordSystem | str = CoordSystem.WGS84,
    progress: ProgressFn | None = None,
) -> tuple[RoadGraph, ImportReport]:
    """Build the road graph of a GIS line layer.

    Parameters
    ----------
    path : pathlib.Path
        A GeoJSON, GeoPackage or Shapefile (or another GDAL vector format).
    layer : str or int, optional
        The layer of a multi-layer file (GeoPackage).
    direction_field, speed_field, class_field : str, optional
        Attribute names; see the module docstring for the values.
    profile : Profile
        Speeds, aliases, the urban rule.
    snap_m : float
        Vertices this close (metres) are one node; 0 joins identical coordinates only.
    crs : {"wgs84", "gcj02", "bd09"}
        The longitude/latitude system of the coordinates.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    (RoadGraph, ImportReport)
        The largest strongly connected component. ``report.counts`` holds ``features``,
        ``lines`` (line parts), ``skipped_closed``, ``skipped_class``, ``speed_given``.

    Raises
    ------
    InvalidInput
        For a missing or unreadable file, a missing field, projected coordinates, a bad
        feature (named by its 0-based index) or a layer without roads.
    """
    started = time.perf_counter()
    report_progress = progress or (lambda stage, done, total: None)
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(
            key="error.network.no_file", params={"name": path.name, "path": str(path)}, field="file"
        )
    if not (0 <= snap_m <= 50):
        raise InvalidInput(key="error.network.snap_m", params={"snap_m": snap_m}, field="snap_m")
    report_progress("read", 0, 0)
    data = (
        _read_geojson(path) if path.suffix.lower() in GEOJSON_SUFFIXES else _read_ogr(path, layer)
    )
    classes, directions, speeds, skip, counts = _attributes(
        data, profile, direction_field, speed_field, class_field
    )
    parts = [(index, coords) for index, coords in data.parts if not skip[index]]
    report_progress("read", data.n_features, data.n_features)
    if not parts:
        raise InvalidInput(key="error.network.no_lines", params={"source": data.name}, field="file")
    sizes = np.array([coords.shape[0] for _, coords in parts], dtype=np.int64)
    stacked = np.concatenate([coords for _, coords in parts])
    feature_of_vertex = np.repeat(np.array([index for index, _ in parts]), sizes)
    lon, lat = stacked[:, 0], stacked[:, 1]
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise _bad(
            data.name,
            int(feature_of_vertex[first]),
            InvalidInput(
                key="error.network.projected",
                params={"lon": float(lon[first]), "lat": float(lat[first])},
            ),
            "crs",
        )
    try:
        lon, lat = to_wgs84_array(lon, lat, crs)
    except CoordinateError as exc:
        raise InvalidInput(
            key="error.network.source_fault",
            params={"source": data.name, "reason": exc},
            field="crs",
        ) from None
    keys, lon, lat = _node_keys(lon, lat, snap_m)
    line_feature = np.array([index for index, _ in parts], dtype=np.int64)
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    counts["lines"] = len(parts)
    lines = LineSet(
        keys=keys,
        lon=lon,
        lat=lat,
        ptr=ptr,
        road_class=classes[line_feature],
        direction=directions[line_feature],
        maxspeed_fwd=np.full(len(parts), np.nan),
        maxspeed_bwd=np.full(len(parts), np.nan),
        explicit_kmh=speeds[line_feature],
        zone=np.full(len(parts), -1, dtype=np.int8),
    )
    try:
        return assemble(
            lines,
            profile,
            source=data.name,
            kind="gis",
            counts=counts,
            progress=report_progress,
            started=started,
        )
    except InvalidInput as exc:
        raise InvalidInput(
            key="error.network.no_network",
            params={"source": data.name, "reason": exc},
            field="file",
        ) from None


def graph_from_arrays(
    lon: ArrayLike,
    lat: ArrayLike,
    tails: ArrayLike,
    heads: ArrayLike,
    time_s: ArrayLike,
    *,
    length_m: ArrayLike | None = None,
    road_class: ArrayLike | None = None,
    shapes: list[FloatArray] | None = None,
    keep_largest: bool = True,
    source: str = "arrays",
) -> tuple[RoadGraph, ImportReport]:
    """Build a graph from plain arrays, through the same component step as the file imports.

    Parameters
    ----------
    lon, lat : array of float, shape (n,)
        Node coordinates, WGS-84 degrees.
    tails, heads : array of int, shape (m,)
        Directed edges (a two-way road is two edges).
    time_s : array of float, shape (m,)
        Travel times in seconds, as given (no profile is applied).
    length_m, road_class, shapes : optional
        As for :func:`~fangkong.network.graph.from_edges`.
    keep_largest : bool
        Keep only the largest strongly connected component (default), so that every node
        reaches every other; False keeps the graph whole.
    source : str
        A name for the report.

    Returns
    -------
    (RoadGraph, ImportReport)

    Raises
    ------
    InvalidInput
        As :func:`~fangkong.network.graph.from_edges`: arrays of different lengths, node ids
        out of range, negative or NaN times, no edges.
    """
    started = time.perf_counter()
    classes = None if road_class is None else np.asarray(road_class)
    if (
        classes is not None
        and classes.size
        and (classes.min() < 0 or classes.max() > max(RoadClass))
    ):
        raise InvalidInput(
            key="error.network.road_class_codes",
            params={"max": int(max(RoadClass))},
            field="road_class",
        )
    graph = from_edges(
        lon, lat, tails, heads, time_s, length_m=length_m, road_class=classes, shapes=shapes
    )
    kept, n_components, _ = largest_scc(graph)
    if not keep_largest:
        kept = graph
    return finish(
        kept,
        graph,
        n_components,
        source=source,
        kind="arrays",
        profile=None,
        counts={},
        road_km=road_km(kept),
        urban_km=0.0,
        started=started,
    )
