"""Indicators of the closed loop per area and period, computed from the cases themselves.

The cohort of an indicator is the set C of cases of one type found (opened) in the period
[start, end) in the area's subtree, looked at as of ``now``. Only non-personal columns are read:
the indicators work on anonymised data and export nothing personal.

Sources: "化解率 = resolved ÷ found, within the deadline" (glossary); the hazard loop of the
Shengzhou plan (S: reported hazard resolution rate 88.73%); disputes found / resolved of the
Yuncheng report (Y: 2,125 / 1,989, 93.6%). Rates of one type's own loop (a dispute's agreement
and follow-up rates) are declared with the type (``rates``, with their source) and computed
here like any other: the engine knows no type by name.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import registry
from fangkong.cases.declaration import RateDecl
from fangkong.cases.models import Case, CaseEvent, EventKind


@dataclass(frozen=True)
class Indicators:
    """Indicators of one case type in one area and period.

    Attributes
    ----------
    found : int
        :math:`|C|`, cases opened in the period.
    resolved : int
        :math:`|R|`, R = cases of C in a resolved closing state as of ``now``.
    resolved_within_deadline : int
        :math:`|R \\setminus L|`, L = cases of C that missed a deadline (late: a state's due
        time passed before the case left it, or the tick flagged it overdue).
    resolution_rate : float or None
        :math:`|R \\setminus L| / |C|` (化解率, resolved within the deadline ÷ found);
        None when :math:`|C| = 0`.
    overdue : int
        :math:`|L \\cup O|`, O = open cases of C whose current due time is before ``now``.
    median_hours_to_close : float or None
        Median of closed_at − opened_at in hours over the cases of C closed as of ``now``.
    reopen_rate : float or None
        Cases of C reopened at least once ÷ cases of C closed at least once.
    rates : dict of str to float or None
        The rates the case type declares (:class:`~fangkong.cases.declaration.RateDecl`), by
        name: with A = cases of C that took one of the rate's ``of`` transitions by ``now``
        and H = cases of A that took one of its ``hit`` transitions,
        :math:`|H| / |A|`; with ``due_days``, :math:`|H| / |D \\cup H|`, D = cases of A whose
        first ``of`` transition lies ``due_days`` or more before ``now``. None when the
        denominator is empty. Disputes declare the agreement rate (调解成功率) and the
        follow-up rate (回访率, due 30 days after the agreement).
    """

    case_type: str
    area_code: str
    start: datetime
    end: datetime
    found: int
    resolved: int
    resolved_within_deadline: int
    resolution_rate: float | None
    overdue: int
    median_hours_to_close: float | None
    reopen_rate: float | None
    rates: dict[str, float | None] = field(default_factory=dict)


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def compute(
    session: Session, *, case_type: str, area: Area, start: datetime, end: datetime, now: datetime
) -> Indicators:
    """The indicators of ``case_type`` in ``area`` (and below) for cases found in [start, end).

    Parameters
    ----------
    session : Session
    case_type : str
        A declared case type.
    area : Area
        The area; its whole subtree counts.
    start, end : datetime
        Aware bounds of the period in which cases were found (opened); end excluded.
    now : datetime
        The moment at which states and deadlines are read.

    Returns
    -------
    Indicators
        Counts and rates as defined on :class:`Indicators`. One query for the cohort and,
        when the type declares rates, one for the transitions they name: O(|C| + events of C).
    """
    decl = registry.get(case_type)
    cohort_filter = (
        Case.case_type == decl.name,
        Case.opened_at >= start,
        Case.opened_at < end,
        Case.area_path.startswith(area.path, autoescape=True),
    )
    rows = session.execute(
        select(
            Case.id,
            Case.opened_at,
            Case.closed_at,
            Case.resolved_at,
            Case.due_at,
            Case.late,
            Case.reopen_count,
        ).where(*cohort_filter)
    ).all()
    found = len(rows)
    resolved = [r for r in rows if r.resolved_at is not None and r.resolved_at <= now]
    on_time = [r for r in resolved if not r.late]
    overdue = [
        r
        for r in rows
        if r.late or (r.closed_at is None and r.due_at is not None and r.due_at < now)
    ]
    closed = [r for r in rows if r.closed_at is not None and r.closed_at <= now]
    hours = [(r.closed_at - r.opened_at).total_seconds() / 3600 for r in closed]
    ever_closed = [r for r in rows if r.closed_at is not None or r.reopen_count > 0]
    reopened = [r for r in ever_closed if r.reopen_count > 0]
    rates = _declared_rates(session, decl.rates, cohort_filter, now)
    return Indicators(
        case_type=decl.name,
        area_code=area.code,
        start=start,
        end=end,
        found=found,
        resolved=len(resolved),
        resolved_within_deadline=len(on_time),
        resolution_rate=_rate(len(on_time), found),
        overdue=len(overdue),
        median_hours_to_close=statistics.median(hours) if hours else None,
        reopen_rate=_rate(len(reopened), len(ever_closed)),
        rates=rates,
    )


def _declared_rates(
    session: Session,
    rates: tuple[RateDecl, ...],
    cohort: tuple[ColumnElement[bool], ...],
    now: datetime,
) -> dict[str, float | None]:
    """The type's declared rates over the cohort (see :class:`Indicators`): one query for the
    first time each case took each transition the rates name, O(events of C)."""
    if not rates:
        return {}
    wanted = sorted({name for rate in rates for name in (*rate.of, *rate.hit)})
    first: dict[int, dict[str, datetime]] = defaultdict(dict)
    for case_id, name, at in session.execute(
        select(CaseEvent.case_id, CaseEvent.transition, CaseEvent.at)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            *cohort,
            CaseEvent.kind == EventKind.TRANSITION,
            CaseEvent.transition.in_(wanted),
            CaseEvent.at <= now,
        )
        .order_by(CaseEvent.id)
    ):
        if name is not None:
            first[case_id].setdefault(name, at)
    out: dict[str, float | None] = {}
    for rate in rates:
        took = {
            c: min(names[n] for n in rate.of if n in names)
            for c, names in first.items()
            if any(n in names for n in rate.of)
        }
        hit = {c for c in took if any(n in first[c] for n in rate.hit)}
        if rate.due_days is None:
            out[rate.name] = _rate(len(hit), len(took))
        else:
            due = {c for c, at in took.items() if at + timedelta(days=rate.due_days) <= now}
            out[rate.name] = _rate(len(hit), len(due | hit))
    return out


def by_child_area(
    session: Session, *, case_type: str, parent: Area, start: datetime, end: datetime, now: datetime
) -> list[Indicators]:
    """:func:`compute` for ``parent`` and then for each of its child areas."""
    children = list(
        session.scalars(select(Area).where(Area.parent_id == parent.id).order_by(Area.code))
    )
    return [
        compute(session, case_type=case_type, area=a, start=start, end=end, now=now)
        for a in [parent, *children]
    ]
