"""The device register over HTTP, on both backends: registration, idempotent status reports
one and many, the history, an import and an export that reads back, the figures and the
console's pages (the status report at phone width is the browser test's)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest

from conftest import LiveServer
from factories import grid_centre

GRID = "T-D1-S2-B2-G1"


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = live_server.client(live_server.admin_token())
    zones = client.put(
        "/api/v1/devices/zones",
        json={"items": [{"area_code": "T-D1-S2-B2", "zone_type": "central_urban"}]},
    )
    assert zones.status_code == 200, zones.text
    yield client
    client.close()


def test_register_report_and_history(admin: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    made = admin.post(
        "/api/v1/devices",
        json={
            "code": "DV-1",
            "device_type": "camera",
            "owner_kind": "public",
            "networked": True,
            "lon": lon,
            "lat": lat,
        },
    )
    assert made.status_code == 201, made.text
    device = made.json()
    assert device["zone_type"] == "central_urban" and device["area_code"] == GRID
    report = {"code": "DV-1", "status": "fault", "at": "2030-01-01T08:00:00+08:00"}
    first = admin.post("/api/v1/devices/status", json=report)
    assert first.json()["outcome"] == "changed", first.text
    assert admin.post("/api/v1/devices/status", json=report).json()["outcome"] == "unchanged"
    bulk = admin.post(
        "/api/v1/devices/status/bulk",
        json={
            "items": [
                report,
                {**report, "status": "working", "at": "2030-01-01T09:00:00+08:00"},
                {**report, "code": "NOPE"},
            ]
        },
    ).json()
    assert (bulk["changed"], bulk["unchanged"], bulk["errors"]) == (1, 1, 1)
    history = admin.get(f"/api/v1/devices/{device['id']}/history").json()
    assert [h["status"] for h in history] == ["working", "fault", "working"]
    clash = admin.post("/api/v1/devices/status", json={**report, "status": "offline"})
    assert clash.status_code == 409


def test_import_export_round_trip_and_figures(live_server: LiveServer, admin: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    text = (
        "编码,类型,权属,联网,状态,经度,纬度\n"
        f"DV-2,视频监控,公共,是,正常,{lon},{lat}\n"
        f"DV-3,camera,public,0,offline,{lon + 0.001},{lat}\n"
        f"DV-4,robot,public,1,working,{lon},{lat}\n"
    )
    answer = admin.post(
        "/api/v1/devices/import", files={"file": ("d.csv", text.encode("utf-8"), "text/csv")}
    ).json()
    assert answer["created"] == 2 and [e["row"] for e in answer["errors"]] == [4]
    exported = admin.get("/api/v1/devices/export", params={"area": GRID, "format": "csv"})
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {"DV-2", "DV-3"} <= {r[0] for r in rows[1:]}
    again = admin.post(
        "/api/v1/devices/import",
        files={"file": ("again.csv", exported.content, "text/csv")},
    ).json()
    assert again["created"] == 0 and again["errors"] == [] and again["updated"] >= 2
    figures = admin.get("/api/v1/devices/figures", params={"area": "T-D1-S2-B2"}).json()
    top = figures[0]
    assert top["area_code"] == "T-D1-S2-B2"
    central = next(z for z in top["zones"] if z["zone"] == "central_urban")
    assert central["devices"] >= 3 and central["density_target"] == 160.0
    assert central["public_cameras"] >= 3 and central["density"] > 0
    geo = admin.get("/api/v1/devices/geojson", params={"area": GRID}).json()
    assert {"DV-2", "DV-3"} <= {f["properties"]["code"] for f in geo["features"]}


def test_console_pages(live_server: LiveServer, admin: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    device = admin.post(
        "/api/v1/devices",
        json={
            "code": "DV-9",
            "device_type": "alarm_button",
            "owner_kind": "public",
            "lon": lon,
            "lat": lat,
        },
    ).json()
    console = live_server.console_client("api_admin")
    try:
        assert "DV-9" in console.get("/devices").text
        page = console.get(f"/devices/{device['id']}")
        assert page.status_code == 200 and 'data-status="working"' in page.text
        sent = console.post(
            f"/devices/{device['id']}/status",
            data={"status": "fault", "csrf_token": console.headers["X-CSRF-Token"]},
        )
        assert sent.status_code == 303
        assert "changed" in sent.headers["location"]
        figures = console.get("/devices/figures", params={"area": "T-D1-S2"})
        assert figures.status_code == 200 and 'data-area="T-D1-S2"' in figures.text
    finally:
        console.close()
