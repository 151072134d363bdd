"""Picking a holder's and a storage site's place on the map of their forms (issue 19), in a
real browser at phone and desktop width: a click fills longitude and latitude and the saved
records have the point; the site's edit form opens centred on the site."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import LiveServer
from factories import grid_centre
from fangkong.core.models import Role
from fangkong.materials.models import Holder, Site
from forms_browser import DESKTOP, PHONE, console_page, ensure_user
from place_browser import centre, click_at, map_ready, marker, near

HOLDER_GRID = "T-D1-S2-B1-G1"
SITE_GRID = "T-D1-S2-B1-G2"
SAVE = {"zh-CN": "保存", "en": "Save"}


@pytest.mark.browser
def test_inspector_picks_a_holder_and_site_place(live_server: LiveServer, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    holder_at = grid_centre(HOLDER_GRID)
    site_at = grid_centre(SITE_GRID)
    ensure_user(live_server, "mpk_inspector", Role.INSPECTOR, "T-D1-S2")
    for run, (language, viewport) in enumerate((("zh-CN", PHONE), ("en", DESKTOP))):
        code = f"MPK-{run}"
        with console_page(browser, live_server, "mpk_inspector", language, viewport) as page:
            page.goto(f"{live_server.base_url}/materials/holders/new")
            form = page.locator("#holder-form")
            form.locator("input[name=code]").fill(code)
            form.locator("select[name=kind]").select_option("retail")
            form.locator("input[name='licence_classes.fireworks']").check()
            form.locator("input[name=name]").fill("鞭炮零售店")
            click_at(page, "holder-map", *holder_at)
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/materials/holders/\d+$"))
            page.goto(page.url + "/sites/new")
            site = page.locator("#site-form")
            site.locator("input[name=code]").fill(f"{code}-S")
            site.locator("input[name=name]").fill("店内仓")
            site.locator("select[name=kind]").select_option("shop")
            click_at(page, "site-map", *site_at)
            site.locator("select[name='capacities.0.material_class']").select_option("fireworks")
            site.locator("select[name='capacities.0.unit']").select_option("piece")
            site.locator("input[name='capacities.0.capacity']").fill("300")
            site.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/materials/holders/\d+$"))
            with Session(live_server.engine) as session:
                holder = session.scalars(select(Holder).where(Holder.code == code)).one()
                stored = session.scalars(select(Site).where(Site.code == f"{code}-S")).one()
                assert near((holder.lon, holder.lat), holder_at)
                assert near((stored.lon, stored.lat), site_at)
                site_point = (stored.lon, stored.lat)
                site_id = stored.id
            page.goto(f"{live_server.base_url}/materials/sites/{site_id}/edit")
            map_ready(page, "site-map")
            assert near(centre(page, "site-map"), site_point, 1e-5)
            assert near(marker(page, "site-map"), site_point, 1e-6)
