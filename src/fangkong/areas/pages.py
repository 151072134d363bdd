"""Console pages of the jurisdiction tree, the fusion check and standard addresses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fangkong.areas import permissions as area_perms
from fangkong.areas import service
from fangkong.areas.models import LEVELS, AreaLevel
from fangkong.http.deps import CurrentUser, DbSession, Language, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(area_perms.READ)])

PAGE_SIZE = 50


@router.get("/areas", response_class=HTMLResponse)
def areas_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    level: str | None = None,
) -> Response:
    chosen = AreaLevel(level) if level in {lv.value for lv in LEVELS} else None
    areas = service.get_all(db, scope=scope, level=chosen)
    depth0 = min((a.path.count("/") for a in areas), default=0)
    rows = [(a, a.path.count("/") - depth0) for a in areas]
    return render(
        request,
        "areas.html",
        language=language,
        user=user,
        rows=rows,
        counts=service.count_by_level(db, scope=scope),
        levels=LEVELS,
        level=chosen.value if chosen else "",
    )


@router.get("/areas/fusion", response_class=HTMLResponse)
def fusion_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    tolerance_m2: float = service.DEFAULT_FUSION_TOLERANCE_M2,
) -> Response:
    report = service.fusion_check(db, scope=scope, tolerance_m2=max(0.0, tolerance_m2))
    return render(request, "fusion.html", language=language, user=user, report=report)


@router.get("/addresses", response_class=HTMLResponse)
def addresses_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
    q: str = "",
    page: int = 1,
) -> Response:
    page = max(1, page)
    total, items = service.get_addresses(
        db, scope=scope, text=q.strip() or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    template = "addresses_rows.html" if request.headers.get("hx-request") else "addresses.html"
    return render(
        request,
        template,
        language=language,
        user=user,
        items=items,
        total=total,
        q=q,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )
