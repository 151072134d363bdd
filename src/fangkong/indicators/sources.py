"""The metrics indicators are made of: counts and sums per area of the jurisdiction tree and
period, computed from fangkong's records by the services that own them.

Every metric is additive over the areas below an area (a count, a sum of seconds, km²), so a
record is counted once in its own area and rolled up to every area above it; a ratio of two
metrics is then the indicator of any area at any level. Sources:

- ``incidents`` (dispatch): incidents received in the period (simulated ones left out, as
  :func:`fangkong.dispatch.kpis.area_kpis` leaves them out); those with a response time
  (dispatch-to-arrival; merged ones left out); those within each ring of
  :data:`fangkong.dispatch.recommend.RINGS_S` (1, 3, 5 minutes); sums of the response and
  call-to-dispatch times in seconds;
- ``cases.<type>`` (the case engine, every declared type): cases found (opened) in the
  period, resolved, resolved within their deadlines, overdue, as of the computation
  (the formulas of :func:`fangkong.cases.indicators.compute`);
- ``devices``: the device register's figures as they stand (:mod:`fangkong.devices.figures`):
  devices, networked, online, working, per type; public cameras and km² per zone type;
  key facilities with video coverage per facility type;
- ``facilities``: the key facilities per type, compliant with every rule, inspected this
  quarter (:func:`fangkong.facilities.register.rates`);
- ``area``: the areas' own km².

Only the columns named here are read: no personal field of the register
(:mod:`fangkong.core.personal`) is read to compute an indicator (a test records the SQL).
Complexity: one scan of the period's incidents and cases, one of the devices and facilities,
O(r + a·d) for r records and a areas of depth d.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from fangkong.areas.models import Area
from fangkong.cases import registry as case_registry
from fangkong.cases.models import Case
from fangkong.core.scoping import Scope
from fangkong.devices import figures as device_figures
from fangkong.devices.models import DeviceStatus, DeviceType, ZoneType
from fangkong.dispatch.kpis import COUNTED
from fangkong.dispatch.models import Incident, IncidentStatus
from fangkong.dispatch.recommend import RINGS_S
from fangkong.facilities import register as facility_register
from fangkong.facilities.models import FacilityType

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

RINGS = tuple(name for _, name in RINGS_S)
INCIDENT_METRICS = (
    "incidents.count",
    "incidents.responded",
    *(f"incidents.within_{ring}" for ring in RINGS),
    "incidents.response_s",
    "incidents.dispatched",
    "incidents.call_to_dispatch_s",
)
CASE_MEASURES = ("found", "resolved", "resolved_on_time", "overdue", "closed")
DEVICE_MEASURES = ("count", "networked", "online", "working")
#: Facility types whose video coverage the standard asks for (source C), counted together.
KEY_COVERAGE = (
    FacilityType.GOVERNMENT,
    FacilityType.BANK,
    FacilityType.SCHOOL,
    FacilityType.HOSPITAL,
    FacilityType.ENTERTAINMENT,
    FacilityType.TRANSPORT_HUB,
)
FACILITY_KINDS = ("all", *(t.value for t in FacilityType))


def _device_metrics() -> tuple[str, ...]:
    names = [f"devices.{m}" for m in DEVICE_MEASURES]
    names += [f"devices.{t.value}.{m}" for t in DeviceType for m in DEVICE_MEASURES]
    names += ["devices.public_cameras", "devices.km2"]
    names += [f"devices.public_cameras.{z.value}" for z in ZoneType if z is not ZoneType.KEY_SITE]
    names += [f"devices.km2.{z.value}" for z in ZoneType if z is not ZoneType.KEY_SITE]
    for kind in ("key", *(t.value for t in FacilityType)):
        names += [f"devices.coverage.{kind}.facilities", f"devices.coverage.{kind}.covered"]
    return tuple(names)


def _facility_metrics() -> tuple[str, ...]:
    return tuple(
        f"facilities.{k}.{m}" for k in FACILITY_KINDS for m in ("count", "compliant", "inspected")
    )


def case_metrics() -> tuple[str, ...]:
    return tuple(f"cases.{name}.{m}" for name in case_registry.names() for m in CASE_MEASURES)


def metric_names() -> frozenset[str]:
    """Every metric a formula may name."""
    return frozenset(
        (*INCIDENT_METRICS, *case_metrics(), *_device_metrics(), *_facility_metrics(), "area.km2")
    )


def record_kind(metric: str) -> str:
    """The records a metric counts: ``incidents``, ``cases.<type>``, ``devices``,
    ``facilities`` or ``areas``."""
    head = metric.split(".")
    if metric.startswith("devices.coverage."):
        return "facilities"
    if head[0] == "cases":
        return f"cases.{head[1]}"
    return {"area": "areas"}.get(head[0], head[0])


def source_of(metric: str) -> str:
    return metric.split(".", 1)[0]


# --- the tree --------------------------------------------------------------------------------


@dataclass
class Tree:
    """The areas computed for (every area in a scope), top down by path, with the pairs
    (area, ancestor-or-self) that roll a record's area up to every area above it."""

    ids: I64
    paths: list[str]
    levels: list[str]
    codes: list[str]
    names_zh: list[str]
    names_en: list[str]
    km2: F64
    lookup: I64 = field(repr=False)
    pair_desc: I64 = field(repr=False)
    pair_anc: I64 = field(repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, area_ids: I64) -> I64:
        """Each area id's position in the tree (-1: not in it)."""
        if not area_ids.size:
            return np.zeros(0, dtype=np.int64)
        clipped = np.clip(area_ids, 0, self.lookup.size - 1)
        out: I64 = np.where(
            (area_ids >= 0) & (area_ids < self.lookup.size), self.lookup[clipped], -1
        )
        return out

    def rollup(self, own: F64) -> F64:
        """Each area's total of ``own`` (a value per area position) over its subtree."""
        total = np.bincount(self.pair_anc, weights=own[self.pair_desc], minlength=len(self))
        return total.astype(np.float64)

    def count(self, positions: I64, weights: F64 | None = None) -> F64:
        """Records (or ``weights``) per area position, rolled up."""
        keep = positions >= 0
        own = np.bincount(
            positions[keep],
            weights=None if weights is None else weights[keep],
            minlength=len(self),
        ).astype(np.float64)
        return self.rollup(own)


