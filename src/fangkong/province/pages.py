"""Console page of the province batches (省级批量规划): each batch's planning runs per county
and scenario with their status and progress, refreshed while any runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from fangkong.http.deps import CurrentUser, DbSession, Language, UserScope, requires
from fangkong.http.templating import render
from fangkong.planning import permissions as planning_perms
from fangkong.province import service

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[requires(planning_perms.READ)])
BatchId = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _view(
    request: Request,
    template: str,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: str,
    batch: str | None,
) -> HTMLResponse:
    found = service.get_all(db, scope=scope, batch=batch, language=language)
    return render(
        request,
        template,
        language=language,
        user=user,
        batches=found,
        batch=batch,
        running=any(b.finished < b.total for b in found),
    )


@router.get("/province/batches", response_class=HTMLResponse)
def batches_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    batch: BatchId = None,
) -> HTMLResponse:
    """省级批量规划: the batches of your areas' counties (``fangkong province batch``), each
    task's run with its status and progress; the list refreshes every few seconds."""
    return _view(request, "province/batches.html", db, user, scope, language, batch)


@router.get("/province/batches/rows", response_class=HTMLResponse)
def batches_rows(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    batch: BatchId = None,
) -> HTMLResponse:
    """The list alone (what the page polls)."""
    return _view(request, "province/_batches.html", db, user, scope, language, batch)
