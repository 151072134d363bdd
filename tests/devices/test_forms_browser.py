"""The device's form in a real browser, in Chinese and in English, on a phone and on a
desktop: a fault shown beside its field in the page's language, a device registered, edited,
and its status set by hand on its page (its history grows by a line)."""

from __future__ import annotations

import re

import pytest

from conftest import LiveServer
from factories import grid_centre
from fangkong.core.models import Role
from forms_browser import RUNS, console_page, ensure_user, fault_of, no_sideways_scroll

GRID = "T-D1-S1-B2-G2"
REQUIRED = {"zh-CN": "必填项", "en": "required"}
NUMBER = {"zh-CN": "数字", "en": "a number"}
SAVE = {"zh-CN": "保存", "en": "Save"}
NEW = {"zh-CN": "登记设备", "en": "New device"}
EDIT = {"zh-CN": "编辑", "en": "Edit"}
REPORT = {"zh-CN": "故障", "en": "Fault"}


@pytest.mark.browser
def test_inspector_registers_edits_and_reports_a_device(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    lon, lat = grid_centre(GRID)
    ensure_user(live_server, "dbf_inspector", Role.INSPECTOR, "T-D1-S1")
    for run, (language, viewport) in enumerate(RUNS):
        code = f"DBF-{run}"
        with console_page(browser, live_server, "dbf_inspector", language, viewport) as page:
            page.goto(f"{live_server.base_url}/devices")
            page.get_by_role("link", name=NEW[language]).click()
            page.wait_for_url(re.compile(r".*/devices/new$"))
            form = page.locator("#device-form")
            form.locator("input[name=code]").fill(code)
            form.locator("input[name=lon]").fill("东经" if language == "zh-CN" else "east")
            form.locator("input[name=lat]").fill(f"{lat:.6f}")
            form.get_by_role("button", name=SAVE[language]).click()
            expect(fault_of(page, "device_type")).to_contain_text(REQUIRED[language])
            expect(fault_of(page, "lon")).to_contain_text(NUMBER[language])
            assert fault_of(page, "lat").count() == 0
            if viewport["width"] < 600:
                no_sideways_scroll(page, f"{language} device form")
            form.locator("select[name=device_type]").select_option("camera")
            form.locator("select[name=zone_type]").select_option("urban_fringe")
            form.locator("input[name=lon]").fill(f"{lon:.6f}")
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/devices/\d+$"))
            expect(page.locator("h1")).to_contain_text(code)
            expect(page.locator("[data-status]")).to_have_attribute("data-status", "working")
            page.get_by_role("link", name=EDIT[language], exact=True).click()
            page.wait_for_url(re.compile(r".*/devices/\d+/edit$"))
            edit = page.locator("#device-form")
            expect(edit.locator("select[name=zone_type]")).to_have_value("urban_fringe")
            edit.locator("input[name=name]").fill("南门探头")
            edit.locator("input[name=networked]").check()
            edit.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/devices/\d+$"))
            expect(page.locator("h1")).to_contain_text("南门探头")
            rows = page.locator("#device-history tbody tr")
            expect(rows).to_have_count(1)
            page.get_by_role("radio", name=REPORT[language]).check()
            page.locator("form.status-form button[type=submit]").click()
            expect(page.locator("[data-status]")).to_have_attribute("data-status", "fault")
            expect(rows).to_have_count(2)
            if viewport["width"] < 600:
                no_sideways_scroll(page, f"{language} device page")
