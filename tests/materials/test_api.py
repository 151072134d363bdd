"""The hazardous-material registers over HTTP, on both backends: the catalogue, a holder (its
contact masked, in clear only by permission and audited), sites, the ledger (no route changes
a row), corrections, counts, imports from CSV and XLSX with per-row errors, the
reconciliation and the cases it opens, and the console's pages."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from conftest import LiveServer
from factories import grid_centre

GRID = "T-D1-S2-B1-G1"
OTHER = "T-D2-S1-B1-G1"


def post(client: httpx.Client, path: str, body: dict[str, Any], status: int = 201) -> Any:
    answer = client.post(f"/api/v1/materials{path}", json=body)
    assert answer.status_code == status, answer.text
    return answer.json()


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = live_server.client(live_server.admin_token())
    for code, cls, unit, units in (
        ("AEMX", "civil_explosive", "kg", {}),
        ("ADET", "civil_explosive", "piece", {"box": 50}),
    ):
        answer = client.post(
            "/api/v1/materials",
            json={
                "code": code,
                "name_zh": code,
                "material_class": cls,
                "base_unit": unit,
                "units": units,
            },
        )
        assert answer.status_code in (201, 409), answer.text
    for code, grid in (("AH1", GRID), ("AH2", OTHER)):
        lon, lat = grid_centre(grid)
        answer = client.post(
            "/api/v1/materials/holders",
            json={
                "code": code,
                "name": f"{code} 公司",
                "kind": "blasting",
                "lon": lon,
                "lat": lat,
                "licence_classes": ["civil_explosive"],
                "contact_name": "赵六",
                "contact_phone": "13600001111",
            },
        )
        assert answer.status_code in (201, 409), answer.text
        answer = client.post(
            "/api/v1/materials/sites",
            json={
                "code": f"{code}-S",
                "holder_code": code,
                "name": "库",
                "kind": "magazine",
                "lon": lon,
                "lat": lat,
                "capacities": [
                    {"material_class": "civil_explosive", "unit": "kg", "capacity": 500},
                    {"material_class": "civil_explosive", "unit": "piece", "capacity": 1000},
                ],
            },
        )
        assert answer.status_code in (201, 409), answer.text
    yield client
    client.close()


def test_the_ledger_has_no_route_that_changes_a_row(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    spec = admin.get("/api/v1/openapi.json").json()
    for path, ops in spec["paths"].items():
        if path.startswith("/api/v1/materials/movements") or path.startswith(
            "/api/v1/materials/counts"
        ):
            assert not {"put", "patch", "delete"} & set(ops), path
    row = post(
        admin,
        "/movements",
        {
            "site_code": "AH1-S",
            "material_code": "AEMX",
            "kind": "produce",
            "quantity": 0.2,
            "unit": "t",
            "occurred_at": "2026-04-01T09:00:00+08:00",
            "document_no": "P-1",
        },
    )
    assert row["quantity_base"] == 200.0 and row["base_unit"] == "kg"
    assert admin.delete(f"/api/v1/materials/movements/{row['id']}").status_code == 405
    assert admin.put(f"/api/v1/materials/movements/{row['id']}", json={}).status_code == 405


def test_holder_contact_is_masked_and_read_in_clear_by_permission(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    (holder,) = admin.get("/api/v1/materials/holders", params={"q": "AH1"}).json()["items"]
    assert holder["contact_name"] == "赵*" and holder["contact_phone"] == "136******11"
    clear = admin.get(f"/api/v1/materials/holders/{holder['id']}/contact").json()
    assert clear == {"contact_name": "赵六", "contact_phone": "13600001111"}
    audit = admin.get("/api/v1/audit", params={"limit": 50}).json()
    assert any(e["action"] == "read_personal" and e["entity"] == "material_holder" for e in audit)


def test_imports_reconciliation_and_cases(live_server: LiveServer, admin: httpx.Client) -> None:
    csv_rows = (
        "site_code,material_code,kind,quantity,unit,occurred_at,document_no,counterparty_code\n"
        "AH1-S,AEMX,produce,300,kg,2026-05-01 08:00,R-1,\n"
        "AH1-S,AEMX,sell,100,kg,2026-05-02 08:00,W-7,AH2\n"
        "AH1-S,ADET,produce,4,box,2026-05-02 09:00,R-2,\n"
        "AH1-S,AEMX,produce,1,piece,2026-05-02 10:00,R-3,\n"
        "NOPE,AEMX,produce,1,kg,2026-05-02 10:00,R-4,\n"
    )
    answer = admin.post(
        "/api/v1/materials/import/movements",
        files={"file": ("ledger.csv", csv_rows.encode("utf-8"), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["created"] == 3
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(5, "unit"), (6, "site_code")]
    again = admin.post(
        "/api/v1/materials/import/movements",
        files={"file": ("ledger.csv", csv_rows.encode("utf-8"), "text/csv")},
    ).json()
    assert again["created"] == 0 and again["existing"] == 3
    # The receiving end arrives as XLSX, with a different quantity; a count, short by 2 kg
    # (the book: 200 kg of the first test, 300 in, 100 out).
    book = xlsx(
        [
            [
                "site_code",
                "material_code",
                "kind",
                "quantity",
                "unit",
                "occurred_at",
                "document_no",
                "counterparty_code",
            ],
            ["AH2-S", "AEMX", "receive", 95, "kg", "2026-05-02 15:00", "W-7", "AH1"],
        ]
    )
    answer = admin.post(
        "/api/v1/materials/import/movements",
        files={"file": ("in.xlsx", book, "application/octet-stream")},
    )
    assert answer.json()["created"] == 1, answer.text
    post(
        admin,
        "/counts",
        {
            "site_code": "AH1-S",
            "material_code": "AEMX",
            "quantity": 398,
            "unit": "kg",
            "counted_at": "2026-05-03T08:00:00+08:00",
        },
    )
    period = {"start": "2026-05-01T00:00:00+08:00", "end": "2026-06-01T00:00:00+08:00"}
    result = admin.get("/api/v1/materials/reconciliation", params=period).json()
    kinds = sorted((d["kind"], d["holder_code"]) for d in result["discrepancies"])
    assert ("count_mismatch", "AH1") in kinds and ("transfer_quantity", "AH1") in kinds
    (emx,) = [
        b for b in result["balances"] if b["holder_code"] == "AH1" and b["material_code"] == "AEMX"
    ]
    assert (emx["inflow"], emx["outflow"], emx["counted"], emx["difference"]) == (
        300.0,
        100.0,
        398.0,
        -2.0,
    )
    opened = post(admin, "/reconciliation/cases", period, status=200)
    assert len(opened["opened"]) == len(result["discrepancies"])
    assert post(admin, "/reconciliation/cases", period, status=200)["opened"] == []
    case = admin.get(f"/api/v1/cases/{opened['opened'][0]}").json()
    assert case["type"] == "material_discrepancy"
    # A correction: the sale was 95 kg; the quantity discrepancy is gone.
    (sale,) = admin.get(
        "/api/v1/materials/movements", params={"document_no": "W-7", "holder_code": "AH1"}
    ).json()["items"]
    post(
        admin,
        f"/movements/{sale['id']}/corrections",
        {
            "reason": "quantity",
            "row": {
                "site_code": "AH1-S",
                "material_code": "AEMX",
                "kind": "sell",
                "quantity": 95,
                "unit": "kg",
                "occurred_at": "2026-05-02T08:00:00+08:00",
                "document_no": "W-7",
                "counterparty_code": "AH2",
            },
        },
    )
    fixed = admin.get("/api/v1/materials/reconciliation", params=period).json()
    assert "transfer_quantity" not in {d["kind"] for d in fixed["discrepancies"]}
    listed = admin.get(f"/api/v1/materials/movements/{sale['id']}").json()
    assert listed["superseded_by"] is not None


def test_console_pages(live_server: LiveServer, admin: httpx.Client) -> None:
    console = live_server.console_client("api_admin")
    try:
        holders = console.get("/materials")
        assert holders.status_code == 200 and "AH1" in holders.text
        (holder,) = admin.get("/api/v1/materials/holders", params={"q": "AH1"}).json()["items"]
        page = console.get(f"/materials/holders/{holder['id']}")
        assert page.status_code == 200 and "赵*" in page.text and "赵六" not in page.text
        assert console.get("/materials/ledger").status_code == 200
        recon = console.get(
            "/materials/reconciliation", params={"start": "2026-05-01", "end": "2026-05-31"}
        )
        assert recon.status_code == 200 and 'data-discrepancies="' in recon.text
        exported = console.get("/materials?export=xlsx")
        assert exported.status_code == 200 and exported.content[:2] == b"PK"
    finally:
        console.close()
