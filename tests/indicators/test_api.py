"""The indicator system over HTTP, on both backends: the figures of a month equal those
computed in the process, the grid with its share of guideline items met, a trend, the records
behind a figure, exports that read back, targets and manual inputs with their history, a
station's reader kept to their areas, and the console's pages in both languages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.db import utcnow
from fangkong.core.models import Role
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.http.deps import LANGUAGE_COOKIE
from fangkong.indicators import compute
from fangkong.indicators.periods import Period
from indicators.indicator_helpers import ZONE, a_month

MONTH = "2025-03"
T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    with Session(live_server.engine) as session:
        a_month(session, seed=101, incidents=20, hazards=10, t0=T0)
        if auth.get_by_username(session, username="ind_station") is None:
            auth.create(
                session,
                username="ind_station",
                display_name="station",
                password=TEST_PASSWORD,
                role=Role.STATION_OFFICER,
                area_codes=["T-D1-S1"],
                actor=SYSTEM,
            )
        session.commit()
    client = live_server.client(live_server.admin_token())
    yield client
    client.close()


def test_figures_equal_those_computed_in_process(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    answer = admin.get("/api/v1/indicators/figures", params={"period": MONTH})
    assert answer.status_code == 200, answer.text
    figures = {(f["indicator_id"], f["area_code"]): f for f in answer.json()}
    with Session(live_server.engine) as session:
        here = compute.compute(
            session, period=Period(2025, 3), scope=SYSTEM_SCOPE, now=utcnow(), zone=ZONE
        )
    assert len(here) == len(figures)
    for f in here:
        got = figures[(f.indicator_id, f.area_code)]
        assert got["value"] == pytest.approx(f.value), f
        assert got["status"] in ("met", "near", "missed", "none")
    assert figures[("incidents.received", "T")]["value"] == 20
    assert figures[("cases.hazard.resolution_rate", "T")]["denominator"] == 10
    assert figures[("devices.density.central_urban", "T")]["target"] == 160.0
    one = admin.get(
        "/api/v1/indicators/figures",
        params={"period": MONTH, "area": "T-D1", "indicator": "response.ring_3min"},
    ).json()
    assert one and {f["indicator_id"] for f in one} == {"response.ring_3min"}
    assert all(f["area_code"].startswith("T-D1") for f in one)


def test_grid_trend_and_records(admin: httpx.Client) -> None:
    grid = admin.get("/api/v1/indicators/grid", params={"period": MONTH}).json()
    assert [r["area_code"] for r in grid] == ["T", "T-D1", "T-D2"]
    for row in grid:
        judged = row["met"] + row["near"] + row["missed"]
        assert row["share_met"] == (pytest.approx(row["met"] / judged) if judged else None)
    trend = admin.get(
        "/api/v1/indicators/trend",
        params={"indicator": "incidents.received", "area": "T", "period": MONTH, "months": 3},
    ).json()
    assert [p["period"] for p in trend] == ["2025-01", "2025-02", "2025-03"]
    assert trend[-1]["value"] == 20 and trend[1]["value"] == 1  # the one ten days before
    records = admin.get(
        "/api/v1/indicators/records",
        params={"indicator": "cases.hazard.resolution_rate", "area": "T", "period": MONTH},
    ).json()
    assert records["kind"] == "cases.hazard" and records["total"] == 10
    assert all("title" not in item and "description" not in item for item in records["items"])
    incidents = admin.get(
        "/api/v1/indicators/records",
        params={"indicator": "response.ring_3min", "area": "T-D1", "period": MONTH},
    ).json()
    figure = admin.get(
        "/api/v1/indicators/figures",
        params={"period": MONTH, "area": "T-D1", "indicator": "incidents.received"},
    ).json()
    assert incidents["total"] == next(f for f in figure if f["area_code"] == "T-D1")["value"]
    assert (
        admin.get(
            "/api/v1/indicators/records", params={"indicator": "nope", "period": MONTH}
        ).status_code
        == 404
    )
    assert admin.get("/api/v1/indicators/figures", params={"period": "2025-13"}).status_code == 422


def test_exports_read_back(admin: httpx.Client) -> None:
    figures = admin.get("/api/v1/indicators/figures", params={"period": MONTH}).json()
    admin.cookies.set(LANGUAGE_COOKIE, "en")
    try:
        answer = admin.get("/api/v1/indicators/figures/export", params={"period": MONTH})
    finally:
        admin.cookies.clear()
    assert answer.status_code == 200, answer.text
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) - 1 == len(figures)
    header = rows[0]
    by_key = {(r[header.index("id")], r[0]): r for r in rows[1:]}
    wanted = next(
        f for f in figures if f["indicator_id"] == "incidents.received" and f["area_code"] == "T"
    )
    assert float(by_key[("incidents.received", "T")][header.index("Value")]) == wanted["value"]
    book = admin.get(
        "/api/v1/indicators/records/export",
        params={"indicator": "cases.hazard.resolution_rate", "period": MONTH, "format": "xlsx"},
    )
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None and sheet.max_row - 1 == 10


def test_targets_and_inputs_with_history(admin: httpx.Client) -> None:
    made = admin.post(
        "/api/v1/indicators/targets",
        json={
            "indicator_id": "devices.online_rate",
            "year": 2025,
            "value": 0.5,
            "area_code": "T-D2",
        },
    )
    assert made.status_code == 201, made.text
    grid = admin.get(
        "/api/v1/indicators/figures", params={"period": MONTH, "indicator": "devices.online_rate"}
    ).json()
    assert {f["area_code"]: f["target"] for f in grid}["T-D2-S1"] == 0.5
    assert {f["area_code"]: f["target"] for f in grid}["T-D1"] == 0.9
    history = admin.get(
        "/api/v1/indicators/targets", params={"indicator": "devices.online_rate", "year": 2025}
    ).json()
    assert history[0]["value"] == 0.5 and history[0]["area_code"] == "T-D2"
    for bad, status in (
        ({"value": 1.5}, 422),
        ({"value": True}, 422),
        ({"indicator_id": "nope"}, 404),
        ({"year": 1999}, 422),
    ):
        body = {"indicator_id": "devices.online_rate", "year": 2025, "value": 0.5} | bad
        assert admin.post("/api/v1/indicators/targets", json=body).status_code == status, bad
    entered = admin.post(
        "/api/v1/indicators/inputs",
        json={
            "indicator_id": "manual.safety_satisfaction",
            "area_code": "T-D1",
            "period": MONTH,
            "value": 0.97,
        },
    )
    assert entered.status_code == 201, entered.text
    assert entered.json()["entered_by"] == "api_admin"
    admin.post("/api/v1/indicators/compute", params={"period": MONTH}).raise_for_status()
    figure = admin.get(
        "/api/v1/indicators/figures",
        params={"period": MONTH, "area": "T-D1", "indicator": "manual.safety_satisfaction"},
    ).json()
    assert next(f for f in figure if f["area_code"] == "T-D1")["value"] == 0.97
    assert next(f for f in figure if f["area_code"] == "T-D1")["status"] == "near"
    assert (
        admin.post(
            "/api/v1/indicators/inputs",
            json={
                "indicator_id": "devices.online_rate",
                "area_code": "T-D1",
                "period": MONTH,
                "value": 0.5,
            },
        ).status_code
        == 422
    )


def test_a_station_reader_sees_their_areas(live_server: LiveServer, admin: httpx.Client) -> None:
    with live_server.client(live_server.token("ind_station")) as client:
        mine = client.get("/api/v1/indicators/figures", params={"period": MONTH}).json()
        assert mine and {f["area_code"] for f in mine} <= {
            "T-D1-S1",
            "T-D1-S1-B1",
            "T-D1-S1-B2",
            "T-D1-S1-B1-G1",
            "T-D1-S1-B1-G2",
            "T-D1-S1-B2-G1",
            "T-D1-S1-B2-G2",
        }
        assert "T-D1-S1" in {f["area_code"] for f in mine}
        assert client.get("/api/v1/indicators/grid", params={"area": "T-D2"}).status_code == 404
        assert (
            client.get(
                "/api/v1/indicators/records",
                params={"indicator": "response.ring_3min", "area": "T", "period": MONTH},
            ).status_code
            == 404
        )
        assert (
            client.post("/api/v1/indicators/compute", params={"period": MONTH}).status_code == 403
        )


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_console_pages(live_server: LiveServer, admin: httpx.Client, language: str) -> None:
    console = live_server.console_client("api_admin")
    console.cookies.set(LANGUAGE_COOKIE, language)
    try:
        page = console.get("/indicators", params={"period": MONTH})
        assert page.status_code == 200, page.text
        assert (
            'id="indicator-grid"' in page.text
            and 'data-indicator="response.ring_3min"' in page.text
        )
        assert ("指标看板" if language == "zh-CN" else "Indicator dashboard") in page.text
        link = (
            "/indicators/records?indicator=cases.hazard.resolution_rate"
            "&amp;area=T&amp;period=2025-03"
        )
        assert link in page.text
        records = console.get(
            "/indicators/records",
            params={"indicator": "cases.hazard.resolution_rate", "area": "T", "period": MONTH},
        )
        assert records.status_code == 200 and 'data-table="indicator_cases"' in records.text
        csv_file = console.get(
            "/indicators/records",
            params={
                "indicator": "cases.hazard.resolution_rate",
                "area": "T",
                "period": MONTH,
                "export": "csv",
            },
        )
        assert csv_file.status_code == 200 and len(csv_file.text.strip().splitlines()) == 11
        trend = console.get(
            "/indicators/trend", params={"indicator": "response.ring_3min", "period": MONTH}
        )
        assert trend.status_code == 200 and 'data-period="2025-03"' in trend.text
        figures = console.get("/indicators/figures", params={"period": MONTH})
        assert figures.status_code == 200 and 'data-table="indicator_figures"' in figures.text
        catalogue = console.get("/indicators/catalogue")
        assert catalogue.status_code == 200 and 'id="target-form"' in catalogue.text
        sent = console.post(
            "/indicators/targets",
            data={
                "indicator_id": "facilities.compliance",
                "year": "2025",
                "value": "85",
                "area_code": "",
                "note": "county",
                "csrf_token": console.headers["X-CSRF-Token"],
            },
        )
        assert sent.status_code == 303
        history = admin.get(
            "/api/v1/indicators/targets", params={"indicator": "facilities.compliance"}
        ).json()
        assert history[0]["value"] == pytest.approx(0.85) and history[0]["area_code"] is None
    finally:
        console.close()


def test_reports_download_and_templates(live_server: LiveServer, admin: httpx.Client) -> None:
    pdf = admin.get(
        "/api/v1/indicators/report", params={"period": MONTH, "area": "T", "format": "pdf"}
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    book = admin.get(
        "/api/v1/indicators/report",
        params={"period": "2025", "kind": "annual", "area": "T-D1", "format": "xlsx"},
    )
    assert book.status_code == 200
    sheets = load_workbook(io.BytesIO(book.content)).sheetnames
    assert len(sheets) >= 5 and any("趋势" in s for s in sheets)
    assert admin.get("/api/v1/indicators/report", params={"kind": "weekly"}).status_code == 422
    assert admin.get("/api/v1/indicators/report", params={"format": "doc"}).status_code == 422
    template = admin.get("/api/v1/indicators/report-templates/bulletin").json()
    assert template["sections"][0]["kind"] == "summary"
    bad = admin.put(
        "/api/v1/indicators/report-templates/bulletin",
        json={"title": "x", "sections": [{"heading": "h", "kind": "pie"}]},
    )
    assert bad.status_code == 422
    console = live_server.console_client("api_admin")
    try:
        page = console.get("/indicators/report", params={"period": MONTH, "format": "xlsx"})
        assert page.status_code == 200 and page.content[:2] == b"PK"
        dashboard = console.get("/indicators", params={"period": MONTH}).text
        annual = 'href="/indicators/report?kind=annual&amp;period=2025&amp;area=T&amp;format=pdf"'
        assert annual in dashboard
        pdf_file = console.get(
            "/indicators/report", params={"kind": "annual", "period": "2025", "format": "pdf"}
        )
        assert pdf_file.status_code == 200 and pdf_file.content.startswith(b"%PDF")
    finally:
        console.close()
