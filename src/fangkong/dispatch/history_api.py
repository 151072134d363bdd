"""REST API of the incident list: ``GET /api/v1/incidents`` (a page) and
``GET /api/v1/incidents/export`` (the whole view as CSV or XLSX), with the same filters and
sort as the console's incident history (:mod:`fangkong.dispatch.history`). Its routes are
part of :data:`fangkong.dispatch.api.router`, which includes them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from fangkong.core.bounds import Moment, Offset, Text
from fangkong.core.errors import InvalidInput
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.dispatch import history, present
from fangkong.dispatch.models import IncidentStatus, Priority, Source
from fangkong.dispatch.schemas import IncidentOut, IncidentPage
from fangkong.http import tables
from fangkong.http.deps import (
    CurrentUser,
    DbSession,
    Language,
    UserScope,
    actor_of,
    get_cipher,
)
from fangkong.http.tables import Table, TableQuery

router = APIRouter()

#: What ``sort`` takes: a column of the history, descending with a leading ``-``.
SORT_HELP = (
    "A column to sort by: id, received_at, priority, category, status, source, area, "
    "dispatched_at, on_scene_at, closed_at; a leading - sorts descending (default "
    "-received_at, newest first)"
)


def incident_query(
    db: DbSession,
    scope: UserScope,
    language: Language,
    q: Annotated[
        Text | None,
        Query(
            max_length=history.MAX_TEXT,
            description="Text: the incident's number, a standard address's code or text, or an "
            "area's code or name (its subtree)",
        ),
    ] = None,
    status: IncidentStatus | None = None,
    open: Annotated[bool | None, Query(description="Open (true) or ended (false)")] = None,
    priority: Priority | None = None,
    category: Annotated[Text | None, Query(max_length=32)] = None,
    source: Source | None = None,
    area: Annotated[Text | None, Query(max_length=32, description="Area code: its subtree")] = None,
    received_from: Annotated[
        Moment | None, Query(description="Received at or after (ISO 8601 with a zone)")
    ] = None,
    received_to: Annotated[
        Moment | None, Query(description="Received before (ISO 8601 with a zone)")
    ] = None,
    sort: Annotated[Text | None, Query(max_length=32, description=SORT_HELP)] = None,
) -> tuple[Table, TableQuery]:
    """The history's table and the query of the request's parameters (checked by the table:
    a category not in the taxonomy, an undeclared sort are 422; an area outside your areas
    404)."""
    for name, value in (("received_from", received_from), ("received_to", received_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(key="error.period.field_zone", params={"name": name}, field=name)
    table = history.table(db, scope=scope, language=language)
    values: dict[str, Any] = {
        "q": q,
        "status": status,
        "open": None if open is None else ("1" if open else "0"),
        "priority": priority,
        "category": category,
        "source": source,
        "area": area,
        "received_from": received_from,
        "received_to": received_to,
    }
    return table, table.query(sort=sort, values=values)


IncidentQuery = Annotated[tuple[Table, TableQuery], Depends(incident_query)]


def _view(db: Session, scope: Scope, query: TableQuery) -> tuple[int, Any]:
    stmt = query.apply(history.base_select(scope))
    return tables.count(db, stmt), stmt


@router.get("/incidents", response_model=IncidentPage)
def list_incidents(
    request: Request,
    db: DbSession,
    scope: UserScope,
    language: Language,
    found: IncidentQuery,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> IncidentPage:
    """Incidents in your areas, open or ended, newest first unless ``sort`` says otherwise;
    ``total`` counts every match."""
    _, query = found
    total, stmt = _view(db, scope, query)
    cipher = get_cipher(request)
    items = []
    for incident, code in db.execute(stmt.limit(limit).offset(offset)):
        out = IncidentOut.model_validate(present.incident_fields(incident, cipher, language))
        out.area_code = code
        items.append(out)
    return IncidentPage(total=total, items=items)


@router.get(
    "/incidents/export",
    response_class=Response,
    responses=tables.EXPORT_RESPONSES,
)
def export_incidents(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    found: IncidentQuery,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv or xlsx")] = "csv",
) -> Response:
    """The incidents of ``GET /incidents`` with the same parameters, every page, as a CSV
    (UTF-8 with a BOM) or XLSX file with the labels in your language; no caller's contact
    and no description. At most 100,000 rows (422 past them: narrow the filters); audited."""
    _, query = found
    return tables.export(
        db,
        history.base_select(scope),
        query,
        fmt=format,
        zone=request.app.state.settings.zone,
        title=translate("dispatch.history.title", language),
        actor=actor_of(request, user),
        scope=scope,
    )
