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
    assert "road segments:" in result.output and "fading" in result.output
    features = json.loads(out.read_text("utf-8"))["features"]
    assert any(f["properties"].get("class") == "hot" for f in features)
    lines = [f for f in features if f["properties"]["kind"] == "segment"]
    assert any(f["properties"]["class"] == "hot" for f in lines)
    assert all(f["geometry"]["type"] == "LineString" for f in lines)
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
    refused = runner.invoke(app, ["planning", "beats", "--station", "T", "--k", "2", *data])
    assert refused.exit_code != 0
    # a district's beats are drawn and stored; adopting them is refused
    district = runner.invoke(app, ["planning", "beats", "--station", "T-D2", "--k", "3", *data])
    assert district.exit_code == 0, district.output
    assert "contiguous: True" in district.output
    adopted = runner.invoke(
        app, ["planning", "beats", "--station", "T-D2", "--k", "3", "--adopt", *data]
    )
    assert adopted.exit_code != 0 and "stored as analysis" in adopted.output


def _beat_codes(tmp_path: Path, station: str) -> list[str]:
    from sqlalchemy import select

    from fangkong.areas.models import Area, AreaLevel

    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    with Session(engine) as session:
        parent = session.scalars(select(Area).where(Area.code == station)).one()
        codes = sorted(
            session.scalars(
                select(Area.code).where(Area.level == AreaLevel.BEAT, Area.parent_id == parent.id)
            )
        )
    engine.dispose()
    return codes


def _audited(tmp_path: Path, action: str, entity: str) -> list[str | None]:
    from sqlalchemy import select

    from fangkong.core.models import AuditEvent

    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    with Session(engine) as session:
        found = list(
            session.scalars(
                select(AuditEvent.entity_id).where(
                    AuditEvent.action == action, AuditEvent.entity == entity
                )
            )
        )
    engine.dispose()
    return found


def test_cli_adopts_beats_into_the_tree_after_the_fusion_check(tmp_path: Path) -> None:
    """``fangkong planning beats --adopt`` and ``fangkong planning adopt ID`` write the beats
    into the area tree as the API does (fusion check, regrouping, audit); a proposal that
    fails the fusion check is refused with the tree unchanged."""
    from sqlalchemy import select

    from fangkong.planning.analysis_models import Analysis

    _county(tmp_path)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    period = ["--start", T0.isoformat(), "--end", (T0 + timedelta(days=56)).isoformat()]
    before = _beat_codes(tmp_path, "T-D2-S1")
    assert before == ["T-D2-S1-B1", "T-D2-S1-B2"]
    out = tmp_path / "beats.geojson"
    # stored, not adopted: the tree is unchanged
    stored = runner.invoke(
        app, ["planning", "beats", "--station", "T-D2-S1", "--k", "3", *period,
              "--geojson", str(out), *data],
    )  # fmt: skip
    assert stored.exit_code == 0, stored.output
    assert _beat_codes(tmp_path, "T-D2-S1") == before
    proposed = sorted(f["properties"]["code"] for f in json.loads(out.read_text())["features"])
    assert len(proposed) == 3 and proposed != before
    analysis_id = int(stored.output.rsplit("stored as analysis", 1)[1].split()[0])

    # a proposal whose grids no longer cover the station fails the fusion check: refused
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    with Session(engine) as session:
        row = session.scalars(select(Analysis).where(Analysis.id == analysis_id)).one()
        good = row.result
        broken = json.loads(good)
        broken["geojson"]["features"][0]["properties"]["grids"] = []
        row.result = json.dumps(broken)
        session.commit()
        refused = runner.invoke(app, ["planning", "adopt", str(analysis_id), *data])
        assert refused.exit_code != 0
        assert _beat_codes(tmp_path, "T-D2-S1") == before
        assert _audited(tmp_path, "adopt", "planning_analysis") == []
        row = session.scalars(select(Analysis).where(Analysis.id == analysis_id)).one()
        assert row.accepted_at is None
        row.result = good
        session.commit()
    engine.dispose()

    adopted = runner.invoke(app, ["planning", "adopt", str(analysis_id), *data])
    assert adopted.exit_code == 0, adopted.output
    assert "fusion check passed" in adopted.output
    assert f"analysis {analysis_id} adopted (3)" in adopted.output
    assert _beat_codes(tmp_path, "T-D2-S1") == proposed
    assert _audited(tmp_path, "adopt", "planning_analysis") == [str(analysis_id)]
    assert len(_audited(tmp_path, "regroup_beats", "area")) == 1
    # an unknown analysis is not found
    assert runner.invoke(app, ["planning", "adopt", "999999", *data]).exit_code != 0

    # in one step, k = 2: the three beats give way to two
    again = runner.invoke(
        app, ["planning", "beats", "--station", "T-D2-S1", "--k", "2", *period, "--adopt", *data]
    )
    assert again.exit_code == 0, again.output
    assert "fusion check passed" in again.output and "adopted (2)" in again.output
    assert len(_beat_codes(tmp_path, "T-D2-S1")) == 2
    assert len(_audited(tmp_path, "adopt", "planning_analysis")) == 2
