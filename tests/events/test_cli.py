"""``fangkong events``: applications and plans exported and imported back through the command
line (CSV and XLSX), the refused rows listed with exit 1, and the activation figures."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from events.events_helpers import square
from factories import county_geojson, grid_centre
from fangkong.cli import app

runner = CliRunner()


def test_import_export_round_trip_and_kpis(tmp_path: Path) -> None:
    county = tmp_path / "county.geojson"
    county.write_text(json.dumps(county_geojson()), encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(app, ["areas", "import", str(county), *data]).exit_code == 0
    lon, lat = grid_centre("T-D1-S2-B1-G1")
    corners = "; ".join(f"{x:.6f} {y:.6f}" for x, y in square(lon, lat))
    events = tmp_path / "events.csv"
    events.write_text(
        "code,name,organiser,venue_kind,venue_polygon,capacity,expected_attendance,"
        "starts_at,ends_at,contact_phone\n"
        f'CE-1,元宵灯会,县文旅公司,park,"{corners}",20000,12000,'
        "2027-02-12T18:00,2027-02-12T22:00,13800001111\n"
        f'CE-2,坏行,县文旅公司,park,"{corners}",20000,12000,2027-02-12T18:00,,\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["events", "import", str(events), *data])
    assert result.exit_code == 1, result.output
    assert "1 created, 0 updated" in result.output and "ends_at" in result.output
    plans = tmp_path / "plans.csv"
    plans.write_text(
        "code,name,category,level,area_code,tiers,target_first_s,target_full_s\n"
        "CP-1,火灾处置,fire,2,T-D1,car:2:300; foot:1::,240,600\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["events", "import", str(plans), "--kind", "plans", *data])
    assert result.exit_code == 0, result.output
    for kind, suffix in (("events", "xlsx"), ("plans", "csv")):
        out = tmp_path / f"out-{kind}.{suffix}"
        result = runner.invoke(app, ["events", "export", str(out), "--kind", kind, *data])
        assert result.exit_code == 0 and f"1 {kind} written" in result.output, result.output
        again = runner.invoke(app, ["events", "import", str(out), "--kind", kind, *data])
        assert again.exit_code == 0 and "0 created, 1 updated" in again.output, again.output
    text = (tmp_path / "out-plans.csv").read_text("utf-8-sig")
    assert "car:2:300; foot:1" in text and "T-D1" in text
    figures = runner.invoke(app, ["events", "kpis", "--drill", *data])
    assert figures.exit_code == 0 and "drill" in figures.output
