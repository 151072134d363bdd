"""Console page of Planning II: hotspots, hour-of-week deployment and beats beside the map.

A shell: its forms post to ``/api/v1/planning/hotspots``, ``/deployment`` and ``/beats`` from
``/static/planning2.js``, which draws the cells, road segments, density bands and beats on the
map and the week-by-hour heat table per station; labels come in a JSON data block.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from fangkong.areas.models import Area, AreaLevel
from fangkong.core import auth
from fangkong.core.i18n import translate
from fangkong.http.deps import CurrentUser, DbSession, Language, UserScope, requires
from fangkong.http.templating import render
from fangkong.planning import analyses
from fangkong.planning import permissions as perms

router = APIRouter(include_in_schema=False, dependencies=[requires(perms.READ)])

SCRIPT_KEYS = (
    "planning2.count",
    "planning2.class",
    "planning2.trend",
    "planning2.hot",
    "planning2.cold",
    "planning2.new",
    "planning2.persistent",
    "planning2.fading",
    "planning2.per_km",
    "planning2.expected",
    "planning2.today",
    "planning2.proposed",
    "planning2.share_today",
    "planning2.share_proposed",
    "planning2.unit_hours",
    "planning2.beat",
    "planning2.workload",
    "planning2.farthest",
    "planning2.imbalance",
    "planning2.grids",
    "planning2.computing",
    "planning2.done",
    "planning2.adopted",
    "planning2.regrouped",
    "planning2.holdout",
    "planning2.weekdays",
    "planning2.incidents",
    "planning2.fdr",
    "planning2.segments_top",
    "planning2.segments_hot",
    "planning2.segment_hot",
    "planning2.segment_cold",
    "planning2.segment_trend",
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


@router.get("/planning/analysis", response_class=HTMLResponse)
def analysis_page(
    request: Request, db: DbSession, user: CurrentUser, scope: UserScope, language: Language
) -> HTMLResponse:
    """热点、潮汐用警、巡区: where incidents concentrate, units per hour of week, beats."""
    areas = list(
        db.scalars(
            select(Area)
            .where(
                scope.clause(Area.path),
                Area.level.in_([AreaLevel.CITY, AreaLevel.DISTRICT, AreaLevel.STATION]),
            )
            .order_by(Area.path)
        )
    )
    return render(
        request,
        "planning/analysis.html",
        language=language,
        user=user,
        can_write=auth.can(user, perms.WRITE),
        areas=areas,
        stations=[a for a in areas if a.level == AreaLevel.STATION],
        districts=[a for a in areas if a.level == AreaLevel.DISTRICT],
        recent=analyses.get_all(db, scope=scope, limit=15),
        planning2_labels={key: translate(key, language) for key in SCRIPT_KEYS},
        map_labels={key: translate(key, language) for key in MAP_KEYS},
    )
