"""``fangkong planning hotspots | deployment | beats`` end to end on a data folder (SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from openpyxl import load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import county_geojson, grid_centre, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.cli import app
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import import_and_activate
from planning.planning_two_helpers import add_incidents

T0 = datetime(2025, 6, 2, tzinfo=UTC)


def _county(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    upgrade(engine)
    layer = tmp_path / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(tmp_path, layer, DEFAULT_PROFILE, class_field="class")
    rng = np.random.default_rng(5)
    lon0, lat0 = grid_centre("T-D2-S1-B2-G1")
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        lon = np.concatenate([rng.uniform(120.003, 120.157, 200), lon0 + rng.normal(0, 0.004, 300)])
        lat = np.concatenate([rng.uniform(30.003, 30.077, 200), lat0 + rng.normal(0, 0.004, 300)])
        lon, lat = np.clip(lon, 120.001, 120.159), np.clip(lat, 30.001, 30.079)
        times = [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 56, lon.size)]
        add_incidents(session, lon, lat, times)
        session.commit()
    engine.dispose()


def test_cli_hotspots(tmp_path: Path) -> None:
    _county(tmp_path)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    out = tmp_path / "hot.geojson"
    book = tmp_path / "hot.xlsx"
    result = runner.invoke(
        app,
        [
            "planning", "hotspots", "--resolution", "8",
            "--start", (T0 + timedelta(days=28)).isoformat(),
            "--end", (T0 + timedelta(days=56)).isoformat(),
            "--compare-start", T0.isoformat(),
            "--compare-end", (T0 + timedelta(days=28)).isoformat(),
            "--geojson", str(out), "--xlsx", str(book), *data,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "hot" in result.output and "stored as analysis" in result.output
    assert "busiest road segment" in result.output
    features = json.loads(out.read_text("utf-8"))["features"]
    assert any(f["properties"].get("class") == "hot" for f in features)
    assert load_workbook(book).sheetnames[0] == "概要"
    refused = runner.invoke(app, ["planning", "hotspots", "--hours", "200", *data])
    assert refused.exit_code != 0
    refused = runner.invoke(app, ["planning", "hotspots", "--start", "2025-01-01", *data])
    assert refused.exit_code != 0


def test_cli_deployment(tmp_path: Path) -> None:
    _county(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    with Session(engine) as session:
        from sqlalchemy import select

        from fangkong.areas.models import Area
        from fangkong.dispatch import units as dispatch_units
        from fangkong.dispatch.models import PostKind, UnitType

        beat = session.scalars(select(Area).where(Area.code == "T-D2-S1-B2")).one()
        lon, lat = grid_centre("T-D2-S1-B2-G1")
        post = dispatch_units.create_post(
            session, code="CD1", name="p", kind=PostKind.POLICE_POST, lon=lon, lat=lat,
            actor=SYSTEM,
        )  # fmt: skip
        dispatch_units.create_unit(
            session, call_sign="CDU1", unit_type=UnitType.CAR, home_area=beat, actor=SYSTEM,
            home_post=post,
        )  # fmt: skip
        session.commit()
    engine.dispose()
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    book = tmp_path / "roster.xlsx"
    result = runner.invoke(
        app,
        [
            "planning", "deployment", "--area", "T-D2-S1", "--weeks", "8", "--sim-hours", "10",
            "--end", (T0 + timedelta(days=56)).isoformat(), "--adopt", "--xlsx", str(book), *data,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "T-D2-S1" in result.output and "(adopted)" in result.output
    assert "coverage" in result.output
    assert len(load_workbook(book)["周内逐时排班"]["A"]) == 169
    refused = runner.invoke(app, ["planning", "deployment", "--weeks", "1", *data])
    assert refused.exit_code != 0


def test_cli_beats(tmp_path: Path) -> None:
    _county(tmp_path)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    out = tmp_path / "beats.geojson"
    result = runner.invoke(
        app,
        [
            "planning", "beats", "--station", "T-D2-S1", "--k", "2",
            "--start", T0.isoformat(), "--end", (T0 + timedelta(days=56)).isoformat(),
            "--geojson", str(out), *data,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "imbalance" in result.output and "contiguous: True" in result.output
    features = json.loads(out.read_text("utf-8"))["features"]
    assert len(features) == 2 and all(f["properties"]["level"] == "beat" for f in features)
    refused = runner.invoke(app, ["planning", "beats", "--station", "T-D2", "--k", "2", *data])
    assert refused.exit_code != 0
