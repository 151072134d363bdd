"""The indicator system in a real browser: the prevention office's dashboard draws its share
chart from its table and its figures open the records they count; a station officer records
a task's progress on a phone (no sideways scroll), in Chinese and in English."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

PHONE = {"width": 390, "height": 844}


def _user(live_server: LiveServer, username: str, role: Role, area: str) -> None:
    with Session(live_server.engine) as session:
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
def test_dashboard_chart_drill_down_and_a_task_on_a_phone(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    _user(live_server, "ib_office", Role.EVALUATOR, "T")
    _user(live_server, "ib_officer", Role.STATION_OFFICER, "T-D1-S1")
    with live_server.client(live_server.admin_token()) as admin:
        for code in ("IB-zh-CN", "IB-en"):
            made = admin.post(
                "/api/v1/indicators/tasks",
                json={
                    "code": code,
                    "title": "视频监控补点",
                    "responsible_unit": "科信大队",
                    "area_code": "T-D1-S1",
                    "deadline": "2099-12-31",
                },
            )
            assert made.status_code in (201, 409), made.text
    for language in ("zh-CN", "en"):
        context = browser.new_context(locale=language, viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "ib_office")
        page.goto(f"{live_server.base_url}/indicators?period=2025-03")
        expect(page.locator("#share-met")).to_be_visible()
        expect(page.locator('[data-chart-table="share-met"]')).to_have_attribute(
            "data-chart-ready", "true"
        )
        assert page.locator('[data-chart-table="share-met"] canvas').count() >= 1
        cell = page.locator('tr[data-indicator="incidents.received"] td[data-area="T"] a')
        cell.click()
        expect(page.locator('[data-table="indicator_incidents"]')).to_be_visible()
        page.goto(f"{live_server.base_url}/indicators/trend?indicator=response.ring_3min")
        expect(page.locator('[data-chart-table="trend"]')).to_have_attribute(
            "data-chart-ready", "true"
        )
        context.close()
        assert not errors, errors

        phone = browser.new_context(locale=language, viewport=PHONE)
        phone.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = phone.new_page()
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "ib_officer")
        page.goto(f"{live_server.base_url}/indicators/tasks")
        task = page.locator(f'[data-task="IB-{language}"]')
        expect(task).to_be_visible()
        label = "进度（%）" if language == "zh-CN" else "Progress (%)"
        task.get_by_role("spinbutton", name=label).fill("60")
        task.get_by_role("button", name="保存" if language == "zh-CN" else "Save").click()
        expect(page.locator(f'[data-task="IB-{language}"] progress')).to_have_attribute(
            "value", "60"
        )
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{language}: the ledger scrolls sideways at phone width"
        phone.close()
        assert not errors, errors
