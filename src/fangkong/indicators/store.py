"""The store of computed figures: what the dashboard, the trends, the exports and the reports
read. A period's figures are computed once and kept; those computed before the period ended
are computed again when read more than :data:`REFRESH_S` later (the month still runs), and
``refresh`` computes them again at once. Figures of the devices and facilities are the state
of the registers when computed: the store keeps each month's as it was.

Reading stores what it computed for the reader's areas; a figure of an area is the same
whichever reader's scope it was computed in (an area's subtree is within every scope that
holds the area), so readers share the store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fangkong.core.scoping import Scope
from fangkong.indicators import catalogue, sources
from fangkong.indicators.compute import Figure, compute
from fangkong.indicators.models import IndicatorValue
from fangkong.indicators.periods import Period

#: A period that had not ended when its figures were computed is computed again when they
#: are older than this (seconds).
REFRESH_S = 600


def save(session: Session, *, period: Period, figures: list[Figure], now: datetime) -> int:
    """Replace the stored figures of ``period`` for the areas in ``figures``."""
    area_ids = sorted({f.area_id for f in figures})
    for start in range(0, len(area_ids), 500):
        session.execute(
            delete(IndicatorValue).where(
                IndicatorValue.period == period.key,
                IndicatorValue.area_id.in_(area_ids[start : start + 500]),
            )
        )
    rows = [
        {
            "indicator_id": f.indicator_id,
            "area_id": f.area_id,
            "area_path": f.area_path,
            "period": period.key,
            "value": f.value,
            "numerator": f.numerator,
            "denominator": f.denominator,
            "computed_at": now,
        }
        for f in figures
    ]
    # The table's INSERT, not the ORM's bulk insert: that one splits the rows by which
    # values are None (a statement for every run of alike rows: hundreds for a county).
    table = cast(Table, IndicatorValue.__table__)
    for start in range(0, len(rows), 5000):
        session.execute(insert(table), rows[start : start + 5000])
    return len(rows)


def stored(session: Session, *, period: Period, scope: Scope) -> list[Figure]:
    """The stored figures of ``period`` in ``scope`` (areas by path)."""
    from fangkong.areas.models import Area

    rows = session.execute(
        select(
            IndicatorValue.indicator_id,
            IndicatorValue.area_id,
            Area.code,
            IndicatorValue.area_path,
            Area.level,
            IndicatorValue.value,
            IndicatorValue.numerator,
            IndicatorValue.denominator,
        )
        .join(Area, Area.id == IndicatorValue.area_id)
        .where(IndicatorValue.period == period.key, scope.clause(IndicatorValue.area_path))
        .order_by(IndicatorValue.area_path, IndicatorValue.id)
    ).all()
    known = {d.id for d in catalogue.all_indicators()}
    return [
        Figure(
            indicator_id=r[0],
            area_id=r[1],
            area_code=r[2],
            area_path=r[3],
            level=str(getattr(r[4], "value", r[4])),
            value=r[5],
            numerator=r[6],
            denominator=r[7],
        )
        for r in rows
        if r[0] in known
    ]


def _fresh(
    session: Session, *, period: Period, scope: Scope, now: datetime, zone: ZoneInfo
) -> bool:
    oldest = session.scalar(
        select(func.min(IndicatorValue.computed_at)).where(
            IndicatorValue.period == period.key, scope.clause(IndicatorValue.area_path)
        )
    )
    if oldest is None:
        return False
    if oldest >= period.end(zone):
        return True
    return now - oldest < timedelta(seconds=REFRESH_S)


def figures(
    session: Session,
    *,
    period: Period,
    scope: Scope,
    now: datetime,
    zone: ZoneInfo,
    refresh: bool = False,
) -> list[Figure]:
    """The figures of ``period`` in ``scope``: from the store when fresh (see the module),
    else computed and stored. Two readers computing at once: one stores, the other's
    figures are answered without being stored."""
    if not refresh and _fresh(session, period=period, scope=scope, now=now, zone=zone):
        found = stored(session, period=period, scope=scope)
        if found:
            return found
    tree = sources.load_tree(session, scope=scope)
    computed = compute(session, period=period, scope=scope, now=now, zone=zone, tree=tree)
    try:
        with session.begin_nested():
            save(session, period=period, figures=computed, now=now)
    except IntegrityError:
        pass
    return computed
