"""The registers' command line: each register loads from a file, exports to one that loads
back unchanged, and the ledger's reconciliation reports its discrepancies (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from factories import county_geojson, grid_centre
from fangkong.cli import app

RUNNER = CliRunner()


def run(*args: str) -> str:
    result = RUNNER.invoke(app, list(args), catch_exceptions=False)
    return f"{result.exit_code}\n{result.output}"


def test_registers_load_export_and_reconcile(tmp_path: Path) -> None:
    data = tmp_path / "data"
    county = tmp_path / "county.geojson"
    county.write_text(json.dumps(county_geojson()), "utf-8")
    assert run("areas", "import", str(county), "--data-dir", str(data)).startswith("0")
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    facilities = tmp_path / "facilities.csv"
    facilities.write_text(
        "code,name,facility_type,staff_count,guards_full_time,guards_part_time,lon,lat\n"
        f"CF-1,银行,bank,10,1,1,{lon},{lat}\n"
        f"CF-2,学校,nursery,10,1,1,{lon},{lat}\n",
        "utf-8",
    )
    out = run("facilities", "import", str(facilities), "--data-dir", str(data))
    assert out.startswith("1") and "1 registered" in out and "facility_type" in out
    exported = tmp_path / "facilities.xlsx"
    assert run("facilities", "export", str(exported), "--data-dir", str(data)).startswith("0")
    again = run("facilities", "import", str(exported), "--data-dir", str(data))
    assert again.startswith("0") and "0 registered, 1 updated" in again
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "code,device_type,owner_kind,zone_type,networked,lon,lat\n"
        f"CD-1,camera,public,rural,1,{lon},{lat}\n",
        "utf-8",
    )
    assert "1 registered" in run("devices", "import", str(devices), "--data-dir", str(data))
    statuses = tmp_path / "status.csv"
    statuses.write_text("code,status,at\nCD-1,offline,2030-01-01T00:00:00+08:00\n", "utf-8")
    assert "1 changed" in run("devices", "status", str(statuses), "--data-dir", str(data))
    assert "0 changed, 1 unchanged" in run(
        "devices", "status", str(statuses), "--data-dir", str(data)
    )
    assert "T-D1-S1" in run("devices", "figures", "--data-dir", str(data))
    for kind, text in (
        ("materials", "code,name_zh,material_class,base_unit,units\nCM,炸药,civil_explosive,kg,\n"),
        (
            "holders",
            f"code,name,kind,licence_classes,lon,lat\nCH,公司,blasting,civil_explosive,{lon},{lat}\n",
        ),
        (
            "sites",
            f"code,holder_code,name,kind,lon,lat,capacities\nCS,CH,库,magazine,{lon},{lat},civil_explosive:kg:50\n",
        ),
        (
            "movements",
            "site_code,material_code,kind,quantity,unit,occurred_at,document_no\n"
            "CS,CM,receive,80,kg,2026-03-02 08:00,R1\nCS,CM,use,90,kg,2026-03-03 08:00,U1\n",
        ),
    ):
        file = tmp_path / f"{kind}.csv"
        file.write_text(text, "utf-8")
        out = run("materials", "import", kind, str(file), "--data-dir", str(data))
        assert out.startswith("0"), out
    ledger = tmp_path / "ledger.csv"
    assert "2 ledger rows" in run("materials", "export", str(ledger), "--data-dir", str(data))
    assert "2 held already" in run(
        "materials", "import", "movements", str(ledger), "--data-dir", str(data)
    )
    out = run(
        "materials",
        "reconcile",
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-31",
        "--open-cases",
        "--data-dir",
        str(data),
    )
    assert out.startswith("1") and "negative_stock" in out and "over_capacity" in out
    assert "cases opened" in out
