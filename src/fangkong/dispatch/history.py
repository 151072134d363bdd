"""Incidents as a list: the filters every read of many incidents shares, and the incident
history (警情查询) as a table of :mod:`fangkong.http.tables` — every incident of the user's
areas, open or ended, searchable, sorted by any of its times, exported as CSV or XLSX. The
console's ``/incidents/history``, the API's ``GET /incidents`` and its export read it.

The table shows and exports no personal data: neither the caller's contact nor the
description and notes (free text in which people write names) are among its columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area, StandardAddress
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.dispatch import taxonomy
from fangkong.dispatch.lifecycle import OPEN_STATUSES
from fangkong.dispatch.models import Incident, IncidentStatus, Priority, Source
from fangkong.http.tables import Column, Filter, Table

#: The most areas and standard addresses a text search looks in (the first found).
TEXT_MATCHES = 100
#: The longest search text.
MAX_TEXT = 64


@dataclass(frozen=True)
class IncidentFilter:
    """What a list of incidents may be narrowed by: a status, open (or ended), a priority, a
    category, a source, an area's subtree (its code), the received time (``[from, to)``), and
    a text (:func:`text_clause`)."""

    status: IncidentStatus | None = None
    open: bool | None = None
    priority: Priority | None = None
    category: str | None = None
    source: Source | None = None
    area_code: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    text: str | None = None


def clauses(session: Session, *, scope: Scope, f: IncidentFilter) -> list[ColumnElement[bool]]:
    """The SQL conditions of ``f`` (the scope's not among them). An area code outside
    ``scope`` is not found (404), as a read of it would be."""
    found: list[ColumnElement[bool]] = []
    if f.status is not None:
        found.append(Incident.status == f.status)
    if f.open is not None:
        found.append(
            Incident.status.in_(OPEN_STATUSES) if f.open else Incident.status.not_in(OPEN_STATUSES)
        )
    if f.priority is not None:
        found.append(Incident.priority == f.priority)
    if f.category is not None:
        found.append(Incident.category == f.category)
    if f.source is not None:
        found.append(Incident.source == f.source)
    if f.area_code is not None:
        area = area_service.get_by_code_or_raise(session, code=f.area_code, scope=scope)
        found.append(Incident.area_path.startswith(area.path, autoescape=True))
    if f.received_from is not None:
        found.append(Incident.received_at >= f.received_from)
    if f.received_to is not None:
        found.append(Incident.received_at < f.received_to)
    if f.text:
        found.append(text_clause(session, scope=scope, text=f.text))
    return found


def text_clause(session: Session, *, scope: Scope, text: str) -> ColumnElement[bool]:
    """The incidents a dispatcher's search text names. A number (``1234`` or ``#1234``): that
    incident, and the incidents at a standard address or in an area whose code is that number.
    Other text: the incidents recorded at a standard address whose code or text holds it (an
    incident given by an address takes the address's point) and those in the subtree of an
    area of ``scope`` whose code or name holds it. Case-insensitive, the text matched as
    written (``%`` and ``_`` are no wildcards); the first :data:`TEXT_MATCHES` addresses and
    areas found count."""
    text = text.strip()[:MAX_TEXT]
    number = text.removeprefix("#").strip()
    matches: list[ColumnElement[bool]] = []
    if re.fullmatch(r"\d{1,18}", number):
        matches.append(Incident.id == int(number))
        address_text: ColumnElement[bool] = StandardAddress.code == number
        area_text: ColumnElement[bool] = Area.code == number
    elif text:
        address_text = or_(
            StandardAddress.code.icontains(text, autoescape=True),
            StandardAddress.text_zh.icontains(text, autoescape=True),
            StandardAddress.text_en.icontains(text, autoescape=True),
        )
        area_text = or_(
            Area.code.icontains(text, autoescape=True),
            Area.name_zh.icontains(text, autoescape=True),
            Area.name_en.icontains(text, autoescape=True),
        )
    else:
        return false()
    addresses = session.execute(
        select(StandardAddress.h3_cell, StandardAddress.lon, StandardAddress.lat)
        .where(scope.clause(StandardAddress.area_path), address_text)
        .order_by(StandardAddress.code)
        .limit(TEXT_MATCHES)
    ).all()
    matches.extend(
        and_(Incident.h3_cell == cell, Incident.lon == lon, Incident.lat == lat)
        for cell, lon, lat in addresses
    )
    paths = session.scalars(
        select(Area.path)
        .where(scope.clause(Area.path), area_text)
        .order_by(Area.path)
        .limit(TEXT_MATCHES)
    ).all()
    matches.extend(Incident.area_path.startswith(p, autoescape=True) for p in paths)
    return or_(*matches) if matches else false()


def get_all(
    session: Session,
    *,
    scope: Scope,
    filters: IncidentFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Incident]]:
    """Incidents in ``scope``, newest first: ``(total matching, one page)``."""
    query = select(Incident).where(
        scope.clause(Incident.area_path),
        *clauses(session, scope=scope, f=filters or IncidentFilter()),
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(
        query.order_by(Incident.received_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
    )
    return int(total), list(page)


# --- the table -------------------------------------------------------------------------------


def base_select(scope: Scope) -> Select[Incident, str]:
    """The incidents of ``scope`` with their area's code: the rows of :func:`table`."""
    return (
        select(Incident, Area.code)
        .outerjoin(Area, Area.id == Incident.area_id)
        .where(scope.clause(Incident.area_path))
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 1)


def table(session: Session, *, scope: Scope, language: str) -> Table:
    """The incident history's table for a reader with ``scope`` in ``language``: rows are
    ``(incident, area code)`` of :func:`base_select`, newest first by default."""

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    def only(name: str, convert: Any = str) -> Any:
        """The condition of one field of :class:`IncidentFilter` set to ``convert(value)``."""

        def build(value: Any) -> ColumnElement[bool]:
            found = clauses(session, scope=scope, f=IncidentFilter(**{name: convert(value)}))
            return and_(*found)

        return build

    category = Column(
        "category",
        t("dispatch.category"),
        lambda r: (
            t(f"dispatch.category.{r[0].category}")
            + " · "
            + t(f"dispatch.subtype.{r[0].category}.{r[0].subtype}")
        ),
        sort=Incident.category,
    )
    return Table(
        name="incidents",
        columns=(
            Column(
                "id",
                t("dispatch.history.number"),
                lambda r: r[0].id,
                sort=Incident.id,
                numeric=True,
            ),
            Column(
                "received_at",
                t("dispatch.received_at"),
                lambda r: r[0].received_at,
                sort=Incident.received_at,
            ),
            Column(
                "priority",
                t("dispatch.priority"),
                lambda r: r[0].priority.value,
                sort=Incident.priority,
            ),
            category,
            Column(
                "status",
                t("dispatch.status"),
                lambda r: t(f"dispatch.state.{r[0].status.value}"),
                sort=Incident.status,
            ),
            Column(
                "source",
                t("dispatch.source"),
                lambda r: t(f"dispatch.source.{r[0].source.value}"),
                sort=Incident.source,
            ),
            Column("area", t("dispatch.area"), lambda r: r[1], sort=Area.code),
            Column(
                "dispatched_at",
                t("dispatch.history.dispatched_at"),
                lambda r: r[0].dispatched_at,
                sort=Incident.dispatched_at,
            ),
            Column(
                "on_scene_at",
                t("dispatch.history.on_scene_at"),
                lambda r: r[0].on_scene_at,
                sort=Incident.on_scene_at,
            ),
            Column(
                "dispatch_to_arrival_s",
                t("dispatch.history.d2a_s"),
                lambda r: _seconds(r[0].dispatched_at, r[0].on_scene_at),
                numeric=True,
                fmt="%.0f",
            ),
            Column(
                "closed_at",
                t("dispatch.history.closed_at"),
                lambda r: r[0].closed_at or r[0].cancelled_at,
                sort=Incident.closed_at,
            ),
            Column("lon", "lon", lambda r: r[0].lon, show=False),
            Column("lat", "lat", lambda r: r[0].lat, show=False),
        ),
        filters=(
            Filter(
                "q",
                t("dispatch.history.search"),
                where=only("text"),
                max_length=MAX_TEXT,
                placeholder=t("dispatch.history.search_hint"),
            ),
            Filter(
                "open",
                t("dispatch.history.open"),
                "choice",
                where=only("open", lambda v: v == "1"),
                choices=(
                    ("1", t("dispatch.history.open_only")),
                    ("0", t("dispatch.history.ended_only")),
                ),
            ),
            Filter(
                "status",
                t("dispatch.status"),
                "choice",
                where=only("status", IncidentStatus),
                choices=tuple((s.value, t(f"dispatch.state.{s.value}")) for s in IncidentStatus),
            ),
            Filter(
                "priority",
                t("dispatch.priority"),
                "choice",
                where=only("priority", Priority),
                choices=tuple((p.value, p.value) for p in Priority),
            ),
            Filter(
                "category",
                t("dispatch.category"),
                "choice",
                where=only("category"),
                choices=tuple((c, t(f"dispatch.category.{c}")) for c in taxonomy.TAXONOMY),
            ),
            Filter(
                "source",
                t("dispatch.source"),
                "choice",
                where=only("source", Source),
                choices=tuple((s.value, t(f"dispatch.source.{s.value}")) for s in Source),
            ),
            Filter(
                "area",
                t("dispatch.area"),
                where=only("area_code"),
                max_length=32,
                placeholder=t("dispatch.history.area_hint"),
            ),
            Filter(
                "received_from",
                t("dispatch.history.from"),
                "date_from",
                where=only("received_from", _moment),
            ),
            Filter(
                "received_to",
                t("dispatch.history.to"),
                "date_to",
                where=only("received_to", _moment),
            ),
        ),
        default_sort="-received_at",
        tiebreak=(Incident.id.desc(),),
    )


def _moment(value: Any) -> datetime:
    assert isinstance(value, datetime)
    return value
