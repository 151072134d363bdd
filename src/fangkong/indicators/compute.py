"""The figures of the catalogue per area and period: every declared indicator for every area
of the reader's scope at the levels it applies to.

A ratio is ``scale × numerator ÷ denominator`` of two metrics of
:mod:`fangkong.indicators.sources` rolled up over the area's subtree (None when the
denominator is 0); a count is its metric; a manual input is the latest value entered for the
area and the period (for a year: for its latest month that has one), never rolled up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core.scoping import Scope
from fangkong.indicators import catalogue, sources
from fangkong.indicators.catalogue import Count, IndicatorDecl, Ratio
from fangkong.indicators.models import IndicatorInput
from fangkong.indicators.periods import Period


@dataclass(frozen=True)
class Figure:
    """One indicator's figure in one area (its subtree) for one period."""

    indicator_id: str
    area_id: int
    area_code: str
    area_path: str
    level: str
    value: float | None
    numerator: float | None = None
    denominator: float | None = None


def manual_values(
    session: Session, *, period: Period, scope: Scope
) -> dict[tuple[str, int], float]:
    """The latest input per (indicator, area id) for ``period`` (a year: its latest month
    with one) in ``scope``."""
    keys = [period.key] if period.month is not None else [p.key for p in period.months()]
    rows = session.execute(
        select(IndicatorInput.indicator_id, IndicatorInput.area_id, IndicatorInput.value)
        .where(scope.clause(IndicatorInput.area_path), IndicatorInput.period.in_(keys))
        .order_by(IndicatorInput.period, IndicatorInput.id)
    ).all()
    return {(ind, area): float(value) for ind, area, value in rows}


def compute(
    session: Session,
    *,
    period: Period,
    scope: Scope,
    now: datetime,
    zone: ZoneInfo,
    indicators: list[IndicatorDecl] | None = None,
    tree: sources.Tree | None = None,
) -> list[Figure]:
    """Every figure of ``indicators`` (the whole catalogue) for ``period`` in ``scope``,
    areas top down by path, indicators in catalogue order."""
    decls = indicators if indicators is not None else catalogue.all_indicators()
    tree = tree if tree is not None else sources.load_tree(session, scope=scope)
    if not len(tree):
        return []
    wanted: set[str] = set()
    for decl in decls:
        if isinstance(decl.formula, Ratio):
            wanted |= {decl.formula.numerator, decl.formula.denominator}
        elif isinstance(decl.formula, Count):
            wanted.add(decl.formula.metric)
    ctx = sources.Context(
        session=session,
        tree=tree,
        scope=scope,
        start=period.start(zone),
        end=period.end(zone),
        now=now,
        zone=zone,
    )
    metrics = sources.load(ctx, wanted)
    manual = (
        manual_values(session, period=period, scope=scope) if any(d.manual for d in decls) else {}
    )
    out: list[Figure] = []
    for p in range(len(tree)):
        level = tree.levels[p]
        area_id = int(tree.ids[p])
        for decl in decls:
            if level not in {lv.value for lv in decl.levels}:
                continue
            num = den = value = None
            f = decl.formula
            if isinstance(f, Ratio):
                num = float(metrics[f.numerator][p])
                den = float(metrics[f.denominator][p])
                value = f.scale * num / den if den else None
            elif isinstance(f, Count):
                value = float(metrics[f.metric][p])
            else:
                value = manual.get((decl.id, area_id))
            out.append(
                Figure(
                    indicator_id=decl.id,
                    area_id=area_id,
                    area_code=tree.codes[p],
                    area_path=tree.paths[p],
                    level=level,
                    value=None if value is None or not np.isfinite(value) else value,
                    numerator=num,
                    denominator=den,
                )
            )
    return out
