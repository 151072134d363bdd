"""The road graph as compact arrays: nodes, directed edges in CSR order, edge shapes.

Units: seconds for travel times, metres for lengths, WGS-84 degrees for coordinates. Node ids are
0..n-1 and edge ids 0..m-1, both int32-sized; edges are sorted by tail so that the out-edges of
node ``u`` are ``indptr[u]:indptr[u + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fangkong.core.errors import InvalidInput

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]

# Bump when the layout of the arrays changes: caches of an older layout are rebuilt.
FORMAT_VERSION = 1
_ARRAYS = (
    "lon",
    "lat",
    "indptr",
    "tail",
    "head",
    "time_s",
    "length_m",
    "road_class",
    "shape_ptr",
    "shape_lon",
    "shape_lat",
)


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """A directed road graph with travel times, lengths and edge shapes."""

    lon: FloatArray
    lat: FloatArray
    indptr: IntArray
    tail: Int32Array
    head: Int32Array
    time_s: FloatArray
    length_m: FloatArray
    road_class: NDArray[np.int8]
    shape_ptr: IntArray
    shape_lon: FloatArray
    shape_lat: FloatArray
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.lon.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.head.shape[0])

    @cached_property
    def reverse(self) -> tuple[IntArray, Int32Array, IntArray]:
        """In-edges in CSR order: (indptr, tail of each in-edge, the edge's id)."""
        order = np.argsort(self.head, kind="stable")
        counts = np.bincount(self.head, minlength=self.n_nodes)
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return indptr, self.tail[order].astype(np.int32), order.astype(np.int64)

    def edge_shape(self, edge: int) -> FloatArray:
        """The (k, 2) lon/lat polyline of an edge, from its tail to its head."""
        a, b = int(self.shape_ptr[edge]), int(self.shape_ptr[edge + 1])
        return np.column_stack([self.shape_lon[a:b], self.shape_lat[a:b]])

    def save(self, path: Path) -> None:
        """Write the arrays to one uncompressed ``.npz`` (memory-mappable members)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        meta = np.array([f"{k}={v}" for k, v in sorted(self.meta.items())], dtype=str)
        np.savez(
            tmp,
            format_version=np.int64(FORMAT_VERSION),
            meta=meta,
            **{name: getattr(self, name) for name in _ARRAYS},
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RoadGraph:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format_version"]) != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: graph cache format {int(data['format_version'])}, "
                    f"expected {FORMAT_VERSION}"
                )
            meta = dict(str(item).split("=", 1) for item in data["meta"])
            return cls(meta=meta, **{name: data[name] for name in _ARRAYS})


def from_edges(
    lon: ArrayLike,
    lat: ArrayLike,
    tails: ArrayLike,
    heads: ArrayLike,
    time_s: ArrayLike,
    *,
    length_m: ArrayLike | None = None,
    road_class: ArrayLike | None = None,
    shapes: list[FloatArray] | None = None,
    meta: dict[str, str] | None = None,
) -> RoadGraph:
    """Build a :class:`RoadGraph` from plain arrays (any edge order).

    Parameters
    ----------
    lon, lat : array of float, shape (n,)
        Node coordinates, WGS-84 degrees.
    tails, heads : array of int, shape (m,)
        Directed edges; a two-way road is two edges.
    time_s : array of float, shape (m,)
        Travel time of each edge in seconds (finite, >= 0).
    length_m : array of float, optional
        Edge lengths in metres; default the straight-line distance between the ends.
    road_class : array of int8, optional
        Road class code per edge (see ``fangkong.network.profile``); default 0.
    shapes : list of (k, 2) arrays, optional
        The polyline of each edge from tail to head; default the straight segment.

    Raises
    ------
    InvalidInput
        When arrays disagree in length, a node id is out of range, or a time is negative/NaN.
    """
    lon_a = np.ascontiguousarray(lon, dtype=np.float64)
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    tail_a = np.asarray(tails, dtype=np.int64)
    head_a = np.asarray(heads, dtype=np.int64)
    time_a = np.asarray(time_s, dtype=np.float64)
    n, m = lon_a.shape[0], tail_a.shape[0]
    if lat_a.shape[0] != n:
        raise InvalidInput(
            key="error.network.graph_lat_length",
            params={"nodes": n, "lat": int(lat_a.shape[0])},
            field="lat",
        )
    if n == 0 or m == 0:
        raise InvalidInput(key="error.network.graph_empty", field="edges")
    if head_a.shape[0] != m or time_a.shape[0] != m:
        raise InvalidInput(key="error.network.graph_edge_lengths", field="edges")
    if tail_a.min() < 0 or head_a.min() < 0 or max(tail_a.max(), head_a.max()) >= n:
        raise InvalidInput(
            key="error.network.graph_endpoints", params={"last": n - 1}, field="edges"
        )
    if not np.isfinite(time_a).all() or (time_a < 0).any():
        raise InvalidInput(key="error.network.graph_times", field="time_s")
    if n >= 2**31 or m >= 2**31:
        raise InvalidInput(key="error.network.graph_size", field="edges")
    if length_m is None:
        length_a = haversine_m(lon_a[tail_a], lat_a[tail_a], lon_a[head_a], lat_a[head_a])
    else:
        length_a = np.asarray(length_m, dtype=np.float64)
    class_a = (
        np.zeros(m, dtype=np.int8) if road_class is None else np.asarray(road_class, dtype=np.int8)
    )

    order = np.argsort(tail_a, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail_a, minlength=n), out=indptr[1:])
    if shapes is None:
        shape_ptr = np.arange(0, 2 * m + 1, 2, dtype=np.int64)
        shape_lon = np.column_stack([lon_a[tail_a[order]], lon_a[head_a[order]]]).ravel()
        shape_lat = np.column_stack([lat_a[tail_a[order]], lat_a[head_a[order]]]).ravel()
    else:
        if len(shapes) != m:
            raise InvalidInput(key="error.network.graph_shapes", field="shapes")
        ordered = [shapes[i] for i in order.tolist()]
        sizes = np.array([len(s) for s in ordered], dtype=np.int64)
        shape_ptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(sizes, out=shape_ptr[1:])
        stacked = np.concatenate(ordered) if m else np.zeros((0, 2))
        shape_lon = np.ascontiguousarray(stacked[:, 0])
        shape_lat = np.ascontiguousarray(stacked[:, 1])
    return RoadGraph(
        lon=lon_a,
        lat=lat_a,
        indptr=indptr,
        tail=tail_a[order].astype(np.int32),
        head=head_a[order].astype(np.int32),
        time_s=time_a[order],
        length_m=length_a[order],
        road_class=class_a[order],
        shape_ptr=shape_ptr,
        shape_lon=shape_lon,
        shape_lat=shape_lat,
        meta=dict(meta or {}),
    )


EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatArray:
    """Great-circle distance in metres (mean Earth radius), vectorised."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlam = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)), dtype=np.float64)
