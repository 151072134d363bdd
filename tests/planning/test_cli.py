"""``fangkong planning ...`` end to end on a data folder of its own (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from factories import county_geojson, grid_centre, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.cli import app
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import PostKind
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.store import import_and_activate


def test_cli_coverage_place_ring_and_export(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    upgrade(engine)
    layer = tmp_path / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(tmp_path, layer, DEFAULT_PROFILE, class_field="class")
    rows = []
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        for code, grid in {"CP1": "T-D1-S1-B1-G1", "CP2": "T-D2-S2-B2-G2"}.items():
            lon, lat = grid_centre(grid)
            dispatch_service.create_post(
                session, code=code, name=code, kind=PostKind.POLICE_POST, lon=lon, lat=lat,
                actor=SYSTEM,
            )  # fmt: skip
        for i, grid in enumerate(["T-D1-S1-B1-G2", "T-D1-S2-B1-G1", "T-D2-S1-B2-G2"]):
            lon, lat = grid_centre(grid)
            rows.append(area_service.AddressRow(f"CA{i}", f"地址{i}", "", lon, lat))
        area_service.import_addresses(session, rows=rows, actor=SYSTEM)
        session.commit()
    engine.dispose()
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    weights = tmp_path / "addresses.csv"
    weights.write_text("code,text_zh,lon,lat,households\nCA0,a,0,0,3\nCA1,b,0,0,5\n", "utf-8")
    result = runner.invoke(
        app, ["planning", "weights", str(weights), "--column", "households", *data]
    )
    assert result.exit_code == 0, result.output
    assert "households: 2 addresses" in result.output

    result = runner.invoke(app, ["planning", "coverage", "--weight-column", "households", *data])
    assert result.exit_code == 0, result.output
    assert "3 demand points (addresses, weight 8.0), 2 sites" in result.output
    assert "stored as run 1" in result.output

    result = runner.invoke(
        app,
        ["planning", "place", "--p", "3", "--ring", "120", "--spacing", "3000",
         "--time-limit", "20", *data],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mclp: optimal" in result.output and "stored as run 2" in result.output

    checkpoints = tmp_path / "checkpoints.csv"
    checkpoints.write_text(
        "code,name,road,direction,status,lon,lat,area_code\n"
        "K1,west,G1,both,active,120.0,30.04,T\nK2,east,,inbound,planned,120.16,30.04,T\n",
        "utf-8",
    )
    result = runner.invoke(app, ["planning", "checkpoints", "import", str(checkpoints), *data])
    assert result.exit_code == 0, result.output
    assert "registered 2 checkpoints" in result.output
    result = runner.invoke(app, ["planning", "ring", "--area", "T", "--k", "2", *data])
    assert result.exit_code == 0, result.output
    assert "stored as run 3" in result.output

    out_json, out_xlsx = tmp_path / "run2.geojson", tmp_path / "run2.xlsx"
    result = runner.invoke(
        app, ["planning", "export", "2", "--geojson", str(out_json), "--xlsx", str(out_xlsx), *data]
    )
    assert result.exit_code == 0, result.output
    features = json.loads(out_json.read_text("utf-8"))["features"]
    assert sum(f["properties"]["layer"] == "site" for f in features) == 3
    assert load_workbook(out_xlsx).sheetnames[:2] == ["summary", "sites"]

    bad = runner.invoke(app, ["planning", "place", "--p", "0", *data])
    assert bad.exit_code == 2 and "p must lie in" in bad.output
