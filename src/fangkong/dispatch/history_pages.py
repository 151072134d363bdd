"""Console page of the incident history (警情查询): every incident of the user's areas, open
or ended, as the shared table (filters, sort, pages, CSV and XLSX of the view). Its routes
are part of :data:`fangkong.dispatch.pages.router`, which includes them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fangkong.core.i18n import translate
from fangkong.dispatch import history
from fangkong.http import tables
from fangkong.http.deps import CurrentUser, DbSession, Language, UserScope
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/incidents/history", response_class=HTMLResponse)
def history_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> Response:
    """警情查询: search, filter, sort and page through every incident of your areas; with
    ``export=csv`` or ``export=xlsx`` the whole filtered view as a file."""
    table = history.table(db, scope=scope, language=language)
    result = tables.view(
        request,
        db,
        table,
        history.base_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("dispatch.history.title", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "dispatch/history.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
    )
