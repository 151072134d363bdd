"""The console's form for one key facility, over HTTP on both backends: each fault shown
beside its field in the reader's language, the record created and edited as the API would,
the API's permissions and the session's CSRF token required."""

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

GRID = "T-D1-S1-B1-G2"


def staff(server: LiveServer, username: str, role: Role, area: str = "T-D1") -> httpx.Client:
    with Session(server.engine) as session:
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
    return server.console_client(username)


@pytest.fixture(scope="module")
def inspector(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = staff(live_server, "ff_inspector", Role.INSPECTOR)
    yield client
    client.close()


def fault(page: str, name: str) -> str | None:
    """The fault shown beside the field ``name``, if any."""
    found = re.search(rf'data-error-for="{re.escape(name)}">([^<]*)<', page)
    return found.group(1) if found else None


def form(client: httpx.Client, **values: str) -> dict[str, str]:
    return {"csrf_token": client.headers["X-CSRF-Token"], **values}


def test_faults_beside_their_fields_in_the_readers_language(
    inspector: httpx.Client,
) -> None:
    lon, _ = grid_centre(GRID)
    assert inspector.get("/facilities/new").status_code == 200
    for language, required, whole in (("zh-CN", "必填项", "整数"), ("en", "required", "whole")):
        inspector.cookies.set("fangkong_lang", language)
        sent = form(
            inspector, code="FF-1", facility_type="school", staff_count="many", lon=str(lon)
        )
        answer = inspector.post("/facilities/new", data=sent)
        assert answer.status_code == 422, answer.text
        page = answer.text
        assert required in (fault(page, "name") or "") and required in (fault(page, "lat") or "")
        assert whole in (fault(page, "staff_count") or "")
        assert fault(page, "code") is None and fault(page, "lon") is None
        assert 'value="FF-1"' in page  # the form comes back as sent
        outside = inspector.post(
            "/facilities/new",
            data=form(inspector, code="FF-1", name="x", facility_type="bank", lon="10", lat="10"),
        )
        assert outside.status_code == 422
        point = fault(outside.text, "lon") or ""
        assert ("以外" in point or "辖区" in point) if language == "zh-CN" else "outside" in point
    inspector.cookies.set("fangkong_lang", "en")
    assert inspector.get("/api/v1/facilities", params={"q": "FF-1"}).json()["total"] == 0


def test_create_then_edit_as_the_api_would(inspector: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    values = {
        "code": "FF-2",
        "name": "实验幼儿园",
        "facility_type": "kindergarten",
        "address": "学前路 1 号",
        "staff_count": "40",
        "guards_full_time": "1",
        "guards_part_time": "1",
        "alarm_networked": "1",
        "school_gate_post": "1",
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
    }
    made = inspector.post("/facilities/new", data=form(inspector, **values))
    assert made.status_code == 303, made.text
    facility_id = int(made.headers["location"].rsplit("/", 1)[1])
    record = inspector.get(f"/api/v1/facilities/{facility_id}").json()
    assert (record["staff_count"], record["alarm_networked"], record["video_networked"]) == (
        40,
        True,
        False,
    )
    assert record["compliant"] is False  # no video, no closed management
    again = inspector.post("/facilities/new", data=form(inspector, **values))
    assert again.status_code == 422 and "FF-2" in (fault(again.text, "code") or "")
    edit = inspector.get(f"/facilities/{facility_id}/edit")
    assert edit.status_code == 200 and 'name="alarm_networked" value="1" checked' in edit.text
    changed = values | {"video_networked": "1", "closed_management": "1", "code": "FF-OTHER"}
    changed.pop("alarm_networked")
    saved = inspector.post(f"/facilities/{facility_id}/edit", data=form(inspector, **changed))
    assert saved.status_code == 303, saved.text
    record = inspector.get(f"/api/v1/facilities/{facility_id}").json()
    # The code stays whatever is sent; a box left empty is unticked.
    assert record["code"] == "FF-2"
    assert (record["video_networked"], record["closed_management"], record["alarm_networked"]) == (
        True,
        True,
        False,
    )
    bad = inspector.post(
        f"/facilities/{facility_id}/edit",
        data=form(inspector, **(changed | {"guards_full_time": "-1"})),
    )
    assert bad.status_code == 422 and fault(bad.text, "guards_full_time") is not None
    assert inspector.get(f"/api/v1/facilities/{facility_id}").json()["guards_full_time"] == 1


def test_permissions_and_csrf_as_the_other_forms(
    live_server: LiveServer, inspector: httpx.Client
) -> None:
    lon, lat = grid_centre(GRID)
    sent = {"code": "FF-3", "name": "银行", "facility_type": "bank"}
    sent |= {"lon": str(lon), "lat": str(lat)}
    # The form without the session's token (and no header to carry it): refused.
    missing = inspector.post("/facilities/new", data=sent, headers={"X-CSRF-Token": "wrong"})
    assert missing.status_code == 403
    forged = {**sent, "csrf_token": "forged"}
    answer = inspector.post("/facilities/new", data=forged, headers={"X-CSRF-Token": "wrong"})
    assert answer.status_code == 403
    assert inspector.get("/api/v1/facilities", params={"q": "FF-3"}).json()["total"] == 0
    grid = staff(live_server, "ff_grid", Role.GRID_WORKER, "T-D1-S1-B1-G2")
    try:
        assert grid.get("/facilities/new").status_code == 403
        assert grid.post("/facilities/new", data=form(grid, **sent)).status_code == 403
        (one,) = inspector.get("/api/v1/facilities", params={"q": "FF-2"}).json()["items"]
        assert grid.get(f"/facilities/{one['id']}/edit").status_code == 403
        assert 'href="/facilities/new"' not in grid.get("/facilities").text
    finally:
        grid.close()
    # Outside the reader's areas: not found, as the API answers.
    other = staff(live_server, "ff_other", Role.INSPECTOR, "T-D2")
    try:
        (one,) = inspector.get("/api/v1/facilities", params={"q": "FF-2"}).json()["items"]
        assert other.get(f"/facilities/{one['id']}/edit").status_code == 404
        edited = other.post(f"/facilities/{one['id']}/edit", data=form(other, **sent))
        assert edited.status_code == 404
    finally:
        other.close()
