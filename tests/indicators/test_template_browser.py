"""The report templates' editor in a real browser, in Chinese and in English: the prevention
office opens it from the catalogue, a refused save shows each fault beside its field in the
page's language, then the template is saved with a new section and the API reads it."""

from __future__ import annotations

import re

import pytest

from conftest import LiveServer
from fangkong.core.models import Role
from forms_browser import DESKTOP, console_page, ensure_user, fault_of

LINK = {"zh-CN": "编辑报告模板", "en": "Edit the report templates"}
SAVE = {"zh-CN": "保存模板", "en": "Save the template"}
REQUIRED = {"zh-CN": "必填项", "en": "required"}
UNKNOWN = {"zh-CN": "未知指标", "en": "unknown indicators"}
SAVED = {"zh-CN": "模板已保存", "en": "The template was saved"}


@pytest.mark.browser
def test_the_office_edits_the_bulletins_template(live_server: LiveServer, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    ensure_user(live_server, "itb_office", Role.EVALUATOR, "T")
    for language in ("zh-CN", "en"):
        with console_page(browser, live_server, "itb_office", language, DESKTOP) as page:
            page.goto(f"{live_server.base_url}/indicators/catalogue")
            page.get_by_role("link", name=LINK[language]).click()
            page.wait_for_url(re.compile(rf".*/indicators/report-templates/bulletin/{language}$"))
            form = page.locator("#template-form")
            blank = form.locator("fieldset[data-section]").last
            row = blank.get_attribute("data-section")
            assert row is not None and int(row) >= 3
            form.locator("input[name=title]").fill("")
            blank.locator("select[name$='.kind']").select_option("indicators")
            blank.locator("input[name$='.indicators']").fill("devices.online_rate, port.none")
            form.get_by_role("button", name=SAVE[language]).click()
            expect(fault_of(page, "title")).to_contain_text(REQUIRED[language])
            expect(fault_of(page, f"sections.{row}.heading")).to_contain_text(REQUIRED[language])
            expect(fault_of(page, f"sections.{row}.indicators")).to_contain_text(UNKNOWN[language])
            expect(page.locator("#form-errors")).to_be_visible()
            assert fault_of(page, "sections.0.heading").count() == 0
            again = page.locator(f"fieldset[data-section='{row}']")
            expect(again.locator("input[name$='.indicators']")).to_have_value(
                "devices.online_rate, port.none"
            )  # kept as typed
            form.locator("input[name=title]").fill(f"{{area}} {language} {{period}}")
            again.locator("input[name$='.heading']").fill(f"港口 {language}")
            again.locator("input[name$='.indicators']").fill(
                "devices.coverage.port, manual.port_protection"
            )
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*\?saved=1$"))
            expect(page.locator("#template-saved")).to_contain_text(SAVED[language])
            expect(
                page.locator(f"fieldset[data-section='{row}'] input[name$='.heading']")
            ).to_have_value(f"港口 {language}")
    with live_server.client(live_server.admin_token()) as api:
        for language in ("zh-CN", "en"):
            api.cookies.set("fangkong_lang", language)
            got = api.get("/api/v1/indicators/report-templates/bulletin").json()
            assert got["title"] == f"{{area}} {language} {{period}}"
            assert got["sections"][-1]["indicators"] == [
                "devices.coverage.port",
                "manual.port_protection",
            ]
