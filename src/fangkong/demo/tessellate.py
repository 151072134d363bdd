"""Cut police-station precincts into beat areas (警格) and beat areas into grids (网格).

Everything here is a pure function of its inputs (geometries in WGS-84 lon/lat, numpy arrays,
integer seeds): no database, no global random state, no projection library.

- :func:`area_m2` -- area of a lon/lat geometry in square metres (that of
  :mod:`fangkong.areas.geometry`, re-exported);
- :func:`road_points` -- points spread evenly along roads (one per 25 m by default);
- :func:`seeds_along_roads` -- k seed points following the road network's density;
- :func:`partition` -- Voronoi cells of the seeds clipped to a polygon: an exact partition;
- :func:`generate_beats_and_grids` -- beat areas for a precinct, then grids inside each beat;
- :func:`plan_counts` -- how many beats and grids per beat each precinct gets in the demo.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from fangkong.areas.geometry import area_m2, local_projector, radii_of_curvature

__all__ = [
    "DEFAULT_MIN_PART_M2",
    "area_m2",
    "generate_beats_and_grids",
    "partition",
    "plan_counts",
    "road_points",
    "seeds_along_roads",
]

#: Polygon pieces smaller than this (m²) that touch another cell are handed to that cell.
DEFAULT_MIN_PART_M2 = 5_000.0

# What _fit_to leaves as a gap: slivers thinner than this on average (metres).
_HAIRLINE_M = 1e-3

# Tolerances in degrees (1e-8° is about 1 mm) for deciding that two pieces share an edge.
_TOUCH_EPS_DEG = 1e-8
_MIN_SHARED_DEG = 1e-6
# _pull_inside: a vertex moves at most 2**20 units in the last place (~1 mm at 47°N), and
# undoing moves that break a piece is tried this many times.
_MAX_PULL_DOUBLINGS = 21
_MAX_PULL_ROUNDS = 4

# seeds_along_roads: where there are fewer road points than this per seed, points drawn
# uniformly inside the polygon make up the difference.
_MIN_POINTS_PER_SEED = 20

# plan_counts bounds.
_MIN_TOTAL_BEATS = 20
_MAX_TOTAL_BEATS = 40
_MIN_GRIDS_PER_BEAT = 2
_MAX_GRIDS_PER_BEAT = 12

FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# Area
# --------------------------------------------------------------------------------------------


def _areas_m2(
    geoms: Sequence[BaseGeometry] | NDArray[np.object_], lon0: float, lat0: float
) -> FloatArray:
    """Areas in m² of many geometries, all projected about the same centre.

    Same projection as :func:`fangkong.areas.geometry.area_m2`, which centres each geometry on
    its own centroid instead.
    """
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return np.zeros(0, dtype=np.float64)
    projected = shapely.transform(arr, local_projector(lon0, lat0))
    return np.abs(np.asarray(shapely.area(projected), dtype=np.float64))


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def _polygons(geom: BaseGeometry | None) -> list[Polygon]:
    """The non-empty polygons inside ``geom`` (any type), in order."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    out: list[Polygon] = []
    for part in getattr(geom, "geoms", ()):
        out.extend(_polygons(part))
    return out


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Valid polygonal part of ``geom`` as a MultiPolygon (possibly empty)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polygons = _polygons(geom)
    result = MultiPolygon(polygons)
    if not result.is_valid:
        result = MultiPolygon(_polygons(shapely.union_all(polygons)))
    return result


def _centre(geom: BaseGeometry) -> tuple[float, float]:
    minx, miny, maxx, maxy = geom.bounds
    return (minx + maxx) / 2.0, (miny + maxy) / 2.0


def _to_local(lonlat: FloatArray, lon0: float, lat0: float) -> FloatArray:
    """Affine lon/lat -> locally isotropic plane (degrees of latitude as the unit)."""
    c = math.cos(math.radians(lat0))
    return np.column_stack(((lonlat[:, 0] - lon0) * c, lonlat[:, 1] - lat0))


def _from_local(xy: FloatArray, lon0: float, lat0: float) -> FloatArray:
    c = math.cos(math.radians(lat0))
    return np.column_stack((xy[:, 0] / c + lon0, xy[:, 1] + lat0))


