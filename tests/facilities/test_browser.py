"""The key-facility register in a real browser: an inspector on a phone opens a facility
(its compliance rule by rule, no sideways scrolling), starts an inspection from it, and sees
the facility layer on the command map; in Chinese and in English."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D1-S1-B2-G1"
PHONE = {"width": 390, "height": 844}


def user(server: LiveServer, username: str, role: Role, area: str) -> None:
    with Session(server.engine) as session:
        if auth.get_by_username(session, username=username) is None:
            auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=role,
                area_codes=[area],
                actor=SYSTEM,
            )
            session.commit()


@pytest.mark.browser
def test_inspector_at_phone_width_opens_an_inspection(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre(GRID)
    with live_server.client(live_server.admin_token()) as admin:
        made = admin.post(
            "/api/v1/facilities",
            json={
                "code": "FB-1",
                "name": "实验小学",
                "facility_type": "school",
                "staff_count": 80,
                "guards_full_time": 1,
                "guards_part_time": 1,
                "video_networked": True,
                "alarm_networked": True,
                "lon": lon,
                "lat": lat,
            },
        )
        assert made.status_code in (201, 409), made.text
        facility_id = admin.get("/api/v1/facilities", params={"q": "FB-1"}).json()["items"][0]["id"]
    user(live_server, "fb_inspector", Role.INSPECTOR, "T-D1-S1")
    for language, fails, opens in (
        ("zh-CN", "未达标", "发起检查"),
        ("en", "Not compliant", "Open an inspection"),
    ):
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "fb_inspector")
        page.goto(f"{live_server.base_url}/facilities/{facility_id}")
        expect(page.locator(".compliance")).to_have_attribute("data-compliant", "false")
        expect(page.locator(".compliance")).to_contain_text(fails)
        failed = page.locator('[data-rule="school_protection"]')
        expect(failed).to_have_attribute("data-passed", "false")
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{language}: the page scrolls sideways at phone width"
        button = page.get_by_role("button", name=opens)
        box = button.bounding_box()
        assert box is not None and box["height"] >= 40  # a thumb's target
        if language == "zh-CN":
            button.click()
            page.wait_for_url(re.compile(r".*/cases/\d+$"))
            expect(page.locator("body")).to_contain_text("FB-1")
        page.goto(f"{live_server.base_url}/")
        expect(page.locator("#map")).to_have_attribute(
            "data-registers-ready", "true", timeout=30_000
        )
        assert int(page.get_attribute("#map", "data-facilities-drawn") or "0") >= 1
        assert errors == [], errors
        context.close()
