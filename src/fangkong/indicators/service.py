"""What the indicator system offers the rest of the application, by concern: the catalogue
(:mod:`.catalogue`), the figures (:mod:`.compute`, stored by :mod:`.store`), targets
(:mod:`.targets`), manual inputs (:mod:`.inputs`), the dashboard (:mod:`.dashboard`), the
lists (:mod:`.listing`), the task ledger (:mod:`.tasks`) and the reports (:mod:`.reports`).
This module holds what they share over a request: the area a reader asks about."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.errors import NotFound
from fangkong.core.scoping import Scope


def top_area(session: Session, *, scope: Scope) -> Area:
    """The highest area of ``scope`` (the first by path among the shortest paths)."""
    found = session.scalars(
        select(Area)
        .where(scope.clause(Area.path))
        .order_by(func.length(Area.path), Area.path)
        .limit(1)
    ).first()
    if found is None:
        raise NotFound(key="error.indicators.no_area", field="area")
    return found


def area_or_top(session: Session, *, code: str | None, scope: Scope) -> Area:
    """The area ``code`` of ``scope`` (not found outside it), or the top of ``scope``."""
    if code:
        return area_service.get_by_code_or_raise(session, code=code, scope=scope)
    return top_area(session, scope=scope)