def load_tree(session: Session, *, scope: Scope) -> Tree:
    """The areas of ``scope``, every level."""
    rows = session.execute(
        select(Area.id, Area.path, Area.level, Area.code, Area.name_zh, Area.name_en, Area.area_m2)
        .where(scope.clause(Area.path))
        .order_by(Area.path)
    ).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    lookup = np.full(int(ids.max()) + 1 if ids.size else 1, -1, dtype=np.int64)
    lookup[ids] = np.arange(ids.size)
    by_path = {r.path: p for p, r in enumerate(rows)}
    desc: list[int] = []
    anc: list[int] = []
    for p, r in enumerate(rows):
        parts = [x for x in r.path.strip("/").split("/") if x]
        for depth in range(1, len(parts) + 1):
            ancestor = by_path.get("/" + "/".join(parts[:depth]) + "/")
            if ancestor is not None:
                desc.append(p)
                anc.append(ancestor)
    return Tree(
        ids=ids,
        paths=[r.path for r in rows],
        levels=[str(getattr(r.level, "value", r.level)) for r in rows],
        codes=[r.code for r in rows],
        names_zh=[r.name_zh for r in rows],
        names_en=[r.name_en for r in rows],
        km2=np.array([r.area_m2 / 1e6 for r in rows], dtype=np.float64),
        lookup=lookup,
        pair_desc=np.array(desc, dtype=np.int64),
        pair_anc=np.array(anc, dtype=np.int64),
    )


# --- the sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a source reads: the tree, the reader's scope, the period [start, end) (aware),
    the moment states are read at and the county's zone."""

    session: Session
    tree: Tree
    scope: Scope
    start: datetime
    end: datetime
    now: datetime
    zone: ZoneInfo


Metrics = dict[str, F64]


def _epoch(values: list[datetime | None]) -> F64:
    return np.array([np.nan if v is None else v.timestamp() for v in values], dtype=np.float64)


#: A tree of at most this many areas also matches its records by area id.
BY_ID_AREAS = 2_000


