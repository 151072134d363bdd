"""The place picker on the registers' forms (issue 19), over HTTP on both backends: each
form (facility, device, holder, site; new and edit) carries one map bound to its longitude
and latitude fields, in the reader's language, on the vendored MapLibre and the shared
script only (no remote tiles or scripts); an edit form's fields hold the record's point (the
picker opens centred there)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D1-S1-B2-G1"
LEGEND = {"zh-CN": "地图定位", "en": "Place on the map"}


@pytest.fixture(scope="module")
def inspector(live_server: LiveServer) -> Iterator[httpx.Client]:
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="plf_inspector") is None:
            auth.create(
                session,
                username="plf_inspector",
                display_name="plf_inspector",
                password=TEST_PASSWORD,
                role=Role.INSPECTOR,
                area_codes=["T-D1"],
                actor=SYSTEM,
            )
            session.commit()
    client = live_server.console_client("plf_inspector")
    yield client
    client.close()


def form(client: httpx.Client, **values: str) -> dict[str, str]:
    return {"csrf_token": client.headers["X-CSRF-Token"], **values}


def picker(page: str, map_id: str) -> str:
    """The picker's fieldset of ``page`` (its HTML), checked to be the one map of the page
    and bound to the fields lon and lat that it holds."""
    assert page.count("data-place-map") == 1, "one picker a form"
    found = re.search(r"<fieldset class=\"place-picker\".*?</fieldset>", page, re.S)
    assert found is not None
    box = found.group(0)
    assert f'id="{map_id}"' in box
    assert 'data-lon="lon"' in box and 'data-lat="lat"' in box
    assert 'name="lon"' in box and 'name="lat"' in box
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert "/static/vendor/maplibre-gl.js" in scripts and "/static/place_picker.js" in scripts
    assert scripts.index("/static/vendor/maplibre-gl.js") < scripts.index("/static/place_picker.js")
    assert not [s for s in scripts if "//" in s], scripts  # nothing from elsewhere
    assert '/static/vendor/maplibre-gl.css"' in page
    return box


def value_of(box: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', box)
    assert found is not None, name
    return found.group(1)


def test_every_register_form_picks_its_point_on_a_map(inspector: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    for language in ("zh-CN", "en"):
        inspector.cookies.set("fangkong_lang", language)
        for path, map_id in (
            ("/facilities/new", "facility-map"),
            ("/devices/new", "device-map"),
            ("/materials/holders/new", "holder-map"),
        ):
            answer = inspector.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
            box = picker(answer.text, map_id)
            assert f"<legend>{LEGEND[language]}</legend>" in box
            assert value_of(box, "lon") == "" and value_of(box, "lat") == ""
    inspector.cookies.set("fangkong_lang", "en")

    made = inspector.post(
        "/facilities/new",
        data=form(
            inspector,
            code="PLF-1",
            name="Picked school",
            facility_type="school",
            lon=f"{lon:.6f}",
            lat=f"{lat:.6f}",
        ),
    )
    assert made.status_code == 303, made.text
    box = picker(inspector.get(made.headers["location"] + "/edit").text, "facility-map")
    assert (float(value_of(box, "lon")), float(value_of(box, "lat"))) == (
        float(f"{lon:.6f}"),
        float(f"{lat:.6f}"),
    )

    device = inspector.post(
        "/devices/new",
        data=form(
            inspector,
            code="PLD-1",
            device_type="camera",
            owner_kind="public",
            zone_type="rural",
            status="working",
            lon=f"{lon:.6f}",
            lat=f"{lat:.6f}",
        ),
    )
    assert device.status_code == 303, device.text
    box = picker(inspector.get(device.headers["location"] + "/edit").text, "device-map")
    assert float(value_of(box, "lon")) == float(f"{lon:.6f}")

    holder = inspector.post(
        "/materials/holders/new",
        data=form(
            inspector,
            code="PLH-1",
            kind="retail",
            name="Picked shop",
            **{"licence_classes.fireworks": "1"},
            lon=f"{lon:.6f}",
            lat=f"{lat:.6f}",
        ),
    )
    assert holder.status_code == 303, holder.text
    box = picker(inspector.get(holder.headers["location"] + "/edit").text, "holder-map")
    assert float(value_of(box, "lat")) == float(f"{lat:.6f}")
    site_form = inspector.get(holder.headers["location"] + "/sites/new")
    assert site_form.status_code == 200
    picker(site_form.text, "site-map")


def test_a_refused_form_keeps_the_typed_point_for_the_picker(inspector: httpx.Client) -> None:
    inspector.cookies.set("fangkong_lang", "zh-CN")
    answer = inspector.post(
        "/facilities/new",
        data=form(inspector, code="PLF-2", facility_type="bank", lon="116.5", lat="东经"),
    )
    assert answer.status_code == 422
    box = picker(answer.text, "facility-map")
    assert value_of(box, "lon") == "116.5" and value_of(box, "lat") == "东经"
    assert 'data-error-for="lat"' in box  # the fault beside its field, inside the picker


def test_the_static_picker_is_served_and_the_case_script_gone(inspector: httpx.Client) -> None:
    assert inspector.get("/static/place_picker.js").status_code == 200
    assert inspector.get("/static/case_map.js").status_code == 404
