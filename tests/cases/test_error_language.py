"""A refusal of the server reads in the reader's language on the console (zh-CN by default, en
by the language cookie), while the API answers its stable code, values and English text
(issue 18)."""

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
ONE_PARTY = {
    "type": "dispute",
    "title": "一方纠纷",
    "area_code": GRID,
    "f_category": "family",
    "f_channel": "people",
    "f_source": "hotline",
    "party_name_0": "甲某",
}


def _console(server: CasesServer, username: str) -> httpx.Client:
    with Session(server.engine) as session:
        add_user(session, username=username, role=Role.MEDIATOR, area_code="T-D1-S1")
        session.commit()
    client = server.client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": username, "password": TEST_PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def test_the_console_shows_a_refusal_in_the_readers_language(cases_server: CasesServer) -> None:
    if cases_server.backend != "sqlite":
        pytest.skip("the pages are the same on both backends")
    with closing(_console(cases_server, "lang_mediator")) as client:
        chinese = client.post("/cases/new", data=ONE_PARTY)
        assert chinese.status_code == 422 and 'id="form-error"' in chinese.text
        assert "dispute 类案件须有 2 至 10 名当事人，而不是 1 名" in chinese.text
        assert "parties" not in chinese.text.split('id="form-error"')[1].split("</p>")[0]
        long_title = client.post("/cases/new", data=ONE_PARTY | {"title": "长" * 201})
        assert long_title.status_code == 422 and "标题须为 1 至 200 个字符" in long_title.text
        client.cookies.set("fangkong_lang", "en")
        english = client.post("/cases/new", data=ONE_PARTY)
        assert english.status_code == 422
        assert "a dispute case needs 2 to 10 parties, not 1" in english.text
        assert "当事人" not in english.text.split('id="form-error"')[1].split("</p>")[0]


def test_the_api_answers_a_stable_code_and_english(cases_server: CasesServer) -> None:
    token = cases_server.user_token("lang_api_mediator", Role.MEDIATOR, "T-D1-S1")
    with cases_server.client(token) as api:
        answer = api.post(
            "/api/v1/cases",
            headers={"Accept-Language": "zh-CN"},
            json={
                "type": "dispute",
                "title": "一方纠纷",
                "area_code": GRID,
                "fields": {"category": "family", "channel": "people", "source": "hotline"},
                "parties": [{"role": "applicant", "name": "甲某"}],
            },
        )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "invalid_input",
        "code": "cases.party_count",
        "params": {"type": "dispute", "minimum": 2, "maximum": 10, "count": 1},
        "message": "a dispute case needs 2 to 10 parties, not 1",
        "field": "parties",
    }


def test_the_console_reads_an_api_refusal_in_its_language(cases_server: CasesServer) -> None:
    if cases_server.backend != "sqlite":
        pytest.skip("the answers are the same on both backends")
    body = {
        "type": "dispute",
        "title": "一方纠纷",
        "area_code": GRID,
        "fields": {"category": "family", "channel": "people", "source": "hotline"},
        "parties": [{"role": "applicant", "name": "甲某"}],
    }
    with closing(_console(cases_server, "lang_console_api")) as client:
        refused = client.post("/api/v1/cases", json=body)
        assert refused.status_code == 422
        answer = refused.json()
        assert answer["message"] == "a dispute case needs 2 to 10 parties, not 1"
        assert answer["text"] == "dispute 类案件须有 2 至 10 名当事人，而不是 1 名"
        malformed = client.post("/api/v1/cases", json=body | {"title": "长" * 201}).json()
        assert malformed["field"] == "body.title"
        assert malformed["text"].startswith("body.title: ")
        assert re.search(r"[\u4e00-\u9fff]", malformed["text"]) is not None
        client.cookies.set("fangkong_lang", "en")
        english = client.post("/api/v1/cases", json=body).json()
        assert english["text"] == "a dispute case needs 2 to 10 parties, not 1"
