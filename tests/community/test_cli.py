"""``fangkong community`` and ``fangkong custody`` on the command line: teams and items load
from a file with per-row errors (exit 1), export to one that loads back (teams) or is refused
as existing (items: the chain is append-only), the figures print, and the alerts open."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from factories import county_geojson
from fangkong.cli import app

RUNNER = CliRunner()


def run(*args: str) -> str:
    result = RUNNER.invoke(app, list(args), catch_exceptions=False)
    return f"{result.exit_code}\n{result.output}"


def test_teams_and_items_load_export_and_alert(tmp_path: Path) -> None:
    data = tmp_path / "data"
    county = tmp_path / "county.geojson"
    county.write_text(json.dumps(county_geojson()), "utf-8")
    assert run("areas", "import", str(county), "--data-dir", str(data)).startswith("0")
    teams = tmp_path / "teams.csv"
    teams.write_text(
        "编号,名称,类型,区域,成员人数\n"
        "CL-1,巡逻队,平安志愿者巡逻队,T-D1-S1-B1,30\n"
        "CL-2,坏队,nonsense,T-D1-S1-B1,3\n",
        "utf-8",
    )
    out = run("community", "import", str(teams), "--data-dir", str(data))
    assert out.startswith("1") and "1 registered" in out and "kind" in out
    exported = tmp_path / "teams.xlsx"
    assert run("community", "export", str(exported), "--data-dir", str(data)).startswith("0")
    again = run("community", "import", str(exported), "--data-dir", str(data))
    assert again.startswith("0") and "0 registered, 1 updated" in again
    figures = run("community", "figures", "--data-dir", str(data))
    assert figures.startswith("0") and "T-D1-S1-B1" in figures
    items = tmp_path / "items.csv"
    items.write_text(
        "code,category,ref_kind,ref_number,area,received_at,handled_by,location\n"
        "CLI-1,cash,incident,JQ-9,T-D1-S1,2026-01-01T08:00:00+08:00,李,现场\n",
        "utf-8",
    )
    out = run("custody", "import", str(items), "--data-dir", str(data))
    assert out.startswith("0") and "1 registered" in out
    back = tmp_path / "items-back.csv"
    assert run("custody", "export", str(back), "--data-dir", str(data)).startswith("0")
    assert "CLI-1" in back.read_text("utf-8-sig")
    refused = run("custody", "import", str(back), "--data-dir", str(data))
    assert refused.startswith("1") and "0 registered" in refused
    alerts = run("custody", "alerts", "--data-dir", str(data))
    assert alerts.startswith("0") and "1 alerts opened" in alerts and "CLI-1" in alerts
