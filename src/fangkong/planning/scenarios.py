"""Scenarios: a plan stored as changes to the current posts, compared with today.

A scenario's sites are the current posts of the user's scope with its changes applied: an
added post joins, a moved post stands at its new point, a removed post is gone. The comparison
puts today's coverage beside the scenario's (per ring and per area, and the gain); the replay
dispatches a recorded day again with today's units and with the scenario's
(:func:`fangkong.dispatch.replay.simulate`, the dispatch replay's model) so that the planner sees
the simulated 1/3/5-minute KPIs as well as the static coverage.

Units in the scenario's replay: a unit based at a moved post starts from its new point; one
based at a removed post moves to the nearest remaining site (straight-line); each added site
gets ``units_per_added_site`` cars; units with no post start at their latest position.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import Scope
from fangkong.dispatch import kpis, replay
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Post,
    Priority,
    UnitStatus,
    UnitType,
)
from fangkong.dispatch.recommend import P1_UNITS, TRAVEL
from fangkong.network.graph import haversine_m
from fangkong.network.service import Network
from fangkong.planning import coverage, runs
from fangkong.planning.coverage import Site
from fangkong.planning.demand import Demand
from fangkong.planning.models import Scenario, ScenarioSite, SiteAction

MAX_CHANGES = 500
MAX_SCENARIOS = 200
MAX_UNITS_PER_SITE = 10


@dataclass(frozen=True)
class Change:
    """One change asked of a scenario (see :class:`~.models.ScenarioSite`)."""

    action: SiteAction
    post_code: str | None = None
    code: str | None = None
    name: str = ""
    lon: float | None = None
    lat: float | None = None


def _point(change: Change, where: int) -> tuple[float, float]:
    if change.lon is None or change.lat is None:
        raise InvalidInput(
            key="error.planning.change_no_point", params={"index": where}, field="changes"
        )
    lon, lat = float(change.lon), float(change.lat)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            key="error.planning.change_point_degrees", params={"index": where}, field="changes"
        )
    return lon, lat


def _sites_rows(session: Session, scope: Scope, changes: list[Change]) -> list[ScenarioSite]:
    if len(changes) > MAX_CHANGES:
        raise InvalidInput(
            key="error.planning.changes_many", params={"max": MAX_CHANGES}, field="changes"
        )
    rows: list[ScenarioSite] = []
    touched: set[int] = set()
    codes = {p.code for p in dispatch_service.get_posts(session, scope=scope)}
    for i, change in enumerate(changes):
        if change.action == SiteAction.ADD:
            code = (change.code or f"NEW{i + 1}").strip()
            if not code or len(code) > 32 or code in codes:
                raise InvalidInput(
                    key="error.planning.change_code",
                    params={"index": i, "code": code},
                    field="changes",
                )
            codes.add(code)
            lon, lat = _point(change, i)
            rows.append(
                ScenarioSite(
                    action=change.action, code=code, name=change.name[:128], lon=lon, lat=lat
                )
            )
            continue
        if not change.post_code:
            raise InvalidInput(
                key="error.planning.change_no_post", params={"index": i}, field="changes"
            )
        post = dispatch_service.get_post_by_code_or_raise(
            session, code=change.post_code, scope=scope
        )
        if post.id in touched:
            raise InvalidInput(
                key="error.planning.change_twice",
                params={"index": i, "post": post.code},
                field="changes",
            )
        touched.add(post.id)
        lon_new, lat_new = _point(change, i) if change.action == SiteAction.MOVE else (None, None)
        rows.append(
            ScenarioSite(
                action=change.action,
                post_id=post.id,
                code=post.code,
                name=post.name,
                lon=lon_new,
                lat=lat_new,
            )
        )
    return rows


def create(
    session: Session,
    *,
    name: str,
    scope: Scope,
    actor: Actor,
    changes: list[Change],
    description: str = "",
    area_code: str | None = None,
) -> Scenario:
    """Store a scenario; the caller checks ``planning.write``."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidInput(key="error.planning.scenario_name", field="name")
    if len(description) > 4000:
        raise InvalidInput(key="error.planning.scenario_description", field="description")
    area = (
        area_service.get_by_code_or_raise(session, code=area_code, scope=scope)
        if area_code
        else None
    )
    scenario = Scenario(
        name=name,
        description=description,
        area_path=runs.filing_path(scope, area),
        area_id=area.id if area else None,
        created_by_id=actor.user_id,
        sites=_sites_rows(session, scope, changes),
    )
    session.add(scenario)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="planning_scenario",
        entity_id=scenario.id,
        detail={"name": name, "changes": len(changes)},
        area_path=scenario.area_path,
    )
    return scenario


