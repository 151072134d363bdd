"""The case console: pages over HTTP in both languages, and a hazard taken from found to closed
in a real headless Chromium."""

from __future__ import annotations

import os
import re
from contextlib import closing

import httpx
import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import CasesServer, add_user
from conftest import TEST_PASSWORD
from fangkong.core.models import Role

GRID = "T-D1-S1-B1-G1"


def _login(server: CasesServer, username: str, role: Role, code: str) -> httpx.Client:
    with Session(server.engine) as session:
        add_user(session, username=username, role=role, area_code=code)
        session.commit()
    client = server.client()
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": TEST_PASSWORD,
            "csrf_token": token.group(1),
            "next": "/cases",
        },
    )
    assert answer.status_code == 303
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def test_pages_over_http(cases_server: CasesServer) -> None:
    if cases_server.backend != "sqlite":
        pytest.skip("the pages are the same on both backends; the API suite covers PostgreSQL")
    client = _login(cases_server, "pages_mediator", Role.MEDIATOR, "T-D1-S1")
    with closing(client):
        form = client.get("/cases/new", params={"type": "dispute"})
        assert form.status_code == 200 and "party_name_0" in form.text and "纠纷类别" in form.text
        missing = client.post(
            "/cases/new",
            data={
                "type": "dispute",
                "title": "页面纠纷",
                "area_code": GRID,
                "f_category": "family",
                "f_channel": "people",
                "f_source": "hotline",
                "party_name_0": "甲某",
            },
        )
        # The server's message in the reader's language (issue 18).
        assert missing.status_code == 422 and "须有 2 至 10 名当事人" in missing.text
        assert 'value="页面纠纷"' in missing.text
        created = client.post(
            "/cases/new",
            data={
                "type": "dispute",
                "title": "页面纠纷",
                "area_code": GRID,
                "f_category": "family",
                "f_channel": "people",
                "f_source": "hotline",
                "party_role_0": "applicant",
                "party_name_0": "甲某某",
                "party_contact_0": "13711112222",
                "party_role_1": "respondent",
                "party_name_1": "乙某",
            },
        )
        assert created.status_code == 303
        url = created.headers["location"]
        page = client.get(url)
        assert "甲**" in page.text and "甲某某" not in page.text and "137******22" in page.text
        clear = client.get(f"{url}/personal", headers={"HX-Request": "true"})
        assert "甲某某" in clear.text and "13711112222" in clear.text
        action = client.get(f"{url}/act/assign_mediator", headers={"HX-Request": "true"})
        assert 'name="f_mediator"' in action.text and "pages_mediator" in action.text
        listing = client.get("/cases", params={"type": "dispute", "open": "1"})
        assert "页面纠纷" in listing.text
        # An area that is not in the caller's areas: said above an empty table, 404.
        rows = client.get("/cases", params={"area": "NOPE"}, headers={"HX-Request": "true"})
        assert rows.status_code == 404 and "NOPE" in rows.text and 'role="alert"' in rows.text
        board = client.get("/cases/board", params={"area": "T-D1-S1"})
        assert board.status_code == 200 and 'data-area="T-D1-S1-B1"' in board.text
        case_path = url.rsplit("/", 1)[-1]
        htmx = {"HX-Request": "true"}
        commented = client.post(f"{url}/comment", data={"text": "电话联系双方"}, headers=htmx)
        assert commented.status_code == 200 and "电话联系双方" in commented.text
        assert 'id="case-body"' in commented.text and "<html" not in commented.text
        empty = client.post(f"{url}/comment", data={"text": " "}, headers=htmx)
        assert "评论须为 1 至" in empty.text
        uploaded = client.post(
            f"{url}/attachments",
            headers=htmx,
            files={"file": ("笔录.txt", "调解笔录".encode(), "text/plain")},
        )
        assert "笔录.txt" in uploaded.text
        stale = client.post(
            f"{url}/act/assign_mediator", headers=htmx, data={"f_mediator": "1", "version": "1"}
        )
        assert 'id="action-error"' in stale.text and "已被他人修改" in stale.text
        refused = client.post(f"{url}/act/assign_mediator", headers=htmx, data={"f_mediator": ""})
        assert 'id="action-error"' in refused.text and "fields.mediator" in refused.text
        assert 'id="action-form"' in refused.text  # the form stays open with the fault
        linked = client.post(
            f"{url}/links",
            headers=htmx,
            data={"kind": "incident", "ref_id": "110-77", "label": "报警记录"},
        )
        assert "110-77" in linked.text and "报警记录" in linked.text
        twice = client.post(
            f"{url}/links",
            headers=htmx,
            data={"kind": "incident", "ref_id": "110-77", "label": "x"},
        )
        assert 'id="action-error"' in twice.text and "已关联 incident 110-77" in twice.text
        plain = client.post(f"{url}/act/withdraw", data={"f_reason": "和解"})
        assert plain.status_code == 303 and plain.headers["location"] == f"/cases/{case_path}"
        client.cookies.set("fangkong_lang", "en")
        english = client.get(url)
        assert "Withdrawn" in english.text and "Attachment added" in english.text
    commander = _login(cases_server, "pages_commander", Role.COMMANDER, "T")
    with closing(commander):
        other = commander.post(
            "/cases/new",
            data={
                "type": "hazard",
                "title": "页面隐患",
                "area_code": GRID,
                "f_finding_route": "data",
                "f_category": "traffic",
            },
        )
        hazard_url = other.headers["location"]
        client_due = "2030-01-02T10:00"
        supervised = commander.post(
            f"{hazard_url}/supervise",
            headers={"HX-Request": "true"},
            data={"due_at": client_due, "note": "请加快"},
        )
        # In the reader's language and the county's zone (the form's time is the county's).
        assert "请加快" in supervised.text and "2030年1月2日 10:00" in supervised.text
    with closing(client := _login(cases_server, "pages_mediator", Role.MEDIATOR, "T-D1-S1")):
        board = client.get("/cases/board")
        assert 'id="unread"' in board.text
        read = client.post("/cases/board/read")
        assert read.status_code == 303
        assert client.get("/cases/board").text.count("font-weight:600") == 0


