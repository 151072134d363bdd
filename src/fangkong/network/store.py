"""Where the road graphs live: the cache in ``<data_dir>/network/`` and the current graph.

``<data_dir>/network/current.json`` names the graph the server uses; importing a file builds (or
finds in the cache) its graph and makes it current.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from stat import S_ISREG
from typing import Any

from fangkong.areas.coords import CoordSystem
from fangkong.core.errors import InvalidInput
from fangkong.network.cache import (
    cache_path,
    load_or_build,
    load_or_build_hierarchy,
    read_graph,
)
from fangkong.network.graph import RoadGraph
from fangkong.network.profile import Profile

POINTER_NAME = "current.json"
OSM_SUFFIXES = (".pbf", ".osm", ".o5m", ".osc", ".bz2", ".gz", ".opl")
GIS_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml", ".tab", ".mif")


class SourceFormat(StrEnum):
    """What kind of file ``network import`` reads."""

    AUTO = "auto"
    OSM = "osm"
    GIS = "gis"


def network_dir(data_dir: Path) -> Path:
    """The folder holding the graph cache and the current-graph pointer."""
    return data_dir / "network"


#: What a county's code may be to name its folder (letters, digits, ``-``, ``_``, ``.``).
COUNTY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def county_data_dir(data_dir: Path, code: str) -> Path:
    """The data folder of one county's road network in a province deployment:
    ``<data_dir>/counties/<code>``, with its own ``network/`` folder (graph cache, contraction
    hierarchies, current-graph pointer), so that every county has its current graph and its
    hierarchy cached on disk beside it.

    Raises
    ------
    InvalidInput
        When ``code`` is not a plain name (:data:`COUNTY_CODE`).
    """
    if not COUNTY_CODE.fullmatch(code) or ".." in code:
        raise InvalidInput(
            key="error.network.county_code", params={"code": code[:80]}, field="county"
        )
    return data_dir / "counties" / code


def current_graph_path(data_dir: Path) -> Path | None:
    """The file of the current graph, or None when no network has been imported.

    Raises
    ------
    InvalidInput
        When the pointer exists but is not readable JSON (re-run ``network import``).
    """
    found = _current_graph(data_dir)
    return None if found is None else found[0]


def _current_graph(data_dir: Path) -> tuple[Path, int] | None:
    """The current graph's file and its mtime (ns), or None (see :func:`current_graph_path`).

    The pointer is read again only when its file changed (it is replaced whole, see
    :func:`_write_pointer`): the server asks per request, and per intake batch, so that an
    unchanged pointer costs two ``stat`` calls and no path arithmetic.
    """
    known = _pointers.get(data_dir)
    pointer = known.pointer if known is not None else str(network_dir(data_dir) / POINTER_NAME)
    try:
        stat = os.stat(pointer)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(Path(pointer), exc) from None
    stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if known is None or known.stamp != stamp:
        name = _graph_named_in(Path(pointer))
        if name is None:  # removed since its stat
            return None
        known = _pointers[data_dir] = _Pointer(pointer, stamp, network_dir(data_dir) / name)
    try:
        graph = os.stat(known.graph)
    except OSError:
        return None
    return (known.graph, graph.st_mtime_ns) if S_ISREG(graph.st_mode) else None


@dataclass(frozen=True)
class _Pointer:
    """A data folder's pointer file, its stamp (inode, mtime, size) when last read, and the
    graph file it named."""

    pointer: str
    stamp: tuple[int, int, int]
    graph: Path


_pointers: dict[Path, _Pointer] = {}


def _unreadable(pointer: Path, why: object) -> InvalidInput:
    return InvalidInput(
        key="error.network.pointer_unreadable",
        params={"pointer": str(pointer), "reason": str(why)},
        field="network",
    )


def _graph_named_in(pointer: Path) -> str | None:
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _unreadable(pointer, exc) from None
    name = data.get("graph") if isinstance(data, dict) else None
    if not isinstance(name, str) or "/" in name or "\\" in name:
        raise InvalidInput(
            key="error.network.pointer_empty", params={"pointer": str(pointer)}, field="network"
        )
    return name


_loaded: dict[Path, tuple[int, RoadGraph]] = {}
_loaded_lock = threading.Lock()
#: The most graphs a process keeps loaded (one per data folder: a county, its cross-border
#: graph, the deployment's own), the least recently loaded going first past it.
MAX_LOADED = 64


def load_current(data_dir: Path) -> RoadGraph | None:
    """The current graph, or None when no network has been imported.

    The same object is returned while the file is unchanged (the server calls this per
    request; a graph of a province takes seconds to load). One graph is kept per data folder
    (the current one; an import replaces it), so that a process serving several counties --
    a batch worker, a province's server -- does not reload one county's graph each time it
    turns to another (up to :data:`MAX_LOADED` folders).

    Raises
    ------
    InvalidInput
        When the current graph's file is unreadable (re-run ``network import``).
    """
    found = _current_graph(data_dir)
    if found is None:
        return None
    path, stamp = found
    with _loaded_lock:
        hit = _loaded.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    graph = read_graph(path)
    if graph is None:
        raise InvalidInput(
            key="error.network.graph_unreadable", params={"name": path.name}, field="network"
        )
    with _loaded_lock:
        for other in [p for p in _loaded if p.parent == path.parent]:
            del _loaded[other]  # one current graph per folder
        while len(_loaded) >= MAX_LOADED:
            del _loaded[next(iter(_loaded))]
        _loaded[path] = (stamp, graph)
    return graph


def _write_pointer(data_dir: Path, graph_file: Path, body: dict[str, Any]) -> None:
    pointer = network_dir(data_dir) / POINTER_NAME
    tmp = pointer.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(
        json.dumps({"graph": graph_file.name, **body}, ensure_ascii=False, indent=2),
        encoding="utf-8",
    )
    os.replace(tmp, pointer)


def activate(data_dir: Path, graph_file: Path, body: dict[str, Any]) -> None:
    """Make ``graph_file`` (in ``data_dir``'s cache) the current graph of ``data_dir``;
    ``body`` is stored in the pointer beside its name (source, kind, profile...)."""
    _write_pointer(data_dir, graph_file, body)


def detect_format(file: Path, given: SourceFormat) -> SourceFormat:
    if given is not SourceFormat.AUTO:
        return given
    name = file.name.lower()
    if name.endswith(GIS_SUFFIXES):
        return SourceFormat.GIS
    if name.endswith(OSM_SUFFIXES):
        return SourceFormat.OSM
    raise InvalidInput(
        key="error.network.format_unknown", params={"name": file.name}, field="format"
    )


def import_and_activate(
    data_dir: Path,
    file: Path,
    profile: Profile,
    *,
    source_format: SourceFormat = SourceFormat.AUTO,
    layer: str | None = None,
    direction_field: str | None = None,
    speed_field: str | None = None,
    class_field: str | None = None,
    crs: CoordSystem = CoordSystem.WGS84,
    snap_m: float = 0.5,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[RoadGraph, bool, Path]:
    """Build (or find in the cache) the graph of ``file`` and make it the current one.

    Returns the graph, whether the cache had it, and its file.
    """
    from fangkong.network.gis import graph_from_lines
    from fangkong.network.osm import graph_from_osm

    if not file.is_file():
        raise InvalidInput(
            key="error.network.no_file", params={"name": file.name, "path": str(file)}, field="file"
        )
    kind = detect_format(file, source_format)
    options: dict[str, object] = {"kind": kind.value}
    if kind is SourceFormat.GIS:
        options.update(
            layer=layer,
            direction_field=direction_field,
            speed_field=speed_field,
            class_field=class_field,
            crs=crs.value,
            snap_m=snap_m,
        )

    def build() -> RoadGraph:
        if kind is SourceFormat.OSM:
            return graph_from_osm(file, profile, progress=progress)[0]
        return graph_from_lines(
            file,
            layer=layer,
            direction_field=direction_field,
            speed_field=speed_field,
            class_field=class_field,
            profile=profile,
            snap_m=snap_m,
            crs=crs,
            progress=progress,
        )[0]

    graph, hit = load_or_build(file, profile, network_dir(data_dir), build, options=options)
    path = cache_path(network_dir(data_dir), graph.meta["cache_key"])
    # the contraction hierarchy now, so that the server's first query does not wait for it
    if progress is not None:
        progress("hierarchy", 0, 1)
    load_or_build_hierarchy(graph, network_dir(data_dir))
    if progress is not None:
        progress("hierarchy", 1, 1)
    _write_pointer(
        data_dir,
        path,
        {
            "source": str(file.resolve()),
            "kind": kind.value,
            "profile": profile.name,
            "profile_hash": graph.meta.get("profile_hash", ""),
            "cache_key": graph.meta["cache_key"],
            "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return graph, hit, path
