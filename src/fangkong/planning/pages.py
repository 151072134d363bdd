"""Console pages of planning: coverage, placement and the control ring, each with the map.

The pages are shells: the forms post to the API (``/api/v1/planning/...``) from
``/static/planning.js``, which draws the layers on the map and fills the tables; labels come
from the catalogue in a JSON data block (no inline script: the Content-Security-Policy).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from fangkong.areas.models import Area, AreaLevel
from fangkong.core import auth
from fangkong.core.i18n import translate
from fangkong.http.deps import CurrentUser, DbSession, Language, UserScope, requires
from fangkong.http.templating import render
from fangkong.planning import demand, ring, runs, scenarios
from fangkong.planning import permissions as perms
from fangkong.planning.models import RunKind

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])

#: Catalogue keys the page scripts need (rendered as a JSON data block).
SCRIPT_KEYS = (
    "planning.ring_s",
    "planning.within",
    "planning.beyond",
    "planning.share",
    "planning.weight",
    "planning.points",
    "planning.area",
    "planning.level",
    "planning.sites",
    "planning.status.queued",
    "planning.status.running",
    "planning.status.done",
    "planning.status.failed",
    "planning.status.cancelled",
    "planning.status.lost",
    "planning.objective",
    "planning.bound",
    "planning.gap",
    "planning.heuristic",
    "planning.today",
    "planning.after",
    "planning.gain",
    "planning.closed",
    "planning.open",
    "planning.next",
    "planning.class",
    "planning.crossings",
    "planning.share_count",
    "planning.share_weighted",
    "planning.target",
    "planning.unreachable",
    "planning.computing",
    "planning.worst_grids",
    "planning.service_area",
    "planning.stage.candidates",
    "planning.stage.matrix",
    "planning.stage.heuristic",
    "planning.stage.bound",
    "planning.stage.solve",
    "planning.recorded",
    "planning.scenario_side",
)
MAP_KEYS = (
    "level.city",
    "level.district",
    "level.station",
    "level.beat",
    "level.grid",
    "map.code",
    "map.area_km2",
    "map.rings_loading",
    "map.rings_hint",
)


def _labels(language: str, keys: tuple[str, ...]) -> dict[str, str]:
    return {key: translate(key, language) for key in keys}


def _areas(db: DbSession, scope: UserScope, deepest: AreaLevel) -> list[Area]:
    levels = [lv for lv in AreaLevel if lv.depth <= deepest.depth]
    return list(
        db.scalars(
            select(Area).where(scope.clause(Area.path), Area.level.in_(levels)).order_by(Area.path)
        )
    )


def _page(
    request: Request,
    template: str,
    *,
    db: DbSession,
    user: CurrentUser,
    scope: UserScope,
    language: str,
    **context: Any,
) -> HTMLResponse:
    return render(
        request,
        template,
        language=language,
        user=user,
        can_write=auth.can(user, perms.WRITE),
        planning_labels=_labels(language, SCRIPT_KEYS),
        map_labels=_labels(language, MAP_KEYS),
        weight_columns=demand.weight_columns(db),
        **context,
    )


@router.get("/planning/coverage", response_class=HTMLResponse)
def coverage_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    """覆盖分析: demand within 1/3/5 minutes of the nearest post, per area, on the map."""
    return _page(
        request,
        "planning/coverage.html",
        db=db,
        user=user,
        scope=scope,
        language=language,
        areas=_areas(db, scope, AreaLevel.STATION),
        scenarios=scenarios.get_all(db, scope=scope, limit=50),
        recent=runs.get_all(db, scope=scope, kind=RunKind.COVERAGE, limit=10),
    )


@router.get("/planning/placement", response_class=HTMLResponse)
def placement_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    """选址优化: choose the method, p, ring and candidates; watch the run; see sites and gain."""
    return _page(
        request,
        "planning/placement.html",
        db=db,
        user=user,
        scope=scope,
        language=language,
        areas=_areas(db, scope, AreaLevel.STATION),
        recent=runs.get_all(db, scope=scope, kind=RunKind.PLACEMENT, limit=10),
        scenarios=scenarios.get_all(db, scope=scope, limit=50),
    )


@router.get("/planning/ring", response_class=HTMLResponse)
def ring_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    """圈层查控: roads crossing the boundary, checkpoints, closure share, next checkpoints."""
    weights, target = ring.settings(db)
    return _page(
        request,
        "planning/ring.html",
        db=db,
        user=user,
        scope=scope,
        language=language,
        areas=_areas(db, scope, AreaLevel.DISTRICT),
        checkpoints=ring.get_checkpoints(db, scope=scope),
        weights=weights,
        target=target,
    )
