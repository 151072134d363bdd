"""The figure store's save: a statement per thousand figures, whatever their gaps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.indicators import compute, store
from fangkong.indicators.models import IndicatorValue
from indicators.indicator_helpers import NOW, PERIOD, ZONE, a_month


def test_save_writes_a_periods_figures_in_few_inserts(db: Session) -> None:
    """Figures with and without a value, a numerator or a denominator go in INSERTs of
    many rows (an ORM bulk insert split them by which values were missing, and on PostgreSQL
    ran hundreds of statements for a county's figures: most of a recompute's time), and
    read back as they were, the missing values NULL."""
    a_month(db, seed=12, incidents=6, hazards=3)
    figures = compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    gaps = {(f.value is None, f.numerator is None, f.denominator is None) for f in figures}
    assert len(gaps) > 1  # the figures differ in which values they lack
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INDICATOR_VALUE"):
            inserts.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        written = store.save(db, period=PERIOD, figures=figures, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert written == len(figures) < 5_000
    assert 1 <= len(inserts) <= -(-len(figures) // 1_000)  # a statement a thousand rows
    rows = db.execute(
        select(
            IndicatorValue.indicator_id,
            IndicatorValue.area_id,
            IndicatorValue.value,
            IndicatorValue.numerator,
            IndicatorValue.denominator,
        ).where(IndicatorValue.period == PERIOD.key)
    ).all()
    assert sorted((r[0], r[1], r[2], r[3], r[4]) for r in rows) == sorted(
        (f.indicator_id, f.area_id, f.value, f.numerator, f.denominator) for f in figures
    )
