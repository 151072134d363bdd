"""Console pages of the jurisdiction tree, the fusion check and standard addresses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from fangkong.areas import listing, service
from fangkong.areas import permissions as area_perms
from fangkong.areas.models import LEVELS
from fangkong.core.i18n import translate
from fangkong.http import tables
from fangkong.http.deps import CurrentUser, DbSession, Language, UserScope, requires
from fangkong.http.templating import render

router = APIRouter(include_in_schema=False, dependencies=[requires(area_perms.READ)])


@router.get("/areas", response_class=HTMLResponse)
def areas_page(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: Language,
) -> Response:
    """辖区与网格: the areas of your scope with their counts by level, sorted by code (the
    tree's order, indented) or by name, level or size on request; exported as a file."""
    result = tables.view(
        request,
        db,
        listing.area_table(db, scope=scope, language=language),
        listing.area_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("areas.title", language),
    )
    if not isinstance(result, tables.Page):
        return result
    depth0 = min((len(scope_path.split("/")) for scope_path in scope.paths), default=3)
    return render(
        request,
        "areas.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
        depth0=depth0,
        tree=result.query.sort_param == "code",
        counts=service.count_by_level(db, scope=scope),
        levels=LEVELS,
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
) -> Response:
    """标准地址: the standard addresses of your areas, searched, sorted, in pages, exported."""
    result = tables.view(
        request,
        db,
        listing.address_table(db, scope=scope, language=language),
        listing.address_select(scope),
        user=user,
        scope=scope,
        language=language,
        title=translate("addresses.title", language),
    )
    if not isinstance(result, tables.Page):
        return result
    return render(
        request,
        "addresses.html",
        language=language,
        user=user,
        status_code=result.status_code,
        view=result,
    )
