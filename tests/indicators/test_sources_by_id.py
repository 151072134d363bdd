"""The indicator sources of a county match its records by area id as well as by path: an
equality PostgreSQL's row-level security lets an index serve, where it keeps the path's LIKE
from one and evaluates the policy on every county's rows of the month (issue 23)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core.scoping import SYSTEM_SCOPE, Scope
from fangkong.indicators import compute
from indicators.indicator_helpers import NOW, PERIOD, ZONE, a_month


def _statements(db: Session, run: Any) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_a_districts_incidents_and_cases_are_read_by_area_id(db: Session) -> None:
    a_month(db, seed=13, incidents=8, hazards=4)
    district = db.scalars(select(Area.path).where(Area.code == "T-D1")).one()
    scope = Scope(paths=(district,))
    found: list[Any] = []
    seen = _statements(
        db,
        lambda: found.extend(compute.compute(db, period=PERIOD, scope=scope, now=NOW, zone=ZONE)),
    )
    for table in ("incident", "case_record"):
        reads = [s for s in seen if s.startswith("SELECT") and f"FROM {table} WHERE" in s]
        assert reads, table
        assert all(f"{table}.area_id IN" in s for s in reads), reads
    # the same figures as the whole tree's for the district's areas
    whole = {
        (f.indicator_id, f.area_code): f.value
        for f in compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    }
    assert found
    for f in found:
        assert whole[(f.indicator_id, f.area_code)] == f.value, f
