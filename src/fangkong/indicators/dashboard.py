"""What the dashboard shows: the traffic-light grid of areas × indicators against their
targets, each area's share of guideline items met, and trends month by month.

Share of guideline items met (H: items of the national construction guideline met ≥ 90%):
over the indicators declared ``guideline`` that apply to the area's level and have both a
figure and a target, met ÷ (met + near + missed); None when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.scoping import Scope
from fangkong.indicators import catalogue, store, targets
from fangkong.indicators.catalogue import IndicatorDecl
from fangkong.indicators.compute import Figure
from fangkong.indicators.periods import Period, last_months

#: The share of guideline items an area must meet (H).
GUIDELINE_SHARE = 0.9


@dataclass(frozen=True)
class Cell:
    indicator_id: str
    value: float | None
    numerator: float | None
    denominator: float | None
    target: targets.Effective
    status: targets.Status


@dataclass
class Row:
    area_id: int
    code: str
    path: str
    level: str
    cells: dict[str, Cell] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {"met": 0, "near": 0, "missed": 0, "none": 0}
        for cell in self.cells.values():
            decl = catalogue.get(cell.indicator_id)
            if decl is not None and decl.guideline:
                out[cell.status] += 1
        return out

    @property
    def share_met(self) -> float | None:
        c = self.counts()
        judged = c["met"] + c["near"] + c["missed"]
        return c["met"] / judged if judged else None

    @property
    def meets_guideline(self) -> bool | None:
        share = self.share_met
        return None if share is None else share >= GUIDELINE_SHARE


def rows_of(
    session: Session, figures: list[Figure], *, year: int, decls: list[IndicatorDecl]
) -> list[Row]:
    """The grid's rows: one per area of ``figures``, each cell against its target."""
    settings = targets.settings_of(session, year=year)
    by_id = {d.id: d for d in decls}
    codes = {f.area_id: f.area_code for f in figures}
    rows: dict[int, Row] = {}
    for f in figures:
        decl = by_id.get(f.indicator_id)
        if decl is None:
            continue
        row = rows.setdefault(f.area_id, Row(f.area_id, f.area_code, f.area_path, f.level))
        target = targets.effective(decl, f.area_path, settings, codes)
        row.cells[decl.id] = Cell(
            decl.id,
            f.value,
            f.numerator,
            f.denominator,
            target,
            targets.status(decl, f.value, target.value),
        )
    return sorted(rows.values(), key=lambda r: r.path)


def grid(
    session: Session,
    *,
    period: Period,
    scope: Scope,
    now: datetime,
    zone: ZoneInfo,
    root: Area | None = None,
) -> list[Row]:
    """The rows of ``root`` (the top of ``scope`` by default) and of the areas just below it."""
    figures = store.figures(session, period=period, scope=scope, now=now, zone=zone)
    rows = rows_of(session, figures, year=period.year, decls=catalogue.all_indicators())
    if not rows:
        return []
    top = (
        root.path if root is not None else min(rows, key=lambda r: (r.path.count("/"), r.path)).path
    )
    depth = top.count("/")
    return [
        r
        for r in rows
        if r.path == top or (r.path.startswith(top) and r.path.count("/") == depth + 1)
    ]


@dataclass(frozen=True)
class Point:
    period: str
    value: float | None
    target: float | None
    status: targets.Status


def trend(
    session: Session,
    *,
    decl: IndicatorDecl,
    area: Area,
    end: Period,
    months: int,
    scope: Scope,
    now: datetime,
    zone: ZoneInfo,
) -> list[Point]:
    """The indicator's figure in ``area`` month by month, ``months`` months up to ``end``."""
    out: list[Point] = []
    codes = {area.id: area.code}
    for month in last_months(end, months):
        figures = store.figures(session, period=month, scope=scope, now=now, zone=zone)
        figure = next(
            (f for f in figures if f.area_id == area.id and f.indicator_id == decl.id), None
        )
        settings = targets.settings_of(session, year=month.year, indicator_id=decl.id)
        target = targets.effective(decl, area.path, settings, codes)
        value = figure.value if figure is not None else None
        out.append(Point(month.key, value, target.value, targets.status(decl, value, target.value)))
    return out