def _as_points(values: ArrayLike, what: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} must have shape (N, 2) (lon, lat); got {arr.shape}")
    return arr


def _unique_rows_in_order(points: FloatArray) -> FloatArray:
    _, first = np.unique(points, axis=0, return_index=True)
    return points[np.sort(first)]


# --------------------------------------------------------------------------------------------
# Partition
# --------------------------------------------------------------------------------------------


class _Groups:
    """Union-find over pieces; each root remembers the cell that owns its group."""

    def __init__(self, owners: list[int]) -> None:
        self.parent = list(range(len(owners)))
        self.owner = list(owners)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def join(self, child: int, into: int) -> None:
        """Move ``child``'s whole group into ``into``'s group (and owner)."""
        a, b = self.find(child), self.find(into)
        if a != b:
            self.parent[a] = b


class _Boundaries:
    """Boundaries of a list of geometries, computed once each, on demand."""

    def __init__(self, geoms: Sequence[BaseGeometry]) -> None:
        self.geoms = geoms
        self.cache: dict[int, BaseGeometry] = {}

    def __getitem__(self, j: int) -> BaseGeometry:
        if j not in self.cache:
            self.cache[j] = self.geoms[j].boundary
        return self.cache[j]


def _touching(tree: shapely.STRtree, geom: BaseGeometry) -> list[int]:
    """Indices of the tree's geometries within touching distance of ``geom``, ascending."""
    return sorted(int(j) for j in tree.query(geom, predicate="dwithin", distance=_TOUCH_EPS_DEG))


def _longest_border(
    piece: BaseGeometry, candidates: Iterable[int], boundaries: _Boundaries, min_shared: float
) -> int:
    """The candidate whose boundary runs longest along ``piece``'s (-1 if none beats
    ``min_shared`` degrees); ties go to the lowest index."""
    near = shapely.buffer(piece.boundary, _TOUCH_EPS_DEG)
    best, best_shared = -1, min_shared
    for j in candidates:
        shared = float(shapely.intersection(boundaries[j], near).length)
        if shared > best_shared:
            best, best_shared = j, shared
    return best


def _absorb_small_pieces(
    pieces: list[Polygon], owners: list[int], areas: FloatArray, min_part_m2: float
) -> list[int]:
    """Reassign pieces under ``min_part_m2`` to the neighbouring cell they share most edge with.

    Pieces are handled smallest first; a piece that touches no other cell's piece (an isolated
    exclave) stays where it is. Returns the final owner of every piece.
    """
    groups = _Groups(owners)
    small = [i for i in np.argsort(areas, kind="stable").tolist() if areas[i] < min_part_m2]
    if not small or len(set(owners)) < 2:
        return owners
    tree = shapely.STRtree(pieces)
    boundaries = _Boundaries(pieces)
    for i in small:
        root = groups.find(i)
        candidates = [j for j in _touching(tree, pieces[i]) if groups.find(j) != root]
        best = _longest_border(pieces[i], candidates, boundaries, _MIN_SHARED_DEG)
        if best >= 0:
            groups.join(i, best)
    return [groups.owner[groups.find(i)] for i in range(len(pieces))]


def _has_area(geom: BaseGeometry) -> bool:
    """Whether ``geom`` holds a polygon (however thin); lines and points do not count."""
    return any(not p.is_empty for p in _polygons(geom))


def _ring_segments(geom: MultiPolygon) -> tuple[FloatArray, FloatArray]:
    """Start and end points of every edge of every ring of ``geom``."""
    starts: list[FloatArray] = []
    ends: list[FloatArray] = []
    for ring in shapely.get_rings(np.asarray(geom.geoms, dtype=object)):
        coords = shapely.get_coordinates(ring)
        starts.append(coords[:-1])
        ends.append(coords[1:])
    return np.vstack(starts), np.vstack(ends)


