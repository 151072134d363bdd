"""The device register in a real browser: a station officer on a phone reports a device's
fault from its page (its history grows by a line), and the figures page draws its chart from
its table; in Chinese and in English."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D1-S1-B2-G2"
PHONE = {"width": 390, "height": 844}


@pytest.mark.browser
def test_officer_reports_a_fault_at_phone_width(live_server: LiveServer, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre(GRID)
    with live_server.client(live_server.admin_token()) as admin:
        for code in ("DB-1", "DB-2"):
            made = admin.post(
                "/api/v1/devices",
                json={
                    "code": code,
                    "device_type": "camera",
                    "owner_kind": "public",
                    "zone_type": "urban_fringe",
                    "networked": True,
                    "lon": lon,
                    "lat": lat,
                },
            )
            assert made.status_code in (201, 409), made.text
        ids = {
            d["code"]: d["id"]
            for d in admin.get("/api/v1/devices", params={"q": "DB-"}).json()["items"]
        }
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="db_officer") is None:
            auth.create(
                session,
                username="db_officer",
                display_name="db_officer",
                password=TEST_PASSWORD,
                role=Role.STATION_OFFICER,
                area_codes=["T-D1-S1"],
                actor=SYSTEM,
            )
            session.commit()
    for language, code, fault, changed in (
        ("zh-CN", "DB-1", "故障", "状态已变更"),
        ("en", "DB-2", "Fault", "Status changed"),
    ):
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "db_officer")
        page.goto(f"{live_server.base_url}/devices/{ids[code]}")
        before = page.locator("#device-history tbody tr").count()
        page.get_by_label(fault).check()
        page.get_by_role("button", name="上报" if language == "zh-CN" else "Report").click()
        expect(page.locator("[data-outcome]")).to_contain_text(changed)
        expect(page.locator("[data-status]")).to_have_attribute("data-status", "fault")
        assert page.locator("#device-history tbody tr").count() == before + 1
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{language}: the page scrolls sideways at phone width"
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{live_server.base_url}/devices/figures?area=T-D1-S1")
        expect(page.locator("#figures-zones")).to_be_visible()
        expect(page.locator(".chart canvas").first).to_be_attached(timeout=15_000)
        assert errors == [], errors
        context.close()
