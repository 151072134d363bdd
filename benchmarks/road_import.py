"""Province-size road import: the bulk (columnar) OSM reader against libosmium's, side by side.

The extract
-----------
No province extract ships with a package, so one is made: the demo county's OpenStreetMap
extract (Liechtenstein, 142,832 nodes, 15,247 ways, ``src/fangkong/demo/data``) tiled on a
grid of ``--tiles`` x ``--tiles`` copies, each copy's node and way ids shifted by
``k x 10^10`` and its coordinates by 0.2 degree of longitude per column and 0.25 of latitude
per row; next tiles are joined by a two-way ``highway=primary`` road between the road nodes
nearest their common border, so that the province's roads are one strongly connected network.
Nodes keep no tags (the importer reads none), ways keep all theirs, relations are dropped.
The file is written block by block (8,000 entities, zlib) by the encoder below, nodes sorted
before ways as in a real extract, and kept in ``--work`` (by default
``/tmp/fangkong-road-import``) for the next run; it is never committed.

=========  =====  ==========  =========  =========
mode       tiles  nodes       ways       file
=========  =====  ==========  =========  =========
--smoke    2x2    571,328     60,992     3.7 MiB
--quick    5x5    3,570,800   381,215    23.4 MiB
(full)     12x12  20,567,808  2,195,832  135.0 MiB
=========  =====  ==========  =========  =========

What is measured
----------------
Each reader runs in a fresh process (``--run``) that imports the file with
:func:`fangkong.network.osm.graph_from_osm` (``reader="libosmium"``, today's import, or
``reader="bulk"``): the read time (up to the first stage after reading), the whole import
(graph of the largest strongly connected component included), the peak resident memory of
the process above its resident memory before the import at the end of the read
(``read_rss_mb``: the reader's own) and at the end (``peak_rss_mb``: the graph's build
included), the bulk reader's own arrays at their
largest, and the graph's size and a digest of its arrays. The two digests must be equal (the
run exits with status 1 otherwise).

Usage::

    python benchmarks/road_import.py --smoke   # 2x2 tiles: both readers, graphs compared
    python benchmarks/road_import.py --quick   # 5x5 tiles
    python benchmarks/road_import.py           # 12x12 tiles (20 million nodes)
    python benchmarks/road_import.py --tiles 8 --readers bulk
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from numba import njit
from numpy.typing import NDArray

from fangkong.demo import osm as demo_osm
from fangkong.network._pbf import read_blocks
from fangkong.network.osm import DRIVABLE_HIGHWAYS, graph_from_osm

BASE = Path(demo_osm.__file__).resolve().parent / "data" / "liechtenstein-latest.osm.pbf"
ID_STRIDE = 10**10
STEP_X, STEP_Y = 2_000_000, 2_500_000  # 0.2 and 0.25 degree in 1e-7 degree
BLOCK = 8_000
TILES = {"smoke": 2, "quick": 5, "full": 12}
Int64Array = NDArray[np.int64]


# -- a minimal PBF encoder -------------------------------------------------------------------


@njit(cache=True)
def _varints(values: Int64Array, zigzag: bool, delta: bool) -> NDArray[np.uint8]:
    out = np.empty(values.shape[0] * 10, dtype=np.uint8)
    pos = 0
    previous = 0
    for i in range(values.shape[0]):
        v = values[i]
        if delta:
            v, previous = v - previous, v
        u = np.uint64((v << 1) ^ (v >> 63)) if zigzag else np.uint64(v)
        while u >= 0x80:
            out[pos] = np.uint8((u & np.uint64(0x7F)) | np.uint64(0x80))
            u >>= np.uint64(7)
            pos += 1
        out[pos] = np.uint8(u)
        pos += 1
    return out[:pos]


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _uvarint(number << 3 | 2) + _uvarint(len(payload)) + payload


def _packed(number: int, values: Int64Array, *, zigzag: bool, delta: bool) -> bytes:
    return _field(number, _varints(values, zigzag, delta).tobytes())


def _blob(kind: bytes, data: bytes) -> bytes:
    blob = _uvarint(2 << 3) + _uvarint(len(data)) + _field(3, zlib.compress(data, 6))
    header = _field(1, kind) + _uvarint(3 << 3) + _uvarint(len(blob))
    return struct.pack(">I", len(header)) + header + blob


def _header() -> bytes:
    block = _field(4, b"OsmSchema-V0.6") + _field(4, b"DenseNodes")
    return _blob(b"OSMHeader", block + _field(16, b"fangkong benchmarks/road_import.py"))


def _node_block(ids: Int64Array, x: Int64Array, y: Int64Array) -> bytes:
    dense = (
        _packed(1, ids, zigzag=True, delta=True)
        + _packed(8, y, zigzag=True, delta=True)
        + _packed(9, x, zigzag=True, delta=True)
    )
    return _blob(b"OSMData", _field(1, _field(1, b"")) + _field(2, _field(2, dense)))


class _WayChunk:
    """Up to :data:`BLOCK` ways of the base extract with their string table and tag fields
    encoded once; :meth:`encode` writes them with shifted ids."""

    def __init__(self, ways: list[tuple[int, Int64Array, list[tuple[bytes, bytes]]]]) -> None:
        strings: dict[bytes, int] = {b"": 0}
        self.ids = [w[0] for w in ways]
        self.refs = [w[1] for w in ways]
        self.tags: list[bytes] = []
        for _, _, tags in ways:
            keys = np.array([strings.setdefault(k, len(strings)) for k, _ in tags], np.int64)
            vals = np.array([strings.setdefault(v, len(strings)) for _, v in tags], np.int64)
            self.tags.append(
                _packed(2, keys, zigzag=False, delta=False)
                + _packed(3, vals, zigzag=False, delta=False)
                if tags
                else b""
            )
        self.table = _field(1, b"".join(_field(1, s) for s in strings))

    def encode(self, shift: int) -> bytes:
        group = bytearray()
        for way_id, refs, tags in zip(self.ids, self.refs, self.tags, strict=True):
            body = (
                _uvarint(1 << 3)
                + _uvarint(way_id + shift)
                + tags
                + _packed(8, refs + shift, zigzag=True, delta=True)
            )
            group += _field(3, body)
        return _blob(b"OSMData", self.table + _field(2, bytes(group)))


def _base() -> tuple[Int64Array, Int64Array, Int64Array, list[_WayChunk], Int64Array]:
    """The base extract's nodes, its ways in chunks, and its road node ids."""
    ids, xs, ys = [], [], []
    ways: list[tuple[int, Int64Array, list[tuple[bytes, bytes]]]] = []
    for _, _, block in read_blocks(BASE):
        ids.append(block.node_id)
        xs.append(block.node_x)
        ys.append(block.node_y)
        for w in range(block.way_id.shape[0]):
            t0, t1 = block.tag_ptr[w], block.tag_ptr[w + 1]
            tags = [
                (block.strings[k], block.strings[v])
                for k, v in zip(block.tag_key[t0:t1], block.tag_val[t0:t1], strict=True)
            ]
            refs = block.refs[block.ref_ptr[w] : block.ref_ptr[w + 1]].copy()
            ways.append((int(block.way_id[w]), refs, tags))
    drivable = {h.encode() for h in DRIVABLE_HIGHWAYS}
    road = np.unique(
        np.concatenate(
            [r for _, r, tags in ways if any(k == b"highway" and v in drivable for k, v in tags)]
        )
    )
    chunks = [_WayChunk(ways[i : i + BLOCK]) for i in range(0, len(ways), BLOCK)]
    return np.concatenate(ids), np.concatenate(xs), np.concatenate(ys), chunks, road


