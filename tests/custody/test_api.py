"""Custody of seized property over HTTP, on both backends: an item registered with its first
step, the chain appended and corrected (never changed), refusals named by field, the list
scoped and filtered by overdue, the export without the description, an XLSX import with
per-row errors, the alerts on the supervision board, and the console's pages."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

STATION = "T-D2-S2"


@pytest.fixture(scope="module")
def officer(live_server: LiveServer) -> Iterator[httpx.Client]:
    with Session(live_server.engine) as session:
        for name, code in (("cu_officer", STATION), ("cu_far", "T-D1-S2")):
            if auth.get_by_username(session, username=name) is None:
                auth.create(
                    session,
                    username=name,
                    display_name=name,
                    password=TEST_PASSWORD,
                    role=Role.STATION_OFFICER,
                    area_codes=[code],
                    actor=SYSTEM,
                )
        session.commit()
    client = live_server.client(live_server.token("cu_officer"))
    yield client
    client.close()


def test_register_append_correct_and_export(officer: httpx.Client, live_server: LiveServer) -> None:
    made = officer.post(
        "/api/v1/custody",
        json={
            "code": "CUA-1",
            "category": "vehicle",
            "description": "黑色电动车",
            "ref_kind": "case",
            "ref_number": "AJ2026-0099",
            "area": STATION,
            "received_at": "2026-11-20T10:00:00+08:00",
            "handled_by": "李警官",
        },
    )
    assert made.status_code == 201, made.text
    item = made.json()
    assert item["stage"] == "received" and item["overdue"] is True  # not stored within 24 h
    assert [s["stage"] for s in item["steps"]] == ["received"]
    refused = officer.post(
        f"/api/v1/custody/{item['id']}/steps",
        json={"stage": "stored", "occurred_at": "2026-11-20T12:00:00+08:00", "handled_by": "王"},
    )
    assert refused.status_code == 422 and refused.json()["field"] == "location"
    stored = officer.post(
        f"/api/v1/custody/{item['id']}/steps",
        json={
            "stage": "stored",
            "occurred_at": "2026-11-20T12:00:00+08:00",
            "handled_by": "王保管",
            "location": "A-1",
        },
    )
    assert stored.status_code == 201, stored.text
    step = stored.json()["steps"][-1]
    assert step["recorded_by"] == "cu_officer" and stored.json()["overdue"] is False
    fixed = officer.post(
        f"/api/v1/custody/{item['id']}/steps/{step['id']}/corrections", json={"location": "A-9"}
    ).json()
    assert fixed["location"] == "A-9"
    assert [(s["location"], s["effective"]) for s in fixed["steps"][1:]] == [
        ("A-1", False),
        ("A-9", True),
    ]
    listed = officer.get("/api/v1/custody", params={"q": "CUA-1"}).json()
    assert [i["code"] for i in listed["items"]] == ["CUA-1"]
    overdue = officer.get("/api/v1/custody", params={"overdue": "yes"}).json()
    assert "CUA-1" not in {i["code"] for i in overdue["items"]}
    export = officer.get("/api/v1/custody/export", params={"format": "csv"})
    text = export.content.decode("utf-8-sig")
    assert "CUA-1" in text and "黑色电动车" not in text  # free text is never exported
    with live_server.client(live_server.token("cu_far")) as far:
        assert far.get(f"/api/v1/custody/{item['id']}").status_code == 404
        assert "CUA-1" not in far.get("/api/v1/custody/export").content.decode("utf-8-sig")
    page = officer.get(f"/custody/{item['id']}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'data-effective="false"' in page.text


def test_import_with_row_errors_and_alerts(officer: httpx.Client) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["code", "category", "ref_kind", "ref_number", "area", "received_at", "handled_by"]
    )
    sheet.append(["CUA-2", "cash", "incident", "JQ-1", STATION, "2026-11-01T08:00:00+08:00", "李"])
    sheet.append(
        ["CUA-3", "nonsense", "incident", "JQ-2", STATION, "2026-11-01T08:00:00+08:00", "李"]
    )
    sheet.append(
        ["CUA-4", "cash", "incident", "JQ-3", "T-D1-S2", "2026-11-01T08:00:00+08:00", "李"]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    report = officer.post(
        "/api/v1/custody/import",
        files={"file": ("items.xlsx", buffer.getvalue(), "application/octet-stream")},
    ).json()
    assert report["created"] == 1
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "category"), (4, "area")]
    alerts = officer.post("/api/v1/custody/alerts")
    assert alerts.status_code == 200, alerts.text
    item = officer.get("/api/v1/custody", params={"q": "CUA-2"}).json()["items"][0]
    assert item["alert_case_id"] in alerts.json()["opened"]
    case = officer.get(f"/api/v1/cases/{item['alert_case_id']}").json()
    assert case["type"] == "custody_overdue" and case["data"]["item"] == "CUA-2"
    assert officer.post("/api/v1/custody/alerts").json()["opened"] == []
