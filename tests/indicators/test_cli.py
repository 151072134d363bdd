"""``fangkong indicators``: the catalogue, a period computed and stored, the grid printed and
every figure exported, on a data folder of its own."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from factories import county_geojson
from fangkong.cli import app

runner = CliRunner()


def test_catalogue_compute_figures_and_export(tmp_path: Path) -> None:
    geojson = tmp_path / "county.geojson"
    geojson.write_text(json.dumps(county_geojson()), "utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    made = runner.invoke(app, ["areas", "import", str(geojson), *data])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["indicators", "catalogue"])
    assert listed.exit_code == 0 and "devices.density" in listed.output
    computed = runner.invoke(app, ["indicators", "compute", "--period", "2026-05", *data])
    assert computed.exit_code == 0, computed.output
    assert "2026-05:" in computed.output and "figures computed and stored" in computed.output
    shown = runner.invoke(
        app, ["indicators", "figures", "--period", "2026-05", "--area", "T-D1", *data]
    )
    assert shown.exit_code == 0, shown.output
    assert "T-D1-S1" in shown.output and "达标率" in shown.output
    out = tmp_path / "figures.csv"
    exported = runner.invoke(
        app, ["indicators", "figures", "--period", "2026-05", "--export", str(out), *data]
    )
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(out.read_text("utf-8-sig").splitlines()))
    assert rows and {r["period"] for r in rows} == {"2026-05"}
    assert {r["area"] for r in rows} >= {"T", "T-D1", "T-D2-S2"}
    pdf = tmp_path / "bulletin.pdf"
    written = runner.invoke(
        app,
        [
            "indicators",
            "report",
            "--period",
            "2026-05",
            "--area",
            "T-D1",
            "--format",
            "pdf",
            "--output",
            str(pdf),
            *data,
        ],
    )
    assert written.exit_code == 0, written.output
    assert pdf.read_bytes().startswith(b"%PDF") and "月度通报" in written.output
    book = tmp_path / "bulletin.xlsx"
    written = runner.invoke(
        app,
        [
            "indicators",
            "report",
            "--period",
            "2026-05",
            "--format",
            "xlsx",
            "--output",
            str(book),
            *data,
        ],
    )
    assert written.exit_code == 0 and book.read_bytes()[:2] == b"PK"
    bad = runner.invoke(app, ["indicators", "compute", "--period", "2026-13", *data])
    assert bad.exit_code == 2 and "2026-13" in bad.output
