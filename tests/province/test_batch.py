"""Planning batches on Dask (SQLite and PostgreSQL): every county x scenario task stores the run
planning itself would store, on a LocalCluster of two worker processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from factories import grid_centre, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.scoping import Scope
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import county_data_dir, import_and_activate
from fangkong.planning import runs, tasks
from fangkong.planning.models import Run, RunKind, RunStatus
from fangkong.province import batch as province_batch
from fangkong.province.batch import (
    BatchTask,
    Scenario,
    county_codes,
    parse_scenario,
    plan,
    run_batch,
    run_task,
)
from province.province_helpers import COUNTIES, populate

WHOLE = Scope(paths=("/",))


class Province:
    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.url = engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def streets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streets") / "streets.geojson"
    path.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    return path


@pytest.fixture()
def province(backend: str, tmp_path: Path, streets: Path) -> Iterator[Province]:
    from conftest import fresh_database

    engine = fresh_database(backend, tmp_path, suffix="_province")
    populate(engine)
    data_dir = tmp_path / "data"
    for code in COUNTIES:
        import_and_activate(
            county_data_dir(data_dir, code), streets, DEFAULT_PROFILE, class_field="class"
        )
    yield Province(engine, data_dir)
    province_batch.dispose()  # the connections run_task opened in this process
    engine.dispose()


def _direct(province: Province, county: str, scenario: Scenario) -> dict[str, Any]:
    """What planning computes for the county in this process, without Dask."""
    with Session(province.engine) as session:
        area = area_service.get_by_code_or_raise(session, code=county)
        params = {**scenario.params, "scope_paths": [area.path], "area_code": county}
        where = county_data_dir(province.data_dir, county)
        if scenario.kind == "coverage":
            return tasks.run_coverage(session, params, where)
        return tasks.run_placement(session, params, where)


def _stored(province: Province, run_id: int | None) -> Run:
    assert run_id is not None
    with Session(province.engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run


def test_a_batch_on_two_workers_stores_what_planning_computes(province: Province) -> None:
    scenarios = [
        parse_scenario("coverage:rings_s=60/180/300"),
        parse_scenario("placement:method=mclp,p=3,ring_s=180,time_limit_s=30"),
    ]
    with Session(province.engine) as session:
        counties = county_codes(session, scope=WHOLE)
    assert counties == list(COUNTIES)
    batch = plan(counties, scenarios, batch="b1")
    seen: list[tuple[int, int]] = []
    outcomes = run_batch(
        batch,
        database_url=province.url,
        data_dir=province.data_dir,
        workers=2,
        progress=lambda done, total, outcome: seen.append((done, total)),
    )
    assert seen == [(k, 4) for k in range(1, 5)]
    assert [(o.county, o.kind) for o in outcomes] == [
        (c, s.kind) for c in COUNTIES for s in scenarios
    ]
    for outcome, task in zip(outcomes, batch, strict=True):
        assert outcome.status == "done", outcome.error
        run = _stored(province, outcome.run_id)
        assert run.status == RunStatus.DONE and run.kind == RunKind(task.scenario.kind)
        params = runs.params_of(run)
        assert params["batch"] == "b1" and params["area_code"] == task.county
        assert run.area_path == params["scope_paths"][0]
        stored = runs.result_of(run)
        want = _direct(province, task.county, task.scenario)
        if task.scenario.kind == "coverage":
            assert stored["totals"] == want["totals"]
            assert stored["area_code"] == task.county
            assert outcome.headline["share_180"] == want["totals"]["share"]["180"]
            # the county's own demand only: the other county's addresses are not counted
            assert 0 < stored["demand"]["points"] < 160
        else:
            assert stored["objective"] == pytest.approx(want["objective"])
            assert outcome.headline["objective"] == pytest.approx(want["objective"])
    # the two counties' coverage differ (their own posts and addresses)
    shares = [o.headline["share_300"] for o in outcomes if o.kind == "coverage"]
    assert shares[0] != shares[1]


def test_a_task_without_its_countys_network_fails_on_its_run(
    province: Province, tmp_path: Path
) -> None:
    empty = tmp_path / "no-networks"
    task = BatchTask(batch="b2", county="T-D2", scenario=parse_scenario("coverage"), index=0)
    outcome = run_task(task, database_url=province.url, data_dir=str(empty), filed_by="tester")
    assert outcome.status == "failed" and outcome.run_id is None  # no folder: nothing filed
    assert outcome.error is not None and str(empty) in outcome.error
    empty.mkdir()
    task = BatchTask(batch="b2", county="T-D2", scenario=parse_scenario("coverage"), index=0)
    outcome = run_task(task, database_url=province.url, data_dir=str(empty), filed_by="tester")
    assert outcome.status == "failed" and outcome.run_id is not None
    run = _stored(province, outcome.run_id)
    assert run.status == RunStatus.FAILED and run.error is not None
    assert outcome.error == runs.error_text(run, "en")
    # an unknown county files no run
    unknown = BatchTask(batch="b2", county="NOPE", scenario=parse_scenario("coverage"), index=1)
    outcome = run_task(
        unknown, database_url=province.url, data_dir=str(province.data_dir), filed_by="tester"
    )
    assert outcome.status == "failed" and outcome.run_id is None
    assert outcome.error is not None and "NOPE" in outcome.error
    with Session(province.engine) as session:
        assert len(session.scalars(select(Run)).all()) == 1


def test_county_codes(province: Province) -> None:
    with Session(province.engine) as session:
        assert county_codes(session, scope=WHOLE, codes=["T-D2", "T-D2"]) == ["T-D2"]
        with pytest.raises(NotFound):
            county_codes(session, scope=Scope(paths=("/nowhere/",)), codes=["T-D1"])
        with pytest.raises(InvalidInput):
            county_codes(session, scope=Scope(paths=("/nowhere/",)))


@pytest.mark.parametrize(
    ("text", "kind", "params"),
    [
        ("coverage", "coverage", {}),
        (" coverage:rings_s=180/300 , unit_type=foot", "coverage", {
            "rings_s": [180.0, 300.0], "unit_type": "foot"}),
        ("placement:method=mclp,p=5,ring_s=300,exact=no", "placement", {
            "method": "mclp", "p": 5, "ring_s": 300.0, "exact": False}),
    ],
)  # fmt: skip
def test_scenarios(text: str, kind: str, params: dict[str, Any]) -> None:
    scenario = parse_scenario(text)
    assert (scenario.kind, scenario.params) == (kind, params)


@pytest.mark.parametrize(
    "text",
    [
        "hotspots",
        "coverage:colour=red",
        "coverage:rings_s",
        "coverage:rings_s=-5",
        "coverage:unit_type=rocket",
        "placement:p=many",
        "placement:method=nonsense",
        "placement:exact=perhaps",
    ],
)
def test_scenario_faults_are_named(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_scenario(text)


def test_tasks_are_counties_times_scenarios() -> None:
    scenarios = [Scenario("coverage"), Scenario("placement", {"p": 2})]
    batch = plan(["A", "B", "C"], scenarios)
    assert len(batch) == 6 and len({t.key for t in batch}) == 6
    assert len({t.batch for t in batch}) == 1
    assert [(t.county, t.index) for t in batch[:2]] == [("A", 0), ("A", 1)]


def _history(province: Province) -> datetime:
    """Three weeks of incidents around the posts of T-D1-S1 and T-D2-S2 (more by day than by
    night); returns the end of the history (a Monday, local time)."""
    from planning.planning_two_helpers import add_incidents

    end = datetime(2025, 9, 8, tzinfo=ZoneInfo("Asia/Shanghai"))
    start = end - timedelta(weeks=3)
    rng = np.random.default_rng(8)
    with Session(province.engine) as session:
        for grid, rate in (("T-D1-S1-B1-G1", 0.5), ("T-D2-S2-B2-G2", 0.25)):
            lon, lat = grid_centre(grid)
            times = [
                start + timedelta(hours=h, minutes=int(rng.integers(60)))
                for h in range(3 * 168)
                for _ in range(rng.poisson(rate * (2.0 if 8 <= h % 24 < 20 else 0.3)))
            ]
            n = len(times)
            add_incidents(
                session,
                lon + rng.uniform(-0.004, 0.004, n),
                lat + rng.uniform(-0.003, 0.003, n),
                [t.astimezone(UTC) for t in times],
            )
        session.commit()
    return end


def test_hour_of_week_deployment_as_a_batch_scenario(province: Province) -> None:
    end = _history(province)
    text = f"deployment:weeks=3,end={end.date().isoformat()},sim_hours=10,held_weeks=1,max_units=8"
    scenario = parse_scenario(text)
    assert scenario.params["end"] == end.isoformat()
    batch = plan(list(COUNTIES), [scenario], batch="b3")
    seen: list[int] = []
    outcomes = run_batch(
        batch,
        database_url=province.url,
        data_dir=province.data_dir,
        workers=2,
        progress=lambda done, total, outcome: seen.append(done),
        timezone="Asia/Shanghai",
    )
    assert seen == [1, 2]
    for outcome, task in zip(outcomes, batch, strict=True):
        assert outcome.status == "done", outcome.error
        run = _stored(province, outcome.run_id)
        assert run.kind == RunKind.DEPLOYMENT and run.status == RunStatus.DONE
        assert run.progress == 1.0
        params = runs.params_of(run)
        assert params["batch"] == "b3" and params["timezone"] == "Asia/Shanghai"
        assert run.title.startswith(f"deployment {task.county} 3w")
        stored = runs.result_of(run)
        with Session(province.engine) as session:
            county = area_service.get_by_code_or_raise(session, code=task.county)
            want = tasks.run_deployment(
                session,
                {**scenario.params, "scope_paths": [county.path], "area_code": task.county},
                county_data_dir(province.data_dir, task.county),
            )
        assert stored["stations"] == want["stations"]
        planned = [s for s in stored["stations"] if "proposed" in s]
        # each county's one station with a post and incidents; the others are skipped
        assert [s["code"] for s in planned] == ["T-D1-S1" if task.county == "T-D1" else "T-D2-S2"]
        assert outcome.headline == {
            "stations": 1,
            "unit_hours_today": 0,  # no units registered: today's roster is empty
            "unit_hours_proposed": planned[0]["unit_hours_proposed"],
        }
        assert planned[0]["unit_hours_proposed"] > 0
        day, night = planned[0]["proposed"][12], planned[0]["proposed"][3]
        assert day >= night
    # the two counties' rosters differ (their own stations and incidents)
    assert outcomes[0].headline != outcomes[1].headline


@pytest.mark.parametrize(
    "text",
    [
        "deployment:weeks=1",
        "deployment:target=1.5",
        "deployment:sim_hours=2",
        "deployment:held_weeks=40",
        "deployment:max_units=0",
        "deployment:prior_weeks=-1",
        "deployment:end=yesterday",
        "deployment:rings_s=180",
    ],
)
def test_deployment_scenario_faults_are_named(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_scenario(text)


def test_a_local_cluster_starts_while_another_holds_the_dashboards_port(
    province: Province,
) -> None:
    """Two batches on one host (or a Dask cluster already there): the second local cluster's
    scheduler must not need port 8787 (it failed to start, a warning turned error)."""
    import socket

    holder = socket.socket()
    try:
        try:
            holder.bind(("0.0.0.0", 8787))
            holder.listen()
        except OSError:
            pass  # already held by another process: the same situation
        batch = plan(["T-D2"], [parse_scenario("coverage:rings_s=180")], batch="b4")
        (outcome,) = run_batch(
            batch, database_url=province.url, data_dir=province.data_dir, workers=1
        )
        assert outcome.status == "done", outcome.error
    finally:
        holder.close()
