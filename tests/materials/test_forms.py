"""The console's forms for one holder and its sites, over HTTP on both backends: each fault
beside its field (a capacity's beside its row) in the reader's language, the holder's contact
never sent back in clear and kept when left empty, sites registered and edited as the API
would, the API's permissions and the session's CSRF token."""

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

GRID = "T-D1-S2-B1-G2"


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
    client = staff(live_server, "mf_inspector", Role.INSPECTOR)
    yield client
    client.close()


def fault(page: str, name: str) -> str | None:
    found = re.search(rf'data-error-for="{re.escape(name)}">([^<]*)<', page)
    return found.group(1) if found else None


def form(client: httpx.Client, **values: str) -> dict[str, str]:
    return {"csrf_token": client.headers["X-CSRF-Token"], **values}


def holder_values(code: str) -> dict[str, str]:
    lon, lat = grid_centre(GRID)
    return {
        "code": code,
        "name": "城东烟花批发",
        "kind": "distributor",
        "licence_no": "YH-2026-01",
        "licence_classes.fireworks": "1",
        "licence_from": "2026-01-01",
        "licence_until": "2028-12-31",
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
    }


def test_holder_faults_beside_their_fields(inspector: httpx.Client) -> None:
    for language, required, date, until in (
        ("zh-CN", "必填项", "日期", "许可"),
        ("en", "required", "YYYY-MM-DD", "licence"),
    ):
        inspector.cookies.set("fangkong_lang", language)
        sent = holder_values("MF-1") | {"name": "", "licence_from": "2026-13-01"}
        answer = inspector.post("/materials/holders/new", data=form(inspector, **sent))
        assert answer.status_code == 422, answer.text
        assert required in (fault(answer.text, "name") or "")
        assert date in (fault(answer.text, "licence_from") or "")
        # The service's refusal (a licence ending before it begins) beside its field.
        sent = holder_values("MF-1") | {"licence_until": "2025-01-01"}
        answer = inspector.post("/materials/holders/new", data=form(inspector, **sent))
        assert answer.status_code == 422
        assert until in (fault(answer.text, "licence_until") or "").lower()
    inspector.cookies.set("fangkong_lang", "en")
    assert inspector.get("/api/v1/materials/holders", params={"q": "MF-1"}).json()["total"] == 0


def test_holder_and_sites_registered_and_edited(inspector: httpx.Client) -> None:
    sent = holder_values("MF-2") | {"contact_name": "王小明", "contact_phone": "13912345678"}
    made = inspector.post("/materials/holders/new", data=form(inspector, **sent))
    assert made.status_code == 303, made.text
    holder_id = int(made.headers["location"].rsplit("/", 1)[1])
    record = inspector.get(f"/api/v1/materials/holders/{holder_id}").json()
    assert record["licence_classes"] == ["fireworks"] and record["contact_name"] == "王**"
    edit = inspector.get(f"/materials/holders/{holder_id}/edit")
    assert edit.status_code == 200
    assert "王小明" not in edit.text and "13912345678" not in edit.text  # never in clear
    changed = holder_values("MF-2") | {"name": "城东烟花", "licence_classes.toxic_chemical": "1"}
    saved = inspector.post(f"/materials/holders/{holder_id}/edit", data=form(inspector, **changed))
    assert saved.status_code == 303, saved.text
    record = inspector.get(f"/api/v1/materials/holders/{holder_id}").json()
    assert record["name"] == "城东烟花"
    assert record["licence_classes"] == ["fireworks", "toxic_chemical"]
    assert (record["contact_name"], record["contact_phone"]) == ("王**", "139******78")
    cleared = changed | {"clear_contact": "1"}
    inspector.post(f"/materials/holders/{holder_id}/edit", data=form(inspector, **cleared))
    record = inspector.get(f"/api/v1/materials/holders/{holder_id}").json()
    assert (record["contact_name"], record["contact_phone"]) == (None, None)

    lon, lat = grid_centre(GRID)
    site = {
        "code": "MF-2-S1",
        "name": "一号库",
        "kind": "magazine",
        "lon": f"{lon + 0.002:.6f}",
        "lat": f"{lat:.6f}",
        "capacities.0.material_class": "fireworks",
        "capacities.0.unit": "piece",
        "capacities.0.capacity": "600",
        "capacities.2.material_class": "toxic_chemical",
        "capacities.2.unit": "l",
        "capacities.2.capacity": "-1",
    }
    new_site = f"/materials/holders/{holder_id}/sites/new"
    bad = inspector.post(new_site, data=form(inspector, **site))
    assert bad.status_code == 422
    assert fault(bad.text, "capacities.2.capacity") == "more than 0"
    assert fault(bad.text, "capacities.0.capacity") is None
    site["capacities.2.capacity"] = "2000"
    made = inspector.post(new_site, data=form(inspector, **site))
    assert made.status_code == 303, made.text
    (listed,) = inspector.get("/api/v1/materials/sites", params={"holder_code": "MF-2"}).json()
    caps = {(c["material_class"], c["unit"]): c["capacity"] for c in listed["capacities"]}
    assert caps == {("fireworks", "piece"): 600, ("toxic_chemical", "l"): 2000}
    page = inspector.get(f"/materials/sites/{listed['id']}/edit")
    assert page.status_code == 200 and 'value="2000"' in page.text
    twice = site | {"capacities.2.material_class": "fireworks", "capacities.2.unit": "piece"}
    refused = inspector.post(f"/materials/sites/{listed['id']}/edit", data=form(inspector, **twice))
    assert refused.status_code == 422 and fault(refused.text, "capacities") is not None
    moved = site | {
        "name": "二号库",
        "kind": "warehouse",
        "capacities.2.capacity": "",
        "capacities.2.unit": "",
        "capacities.2.material_class": "",
    }
    saved = inspector.post(f"/materials/sites/{listed['id']}/edit", data=form(inspector, **moved))
    assert saved.status_code == 303, saved.text
    (listed,) = inspector.get("/api/v1/materials/sites", params={"holder_code": "MF-2"}).json()
    assert (listed["name"], listed["kind"], len(listed["capacities"])) == ("二号库", "warehouse", 1)


def test_permissions_and_csrf(live_server: LiveServer, inspector: httpx.Client) -> None:
    sent = holder_values("MF-3")
    refused = inspector.post("/materials/holders/new", data=sent, headers={"X-CSRF-Token": "wrong"})
    assert refused.status_code == 403
    (one,) = inspector.get("/api/v1/materials/holders", params={"q": "MF-2"}).json()["items"]
    officer = staff(live_server, "mf_officer", Role.STATION_OFFICER, "T-D1-S2")
    try:
        # A station officer reads the registers and keeps none of them (as the API).
        assert officer.get("/materials/holders/new").status_code == 403
        assert officer.post("/materials/holders/new", data=form(officer, **sent)).status_code == 403
        assert officer.get(f"/materials/holders/{one['id']}/sites/new").status_code == 403
        assert 'href="/materials/holders/new"' not in officer.get("/materials").text
    finally:
        officer.close()
    other = staff(live_server, "mf_other", Role.INSPECTOR, "T-D2")
    try:
        assert other.get(f"/materials/holders/{one['id']}/edit").status_code == 404
        assert other.get(f"/materials/holders/{one['id']}/sites/new").status_code == 404
        (site,) = inspector.get("/api/v1/materials/sites", params={"holder_code": "MF-2"}).json()
        assert other.get(f"/materials/sites/{site['id']}/edit").status_code == 404
    finally:
        other.close()
    assert inspector.get("/api/v1/materials/holders", params={"q": "MF-3"}).json()["total"] == 0
