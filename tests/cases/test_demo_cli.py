"""The demo generator and the ``fangkong cases`` commands."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cases.case_helpers import CIPHER, T0, UserFactory, add_user
from factories import county_geojson
from fangkong.areas import service as area_service
from fangkong.cases import jobs, service
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.cli import cases_app
from fangkong.cases.models import Case, CaseEvent, CaseParty
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine, make_session_factory, session_scope
from fangkong.core.migrate import upgrade
from fangkong.core.models import Role
from fangkong.demo.cases import build_demo_cases


def test_demo_cases(db: Session, make_user: UserFactory) -> None:
    make_user(Role.MEDIATOR, "T-D1")
    make_user(Role.GRID_WORKER, "T")
    report = build_demo_cases(db, rng_seed=7, now=T0, cipher=CIPHER, hazards=80, disputes=50)
    assert (report.hazards, report.disputes) == (80, 50)
    cases = list(db.scalars(select(Case)))
    assert len(cases) == 130
    states = {(c.case_type, c.state) for c in cases}
    for expected in [
        ("hazard", "found"),
        ("hazard", "handling"),
        ("hazard", "closed"),
        ("dispute", "mediating"),
        ("dispute", "agreed"),
        ("dispute", "closed"),
    ]:
        assert expected in states
    assert report.overdue > 0 and any(c.late for c in cases)
    assert max(db.scalars(select(CaseEvent.at))) <= T0
    assert all(
        p.name_encrypted and "张" not in p.name_encrypted for p in db.scalars(select(CaseParty))
    )
    assert sum(report.by_state.values()) == 130


def test_cli_tick_purge_types_indicators(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        add_user(session, username="cli_worker", role=Role.GRID_WORKER, area_code="T")
        case = service.create(
            session,
            case_type="hazard",
            title="井盖缺失",
            area=area_service.get_by_code_or_raise(session, code="T-D1"),
            fields={"finding_route": "on_foot", "category": "other"},
            user=None,
            actor=SYSTEM,
            now=T0,
            calendar=BusinessCalendar(),
        )
        case_id = case.id
    engine.dispose()
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path)]
    later = (T0 + timedelta(days=7)).isoformat()
    first = runner.invoke(cases_app, ["tick", *args, "--at", later])
    assert first.exit_code == 0, first.output
    assert "1 reminded, 1 flagged overdue, 1 escalated" in first.output
    second = runner.invoke(cases_app, ["tick", *args, "--at", later])
    assert "0 reminded, 0 flagged overdue, 0 escalated" in second.output
    bad = runner.invoke(cases_app, ["tick", *args, "--at", "2026-11-23T09:00"])
    assert bad.exit_code == 2 and "needs a zone" in bad.output
    purge = runner.invoke(cases_app, ["purge", *args, "--at", later])
    assert purge.exit_code == 0 and "purged 0 cases" in purge.output
    listed = runner.invoke(cases_app, ["types"])
    assert listed.exit_code == 0 and "hazard" in listed.output and "dispute" in listed.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nprefix: BR\n", "utf-8")
    checked = runner.invoke(cases_app, ["types", "--check", str(broken)])
    assert checked.exit_code == 1 and "invalid" in checked.output
    table = runner.invoke(
        cases_app,
        [
            "indicators",
            *args,
            "--type",
            "hazard",
            "--area",
            "T",
            "--start",
            (T0 - timedelta(days=1)).isoformat(),
            "--end",
            later,
        ],
    )
    assert table.exit_code == 0, table.output
    assert "T-D1" in table.output
    unknown = runner.invoke(
        cases_app,
        [
            "indicators",
            *args,
            "--type",
            "hazard",
            "--area",
            "NOPE",
            "--start",
            T0.isoformat(),
            "--end",
            later,
        ],
    )
    assert unknown.exit_code == 2 and "does not exist" in unknown.output
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    with Session(engine) as session:
        stored = session.get(Case, case_id)
        assert stored is not None and stored.is_overdue and stored.escalated_at is not None
    engine.dispose()


def test_ticker_thread_runs_the_tick(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'tick.db'}")
    upgrade(engine)
    ticker = jobs.start_ticker(
        make_session_factory(engine), calendar=BusinessCalendar(), interval_s=0.01
    )
    try:
        for _ in range(200):
            if ticker.runs >= 2:
                break
            time.sleep(0.01)
    finally:
        ticker.stop()
        engine.dispose()
    assert ticker.runs >= 2
