"""Device figures per area and zone type, against the construction standard's targets.

For each area (every level of the tree within the reader's scope) and each zone type (and
all of them together):

- ``devices``, by type; ``networked`` (联网), ``online`` (networked and not offline),
  ``working`` (status working, 完好);
- networked rate = networked / devices; online rate = online / networked (在线率 is asked
  of networked devices); working rate = working / devices (完好率);
- public camera density = public cameras standing in the area's leaves of the zone / km²
  of those leaves (the zone of a leaf is set on it or on its nearest ancestor:
  :class:`~fangkong.devices.models.AreaZone`); against the targets 160 (central urban),
  20 (urban-rural fringe) and 10 (rural settlements) cameras per km², 70 for the area as a
  whole (TARGETS.md, source R: Rugao demonstration-city plan, 2021). Key sites have no
  density target: their devices count in the rates, their places in the density of the
  zone they stand in;
- key facilities of each type with video coverage: a working camera that belongs to the
  facility or stands within :data:`COVERAGE_RADIUS_M` of it (source C: 100 % coverage at
  government, finance, schools, hospitals, entertainment venues, stations).

Complexity: O(n) for n devices (one pass of bincounts per leaf), O(l·d) to roll l leaves up
d levels, O(f log c) for f facilities against c working cameras (a k-d tree).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    case,
    cast,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from fangkong.areas.geometry import h3_cell_ranges
from fangkong.areas.models import Area
from fangkong.core.scoping import Scope, as_system, whole_tree
from fangkong.devices.models import AreaZone, Device, DeviceStatus, DeviceType, OwnerKind, ZoneType
from fangkong.facilities.models import Facility, FacilityType

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

ZONES: tuple[ZoneType, ...] = tuple(ZoneType)
TYPES: tuple[DeviceType, ...] = tuple(DeviceType)
STATUSES: tuple[DeviceStatus, ...] = tuple(DeviceStatus)
FACILITY_TYPES: tuple[FacilityType, ...] = tuple(FacilityType)
ALL = "all"
#: Public cameras per km² by zone (Rugao, 2021: "70 / 160 / 20 / 10": the city's average,
#: central urban, urban-rural fringe, rural settlements).
DENSITY_TARGETS: dict[str, float] = {
    ALL: 70.0,
    ZoneType.CENTRAL_URBAN.value: 160.0,
    ZoneType.URBAN_FRINGE.value: 20.0,
    ZoneType.RURAL.value: 10.0,
}
#: A facility is covered by a working camera that belongs to it or stands this close (m).
COVERAGE_RADIUS_M = 100.0
#: Metrics counted per leaf and zone: devices, networked, online, working, then each type.
_M_DEVICES, _M_NETWORKED, _M_ONLINE, _M_WORKING = 0, 1, 2, 3
_N_METRICS = 4 + len(TYPES)


@dataclass(frozen=True)
class ZoneFigures:
    zone: str
    devices: int
    by_type: dict[str, int]
    networked: int
    online: int
    working: int
    public_cameras: int
    km2: float | None

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def networked_rate(self) -> float | None:
        return self._share(self.networked, self.devices)

    @property
    def online_rate(self) -> float | None:
        return self._share(self.online, self.networked)

    @property
    def working_rate(self) -> float | None:
        return self._share(self.working, self.devices)

    @property
    def density(self) -> float | None:
        return self.public_cameras / self.km2 if self.km2 else None

    @property
    def density_target(self) -> float | None:
        return DENSITY_TARGETS.get(self.zone)

    @property
    def meets_density(self) -> bool | None:
        if self.density is None or self.density_target is None:
            return None
        return self.density >= self.density_target


@dataclass(frozen=True)
class Coverage:
    facility_type: str
    facilities: int
    covered: int

    @property
    def share(self) -> float | None:
        return self.covered / self.facilities if self.facilities else None


@dataclass(frozen=True)
class AreaFigures:
    area_id: int
    code: str
    name_zh: str
    name_en: str
    level: str
    path: str
    zones: list[ZoneFigures]
    facilities: list[Coverage]

    def zone(self, name: str) -> ZoneFigures:
        return next(z for z in self.zones if z.zone == name)


@dataclass
class Inputs:
    """What :func:`compute` reads. Areas: ids, parents' positions (-1: a root of the output),
    their paths, levels, codes and names, m²; ``leaf`` marks the leaves, ``leaf_zone`` their
    zone (index in :data:`ZONES`, -1: none). Devices (in scope), as groups of devices alike:
    the position of their leaf, type, owner, zone, networked, status indexes and ``d_count``,
    how many devices the group holds (the database counts them: a county's devices fall into
    far fewer groups than there are devices). Facilities (in scope): their leaf, type, and
    whether covered."""

    area_ids: I64
    parent: I64
    paths: list[str]
    levels: list[str]
    codes: list[str]
    names_zh: list[str]
    names_en: list[str]
    area_m2: F64
    leaf: NDArray[np.bool_]
    leaf_zone: I64
    d_leaf: I64
    d_type: I64
    d_owner: I64
    d_zone: I64
    d_networked: I64
    d_status: I64
    d_count: I64
    f_leaf: I64
    f_type: I64
    f_covered: NDArray[np.bool_]


def compute(inputs: Inputs) -> list[AreaFigures]:
    """The figures of every area of ``inputs`` (see the module)."""
    x = inputs
    n_areas, n_zones = len(x.area_ids), len(ZONES)
    # Per leaf (by area position) and device zone: the metrics.
    cell = x.d_leaf * n_zones + x.d_zone
    size = n_areas * n_zones
    n = x.d_count
    working = x.d_status == STATUSES.index(DeviceStatus.WORKING)
    online = (x.d_networked == 1) & (x.d_status != STATUSES.index(DeviceStatus.OFFLINE))
    flat = np.zeros((size, _N_METRICS), dtype=np.int64)
    metrics = flat
    metrics[:, _M_DEVICES] = np.bincount(cell, weights=n, minlength=size)
    metrics[:, _M_NETWORKED] = np.bincount(cell, weights=n * x.d_networked, minlength=size)
    metrics[:, _M_ONLINE] = np.bincount(cell, weights=n * online, minlength=size)
    metrics[:, _M_WORKING] = np.bincount(cell, weights=n * working, minlength=size)
    for t in range(len(TYPES)):
        metrics[:, 4 + t] = np.bincount(cell, weights=n * (x.d_type == t), minlength=size)
    metrics3 = flat.reshape(n_areas, n_zones, _N_METRICS)
    # Public cameras per leaf, by the leaf's zone (space, not the device's zone).
    public_camera = (x.d_type == TYPES.index(DeviceType.CAMERA)) & (
        x.d_owner == list(OwnerKind).index(OwnerKind.PUBLIC)
    )
    cameras = np.bincount(x.d_leaf, weights=n * public_camera, minlength=n_areas).astype(np.int64)
    # Facilities per leaf and type: all, covered.
    n_ft = len(FACILITY_TYPES)
    f_cell = x.f_leaf * n_ft + x.f_type
    facilities = np.bincount(f_cell, minlength=n_areas * n_ft).reshape(n_areas, n_ft)
    covered = np.bincount(f_cell, weights=x.f_covered, minlength=n_areas * n_ft)
    covered = covered.astype(np.int64).reshape(n_areas, n_ft)

    # Roll the leaves up: each area sums its descendant leaves (itself, if a leaf): one pair
    # (leaf, area) per level above the leaf, added at once.
    leaves = np.flatnonzero(x.leaf)
    pair_leaf, pair_area = [], []
    current, owner = leaves.copy(), leaves.copy()
    while current.size:
        pair_leaf.append(owner)
        pair_area.append(current)
        up = x.parent[current]
        kept = up >= 0
        current, owner = up[kept], owner[kept]
    p_leaf = np.concatenate(pair_leaf) if pair_leaf else np.zeros(0, dtype=np.int64)
    p_area = np.concatenate(pair_area) if pair_area else np.zeros(0, dtype=np.int64)
    up_metrics = np.zeros_like(metrics3)
    np.add.at(up_metrics, p_area, metrics3[p_leaf])
    up_facilities = np.zeros_like(facilities)
    np.add.at(up_facilities, p_area, facilities[p_leaf])
    up_covered = np.zeros_like(covered)
    np.add.at(up_covered, p_area, covered[p_leaf])
    # Cameras and m² by the leaf's zone (the last column: every zone together).
    up_cameras = np.zeros((n_areas, n_zones + 1), dtype=np.int64)
    up_m2 = np.zeros((n_areas, n_zones + 1), dtype=np.float64)
    np.add.at(up_cameras[:, n_zones], p_area, cameras[p_leaf])
    np.add.at(up_m2[:, n_zones], p_area, x.area_m2[p_leaf])
    zoned = x.leaf_zone[p_leaf] >= 0
    np.add.at(up_cameras, (p_area[zoned], x.leaf_zone[p_leaf][zoned]), cameras[p_leaf][zoned])
    np.add.at(up_m2, (p_area[zoned], x.leaf_zone[p_leaf][zoned]), x.area_m2[p_leaf][zoned])

    figures = []
    for a in range(n_areas):
        zones = []
        for z, name in [(n_zones, ALL), *((i, ZONES[i].value) for i in range(n_zones))]:
            m = up_metrics[a].sum(axis=0) if z == n_zones else up_metrics[a, z]
            km2 = (
                None
                if ZONES[z % n_zones] is ZoneType.KEY_SITE and z < n_zones
                else (float(up_m2[a, z]) / 1e6)
            )
            zones.append(
                ZoneFigures(
                    zone=name,
                    devices=int(m[_M_DEVICES]),
                    by_type={t.value: int(m[4 + i]) for i, t in enumerate(TYPES)},
                    networked=int(m[_M_NETWORKED]),
                    online=int(m[_M_ONLINE]),
                    working=int(m[_M_WORKING]),
                    public_cameras=0 if km2 is None else int(up_cameras[a, z]),
                    km2=km2,
                )
            )
        figures.append(
            AreaFigures(
                area_id=int(x.area_ids[a]),
                code=x.codes[a],
                name_zh=x.names_zh[a],
                name_en=x.names_en[a],
                level=x.levels[a],
                path=x.paths[a],
                zones=zones,
                facilities=[
                    Coverage(t.value, int(up_facilities[a, i]), int(up_covered[a, i]))
                    for i, t in enumerate(FACILITY_TYPES)
                ],
            )
        )
    return figures


# --- reading -------------------------------------------------------------------------------


def _columns(conn: Connection, query: Select[Any], width: int) -> list[F64]:
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    cursor = conn.exec_driver_sql(str(compiled), params).cursor
    assert cursor is not None
    flat = np.fromiter(itertools.chain.from_iterable(cursor.fetchall()), dtype=np.float64)
    block = flat.reshape(-1, width)
    return [np.ascontiguousarray(block[:, i]) for i in range(width)]


def _codes(column: Any, values: tuple[Any, ...]) -> Any:
    return case({v.value: i for i, v in enumerate(values)}, value=column, else_=-1)


def _device_groups(conn: Connection, where: ColumnElement[bool]) -> list[I64]:
    """The devices matching ``where`` counted by the database per area, type, owner, zone,
    networked and status: seven integer columns (the last the count), the choices as their
    indexes in :data:`TYPES`, ``OwnerKind``, :data:`ZONES` and :data:`STATUSES`.

    Grouped in the order of the covering index ``ix_device_figures``: the database counts
    from the index alone, in its order (no table read, no sort); the choices are coded on
    the few groups, not on every device. Counted by ``area_id``, which the index holds
    (never null here: ``where`` keeps devices of areas)."""
    keys = (
        Device.area_id,
        Device.zone_type,
        Device.device_type,
        Device.owner_kind,
        Device.networked,
        Device.status,
    )
    groups = (
        select(*keys, func.count(Device.area_id).label("devices"))
        .where(where)
        .group_by(*keys)
        .subquery()
    )
    g = groups.c
    query = select(
        g.area_id,
        _codes(g.device_type, TYPES),
        _codes(g.owner_kind, tuple(OwnerKind)),
        _codes(g.zone_type, ZONES),
        case((g.networked, 1), else_=0),
        _codes(g.status, STATUSES),
        g.devices,
    )
    return [c.astype(np.int64) for c in _columns(conn, query, 7)]


def _covered(
    session: Session, f_ids: I64, f_lon: F64, f_lat: F64, radius_m: float
) -> NDArray[np.bool_]:
    """Whether each facility has a working camera of its own or one within ``radius_m``."""
    if not f_ids.size:
        return np.zeros(0, dtype=bool)
    lat0 = np.radians(float(np.mean(f_lat)))
    kx, ky = 111_320.0 * np.cos(lat0), 110_574.0
    # Only the cameras that can count: within ``radius_m`` of the facilities' bounding box
    # (in the metric below), or a facility's own; not every camera of the province.
    pad_lon, pad_lat = radius_m / kx * 1.001, radius_m / ky * 1.001
    west, east = float(f_lon.min()) - pad_lon, float(f_lon.max()) + pad_lon
    south, north = float(f_lat.min()) - pad_lat, float(f_lat.max()) + pad_lat
    # The box as a few ranges of the cameras' H3 cells, which their index serves (under
    # row-level security too: text comparisons are leakproof); on longitude and latitude
    # alone the database read every working camera of the province and kept the box's.
    cells = or_(
        *(
            Device.h3_cell.between(low, high)
            for low, high in h3_cell_ranges(west, south, east, north)
        )
    )
    near = (cells & Device.lon.between(west, east) & Device.lat.between(south, north)) | (
        # (a province's thousands of facilities: any facility's camera, matched below)
        Device.facility_id.in_([int(i) for i in f_ids])
        if f_ids.size <= 2_000
        else Device.facility_id.is_not(None)
    )
    working_camera = (
        (Device.device_type == DeviceType.CAMERA) & (Device.status == DeviceStatus.WORKING) & near
    )
    conn = session.connection()
    with as_system(session):  # a camera across the boundary of the reader's areas covers too
        c_lon, c_lat, c_fac = _columns(
            conn,
            select(
                cast(Device.lon, Float),
                cast(Device.lat, Float),
                func.coalesce(Device.facility_id, -1),
            ).where(working_camera),
            3,
        )
    own = np.isin(f_ids, c_fac.astype(np.int64))
    if not c_lon.size:
        return own

    def xy(lon: F64, lat: F64) -> F64:
        return np.column_stack((lon * kx, lat * ky))

    tree = cKDTree(xy(c_lon, c_lat))
    distance, _ = tree.query(xy(f_lon, f_lat), k=1, distance_upper_bound=radius_m)
    covered: NDArray[np.bool_] = own | np.isfinite(distance)
    return covered


def load(session: Session, *, scope: Scope, root_path: str | None = None) -> Inputs:
    """The areas in ``scope`` (under ``root_path`` if given), with their leaves' zones, and the
    devices and facilities standing in them."""
    areas = session.execute(
        select(
            Area.id,
            Area.parent_id,
            Area.path,
            Area.level,
            Area.code,
            Area.name_zh,
            Area.name_en,
            Area.area_m2,
        )
        .where(
            scope.clause(Area.path),
            Area.path.startswith(root_path, autoescape=True) if root_path else true(),
        )
        .order_by(Area.path)
    ).all()
    ids = np.array([a.id for a in areas], dtype=np.int64)
    position = {int(i): p for p, i in enumerate(ids.tolist())}
    # The children of these areas (in the scope and under the root as they are), and the
    # zones set on them or on the areas above them: not every area and zone of the province.
    parents = session.scalars(
        select(Area.parent_id).where(
            Area.parent_id.is_not(None),
            scope.clause(Area.path),
            Area.path.startswith(root_path, autoescape=True) if root_path else true(),
        )
    ).all()
    has_children = set(parents)
    on_paths = {int(i) for a in areas for i in a.path.strip("/").split("/") if i}
    zoned = select(AreaZone.area_id, AreaZone.zone_type)
    if len(on_paths) <= 5_000:
        zoned = zoned.where(AreaZone.area_id.in_(sorted(on_paths)))
    zones: dict[int, str] = {int(a): str(z) for a, z in session.execute(zoned)}
    leaf_zone = np.full(len(areas), -1, dtype=np.int64)
    for p, a in enumerate(areas):
        for up in reversed([int(i) for i in a.path.strip("/").split("/") if i]):
            if up in zones:
                leaf_zone[p] = ZONES.index(ZoneType(zones[up]))
                break
    conn = session.connection()
    # A county's areas by their ids (an equality PostgreSQL's row-level security lets an
    # index serve; it keeps a path's LIKE from one: issue 23), a province's by a subquery.
    scoped_ids: Any = (
        [int(i) for i in ids]
        if 0 < ids.size <= 2_000
        else select(Area.id).where(scope.clause(Area.path))
    )
    in_areas: ColumnElement[bool] = Device.area_id.in_(scoped_ids)
    if root_path is None and whole_tree(session, scope):
        # Every area: no join to the areas, so that the database counts straight from the
        # index in its order (a device of no area is in no leaf, left out below anyway).
        in_areas = Device.area_id.is_not(None)
    if root_path:
        in_areas = Device.area_path.startswith(root_path, autoescape=True) & in_areas
    d_area, d_type, d_owner, d_zone, d_net, d_status, d_count = _device_groups(conn, in_areas)
    lookup = np.full(int(ids.max()) + 1 if ids.size else 1, -1, dtype=np.int64)
    lookup[ids] = np.arange(ids.size)
    d_leaf = lookup[np.clip(d_area, 0, lookup.size - 1)]
    keep = d_leaf >= 0
    f_in: ColumnElement[bool] = Facility.area_id.in_(scoped_ids)
    if root_path:
        f_in = Facility.area_path.startswith(root_path, autoescape=True) & f_in
    f_id, f_area, f_type, f_lon, f_lat = _columns(
        conn,
        select(
            Facility.id,
            Facility.area_id,
            _codes(Facility.facility_type, FACILITY_TYPES),
            cast(Facility.lon, Float),
            cast(Facility.lat, Float),
        ).where(f_in),
        5,
    )
    f_leaf = lookup[np.clip(f_area.astype(np.int64), 0, lookup.size - 1)]
    f_keep = f_leaf >= 0
    f_covered = _covered(
        session, f_id.astype(np.int64)[f_keep], f_lon[f_keep], f_lat[f_keep], COVERAGE_RADIUS_M
    )
    return Inputs(
        area_ids=ids,
        parent=np.array(
            [position.get(a.parent_id, -1) if a.parent_id is not None else -1 for a in areas],
            dtype=np.int64,
        ),
        paths=[a.path for a in areas],
        levels=[str(getattr(a.level, "value", a.level)) for a in areas],
        codes=[a.code for a in areas],
        names_zh=[a.name_zh for a in areas],
        names_en=[a.name_en for a in areas],
        area_m2=np.array([a.area_m2 for a in areas], dtype=np.float64),
        leaf=np.array([a.id not in has_children for a in areas], dtype=bool),
        leaf_zone=leaf_zone,
        d_leaf=d_leaf[keep],
        d_type=d_type[keep],
        d_owner=d_owner[keep],
        d_zone=d_zone[keep],
        d_networked=d_net[keep],
        d_status=d_status[keep],
        d_count=d_count[keep],
        f_leaf=f_leaf[f_keep],
        f_type=f_type.astype(np.int64)[f_keep],
        f_covered=f_covered,
    )


def figures(session: Session, *, scope: Scope, root_path: str | None = None) -> list[AreaFigures]:
    """The figures of every area in ``scope`` (under ``root_path``), top down by path."""
    return compute(load(session, scope=scope, root_path=root_path))
