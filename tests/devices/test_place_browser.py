"""Picking a device's place on the map of its form (issue 19), in a real browser, in Chinese
and in English, on a phone (an inspector beside the pole) and on a desktop: a click sets the
point and fills longitude and latitude, the saved device has that point; the edit form opens
centred on it and a second click moves the device."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import LiveServer
from factories import grid_centre
from fangkong.core.models import Role
from fangkong.devices.models import Device
from forms_browser import RUNS, console_page, ensure_user, no_sideways_scroll
from place_browser import centre, click_at, map_ready, marker, near, pan_to

FIRST = "T-D1-S1-B2-G2"
SECOND = "T-D1-S1-B1-G1"
SAVE = {"zh-CN": "保存", "en": "Save"}


def saved_point(server: LiveServer, code: str) -> tuple[float, float]:
    with Session(server.engine) as session:
        device = session.scalars(select(Device).where(Device.code == code)).one()
        return device.lon, device.lat


@pytest.mark.browser
def test_inspector_picks_a_device_place_on_the_map(
    live_server: LiveServer, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import expect

    first = grid_centre(FIRST)
    second = grid_centre(SECOND)
    ensure_user(live_server, "dpk_inspector", Role.INSPECTOR, "T-D1-S1")
    for run, (language, viewport) in enumerate(RUNS):
        code = f"DPK-{run}"
        phone = viewport["width"] < 600
        with console_page(browser, live_server, "dpk_inspector", language, viewport) as page:
            page.goto(f"{live_server.base_url}/devices/new")
            form = page.locator("#device-form")
            form.locator("input[name=code]").fill(code)
            form.locator("select[name=device_type]").select_option("camera")
            form.locator("select[name=zone_type]").select_option("rural")
            click_at(page, "device-map", *first)
            picked = (
                float(form.locator("input[name=lon]").input_value()),
                float(form.locator("input[name=lat]").input_value()),
            )
            assert near(picked, first), (picked, first)
            if phone:
                no_sideways_scroll(page, f"{language} device form with its map")
                # The map fits the phone's width and leaves room for the fields.
                box = page.locator("#device-map").bounding_box()
                assert box is not None and box["width"] <= 390 and box["height"] <= 844 / 2
            form.get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/devices/\d+$"))
            expect(page.locator("h1")).to_contain_text(code)
            saved = saved_point(live_server, code)
            assert near(saved, picked, 1e-6), (saved, picked)

            page.goto(page.url + "/edit")
            map_ready(page, "device-map")
            assert near(centre(page, "device-map"), saved, 1e-5)
            assert near(marker(page, "device-map"), saved, 1e-6)
            pan_to(page, "device-map", *second)  # as a user drags the map there
            click_at(page, "device-map", *second)
            page.locator("#device-form").get_by_role("button", name=SAVE[language]).click()
            page.wait_for_url(re.compile(r".*/devices/\d+$"))
            assert near(saved_point(live_server, code), second)