@pytest.mark.browser
def test_hazard_from_found_to_closed_in_the_console(
    cases_server: CasesServer, browser: object
) -> None:
    if cases_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    with Session(cases_server.engine) as session:
        add_user(
            session, username="console_officer", role=Role.STATION_OFFICER, area_code="T-D1-S1"
        )
        add_user(session, username="console_inspector", role=Role.INSPECTOR, area_code="T-D1-S1")
        session.commit()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = cases_server.base_url
    page.goto(f"{base}/cases")
    page.fill("input[name=username]", "console_officer")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("案事件闭环")
    page.click("text=新建风险隐患")
    expect(page.locator("h1")).to_have_text("新建风险隐患")
    page.fill("input[name=title]", "浏览器测试：楼道堆放杂物")
    page.select_option("select[name=area_code]", GRID)
    page.select_option("select[name=f_finding_route]", "on_foot")
    page.select_option("select[name=f_category]", "fire")
    page.fill("input[name=f_place]", "幸福小区5栋")
    page.click("#new-case button[type=submit]")
    state = page.locator("#case-state")
    expect(state).to_have_text("排查发现")
    case_url = page.url

    steps = [
        ("assess", {"f_assessment_level": "station", "f_risk_grade": "general"}, {}, "已评估"),
        ("route_internal", {}, {"f_department": "社区警务室"}, "处置中"),
        ("report_handled", {}, {"f_measures": "已清理楼道并张贴告知"}, "待复查"),
        ("pass_reinspection", {}, {"f_reinspection_result": "复查整改到位"}, "已办结"),
    ]
    for transition, selects, fills, expected in steps:
        if transition == "pass_reinspection":
            # Separation of duties: the officer who reported it handled may fail it back but
            # not pass it; an inspector re-inspects it.
            expect(page.locator("button[data-transition=fail_reinspection]")).to_be_visible()
            expect(page.locator("button[data-transition=pass_reinspection]")).to_have_count(0)
            page.click(".tools button[type=submit]")  # log out
            page.goto(case_url)
            page.fill("input[name=username]", "console_inspector")
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
            expect(state).to_have_text("待复查")
        page.click(f"button[data-transition={transition}]")
        expect(page.locator("#action-form")).to_be_visible()
        for name, value in selects.items():
            page.select_option(f"#action-form select[name={name}]", value)
        for name, value in fills.items():
            page.fill(f"#action-form [name={name}]", value)
        page.click("#action-submit")
        expect(state).to_have_text(expected)
    assert page.url == case_url
    expect(page.locator("#timeline > li")).to_have_count(5)
    # Only "reopen" is left, and it is not the inspector's.
    expect(page.locator("#case-actions button")).to_have_count(0)
    expect(page.locator(".badge.closed")).to_be_visible()

    shots = os.environ.get("FANGKONG_SCREENSHOTS_DIR")
    if shots:
        page.screenshot(path=os.path.join(shots, "case-detail.png"), full_page=True)
    page.click("#lang-switch")
    expect(page.locator("#case-state")).to_have_text("Closed")
    page.goto(f"{base}/cases/board?area=T-D1-S1")
    expect(page.locator("#board tbody tr")).to_have_count(2)
    expect(page.locator("#indicators")).to_contain_text("Hazard")
    if shots:
        page.screenshot(path=os.path.join(shots, "case-board.png"), full_page=True)
        page.goto(f"{base}/cases/new?type=dispute")
        page.screenshot(path=os.path.join(shots, "case-new.png"), full_page=True)
    assert errors == []
    context.close()
