"""The analyses as functions of their stored parameters: what the API, the console and the
command line run (in the request, or as a background job) and store as a run.

Parameters are plain JSON (what :mod:`.schemas` validated, plus the caller's scope paths), so
that a run can be reopened, rerun and exported with the inputs it had.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from fangkong.areas import service as area_service
from fangkong.areas.models import Area
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import UnitType
from fangkong.dispatch.replay import parse_day
from fangkong.network import service as network_service
from fangkong.planning import coverage, demand, deployment, placement, ring, scenarios
from fangkong.planning.jobs import Progress

#: Incidents of the last 30 days unless a period is given.
DEFAULT_PERIOD = timedelta(days=30)
#: The zone of the hours of week when a run names none (the settings' default).
DEFAULT_ZONE = "Asia/Shanghai"


def scope_of(params: dict[str, Any]) -> Scope:
    return Scope(paths=tuple(params["scope_paths"]))


def area_of(session: Session, params: dict[str, Any], scope: Scope) -> Area | None:
    code = params.get("area_code")
    return area_service.get_by_code_or_raise(session, code=code, scope=scope) if code else None


def _moment(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise InvalidInput(key="error.planning.time_zone", field="start")
    return value


def demand_of(
    session: Session, params: dict[str, Any], scope: Scope, area: Area | None
) -> demand.Demand:
    """The demand the parameters name (see :class:`.schemas.DemandIn`)."""
    if params.get("demand", "addresses") == "incidents":
        end = _moment(params.get("end"), utcnow())
        start = _moment(params.get("start"), end - DEFAULT_PERIOD)
        return demand.incident_demand(
            session,
            scope=scope,
            start=start,
            end=end,
            area=area,
            priority_weights=params.get("priority_weights") or None,
        )
    return demand.address_demand(
        session, scope=scope, area=area, weight_column=params.get("weight_column")
    )


def network_of(session: Session, data_dir: Path, area: Area | None) -> network_service.Network:
    """The road network of an analysis of ``area``: in a province deployment the network of
    the county it lies in (cross-border where built, :func:`network_service.for_area`), else
    the current one; a batch's task passes its county's own folder."""
    return network_service.for_area(session, data_dir, area_path=area.path if area else None)


def run_coverage(session: Session, params: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    scope = scope_of(params)
    area = area_of(session, params, scope)
    sites = (
        scenarios.sites_of(
            session,
            scenario=scenarios.get_or_raise(
                session, scenario_id=int(params["scenario_id"]), scope=scope
            ),
            scope=scope,
        )
        if params.get("scenario_id")
        else coverage.current_sites(session, scope=scope)
    )
    return coverage.analyse(
        session,
        network=network_of(session, data_dir, area),
        scope=scope,
        demand=demand_of(session, params, scope, area),
        sites=sites,
        rings_s=params.get("rings_s") or coverage.DEFAULT_RINGS_S,
        unit_type=UnitType(params.get("unit_type", "car")),
        area=area,
    )


def placement_spec(params: dict[str, Any]) -> placement.PlacementInput:
    spec = placement.PlacementInput(
        method=params.get("method", "mclp"),
        p=params.get("p"),
        ring_s=float(params.get("ring_s", 180.0)),
        candidates=tuple(params.get("candidates") or ("posts", "road")),
        posts=params.get("posts", "fixed"),
        spacing_m=float(params.get("spacing_m", 500.0)),
        points=tuple((float(x), float(y)) for x, y in params.get("points") or ()),
        unit_type=UnitType(params.get("unit_type", "car")),
        max_time_s=float(params.get("max_time_s", placement.DEFAULT_MAX_TIME_S)),
        time_limit_s=float(params.get("time_limit_s", 60.0)),
        gap=float(params.get("gap", 1e-4)),
        exact=bool(params.get("exact", True)),
    )
    spec.check()
    return spec


def run_placement(
    session: Session,
    params: dict[str, Any],
    data_dir: Path,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    scope = scope_of(params)
    area = area_of(session, params, scope)
    spec = placement_spec(params)
    return placement.place(
        session,
        network=network_of(session, data_dir, area),
        scope=scope,
        demand=demand_of(session, params, scope, area),
        spec=spec,
        area=area,
        progress=progress,
        cancel=cancel,
    )


def run_ring(session: Session, params: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    scope = scope_of(params)
    area = area_of(session, params, scope)
    if area is None:
        raise InvalidInput(key="error.planning.ring_area", field="area_code")
    return ring.analyse(
        session,
        graph=network_service.current(data_dir).graph,
        scope=scope,
        area=area,
        snap_m=float(params.get("snap_m", ring.DEFAULT_SNAP_M)),
        k=int(params.get("k", 5)),
        weights=params.get("weights") or None,
        target=params.get("target"),
    )


def run_compare(session: Session, params: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    scope = scope_of(params)
    area = area_of(session, params, scope)
    scenario = scenarios.get_or_raise(session, scenario_id=int(params["scenario_id"]), scope=scope)
    return scenarios.compare(
        session,
        network=network_service.current(data_dir),
        scope=scope,
        scenario=scenario,
        demand=demand_of(session, params, scope, area),
        rings_s=tuple(params.get("rings_s") or coverage.DEFAULT_RINGS_S),
        unit_type=UnitType(params.get("unit_type", "car")),
        area=area,
    )


def run_replay(
    session: Session, params: dict[str, Any], data_dir: Path, zone: ZoneInfo
) -> dict[str, Any]:
    scope = scope_of(params)
    area = area_of(session, params, scope)
    scenario = scenarios.get_or_raise(session, scenario_id=int(params["scenario_id"]), scope=scope)
    return scenarios.replay_day(
        session,
        network=network_service.current(data_dir),
        scope=scope,
        scenario=scenario,
        day=parse_day(str(params["day"])),
        zone=zone,
        area=area,
        units_per_added_site=int(params.get("units_per_added_site", 1)),
        turnout_s=float(params.get("turnout_s", 0.0)),
    )


def deployment_spec(params: dict[str, Any]) -> deployment.DeploymentSpec:
    """The hour-of-week deployment's specification from a run's parameters (checked)."""
    defaults = deployment.DeploymentSpec()
    end = params.get("end")
    spec = deployment.DeploymentSpec(
        weeks=int(params.get("weeks", defaults.weeks)),
        end=_moment(end, utcnow()) if end else None,
        target=float(params.get("target", defaults.target)),
        prior_weeks=float(params.get("prior_weeks", defaults.prior_weeks)),
        held_weeks=int(params.get("held_weeks", defaults.held_weeks)),
        sim_hours=int(params.get("sim_hours", defaults.sim_hours)),
        seed=int(params.get("seed", defaults.seed)),
        max_units=int(params.get("max_units", defaults.max_units)),
    )
    spec.check()
    if not 1 <= spec.held_weeks <= 26:
        raise InvalidInput(
            key="error.planning.deployment_held_weeks",
            params={"value": spec.held_weeks},
            field="held_weeks",
        )
    if not 1 <= spec.max_units <= 100:
        raise InvalidInput(
            key="error.planning.deployment_max_units",
            params={"value": spec.max_units},
            field="max_units",
        )
    if not 0 <= spec.prior_weeks <= 52:
        raise InvalidInput(
            key="error.planning.deployment_prior_weeks",
            params={"value": spec.prior_weeks},
            field="prior_weeks",
        )
    return spec


def run_deployment(
    session: Session,
    params: dict[str, Any],
    data_dir: Path,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The hour-of-week deployment (:func:`fangkong.planning.deployment.analyse`) of the
    stations under the run's area, in the zone ``params["timezone"]`` (default
    Asia/Shanghai), with the network of ``data_dir``."""
    scope = scope_of(params)
    area = area_of(session, params, scope)
    spec = deployment_spec(params)

    def report(fraction: float) -> None:
        if progress is not None:
            progress("stations", fraction, {})

    return deployment.analyse(
        session,
        scope=scope,
        spec=spec,
        zone=ZoneInfo(str(params.get("timezone") or DEFAULT_ZONE)),
        network=network_of(session, data_dir, area),
        now=utcnow(),
        area=area,
        progress=report,
    )


def title_of(kind: str, params: dict[str, Any]) -> str:
    """A short title for the list of runs."""
    where = params.get("area_code") or "*"
    if kind == "placement":
        p = f" p={params.get('p')}" if params.get("p") else ""
        return f"{params.get('method', 'mclp')}{p} {params.get('ring_s', 180):g}s {where}"
    if kind == "ring":
        return f"ring {where}"
    if kind == "deployment":
        target = float(params.get("target", 0.8))
        return f"deployment {where} {params.get('weeks', 8)}w {target:.0%}"
    if kind in ("compare", "replay"):
        return f"{kind} scenario {params.get('scenario_id')} {params.get('day', '')}".strip()
    return f"coverage {params.get('demand', 'addresses')} {where}"