def replace_changes(
    session: Session, *, scenario: Scenario, scope: Scope, actor: Actor, changes: list[Change]
) -> Scenario:
    """Replace a scenario's changes."""
    scenario.sites = _sites_rows(session, scope, changes)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity="planning_scenario",
        entity_id=scenario.id,
        detail={"changes": len(changes)},
        area_path=scenario.area_path,
    )
    return scenario


def get_all(session: Session, *, scope: Scope, limit: int = 100) -> list[Scenario]:
    return list(
        session.scalars(
            select(Scenario)
            .where(scope.clause(Scenario.area_path))
            .order_by(Scenario.id.desc())
            .limit(max(1, min(limit, MAX_SCENARIOS)))
        )
    )


def get_or_raise(session: Session, *, scenario_id: int, scope: Scope) -> Scenario:
    found = (
        session.scalars(
            select(Scenario).where(Scenario.id == scenario_id, scope.clause(Scenario.area_path))
        ).one_or_none()
        if scenario_id <= runs.MAX_ROW_ID
        else None
    )
    if found is None:
        raise NotFound(
            key="error.planning.scenario_not_found",
            params={"scenario_id": scenario_id},
            field="scenario_id",
        )
    return found


def delete(session: Session, *, scenario: Scenario, actor: Actor) -> None:
    audit.record(
        session,
        actor=actor,
        action="delete",
        entity="planning_scenario",
        entity_id=scenario.id,
        detail={"name": scenario.name},
        area_path=scenario.area_path,
    )
    session.delete(scenario)
    session.flush()


def sites_of(session: Session, *, scenario: Scenario, scope: Scope) -> list[Site]:
    """The current posts of ``scope`` with the scenario's changes applied."""
    by_post = {s.post_id: s for s in scenario.sites if s.post_id is not None}
    out: list[Site] = []
    for site in coverage.current_sites(session, scope=scope):
        change = by_post.get(site.post_id) if site.post_id is not None else None
        if change is None:
            out.append(site)
        elif change.action == SiteAction.MOVE and change.lon is not None and change.lat is not None:
            out.append(Site(site.code, site.name, change.lon, change.lat, "moved", site.post_id))
    for change in scenario.sites:
        if change.action == SiteAction.ADD and change.lon is not None and change.lat is not None:
            out.append(
                Site(change.code, change.name or change.code, change.lon, change.lat, "added")
            )
    return out


def changes_of(scenario: Scenario) -> list[dict[str, Any]]:
    return [
        {
            "action": s.action.value,
            "code": s.code,
            "name": s.name,
            "lon": s.lon,
            "lat": s.lat,
        }
        for s in scenario.sites
    ]


def compare(
    session: Session,
    *,
    network: Network,
    scope: Scope,
    scenario: Scenario,
    demand: Demand,
    rings_s: tuple[float, ...] = coverage.DEFAULT_RINGS_S,
    unit_type: UnitType = UnitType.CAR,
    area: Area | None = None,
) -> dict[str, Any]:
    """Today's coverage beside the scenario's: per ring and per area, and the gain."""
    today = coverage.analyse(
        session, network=network, scope=scope, demand=demand,
        sites=coverage.current_sites(session, scope=scope), rings_s=rings_s,
        unit_type=unit_type, area=area, with_points=False,
    )  # fmt: skip
    planned = coverage.analyse(
        session, network=network, scope=scope, demand=demand,
        sites=sites_of(session, scenario=scenario, scope=scope), rings_s=rings_s,
        unit_type=unit_type, area=area, with_points=True,
    )  # fmt: skip
    gain = {
        ring: _minus(planned["totals"]["share"][ring], today["totals"]["share"][ring])
        for ring in today["totals"]["share"]
    }
    areas = []
    for before, after in zip(today["areas"], planned["areas"], strict=True):
        areas.append(
            {
                "code": before["code"],
                "name_zh": before["name_zh"],
                "name_en": before["name_en"],
                "level": before["level"],
                "weight": before["weight"],
                "today": before["share"],
                "scenario": after["share"],
                "gain": {r: _minus(after["share"][r], before["share"][r]) for r in before["share"]},
            }
        )
    return {
        "scenario": {"id": scenario.id, "name": scenario.name, "changes": changes_of(scenario)},
        "rings_s": today["rings_s"],
        "today": {k: today[k] for k in ("totals", "sites", "demand", "worst_grids")},
        "planned": {k: planned[k] for k in ("totals", "sites", "demand", "worst_grids", "points")},
        "gain": gain,
        "areas": areas,
    }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- the replay of a recorded day -----------------------------------------------------------


