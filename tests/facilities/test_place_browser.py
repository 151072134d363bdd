"""Picking a key facility's place on the map of its form (issue 19), in a real browser, in
Chinese and in English, on a phone (an inspector at the gate) and on a desktop: a click sets
the point and fills longitude and latitude, the saved facility has that point; the edit form
opens centred on it, a typed longitude moves the marker, a second click moves the facility."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import LiveServer
from factories import grid_centre
from fangkong.core.models import Role
from fangkong.facilities.models import Facility
from forms_browser import PHONE, RUNS, console_page, ensure_user, no_sideways_scroll
from place_browser import centre, click_at, map_ready, marker, near, pan_to

FIRST = "T-D1-S1-B2-G1"
SECOND = "T-D1-S1-B1-G2"
SAVE = {"zh-CN": "保存", "en": "Save"}
PLACE = {"zh-CN": "地图定位", "en": "Place on the map"}


def saved_point(server: LiveServer, code: str) -> tuple[float, float]:
    with Session(server.engine) as session:
        facility = session.scalars(select(Facility).where(Facility.code == code)).one()
        return facility.lon, facility.lat


@pytest.mark.browser
def test_inspector_picks_a_facility_place_on_the_map(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    first = grid_centre(FIRST)
    second = grid_centre(SECOND)
    ensure_user(live_server, "fpk_inspector", Role.INSPECTOR, "T-D1-S1")
    for run, (language, viewport) in enumerate(RUNS):
        code = f"FPK-{run}"
        with console_page(browser, live_server, "fpk_inspector", language, viewport) as page:
            page.goto(f"{live_server.base_url}/facilities/new")
            form = page.locator("#facility-form")
            expect(form.locator("fieldset.place-picker legend")).to_have_text(PLACE[language])
            form.locator("input[name=code]").fill(code)
            form.locator("select[name=facility_type]").select_option("hospital")
            form.locator("input[name=name]").fill("地图选点医院")
            click_at(page, "facility-map", *first)
            picked = (
                float(form.locator("input[name=lon]").input_value()),
                float(form.locator("input[name=lat]").input_value()),
            )
            assert near(picked, first), (picked, first)
            assert near(marker(page, "facility-map"), picked, 1e-6)
            if viewport["width"] < 600:
                no_sideways_scroll(page, f"{language} facility form with its map")
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/facilities/\d+$"))
            saved = saved_point(live_server, code)
            assert near(saved, picked, 1e-6), (saved, picked)

            page.goto(page.url + "/edit")
            map_ready(page, "facility-map")
            assert near(centre(page, "facility-map"), saved, 1e-5)
            assert near(marker(page, "facility-map"), saved, 1e-6)
            edit = page.locator("#facility-form")
            # A typed value still counts and moves the marker.
            typed_lon = saved[0] + 0.0005
            edit.locator("input[name=lon]").fill(f"{typed_lon:.6f}")
            assert near(marker(page, "facility-map"), (typed_lon, saved[1]), 1e-6)
            pan_to(page, "facility-map", *second)  # as a user drags the map there
            click_at(page, "facility-map", *second)
            if viewport["width"] < 600:
                no_sideways_scroll(page, f"{language} facility edit form with its map")
            edit.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/facilities/\d+$"))
            assert near(saved_point(live_server, code), second)


@pytest.mark.browser
def test_a_typed_point_is_saved_as_typed(live_server: LiveServer, browser: object) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    lon, lat = grid_centre(FIRST)
    ensure_user(live_server, "fpk_typist", Role.INSPECTOR, "T-D1-S1")
    with console_page(browser, live_server, "fpk_typist", "en", PHONE) as page:
        page.goto(f"{live_server.base_url}/facilities/new")
        map_ready(page, "facility-map")
        form = page.locator("#facility-form")
        form.locator("input[name=code]").fill("FPK-T")
        form.locator("select[name=facility_type]").select_option("bank")
        form.locator("input[name=name]").fill("Typed bank")
        form.locator("input[name=lon]").fill(f"{lon:.6f}")
        assert marker(page, "facility-map") is None  # one field is not yet a point
        form.locator("input[name=lat]").fill(f"{lat:.6f}")
        expect(page.locator("#facility-map")).to_have_attribute(
            "data-marker", f"{lon:.6f},{lat:.6f}"
        )
        form.get_by_role("button", name=SAVE["en"]).click()
        page.wait_for_url(re.compile(r".*/facilities/\d+$"))
        assert saved_point(live_server, "FPK-T") == (float(f"{lon:.6f}"), float(f"{lat:.6f}"))