def _pull_inside(pieces: list[Polygon], target: MultiPolygon) -> list[Polygon]:
    """Move every new vertex that ``pieces`` put on ``target``'s boundary a hair inside.

    Where a cell edge crosses an edge of the target, the overlay adds the crossing point,
    rounded to doubles: on the edge, or up to ~1e-16° either side of it. A vertex on the
    wrong side makes the cells poke out of the target and leaves slivers that later overlays
    cut at new, again rounded, points. Each such vertex is moved -- in every piece that has
    it, so neighbours still share it -- by the smallest step that :func:`shapely.contains_xy`
    accepts as inside: a few units in the last place along the normal of the nearest target
    edge (or of the next nearest, at a corner), at most ~1 mm. The target's own edges are
    then the only edges the pieces have on its boundary. A move that would make a piece
    invalid (only conceivable for a piece thinner than the step) is not made.
    """
    coords = np.unique(shapely.get_coordinates(pieces), axis=0)
    own = set(map(tuple, shapely.get_coordinates(target).tolist()))
    keep = np.array([tuple(c) in own for c in coords.tolist()], dtype=bool)
    keep |= shapely.contains_xy(target, coords[:, 0], coords[:, 1])
    loose = coords[~keep]
    if len(loose) == 0:
        return pieces
    a, b = _ring_segments(target)
    d = b - a
    length = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-300)
    normals = np.column_stack((-d[:, 1], d[:, 0])) / length[:, None]
    moves: dict[tuple[float, float], tuple[float, float]] = {}
    for x in loose:
        t = np.clip(((x - a) * d).sum(axis=1) / length**2, 0.0, 1.0)
        nearest = np.argsort(np.hypot(*(a + t[:, None] * d - x).T), kind="stable")[:2]
        directions = np.vstack([normals[nearest], -normals[nearest]])
        ulp = float(np.spacing(np.abs(x)).max())
        for e in range(_MAX_PULL_DOUBLINGS):
            moved = x + ulp * 2.0**e * directions
            inside = shapely.contains_xy(target, moved[:, 0], moved[:, 1])
            if inside.any():
                y = moved[int(inside.argmax())]
                moves[(float(x[0]), float(x[1]))] = (float(y[0]), float(y[1]))
                break
    for _ in range(_MAX_PULL_ROUNDS):
        moved_pieces = _move_vertices(pieces, moves)
        broken = [i for i, piece in enumerate(moved_pieces) if not piece.is_valid]
        if not broken:
            return moved_pieces
        for i in broken:  # undo every move in a broken piece, and try again
            for c in shapely.get_coordinates(pieces[i]).tolist():
                moves.pop((c[0], c[1]), None)
    return pieces


def _move_vertices(
    pieces: list[Polygon], moves: Mapping[tuple[float, float], tuple[float, float]]
) -> list[Polygon]:
    """``pieces`` with the vertices that are keys of ``moves`` moved to their values."""
    if not moves:
        return pieces

    def move(xy: FloatArray) -> FloatArray:
        return np.array([moves.get((p, q), (p, q)) for p, q in xy.tolist()], dtype=np.float64)

    return list(shapely.transform(np.asarray(pieces, dtype=object), move))


def _fit_to(target: MultiPolygon, parts: list[MultiPolygon]) -> list[MultiPolygon]:
    """Make ``parts`` tile ``target``: no overlap, and no gap but hairlines.

    The parts come from :func:`_pull_inside` pieces, so they lie inside ``target`` and touch
    its boundary only along its own edges, but where a cell edge met a target edge A-E at X
    they follow A-X-E instead of A-E, X being rounded up to ~1e-16° off the edge. The hairline
    sliver in between is left as it is: it measures ~1e-6 m² (:func:`area_m2` is exact), and
    handing it to a part -- as was once done, while the area measure bent straight edges --
    gives that part a zero-width strip along its neighbour's edge X-E: a spike, which the map
    draws as a line up to kilometres long. What ``target`` minus the parts leaves that is more
    than a hairline (:func:`_is_hairline`; never seen) is handed to the part it shares the
    longest border with (the nearest part if it touches none). Overlaps, never expected, go to
    the earlier part.
    """
    geoms = list(parts)
    if not geoms:
        return []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for i, j in sorted(zip(left.tolist(), right.tolist(), strict=True)):
        if i < j and _has_area(shapely.intersection(geoms[i], geoms[j])):
            geoms[j] = _as_multipolygon(shapely.difference(geoms[j], geoms[i]))
    residual = [
        piece
        for piece in _polygons(shapely.difference(target, shapely.union_all(geoms)))
        if not _is_hairline(piece)
    ]
    if residual:
        tree = shapely.STRtree(geoms)
        boundaries = _Boundaries(geoms)
        handed: dict[int, list[Polygon]] = {}
        for piece in residual:
            best = _longest_border(piece, _touching(tree, piece), boundaries, 0.0)
            if best < 0:
                best = int(min(tree.query_nearest(piece, all_matches=True)))
            handed.setdefault(best, []).append(piece)
        for j, pieces in handed.items():
            geoms[j] = _as_multipolygon(shapely.union_all([geoms[j], *pieces]))
    return geoms


