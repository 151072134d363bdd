"""The community pages in a real browser, in Chinese and in English at phone width: a member
of the public sends a tip with no login (the page does the proof of work) and follows it by
its receipt; a grid worker records a team member (shown masked) and puts a shift on the
roster."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D1-S2-B2-G2"
PHONE = {"width": 390, "height": 844}


def _no_sideways_scroll(page: object, label: str) -> None:
    wide = page.evaluate(  # type: ignore[attr-defined]
        "document.scrollingElement.scrollWidth > window.innerWidth + 1"
    )
    assert not wide, f"{label}: the page scrolls sideways at phone width"


@pytest.mark.browser
def test_the_public_sends_a_tip_at_phone_width_and_follows_it(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the pages are the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre(GRID)
    for language, sent, stage in (("zh-CN", "已受理", "已收到"), ("en", "Taken", "Received")):
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(f"{live_server.base_url}/tip")
        # The page's SHA-256 is SHA-256.
        for text in ("", "abc", "1.2f.x:ff", "x" * 119):
            words = page.evaluate("t => window.fangkongTip.sha256(t)", text)
            digest = "".join(f"{w & 0xFFFFFFFF:08x}" for w in words)
            assert digest == hashlib.sha256(text.encode()).hexdigest(), text
        _no_sideways_scroll(page, language)
        page.select_option("select[name=category]", "traffic")
        page.fill("textarea[name=text]", "路口红绿灯坏了三天 / the lights are out")
        page.fill("input[name=lon]", f"{lon:.6f}")
        page.fill("input[name=lat]", f"{lat:.6f}")
        page.wait_for_timeout(3200)  # a form sent sooner than 3 s is refused
        send = page.locator("#tip-send")
        box = send.bounding_box()
        assert box is not None and box["height"] >= 40  # a thumb's target
        send.click()
        expect(page.locator("#tip-accepted")).to_contain_text(sent, timeout=30_000)
        receipt = page.locator("#tip-receipt").inner_text()
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", receipt)
        assert context.cookies() == [c for c in context.cookies() if c["name"] == "fangkong_lang"]
        page.goto(f"{live_server.base_url}/tip/status")
        page.fill("input[name=receipt]", receipt.lower())
        page.get_by_role("button", name="查询" if language == "zh-CN" else "Look up").click()
        expect(page.locator("[data-stage]")).to_have_text(stage)
        _no_sideways_scroll(page, language)
        assert errors == [], errors
        context.close()


@pytest.mark.browser
def test_a_grid_worker_keeps_a_team_at_phone_width(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the pages are the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="cb_grid") is None:
            auth.create(
                session,
                username="cb_grid",
                display_name="cb_grid",
                password=TEST_PASSWORD,
                role=Role.GRID_WORKER,
                area_codes=[GRID],
                actor=SYSTEM,
            )
            session.commit()
    with live_server.client(live_server.token("cb_grid")) as grid:
        made = grid.post(
            "/api/v1/community/teams",
            json={"code": "CB-P1", "name": "西巷巡逻队", "kind": "volunteer_patrol", "area": GRID},
        )
        assert made.status_code in (201, 409), made.text
        team_id = grid.get("/api/v1/community/teams", params={"q": "CB-P1"}).json()["items"][0][
            "id"
        ]
    for language, name, add, shift in (
        ("zh-CN", "钱七", "登记成员", "排班"),
        ("en", "Sun Ba", "Add member", "Add shift"),
    ):
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "cb_grid")
        page.goto(f"{live_server.base_url}/community/teams/{team_id}")
        page.fill("#add-member input[name=name]", name)
        page.fill("#add-member input[name=phone]", "13811112222")
        page.get_by_role("button", name=add).click()
        members = page.locator("#member-list")
        expect(members).to_contain_text("138******22")
        expect(members).not_to_contain_text(name)  # masked: the first character only
        expect(members).to_contain_text(name[0])
        page.fill("#add-shift input[name=starts_at]", "2026-12-10T19:00")
        page.fill("#add-shift input[name=ends_at]", "2026-12-10T22:00")
        page.locator("#add-shift input[name=member_ids]").last.check()
        page.locator("#add-shift").get_by_role("button", name=shift).click()
        expect(page.locator("#shift-list tbody tr[data-shift]").first).to_be_visible()
        _no_sideways_scroll(page, language)
        page.goto(f"{live_server.base_url}/community/figures")
        expect(page.locator("#figures")).to_contain_text(GRID)
        _no_sideways_scroll(page, f"{language} figures")
        assert errors == [], errors
        context.close()
