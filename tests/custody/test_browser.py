"""The custody pages in a real browser, in Chinese and in English at phone width: a station
officer at the store room opens an item, records that it was stored, and sees the chain."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

STATION = "T-D2-S1"
PHONE = {"width": 390, "height": 844}


@pytest.mark.browser
def test_an_officer_records_a_step_at_phone_width(live_server: LiveServer, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the pages are the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="cub_officer") is None:
            auth.create(
                session,
                username="cub_officer",
                display_name="cub_officer",
                password=TEST_PASSWORD,
                role=Role.STATION_OFFICER,
                area_codes=[STATION],
                actor=SYSTEM,
            )
            session.commit()
    ids = {}
    with live_server.client(live_server.token("cub_officer")) as officer:
        for code in ("CUB-zh-CN", "CUB-en"):
            made = officer.post(
                "/api/v1/custody",
                json={
                    "code": code,
                    "category": "electronics",
                    "ref_kind": "incident",
                    "ref_number": "JQ-CUB",
                    "area": STATION,
                    "received_at": "2026-11-30T10:00:00+08:00",
                    "handled_by": "李警官",
                },
            )
            assert made.status_code in (201, 409), made.text
            ids[code] = officer.get("/api/v1/custody", params={"q": code}).json()["items"][0]["id"]
    for language, stored, record in (("zh-CN", "入库保管", "记录"), ("en", "Stored", "Record")):
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "cub_officer")
        page.goto(f"{live_server.base_url}/custody/{ids[f'CUB-{language}']}")
        expect(page.locator("#item-overdue")).to_be_visible()  # received days ago, not stored
        page.select_option("#step-form select[name=stage]", "stored")
        page.fill("#step-form input[name=occurred_at]", "2026-11-30T15:00")
        page.fill("#step-form input[name=handled_by]", "王保管")
        page.fill("#step-form input[name=location]", "涉案财物库 B-2")
        button = page.locator("#step-form").get_by_role("button", name=record)
        box = button.bounding_box()
        assert box is not None and box["height"] >= 40
        button.click()
        expect(page.locator("#item-stage [data-stage]")).to_contain_text(stored)
        expect(page.locator("#chain tbody tr")).to_have_count(2)
        expect(page.locator("#chain")).to_contain_text("cub_officer")
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{language}: the page scrolls sideways at phone width"
        page.goto(f"{live_server.base_url}/custody")
        expect(page.locator(f'[data-item="CUB-{language}"]')).to_be_visible()
        assert errors == [], errors
        context.close()
