"""End to end: the command line imports each county's network and runs a batch on Dask."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import street_grid_geojson
from fangkong.cli import app
from fangkong.core.db import make_engine
from fangkong.planning import runs
from fangkong.planning.models import Run, RunStatus
from province.province_helpers import COUNTIES, populate

runner = CliRunner()


def test_network_per_county_and_a_batch_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert runner.invoke(app, ["db", "upgrade", "--data-dir", str(data_dir)]).exit_code == 0
    engine = make_engine(f"sqlite:///{(data_dir / 'fangkong.db').resolve()}")
    populate(engine)
    streets = tmp_path / "streets.geojson"
    streets.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    for code in COUNTIES:
        done = runner.invoke(
            app,
            ["network", "import", str(streets), "--class-field", "class", "--county", code,
             "--data-dir", str(data_dir)],
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        assert (data_dir / "counties" / code / "network" / "current.json").is_file()
    bad = runner.invoke(
        app, ["network", "import", str(streets), "--county", "../up", "--data-dir", str(data_dir)]
    )
    assert bad.exit_code == 2 and "county code" in bad.output
    done = runner.invoke(
        app,
        ["province", "batch", "-s", "coverage:rings_s=180/300", "-s",
         "deployment:weeks=2,sim_hours=5", "--workers", "1", "--task-threads", "1",
         "--data-dir", str(data_dir)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "2 counties x 2 scenarios = 4 tasks" in done.output
    with Session(engine) as session:
        stored = session.scalars(select(Run).order_by(Run.id)).all()
        assert sorted((runs.params_of(r)["area_code"], r.kind.value) for r in stored) == [
            (c, k) for c in COUNTIES for k in ("coverage", "deployment")
        ]
        assert all(r.status == RunStatus.DONE for r in stored)
        # no incidents in this province: every station is listed as skipped, none planned
        deployment = runs.result_of(next(r for r in stored if r.kind.value == "deployment"))
        assert deployment["stations"] and all("skipped" in s for s in deployment["stations"])
    engine.dispose()
    wrong = runner.invoke(app, ["province", "batch", "-s", "hotspots", "--data-dir", str(data_dir)])
    assert wrong.exit_code == 2 and "hotspots" in wrong.output
