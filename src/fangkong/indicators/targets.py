"""Targets per area and year, with their history, and how a figure stands against one.

The target of an indicator for an area and a year is the latest setting for that year made
for the area itself or, failing that, its nearest ancestor that has one, then a setting for
every area (``area_id`` None), and failing all, the declaration's default with its source.
Settings are rows that are never changed: the history is every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.scoping import Scope, whole_tree
from fangkong.indicators import catalogue
from fangkong.indicators.catalogue import IndicatorDecl
from fangkong.indicators.models import IndicatorTarget
from fangkong.indicators.periods import FIRST_YEAR, LAST_YEAR

Status = Literal["met", "near", "missed", "none"]
#: A figure within this share of its target (short of it) is "near" (amber), not "missed".
NEAR = 0.1
NOTE_MAX = 255


@dataclass(frozen=True)
class Effective:
    """The target that applies: its value (None: no target), where it was set (``default``:
    the declaration; ``all``: for every area; else the code of the area it was set for) and
    its note or the declaration's citation."""

    value: float | None
    origin: str
    note: str


def get_or_raise(indicator_id: str) -> IndicatorDecl:
    decl = catalogue.get(indicator_id)
    if decl is None:
        raise NotFound(
            key="error.indicators.unknown", params={"id": indicator_id[:64]}, field="indicator"
        )
    return decl


def status(decl: IndicatorDecl, value: float | None, target: float | None) -> Status:
    """``met`` when the value reaches the target in the indicator's direction, ``near`` when
    it is short of it by at most :data:`NEAR` of the target, else ``missed``; ``none``
    without a value or a target."""
    if value is None or target is None or not math.isfinite(value):
        return "none"
    if decl.direction == "higher":
        if value >= target - 1e-12:
            return "met"
        return "near" if value >= target * (1 - NEAR) else "missed"
    if value <= target + 1e-12:
        return "met"
    return "near" if target > 0 and value <= target * (1 + NEAR) else "missed"


def _check_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(
            key="error.indicators.year",
            params={"first": FIRST_YEAR, "last": LAST_YEAR},
            field="year",
        )
    return year


def settings_of(
    session: Session, *, year: int, indicator_id: str | None = None
) -> dict[tuple[str, int | None], IndicatorTarget]:
    """The latest setting per (indicator, area id or None) for ``year``."""
    stmt = select(IndicatorTarget).where(IndicatorTarget.year == year)
    if indicator_id is not None:
        stmt = stmt.where(IndicatorTarget.indicator_id == indicator_id)
    latest: dict[tuple[str, int | None], IndicatorTarget] = {}
    for row in session.scalars(stmt.order_by(IndicatorTarget.id)):
        latest[(row.indicator_id, row.area_id)] = row
    return latest


def effective(
    decl: IndicatorDecl,
    path: str,
    settings: dict[tuple[str, int | None], IndicatorTarget],
    codes: dict[int, str],
) -> Effective:
    """The target of ``decl`` for the area at ``path`` among ``settings`` (of one year)."""
    ids = [int(x) for x in path.strip("/").split("/") if x]
    for area_id in reversed(ids):
        row = settings.get((decl.id, area_id))
        if row is not None:
            return Effective(row.value, codes.get(area_id, str(area_id)), row.note)
    row = settings.get((decl.id, None))
    if row is not None:
        return Effective(row.value, "all", row.note)
    t = decl.target
    note = t.cite if not t.sources else f"{', '.join(t.sources)}: {t.cite}"
    return Effective(t.value, "default", note)


def set_target(
    session: Session,
    *,
    indicator_id: str,
    year: int,
    value: float | None,
    area: Area | None,
    note: str,
    actor: Actor,
    scope: Scope,
    now: datetime,
) -> IndicatorTarget:
    """Record a target setting (for ``area``'s subtree, or every area when None: only a
    reader of the whole tree may). A share is a fraction in [0, 1]; no value switches the
    target off."""
    decl = get_or_raise(indicator_id)
    _check_year(year)
    if value is not None and (
        not math.isfinite(value) or value < 0 or (decl.unit == "percent" and value > 1)
    ):
        raise InvalidInput(
            key="error.indicators.target_value", params={"unit": decl.unit}, field="value"
        )
    if area is None and not whole_tree(session, scope):
        raise InvalidInput(key="error.indicators.target_everywhere", field="area")
    note = note.strip()
    if len(note) > NOTE_MAX or "\x00" in note:
        raise InvalidInput(
            key="error.indicators.note_length", params={"max": NOTE_MAX}, field="note"
        )
    row = IndicatorTarget(
        indicator_id=decl.id,
        area_id=area.id if area is not None else None,
        year=year,
        value=value,
        note=note,
        set_by=actor.username or "system",
        set_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="set_target",
        entity="indicator_target",
        entity_id=row.id,
        detail={"indicator": decl.id, "year": year, "value": value},
        area_path=area.path if area is not None else None,
    )
    return row


def history(
    session: Session, *, indicator_id: str, scope: Scope, year: int | None = None
) -> list[IndicatorTarget]:
    """Every setting of an indicator's targets (latest first) for the areas of ``scope`` and
    for every area."""
    decl = get_or_raise(indicator_id)
    stmt = (
        select(IndicatorTarget)
        .outerjoin(Area, Area.id == IndicatorTarget.area_id)
        .where(IndicatorTarget.indicator_id == decl.id)
        .where(IndicatorTarget.area_id.is_(None) | scope.clause(Area.path))
    )
    if year is not None:
        stmt = stmt.where(IndicatorTarget.year == year)
    return list(session.scalars(stmt.order_by(IndicatorTarget.id.desc())).unique())