def _units(
    session: Session, scope: Scope
) -> list[tuple[str, UnitType, int | None, tuple[float, float] | None]]:
    """(call sign, type, home post id, latest position) of the units that would be sent."""
    return [
        (u.call_sign, u.unit_type, u.home_post_id,
         (u.lon, u.lat) if u.lon is not None and u.lat is not None else None)
        for u in dispatch_service.get_units(session, scope=scope)
        if u.status != UnitStatus.OUT_OF_SERVICE and TRAVEL[u.unit_type] is not None
    ]  # fmt: skip


def _origins(
    units: list[tuple[str, UnitType, int | None, tuple[float, float] | None]],
    posts: dict[int, tuple[float, float]],
    sites: list[Site],
    units_per_added: int,
) -> tuple[list[tuple[float, float]], list[str]]:
    """Where each unit starts under ``sites``, and how it travels."""
    kept = {s.post_id: (s.lon, s.lat) for s in sites if s.post_id is not None}
    where: list[tuple[float, float]] = []
    travel: list[str] = []
    site_lon = np.array([s.lon for s in sites])
    site_lat = np.array([s.lat for s in sites])
    for _, unit_type, post_id, position in units:
        if post_id is not None and post_id in kept:
            point = kept[post_id]
        elif post_id is not None and post_id in posts and sites:
            old = posts[post_id]
            d = haversine_m(np.full(len(sites), old[0]), np.full(len(sites), old[1]),
                            site_lon, site_lat)  # fmt: skip
            best = int(np.argmin(d))
            point = (sites[best].lon, sites[best].lat)
        elif position is not None:
            point = position
        else:
            continue
        where.append(point)
        travel.append(TRAVEL[unit_type] or "drive")
    for site in sites:
        if site.kind == "added":
            for _ in range(units_per_added):
                where.append((site.lon, site.lat))
                travel.append("drive")
    return where, travel


