"""Planning services on the test county's street grid (SQLite and PostgreSQL): coverage against
a brute-force nearest-post count, placement against enumeration, scenarios, runs and jobs."""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.dispatch_helpers import ACTOR, CIPHER, area, incident_in, scope_of
from factories import county_geojson, grid_centre, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_session_factory
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.i18n import translate
from fangkong.core.scoping import Scope
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import IncidentStatus, PostKind, Priority, UnitType
from fangkong.network import service as network_service
from fangkong.network.engine import EdgePoints
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate
from fangkong.planning import coverage, demand, jobs, placement, runs, scenarios
from fangkong.planning.models import Run, RunKind, RunStatus, SiteAction

WHOLE = Scope(paths=("/",))
POSTS = {"PA": "T-D1-S1-B1-G1", "PB": "T-D2-S2-B2-G2", "PC": "T-D1-S2-B2-G1"}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("planning-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def _posts(db: Session) -> None:
    for code, grid in POSTS.items():
        lon, lat = grid_centre(grid)
        dispatch_service.create_post(
            db, code=code, name=f"post {code}", kind=PostKind.STREET_POST, lon=lon, lat=lat,
            actor=ACTOR,
        )  # fmt: skip


def _addresses(db: Session, n: int = 240, seed: int = 7) -> list[area_service.AddressRow]:
    rng = np.random.default_rng(seed)
    rows = [
        area_service.AddressRow(
            code=f"PL{i:04d}",
            text_zh=f"规划路{i}号",
            text_en=f"{i} Planning Road",
            lon=float(rng.uniform(120.001, 120.159)),
            lat=float(rng.uniform(30.001, 30.079)),
        )
        for i in range(n)
    ]
    area_service.import_addresses(db, rows=rows, actor=SYSTEM)
    return rows


def _brute_times(network: Network, sites: list[coverage.Site], d: demand.Demand) -> np.ndarray:
    """The nearest site's time for each demand point: one search per site, the minimum."""
    snapped = network.snapper.snap(d.lon, d.lat, max_distance_m=coverage.SNAP_M)
    targets = EdgePoints(np.where(snapped.too_far, -1, snapped.edge), snapped.fraction)
    best = np.full(len(d), np.inf)
    for site in sites:
        s = network.snapper.snap(np.array([site.lon]), np.array([site.lat]))
        best = np.minimum(best, network.engine.one_to_many(s.points, targets))
    return best


def test_coverage_equals_a_brute_force_nearest_post_count(db: Session, network: Network) -> None:
    _posts(db)
    _addresses(db)
    d = demand.address_demand(db, scope=WHOLE)
    sites = coverage.current_sites(db, scope=WHOLE)
    report = coverage.analyse(db, network=network, scope=WHOLE, demand=d, sites=sites)
    brute = _brute_times(network, sites, d)
    got = np.array([math.inf if t is None else t for t in report["points"]["time_s"]])
    within = brute <= 300
    assert np.array_equal(np.isfinite(got), within)
    assert np.allclose(got[within], brute[within], atol=0.06)
    for ring in (60, 180, 300):
        assert report["totals"]["covered"][f"{ring:g}"] == float((brute <= ring).sum())
    # per area at every level: the brute-force count of the area's addresses
    by_code = {row["code"]: row for row in report["areas"]}
    assert set(by_code) == {f["properties"]["code"] for f in county_geojson()["features"]}
    paths = {a.code: a.path for a in db.scalars(select(area_service.Area))}
    for code in ("T", "T-D1", "T-D2-S1", "T-D1-S1-B2", "T-D1-S1-B1-G1"):
        mine = np.array([(p or "").startswith(paths[code]) for p in d.area_path])
        assert by_code[code]["points"] == int(mine.sum())
        assert by_code[code]["covered"]["180"] == float((mine & (brute <= 180)).sum())
    # the worst-served grids first
    grids = [r for r in report["areas"] if r["level"] == "grid" and r["weight"] > 0]
    worst = min(grids, key=lambda r: r["share"]["180"])
    assert report["worst_grids"][0] in {
        r["code"] for r in grids if r["share"]["180"] == worst["share"]["180"]
    }


def test_coverage_on_foot_walks_the_roads(db: Session, network: Network) -> None:
    _posts(db)
    _addresses(db, n=60, seed=3)
    d = demand.address_demand(db, scope=WHOLE)
    sites = coverage.current_sites(db, scope=WHOLE)
    report = coverage.analyse(
        db, network=network, scope=WHOLE, demand=d, sites=sites, unit_type=UnitType.FOOT,
        rings_s=(300, 900),
    )  # fmt: skip
    walk = network.walking
    snapped = network.snapper.snap(d.lon, d.lat, max_distance_m=coverage.SNAP_M)
    targets = walk.mode.points(EdgePoints(snapped.edge, snapped.fraction))
    best = np.full(len(d), np.inf)
    for site in sites:
        s = network.snapper.snap(np.array([site.lon]), np.array([site.lat]))
        best = np.minimum(best, walk.engine.one_to_many(walk.mode.points(s.points), targets))
    assert report["totals"]["covered"]["900"] == float((best <= 900).sum())
    assert report["travel"] == "walk"
    with pytest.raises(InvalidInput):
        coverage.analyse(
            db, network=network, scope=WHOLE, demand=d, sites=sites, unit_type=UnitType.BOAT
        )


def test_weights_from_a_column_of_the_address_import(db: Session, network: Network) -> None:
    _posts(db)
    rows = _addresses(db, n=30, seed=5)
    text = "code,text_zh,lon,lat,households\n" + "".join(
        f"{r.code},{r.text_zh},{r.lon},{r.lat},{i % 4}\n" for i, r in enumerate(rows[:25])
    )
    assert demand.import_weights(db, text=text, columns=["households"], actor=ACTOR) == {
        "households": 25
    }
    d = demand.address_demand(db, scope=WHOLE, weight_column="households")
    assert d.missing_weight == 5
    assert float(d.weight.sum()) == sum(i % 4 for i in range(25))
    with pytest.raises(InvalidInput) as bad:
        demand.import_weights(
            db, text="code,households\nNOPE,3\n", columns=["households"], actor=ACTOR
        )
    assert "NOPE" in bad.value.message
    with pytest.raises(InvalidInput):
        demand.address_demand(db, scope=WHOLE, weight_column="floors")


def test_incident_demand_is_weighted_by_priority_and_scoped(db: Session) -> None:
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for i, (grid, priority) in enumerate(
        [("T-D1-S1-B1-G1", Priority.P1), ("T-D1-S1-B1-G2", Priority.P3), ("T-D2-S1-B1-G1",
                                                                          Priority.P4)]
    ):  # fmt: skip
        dispatch_service.create(
            db, key=f"pl-{i}", data=incident_in(grid, priority=priority, contact=None),
            actor=ACTOR, now=t0 + timedelta(minutes=i), cipher=CIPHER,
        )  # fmt: skip
    d = demand.incident_demand(db, scope=WHOLE, start=t0, end=t0 + timedelta(hours=1))
    assert sorted(d.weight.tolist()) == [1.0, 2.0, 4.0]
    mine = demand.incident_demand(
        db, scope=scope_of(db, "T-D1"), start=t0, end=t0 + timedelta(hours=1),
        priority_weights={"P1": 10},
    )  # fmt: skip
    assert sorted(mine.weight.tolist()) == [2.0, 10.0]
    assert all(label.startswith("incident ") for label in mine.label)


def test_placement_equals_enumeration(db: Session, network: Network) -> None:
    _posts(db)
    _addresses(db, n=120, seed=11)
    d = demand.address_demand(db, scope=WHOLE)
    spec = placement.PlacementInput(
        method="mclp", p=2, ring_s=120.0, candidates=("posts", "road"), posts="free",
        spacing_m=3000.0,
    )  # fmt: skip
    result = placement.place(db, network=network, scope=WHOLE, demand=d, spec=spec)
    assert result["status"] == "optimal"
    posts = coverage.current_sites(db, scope=WHOLE)
    polygon = area_service.geometry(area(db, "T"))
    sites = posts + placement.road_points(network, polygon, 3000.0)
    assert result["candidates"]["count"] == len(sites)
    # every candidate's reach by brute force, then every pair
    snapped = network.snapper.snap(d.lon, d.lat, max_distance_m=coverage.SNAP_M)
    targets = EdgePoints(np.where(snapped.too_far, -1, snapped.edge), snapped.fraction)
    reach = []
    for site in sites:
        s = network.snapper.snap(np.array([site.lon]), np.array([site.lat]))
        reach.append(network.engine.one_to_many(s.points, targets) <= 120.0)
    best = max(
        float(d.weight[np.any([reach[j] for j in combo], axis=0)].sum())
        for combo in itertools.combinations(range(len(sites)), 2)
    )
    assert result["objective"] == best
    assert len(result["sites"]) == 2
    # fixed posts stay; LSCP and the p-median answer too
    fixed = placement.place(
        db, network=network, scope=WHOLE, demand=d,
        spec=placement.PlacementInput(method="mclp", p=4, ring_s=120.0,
                                      candidates=("posts", "road"), spacing_m=3000.0),
    )  # fmt: skip
    assert set(POSTS) <= {s["code"] for s in fixed["sites"]}
    median = placement.place(
        db, network=network, scope=WHOLE, demand=d,
        spec=placement.PlacementInput(method="p_median", p=3, ring_s=300.0,
                                      candidates=("road",), spacing_m=3000.0),
    )  # fmt: skip
    assert median["status"] == "optimal" and median["objective"] > 0
    with pytest.raises(InvalidInput) as refused:
        placement.place(
            db, network=network, scope=WHOLE, demand=d,
            spec=placement.PlacementInput(method="lscp", p=None, ring_s=30.0,
                                          candidates=("posts",)),
        )  # fmt: skip
    assert "PL0" in refused.value.message  # the unreachable addresses, by code


def test_placement_input_is_bounded() -> None:
    for bad in (
        {"p": 0},
        {"p": 10_000},
        {"ring_s": 0.0},
        {"ring_s": 4000.0},
        {"candidates": ()},
        {"spacing_m": 1.0},
        {"time_limit_s": 1e9},
    ):
        spec = placement.PlacementInput(
            **{"method": "mclp", "p": 3, "ring_s": 180.0, "candidates": ("road",), **bad}
        )
        with pytest.raises(InvalidInput):
            spec.check()


def test_scenario_compare_and_replay(db: Session, network: Network) -> None:
    _posts(db)
    _addresses(db, n=150, seed=13)
    lon, lat = grid_centre("T-D2-S1-B1-G1")
    plan = scenarios.create(
        db, name="east post", scope=WHOLE, actor=ACTOR,
        changes=[
            scenarios.Change(SiteAction.ADD, code="NEW1", name="new", lon=lon, lat=lat),
            scenarios.Change(SiteAction.REMOVE, post_code="PC"),
            scenarios.Change(SiteAction.MOVE, post_code="PA", lon=lon - 0.02, lat=lat),
        ],
    )  # fmt: skip
    sites = scenarios.sites_of(db, scenario=plan, scope=WHOLE)
    assert {s.code: s.kind for s in sites} == {"PA": "moved", "PB": "post", "NEW1": "added"}
    d = demand.address_demand(db, scope=WHOLE)
    compared = scenarios.compare(db, network=network, scope=WHOLE, scenario=plan, demand=d)
    for ring, gain in compared["gain"].items():
        assert gain == pytest.approx(
            compared["planned"]["totals"]["share"][ring]
            - compared["today"]["totals"]["share"][ring]
        )
    assert len(compared["areas"]) == 31
    # a recorded day replayed with today's units and the scenario's
    post_a = dispatch_service.get_post_by_code_or_raise(db, code="PA", scope=WHOLE)
    dispatch_service.create_unit(
        db, call_sign="PL-1", unit_type=UnitType.CAR, home_area=area(db, "T-D1-S1-B1-G1"),
        home_post=post_a, actor=ACTOR,
    )  # fmt: skip
    day = date(2026, 3, 2)
    received = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    incident, _ = dispatch_service.create(
        db, key="pl-replay", data=incident_in("T-D2-S1-B1-G1", contact=None), actor=ACTOR,
        now=received, cipher=CIPHER,
    )  # fmt: skip
    incident.status = IncidentStatus.CLOSED
    db.flush()
    from zoneinfo import ZoneInfo

    replayed = scenarios.replay_day(
        db, network=network, scope=WHOLE, scenario=plan, day=day, zone=ZoneInfo("Asia/Shanghai")
    )
    assert replayed["incidents"] == 1
    assert replayed["planned"]["units"] == replayed["today"]["units"] + 1
    # the added post's car is at the scene's grid: faster than today's
    assert (
        replayed["planned"]["dispatch_to_arrival"]["p50_s"]
        < replayed["today"]["dispatch_to_arrival"]["p50_s"]
    )
    with pytest.raises(NotFound):
        scenarios.get_or_raise(db, scenario_id=plan.id, scope=scope_of(db, "T-D2"))


def test_checkpoints_are_scoped_and_filed_outside_the_areas(db: Session) -> None:
    from fangkong.planning import ring

    inside = ring.create_checkpoint(
        db, code="KK1", name="north", lon=120.05, lat=30.079, scope=WHOLE, actor=ACTOR
    )
    assert inside.area_path is not None
    with pytest.raises(InvalidInput) as outside:
        ring.create_checkpoint(
            db, code="KK2", name="far", lon=120.5, lat=30.5, scope=WHOLE, actor=ACTOR
        )
    assert outside.value.field == "area_code"
    filed = ring.create_checkpoint(
        db, code="KK2", name="far", lon=120.5, lat=30.5, scope=WHOLE, actor=ACTOR,
        area_code="T-D2",
    )  # fmt: skip
    assert filed.area_path == area(db, "T-D2").path
    assert [c.code for c in ring.get_checkpoints(db, scope=scope_of(db, "T-D2"))] == ["KK2"]
    with pytest.raises(NotFound):
        ring.get_checkpoint_or_raise(db, checkpoint_id=filed.id, scope=scope_of(db, "T-D1"))


# --- runs and background jobs on a database of their own (jobs commit) ----------------------


@pytest.fixture()
def job_factory(backend: str, tmp_path: Path) -> sessionmaker[Session]:
    from conftest import fresh_database

    engine: Engine = fresh_database(backend, tmp_path, suffix="_jobs")
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        session.commit()
    return make_session_factory(engine)


def _queued(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        run = runs.create(
            session, kind=RunKind.PLACEMENT, params={"p": 1}, area_path="/", actor=ACTOR
        )
        session.commit()
        return run.id


def test_a_job_reports_progress_and_stores_its_result(job_factory: sessionmaker[Session]) -> None:
    run_id = _queued(job_factory)
    seen: list[float] = []

    def work(
        session: Session, progress: jobs.Progress, cancel: threading.Event
    ) -> dict[str, object]:
        for k in range(3):
            progress("step", k / 3, {})
            seen.append(k / 3)
        return {"status": "optimal", "answer": 42}

    runner = jobs.runner_for(job_factory)
    runner.submit(run_id, work).result(timeout=30)
    with job_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.DONE
        assert runs.result_of(run)["answer"] == 42
        assert run.progress == 1.0


def test_a_silent_job_and_the_runs_queued_behind_it_are_not_lost(
    job_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job that reports nothing for longer than a run takes to read as lost (a first
    compilation, a long stage on a loaded machine), and a run queued behind it, stay running
    and queued while their server lives: the runner beats for them."""
    monkeypatch.setattr(runs, "STALE_AFTER", timedelta(seconds=1))
    monkeypatch.setattr(jobs, "HEARTBEAT_S", 0.2)
    first, second = _queued(job_factory), _queued(job_factory)
    release = threading.Event()

    def silent(
        session: Session, progress: jobs.Progress, cancel: threading.Event
    ) -> dict[str, object]:
        release.wait(30)
        return {"status": "optimal"}

    def quick(
        session: Session, progress: jobs.Progress, cancel: threading.Event
    ) -> dict[str, object]:
        return {"status": "optimal"}

    runner = jobs.runner_for(job_factory)
    futures = [runner.submit(first, silent), runner.submit(second, quick)]
    try:
        time.sleep(2.5)  # more than twice STALE_AFTER without a report
        with job_factory() as session:
            shown = {
                run_id: runs.shown_status(run)
                for run_id in (first, second)
                if (run := session.get(Run, run_id)) is not None
            }
        assert shown == {first: RunStatus.RUNNING, second: RunStatus.QUEUED}
    finally:
        release.set()
        for future in futures:
            future.result(timeout=30)
    with job_factory() as session:
        for run_id in (first, second):
            run = session.get(Run, run_id)
            assert run is not None and run.status == RunStatus.DONE


def test_a_job_is_cancelled(job_factory: sessionmaker[Session]) -> None:
    run_id = _queued(job_factory)
    started = threading.Event()

    def work(
        session: Session, progress: jobs.Progress, cancel: threading.Event
    ) -> dict[str, object]:
        started.set()
        deadline = time.monotonic() + 20
        while not cancel.is_set() and time.monotonic() < deadline:
            progress("waiting", 0.5, {})
            time.sleep(0.05)
        return {"status": "cancelled" if cancel.is_set() else "optimal"}

    runner = jobs.runner_for(job_factory)
    future = runner.submit(run_id, work)
    assert started.wait(10)
    with job_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None
        runs.request_cancel(session, run=run, actor=ACTOR)
        session.commit()
    future.result(timeout=30)  # the job saw the flag at a progress report
    with job_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.CANCELLED


def test_a_failing_job_stores_its_error(job_factory: sessionmaker[Session]) -> None:
    """A job's error is stored as its catalogue key and values, read in the reader's language
    (issue 18: no English sentence on a Chinese page)."""
    run_id = _queued(job_factory)

    def work(
        session: Session, progress: jobs.Progress, cancel: threading.Event
    ) -> dict[str, object]:
        raise InvalidInput(
            key="error.planning.p_candidates", params={"p": 7, "candidates": 3}, field="p"
        )

    jobs.runner_for(job_factory).submit(run_id, work).result(timeout=30)
    with job_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.FAILED
        assert runs.error_of(run) == ("error.planning.p_candidates", {"p": 7, "candidates": 3})
        for language in ("zh-CN", "en"):
            expected = translate("error.planning.p_candidates", language, p=7, candidates=3)
            assert runs.error_text(run, language) == expected
        assert runs.error_text(run, "zh-CN") != runs.error_text(run, "en")


def test_a_job_that_breaks_stores_a_translated_failure(
    job_factory: sessionmaker[Session],
) -> None:
    """An unexpected exception is stored as the catalogue's failure with the exception's kind,
    never as English text."""
    run_id = _queued(job_factory)

    def work(
        session: Session, progress: jobs.Progress, cancel: threading.Event
    ) -> dict[str, object]:
        raise ZeroDivisionError("float division by zero")

    jobs.runner_for(job_factory).submit(run_id, work).result(timeout=30)
    with job_factory() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.FAILED
        assert runs.error_of(run) == ("error.planning.job_failed", {"kind": "ZeroDivisionError"})
        for language in ("zh-CN", "en"):
            expected = translate("error.planning.job_failed", language, kind="ZeroDivisionError")
            assert runs.error_text(run, language) == expected


def test_an_error_stored_as_text_reads_as_it_is(db: Session) -> None:
    """Runs failed before errors were stored by key keep their text."""
    run = runs.create(db, kind=RunKind.PLACEMENT, params={"p": 1}, area_path="/", actor=ACTOR)
    run.error = "p must lie in 1..500"
    db.flush()
    assert runs.error_of(run) == (None, {})
    assert runs.error_text(run, "zh-CN") == "p must lie in 1..500"


def test_a_site_far_from_every_road_reaches_nothing_and_is_named(
    db: Session, network: Network
) -> None:
    _posts(db)
    _addresses(db, n=40, seed=21)
    d = demand.address_demand(db, scope=WHOLE)
    sites = [*coverage.current_sites(db, scope=WHOLE), coverage.Site("FAR", "far", 120.6, 30.6)]
    report = coverage.analyse(db, network=network, scope=WHOLE, demand=d, sites=sites)
    assert report["sites_without_road"] == ["FAR"]
    assert report["sites"][-1]["covered"]["300"] == 0.0
    areas = coverage.service_areas(network, sites=sites, ring_s=300.0)
    assert "FAR" not in {f["properties"]["code"] for f in areas["features"]}
