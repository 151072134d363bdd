"""The console's form for one device, over HTTP on both backends: each fault beside its field
in the reader's language, a device registered and edited as the API would (an edit leaves its
status to the report, which the history records), the API's permissions and the CSRF token."""

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

GRID = "T-D1-S1-B1-G1"


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
    client = staff(live_server, "df_inspector", Role.INSPECTOR)
    yield client
    client.close()


def fault(page: str, name: str) -> str | None:
    found = re.search(rf'data-error-for="{re.escape(name)}">([^<]*)<', page)
    return found.group(1) if found else None


def form(client: httpx.Client, **values: str) -> dict[str, str]:
    return {"csrf_token": client.headers["X-CSRF-Token"], **values}


def test_faults_beside_their_fields(inspector: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    for language, required, number, unknown in (
        ("zh-CN", "必填项", "数字", "DF-NONE"),
        ("en", "required", "a number", "DF-NONE"),
    ):
        inspector.cookies.set("fangkong_lang", language)
        answer = inspector.post(
            "/devices/new",
            data=form(inspector, code="DF-1", owner_kind="public", lon="east", lat=str(lat)),
        )
        assert answer.status_code == 422, answer.text
        assert required in (fault(answer.text, "device_type") or "")
        assert number in (fault(answer.text, "lon") or "")
        assert fault(answer.text, "lat") is None
        # A refusal of the service (an unknown facility) beside its field too.
        answer = inspector.post(
            "/devices/new",
            data=form(
                inspector,
                code="DF-1",
                device_type="camera",
                owner_kind="social",
                facility_code=unknown,
                lon=str(lon),
                lat=str(lat),
            ),
        )
        assert answer.status_code == 422
        assert unknown in (fault(answer.text, "facility_code") or "")
    inspector.cookies.set("fangkong_lang", "en")
    assert inspector.get("/api/v1/devices", params={"q": "DF-1"}).json()["total"] == 0


def test_register_edit_and_report_by_hand(inspector: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    values = {
        "code": "DF-2",
        "name": "东门卡口",
        "device_type": "vehicle_checkpoint",
        "owner_kind": "public",
        "zone_type": "urban_fringe",
        "status": "fault",
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
    }
    made = inspector.post("/devices/new", data=form(inspector, **values))
    assert made.status_code == 303, made.text
    device_id = int(made.headers["location"].rsplit("/", 1)[1])
    record = inspector.get(f"/api/v1/devices/{device_id}").json()
    assert (record["device_type"], record["status"], record["networked"]) == (
        "vehicle_checkpoint",
        "fault",
        False,
    )
    taken = inspector.post("/devices/new", data=form(inspector, **values))
    assert taken.status_code == 422 and "DF-2" in (fault(taken.text, "code") or "")
    page = inspector.get(f"/devices/{device_id}/edit")
    assert page.status_code == 200 and 'name="status"' not in page.text
    changed = values | {"networked": "1", "zone_type": "rural", "status": "working"}
    saved = inspector.post(f"/devices/{device_id}/edit", data=form(inspector, **changed))
    assert saved.status_code == 303, saved.text
    record = inspector.get(f"/api/v1/devices/{device_id}").json()
    # The edit changed the record, not the status: that is the report's.
    assert (record["networked"], record["zone_type"], record["status"]) == (True, "rural", "fault")
    by_hand = form(inspector, status="working")
    reported = inspector.post(f"/devices/{device_id}/status", data=by_hand)
    assert reported.status_code == 303
    history = inspector.get(f"/api/v1/devices/{device_id}/history").json()
    assert [e["status"] for e in history][:2] == ["working", "fault"]
    assert history[0]["source"] == "console"


def test_permissions_and_csrf(live_server: LiveServer, inspector: httpx.Client) -> None:
    lon, lat = grid_centre(GRID)
    sent = {"code": "DF-3", "device_type": "camera", "owner_kind": "public"}
    sent |= {"zone_type": "rural", "lon": str(lon), "lat": str(lat)}
    refused = inspector.post("/devices/new", data=sent, headers={"X-CSRF-Token": "wrong"})
    assert refused.status_code == 403
    officer = staff(live_server, "df_officer", Role.STATION_OFFICER, "T-D1-S1")
    try:
        # A station officer reports statuses but registers no device (as the API).
        assert officer.get("/devices/new").status_code == 403
        assert officer.post("/devices/new", data=form(officer, **sent)).status_code == 403
        (one,) = inspector.get("/api/v1/devices", params={"q": "DF-2"}).json()["items"]
        assert officer.get(f"/devices/{one['id']}/edit").status_code == 403
        assert 'href="/devices/new"' not in officer.get("/devices").text
    finally:
        officer.close()
    other = staff(live_server, "df_other", Role.INSPECTOR, "T-D2")
    try:
        (one,) = inspector.get("/api/v1/devices", params={"q": "DF-2"}).json()["items"]
        assert other.get(f"/devices/{one['id']}/edit").status_code == 404
    finally:
        other.close()
    assert inspector.get("/api/v1/devices", params={"q": "DF-3"}).json()["total"] == 0
