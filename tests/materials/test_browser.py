"""The hazardous-material registers in a real browser: an inspector reconciles a month,
sees the planted discrepancies, opens their cases, and reads a holder's contact in clear
(masked until asked); in Chinese and in English."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D1-S1-B1-G2"


@pytest.mark.browser
def test_inspector_finds_the_discrepancies_and_opens_cases(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre(GRID)
    with live_server.client(live_server.admin_token()) as admin:
        for path, body in (
            (
                "",
                {
                    "code": "BEMX",
                    "name_zh": "工业炸药",
                    "material_class": "civil_explosive",
                    "base_unit": "kg",
                },
            ),
            (
                "/holders",
                {
                    "code": "BH1",
                    "name": "浏览器爆破公司",
                    "kind": "blasting",
                    "lon": lon,
                    "lat": lat,
                    "licence_classes": ["civil_explosive"],
                    "contact_name": "钱七",
                    "contact_phone": "13500002222",
                },
            ),
            (
                "/sites",
                {
                    "code": "BH1-S",
                    "holder_code": "BH1",
                    "name": "一号库",
                    "kind": "magazine",
                    "lon": lon,
                    "lat": lat,
                    "capacities": [
                        {"material_class": "civil_explosive", "unit": "kg", "capacity": 100}
                    ],
                },
            ),
            (
                "/movements",
                {
                    "site_code": "BH1-S",
                    "material_code": "BEMX",
                    "kind": "receive",
                    "quantity": 80,
                    "unit": "kg",
                    "occurred_at": "2026-02-03T09:00:00+08:00",
                    "document_no": "B-1",
                },
            ),
            (
                "/movements",
                {
                    "site_code": "BH1-S",
                    "material_code": "BEMX",
                    "kind": "use",
                    "quantity": 90,
                    "unit": "kg",
                    "occurred_at": "2026-02-05T09:00:00+08:00",
                    "document_no": "B-2",
                },
            ),
            (
                "/counts",
                {
                    "site_code": "BH1-S",
                    "material_code": "BEMX",
                    "quantity": 3,
                    "unit": "kg",
                    "counted_at": "2026-02-06T09:00:00+08:00",
                },
            ),
        ):
            answer = admin.post(f"/api/v1/materials{path}", json=body)
            assert answer.status_code in (201, 409), answer.text
        holder_id = admin.get("/api/v1/materials/holders", params={"q": "BH1"}).json()["items"][0][
            "id"
        ]
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="mb_inspector") is None:
            auth.create(
                session,
                username="mb_inspector",
                display_name="mb_inspector",
                password=TEST_PASSWORD,
                role=Role.INSPECTOR,
                area_codes=["T-D1-S1"],
                actor=SYSTEM,
            )
            session.commit()
    for language, negative, opened, show in (
        ("zh-CN", "账面库存为负", "已立案", "显示明文"),
        ("en", "Stock below zero", "cases opened", "Show in clear"),
    ):
        context = browser.new_context(locale=language)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "mb_inspector")
        page.goto(
            f"{live_server.base_url}/materials/reconciliation?start=2026-02-01&end=2026-02-28&holder=BH1"
        )
        rows = page.locator("#discrepancies tbody tr[data-kind]")
        expect(rows.first).to_be_visible()
        kinds = {rows.nth(i).get_attribute("data-kind") for i in range(rows.count())}
        assert {"negative_stock", "count_mismatch"} <= kinds
        expect(page.locator("#discrepancies")).to_contain_text(negative)
        if language == "zh-CN":
            page.locator("form[action='/materials/reconciliation/cases'] button").click()
            expect(page.locator("[data-opened]")).to_contain_text(opened)
        expect(page.locator("#discrepancies a[href^='/cases/']").first).to_be_visible()
        page.goto(f"{live_server.base_url}/materials/holders/{holder_id}")
        expect(page.locator("[data-contact=masked]")).to_contain_text("钱*")
        page.get_by_role("button", name=show).click()
        expect(page.locator("[data-contact=clear]")).to_contain_text("13500002222")
        assert errors == [], errors
        context.close()