def in_tree(
    ctx: Context,
    path: InstrumentedAttribute[str | None],
    area_id: InstrumentedAttribute[int | None],
) -> ColumnElement[bool]:
    """Records of the scope (by path), and, for a tree of up to :data:`BY_ID_AREAS` areas (a
    county's), of its areas by id: an equality that PostgreSQL's row-level security lets an
    index serve, where it keeps the path's LIKE from its index and checks the policy on every
    county's rows of the period instead (issue 23). A record whose area is not in the tree
    counts nowhere either way (:meth:`Tree.positions`)."""
    clause = ctx.scope.clause(path)
    if 0 < len(ctx.tree) <= BY_ID_AREAS:
        clause = clause & area_id.in_([int(i) for i in ctx.tree.ids])
    return clause


def incidents(ctx: Context) -> Metrics:
    """Incident metrics of the period (see the module)."""
    rows = ctx.session.execute(
        select(
            Incident.area_id,
            Incident.status,
            Incident.received_at,
            Incident.dispatched_at,
            Incident.on_scene_at,
        ).where(
            in_tree(ctx, Incident.area_path, Incident.area_id),
            Incident.received_at >= ctx.start,
            Incident.received_at < ctx.end,
            COUNTED,
        )
    ).all()
    tree = ctx.tree
    pos = tree.positions(np.array([r[0] for r in rows], dtype=np.int64))
    merged = np.array([r[1] == IncidentStatus.MERGED for r in rows], dtype=bool)
    received = _epoch([r[2] for r in rows])
    dispatched = _epoch([r[3] for r in rows])
    on_scene = _epoch([r[4] for r in rows])
    response = np.where(merged, np.nan, on_scene - dispatched)
    c2d = np.where(merged, np.nan, dispatched - received)
    has = ~np.isnan(response)
    has_c2d = ~np.isnan(c2d)
    out: Metrics = {
        "incidents.count": tree.count(pos),
        "incidents.responded": tree.count(pos, has.astype(np.float64)),
        "incidents.response_s": tree.count(pos, np.where(has, response, 0.0)),
        "incidents.dispatched": tree.count(pos, has_c2d.astype(np.float64)),
        "incidents.call_to_dispatch_s": tree.count(pos, np.where(has_c2d, c2d, 0.0)),
    }
    for limit, ring in RINGS_S:
        within = has & (np.where(has, response, np.inf) <= limit)
        out[f"incidents.within_{ring}"] = tree.count(pos, within.astype(np.float64))
    return out


def cases(ctx: Context) -> Metrics:
    """Case metrics of the period per declared type (see the module)."""
    rows = ctx.session.execute(
        select(
            Case.area_id,
            Case.case_type,
            Case.resolved_at,
            Case.closed_at,
            Case.due_at,
            Case.late,
        ).where(
            in_tree(ctx, Case.area_path, Case.area_id),
            Case.opened_at >= ctx.start,
            Case.opened_at < ctx.end,
        )
    ).all()
    tree, now = ctx.tree, ctx.now
    pos = tree.positions(np.array([r[0] for r in rows], dtype=np.int64))
    types = np.array([r[1] for r in rows], dtype=object)
    resolved = np.array([r[2] is not None and r[2] <= now for r in rows], dtype=bool)
    closed = np.array([r[3] is not None and r[3] <= now for r in rows], dtype=bool)
    late = np.array([bool(r[5]) for r in rows], dtype=bool)
    overdue = late | np.array(
        [r[3] is None and r[4] is not None and r[4] < now for r in rows], dtype=bool
    )
    out: Metrics = {}
    for name in case_registry.names():
        mine = (types == name) if rows else np.zeros(0, dtype=bool)
        for measure, hit in (
            ("found", mine),
            ("resolved", mine & resolved),
            ("resolved_on_time", mine & resolved & ~late),
            ("overdue", mine & overdue),
            ("closed", mine & closed),
        ):
            out[f"cases.{name}.{measure}"] = tree.count(pos, hit.astype(np.float64))
    return out