def replay_day(
    session: Session,
    *,
    network: Network,
    scope: Scope,
    scenario: Scenario,
    day: date,
    zone: ZoneInfo,
    area: Area | None = None,
    units_per_added_site: int = 1,
    turnout_s: float = 0.0,
) -> dict[str, Any]:
    """Replay the incidents received on ``day`` with today's units and with the scenario's
    (see the module docstring); the response-ring KPIs of the recorded day, of today's and of
    the scenario's deployment side by side."""
    if not 0 <= units_per_added_site <= MAX_UNITS_PER_SITE:
        raise InvalidInput(
            key="error.planning.units_per_site",
            params={"max": MAX_UNITS_PER_SITE},
            field="units_per_added_site",
        )
    if not 0 <= turnout_s <= replay.MAX_TURNOUT_S:
        raise InvalidInput(key="error.planning.turnout_range", field="turnout_s")
    start, end = replay.day_bounds(day, zone)
    query = select(Incident).where(
        scope.clause(Incident.area_path),
        Incident.received_at >= start,
        Incident.received_at < end,
        Incident.status != IncidentStatus.MERGED,
        or_(
            Incident.status != IncidentStatus.CANCELLED,
            and_(Incident.status == IncidentStatus.CANCELLED, Incident.dispatched_at.is_not(None)),
        ),
    )
    if area is not None:
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    incidents = list(session.scalars(query.order_by(Incident.received_at, Incident.id)))
    if not incidents:
        raise NotFound(
            key="error.planning.no_incidents", params={"day": day.isoformat()}, field="day"
        )
    units = _units(session, scope)
    posts = {
        int(i): (float(x), float(y))
        for i, x, y in session.execute(
            select(Post.id, Post.lon, Post.lat).where(scope.clause(Post.area_path))
        )
    }
    today_sites = coverage.current_sites(session, scope=scope)
    plan_sites = sites_of(session, scenario=scenario, scope=scope)
    base = start.timestamp()
    received = [i.received_at.timestamp() - base for i in incidents]
    delay = [_seconds(i.received_at, i.dispatched_at, replay.DEFAULT_CALL_TO_DISPATCH_S)
             for i in incidents]  # fmt: skip
    on_scene = [_seconds(i.on_scene_at, i.cleared_at, replay.DEFAULT_ON_SCENE_S)
                for i in incidents]  # fmt: skip
    wanted = [P1_UNITS if i.priority == Priority.P1 else 1 for i in incidents]
    targets = (
        np.array([i.lon for i in incidents], dtype=np.float64),
        np.array([i.lat for i in incidents], dtype=np.float64),
    )
    sides: dict[str, Any] = {}
    for label, sites, extra in (("today", today_sites, 0), ("scenario", plan_sites,
                                                            units_per_added_site)):  # fmt: skip
        where, travel = _origins(units, posts, sites, extra)
        keys: dict[tuple[float, float, str], int] = {}
        origin = [keys.setdefault((p[0], p[1], t), len(keys)) for p, t in
                  zip(where, travel, strict=True)]  # fmt: skip
        out, back = replay.road_times(
            network,
            origins=(np.array([k[0] for k in keys]), np.array([k[1] for k in keys])),
            targets=targets,
            travel=[k[2] for k in keys],  # type: ignore[misc]
        )
        sim = replay.simulate(
            received_s=received, delay_s=delay, on_scene_s=on_scene, wanted=wanted,
            out_s=out + turnout_s, back_s=back, unit_origin=origin,
        )  # fmt: skip
        d2a = [float(t) for t in sim.travel_s if math.isfinite(t)]
        c2a = [
            float(sim.dispatch_s[k] - received[k] + sim.travel_s[k])
            for k in range(len(incidents))
            if not sim.no_unit[k]
        ]
        sides[label] = {
            "units": len(where),
            "ring_share": kpis.ring_shares(d2a),
            "ring_share_call": kpis.ring_shares(c2a),
            "dispatch_to_arrival": _summary(kpis.summarise(d2a)),
            "call_to_arrival": _summary(kpis.summarise(c2a)),
            "no_unit": [incidents[k].id for k in np.flatnonzero(sim.no_unit).tolist()],
        }
    recorded = kpis.area_kpis(session, scope=scope, start=start, end=end, area=area)
    return {
        "day": day.isoformat(),
        "timezone": zone.key,
        "incidents": len(incidents),
        "by_category": dict(sorted(Counter(i.category for i in incidents).items())),
        "scenario": {"id": scenario.id, "name": scenario.name},
        "recorded": {
            "ring_share": recorded.ring_share,
            "dispatch_to_arrival": _summary(recorded.dispatch_to_arrival),
            "call_to_arrival": _summary(recorded.call_to_arrival),
        },
        "today": sides["today"],
        "planned": sides["scenario"],
        "gain": {
            ring: _minus(sides["scenario"]["ring_share"][ring], sides["today"]["ring_share"][ring])
            for ring in sides["today"]["ring_share"]
        },
        "defaults": {
            "units_per_added_site": units_per_added_site,
            "turnout_s": turnout_s,
            "call_to_dispatch_s": replay.DEFAULT_CALL_TO_DISPATCH_S,
            "on_scene_s": replay.DEFAULT_ON_SCENE_S,
        },
    }


def _summary(summary: kpis.Summary) -> dict[str, Any]:
    return {"count": summary.count, "p50_s": summary.p50_s, "p90_s": summary.p90_s}


def _seconds(start: Any, end: Any, default: float) -> float:
    if start is None or end is None:
        return default
    seconds = float((end - start).total_seconds())
    return seconds if seconds >= 0 else default


def scenario_from_sites(
    session: Session,
    *,
    name: str,
    scope: Scope,
    actor: Actor,
    sites: list[dict[str, Any]],
    area_code: str | None,
) -> Scenario:
    """A scenario from a placement's chosen sites: posts not chosen are removed, other chosen
    sites added."""
    posts = {p.code: p for p in dispatch_service.get_posts(session, scope=scope)}
    chosen_posts = {s["code"] for s in sites if s.get("kind") == "post"}
    changes = [Change(SiteAction.REMOVE, post_code=code) for code in posts if
               code not in chosen_posts]  # fmt: skip
    taken = set(posts)
    for i, s in enumerate(sites):
        if s.get("kind") == "post":
            continue
        code = f"P{i + 1}"
        while code in taken:
            code += "X"
        taken.add(code)
        changes.append(
            Change(SiteAction.ADD, code=code, name=str(s.get("name", ""))[:128],
                   lon=float(s["lon"]), lat=float(s["lat"]))
        )  # fmt: skip
    if not changes:
        raise Conflict(key="error.planning.nothing_to_plan", field="run_id")
    return create(
        session, name=name, scope=scope, actor=actor, changes=changes, area_code=area_code
    )
