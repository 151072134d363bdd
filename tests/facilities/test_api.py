"""Key facilities over HTTP, on both backends: registration with compliance, the county's
rules, an inspection opened as a linked case, the rates, an XLSX import with per-row errors
and the console's pages."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from openpyxl import Workbook

from conftest import LiveServer
from factories import grid_centre

GRID = "T-D2-S2-B1-G2"


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = live_server.client(live_server.admin_token())
    yield client
    client.close()


def test_register_comply_inspect_and_rates(admin: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    made = admin.post(
        "/api/v1/facilities",
        json={
            "code": "FA-1",
            "name": "第一中学",
            "facility_type": "school",
            "staff_count": 250,
            "guards_full_time": 1,
            "guards_part_time": 2,
            "video_networked": True,
            "alarm_networked": True,
            "school_gate_post": True,
            "closed_management": True,
            "lon": lon,
            "lat": lat,
        },
    )
    assert made.status_code == 201, made.text
    facility = made.json()
    assert facility["compliant"] is False
    (failed,) = [r for r in facility["rules"] if not r["passed"]]
    assert failed["code"] == "guards_200_plus"
    assert failed["shortfalls"] == [{"field": "guards_full_time", "required": 2, "actual": 1}]
    opened = admin.post(
        f"/api/v1/facilities/{facility['id']}/inspections", json={"trigger": "rule_failure"}
    )
    assert opened.status_code == 201, opened.text
    case = admin.get(f"/api/v1/cases/{opened.json()['case_id']}").json()
    assert case["type"] == "inspection"
    rates = admin.get(
        "/api/v1/facilities/rates", params={"area": GRID, "facility_type": "school"}
    ).json()
    (row,) = [r for r in rates if r["area_code"] == GRID]
    assert (row["facilities"], row["compliant"], row["inspected"]) == (1, 0, 1)
    rules = admin.get("/api/v1/facilities/rules").json()
    rule = next(r for r in rules if r["code"] == "guards_200_plus")
    saved = admin.put("/api/v1/facilities/rules/guards_200_plus", json={**rule, "enabled": False})
    assert saved.status_code == 200, saved.text
    again = admin.get(f"/api/v1/facilities/{facility['id']}").json()
    assert again["compliant"] is True and len(again["inspections"]) == 1
    assert admin.delete("/api/v1/facilities/rules/guards_200_plus").status_code == 204


def test_import_xlsx_with_row_errors(admin: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["编码", "名称", "类型", "职工数", "专职保卫", "兼职保卫", "视频联网", "经度", "纬度"]
    )
    sheet.append(["FA-2", "工商银行", "银行", 30, 1, 1, "是", lon, lat])
    sheet.append(["FA-3", "加油站", "fuel_station", 12.0, 1, 0, "否", lon, lat])
    sheet.append(["FA-4", "远方", "bank", 1, 1, 1, "是", 10.0, 10.0])
    sheet.append(["FA-5", "", "bank", "many", 1, 1, "是", lon, lat])
    data = io.BytesIO()
    book.save(data)
    answer = admin.post(
        "/api/v1/facilities/import",
        files={"file": ("f.xlsx", data.getvalue(), "application/octet-stream")},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["created"] == 2
    assert [e["row"] for e in report["errors"]] == [4, 5]
    listed = admin.get("/api/v1/facilities", params={"area": GRID, "compliant": True}).json()
    assert "FA-2" in {f["code"] for f in listed["items"]}


def test_console_pages(live_server: LiveServer, admin: httpx.Client) -> None:
    (facility,) = admin.get("/api/v1/facilities", params={"q": "FA-1"}).json()["items"]
    console = live_server.console_client("api_admin")
    try:
        assert "FA-1" in console.get("/facilities").text
        page = console.get(f"/facilities/{facility['id']}")
        assert page.status_code == 200 and 'data-rule="guards_200_plus"' in page.text
        rates = console.get("/facilities/rates", params={"area": "T-D2"})
        assert rates.status_code == 200 and 'data-area="T-D2"' in rates.text
        opened = console.post(
            f"/facilities/{facility['id']}/inspections",
            data={"trigger": "periodic", "csrf_token": console.headers["X-CSRF-Token"]},
        )
        assert opened.status_code == 303 and opened.headers["location"].startswith("/cases/")
    finally:
        console.close()
