"""The case page offers an attachment's download only to who may download it (issue 18): the
attachments of a case that holds personal data (a dispute) need the unmask permission, so a
reader without it sees the file's name and why there is no link, not a link that answers 403.
Its dates are in the reader's language and the county's zone."""

from __future__ import annotations

import re
from contextlib import closing

import httpx
import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import CasesServer, add_user
from conftest import TEST_PASSWORD
from fangkong.core.models import Role

GRID = "T-D1-S1-B1-G1"
HTMX = {"HX-Request": "true"}


def _login(server: CasesServer, username: str, role: Role, code: str) -> httpx.Client:
    with Session(server.engine) as session:
        add_user(session, username=username, role=role, area_code=code)
        session.commit()
    client = server.client()
    form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert form is not None
    answer = client.post(
        "/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": form.group(1)},
    )
    assert answer.status_code == 303
    client.headers["X-CSRF-Token"] = form.group(1)
    return client


def _case_with_attachment(client: httpx.Client, data: dict[str, str]) -> str:
    created = client.post("/cases/new", data={"area_code": GRID, **data})
    assert created.status_code == 303, created.text
    url = str(created.headers["location"])
    uploaded = client.post(
        f"{url}/attachments",
        headers=HTMX,
        files={"file": ("现场照片说明.txt", "楼道".encode(), "text/plain")},
    )
    assert uploaded.status_code == 200 and "现场照片说明.txt" in uploaded.text
    return url


def test_downloads_are_offered_only_to_who_may_download(cases_server: CasesServer) -> None:
    if cases_server.backend != "sqlite":
        pytest.skip("the pages are the same on both backends; the API suite covers PostgreSQL")
    mediator = _login(cases_server, "links_mediator", Role.MEDIATOR, "T-D1-S1")
    worker = _login(cases_server, "links_grid", Role.GRID_WORKER, GRID)
    with closing(mediator), closing(worker):
        dispute = _case_with_attachment(
            mediator,
            {
                "type": "dispute",
                "title": "附件纠纷",
                "f_category": "family",
                "f_channel": "people",
                "f_source": "hotline",
                "party_role_0": "applicant",
                "party_name_0": "甲某某",
                "party_role_1": "respondent",
                "party_name_1": "乙某",
            },
        )
        hazard = _case_with_attachment(
            worker,
            {
                "type": "hazard",
                "title": "附件隐患",
                "f_finding_route": "on_foot",
                "f_category": "fire",
            },
        )
        link = re.compile(r'href="(/cases/\d+/attachments/\d+)"')

        # The mediator may unmask: the dispute's attachment is a link, and it downloads.
        page = mediator.get(dispute).text
        (href,) = link.findall(page)
        assert 'id="attachments-locked"' not in page
        assert mediator.get(href).status_code == 200

        # The grid worker reads the dispute but may not unmask: the name, no link, the reason.
        for language, reason in (("zh-CN", "查看个人信息"), ("en", "unmask personal data")):
            worker.cookies.set("fangkong_lang", language)
            page = worker.get(dispute).text
            assert "现场照片说明.txt" in page
            assert link.findall(page) == []
            locked = re.search(r'id="attachments-locked">([^<]+)<', page)
            assert locked is not None and reason in locked.group(1)
        assert worker.get(href).status_code == 403  # the link would have answered this

        # A hazard holds no personal data: its attachments are links for the grid worker.
        page = worker.get(hazard).text
        assert len(link.findall(page)) == 1 and 'id="attachments-locked"' not in page

        # Dates in the reader's language (the county's zone): the page's opening time.
        worker.cookies.set("fangkong_lang", "en")
        english = worker.get(hazard).text
        assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d", english)
        worker.cookies.set("fangkong_lang", "zh-CN")
        chinese = worker.get(hazard).text
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", chinese)
        assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", chinese)
