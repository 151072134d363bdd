"""Indicators of the closed loop per area and period, computed from the cases themselves.

The cohort of an indicator is the set C of cases of one type found (opened) in the period
[start, end) in the area's subtree, looked at as of ``now``. Only non-personal columns are read:
the indicators work on anonymised data and export nothing personal.

Sources: "化解率 = resolved ÷ found, within the deadline" (glossary); the hazard loop of the
Shengzhou plan (S: reported hazard resolution rate 88.73%); disputes found / resolved of the
Yuncheng report (Y: 2,125 / 1,989, 93.6%).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.cases import registry
from fangkong.cases.case_types.dispute import FOLLOW_UP_DAYS
from fangkong.cases.models import Case, CaseEvent, EventKind

AGREEMENT = "record_agreement"
NO_AGREEMENT = "record_no_agreement"
FOLLOW_UPS = ("follow_up", "follow_up_broken")


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
    agreement_rate : float or None
        Disputes only: cases of C that reached an agreement ÷ cases of C whose mediation ended
        with or without one (调解成功率).
    follow_up_rate : float or None
        Disputes only: agreed cases of C followed up ÷ agreed cases of C whose follow-up was
        due (agreement + 30 days ≤ now) or done (回访率).
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
    agreement_rate: float | None = None
    follow_up_rate: float | None = None


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
        for disputes, one for its mediation events: O(|C| + events of C).
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
    agreement_rate = follow_up_rate = None
    if decl.name == "dispute":
        events: dict[int, dict[str, datetime]] = defaultdict(dict)
        for case_id, name, at in session.execute(
            select(CaseEvent.case_id, CaseEvent.transition, CaseEvent.at)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(
                *cohort_filter,
                CaseEvent.kind == EventKind.TRANSITION,
                CaseEvent.transition.in_((AGREEMENT, NO_AGREEMENT, *FOLLOW_UPS)),
                CaseEvent.at <= now,
            )
            .order_by(CaseEvent.id)
        ):
            if name is not None:
                events[case_id].setdefault(name, at)
        agreed = {c for c, names in events.items() if AGREEMENT in names}
        ended = {c for c, names in events.items() if AGREEMENT in names or NO_AGREEMENT in names}
        followed = {c for c in agreed if any(n in events[c] for n in FOLLOW_UPS)}
        due = {
            c for c in agreed if events[c][AGREEMENT] + timedelta(days=FOLLOW_UP_DAYS) <= now
        } | followed
        agreement_rate = _rate(len(agreed), len(ended))
        follow_up_rate = _rate(len(followed), len(due))
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
        agreement_rate=agreement_rate,
        follow_up_rate=follow_up_rate,
    )


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
