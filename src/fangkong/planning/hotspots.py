"""Hotspots (热点) of incidents over places: counts per H3 cell and per road segment, the local
Getis-Ord Gi* statistic with analytic and conditional-permutation inference (over H3 cells and
over road segments), the false-discovery-rate cut, kernel density surfaces and the comparison of
two periods.

Everything here is place-based: the unit of analysis is an H3 cell or a road segment, the
value a count of incidents (SCOPE.md: never a person). The functions are plain numerics over
arrays; :mod:`fangkong.planning.hotspot_runs` reads the incidents and stores the runs.

The Gi* here is the statistic of esda's ``G_Local(y, w, transform="R", star=True)`` on the
binary contiguity of H3 cells (or of road segments sharing a junction) with the place itself
included (each neighbour and the place weigh ``1 / (k_i + 1)``), computed the same way so that
the statistics, the analytic z and p and the conditional-permutation pseudo p-values are equal
(tests/planning/test_hotspots.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import h3
import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal, sparse, stats

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: H3 resolutions offered: 8 (~0.74 km² a cell) and 9 (~0.11 km²).
RESOLUTIONS = (8, 9)
#: Hours of a week: Monday 00:00-01:00 is 0, Sunday 23:00-24:00 is 167.
HOURS_OF_WEEK = 168
HotspotClass = Literal["hot", "cold", "none"]
Trend = Literal["new", "persistent", "fading", "none"]


# --- places ------------------------------------------------------------------------------------


def cells_of(lon: FloatArray, lat: FloatArray, resolution: int) -> list[str]:
    """The H3 cell of each point (WGS-84 degrees) at ``resolution``.

    Complexity O(p)."""
    return [
        h3.latlng_to_cell(float(b), float(a), resolution) for a, b in zip(lon, lat, strict=True)
    ]


def count_cells(cells: Sequence[str], weight: FloatArray | None = None) -> dict[str, float]:
    """The number (or the weight sum) of points per cell."""
    out: dict[str, float] = {}
    for i, cell in enumerate(cells):
        out[cell] = out.get(cell, 0.0) + (1.0 if weight is None else float(weight[i]))
    return out


def study_cells(polygons: Iterable[Sequence[tuple[float, float]]], resolution: int) -> set[str]:
    """Every cell whose centre lies in one of the polygons (exterior rings, lon/lat pairs)."""
    out: set[str] = set()
    for ring in polygons:
        shape = h3.LatLngPoly([(lat, lon) for lon, lat in ring])
        out.update(h3.polygon_to_cells(shape, resolution))
    return out


@dataclass(frozen=True)
class Contiguity:
    """The neighbours of n places (H3 cells, or road segments named by their id as text) as CSR
    arrays (the place itself left out): ``indices[indptr[i]:indptr[i + 1]]`` are the neighbours
    of place i, sorted."""

    cells: list[str]
    indptr: IntArray
    indices: IntArray

    @property
    def n(self) -> int:
        return len(self.cells)

    def cardinalities(self) -> IntArray:
        return np.diff(self.indptr).astype(np.int64)

    def star_matrix(self) -> sparse.csr_matrix:
        """The row-standardised weights with the cell itself: 1 / (k_i + 1) on the cell and each
        of its k_i neighbours (columns sorted), as esda's ``G_Local(..., transform="R",
        star=True)`` uses them. O(n k)."""
        n = self.n
        card = self.cardinalities()
        rows = np.concatenate([np.repeat(np.arange(n), card), np.arange(n)])
        cols = np.concatenate([self.indices, np.arange(n)])
        vals = np.concatenate([np.repeat(1.0 / (card + 1.0), card), 1.0 / (card + 1.0)])
        matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
        matrix.sort_indices()
        return matrix


def h3_contiguity(cells: Sequence[str]) -> Contiguity:
    """Queen contiguity of H3 cells (the up to 6 cells sharing an edge) within ``cells``.

    Complexity O(n)."""
    ordered = sorted(set(cells))
    index = {c: i for i, c in enumerate(ordered)}
    indptr = np.zeros(len(ordered) + 1, dtype=np.int64)
    indices: list[int] = []
    for i, cell in enumerate(ordered):
        nb = sorted(index[c] for c in h3.grid_ring(cell, 1) if c in index)
        indices.extend(nb)
        indptr[i + 1] = len(indices)
    return Contiguity(ordered, indptr, np.asarray(indices, dtype=np.int64))


# --- Getis-Ord Gi* -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GiStar:
    """Local Gi* of n places.

    Attributes
    ----------
    gs : statistic, ``Σ_j w_ij y_j / Σ_j y_j``
    expected, variance : its expectation and variance under randomisation (esda's moments)
    z : ``(gs - expected) / sqrt(variance)``
    p_norm : one-sided normal p-value of ``|z|``
    p_sim : conditional-permutation pseudo p-value (folded, as esda's ``directed``); NaN
        without permutations
    permutations, seed : what drew ``p_sim``
    """

    gs: FloatArray
    expected: FloatArray
    variance: FloatArray
    z: FloatArray
    p_norm: FloatArray
    p_sim: FloatArray
    permutations: int
    seed: int | None


def gi_star(
    y: FloatArray,
    weights: Contiguity,
    *,
    permutations: int = 0,
    seed: int | None = None,
) -> GiStar:
    """Getis-Ord Gi* of ``y`` over ``weights`` with analytic and permutation inference.

    Parameters
    ----------
    y : array of float64, shape (n,)
        Value per place (incident counts), not all zero.
    weights : Contiguity
        Neighbours of each place; each place and its neighbours weigh ``1 / (k_i + 1)``.
    permutations : int
        Conditional randomisations (0 for none; 999 as esda's default).
    seed : int, optional
        Seed of the permutations (the same seed as esda's draws the same neighbour sets).

    Returns
    -------
    GiStar

    Notes
    -----
    The analytic moments are esda's (``getisord.G_Local.calc``): with ``N = n``, mean ``ȳ``
    and variance ``s²`` of y, cardinality ``c_i = Σ_j w_ij`` (1 when row-standardised),
    ``E = c_i / N`` and ``V = c_i (N - c_i) / (N - 1) / N² · s² / ȳ²``. Permutation: for each
    place, ``permutations`` draws of ``k_i`` other places (without the place itself) from one
    shared table of ``max k`` ids per draw, drawn as esda's ``crand.vec_permutations`` draws
    them (numba's ``np.random.choice`` after ``np.random.seed(seed)``); the pseudo p-value is
    ``(min(larger, permutations - larger) + 1) / (permutations + 1)``.

    Complexity O(n k) analytic; O(P n) draws and O(P n k) sums for P permutations.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    n = weights.n
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, the weights {n} places")
    w = weights.star_matrix()
    total = float(y.sum())
    gs = np.asarray(w @ y, dtype=np.float64) / y.sum()
    mean = y.sum() / n
    variance_y = (y**2).sum() / n - mean**2
    card = np.asarray(w.sum(axis=1), dtype=np.float64).squeeze(axis=1)
    expected = card / n
    # one place alone (n = 1) has no variance: its z and p are NaN and it is never classed
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = card * (n - card)
        variance /= n - 1
        variance *= 1 / n**2
        variance *= variance_y / (mean**2)
        z = (gs - expected) / np.sqrt(variance)
    p_norm = stats.norm.sf(np.abs(z))
    p_sim = np.full(n, np.nan)
    if permutations > 0 and n > 1:
        card_other = weights.cardinalities()
        max_card = int(card_other.max()) if n else 0
        draw_seed = int(seed) if seed is not None else int(np.random.randint(12345, 12345000))
        ids = _permutation_ids(max(max_card, 1), n, permutations, draw_seed)
        self_weight = np.asarray(1.0 / (card_other + 1.0), dtype=np.float64)
        p_sim = _star_pseudo_p(y, gs, weights.indptr, card_other, self_weight, ids, total)
    return GiStar(gs, expected, variance, z, p_norm, p_sim, permutations, seed)


@numba.njit(fastmath=True, cache=True)
def _permutation_ids(max_card: int, n: int, k_replications: int, seed: int) -> IntArray:
    """esda's ``vec_permutations``: ``max_card`` ids drawn from ``n - 1`` without replacement,
    ``k_replications`` times, after seeding numba's generator."""
    np.random.seed(seed)
    result = np.empty((k_replications, max_card), dtype=np.int64)
    for k in range(k_replications):
        result[k] = np.random.choice(n - 1, size=max_card, replace=False)
    return result


@numba.njit(fastmath=True, cache=True)
def _star_pseudo_p(
    z: FloatArray,
    observed: FloatArray,
    indptr: IntArray,
    cardinalities: IntArray,
    self_weights: FloatArray,
    permuted_ids: IntArray,
    scaling: float,
) -> FloatArray:
    n = z.shape[0]
    p_permutations = permuted_ids.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        cardinality = cardinalities[i]
        if cardinality == 0:
            # an island: esda weighs a drawn neighbour by its island weight (0) and the
            # place itself by 0
            other = np.zeros(1, dtype=np.float64)
            self_weight = 0.0
            cardinality = 1
        else:
            other = np.full(cardinality, self_weights[i])
            self_weight = self_weights[i]
        # esda draws ids among the n - 1 other places (z without place i): id j is place j
        # below i and j + 1 from i on (no copy of z per place: O(P k), not O(n))
        zrand = np.empty((p_permutations, cardinality), dtype=np.float64)
        for r in range(p_permutations):
            for c in range(cardinality):
                j = permuted_ids[r, c]
                zrand[r, c] = z[j + 1] if j >= i else z[j]
        rstats = (zrand @ other + self_weight * z[i]) / scaling
        larger = 0
        for r in range(p_permutations):
            if rstats[r] >= observed[i]:
                larger += 1
        if p_permutations - larger < larger:
            larger = p_permutations - larger
        out[i] = (larger + 1.0) / (p_permutations + 1.0)
    return out


def fdr_cutoff(p: FloatArray, alpha: float = 0.05) -> float:
    """The Benjamini-Hochberg bound, as esda's ``fdr``: with the p-values sorted, ``i α / n`` for
    the largest i whose ``p_(i) < i α / n``; the Bonferroni ``α / n`` when none passes. A place
    is significant when its p-value is below the bound."""
    values = np.sort(np.asarray(p, dtype=np.float64)[~np.isnan(p)])
    n = values.size
    if n == 0:
        return 0.0
    bound = np.arange(1, n + 1) * alpha / n
    passing = np.flatnonzero(values < bound)
    if passing.size == 0:
        return float(alpha / n)
    return float(bound[passing[-1]])


def classify(
    result: GiStar, *, alpha: float = 0.05, inference: Literal["sim", "norm"] = "sim"
) -> tuple[list[HotspotClass], float]:
    """Hot (z > 0) and cold (z < 0) places whose p-value is below the FDR bound at ``alpha``
    (:func:`fdr_cutoff`); returns the classes and the bound."""
    p = result.p_sim if inference == "sim" and result.permutations > 0 else result.p_norm
    cut = fdr_cutoff(p, alpha)
    out: list[HotspotClass] = []
    for zi, pi in zip(result.z, p, strict=True):
        if np.isnan(pi) or np.isnan(zi) or pi >= cut:
            out.append("none")
        else:
            out.append("hot" if zi > 0 else "cold" if zi < 0 else "none")
    return out, cut


def trend(before: HotspotClass, after: HotspotClass) -> Trend:
    """A hot place of the later period is ``new`` (not hot before) or ``persistent``; a hot place
    of the earlier period that is not hot now is ``fading``."""
    if after == "hot":
        return "persistent" if before == "hot" else "new"
    if before == "hot":
        return "fading"
    return "none"


# --- hour of week --------------------------------------------------------------------------------


def hour_of_week(weekday: IntArray, hour: IntArray) -> IntArray:
    """Monday 0 .. Sunday 6 and hour 0-23 as the hour of week 0-167."""
    return (np.asarray(weekday, dtype=np.int64) * 24 + np.asarray(hour, dtype=np.int64)).astype(
        np.int64
    )


# --- kernel density -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Surface:
    """A density surface on a regular grid in local metres.

    ``density[r, c]`` is the estimate at the centre of row r (south to north), column c (west to
    east), in points per km² (the sum of the weights times the kernel); the grid spans
    ``x0 .. x0 + cols·cell_m`` and ``y0 .. y0 + rows·cell_m`` about ``(lon0, lat0)``."""

    density: FloatArray
    x0: float
    y0: float
    cell_m: float
    lon0: float
    lat0: float
    bandwidth_m: float

    def centre_lonlat(self, row: float, col: float) -> tuple[float, float]:
        x = self.x0 + (col + 0.5) * self.cell_m
        y = self.y0 + (row + 0.5) * self.cell_m
        return unproject(x, y, self.lon0, self.lat0)


EARTH_M = 6_371_008.8


def project(
    lon: FloatArray, lat: FloatArray, lon0: float, lat0: float
) -> tuple[FloatArray, FloatArray]:
    """Equirectangular metres about (lon0, lat0): exact enough within a county (< 0.1 %)."""
    k = np.pi / 180.0 * EARTH_M
    return (
        (np.asarray(lon) - lon0) * k * np.cos(np.radians(lat0)),
        (np.asarray(lat) - lat0) * k,
    )


def unproject(x: float, y: float, lon0: float, lat0: float) -> tuple[float, float]:
    k = np.pi / 180.0 * EARTH_M
    return float(lon0 + x / (k * np.cos(np.radians(lat0)))), float(lat0 + y / k)


@numba.njit(cache=True, fastmath=True)
def _linear_bin(
    x: FloatArray,
    y: FloatArray,
    w: FloatArray,
    x0: float,
    y0: float,
    cell: float,
    rows: int,
    cols: int,
) -> FloatArray:
    """Linear binning: each point's weight (1 where ``w`` is empty) split over the 4 grid
    centres around it."""
    grid = np.zeros((rows + 2, cols + 2), dtype=np.float64)  # a border for the edges
    inv = 1.0 / cell
    weighted = w.shape[0] > 0
    for i in range(x.shape[0]):
        fx = (x[i] - x0) * inv + 0.5  # +1 for the border, -0.5 for the centres
        fy = (y[i] - y0) * inv + 0.5
        if not (0.0 <= fx < cols + 1 and 0.0 <= fy < rows + 1):
            continue
        cx = int(fx)
        cy = int(fy)
        dx = fx - cx
        dy = fy - cy
        wi = w[i] if weighted else 1.0
        grid[cy, cx] += wi * (1.0 - dx) * (1.0 - dy)
        grid[cy, cx + 1] += wi * dx * (1.0 - dy)
        grid[cy + 1, cx] += wi * (1.0 - dx) * dy
        grid[cy + 1, cx + 1] += wi * dx * dy
    return grid[1 : rows + 1, 1 : cols + 1].copy()


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> FloatArray:
    """The 1-D Gaussian of ``sigma`` cells, truncated at ``truncate`` sigma, summing to 1 (as
    scipy.ndimage.gaussian_filter builds it)."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2) if sigma > 0 else (t == 0).astype(np.float64)
    return np.asarray(k / k.sum(), dtype=np.float64)


def kernel_density(
    x: FloatArray,
    y: FloatArray,
    *,
    bandwidth_m: float,
    bounds: tuple[float, float, float, float],
    size: int = 256,
    weight: FloatArray | None = None,
) -> FloatArray:
    """Gaussian kernel density of points (metres) on a ``size`` × ``size`` grid.

    Parameters
    ----------
    x, y : arrays of float64
        Points in metres.
    bandwidth_m : float
        Standard deviation of the Gaussian kernel (m).
    bounds : (xmin, ymin, xmax, ymax)
        The grid's extent (m); the cells are squares of ``max(width, height) / size``.
    size : int
        Cells per side.
    weight : array of float64, optional
        Weight of each point (1 each by default).

    Returns
    -------
    array (size, size)
        Density per km² at each cell centre: ``Σ_i w_i K_h(c - p_i)`` with ``K_h`` the 2-D
        Gaussian of standard deviation h (in 1/km²).

    Notes
    -----
    Binned estimate: linear binning of the points onto the grid centres, then the Gaussian
    (truncated at 4 h) by FFT convolution. Its error against the exact sum is of order
    ``(cell / h)²`` (Wand 1994); the test checks it against scikit-learn's exact
    ``KernelDensity``. Complexity O(p + size² · h / cell).
    """
    xmin, ymin, xmax, ymax = bounds
    cell = max(xmax - xmin, ymax - ymin) / size
    w = np.empty(0) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    grid = _linear_bin(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        w,
        float(xmin),
        float(ymin),
        float(cell),
        size,
        size,
    )
    # the separable Gaussian as one FFT convolution with zeros outside (the filter's
    # ``mode="constant"``): O(size² log size) whatever the bandwidth
    k = _gaussian_kernel(bandwidth_m / cell)
    smoothed = signal.fftconvolve(grid, np.outer(k, k), mode="same")
    # each cell's weight spread with unit sum: per cell → per km²
    return np.asarray(np.maximum(smoothed, 0.0) / (cell * cell) * 1e6, dtype=np.float64)


def scott_bandwidth(x: FloatArray, y: FloatArray) -> float:
    """Scott's rule for two dimensions: ``σ̄ n^(-1/6)`` (m), at least 100 m."""
    n = max(int(x.shape[0]), 2)
    sigma = float(np.sqrt((np.var(x) + np.var(y)) / 2.0))
    return float(max(100.0, sigma * float(n) ** (-1.0 / 6.0)))


# --- road segments -------------------------------------------------------------------------------


#: The shortest length a segment's rate is taken over (m).
MIN_SEGMENT_M = 100.0


def segment_rates(
    edge: IntArray, twin: IntArray, length_m: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Incidents per road segment (an edge and its twin, the other direction, are one segment,
    named by the smaller id) and per km of it (of at least :data:`MIN_SEGMENT_M`).

    Returns
    -------
    segments, counts, per_km : arrays of the segments with incidents (most per km first).
    """
    e = np.asarray(edge, dtype=np.int64)
    e = e[e >= 0]
    t = twin[e]
    seg = np.where((t >= 0) & (t < e), t, e)
    segments, counts = np.unique(seg, return_counts=True)
    # a segment shorter than MIN_SEGMENT_M counts as that long: a few metres of road between
    # two junctions would otherwise read as thousands of incidents per km
    km = np.maximum(length_m[segments], MIN_SEGMENT_M) / 1000.0
    per_km = counts / km
    order = np.argsort(-per_km, kind="stable")
    return segments[order], counts[order].astype(np.float64), per_km[order]


def segment_of_edge(twin: IntArray) -> IntArray:
    """The road segment of each edge: an edge and its twin (the other direction of a two-way
    road) are one segment, named by the smaller edge id; a one-way edge is its own."""
    t = np.asarray(twin, dtype=np.int64)
    e = np.arange(t.shape[0], dtype=np.int64)
    return np.where((t >= 0) & (t < e), t, e)


def per_km(counts: FloatArray, length_m: FloatArray) -> FloatArray:
    """Incidents per km of road, a segment shorter than :data:`MIN_SEGMENT_M` counting as that
    long (as :func:`segment_rates`)."""
    km = np.maximum(np.asarray(length_m, dtype=np.float64), MIN_SEGMENT_M) / 1000.0
    return np.asarray(counts, dtype=np.float64) / km


def segment_contiguity(segments: IntArray, tail: ArrayLike, head: ArrayLike) -> Contiguity:
    """Node contiguity of road segments: two segments are neighbours when they share an end
    node (a junction: the tail or the head of the segment's edge), within ``segments``.

    Parameters
    ----------
    segments : array of int64
        The segments of the study region (edge ids as :func:`segment_of_edge` names them).
    tail, head : arrays of the road graph's edge ends (node ids), indexed by edge id.

    Returns
    -------
    Contiguity
        Binary neighbours (a segment meeting another at both ends counts once; a segment never
        neighbours itself), named by the segment id as text. :func:`gi_star` weighs them as it
        weighs H3 cells: each segment and its ``k_i`` neighbours ``1 / (k_i + 1)``, the
        row-standardised star weights of esda's ``G_Local(transform="R", star=True)``.

    Notes
    -----
    ``A Aᵀ`` of the segment × node incidence matrix ``A``. Complexity O(Σ_v d_v²) over the
    nodes' degrees d_v.
    """
    ordered = np.unique(np.asarray(segments, dtype=np.int64))
    n = int(ordered.shape[0])
    ends = np.concatenate([np.asarray(tail)[ordered], np.asarray(head)[ordered]]).astype(np.int64)
    nodes, node_index = np.unique(ends, return_inverse=True)
    rows = np.concatenate([np.arange(n), np.arange(n)])
    incidence = sparse.csr_matrix(
        (np.ones(2 * n), (rows, node_index)), shape=(n, int(nodes.shape[0]))
    )
    shared = (incidence @ incidence.T).tocsr()
    shared.setdiag(0)
    shared.eliminate_zeros()
    shared.sort_indices()
    return Contiguity(
        [str(int(s)) for s in ordered],
        np.asarray(shared.indptr, dtype=np.int64),
        np.asarray(shared.indices, dtype=np.int64),
    )
