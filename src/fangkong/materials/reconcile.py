"""Reconciliation of the hazardous-material ledger (账实核对) over a period.

For every holder, site and material: the book at the start of the period (``opening``, the
sum of every movement before it), what came in and went out during it, the book at its end
(``closing = opening + in - out``), and every stock count taken in the period against the
book at the moment of the count. Then the faults, each a :class:`Discrepancy`:

- ``count_mismatch``: a count differs from the book at its moment by more than the tolerance;
- ``negative_stock``: a movement of the period takes the book below zero (by more than the
  absolute tolerance): more went out than was there;
- ``over_capacity``: a movement of the period takes a site's stock of a material class (in
  one base unit) above the capacity declared for it (none declared: nothing may be stored);
- ``transfer_unmatched``: one end of a transfer with no other end once the time window has
  passed (before it, the end is *pending*);
- ``transfer_quantity`` / ``transfer_time``: the two ends of a transfer differ in quantity
  by more than the tolerance, or in time by more than the window;
- ``unlicensed``: movements of a material by a holder whose licence does not cover its class,
  or outside the licence's dates, or after the holder was deregistered (the first such row
  of each holder and material, with the number of rows).

A transfer's ends are the out-ends (``sell``, ``transport``) and in-ends (``receive``,
``store``) that name a counterparty: an out-end names the holder it went to, an in-end the
holder it came from (a move between two sites of one holder names the holder itself). Both
carry the transfer's document number (运输证/购买证). The ends of one sender, receiver,
material and document are paired in time order, the first out-end with the first in-end.

Only the *effective* rows count: a row that a correction replaced is left out, the correction
counts in its place, and a ``void`` correction counts for nothing.

Quantities are integers (thousandths of the material's base unit), so the sums are exact; a
tolerance is ``absolute + floor(relative x reference)`` thousandths, the reference being the
book (counts), the out-end's quantity (transfers).

Complexity: O(n log n) for n ledger rows (three stable sorts of 64-bit keys), all in numpy;
the time goes into reading the rows (:func:`load`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Select, case, func, select, true
from sqlalchemy.orm import Session

from fangkong.core.scoping import Scope, as_system, whole_tree
from fangkong.materials.models import (
    IN_ENDS,
    OUT_ENDS,
    SIGN,
    BaseUnit,
    DiscrepancyKind,
    Holder,
    Material,
    MaterialClass,
    Movement,
    MovementKind,
    Site,
    SiteCapacity,
    StockCount,
    Tolerance,
)

I64 = NDArray[np.int64]

KINDS: tuple[MovementKind, ...] = tuple(MovementKind)
CLASSES: tuple[MaterialClass, ...] = tuple(MaterialClass)
UNITS: tuple[BaseUnit, ...] = tuple(BaseUnit)
_SIGNS = np.array([SIGN[k] for k in KINDS], dtype=np.int64)
_OUT_END = np.array([k in OUT_ENDS for k in KINDS])
_IN_END = np.array([k in IN_ENDS for k in KINDS])
#: Seconds fit in 33 bits until the year 2242: a 64-bit sort key holds a group and a time.
_T_BITS = 33
_NONE = -1
_NEVER = np.iinfo(np.int64).max
_ALWAYS = np.iinfo(np.int64).min


@dataclass(frozen=True)
class ClassTolerance:
    """A class's tolerances: ``relative`` (a share), ``absolute_milli`` (thousandths of the
    base unit) and the transfer window (hours)."""

    relative: float
    absolute_milli: int
    window_hours: float

    @property
    def window_s(self) -> int:
        return int(self.window_hours * 3600)


#: The defaults (a county's rows in ``material_tolerance`` override them): explosives,
#: detonators and fireworks are counted by the piece and weighed exactly, zero tolerance and
#: two or three days for a delivery; chemicals are weighed or metered, half a percent.
DEFAULT_TOLERANCES: dict[MaterialClass, ClassTolerance] = {
    MaterialClass.CIVIL_EXPLOSIVE: ClassTolerance(0.0, 0, 48.0),
    MaterialClass.TOXIC_CHEMICAL: ClassTolerance(0.005, 0, 72.0),
    MaterialClass.EXPLOSIVE_PRECURSOR: ClassTolerance(0.005, 0, 72.0),
    MaterialClass.FIREWORKS: ClassTolerance(0.0, 0, 72.0),
}


@dataclass
class Ledger:
    """The ledger as arrays: what :func:`compute` reads.

    Movements (effective rows only, by id): ``id``, ``holder``, ``site``, ``material``,
    ``kind`` (index in :data:`KINDS`), ``qty`` (thousandths, positive), ``t`` (seconds),
    ``counterparty`` (holder id or -1), ``doc`` (a code per document number, -1 where the row
    is no transfer end). Counts (effective): ``c_*``. Lookups: materials by id (class and
    unit indexes in :data:`CLASSES`, :data:`UNITS`), sites by id (their holder), holders by id
    (licence classes as a bit mask, licence from and until in seconds, ``in_scope``),
    capacities by (site, class index, unit index).
    """

    id: I64
    holder: I64
    site: I64
    material: I64
    kind: I64
    qty: I64
    t: I64
    counterparty: I64
    doc: I64
    c_id: I64
    c_site: I64
    c_material: I64
    c_t: I64
    c_qty: I64
    material_ids: I64
    material_class: I64
    material_unit: I64
    site_ids: I64
    site_holder: I64
    holder_ids: I64
    holder_classes: I64
    holder_from: I64
    holder_until: I64
    holder_in_scope: NDArray[np.bool_]
    capacity: dict[tuple[int, int, int], int]
    tolerances: dict[MaterialClass, ClassTolerance] = field(
        default_factory=lambda: dict(DEFAULT_TOLERANCES)
    )


@dataclass(frozen=True)
class Balance:
    """One holder, site and material over the period (quantities in thousandths)."""

    holder_id: int
    site_id: int
    material_id: int
    opening: int
    inflow: int
    outflow: int
    closing: int
    #: The last count of the period: its id, moment, quantity and the book then.
    count_id: int | None = None
    counted_s: int | None = None
    counted: int | None = None
    book_at_count: int | None = None

    @property
    def difference(self) -> int | None:
        """Counted minus book at the count (None: no count in the period)."""
        if self.counted is None or self.book_at_count is None:
            return None
        return self.counted - self.book_at_count


@dataclass(frozen=True)
class Discrepancy:
    """A fault of the ledger. ``expected`` and ``actual`` are thousandths (the book and the
    count; the capacity and the stock; the out-end's and the in-end's quantity) or, for
    ``transfer_time``, the window and the gap in seconds."""

    kind: DiscrepancyKind
    holder_id: int
    site_id: int | None
    material_id: int | None
    at_s: int
    movement_ids: tuple[int, ...] = ()
    count_id: int | None = None
    expected: int | None = None
    actual: int | None = None
    counterparty_id: int | None = None
    rows: int = 1
    material_class: MaterialClass | None = None
    unit: BaseUnit | None = None

    @property
    def fingerprint(self) -> str:
        """What the fault is about, stable across runs: one case per fingerprint."""
        ids = ":".join(str(i) for i in self.movement_ids)
        if self.kind is DiscrepancyKind.COUNT_MISMATCH:
            return f"count:{self.count_id}"
        if self.kind is DiscrepancyKind.OVER_CAPACITY:
            assert self.material_class is not None and self.unit is not None
            return f"over_capacity:{ids}:{self.material_class.value}:{self.unit.value}"
        return f"{self.kind.value}:{ids}"

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.kind.value,
            self.holder_id,
            self.site_id or 0,
            self.material_id or 0,
            self.at_s,
            self.movement_ids,
            self.count_id or 0,
        )


@dataclass
class Reconciliation:
    start_s: int
    end_s: int
    now_s: int
    balances: list[Balance]
    discrepancies: list[Discrepancy]
    #: Transfer ends of the period: paired, and waiting for their other end within the window.
    transfers_paired: int = 0
    transfers_pending: int = 0
    rows: int = 0


# --- the computation ---------------------------------------------------------------------


def _index(ids: I64, values: I64) -> I64:
    """Positions of ``values`` in the sorted ``ids`` (each value must be there)."""
    return np.searchsorted(ids, values).astype(np.int64)


def _group_starts(keys: I64) -> I64:
    change = np.empty(keys.size, dtype=bool)
    if keys.size:
        change[0] = True
        np.not_equal(keys[1:], keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _sums(values: I64, starts: I64) -> I64:
    """Sums of ``values`` over the groups that begin at ``starts``."""
    if not starts.size:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(values, starts).astype(np.int64)


def _first_per_group(rows: I64, groups: I64) -> tuple[I64, I64]:
    """Of ``rows`` (sorted, with their ``groups`` non-decreasing): the first row of each
    group that has one, and the number of rows of each such group."""
    if rows.size == 0:
        return rows, rows
    _, first, counts = np.unique(groups, return_index=True, return_counts=True)
    return rows[first], counts.astype(np.int64)


def _tolerance_arrays(
    tolerances: dict[MaterialClass, ClassTolerance],
) -> tuple[NDArray[np.float64], I64, I64]:
    merged = {**DEFAULT_TOLERANCES, **tolerances}
    rel = np.array([merged[c].relative for c in CLASSES], dtype=np.float64)
    absolute = np.array([merged[c].absolute_milli for c in CLASSES], dtype=np.int64)
    window = np.array([merged[c].window_s for c in CLASSES], dtype=np.int64)
    return rel, absolute, window


def tolerance_of(relative: float, absolute: int, reference: int) -> int:
    """The tolerance in thousandths for a ``reference`` quantity (as :func:`compute` has it)."""
    return int(absolute + np.floor(relative * abs(reference)))


def compute(ledger: Ledger, *, start_s: int, end_s: int, now_s: int) -> Reconciliation:
    """Reconcile ``ledger`` over ``[start_s, end_s)`` as known at ``now_s`` (seconds since
    1970, UTC); see the module for what is computed."""
    lg = ledger
    rel, absolute, window = _tolerance_arrays(lg.tolerances)
    m_idx = _index(lg.material_ids, lg.material)
    cls = lg.material_class[m_idx]
    unit = lg.material_unit[m_idx]
    s_idx = _index(lg.site_ids, lg.site)
    h_idx = _index(lg.holder_ids, lg.holder)
    own = lg.holder_in_scope[h_idx] if lg.holder.size else np.zeros(0, dtype=bool)
    signed = lg.qty * _SIGNS[lg.kind]
    n_m = max(int(lg.material_ids.size), 1)
    discrepancies: list[Discrepancy] = []

    # --- balances by (site, material); a site has one holder ------------------------------
    book = np.flatnonzero(own & (lg.t < end_s))
    key = s_idx[book] * n_m + m_idx[book]
    comp = (key << _T_BITS) | lg.t[book]
    perm = np.argsort(comp, kind="stable")  # by id within one moment: rows come by id
    order = book[perm]
    comp_sorted = comp[perm]
    g_key = comp_sorted >> _T_BITS
    starts = _group_starts(g_key)
    lengths = np.diff(np.append(starts, order.size))
    group_of_row = np.repeat(np.arange(starts.size), lengths)
    s_sorted = signed[order]
    run = np.cumsum(s_sorted)
    if starts.size:
        run -= np.repeat(np.concatenate(([0], run[starts[1:] - 1])), lengths)
    run_within = run
    t_sorted = lg.t[order]
    in_period = t_sorted >= start_s
    opening = _sums(np.where(in_period, 0, s_sorted), starts)
    inflow = _sums(np.where(in_period & (s_sorted > 0), s_sorted, 0), starts)
    outflow = _sums(np.where(in_period & (s_sorted < 0), -s_sorted, 0), starts)
    group_keys = g_key[starts]

    # negative stock: the first movement of the period that takes the book below zero
    cls_sorted = cls[order]
    negative = np.flatnonzero(in_period & (run_within < -absolute[cls_sorted]))
    first, _ = _first_per_group(negative, group_of_row[negative])
    for p in first.tolist():
        row = int(order[p])
        discrepancies.append(
            Discrepancy(
                kind=DiscrepancyKind.NEGATIVE_STOCK,
                holder_id=int(lg.holder[row]),
                site_id=int(lg.site[row]),
                material_id=int(lg.material[row]),
                at_s=int(lg.t[row]),
                movement_ids=(int(lg.id[row]),),
                expected=0,
                actual=int(run_within[p]),
            )
        )

    # counts of the period against the book at their moment
    c_s_idx = _index(lg.site_ids, lg.c_site)
    c_m_idx = _index(lg.material_ids, lg.c_material)
    c_own = (
        lg.holder_in_scope[_index(lg.holder_ids, lg.site_holder[c_s_idx])]
        if lg.c_id.size
        else np.zeros(0, dtype=bool)
    )
    counted = np.flatnonzero(c_own & (lg.c_t >= start_s) & (lg.c_t < end_s))
    counted = counted[np.lexsort((lg.c_id[counted], lg.c_t[counted]))]
    c_key = c_s_idx[counted] * n_m + c_m_idx[counted]
    c_comp = (c_key << _T_BITS) | lg.c_t[counted]
    at = np.searchsorted(comp_sorted, c_comp, side="right") - 1
    book_at = np.zeros(counted.size, dtype=np.int64)
    if order.size:
        found = (at >= 0) & (g_key[np.maximum(at, 0)] == c_key)
        book_at = np.where(found, run_within[np.maximum(at, 0)], 0)
    last_count: dict[int, tuple[int, int, int, int]] = {}
    for i, c in enumerate(counted.tolist()):
        expected = int(book_at[i])
        actual = int(lg.c_qty[c])
        m_class = int(lg.material_class[c_m_idx[c]])
        tol = tolerance_of(float(rel[m_class]), int(absolute[m_class]), expected)
        last_count[int(c_key[i])] = (int(lg.c_id[c]), int(lg.c_t[c]), actual, expected)
        if abs(actual - expected) > tol:
            discrepancies.append(
                Discrepancy(
                    kind=DiscrepancyKind.COUNT_MISMATCH,
                    holder_id=int(lg.site_holder[c_s_idx[c]]),
                    site_id=int(lg.c_site[c]),
                    material_id=int(lg.c_material[c]),
                    at_s=int(lg.c_t[c]),
                    count_id=int(lg.c_id[c]),
                    expected=expected,
                    actual=actual,
                )
            )

    balances: list[Balance] = []
    known = set(group_keys.tolist())
    for g, k in enumerate(group_keys.tolist()):
        site = int(lg.site_ids[k // n_m])
        count = last_count.get(k)
        open_, in_, out_ = int(opening[g]), int(inflow[g]), int(outflow[g])
        balances.append(
            Balance(
                holder_id=int(lg.site_holder[k // n_m]),
                site_id=site,
                material_id=int(lg.material_ids[k % n_m]),
                opening=open_,
                inflow=in_,
                outflow=out_,
                closing=open_ + in_ - out_,
                count_id=count[0] if count else None,
                counted_s=count[1] if count else None,
                counted=count[2] if count else None,
                book_at_count=count[3] if count else None,
            )
        )
    for k, count in last_count.items():
        if k not in known:  # counted, never moved: a book of nothing
            balances.append(
                Balance(
                    holder_id=int(lg.site_holder[k // n_m]),
                    site_id=int(lg.site_ids[k // n_m]),
                    material_id=int(lg.material_ids[k % n_m]),
                    opening=0,
                    inflow=0,
                    outflow=0,
                    closing=0,
                    count_id=count[0],
                    counted_s=count[1],
                    counted=count[2],
                    book_at_count=count[3],
                )
            )
    balances.sort(key=lambda b: (b.holder_id, b.site_id, b.material_id))

    discrepancies += _over_capacity(lg, book, s_idx, cls, unit, signed, start_s)
    paired, pending, found_transfers = _transfers(
        lg, own, cls, rel, absolute, window, start_s=start_s, end_s=end_s, now_s=now_s
    )
    discrepancies += found_transfers
    discrepancies += _unlicensed(lg, own, h_idx, m_idx, cls, start_s=start_s, end_s=end_s)
    discrepancies.sort(key=Discrepancy.sort_key)
    return Reconciliation(
        start_s=start_s,
        end_s=end_s,
        now_s=now_s,
        balances=balances,
        discrepancies=discrepancies,
        transfers_paired=paired,
        transfers_pending=pending,
        rows=int(np.count_nonzero(own & (lg.t >= start_s) & (lg.t < end_s))),
    )


def _over_capacity(
    lg: Ledger, book: I64, s_idx: I64, cls: I64, unit: I64, signed: I64, start_s: int
) -> list[Discrepancy]:
    """A site's stock of a class in one unit, after each movement, against its capacity."""
    n_c, n_u = len(CLASSES), len(UNITS)
    key = (s_idx[book] * n_c + cls[book]) * n_u + unit[book]
    comp = (key << _T_BITS) | lg.t[book]
    perm = np.argsort(comp, kind="stable")
    order = book[perm]
    g_key = comp[perm] >> _T_BITS
    starts = _group_starts(g_key)
    if not starts.size:
        return []
    lengths = np.diff(np.append(starts, order.size))
    run = np.cumsum(signed[order])
    before = np.concatenate(([0], run[starts[1:] - 1]))
    run -= np.repeat(before, lengths)
    caps = np.array(
        [
            lg.capacity.get(
                (int(lg.site_ids[k // (n_c * n_u)]), int(k // n_u % n_c), int(k % n_u)), 0
            )
            for k in g_key[starts].tolist()
        ],
        dtype=np.int64,
    )
    group = np.repeat(np.arange(starts.size), lengths)
    over = np.flatnonzero((lg.t[order] >= start_s) & (run > caps[group]))
    first, _ = _first_per_group(over, group[over])
    found = []
    for p in first.tolist():
        row = int(order[p])
        found.append(
            Discrepancy(
                kind=DiscrepancyKind.OVER_CAPACITY,
                holder_id=int(lg.holder[row]),
                site_id=int(lg.site[row]),
                material_id=int(lg.material[row]),
                at_s=int(lg.t[row]),
                movement_ids=(int(lg.id[row]),),
                expected=int(caps[group[p]]),
                actual=int(run[p]),
                material_class=CLASSES[int(cls[row])],
                unit=UNITS[int(unit[row])],
            )
        )
    return found


def _transfers(
    lg: Ledger,
    own: NDArray[np.bool_],
    cls: I64,
    rel: NDArray[np.float64],
    absolute: I64,
    window: I64,
    *,
    start_s: int,
    end_s: int,
    now_s: int,
) -> tuple[int, int, list[Discrepancy]]:
    """Pair the ends of transfers; the faults of those with an end of the period."""
    ends = np.flatnonzero(
        (lg.counterparty != _NONE) & (_OUT_END[lg.kind] | _IN_END[lg.kind]) & (lg.doc != _NONE)
    )
    if not ends.size:
        return 0, 0, []
    side = np.where(_OUT_END[lg.kind[ends]], 0, 1)
    sender = np.where(side == 0, lg.holder[ends], lg.counterparty[ends])
    receiver = np.where(side == 0, lg.counterparty[ends], lg.holder[ends])
    material = lg.material[ends]
    doc = lg.doc[ends]
    perm = np.lexsort((lg.id[ends], lg.t[ends], side, doc, material, receiver, sender))
    rows = ends[perm]
    side, sender, receiver, material, doc = (
        side[perm],
        sender[perm],
        receiver[perm],
        material[perm],
        doc[perm],
    )
    change = np.ones(rows.size, dtype=bool)
    change[1:] = (
        (sender[1:] != sender[:-1])
        | (receiver[1:] != receiver[:-1])
        | (material[1:] != material[:-1])
        | (doc[1:] != doc[:-1])
    )
    gstart = np.flatnonzero(change)
    gid = np.cumsum(change) - 1
    n_out = np.bincount(gid, weights=(side == 0), minlength=gstart.size).astype(np.int64)
    n_all = np.diff(np.append(gstart, rows.size))
    n_in = n_all - n_out
    pos = np.arange(rows.size) - gstart[gid]
    rank = np.where(side == 0, pos, pos - n_out[gid])
    paired = np.where(side == 0, rank < n_in[gid], rank < n_out[gid])
    t = lg.t[rows]
    period = (t >= start_s) & (t < end_s)
    mine = own[rows]
    found: list[Discrepancy] = []
    # pairs: each out-end with its in-end
    outs = np.flatnonzero((side == 0) & paired)
    partner = gstart[gid[outs]] + n_out[gid[outs]] + rank[outs]
    # Only the pairs with an end of the period and of the reader's holders count; their
    # faults are found for all pairs at once, objects made for the faulty ones alone.
    out_counts = period[outs] & mine[outs]
    in_counts = period[partner] & mine[partner]
    keep = out_counts | in_counts
    pair_count = int(np.count_nonzero(out_counts[keep]) + np.count_nonzero(in_counts[keep]))
    out_rows, in_rows = rows[outs], rows[partner]
    c = cls[out_rows]
    q_out, q_in = lg.qty[out_rows], lg.qty[in_rows]
    allowed = absolute[c] + np.floor(rel[c] * np.abs(q_out)).astype(np.int64)
    bad_quantity = np.abs(q_out - q_in) > allowed
    gap = np.abs(lg.t[in_rows] - lg.t[out_rows])
    bad_time = gap > window[c]
    for k in np.flatnonzero(keep & (bad_quantity | bad_time)).tolist():
        out_row, in_row = int(out_rows[k]), int(in_rows[k])
        by = out_row if out_counts[k] else in_row
        common = Discrepancy(
            kind=DiscrepancyKind.TRANSFER_QUANTITY,
            holder_id=int(lg.holder[by]),
            site_id=int(lg.site[by]),
            material_id=int(lg.material[out_row]),
            at_s=int(lg.t[out_row]),
            movement_ids=(int(lg.id[out_row]), int(lg.id[in_row])),
            counterparty_id=int(lg.counterparty[by]),
        )
        if bad_quantity[k]:
            found.append(replace(common, expected=int(q_out[k]), actual=int(q_in[k])))
        if bad_time[k]:
            found.append(
                replace(
                    common,
                    kind=DiscrepancyKind.TRANSFER_TIME,
                    expected=int(window[c[k]]),
                    actual=int(gap[k]),
                )
            )
    pending = 0
    for p in np.flatnonzero(~paired & period & mine).tolist():
        row = int(rows[p])
        if now_s - int(lg.t[row]) <= int(window[int(cls[row])]):
            pending += 1
            continue
        found.append(
            Discrepancy(
                kind=DiscrepancyKind.TRANSFER_UNMATCHED,
                holder_id=int(lg.holder[row]),
                site_id=int(lg.site[row]),
                material_id=int(lg.material[row]),
                at_s=int(lg.t[row]),
                movement_ids=(int(lg.id[row]),),
                counterparty_id=int(lg.counterparty[row]),
                actual=int(lg.qty[row]),
            )
        )
    return pair_count, pending, found


def _unlicensed(
    lg: Ledger,
    own: NDArray[np.bool_],
    h_idx: I64,
    m_idx: I64,
    cls: I64,
    *,
    start_s: int,
    end_s: int,
) -> list[Discrepancy]:
    period = np.flatnonzero(own & (lg.t >= start_s) & (lg.t < end_s))
    h = h_idx[period]
    covered = (lg.holder_classes[h] >> cls[period]) & 1
    bad = period[
        (covered == 0) | (lg.t[period] < lg.holder_from[h]) | (lg.t[period] >= lg.holder_until[h])
    ]
    if not bad.size:
        return []
    key = h_idx[bad] * max(int(lg.material_ids.size), 1) + m_idx[bad]
    bad = bad[np.lexsort((lg.id[bad], lg.t[bad], key))]
    key = h_idx[bad] * max(int(lg.material_ids.size), 1) + m_idx[bad]
    first, counts = _first_per_group(np.arange(bad.size), key)
    return [
        Discrepancy(
            kind=DiscrepancyKind.UNLICENSED,
            holder_id=int(lg.holder[bad[p]]),
            site_id=int(lg.site[bad[p]]),
            material_id=int(lg.material[bad[p]]),
            at_s=int(lg.t[bad[p]]),
            movement_ids=(int(lg.id[bad[p]]),),
            rows=int(n),
        )
        for p, n in zip(first.tolist(), counts.tolist(), strict=True)
    ]


# --- reading the ledger ------------------------------------------------------------------


def seconds(moment: datetime) -> int:
    """Whole seconds since 1970 (UTC) of an aware moment."""
    return int(moment.astimezone(UTC).timestamp() // 1)


def day_start_s(day: date, zone: ZoneInfo) -> int:
    return seconds(datetime.combine(day, time(0), tzinfo=zone))


def tolerances(session: Session) -> dict[MaterialClass, ClassTolerance]:
    """The county's tolerances: the defaults, overridden by its rows."""
    found = dict(DEFAULT_TOLERANCES)
    for row in session.scalars(select(Tolerance)):
        found[row.material_class] = ClassTolerance(
            row.relative, row.absolute_milli, row.window_hours
        )
    return found


def _array(values: Sequence[Any]) -> I64:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _int_columns(conn: Connection, query: Select[Any], width: int) -> list[I64]:
    """The integer columns of ``query``'s rows, read through the driver's own cursor (a
    million rows as plain tuples, not result rows) into one array."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    rows = conn.exec_driver_sql(str(compiled), params).cursor
    assert rows is not None
    flat = np.fromiter(itertools.chain.from_iterable(rows.fetchall()), dtype=np.int64)
    block = flat.reshape(-1, width)
    return [np.ascontiguousarray(block[:, i]) for i in range(width)]


def load(
    session: Session,
    *,
    scope: Scope,
    end_s: int,
    zone: ZoneInfo,
    holder_ids: Sequence[int] | None = None,
) -> Ledger:
    """Read the effective ledger before ``end_s`` of the holders in ``scope`` (or of
    ``holder_ids`` among them), with every end of a transfer whenever recorded (it may pair
    with an end of the period), those of other holders that name them included.

    Read as the system (PostgreSQL's row-level security would hide the other ends, which lie
    in other areas): the holders in ``scope`` are chosen by their paths here, and the other
    holders' rows are only paired with, never reported.
    """
    with as_system(session):
        return _load(session, scope=scope, end_s=end_s, zone=zone, holder_ids=holder_ids)


def _load(
    session: Session,
    *,
    scope: Scope,
    end_s: int,
    zone: ZoneInfo,
    holder_ids: Sequence[int] | None = None,
) -> Ledger:
    """Read the effective ledger before ``end_s`` of the holders in ``scope`` (or of
    ``holder_ids`` among them), with every end of a transfer whenever recorded (it may pair
    with an end of the period), those of other holders that name them included."""
    tol = tolerances(session)
    holders = select(Holder.id).where(scope.clause(Holder.area_path))
    if holder_ids is not None:
        holders = holders.where(Holder.id.in_(list(holder_ids)))
    mine = _array(sorted(session.scalars(holders)))
    # Every holder's rows (the whole tree): no filter, a plain scan in id order; SQLite would
    # otherwise look each holder's rows up by index and sort them, three times slower.
    every = holder_ids is None and whole_tree(session, scope)
    of_mine = (
        true()
        if every
        else (Movement.holder_id.in_(holders) | Movement.counterparty_id.in_(holders))
    )
    conn = session.connection()
    kind_code = case({k.value: i for i, k in enumerate(KINDS)}, value=Movement.kind)
    query = (
        select(
            Movement.id,
            Movement.holder_id,
            Movement.site_id,
            Movement.material_id,
            kind_code,
            Movement.quantity_milli,
            Movement.occurred_s,
            func.coalesce(Movement.counterparty_id, _NONE),
            case((Movement.void, 1), else_=0),
        )
        .where(
            # Every end of a transfer, whenever recorded, may pair with an end of the period.
            (Movement.occurred_s < end_s) | Movement.counterparty_id.is_not(None),
            of_mine,
        )
        .order_by(Movement.id)
    )
    m_id, m_holder, m_site, m_material, m_kind, m_qty, m_t, m_cp, m_void = _int_columns(
        conn, query, 9
    )
    superseded = _array(
        list(session.scalars(select(Movement.corrects_id).where(Movement.corrects_id.is_not(None))))
    )
    keep = (m_void == 0) & ~np.isin(m_id, superseded)
    m_id, m_holder, m_site, m_material, m_kind, m_qty, m_t, m_cp = (
        a[keep] for a in (m_id, m_holder, m_site, m_material, m_kind, m_qty, m_t, m_cp)
    )
    doc = np.full(m_id.size, _NONE, dtype=np.int64)
    ends = np.flatnonzero((m_cp != _NONE) & (_OUT_END[m_kind] | _IN_END[m_kind]))
    if ends.size:
        # The document numbers of the rows that name a counterparty, in one read by id.
        named = session.execute(
            select(Movement.id, Movement.document_no)
            .where(
                Movement.counterparty_id.is_not(None),
                of_mine,
            )
            .order_by(Movement.id)
        ).all()
        named_ids = np.fromiter((r[0] for r in named), dtype=np.int64, count=len(named))
        names = np.array([r[1] for r in named], dtype=str)
        _, codes = np.unique(names, return_inverse=True)
        at = np.searchsorted(named_ids, m_id[ends])
        doc[ends] = codes.astype(np.int64)[at]

    counts = (
        select(
            StockCount.id,
            StockCount.site_id,
            StockCount.material_id,
            StockCount.counted_s,
            StockCount.quantity_milli,
            case((StockCount.void, 1), else_=0),
        )
        .where(StockCount.counted_s < end_s, StockCount.holder_id.in_(holders))
        .order_by(StockCount.id)
    )
    c_id, c_site, c_material, c_t, c_qty, c_void = _int_columns(conn, counts, 6)
    c_superseded = _array(
        list(
            session.scalars(
                select(StockCount.corrects_id).where(StockCount.corrects_id.is_not(None))
            )
        )
    )
    c_keep = (c_void == 0) & ~np.isin(c_id, c_superseded)
    c_id, c_site, c_material, c_t, c_qty = (
        a[c_keep] for a in (c_id, c_site, c_material, c_t, c_qty)
    )

    materials = session.execute(
        select(Material.id, Material.material_class, Material.base_unit).order_by(Material.id)
    ).all()
    sites = session.execute(select(Site.id, Site.holder_id).order_by(Site.id)).all()
    holder_rows = session.execute(
        select(
            Holder.id,
            Holder.licence_classes,
            Holder.licence_from,
            Holder.licence_until,
            Holder.deregistered_at,
        ).order_by(Holder.id)
    ).all()
    capacity = {
        (site_id, CLASSES.index(MaterialClass(c)), UNITS.index(BaseUnit(u))): int(q)
        for site_id, c, u, q in session.execute(
            select(
                SiteCapacity.site_id,
                SiteCapacity.material_class,
                SiteCapacity.unit,
                SiteCapacity.capacity_milli,
            )
        )
    }
    holder_ids_all = _array([h.id for h in holder_rows])
    return Ledger(
        id=m_id,
        holder=m_holder,
        site=m_site,
        material=m_material,
        kind=m_kind,
        qty=m_qty,
        t=m_t,
        counterparty=m_cp,
        doc=doc,
        c_id=c_id,
        c_site=c_site,
        c_material=c_material,
        c_t=c_t,
        c_qty=c_qty,
        material_ids=_array([m.id for m in materials]),
        material_class=_array([CLASSES.index(MaterialClass(m.material_class)) for m in materials]),
        material_unit=_array([UNITS.index(BaseUnit(m.base_unit)) for m in materials]),
        site_ids=_array([s.id for s in sites]),
        site_holder=_array([s.holder_id for s in sites]),
        holder_ids=holder_ids_all,
        holder_classes=_array([class_mask(h.licence_classes) for h in holder_rows]),
        holder_from=_array(
            [
                _ALWAYS if h.licence_from is None else day_start_s(h.licence_from, zone)
                for h in holder_rows
            ]
        ),
        holder_until=_array(
            [until_s(h.licence_until, h.deregistered_at, zone) for h in holder_rows]
        ),
        holder_in_scope=np.isin(holder_ids_all, mine),
        capacity=capacity,
        tolerances=tol,
    )


def class_mask(classes: Sequence[str] | None) -> int:
    mask = 0
    for value in classes or ():
        try:
            mask |= 1 << CLASSES.index(MaterialClass(value))
        except ValueError:
            continue
    return mask


def until_s(until: date | None, deregistered: datetime | None, zone: ZoneInfo) -> int:
    """The first second the holder may no longer hold materials: the day after its licence
    ends, or when it was deregistered, the earlier."""
    bound = _NEVER if until is None else day_start_s(until + timedelta(days=1), zone)
    if deregistered is not None:
        bound = min(bound, seconds(deregistered))
    return bound


def reconcile(
    session: Session,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    now: datetime,
    zone: ZoneInfo,
    holder_ids: Sequence[int] | None = None,
) -> Reconciliation:
    """Reconcile the ledger of the holders in ``scope`` over ``[start, end)`` as known at
    ``now``: balances per holder, site and material and every discrepancy (see the module)."""
    start_s, end_s = seconds(start), seconds(end)
    ledger = load(session, scope=scope, end_s=end_s, zone=zone, holder_ids=holder_ids)
    return compute(ledger, start_s=start_s, end_s=end_s, now_s=seconds(now))
