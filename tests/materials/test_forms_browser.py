"""The holder's and the site's forms in a real browser, in Chinese and in English, on a phone
(an inspector at the depot) and on a desktop: faults beside their fields (a capacity's beside
its row) in the page's language, a holder registered with its contact (shown masked), a site
added with its capacities and then edited."""

from __future__ import annotations

import re

import pytest

from conftest import LiveServer
from factories import grid_centre
from fangkong.core.models import Role
from forms_browser import RUNS, console_page, ensure_user, fault_of, no_sideways_scroll

GRID = "T-D1-S2-B2-G1"
REQUIRED = {"zh-CN": "必填项", "en": "required"}
ABOVE = {"zh-CN": "应大于 0", "en": "more than 0"}
SAVE = {"zh-CN": "保存", "en": "Save"}
NEW = {"zh-CN": "登记持有单位", "en": "New holder"}
NEW_SITE = {"zh-CN": "登记场所", "en": "New site"}


@pytest.mark.browser
def test_inspector_registers_a_holder_and_its_site(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    lon, lat = grid_centre(GRID)
    ensure_user(live_server, "mbf_inspector", Role.INSPECTOR, "T-D1-S2")
    for run, (language, viewport) in enumerate(RUNS):
        code = f"MBF-{run}"
        phone = viewport["width"] < 600
        with console_page(browser, live_server, "mbf_inspector", language, viewport) as page:
            page.goto(f"{live_server.base_url}/materials")
            page.get_by_role("link", name=NEW[language]).click()
            page.wait_for_url(re.compile(r".*/materials/holders/new$"))
            form = page.locator("#holder-form")
            form.locator("input[name=code]").fill(code)
            form.locator("select[name=kind]").select_option("retail")
            form.locator("input[name='licence_classes.fireworks']").check()
            form.locator("input[name=lon]").fill(f"{lon:.6f}")
            form.locator("input[name=lat]").fill(f"{lat:.6f}")
            form.locator("input[name=contact_name]").fill("张三")
            form.locator("input[name=contact_phone]").fill("13800002222")
            form.get_by_role("button", name=SAVE[language]).click()
            expect(fault_of(page, "name")).to_contain_text(REQUIRED[language])
            # The contact is not sent back in clear: typed again.
            expect(form.locator("input[name=contact_name]")).to_have_value("")
            expect(form.locator("input[name='licence_classes.fireworks']")).to_be_checked()
            if phone:
                no_sideways_scroll(page, f"{language} holder form")
            form.locator("input[name=name]").fill("鞭炮零售店")
            form.locator("input[name=contact_name]").fill("张三")
            form.locator("input[name=contact_phone]").fill("13800002222")
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/materials/holders/\d+$"))
            expect(page.locator("[data-contact=masked]")).to_contain_text("张*")
            page.get_by_role("link", name=NEW_SITE[language]).click()
            page.wait_for_url(re.compile(r".*/sites/new$"))
            site = page.locator("#site-form")
            site.locator("input[name=code]").fill(f"{code}-S")
            site.locator("input[name=name]").fill("店内仓")
            site.locator("select[name=kind]").select_option("shop")
            site.locator("input[name=lon]").fill(f"{lon:.6f}")
            site.locator("input[name=lat]").fill(f"{lat:.6f}")
            site.locator("select[name='capacities.1.material_class']").select_option("fireworks")
            site.locator("select[name='capacities.1.unit']").select_option("piece")
            site.locator("input[name='capacities.1.capacity']").fill("0")
            site.get_by_role("button", name=SAVE[language]).click()
            expect(fault_of(page, "capacities.1.capacity")).to_contain_text(ABOVE[language])
            if phone:
                no_sideways_scroll(page, f"{language} site form")
            site.locator("input[name='capacities.1.capacity']").fill("300")
            site.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/materials/holders/\d+$"))
            row = page.locator(f'[data-site="{code}-S"]')
            expect(row).to_contain_text("300")
            row.get_by_role("link").click()
            page.wait_for_url(re.compile(r".*/materials/sites/\d+/edit$"))
            edit = page.locator("#site-form")
            expect(edit.locator("input[name='capacities.0.capacity']")).to_have_value("300")
            edit.locator("input[name='capacities.0.capacity']").fill("450")
            edit.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/materials/holders/\d+$"))
            expect(page.locator(f'[data-site="{code}-S"]')).to_contain_text("450")