def make_province(path: Path, tiles: int) -> None:
    """Write the tiled extract (see the module docstring)."""
    ids, xs, ys, chunks, road = _base()
    # connectors: the road nodes of the base graph's largest component nearest each border
    graph, _ = graph_from_osm(BASE)
    node_x = np.rint(graph.lon * 1e7).astype(np.int64)
    node_y = np.rint(graph.lat * 1e7).astype(np.int64)
    at = {(int(a), int(b)) for a, b in zip(node_x, node_y, strict=True)}
    order = np.argsort(ids)
    pos = order[np.searchsorted(ids[order], road)]
    in_graph = np.array([(int(xs[p]), int(ys[p])) in at for p in pos])
    rx, ry, rid = xs[pos][in_graph], ys[pos][in_graph], road[in_graph]
    east, west = rid[np.argmax(rx)], rid[np.argmin(rx)]
    north, south = rid[np.argmax(ry)], rid[np.argmin(ry)]
    path.parent.mkdir(parents=True, exist_ok=True)
    private = path.with_suffix(f".{os.getpid()}.tmp")
    with private.open("wb") as out:
        out.write(_header())
        for k in range(tiles * tiles):
            row, col = divmod(k, tiles)
            shift = k * ID_STRIDE
            for i in range(0, ids.shape[0], BLOCK):
                sl = slice(i, i + BLOCK)
                out.write(
                    _node_block(ids[sl] + shift, xs[sl] + col * STEP_X, ys[sl] + row * STEP_Y)
                )
        for k in range(tiles * tiles):
            for chunk in chunks:
                out.write(chunk.encode(k * ID_STRIDE))
        links = []
        for k in range(tiles * tiles):
            row, col = divmod(k, tiles)
            if col + 1 < tiles:
                links.append((east + k * ID_STRIDE, west + (k + 1) * ID_STRIDE))
            if row + 1 < tiles:
                links.append((north + k * ID_STRIDE, south + (k + tiles) * ID_STRIDE))
        table = _field(1, _field(1, b"") + _field(1, b"highway") + _field(1, b"primary"))
        group = b"".join(
            _field(
                3,
                _uvarint(1 << 3)
                + _uvarint(ID_STRIDE * (tiles * tiles + 1) + j)
                + _packed(2, np.array([1]), zigzag=False, delta=False)
                + _packed(3, np.array([2]), zigzag=False, delta=False)
                + _packed(8, np.array([a, b]), zigzag=True, delta=True),
            )
            for j, (a, b) in enumerate(links)
        )
        out.write(_blob(b"OSMData", table + _field(2, group)))
    os.replace(private, path)