def _is_hairline(piece: Polygon) -> bool:
    """Whether ``piece`` is thinner than :data:`_HAIRLINE_M` on average (twice its area over
    its perimeter, in metres): a sliver of rounding, not land."""
    perimeter = _length_m(piece.exterior)
    return perimeter <= 0.0 or 2.0 * area_m2(piece) / perimeter < _HAIRLINE_M


def _length_m(line: BaseGeometry) -> float:
    """Length in metres of a lon/lat line (local plane about its middle; to ~0.1 %)."""
    lonlat = shapely.get_coordinates(line)
    if len(lonlat) < 2:
        return 0.0
    lat0 = float(lonlat[:, 1].mean())
    m, n = radii_of_curvature(lat0)
    dx = np.radians(np.diff(lonlat[:, 0])) * n * math.cos(math.radians(lat0))
    dy = np.radians(np.diff(lonlat[:, 1])) * m
    return float(np.hypot(dx, dy).sum())


def partition(
    polygon: Polygon | MultiPolygon,
    seeds: ArrayLike,
    *,
    min_part_m2: float = DEFAULT_MIN_PART_M2,
) -> list[MultiPolygon]:
    """Split a polygon into the Voronoi cells of seed points, clipped to the polygon.

    The Voronoi diagram is built in a locally isotropic plane (longitude scaled by cos of the
    central latitude), so cells are fair in metres, and its cells are mapped back to lon/lat
    with the inverse affine map before being intersected with ``polygon``. The cells tile a
    large envelope exactly, and the parts then tile ``polygon``, in lon/lat and in m²
    (:func:`area_m2`), to within hairlines of ~1e-6 m²:

    - a vertex where a cell edge crosses an edge of ``polygon`` (rounded, so slightly off that
      edge) is moved a few units in the last place inside, so no part pokes out;
    - the hairline slivers then left between ``polygon``'s edges and the parts stay gaps (see
      :func:`_fit_to`): handed to a part, they would give it zero-width spikes.

    Connected pieces smaller than ``min_part_m2`` (slivers where a cell grazes a wiggly border)
    are handed to the neighbouring cell they share the longest edge with; isolated pieces
    (exclaves) stay with their own cell. A cell can therefore end up as several disjoint
    polygons, which is why every result is a MultiPolygon.

    Parameters
    ----------
    polygon : Polygon or MultiPolygon
        Lon/lat area to split; repaired with :func:`shapely.make_valid` if invalid.
    seeds : array_like, shape (N, 2)
        Seed points (lon, lat). Repeated points count once. Seeds outside the polygon are
        allowed but may own no area.
    min_part_m2 : float, optional
        Size below which a piece touching another cell is absorbed by it (default
        :data:`DEFAULT_MIN_PART_M2`); 0 disables absorption.

    Returns
    -------
    list of MultiPolygon
        One non-empty MultiPolygon per seed that keeps some area, in seed order. Empty cells
        are dropped, so there may be fewer parts than seeds.

    Raises
    ------
    ValueError
        If ``seeds`` is empty, has the wrong shape or holds non-finite values.
    """
    target = _as_multipolygon(polygon)
    parts = _fit_to(target, _cells(target, seeds, min_part_m2))
    return [part for part in parts if not part.is_empty]


