"""Events and emergency plans over HTTP, on both backends: an application graded and sent
for approval, its contact masked and unmasked (logged), its plan's posts and rings on the
road network, the posts of the approved event on the live map's layer, exports and imports
(CSV and XLSX, with per-row errors), a plan activated from an incident and confirmed, a drill
and the KPIs without it, and the console's pages in both languages."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from conftest import LiveServer
from events.events_helpers import square
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D2-S1-B2-G1"


@pytest.fixture(scope="module")
def admin(live_server: LiveServer, live_network: Path) -> Iterator[httpx.Client]:
    client = live_server.client(live_server.admin_token())
    yield client
    client.close()


def _viewer(server: LiveServer) -> str:
    with Session(server.engine) as session:
        if auth.get_by_username(session, username="ev_viewer") is None:
            auth.create(
                session,
                username="ev_viewer",
                display_name="ev_viewer",
                password="correct-horse-battery",
                role=Role.VIEWER,
                area_codes=["T"],
                actor=SYSTEM,
            )
            session.commit()
    return server.token("ev_viewer")


def _event(code: str, **values: object) -> dict[str, object]:
    lon, lat = grid_centre(GRID)
    start = datetime.now(UTC) - timedelta(hours=1)
    return {
        "code": code,
        "name": f"{code} 灯会",
        "organiser": "县文旅公司",
        "contact_name": "王五",
        "contact_phone": "13900002222",
        "venue_polygon": square(lon, lat, 0.003),
        "venue_kind": "park",
        "capacity": 30_000,
        "expected_attendance": 25_000,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=6)).isoformat(),
    } | values


def test_an_application_its_plan_rings_and_the_live_layer(
    admin: httpx.Client, live_server: LiveServer
) -> None:
    made = admin.post("/api/v1/events", json=_event("EA-1"))
    assert made.status_code == 201, made.text
    event = made.json()
    assert event["risk_grade"] == "high"  # 25,000 people: at least high
    assert {f["factor"]: f["points"] for f in event["risk_factors"]}["attendance"] == 3
    assert event["contact_name"] == "王*" and event["contact_phone"] == "139******22"
    assert event["case_state"] == "reviewing" and event["case_number"].startswith("EA")
    with live_server.client(_viewer(live_server)) as viewer:
        assert viewer.get(f"/api/v1/events/{event['id']}/contact").status_code == 403
        assert viewer.post("/api/v1/events", json=_event("EA-X")).status_code == 403
    contact = admin.get(f"/api/v1/events/{event['id']}/contact").json()
    assert contact == {"contact_name": "王五", "contact_phone": "13900002222"}
    lon, lat = grid_centre(GRID)
    for name, dx in (("西门", -0.003), ("东门", 0.003), ("指挥部", 0.0)):
        added = admin.post(
            f"/api/v1/events/{event['id']}/posts",
            json={"kind": "entrance", "name": name, "lon": lon + dx, "lat": lat, "staffing": 5},
        )
        assert added.status_code == 201, added.text
    rings = admin.get(f"/api/v1/events/{event['id']}/rings").json()
    assert rings["posts"] == 3 and len(rings["points"]) == 5
    assert rings["passed"] is True and rings["within_3min"] == 1.0
    # Not approved yet: nothing on the live map.
    layer = admin.get("/api/v1/events/posts/geojson").json()
    assert [f for f in layer["features"] if f["properties"]["code"] == "EA-1"] == []
    case = admin.get(f"/api/v1/cases/{event['case_id']}").json()
    moved = admin.post(
        f"/api/v1/cases/{event['case_id']}/transitions",
        json={
            "transition": "approve",
            "fields": {"conditions": "限流"},
            "version": case["version"],
        },
    )
    assert moved.status_code == 200, moved.text
    layer = admin.get("/api/v1/events/posts/geojson").json()
    mine = [f for f in layer["features"] if f["properties"]["code"] == "EA-1"]
    assert len(mine) == 3 and {f["properties"]["kind"] for f in mine} == {"entrance"}
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert not [
        f
        for f in admin.get("/api/v1/events/posts/geojson", params={"at": later}).json()["features"]
        if f["properties"]["code"] == "EA-1"
    ]
    bad = admin.post("/api/v1/events", json=_event("EA-2", capacity=True))
    assert bad.status_code == 422
    both = admin.post("/api/v1/events", json=_event("EA-3", facility_id=1))
    assert both.status_code in (404, 422)


def test_export_and_import_read_back(admin: httpx.Client) -> None:
    admin.post("/api/v1/events", json=_event("EA-10"))
    exported = admin.get("/api/v1/events/export", params={"q": "EA-10", "format": "csv"})
    assert exported.status_code == 200
    assert "EA-10" in exported.text and "王五" not in exported.text
    lon, lat = grid_centre(GRID)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "code",
            "name",
            "organiser",
            "venue_kind",
            "venue_polygon",
            "capacity",
            "expected_attendance",
            "starts_at",
            "ends_at",
            "contact_phone",
        ]
    )
    corners = "; ".join(f"{x} {y}" for x, y in square(lon, lat))
    sheet.append(
        [
            "EA-11",
            "庙会",
            "街道办",
            "广场",
            corners,
            5000,
            3000,
            "2027-02-01T09:00",
            "2027-02-01T17:00",
            13600001111,
        ]
    )
    sheet.append(["EA-12", "坏行", "街道办", "square", corners, 0, 10, None, None, None])
    data = io.BytesIO()
    book.save(data)
    answer = admin.post(
        "/api/v1/events/import",
        files={"file": ("events.xlsx", data.getvalue(), "application/octet-stream")},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["created"] == 1 and [e["row"] for e in report["errors"]] == [3]
    found = admin.get("/api/v1/events", params={"q": "EA-11"}).json()["items"][0]
    assert found["venue_kind"] == "square" and found["contact_phone"] == "136******11"
    assert found["starts_at"].startswith("2027-02-01T01:00")  # 09:00 in Asia/Shanghai


def test_a_plan_activated_confirmed_and_drilled(
    admin: httpx.Client, live_server: LiveServer
) -> None:
    lon, lat = grid_centre(GRID)
    post = admin.post(
        "/api/v1/posts",
        json={"code": "EP-P1", "name": "灯会警务站", "kind": "street_post", "lon": lon, "lat": lat},
    )
    assert post.status_code in (201, 409), post.text
    for sign in ("EP-C1", "EP-C2"):
        unit = admin.post(
            "/api/v1/units",
            json={
                "call_sign": sign,
                "type": "car",
                "home_area_code": GRID,
                "home_post_code": "EP-P1",
            },
        )
        assert unit.status_code in (201, 409), unit.text
    csv = (
        "code,name,category,level,area_code,tiers,target_first_s,target_full_s\n"
        f"EP-1,聚集处置,public_order,2,{GRID},car:2:900,300,600\n"
        f"EP-2,坏预案,weather,2,{GRID},car:1,300,600\n"
    )
    imported = admin.post(
        "/api/v1/emergency-plans/import", files={"file": ("plans.csv", csv.encode(), "text/csv")}
    ).json()
    assert imported["created"] == 1 and [e["row"] for e in imported["errors"]] == [3]
    plan = admin.get("/api/v1/emergency-plans", params={"q": "EP-1"}).json()["items"][0]
    assert plan["tiers"] == [
        {
            "unit_types": ["car"],
            "post_codes": [],
            "station_codes": [],
            "call_signs": [],
            "count": 2,
            "max_travel_s": 900,
            "order": 1,
        }
    ]
    incident = admin.post(
        "/api/v1/incidents",
        headers={"Idempotency-Key": "ep-incident-1"},
        json={
            "category": "public_order",
            "subtype": "gathering",
            "priority": "P2",
            "source": "call",
            "lon": lon + 0.001,
            "lat": lat,
        },
    )
    assert incident.status_code in (200, 201), incident.text
    activated = admin.post(
        "/api/v1/emergency-activations",
        json={"plan_id": plan["id"], "incident_id": incident.json()["id"]},
    )
    assert activated.status_code == 201, activated.text
    activation = activated.json()
    assert [p["call_sign"] for p in activation["proposals"]][:2] == ["EP-C1", "EP-C2"] or {
        p["call_sign"] for p in activation["proposals"]
    } >= {"EP-C1", "EP-C2"}
    confirmed = admin.post(
        f"/api/v1/emergency-activations/{activation['id']}/confirm", json={}
    ).json()
    assert confirmed["confirmed_at"] is not None
    again = admin.post(f"/api/v1/emergency-activations/{activation['id']}/confirm", json={})
    assert again.status_code == 409
    drill = admin.post(
        "/api/v1/emergency-activations/drills",
        json={"plan_id": plan["id"], "lon": lon, "lat": lat, "subtype": "gathering"},
    )
    assert drill.status_code == 201, drill.text
    assert drill.json()["drill"] is True
    finding = admin.post(
        f"/api/v1/emergency-activations/{drill.json()['id']}/findings",
        json={"aspect": "timing", "severity": "minor", "finding": "第二梯次集结慢"},
    )
    assert finding.status_code == 201, finding.text
    drills = admin.get("/api/v1/emergency-activations", params={"drill": True}).json()
    assert all(a["drill"] for a in drills["items"]) and drills["total"] >= 1
    real = admin.get("/api/v1/emergency-activations/kpis").json()
    drilled = admin.get("/api/v1/emergency-activations/kpis", params={"drill": True}).json()
    assert real["drill"] is False and real["activations"] >= 1
    assert drilled["activations"] >= 1
    listed = admin.get("/api/v1/emergency-activations", params={"drill": False}).json()
    assert real["activations"] == listed["total"] or real["activations"] <= listed["total"]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_console_pages_answer_in_both_languages(
    live_server: LiveServer, admin: httpx.Client, language: str
) -> None:
    admin.post("/api/v1/events", json=_event("EA-20"))
    client = live_server.console_client("api_admin")
    client.cookies.set("fangkong_lang", language)
    for path, text in (
        ("/events", "EA-20"),
        ("/events/new", "venue_polygon"),
        ("/emergency-plans", "emergency-plans/new"),
        ("/emergency-plans/new", "tiers"),
        ("/emergency-activations", "activation-list"),
    ):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert text in page.text
    event = admin.get("/api/v1/events", params={"q": "EA-20"}).json()["items"][0]
    page = client.get(f"/events/{event['id']}")
    assert page.status_code == 200
    assert ("风险等级" if language == "zh-CN" else "Risk grade") in page.text
    client.close()


def test_an_incident_leads_to_the_plans_to_activate(
    admin: httpx.Client, live_server: LiveServer
) -> None:
    lon, lat = grid_centre(GRID)
    made = admin.post(
        "/api/v1/emergency-plans",
        json={
            "code": "EP-FI",
            "name": "抢劫处置",
            "category": "criminal",
            "level": 1,
            "area_code": GRID,
            "tiers": [{"count": 1}],
            "target_first_s": 180,
            "target_full_s": 300,
        },
    )
    assert made.status_code in (201, 409), made.text
    incident = admin.post(
        "/api/v1/incidents",
        headers={"Idempotency-Key": "ep-for-incident"},
        json={
            "category": "criminal",
            "subtype": "robbery",
            "priority": "P1",
            "source": "call",
            "lon": lon,
            "lat": lat,
        },
    ).json()
    client = live_server.console_client("api_admin")
    detail = client.get(f"/incidents/{incident['id']}")
    assert f"/emergency-plans/for-incident/{incident['id']}" in detail.text
    page = client.get(f"/emergency-plans/for-incident/{incident['id']}")
    assert page.status_code == 200
    matching = page.text.split('id="plans-matching"')[1].split("</table>")[0]
    assert 'data-plan="EP-FI"' in matching
    client.close()


def test_an_activations_checkpoints_and_facilities_are_marked_once(
    admin: httpx.Client, live_server: LiveServer
) -> None:
    lon, lat = grid_centre(GRID)
    checkpoint = admin.post(
        "/api/v1/planning/checkpoints",
        json={"code": "EP-K1", "name": "南出口卡口", "lon": lon, "lat": lat - 0.002},
    )
    assert checkpoint.status_code in (201, 409), checkpoint.text
    made = admin.post(
        "/api/v1/emergency-plans",
        json={
            "code": "EP-ST",
            "name": "火灾处置",
            "category": "fire",
            "level": 2,
            "area_code": GRID,
            "tiers": [{"count": 1}],
            "checkpoint_codes": ["EP-K1"],
            "target_first_s": 300,
            "target_full_s": 600,
        },
    )
    assert made.status_code == 201, made.text
    plan = made.json()
    incident = admin.post(
        "/api/v1/incidents",
        headers={"Idempotency-Key": "ep-steps-1"},
        json={
            "category": "fire",
            "subtype": "building",
            "priority": "P2",
            "source": "call",
            "lon": lon,
            "lat": lat,
        },
    )
    assert incident.status_code in (200, 201), incident.text
    activated = admin.post(
        "/api/v1/emergency-activations",
        json={"plan_id": plan["id"], "incident_id": incident.json()["id"]},
    )
    assert activated.status_code == 201, activated.text
    activation = activated.json()
    assert [(s["code"], s["done"]) for s in activation["steps"]] == [("EP-K1", False)]
    ref = activation["steps"][0]["ref_id"]
    path = f"/api/v1/emergency-activations/{activation['id']}/steps"
    viewer = live_server.client(_viewer(live_server))
    assert viewer.post(path, json={"kind": "checkpoint", "ref_id": ref}).status_code == 403
    viewer.close()
    assert admin.post(path, json={"kind": "facility", "ref_id": ref}).status_code == 422
    assert admin.post(path, json={"kind": "checkpoint", "ref_id": 2**70}).status_code == 422
    marked = admin.post(path, json={"kind": "checkpoint", "ref_id": ref, "note": "已封闭"})
    assert marked.status_code == 201, marked.text
    (step,) = marked.json()["steps"]
    assert step["done"] and step["done_by"] and step["note"] == "已封闭"
    assert step["after_s"] is not None and step["after_s"] >= 0
    again = admin.post(path, json={"kind": "checkpoint", "ref_id": ref})
    assert again.status_code == 409
    console = live_server.console_client("api_admin")
    page = console.get(f"/emergency-activations/{activation['id']}")
    assert 'data-step="EP-K1" data-done="1"' in page.text
    refused = console.post(
        f"/emergency-activations/{activation['id']}/steps",
        data={
            "kind": "checkpoint",
            "ref_id": str(ref),
            "csrf_token": console.headers["X-CSRF-Token"],
        },
    )
    assert refused.status_code == 422 and 'id="activation-error"' in refused.text
    console.close()


def test_the_console_edits_an_application_until_approved_and_a_plan(
    admin: httpx.Client, live_server: LiveServer
) -> None:
    made = admin.post("/api/v1/events", json=_event("EA-ED", expected_attendance=1200))
    assert made.status_code == 201, made.text
    event = made.json()
    console = live_server.console_client("api_admin")
    form = console.get(f"/events/{event['id']}/edit")
    assert form.status_code == 200
    assert 'name="code" type="text" value="EA-ED"' in form.text and "readonly" in form.text
    assert 'name="expected_attendance" type="text" value="1200"' in form.text
    assert "13900002222" not in form.text  # the contact is never shown in clear
    inputs = r'<input name="([a-z_]+)" type="[a-z-]+" value="([^"]*)"'
    fields = dict(re.findall(inputs, form.text))
    fields["venue_polygon"] = re.search(
        r'<textarea name="venue_polygon"[^>]*>([^<]*)</textarea>', form.text
    ).group(1)  # type: ignore[union-attr]
    fields["venue_kind"] = "square"
    sent = fields | {"expected_attendance": "0", "csrf_token": console.headers["X-CSRF-Token"]}
    refused = console.post(f"/events/{event['id']}/edit", data=sent)
    assert refused.status_code == 422 and 'data-error-for="expected_attendance"' in refused.text
    changed = console.post(
        f"/events/{event['id']}/edit", data=sent | {"expected_attendance": "25000", "code": "X"}
    )
    assert changed.status_code == 303, changed.text[:500]
    after = admin.get(f"/api/v1/events/{event['id']}").json()
    assert after["code"] == "EA-ED" and after["expected_attendance"] == 25000
    assert after["contact_phone"] != "" and after["contact_phone"] is not None
    approved = admin.post(
        f"/api/v1/cases/{event['case_id']}/transitions",
        json={"transition": "approve", "fields": {"conditions": "限流"}},
    )
    assert approved.status_code == 200, approved.text
    assert console.get(f"/events/{event['id']}/edit").status_code == 409
    late = console.post(f"/events/{event['id']}/edit", data=sent | {"expected_attendance": "9"})
    assert late.status_code == 409 and 'id="form-errors"' in late.text
    put = admin.put(f"/api/v1/events/{event['id']}", json=_event("EA-ED"))
    assert put.status_code == 409
    page = console.get(f"/events/{event['id']}")
    assert 'id="edit-event"' not in page.text

    plan = admin.post(
        "/api/v1/emergency-plans",
        json={
            "code": "EP-ED",
            "name": "交通事故处置",
            "category": "traffic",
            "level": 3,
            "area_code": GRID,
            "tiers": [{"unit_types": ["car"], "count": 1}],
            "target_first_s": 300,
            "target_full_s": 600,
        },
    ).json()
    form = console.get(f"/emergency-plans/{plan['id']}/edit")
    assert form.status_code == 200 and 'value="car:1"' in form.text
    values = {
        "code": "EP-ED",
        "name": "交通事故处置（修订）",
        "category": "traffic",
        "level": "2",
        "area_code": GRID,
        "tiers": "car:2:600; foot:1",
        "checkpoint_codes": "",
        "facility_codes": "",
        "target_first_s": "240",
        "target_full_s": "600",
        "csrf_token": console.headers["X-CSRF-Token"],
    }
    wrong = console.post(
        f"/emergency-plans/{plan['id']}/edit", data=values | {"checkpoint_codes": "NOPE"}
    )
    assert wrong.status_code == 422 and "NOPE" in wrong.text
    saved = console.post(f"/emergency-plans/{plan['id']}/edit", data=values)
    assert saved.status_code == 303, saved.text[:500]
    after_plan = admin.get(f"/api/v1/emergency-plans/{plan['id']}").json()
    assert after_plan["level"] == 2 and after_plan["target_first_s"] == 240
    assert [t["count"] for t in after_plan["tiers"]] == [2, 1] and after_plan["active"] is False
    console.close()