# -- one reader in its own process ---------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_reader(path: Path, reader: str) -> dict[str, object]:
    """Import ``path`` with ``reader``; figures as a dict (printed as JSON by ``--run``)."""
    # numba's compiled functions from its cache before the clock starts
    graph_from_osm(BASE, reader="bulk")
    base_rss = _rss_kib()
    base_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    read_end: list[float] = []
    read_peak: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        del done, total
        if stage not in ("read", "locations") and not read_end:
            read_end.append(time.perf_counter())
            read_peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    started = time.perf_counter()
    graph, report = graph_from_osm(path, progress=progress, reader=reader)  # type: ignore[arg-type]
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = hashlib.sha256()
    for name in ("lon", "lat", "indptr", "head", "time_s", "shape_ptr"):
        digest.update(np.ascontiguousarray(getattr(graph, name)).tobytes())
    return {
        "reader": reader,
        "read_s": round(read_end[0] - started, 2) if read_end else None,
        "total_s": round(total, 2),
        "read_rss_mb": round((max(read_peak[0], base_peak) - base_rss) / 1024, 1)
        if read_peak
        else None,
        "peak_rss_mb": round((max(peak, base_peak) - base_rss) / 1024, 1),
        "held_mb": round(report.counts.get("reader_held_bytes", 0) / 2**20, 1),
        "nodes": graph.n_nodes,
        "edges": graph.n_edges,
        "ways": report.counts["ways"],
        "digest": digest.hexdigest()[:16],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="2x2 tiles")
    mode.add_argument("--quick", action="store_true", help="5x5 tiles")
    parser.add_argument("--tiles", type=int, default=None, help="tiles per side")
    parser.add_argument("--readers", default="libosmium,bulk")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fangkong-road-import"))
    parser.add_argument("--run", nargs=2, metavar=("READER", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_reader(Path(args.run[1]), args.run[0])))
        return 0
    tiles = args.tiles or TILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    path = args.work / f"province-{tiles}x{tiles}.osm.pbf"
    if not path.is_file():
        started = time.perf_counter()
        make_province(path, tiles)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    print(
        f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB, {tiles * tiles} tiles "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)"
    )
    rows = []
    for reader in args.readers.split(","):
        done = subprocess.run(
            [sys.executable, __file__, "--run", reader, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    header = (
        "reader",
        "read_s",
        "total_s",
        "read_rss_mb",
        "peak_rss_mb",
        "held_mb",
        "nodes",
        "edges",
        "ways",
    )
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    digests = {row["digest"] for row in rows}
    if len(digests) > 1:
        print("MISMATCH: the readers built different graphs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
