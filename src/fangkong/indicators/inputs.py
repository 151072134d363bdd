"""Manual inputs: values of the indicators whose data is not in fangkong, entered per area
and month with who and when. Entries are never changed: the latest counts, every one is
kept (the history)."""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.indicators.models import IndicatorInput
from fangkong.indicators.periods import Period
from fangkong.indicators.targets import get_or_raise

#: The largest value a manual input takes (a count per 100,000 residents stays far below).
VALUE_MAX = 1e9


def enter(
    session: Session,
    *,
    indicator_id: str,
    area: Area,
    period: Period,
    value: float,
    actor: Actor,
    now: datetime,
) -> IndicatorInput:
    """Record a manual input for ``area`` (which the caller has read in the user's scope) and
    the month ``period``. Only a manual indicator takes one, at a level it applies to; a
    share is a fraction in [0, 1]."""
    decl = get_or_raise(indicator_id)
    if not decl.manual:
        raise InvalidInput(
            key="error.indicators.not_manual", params={"id": decl.id}, field="indicator"
        )
    if period.month is None:
        raise InvalidInput(key="error.indicators.month_needed", field="period")
    level = getattr(area.level, "value", area.level)
    if level not in {lv.value for lv in decl.levels}:
        raise InvalidInput(
            key="error.indicators.level", params={"id": decl.id, "level": level}, field="area"
        )
    if (
        not math.isfinite(value)
        or value < 0
        or value > VALUE_MAX
        or (decl.unit == "percent" and value > 1)
    ):
        raise InvalidInput(
            key="error.indicators.target_value", params={"unit": decl.unit}, field="value"
        )
    row = IndicatorInput(
        indicator_id=decl.id,
        area_id=area.id,
        area_path=area.path,
        period=period.key,
        value=value,
        entered_by=actor.username or "system",
        entered_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="enter_value",
        entity="indicator_input",
        entity_id=row.id,
        detail={"indicator": decl.id, "period": period.key, "value": value},
        area_path=area.path,
    )
    return row


def inputs_query(
    scope: Scope, *, period: Period | None = None, indicator_id: str | None = None
) -> Select[IndicatorInput]:
    """Manual inputs of ``scope`` (every entry: the history), latest first."""
    stmt = select(IndicatorInput).where(scope.clause(IndicatorInput.area_path))
    if period is not None:
        keys = [period.key] if period.month is not None else [p.key for p in period.months()]
        stmt = stmt.where(IndicatorInput.period.in_(keys))
    if indicator_id is not None:
        stmt = stmt.where(IndicatorInput.indicator_id == indicator_id)
    return stmt.order_by(IndicatorInput.id.desc())


def get_all(
    session: Session, *, scope: Scope, period: Period | None = None, indicator_id: str | None = None
) -> list[IndicatorInput]:
    return list(
        session.scalars(inputs_query(scope, period=period, indicator_id=indicator_id)).unique()
    )