def _cells(target: MultiPolygon, seeds: ArrayLike, min_part_m2: float) -> list[MultiPolygon]:
    """The non-empty Voronoi cells of ``seeds`` in ``target``, in seed order, before
    :func:`_fit_to`: inside ``target``, but short of its edges by hairline slivers."""
    points = _as_points(seeds, "seeds")
    if len(points) == 0:
        raise ValueError("partition needs at least one seed")
    if not np.isfinite(points).all():
        raise ValueError("seeds must be finite")
    if target.is_empty:
        return []
    points = _unique_rows_in_order(points)
    if len(points) == 1:
        return [target]

    lon0, lat0 = _centre(target)
    local = _to_local(points, lon0, lat0)
    minx, miny, maxx, maxy = shapely.bounds(
        shapely.transform(target, lambda a: _to_local(a, lon0, lat0))
    ).tolist()
    lo = np.minimum(local.min(axis=0), [minx, miny])
    hi = np.maximum(local.max(axis=0), [maxx, maxy])
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6))
    envelope = box(lo[0] - 10 * span, lo[1] - 10 * span, hi[0] + 10 * span, hi[1] + 10 * span)
    diagram = shapely.voronoi_polygons(shapely.multipoints(local), extend_to=envelope, ordered=True)
    cells_local = np.asarray(shapely.get_parts(diagram), dtype=object)
    if len(cells_local) != len(points):  # never expected from GEOS; guard the seed order
        raise RuntimeError("Voronoi diagram does not have one cell per seed")
    cells_lonlat = shapely.transform(cells_local, lambda a: _from_local(a, lon0, lat0))
    shapely.prepare(target)
    clipped = shapely.intersection(cells_lonlat, target)

    pieces: list[Polygon] = []
    owners: list[int] = []
    for index, geom in enumerate(clipped):
        for piece in _polygons(geom):
            pieces.append(piece)
            owners.append(index)
    if not pieces:
        return []
    pieces = _pull_inside(pieces, target)
    if min_part_m2 > 0:
        areas = _areas_m2(pieces, lon0, lat0)
        owners = _absorb_small_pieces(pieces, owners, areas, min_part_m2)

    by_owner: dict[int, list[Polygon]] = {}
    for piece, owner in zip(pieces, owners, strict=True):
        by_owner.setdefault(owner, []).append(piece)
    cells: list[MultiPolygon] = []
    for owner in sorted(by_owner):
        group = by_owner[owner]
        if len(group) == 1:
            cells.append(MultiPolygon(group))
        else:
            cells.append(_as_multipolygon(shapely.union_all(group)))
    return [cell for cell in cells if not cell.is_empty]


# --------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------


def road_points(lines: Iterable[BaseGeometry], *, spacing_m: float = 25.0) -> FloatArray:
    """Points spread evenly along road lines, one per ``spacing_m`` of road.

    OSM vertex density follows how curvy a road is (hairpins on a mountain road carry many
    vertices per 100 m), not how much road there is. Feeding these points instead of the raw
    vertices to :func:`seeds_along_roads` and :func:`plan_counts` makes both follow road
    *length*. A line of length ``L`` gets ``max(1, round(L / spacing_m))`` points at the
    middles of equal stretches, so even a short driveway counts once.

    Parameters
    ----------
    lines : iterable of LineString
        Lon/lat lines (MultiLineStrings are walked part by part; other types are skipped).
    spacing_m : float, optional
        Metres of road per point (default 25).

    Returns
    -------
    numpy.ndarray, shape (N, 2)
        Points (lon, lat), in the order of the input lines.
    """
    if spacing_m <= 0:
        raise ValueError("spacing_m must be positive")
    chunks: list[FloatArray] = []
    for line in lines:
        if line is None or line.is_empty:
            continue
        parts = getattr(line, "geoms", None) or [line]
        for part in parts:
            if part.geom_type not in ("LineString", "LinearRing"):
                continue
            lonlat = np.asarray(part.coords, dtype=np.float64)[:, :2]
            if len(lonlat) < 2:
                continue
            lat0 = float(lonlat[:, 1].mean())
            m, n = radii_of_curvature(lat0)
            xy = np.column_stack(
                (
                    np.radians(lonlat[:, 0]) * n * math.cos(math.radians(lat0)),
                    np.radians(lonlat[:, 1]) * m,
                )
            )
            cumulative = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))))
            length = float(cumulative[-1])
            if length <= 0.0:
                continue
            count = max(1, round(length / spacing_m))
            at = (np.arange(count) + 0.5) * (length / count)
            chunks.append(
                np.column_stack(
                    (
                        np.interp(at, cumulative, lonlat[:, 0]),
                        np.interp(at, cumulative, lonlat[:, 1]),
                    )
                )
            )
    if not chunks:
        return np.zeros((0, 2), dtype=np.float64)
    return np.vstack(chunks)


