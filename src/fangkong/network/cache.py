"""The on-disk graph cache: one ``.npz`` per (source content, profile, options, format).

A graph is derived data: it is rebuilt only when the source file's bytes, the profile (its
:func:`~fangkong.network.profile.profile_hash`, which includes the import rules' version), the
importer's options (layer, field names, snapping...) or the graph's ``FORMAT_VERSION`` change.
Files are written under a temporary name and moved into place, so a reader never sees half a
file and two processes building the same graph do not clobber each other; a cache file that
cannot be read (truncated, corrupt, an older layout) is rebuilt.

A graph's contraction hierarchy (:mod:`fangkong.network.ch`, tens of seconds to build for a
million nodes) lives beside it in ``ch-<key>-v<CH_FORMAT_VERSION>.npz`` under the same key, so
it follows the graph's invalidation and its own format version.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from fangkong.core.errors import InvalidInput
from fangkong.network import graph as graph_module
from fangkong.network.ch import CH_FORMAT_VERSION, ContractionHierarchy, build_hierarchy
from fangkong.network.graph import RoadGraph
from fangkong.network.profile import Profile, profile_hash

__all__ = [
    "arrays_digest",
    "cache_key",
    "cache_path",
    "cached_hierarchy",
    "graph_digest",
    "hierarchy_path",
    "load_or_build",
    "load_or_build_hierarchy",
    "load_or_build_key",
    "read_graph",
    "source_digest",
]

_CHUNK = 1 << 20
# Files that belong to a Shapefile: its content is all of them, not the .shp alone.
_SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")
# What a broken or foreign .npz raises on open or read.
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def source_digest(source: Path) -> str:
    """Hex SHA-256 of a source file's bytes (a Shapefile's sidecar files included).

    Raises
    ------
    InvalidInput
        When the file does not exist or cannot be read.
    """
    files = [source]
    if source.suffix.lower() == ".shp":
        files += [
            p
            for suffix in _SHAPEFILE_SIDECARS
            for p in (source.with_suffix(suffix), source.with_suffix(suffix.upper()))
            if p.is_file()
        ]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.suffix.lower().encode())
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            raise InvalidInput(
                key="error.network.no_file",
                params={"name": path.name, "path": str(path)},
                field="file",
            ) from None
        except OSError as exc:
            raise InvalidInput(
                key="error.network.file_unreadable",
                params={"name": path.name, "reason": str(exc)},
                field="file",
            ) from None
    return digest.hexdigest()


def arrays_digest(*arrays: ArrayLike) -> str:
    """Hex SHA-256 of arrays' dtypes, shapes and bytes (the cache key of an arrays import)."""
    digest = hashlib.sha256()
    for item in arrays:
        array = np.ascontiguousarray(item)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def cache_key(
    digest: str, profile: Profile | None, options: Mapping[str, object] | None = None
) -> str:
    """Hex SHA-256 of the source digest, the profile hash, the options and FORMAT_VERSION."""
    body = {
        "source": digest,
        "profile": profile_hash(profile) if profile is not None else "",
        "options": {k: str(v) for k, v in sorted((options or {}).items())},
        "format": graph_module.FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    """Where the graph of ``key`` lives."""
    return cache_dir / f"graph-{key[:32]}.npz"


def read_graph(path: Path, key: str | None = None) -> RoadGraph | None:
    """The graph stored at ``path``, or None when the file is missing, broken, of an older
    layout, inconsistent, or (with ``key``) cached under another key."""
    try:
        # Check the archive first: numpy leaves the file open when np.load meets a broken zip.
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                return None
        graph = RoadGraph.load(path)
    except _UNREADABLE:
        return None
    consistent = (
        (key is None or graph.meta.get("cache_key") == key)
        and graph.lat.shape == graph.lon.shape
        and graph.indptr.shape[0] == graph.n_nodes + 1
        and graph.tail.shape == graph.head.shape == graph.time_s.shape
        and graph.shape_ptr.shape[0] == graph.n_edges + 1
        and int(graph.indptr[-1]) == graph.n_edges
    )
    return graph if consistent else None


def load_or_build_key(
    key: str, cache_dir: Path, builder: Callable[[], RoadGraph]
) -> tuple[RoadGraph, bool]:
    """The graph cached under ``key``, or ``builder()``'s result, stored under ``key``.

    Returns
    -------
    (RoadGraph, bool)
        The graph and whether it came from the cache.
    """
    path = cache_path(cache_dir, key)
    if path.is_file():
        cached = read_graph(path, key)
        if cached is not None:
            return cached, True
    graph = builder()
    graph.meta["cache_key"] = key
    cache_dir.mkdir(parents=True, exist_ok=True)
    # A name of our own (RoadGraph.save writes it atomically), then one atomic move: a
    # concurrent build of the same key writes its own file and the last move wins whole.
    private = cache_dir / f".{path.stem}-{uuid.uuid4().hex}.npz"
    try:
        graph.save(private)
        os.replace(private, path)
    finally:
        private.unlink(missing_ok=True)
    return graph, False


def load_or_build(
    source: Path,
    profile: Profile,
    cache_dir: Path,
    builder: Callable[[], RoadGraph],
    *,
    options: Mapping[str, object] | None = None,
) -> tuple[RoadGraph, bool]:
    """The cached graph of ``source`` under ``profile``, built and stored when missing.

    Parameters
    ----------
    source : pathlib.Path
        The file the graph is built from; its bytes are hashed (O(file size)).
    profile : Profile
        The profile the builder applies.
    cache_dir : pathlib.Path
        Folder of the cache files (created when missing).
    builder : callable
        ``builder()`` builds the graph (e.g. a closure over ``graph_from_osm``).
    options : mapping, optional
        Anything else the builder depends on (layer, field names, snapping distance).

    Returns
    -------
    (RoadGraph, bool)
        The graph (its ``meta["cache_key"]`` names the cache entry) and whether it was a
        cache hit.
    """
    key = cache_key(source_digest(source), profile, options)
    return load_or_build_key(key, cache_dir, builder)


def hierarchy_path(cache_dir: Path, key: str) -> Path:
    """Where the contraction hierarchy of the graph cached under ``key`` lives."""
    return cache_dir / f"ch-{key[:32]}-v{CH_FORMAT_VERSION}.npz"


def graph_digest(graph: RoadGraph) -> str:
    """Hex SHA-256 of what a contraction hierarchy depends on: the graph's topology and
    travel times (O(edges); about 0.1 s for a million-node graph)."""
    return arrays_digest(graph.indptr, graph.head, graph.time_s)


def cached_hierarchy(graph: RoadGraph, cache_dir: Path) -> ContractionHierarchy | None:
    """The contraction hierarchy of ``graph`` stored in ``cache_dir``, or None when there is
    none, it is unreadable, of another format version, or of another graph.

    The file is found by the graph's cache key; it is taken only when the digest of the
    graph it was built for (:func:`graph_digest`, stored in its ``meta``) is the digest of
    ``graph``: a network imported again with other roads or other speeds gets another key,
    and a graph changed under its key (a hand-edited cache, an importer's fix) is refused.
    """
    key = graph.meta.get("cache_key") or graph_digest(graph)
    path = hierarchy_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        cached: ContractionHierarchy | None = ContractionHierarchy.load(path)
    except _UNREADABLE:
        return None
    if (
        cached is not None
        and cached.meta.get("graph_key") == key
        and cached.n_nodes == graph.n_nodes
        and int(cached.up_ptr.shape[0]) == graph.n_nodes + 1
        and int(cached.down_ptr.shape[0]) == graph.n_nodes + 1
        and cached.meta.get("graph_digest") == graph_digest(graph)
    ):
        return cached
    return None


def load_or_build_hierarchy(graph: RoadGraph, cache_dir: Path) -> tuple[ContractionHierarchy, bool]:
    """The contraction hierarchy of ``graph`` from the cache, or built and stored there.

    The file's name comes from the graph's ``meta["cache_key"]`` when it came from the cache,
    else from :func:`graph_digest` (so a synthetic graph is cached too); what it holds is
    checked against the graph's digest (:func:`cached_hierarchy`). A restart loads it (a few
    hundred milliseconds for a million nodes) instead of building it (tens of seconds).

    Returns
    -------
    (ContractionHierarchy, bool)
        The hierarchy and whether it came from the cache.
    """
    cached = cached_hierarchy(graph, cache_dir)
    if cached is not None:
        return cached, True
    key = graph.meta.get("cache_key") or graph_digest(graph)
    path = hierarchy_path(cache_dir, key)
    hierarchy = build_hierarchy(graph)
    hierarchy.meta["graph_key"] = key
    hierarchy.meta["graph_digest"] = graph_digest(graph)
    cache_dir.mkdir(parents=True, exist_ok=True)
    private = cache_dir / f".{path.stem}-{uuid.uuid4().hex}.npz"
    try:
        hierarchy.save(private)
        os.replace(private, path)
    finally:
        private.unlink(missing_ok=True)
    return hierarchy, False
