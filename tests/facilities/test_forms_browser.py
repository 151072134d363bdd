"""The key facility's form in a real browser, in Chinese and in English, on a phone (an
inspector at the gate) and on a desktop: a fault shown beside its field in the page's
language, then the facility registered and edited."""

from __future__ import annotations

import re

import pytest

from conftest import LiveServer
from factories import grid_centre
from fangkong.core.models import Role
from forms_browser import RUNS, console_page, ensure_user, fault_of, no_sideways_scroll

GRID = "T-D1-S1-B2-G1"
REQUIRED = {"zh-CN": "必填项", "en": "required"}
WHOLE = {"zh-CN": "整数", "en": "whole number"}
SAVE = {"zh-CN": "保存", "en": "Save"}
NEW = {"zh-CN": "登记重点单位", "en": "New facility"}
EDIT = {"zh-CN": "编辑", "en": "Edit"}


@pytest.mark.browser
def test_inspector_registers_and_edits_a_facility(live_server: LiveServer, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    lon, lat = grid_centre(GRID)
    ensure_user(live_server, "fbf_inspector", Role.INSPECTOR, "T-D1-S1")
    for run, (language, viewport) in enumerate(RUNS):
        code = f"FBF-{run}"
        with console_page(browser, live_server, "fbf_inspector", language, viewport) as page:
            page.goto(f"{live_server.base_url}/facilities")
            page.get_by_role("link", name=NEW[language]).click()
            page.wait_for_url(re.compile(r".*/facilities/new$"))
            form = page.locator("#facility-form")
            form.locator("input[name=code]").fill(code)
            form.locator("select[name=facility_type]").select_option("school")
            form.locator("input[name=staff_count]").fill("很多" if language == "zh-CN" else "many")
            form.locator("input[name=lon]").fill(f"{lon:.6f}")
            form.get_by_role("button", name=SAVE[language]).click()
            expect(fault_of(page, "name")).to_contain_text(REQUIRED[language])
            expect(fault_of(page, "lat")).to_contain_text(REQUIRED[language])
            expect(fault_of(page, "staff_count")).to_contain_text(WHOLE[language])
            expect(page.locator("#form-errors")).to_be_visible()
            assert fault_of(page, "code").count() == 0
            expect(form.locator("input[name=code]")).to_have_value(code)  # kept as typed
            if viewport["width"] < 600:
                no_sideways_scroll(page, f"{language} facility form")
                box = form.get_by_role("button", name=SAVE[language]).bounding_box()
                assert box is not None and box["height"] >= 40
            form.locator("input[name=name]").fill("实验小学")
            form.locator("input[name=staff_count]").fill("120")
            form.locator("input[name=guards_full_time]").fill("1")
            form.locator("input[name=guards_part_time]").fill("1")
            form.locator("input[name=lat]").fill(f"{lat:.6f}")
            form.get_by_role("checkbox", name=re.compile("一键报警|Alarm")).check()
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/facilities/\d+$"))
            expect(page.locator("h1")).to_contain_text(code)
            expect(page.locator(".compliance")).to_have_attribute("data-compliant", "false")
            page.get_by_role("link", name=EDIT[language], exact=True).click()
            page.wait_for_url(re.compile(r".*/facilities/\d+/edit$"))
            edit = page.locator("#facility-form")
            expect(edit.locator("input[name=staff_count]")).to_have_value("120")
            for name in ("video_networked", "school_gate_post", "closed_management"):
                edit.locator(f"input[name={name}]").check()
            edit.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/facilities/\d+$"))
            expect(page.locator(".compliance")).to_have_attribute("data-compliant", "true")