def _sample_inside(target: MultiPolygon, count: int, rng: np.random.Generator) -> FloatArray:
    """``count`` points drawn uniformly (in lon/lat) inside ``target`` by rejection."""
    minx, miny, maxx, maxy = target.bounds
    shapely.prepare(target)
    found: list[FloatArray] = []
    have = 0
    bbox_area = max((maxx - minx) * (maxy - miny), 1e-300)
    acceptance = max(target.area / bbox_area, 1e-3)
    for _ in range(200):
        batch = int(min(max((count - have) / acceptance * 1.5, 64), 1_000_000))
        xs = rng.uniform(minx, maxx, batch)
        ys = rng.uniform(miny, maxy, batch)
        keep = shapely.contains_xy(target, xs, ys)
        if keep.any():
            found.append(np.column_stack((xs[keep], ys[keep])))
            have += int(keep.sum())
        if have >= count:
            break
    if not found:
        return np.zeros((0, 2), dtype=np.float64)
    return np.vstack(found)[:count]


def _kmeans_pp_init(xy: FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    centres = np.empty((k, 2), dtype=np.float64)
    centres[0] = xy[int(rng.integers(len(xy)))]
    d2 = ((xy - centres[0]) ** 2).sum(axis=1)
    for c in range(1, k):
        total = float(d2.sum())
        if total <= 0.0:
            pick = int(rng.integers(len(xy)))
        else:
            pick = int(np.searchsorted(np.cumsum(d2), rng.uniform(0.0, total), side="right"))
            pick = min(pick, len(xy) - 1)
        centres[c] = xy[pick]
        d2 = np.minimum(d2, ((xy - centres[c]) ** 2).sum(axis=1))
    return centres


def _kmeans(xy: FloatArray, k: int, rng: np.random.Generator, iterations: int = 30) -> FloatArray:
    """Lloyd's k-means with k-means++ seeding; deterministic for a given generator state."""
    centres = _kmeans_pp_init(xy, k, rng)
    labels = np.full(len(xy), -1, dtype=np.int64)
    for _ in range(iterations):
        d2 = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new_labels = d2.argmin(axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(k):
            members = xy[labels == c]
            if len(members):
                centres[c] = members.mean(axis=0)
            else:  # empty cluster: restart it at the point worst served so far
                worst = int(d2[np.arange(len(xy)), labels].argmax())
                centres[c] = xy[worst]
    return centres


def _snap_to_points(centres: FloatArray, xy: FloatArray) -> NDArray[np.int64]:
    """Index of a distinct data point nearest to each centre (greedy, in centre order)."""
    used = np.zeros(len(xy), dtype=bool)
    chosen = np.empty(len(centres), dtype=np.int64)
    for c, centre in enumerate(centres):
        d2 = ((xy - centre) ** 2).sum(axis=1)
        d2[used] = np.inf
        pick = int(d2.argmin())
        chosen[c] = pick
        used[pick] = True
    return chosen


def seeds_along_roads(
    polygon: Polygon | MultiPolygon,
    road_coords: ArrayLike,
    k: int,
    *,
    rng_seed: int,
) -> FloatArray:
    """Pick ``k`` seed points inside a polygon that follow the road network's density.

    The road points strictly inside the polygon (duplicates removed) are clustered with
    k-means (k-means++ start, Lloyd iterations) in a local plane where longitude is scaled by
    cos(latitude); each cluster centre is then snapped to the nearest still-unused point, so
    every seed lies inside the polygon and seeds are distinct. Where the road network is dense
    the seeds are dense, so Voronoi cells are small in town and large in the mountains.

    Where roads are sparse -- fewer than 20 road points per seed -- points drawn uniformly
    inside the polygon make up the difference, so that a handful of road points cannot pull
    all the seeds into one spot; with no road points at all the seeds come from the uniform
    sample, i.e. the cells are roughly equal in area.

    Parameters
    ----------
    polygon : Polygon or MultiPolygon
        Lon/lat area the seeds must lie in.
    road_coords : array_like, shape (N, 2)
        Road points (lon, lat): raw vertices, or better :func:`road_points`; points outside
        the polygon are ignored.
    k : int
        Number of seeds wanted (>= 1).
    rng_seed : int
        Seed for :func:`numpy.random.default_rng`; the same inputs give the same seeds.

    Returns
    -------
    numpy.ndarray, shape (k, 2)
        Seed points (lon, lat).

    Raises
    ------
    ValueError
        If ``k < 1`` or the polygon is empty or too thin to sample ``k`` points in.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    target = _as_multipolygon(polygon)
    if target.is_empty:
        raise ValueError("cannot place seeds in an empty polygon")
    rng = np.random.default_rng(rng_seed)
    coords = _as_points(road_coords, "road_coords")
    coords = coords[np.isfinite(coords).all(axis=1)]
    shapely.prepare(target)
    if len(coords):
        inside = coords[shapely.contains_xy(target, coords[:, 0], coords[:, 1])]
        inside = np.unique(inside, axis=0)
    else:
        inside = np.zeros((0, 2), dtype=np.float64)
    background = max(_MIN_POINTS_PER_SEED * k - len(inside), 0)
    points = inside
    if background:
        extra = _sample_inside(target, background, rng)
        points = np.unique(np.vstack((inside, extra)), axis=0)
    if len(points) < k:
        raise ValueError(f"could not place {k} distinct seeds inside the polygon")
    lon0, lat0 = _centre(target)
    xy = _to_local(points, lon0, lat0)
    centres = _kmeans(xy, k, rng)
    seeds: FloatArray = np.array(points[_snap_to_points(centres, xy)], dtype=np.float64)
    return seeds


# --------------------------------------------------------------------------------------------
# Beats and grids
# --------------------------------------------------------------------------------------------


def _child_seed(rng_seed: int, index: int) -> int:
    state = np.random.SeedSequence([rng_seed & 0xFFFFFFFF, index]).generate_state(1)
    return int(state[0])


def generate_beats_and_grids(
    precinct: Polygon | MultiPolygon,
    road_coords: ArrayLike,
    *,
    beats: int,
    grids_per_beat: int,
    rng_seed: int,
    min_part_m2: float = DEFAULT_MIN_PART_M2,
) -> list[tuple[MultiPolygon, list[MultiPolygon]]]:
    """Cut a precinct into beat areas, and each beat area into grids.

    Beat areas are :func:`partition` cells of :func:`seeds_along_roads` seeds in the precinct;
    grids are the same thing again inside each beat area, with the road vertices of that beat.
    Both levels partition their parent exactly: no gap, overlap or overhang, in lon/lat or in
    m² (:func:`area_m2`), beyond floating-point noise -- what the fusion check
    (:func:`fangkong.areas.service.fusion_check`) asks of the demo county.

    Parameters
    ----------
    precinct : Polygon or MultiPolygon
        Lon/lat precinct boundary.
    road_coords : array_like, shape (N, 2)
        Road vertices (lon, lat); only those inside each area are used.
    beats : int
        Beat areas wanted in the precinct (>= 1).
    grids_per_beat : int
        Grids wanted in each beat area (>= 1).
    rng_seed : int
        Seed; the same inputs give the same output.
    min_part_m2 : float, optional
        Passed to :func:`partition` at both levels.

    Returns
    -------
    list of (MultiPolygon, list of MultiPolygon)
        ``(beat_area, grids)`` pairs. Counts can fall short of the request only when a cell is
        absorbed as a sliver, which the road-snapped seeds make rare.
    """
    if beats < 1 or grids_per_beat < 1:
        raise ValueError("beats and grids_per_beat must be at least 1")
    coords = _as_points(road_coords, "road_coords")
    target = _as_multipolygon(precinct)
    beat_seeds = seeds_along_roads(target, coords, beats, rng_seed=_child_seed(rng_seed, 0))
    result: list[tuple[MultiPolygon, list[MultiPolygon]]] = []
    for index, beat in enumerate(partition(target, beat_seeds, min_part_m2=min_part_m2), 1):
        grid_seeds = seeds_along_roads(
            beat, coords, grids_per_beat, rng_seed=_child_seed(rng_seed, index)
        )
        grids = partition(beat, grid_seeds, min_part_m2=min_part_m2)
        result.append((beat, [grid for grid in grids if not grid.is_empty]))
    return result


def _largest_remainder(total: int, weights: FloatArray) -> NDArray[np.int64]:
    """Apportion ``total`` seats by weight (Hamilton's method, ties to the lower index)."""
    if total <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    w = np.clip(weights, 0.0, None)
    if w.sum() <= 0:
        w = np.ones(len(weights))
    quotas = total * w / w.sum()
    seats: NDArray[np.int64] = np.floor(quotas).astype(np.int64)
    remainder = quotas - seats
    order = sorted(range(len(w)), key=lambda i: (-remainder[i], i))
    for i in order[: total - int(seats.sum())]:
        seats[i] += 1
    return seats


def plan_counts(
    precinct_areas_m2: Mapping[str, float],
    road_vertices: Mapping[str, int],
    *,
    vertices_per_beat: int = 500,
    min_total_grids: int = 100,
) -> dict[str, tuple[int, int]]:
    """Decide how many beat areas, and grids per beat area, each precinct gets.

    Beat areas follow the amount of road network (road density × area, i.e. the road vertex
    count, a proxy for patrol workload): the total is ``road vertices / vertices_per_beat``
    clamped to 20–40 (and to at least one per precinct); every precinct gets one and the rest
    are apportioned by road vertices (largest remainder). Grids per beat area follow road
    *density* relative to the county's: ``round(4·sqrt(density ratio))`` clamped to 2–12, so
    town beats hold more, smaller grids; then, while the county has fewer than
    ``min_total_grids`` grids, the precinct with the most road vertices per grid gets one more
    grid per beat.

    Parameters
    ----------
    precinct_areas_m2 : mapping of str to float
        Precinct name -> area in m².
    road_vertices : mapping of str to int
        Precinct name -> number of (distinct) drivable road vertices inside it; missing names
        count as 0.
    vertices_per_beat : int, optional
        Road vertices one beat area should hold on average (default 500).
    min_total_grids : int, optional
        Minimum number of grids in the county (default 100).

    Returns
    -------
    dict of str to (int, int)
        Precinct name -> ``(beats, grids_per_beat)``, in the order of ``precinct_areas_m2``.

    Raises
    ------
    ValueError
        With no precincts, more than 40 precincts, a non-positive area, or when 100+ grids
        cannot be reached within 12 grids per beat area.
    """
    names = list(precinct_areas_m2)
    if not names:
        raise ValueError("no precincts to plan")
    if len(names) > _MAX_TOTAL_BEATS:
        raise ValueError(f"{len(names)} precincts cannot share at most {_MAX_TOTAL_BEATS} beats")
    areas = np.array([float(precinct_areas_m2[n]) for n in names], dtype=np.float64)
    if not (areas > 0).all():
        raise ValueError("every precinct needs a positive area")
    verts = np.array([max(int(road_vertices.get(n, 0)), 0) for n in names], dtype=np.float64)

    total_vertices = float(verts.sum())
    wanted = round(total_vertices / max(vertices_per_beat, 1))
    total_beats = min(_MAX_TOTAL_BEATS, max(_MIN_TOTAL_BEATS, len(names), wanted))
    weights = verts if total_vertices > 0 else areas
    beats = 1 + _largest_remainder(total_beats - len(names), weights)

    county_density = total_vertices / float(areas.sum())
    if county_density > 0:
        ratio = (verts / areas) / county_density
        grids = np.rint(4.0 * np.sqrt(ratio)).astype(np.int64)
    else:
        grids = np.full(len(names), 4, dtype=np.int64)
    grids = np.clip(grids, _MIN_GRIDS_PER_BEAT, _MAX_GRIDS_PER_BEAT)

    while int((beats * grids).sum()) < min_total_grids:
        open_ = grids < _MAX_GRIDS_PER_BEAT
        if not open_.any():
            raise ValueError(f"cannot reach {min_total_grids} grids with these precincts")
        load = np.where(open_, (verts + areas / areas.sum()) / (beats * grids), -np.inf)
        grids[int(load.argmax())] += 1
    return {n: (int(b), int(g)) for n, b, g in zip(names, beats, grids, strict=True)}
