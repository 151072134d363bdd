"""The command line end to end: the demo county build, reuse, fusion check, lookup, imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import county_geojson, feature, rectangle
from fangkong.areas.models import Area, StandardAddress
from fangkong.cli import app
from fangkong.core.db import make_engine
from fangkong.core.models import User

runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--data-dir", str(data_dir), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "demo county built in" in result.output
    assert "fangkong-demo" in result.output
    return data_dir


def _count(data_dir: Path, column: object) -> int:
    engine = make_engine(f"sqlite:///{data_dir / 'fangkong.db'}")
    with Session(engine) as session:
        value = session.scalar(select(func.count(column)))  # type: ignore[arg-type]
    engine.dispose()
    return int(value or 0)


def test_demo_builds_the_county(demo_dir: Path) -> None:
    engine = make_engine(f"sqlite:///{demo_dir / 'fangkong.db'}")
    with Session(engine) as session:
        levels = dict(
            session.execute(select(Area.level, func.count(Area.id)).group_by(Area.level)).all()
        )
        users = set(session.scalars(select(User.username)))
        unplaced = session.scalar(
            select(func.count(StandardAddress.id)).where(StandardAddress.area_path.is_(None))
        )
        sources = dict(
            session.execute(
                select(StandardAddress.source, func.count(StandardAddress.id)).group_by(
                    StandardAddress.source
                )
            ).all()
        )
    engine.dispose()
    counts = {level.value: n for level, n in levels.items()}
    assert counts["city"] == 1 and counts["district"] == 2 and counts["station"] == 11
    assert 20 <= counts["beat"] <= 40 and counts["grid"] >= 100
    assert users == {
        "admin",
        "commander",
        "station",
        "grid",
        "mediator",
        "inspector",
        "evaluator",
        "viewer",
    }
    # 19 of the extract's 1,001 addresses lie outside the county's areas and are left out:
    # every standard address is in someone's scope.
    assert sources["osm"] == 982 and sources["generated"] > 1000 and unplaced == 0
    roads = json.loads((demo_dir / "roads.geojson").read_text("utf-8"))
    assert len(roads["features"]) == 2352


def test_demo_passes_its_own_fusion_check(demo_dir: Path) -> None:
    result = runner.invoke(app, ["areas", "check", "--data-dir", str(demo_dir)])
    assert result.exit_code == 0, result.output
    assert "no faults" in result.output


def test_demo_is_reused_unless_rebuilt(demo_dir: Path) -> None:
    before = _count(demo_dir, Area.id)
    again = runner.invoke(app, ["demo", "--data-dir", str(demo_dir), "--no-serve"])
    assert again.exit_code == 0 and "reusing the demo county" in again.output
    assert _count(demo_dir, Area.id) == before


def test_locate_in_vaduz(demo_dir: Path) -> None:
    # Vaduz town centre (Städtle).
    result = runner.invoke(
        app, ["areas", "locate", "9.5215", "47.1395", "--data-dir", str(demo_dir)]
    )
    assert result.exit_code == 0
    assert "Vaduz Station" in result.output and "grid" in result.output


def test_import_cli_reports_the_fault_and_writes_nothing(tmp_path: Path) -> None:
    data = county_geojson()
    data["features"][5]["properties"]["parent_code"] = "MISSING"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["areas", "import", str(bad), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "parent_code 'MISSING'" in result.output
    assert _count(tmp_path, Area.id) == 0

    good = tmp_path / "good.geojson"
    good.write_text(json.dumps(county_geojson()), encoding="utf-8")
    result = runner.invoke(app, ["areas", "import", str(good), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "imported 31 areas" in result.output
    check = runner.invoke(app, ["areas", "check", "--data-dir", str(tmp_path)])
    assert check.exit_code == 0

    overlap = tmp_path / "overlap.geojson"
    overlap.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    feature("OV-B", "beat", "T-D1-S1", rectangle(120.0, 30.0, 120.01, 30.01))
                ],
            }
        ),
        encoding="utf-8",
    )
    assert (
        runner.invoke(app, ["areas", "import", str(overlap), "--data-dir", str(tmp_path)]).exit_code
        == 0
    )
    faulty = runner.invoke(app, ["areas", "check", "--data-dir", str(tmp_path)])
    assert faulty.exit_code == 1 and "overlap" in faulty.output and "OV-B" in faulty.output

    csv_file = tmp_path / "addresses.csv"
    csv_file.write_text(
        "code,text_zh,text_en,lon,lat\nC-1,一号,No 1,120.01,30.01\nC-2,二号,No 2,120.1,30.05\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["addresses", "import", str(csv_file), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "imported 2 standard addresses" in result.output
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("code,text_zh,text_en,lon,lat\nC-3,三号,,east,30\n", encoding="utf-8")
    result = runner.invoke(app, ["addresses", "import", str(bad_csv), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "line 2" in result.output


def test_serve_with_two_workers(tmp_path: Path) -> None:
    """``fangkong serve --workers 2``: both processes answer from the same data folder."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    data_dir = tmp_path / "served"
    assert CliRunner().invoke(app, ["db", "upgrade", "--data-dir", str(data_dir)]).exit_code == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fangkong.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # The deadline catches a server that never answers, not a slow start: two workers
        # importing the app took over 60 s on a loaded machine. One that exits fails at once.
        deadline = time.monotonic() + 300
        answers: list[int] = []
        while time.monotonic() < deadline and len(answers) < 20:
            assert server.poll() is None, "the server exited"
            try:
                answers.append(httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answers == [200] * 20
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert output.count("Started server process") == 2, output
