"""Events and plans in a real browser, in Chinese and in English.

Large-event security: an inspector on a phone opens an approved application under way (its
grade and factors, no sideways scrolling), taps the map to place a post and adds it, sees the
rings checked, and finds the event's posts on the command map. Emergency plans: a commander
drills a plan on a simulated incident, sees the drill flagged, confirms the proposed units,
records a finding, and marks the checkpoint closed and the facility notified (asked first, then
shown with who and the seconds since the activation, and no button to mark them again)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from events.events_helpers import square
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role

GRID = "T-D1-S2-B2-G2"
PHONE = {"width": 390, "height": 844}


def user(server: LiveServer, username: str, role: Role, area: str) -> None:
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


def approved_event(admin: httpx.Client, code: str) -> int:
    lon, lat = grid_centre(GRID)
    start = datetime.now(UTC) - timedelta(hours=1)
    found = admin.get("/api/v1/events", params={"q": code}).json()["items"]
    if found:
        return int(found[0]["id"])
    made = admin.post(
        "/api/v1/events",
        json={
            "code": code,
            "name": "元宵灯会",
            "organiser": "县文旅公司",
            "contact_phone": "13800002222",
            "venue_polygon": square(lon, lat, 0.002),
            "venue_kind": "park",
            "capacity": 8000,
            "expected_attendance": 7500,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=8)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    event = made.json()
    posted = admin.post(
        f"/api/v1/events/{event['id']}/posts",
        json={"kind": "command", "name": "指挥部", "lon": lon, "lat": lat, "staffing": 4},
    )
    assert posted.status_code == 201, posted.text
    moved = admin.post(
        f"/api/v1/cases/{event['case_id']}/transitions",
        json={"transition": "approve", "fields": {"conditions": "限流"}},
    )
    assert moved.status_code == 200, moved.text
    return int(event["id"])


@pytest.mark.browser
def test_an_inspector_at_phone_width_places_a_post_on_the_plan(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with live_server.client(live_server.admin_token()) as admin:
        event_id = approved_event(admin, "EB-1")
        # the grade weighs the incidents near the venue, and other tests on this server add some
        grade_of = admin.get(f"/api/v1/events/{event_id}").json()["risk_grade"]
    user(live_server, "eb_inspector", Role.INSPECTOR, "T-D1-S2")
    labels = {
        "zh-CN": {"low": "低", "medium": "中", "high": "高", "very_high": "极高"},
        "en": {"low": "Low", "medium": "Medium", "high": "High", "very_high": "Very high"},
    }
    for language, name in (("zh-CN", "东入口"), ("en", "East gate")):
        grade = labels[language][grade_of]
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "eb_inspector")
        page.goto(f"{live_server.base_url}/events/{event_id}")
        expect(page.locator("#risk-grade")).to_have_text(grade)
        expect(page.locator('[data-factor="occupancy"]')).to_be_visible()
        expect(page.locator("#approval-case")).to_have_attribute("data-state", "approved")
        expect(page.locator("#event-map")).to_have_attribute("data-ready", "true", timeout=30_000)
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{language}: the page scrolls sideways at phone width"
        page.locator("#event-map").scroll_into_view_if_needed()
        box = page.locator("#event-map").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
        expect(page.locator("#event-map")).to_have_attribute("data-picked", re.compile(r"\d"))
        assert page.input_value("#post-lon") and page.input_value("#post-lat")
        page.fill("#post-form input[name=name]", name)
        page.select_option("#post-form select[name=kind]", "entrance")
        page.fill("#post-form input[name=staffing]", "6")
        button = page.locator("#add-post")
        button_box = button.bounding_box()
        assert button_box is not None and button_box["height"] >= 40  # a thumb's target
        button.click()
        page.wait_for_url(re.compile(rf".*/events/{event_id}(#plan)?$"))
        expect(page.locator(f'[data-post="{name}"]')).to_be_visible()
        expect(page.locator("#rings-check")).to_have_attribute(
            "data-passed", re.compile("true|false")
        )
        page.goto(f"{live_server.base_url}/")
        expect(page.locator("#map")).to_have_attribute(
            "data-registers-ready", "true", timeout=30_000
        )
        assert int(page.get_attribute("#map", "data-events-drawn") or "0") >= 2
        assert errors == [], errors
        context.close()


@pytest.mark.browser
def test_a_commander_drills_a_plan_confirms_and_records_a_finding(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre(GRID)
    with live_server.client(live_server.admin_token()) as admin:
        admin.post(
            "/api/v1/posts",
            json={"code": "EB-P1", "name": "灯会岗", "kind": "street_post", "lon": lon, "lat": lat},
        )
        checkpoint = admin.post(
            "/api/v1/planning/checkpoints",
            json={"code": "EB-K1", "name": "北出口卡口", "lon": lon, "lat": lat + 0.002},
        )
        assert checkpoint.status_code in (201, 409), checkpoint.text
        hospital = admin.post(
            "/api/v1/facilities",
            json={
                "code": "EB-H1",
                "name": "县中医院",
                "facility_type": "hospital",
                "lon": lon + 0.002,
                "lat": lat,
            },
        )
        assert hospital.status_code in (201, 409), hospital.text
        plan = admin.post(
            "/api/v1/emergency-plans",
            json={
                "code": "EB-PLAN",
                "name": "踩踏处置",
                "category": "rescue",
                "level": 1,
                "area_code": "T-D1-S2",
                "tiers": [{"unit_types": ["car"], "count": 1}],
                "checkpoint_codes": ["EB-K1"],
                "facility_codes": ["EB-H1"],
                "target_first_s": 300,
                "target_full_s": 600,
            },
        )
        assert plan.status_code in (201, 409), plan.text
        plan_id = admin.get("/api/v1/emergency-plans", params={"q": "EB-PLAN"}).json()["items"][0][
            "id"
        ]
    user(live_server, "eb_commander", Role.COMMANDER, "T-D1-S2")
    for language, flag, units in (("zh-CN", "演练", "EB-U-zh"), ("en", "DRILL", "EB-U-en")):
        with live_server.client(live_server.admin_token()) as admin:
            made = admin.post(
                "/api/v1/units",
                json={
                    "call_sign": units,
                    "type": "car",
                    "home_area_code": GRID,
                    "home_post_code": "EB-P1",
                },
            )
            assert made.status_code in (201, 409), made.text
        context = browser.new_context(locale=language, viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "eb_commander")
        page.goto(f"{live_server.base_url}/emergency-plans/{plan_id}")
        page.fill("#drill-form input[name=lon]", f"{lon + 0.001:.6f}")
        page.fill("#drill-form input[name=lat]", f"{lat:.6f}")
        page.click("#start-drill")
        page.wait_for_url(re.compile(r".*/emergency-activations/\d+$"))
        expect(page.locator("#drill-flag")).to_have_text(flag)
        expect(page.locator(f'#proposals [data-unit="{units}"]')).to_be_visible()
        page.click("#confirm")
        page.wait_for_url(re.compile(r".*/emergency-activations/\d+$"))
        expect(page.locator(f'#proposals [data-unit="{units}"]')).to_contain_text("✓")
        page.select_option("#finding-form select[name=aspect]", "timing")
        page.fill("#finding-form textarea[name=finding]", "集结慢")
        page.click("#add-finding")
        expect(page.locator("#finding-list li a")).to_have_count(1)
        # The checkpoint closed and the hospital notified, each once, with the time since.
        for list_id, code, note in (
            ("close-checkpoints", "EB-K1", ""),
            ("notify-facilities", "EB-H1", "急诊科已接报"),
        ):
            row = page.locator(f'#{list_id} [data-step="{code}"]')
            expect(row).to_have_attribute("data-done", "0")
            if note:
                row.locator("input[name=note]").fill(note)
            row.locator("button[data-confirm]").click()
            expect(page.locator("#confirm-dialog")).to_be_visible()
            page.click("#confirm-yes")
            expect(row).to_have_attribute("data-done", "1")
            expect(row.locator(".step-after")).to_have_text(re.compile(r"^\d+$"))
            expect(row).to_contain_text("eb_commander")
            expect(row.locator("button")).to_have_count(0)
        expect(page.locator('#notify-facilities [data-step="EB-H1"]')).to_contain_text(
            "急诊科已接报"
        )
        expect(page.locator('#close-checkpoints [data-step="EB-K1"] .badge.ok')).to_have_text(
            "已完成" if language == "zh-CN" else "Done"
        )
        page.goto(f"{live_server.base_url}/emergency-activations?kind=drill")
        expect(page.locator('#activation-list tr[data-drill="true"]').first).to_be_visible()
        assert errors == [], errors
        context.close()


@pytest.mark.browser
def test_an_application_is_edited_until_approved_and_a_plan_is_edited(
    live_server: LiveServer, live_network: Path, browser: object
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    lon, lat = grid_centre(GRID)
    user(live_server, "eb_editor", Role.COMMANDER, "T-D1-S2")
    start = datetime.now(UTC) + timedelta(days=20)
    for language, refused in (("zh-CN", "已批准"), ("en", "is approved")):
        code = f"EE-{language}"
        with live_server.client(live_server.admin_token()) as admin:
            made = admin.post(
                "/api/v1/events",
                json={
                    "code": code,
                    "name": "篮球赛",
                    "organiser": "县体育局",
                    "contact_phone": "13800003333",
                    "venue_polygon": square(lon, lat, 0.001),
                    "venue_kind": "stadium",
                    "capacity": 5000,
                    "expected_attendance": 800,
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=3)).isoformat(),
                },
            )
            assert made.status_code == 201, made.text
            event = made.json()
            plan = admin.post(
                "/api/v1/emergency-plans",
                json={
                    "code": f"EE-P-{language}",
                    "name": "踩踏处置",
                    "category": "rescue",
                    "level": 2,
                    "area_code": "T-D1-S2",
                    "tiers": [{"unit_types": ["car"], "count": 1}],
                    "target_first_s": 300,
                    "target_full_s": 600,
                },
            )
            assert plan.status_code == 201, plan.text
        context = browser.new_context(locale=language, viewport=PHONE)
        context.add_cookies(
            [{"name": "fangkong_lang", "value": language, "url": live_server.base_url}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        live_server.log_in(page, "eb_editor")
        page.goto(f"{live_server.base_url}/events/{event['id']}")
        expect(page.locator("#risk-grade")).to_have_attribute("data-grade", "low")
        page.click("#edit-event")
        page.wait_for_url(re.compile(rf".*/events/{event['id']}/edit$"))
        expect(page.locator("#event-form input[name=code]")).to_have_value(code)
        expect(page.locator("#event-form input[name=contact_phone]")).to_have_value("")
        page.fill("#event-form input[name=expected_attendance]", "")
        page.click("#event-form button[type=submit]")
        expect(page.locator('[data-error-for="expected_attendance"]')).to_be_visible()
        page.fill("#event-form input[name=expected_attendance]", "5500")
        page.click("#event-form button[type=submit]")
        page.wait_for_url(re.compile(rf".*/events/{event['id']}$"))
        expect(page.locator("#risk-grade")).not_to_have_attribute("data-grade", "low")
        with live_server.client(live_server.admin_token()) as admin:
            moved = admin.post(
                f"/api/v1/cases/{event['case_id']}/transitions",
                json={"transition": "approve", "fields": {"conditions": "限流"}},
            )
            assert moved.status_code == 200, moved.text
        page.reload()
        expect(page.locator("#edit-event")).to_have_count(0)
        page.goto(f"{live_server.base_url}/events/{event['id']}/edit")
        expect(page.locator("#event-error")).to_contain_text(refused)
        # The plan: a second tier, a tighter target, and no longer active.
        page.goto(f"{live_server.base_url}/emergency-plans/{plan.json()['id']}")
        page.click("#edit-plan")
        expect(page.locator("#plan-form input[name=tiers]")).to_have_value("car:1")
        page.fill("#plan-form input[name=tiers]", "car:1:300; foot:2")
        page.fill("#plan-form input[name=target_first_s]", "240")
        page.uncheck("#plan-form input[name=active]")
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth + 1")
        assert not wide, f"{language}: the plan form scrolls sideways at phone width"
        page.click("#save-plan")
        page.wait_for_url(re.compile(r".*/emergency-plans/\d+$"))
        expect(page.locator("#plan-tiers tbody tr")).to_have_count(2)
        expect(page.locator(".badge.overdue")).to_be_visible()
        assert errors == [], errors
        context.close()