def devices(ctx: Context) -> Metrics:
    """Device metrics as the register stands (see the module): the register's own inputs and
    figures (:func:`fangkong.devices.figures.load` and ``compute``)."""
    tree = ctx.tree
    inputs = device_figures.load(ctx.session, scope=ctx.scope)
    out: Metrics = {}
    # Per group of devices alike (``d_count`` of them): its area in our tree.
    pos = tree.positions(inputs.area_ids[inputs.d_leaf] if inputs.d_leaf.size else inputs.d_leaf)
    many = inputs.d_count.astype(np.float64)
    statuses = device_figures.STATUSES
    working = inputs.d_status == statuses.index(DeviceStatus.WORKING)
    networked = inputs.d_networked == 1
    online = networked & (inputs.d_status != statuses.index(DeviceStatus.OFFLINE))
    for prefix, mine in [
        ("devices", np.ones(pos.size, dtype=bool)),
        *((f"devices.{t.value}", inputs.d_type == i) for i, t in enumerate(device_figures.TYPES)),
    ]:
        out[f"{prefix}.count"] = tree.count(pos, many * mine)
        out[f"{prefix}.networked"] = tree.count(pos, many * (mine & networked))
        out[f"{prefix}.online"] = tree.count(pos, many * (mine & online))
        out[f"{prefix}.working"] = tree.count(pos, many * (mine & working))
    n = len(tree)
    zero = np.zeros(n, dtype=np.float64)
    density_zones = [z.value for z in ZoneType if z is not ZoneType.KEY_SITE]
    cams = {z: zero.copy() for z in ("all", *density_zones)}
    km2 = {z: zero.copy() for z in ("all", *density_zones)}
    cov = {k: (zero.copy(), zero.copy()) for k in ("key", *(t.value for t in FacilityType))}
    key_types = {t.value for t in KEY_COVERAGE}
    for found in device_figures.compute(inputs):
        p = int(tree.positions(np.array([found.area_id], dtype=np.int64))[0])
        if p < 0:
            continue
        for z in found.zones:
            if z.zone in cams and z.km2 is not None:
                cams[z.zone][p] = z.public_cameras
                km2[z.zone][p] = z.km2
        for c in found.facilities:
            cov[c.facility_type][0][p] = c.facilities
            cov[c.facility_type][1][p] = c.covered
            if c.facility_type in key_types:
                cov["key"][0][p] += c.facilities
                cov["key"][1][p] += c.covered
    out["devices.public_cameras"] = cams["all"]
    out["devices.km2"] = km2["all"]
    for zone in density_zones:
        out[f"devices.public_cameras.{zone}"] = cams[zone]
        out[f"devices.km2.{zone}"] = km2[zone]
    for k, (facilities_, covered) in cov.items():
        out[f"devices.coverage.{k}.facilities"] = facilities_
        out[f"devices.coverage.{k}.covered"] = covered
    return out


def facilities(ctx: Context) -> Metrics:
    """Key-facility metrics as the register stands: the register's rates
    (:func:`fangkong.facilities.register.rates`), per type and all."""
    tree = ctx.tree
    by_code = {code: p for p, code in enumerate(tree.codes)}
    out: Metrics = {
        f"facilities.{k}.{m}": np.zeros(len(tree), dtype=np.float64)
        for k in FACILITY_KINDS
        for m in ("count", "compliant", "inspected")
    }
    for row in facility_register.rates(ctx.session, scope=ctx.scope, now=ctx.now, zone=ctx.zone):
        p = by_code.get(row.area_code)
        if p is None:
            continue
        out[f"facilities.{row.facility_type}.count"][p] = row.facilities
        out[f"facilities.{row.facility_type}.compliant"][p] = row.compliant
        out[f"facilities.{row.facility_type}.inspected"][p] = row.inspected
    return out


def areas(ctx: Context) -> Metrics:
    return {"area.km2": ctx.tree.km2.copy()}


#: Each source's loader, by the first word of its metrics.
LOADERS: dict[str, Callable[[Context], Metrics]] = {
    "incidents": incidents,
    "cases": cases,
    "devices": devices,
    "facilities": facilities,
    "area": areas,
}


def load(ctx: Context, metrics: set[str]) -> Metrics:
    """The ``metrics`` asked for (each source read once)."""
    out: Metrics = {}
    for name in sorted({source_of(m) for m in metrics}):
        out.update(LOADERS[name](ctx))
    return out
