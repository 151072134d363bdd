"""A columnar reader of OSM ``.osm.pbf`` files: blocks decoded into numpy arrays by numba.

The OSM PBF format (https://wiki.openstreetmap.org/wiki/PBF_Format) is a sequence of blobs,
each a zlib-compressed protobuf ``PrimitiveBlock`` of up to 8,000 entities whose numbers are
packed, delta-coded varints. libosmium hands them to Python one object at a time (a few
microseconds per way node); here a whole block is decoded at once: :func:`read_blocks`
yields its ways (ids, tag string indices, node references) and its nodes (ids and fixed-point
coordinates) as arrays, and the strings of the block's string table as bytes.

Only what the road import needs is decoded: node ids and locations (dense and plain nodes),
way ids, tags and node references. Relations, metadata (versions, users, timestamps) and the
``LocationsOnWays`` extension are skipped. Blobs compressed otherwise than by zlib (lzma,
zstd, lz4), history files and anything malformed raise :class:`PbfUnsupported` so that the
caller can fall back on libosmium, which reads every variant and names every fault.

Coordinates are converted exactly as libosmium converts them: ``(offset + granularity * v)``
nanodegrees truncated towards zero to 1e-7 degree (``osmium::Location``'s fixed point).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["COORDINATE_PRECISION", "PbfBlock", "PbfUnsupported", "read_blocks"]

#: libosmium's fixed point: a location is stored as int32 in 1e-7 degree.
COORDINATE_PRECISION = 10_000_000
# A BlobHeader is at most 64 KiB and a Blob at most 32 MiB (the format's limits).
_MAX_HEADER = 64 * 1024
_MAX_BLOB = 32 * 1024 * 1024
_KNOWN_FEATURES = frozenset({b"OsmSchema-V0.6", b"DenseNodes"})

Int64Array = NDArray[np.int64]
Int32Array = NDArray[np.int32]


class PbfUnsupported(Exception):
    """The file is not a PBF this reader decodes (another format, compression or feature, or
    a malformed block); libosmium should read it instead."""


@dataclass
class PbfBlock:
    """The decoded content of one ``PrimitiveBlock``.

    Attributes
    ----------
    strings : list of bytes
        The block's string table (tag keys and values are indices into it).
    way_id : array of int64, shape (W,)
    tag_ptr : array of int64, shape (W + 1,)
        Way ``i`` has tags ``tag_key[tag_ptr[i]:tag_ptr[i + 1]]`` (string indices) with values
        ``tag_val[...]``.
    tag_key, tag_val : array of int32, shape (T,)
    ref_ptr : array of int64, shape (W + 1,)
        Way ``i`` has node references ``refs[ref_ptr[i]:ref_ptr[i + 1]]``.
    refs : array of int64, shape (R,)
    node_id : array of int64, shape (N,)
    node_x, node_y : array of int64, shape (N,)
        Longitude and latitude in 1e-7 degree (libosmium's fixed point).
    has_nodes : bool
        Whether the block holds nodes (decoded or not).
    """

    strings: list[bytes]
    way_id: Int64Array
    tag_ptr: Int64Array
    tag_key: Int32Array
    tag_val: Int32Array
    ref_ptr: Int64Array
    refs: Int64Array
    node_id: Int64Array
    node_x: Int64Array
    node_y: Int64Array
    has_nodes: bool = False


# -- protobuf primitives (numba) -----------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _varint(buf: NDArray[np.uint8], pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated varint")
        b = int(buf[pos])
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


@njit(cache=True, nogil=True, inline="always")
def _zigzag(n: int) -> int:
    return ((n >> 1) & 0x7FFFFFFFFFFFFFFF) ^ -(n & 1)


@njit(cache=True, nogil=True, inline="always")
def _skip(buf: NDArray[np.uint8], pos: int, end: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        length, pos = _varint(buf, pos, end)
        pos += length
    elif wire == 5:
        pos += 4
    else:
        raise ValueError("unknown wire type")
    if pos > end:
        raise ValueError("field past its message")
    return pos


@njit(cache=True, nogil=True)
def _fields(buf: NDArray[np.uint8], start: int, end: int) -> Int64Array:
    """The fields of one message: rows (number, wire type, value or start, end)."""
    count = 0
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        pos = _skip(buf, pos, end, key & 7)
        count += 1
    out = np.empty((count, 4), dtype=np.int64)
    pos = start
    for i in range(count):
        key, pos = _varint(buf, pos, end)
        wire = key & 7
        out[i, 0] = key >> 3
        out[i, 1] = wire
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            out[i, 2] = value
            out[i, 3] = pos
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            out[i, 2] = pos
            out[i, 3] = pos + length
            pos += length
        else:
            out[i, 2] = pos
            pos = _skip(buf, pos, end, wire)
            out[i, 3] = pos
    return out


@njit(cache=True, nogil=True, inline="always")
def _count_varints(buf: NDArray[np.uint8], start: int, end: int) -> int:
    n = 0
    for i in range(start, end):
        if buf[i] < 0x80:
            n += 1
    return n


@njit(cache=True, nogil=True)
def _ways(
    buf: NDArray[np.uint8], starts: Int64Array, ends: Int64Array
) -> tuple[Int64Array, Int64Array, Int32Array, Int32Array, Int64Array, Int64Array]:
    """Decode ``Way`` messages: ids, tag pointers, keys, values, reference pointers, refs."""
    n = starts.shape[0]
    tag_ptr = np.zeros(n + 1, dtype=np.int64)
    ref_ptr = np.zeros(n + 1, dtype=np.int64)
    # first pass: sizes
    for w in range(n):
        pos, end = starts[w], ends[w]
        tags = 0
        refs = 0
        while pos < end:
            key, pos = _varint(buf, pos, end)
            field = key >> 3
            wire = key & 7
            if wire == 2 and (field == 2 or field == 8):
                length, pos = _varint(buf, pos, end)
                if pos + length > end:
                    raise ValueError("field past its message")
                if field == 2:
                    tags = _count_varints(buf, pos, pos + length)
                else:
                    refs = _count_varints(buf, pos, pos + length)
                pos += length
            else:
                pos = _skip(buf, pos, end, wire)
        tag_ptr[w + 1] = tag_ptr[w] + tags
        ref_ptr[w + 1] = ref_ptr[w] + refs
    way_id = np.zeros(n, dtype=np.int64)
    tag_key = np.full(tag_ptr[n], -1, dtype=np.int32)
    tag_val = np.full(tag_ptr[n], -1, dtype=np.int32)
    refs_out = np.zeros(ref_ptr[n], dtype=np.int64)
    for w in range(n):
        pos, end = starts[w], ends[w]
        while pos < end:
            key, pos = _varint(buf, pos, end)
            field = key >> 3
            wire = key & 7
            if field == 1 and wire == 0:
                way_id[w], pos = _varint(buf, pos, end)
            elif wire == 2 and (field == 2 or field == 3 or field == 8):
                length, pos = _varint(buf, pos, end)
                stop = pos + length
                if field == 8:
                    i = ref_ptr[w]
                    value = 0
                    while pos < stop:
                        if i >= ref_ptr[w + 1]:
                            raise ValueError("packed field miscounted")
                        delta, pos = _varint(buf, pos, stop)
                        value += _zigzag(delta)
                        refs_out[i] = value
                        i += 1
                else:
                    target = tag_key if field == 2 else tag_val
                    i = tag_ptr[w]
                    while pos < stop:
                        if i >= tag_ptr[w + 1]:
                            raise ValueError("keys and values differ in number")
                        value, pos = _varint(buf, pos, stop)
                        target[i] = value
                        i += 1
            else:
                pos = _skip(buf, pos, end, wire)
    return way_id, tag_ptr, tag_key, tag_val, ref_ptr, refs_out


@njit(cache=True, nogil=True)
def _sint64s(buf: NDArray[np.uint8], start: int, end: int, delta: bool) -> Int64Array:
    out = np.empty(_count_varints(buf, start, end), dtype=np.int64)
    pos = start
    value = 0
    for i in range(out.shape[0]):
        raw, pos = _varint(buf, pos, end)
        if delta:
            value += _zigzag(raw)
            out[i] = value
        else:
            out[i] = _zigzag(raw)
    return out


@njit(cache=True, nogil=True)
def _dense(
    buf: NDArray[np.uint8], start: int, end: int
) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Decode ``DenseNodes``: ids and raw (block-scaled) latitudes and longitudes."""
    ids = np.empty(0, dtype=np.int64)
    lat = np.empty(0, dtype=np.int64)
    lon = np.empty(0, dtype=np.int64)
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field = key >> 3
        wire = key & 7
        if wire == 2 and (field == 1 or field == 8 or field == 9):
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ValueError("field past its message")
            values = _sint64s(buf, pos, pos + length, True)
            if field == 1:
                ids = values
            elif field == 8:
                lat = values
            else:
                lon = values
            pos += length
        else:
            pos = _skip(buf, pos, end, wire)
    if lat.shape[0] != ids.shape[0] or lon.shape[0] != ids.shape[0]:
        raise ValueError("dense nodes: ids and coordinates differ in number")
    return ids, lat, lon


@njit(cache=True, nogil=True)
def _nodes(
    buf: NDArray[np.uint8], starts: Int64Array, ends: Int64Array
) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Decode plain ``Node`` messages: ids and raw latitudes and longitudes."""
    n = starts.shape[0]
    ids = np.zeros(n, dtype=np.int64)
    lat = np.zeros(n, dtype=np.int64)
    lon = np.zeros(n, dtype=np.int64)
    for w in range(n):
        pos, end = starts[w], ends[w]
        while pos < end:
            key, pos = _varint(buf, pos, end)
            field = key >> 3
            wire = key & 7
            if wire == 0 and (field == 1 or field == 8 or field == 9):
                raw, pos = _varint(buf, pos, end)
                if field == 1:
                    ids[w] = _zigzag(raw)
                elif field == 8:
                    lat[w] = _zigzag(raw)
                else:
                    lon[w] = _zigzag(raw)
            else:
                pos = _skip(buf, pos, end, wire)
    return ids, lat, lon


# -- blocks (Python over a few fields per block) ---------------------------------------------


def _fixed_point(raw: Int64Array, granularity: int, offset: int) -> Int64Array:
    """Nanodegrees ``offset + granularity * raw`` to 1e-7 degree, truncated towards zero
    (C++ integer division, as libosmium converts)."""
    nano = raw * granularity + offset
    fixed: Int64Array = np.sign(nano) * (np.abs(nano) // 100)
    return fixed


def _blobs(path: Path) -> Iterator[tuple[bytes, bytes, int]]:
    """Each blob's type, its (still compressed) ``Blob`` message and the offset after it."""
    with path.open("rb") as handle:
        while True:
            head = handle.read(4)
            if not head:
                return
            if len(head) < 4:
                raise PbfUnsupported("truncated blob header length")
            (size,) = struct.unpack(">I", head)
            if size > _MAX_HEADER:
                raise PbfUnsupported("blob header too large")
            header = handle.read(size)
            if len(header) < size:
                raise PbfUnsupported("truncated blob header")
            kind, datasize = b"", -1
            for number, wire, a, b in _message(header):
                if number == 1 and wire == 2:
                    kind = header[a:b]
                elif number == 3 and wire == 0:
                    datasize = a
            if datasize < 0 or datasize > _MAX_BLOB:
                raise PbfUnsupported("blob size missing or too large")
            blob = handle.read(datasize)
            if len(blob) < datasize:
                raise PbfUnsupported("truncated blob")
            yield kind, blob, handle.tell()


def _message(data: bytes | NDArray[np.uint8], start: int = 0, end: int = -1) -> Int64Array:
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    try:
        return _fields(buf, start, buf.shape[0] if end < 0 else end)
    except ValueError as exc:
        raise PbfUnsupported(str(exc)) from None


def _inflate(blob: bytes) -> bytes:
    raw, zipped, raw_size = None, None, -1
    for number, wire, a, b in _message(blob):
        if number == 1 and wire == 2:
            raw = blob[a:b]
        elif number == 2 and wire == 0:
            raw_size = a
        elif number == 3 and wire == 2:
            zipped = blob[a:b]
        elif wire == 2:
            raise PbfUnsupported(f"blob compression (field {number}) not read here")
    if raw is not None:
        return raw
    if zipped is None:
        raise PbfUnsupported("empty blob")
    try:
        data = zlib.decompress(zipped, bufsize=max(raw_size, 1))
    except zlib.error as exc:
        raise PbfUnsupported(str(exc)) from None
    if raw_size >= 0 and len(data) != raw_size:
        raise PbfUnsupported("blob size differs from its header")
    return data


def _check_header(data: bytes) -> None:
    for number, wire, a, b in _message(data):
        if number == 4 and wire == 2 and data[a:b] not in _KNOWN_FEATURES:
            raise PbfUnsupported(f"required feature {data[a:b]!r} not read here")


_EMPTY64 = np.empty(0, dtype=np.int64)
_EMPTY32 = np.empty(0, dtype=np.int32)


def _block(data: bytes, *, ways: bool, nodes: bool) -> PbfBlock:
    buf = np.frombuffer(data, dtype=np.uint8)
    granularity, lat_offset, lon_offset = 100, 0, 0
    strings: list[bytes] = []
    groups: list[tuple[int, int]] = []
    for number, wire, a, b in _message(buf):
        if number == 1 and wire == 2:
            table = _message(buf, int(a), int(b))
            strings = [data[s:e] for f, w, s, e in table.tolist() if f == 1 and w == 2]
        elif number == 2 and wire == 2:
            groups.append((int(a), int(b)))
        elif number == 17 and wire == 0:
            granularity = int(a)
        elif number == 19 and wire == 0:
            lat_offset = int(a)
        elif number == 20 and wire == 0:
            lon_offset = int(a)
    way_parts: list[
        tuple[Int64Array, Int64Array, Int32Array, Int32Array, Int64Array, Int64Array]
    ] = []
    node_parts: list[tuple[Int64Array, Int64Array, Int64Array]] = []
    has_nodes = False
    try:
        for start, end in groups:
            fields = _fields(buf, start, end)
            has_nodes = has_nodes or bool(((fields[:, 0] == 1) | (fields[:, 0] == 2)).any())
            if ways:
                sel = (fields[:, 0] == 3) & (fields[:, 1] == 2)
                if sel.any():
                    way_parts.append(_ways(buf, fields[sel, 2], fields[sel, 3]))
            if nodes:
                sel = (fields[:, 0] == 1) & (fields[:, 1] == 2)
                if sel.any():
                    node_parts.append(_nodes(buf, fields[sel, 2], fields[sel, 3]))
                for _, wire, a, b in fields[(fields[:, 0] == 2)].tolist():
                    if wire == 2:
                        node_parts.append(_dense(buf, a, b))
    except ValueError as exc:
        raise PbfUnsupported(str(exc)) from None
    tag_key: Int32Array
    tag_val: Int32Array
    if len(way_parts) == 1:
        way_id, tag_ptr, tag_key, tag_val, ref_ptr, refs = way_parts[0]
    elif way_parts:
        way_id = np.concatenate([p[0] for p in way_parts])
        tag_ptr = _join_ptr([p[1] for p in way_parts])
        tag_key = np.concatenate([p[2] for p in way_parts])
        tag_val = np.concatenate([p[3] for p in way_parts])
        ref_ptr = _join_ptr([p[4] for p in way_parts])
        refs = np.concatenate([p[5] for p in way_parts])
    else:
        way_id, tag_ptr, tag_key, tag_val = _EMPTY64, np.zeros(1, np.int64), _EMPTY32, _EMPTY32
        ref_ptr, refs = np.zeros(1, np.int64), _EMPTY64
    if node_parts:
        node_id = np.concatenate([p[0] for p in node_parts])
        node_y = _fixed_point(np.concatenate([p[1] for p in node_parts]), granularity, lat_offset)
        node_x = _fixed_point(np.concatenate([p[2] for p in node_parts]), granularity, lon_offset)
    else:
        node_id, node_x, node_y = _EMPTY64, _EMPTY64, _EMPTY64
    if tag_key.size and (
        int(tag_key.max()) >= len(strings)
        or int(tag_val.max()) >= len(strings)
        or int(min(tag_key.min(), tag_val.min())) < 0
    ):
        raise PbfUnsupported("a tag names a string the block lacks")
    return PbfBlock(
        strings=strings,
        way_id=way_id,
        tag_ptr=tag_ptr,
        tag_key=tag_key.astype(np.int32, copy=False),
        tag_val=tag_val.astype(np.int32, copy=False),
        ref_ptr=ref_ptr,
        refs=refs,
        node_id=node_id,
        node_x=node_x,
        node_y=node_y,
        has_nodes=has_nodes,
    )


def _join_ptr(parts: list[Int64Array]) -> Int64Array:
    out = [parts[0]]
    for p in parts[1:]:
        out.append(p[1:] + out[-1][-1])
    return np.concatenate(out)


def read_blocks(
    path: Path,
    *,
    ways: bool = True,
    nodes: bool = True,
    skip: set[int] | None = None,
    threads: int | None = None,
) -> Iterator[tuple[int, int, PbfBlock]]:
    """Decode the data blocks of a PBF file in file order.

    Parameters
    ----------
    path : pathlib.Path
        An ``.osm.pbf`` file.
    ways, nodes : bool
        Which entities to decode (the others are left in their bytes).
    skip : set of int, optional
        Block numbers (0-based, data blocks only) not to decompress at all.
    threads : int, optional
        Blocks decompressed and decoded at once in a thread pool (zlib and the numba
        decoders release the GIL); by default the CPUs, at most 4. 1 decodes in the caller's
        thread.

    Yields
    ------
    (int, int, PbfBlock)
        The block's number, the file offset after it (bytes) and its content.

    Raises
    ------
    PbfUnsupported
        The file does not start with an ``OSMHeader`` blob, needs a feature or compression
        this reader lacks, or is malformed.

    Notes
    -----
    O(file size) time; memory is at most ``2 x threads`` blocks in flight (a compressed
    blob is at most 32 MiB, typically about 1 MiB decompressed) and their arrays.
    """
    workers = threads if threads is not None else min(4, os.cpu_count() or 1)

    def decode(blob: bytes) -> PbfBlock:
        return _block(_inflate(blob), ways=ways, nodes=nodes)

    def todo() -> Iterator[tuple[int, int, bytes]]:
        number = -1
        header_seen = False
        for index, (kind, blob, offset) in enumerate(_blobs(path)):
            if index == 0:
                if kind != b"OSMHeader":
                    raise PbfUnsupported("the file does not start with an OSMHeader blob")
                _check_header(_inflate(blob))
                header_seen = True
                continue
            if kind != b"OSMData":
                continue
            number += 1
            if skip is None or number not in skip:
                yield number, offset, blob
        if not header_seen:
            raise PbfUnsupported("an empty file")

    if workers <= 1:
        for number, offset, blob in todo():
            yield number, offset, decode(blob)
        return
    window: deque[tuple[int, int, Future[PbfBlock]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pbf") as pool:
        try:
            for number, offset, blob in todo():
                window.append((number, offset, pool.submit(decode, blob)))
                if len(window) >= 2 * workers:
                    first, end, future = window.popleft()
                    yield first, end, future.result()
            while window:
                first, end, future = window.popleft()
                yield first, end, future.result()
        finally:
            for _, _, future in window:
                future.cancel()
