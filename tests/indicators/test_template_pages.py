"""The report templates' editor over HTTP on both backends: the template of a kind and a
language shown as a form, each fault beside its field in the reader's language (the row a
section came from, even when a row before it is removed), the template saved as the API
reads it (and the other language's left alone), the API's permission and the CSRF token
required."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import AuditEvent, Role
from fangkong.indicators import reports

URL = "/indicators/report-templates/annual/en"


def staff(server: LiveServer, username: str, role: Role) -> httpx.Client:
    with Session(server.engine) as session:
        if auth.get_by_username(session, username=username) is None:
            auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=role,
                area_codes=["T"],
                actor=SYSTEM,
            )
            session.commit()
    return server.console_client(username)


@pytest.fixture(scope="module")
def office(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = staff(live_server, "itp_office", Role.EVALUATOR)
    yield client
    client.close()


def fault(page: str, name: str) -> str | None:
    found = re.search(rf'data-error-for="{re.escape(name)}">([^<]*)<', page)
    return found.group(1) if found else None


def form(client: httpx.Client, **values: str) -> dict[str, str]:
    data = {"csrf_token": client.headers["X-CSRF-Token"]}
    data |= {name.replace("__", "."): value for name, value in values.items()}
    return data


def test_the_form_shows_the_template_and_faults_beside_their_fields(office: httpx.Client) -> None:
    shown = office.get(URL)
    assert shown.status_code == 200, shown.text
    default = reports.default_template("annual", "en")
    assert f'value="{default.title}"' in shown.text
    assert 'name="sections.0.heading"' in shown.text
    # one blank row after the sections for a new one
    assert f'name="sections.{len(default.sections)}.heading"' in shown.text
    assert f'name="sections.{len(default.sections) + 1}.heading"' not in shown.text
    for language, required, unknown in (
        ("zh-CN", "必填项", "未知指标"),
        ("en", "required", "unknown indicators"),
    ):
        office.cookies.set("fangkong_lang", language)
        answer = office.post(
            URL,
            data=form(
                office,
                title="",
                sections__0__heading="Summary",
                sections__0__kind="summary",
                sections__0__remove="1",
                sections__1__heading="",
                sections__1__kind="indicators",
                sections__1__indicators="devices.online_rate",
                sections__2__heading="Ours",
                sections__2__kind="bogus",
                sections__3__heading="x" * 101,
                sections__3__kind="tasks",
            ),
        )
        assert answer.status_code == 422, answer.text
        page = answer.text
        assert required in (fault(page, "title") or "")
        assert required in (fault(page, "sections.1.heading") or "")
        assert fault(page, "sections.2.kind") is not None
        assert "100" in (fault(page, "sections.3.heading") or "")  # at most 100 characters
        assert fault(page, "sections.0.heading") is None  # the removed row has none
        assert 'value="Ours"' in page  # the form comes back as sent
        answer = office.post(
            URL,
            data=form(
                office,
                title="{area} annual",
                sections__0__heading="Summary",
                sections__0__kind="summary",
                sections__0__remove="1",
                sections__1__heading="Sensing",
                sections__1__kind="indicators",
                sections__1__indicators="devices.online_rate, devices.onlin",
            ),
        )
        assert answer.status_code == 422, answer.text
        assert unknown in (fault(answer.text, "sections.1.indicators") or "")
        assert "devices.onlin" in (fault(answer.text, "sections.1.indicators") or "")
        group = office.post(
            URL,
            data=form(
                office,
                title="{area} annual",
                sections__0__heading="Summary",
                sections__0__kind="summary",
                sections__0__remove="1",
                sections__1__heading="Sensing",
                sections__1__kind="indicators",
                sections__1__group="weather",
            ),
        )
        assert group.status_code == 422, group.text
        assert "weather" in (fault(group.text, "sections.1.group") or "")
    office.cookies.set("fangkong_lang", "en")


def test_a_saved_template_is_the_apis_and_the_other_language_is_left_alone(
    live_server: LiveServer, office: httpx.Client
) -> None:
    saved = office.post(
        URL,
        data=form(
            office,
            title="{area}: the year {period}",
            intro="Our own words.",
            sections__0__heading="Sensing",
            sections__0__kind="indicators",
            sections__0__indicators="devices.online_rate，manual.port_protection",
            sections__0__text="Cameras and ports.",
            sections__1__heading="Old one",
            sections__1__kind="tasks",
            sections__1__remove="1",
            sections__2__heading="Ledger",
            sections__2__kind="tasks",
        ),
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == URL + "?saved=1"
    with live_server.client(live_server.admin_token()) as api:
        api.cookies.set("fangkong_lang", "en")
        got = api.get("/api/v1/indicators/report-templates/annual").json()
        assert got["title"] == "{area}: the year {period}"
        assert got["intro"] == "Our own words."
        assert [(s["heading"], s["kind"]) for s in got["sections"]] == [
            ("Sensing", "indicators"),
            ("Ledger", "tasks"),
        ]
        assert got["sections"][0]["indicators"] == ["devices.online_rate", "manual.port_protection"]
        api.cookies.set("fangkong_lang", "zh-CN")
        chinese = api.get("/api/v1/indicators/report-templates/annual").json()
        assert chinese["title"] == reports.default_template("annual", "zh-CN").title
    page = office.get(URL + "?saved=1").text
    assert 'id="template-saved"' in page and 'value="Ledger"' in page
    with Session(live_server.engine) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "indicator_report_template")
        ).all()
        assert any(e.detail == {"kind": "annual", "language": "en"} for e in events)


def test_the_apis_permission_and_the_csrf_token(live_server: LiveServer) -> None:
    officer = staff(live_server, "itp_officer", Role.STATION_OFFICER)
    try:
        assert officer.get(URL).status_code == 403
        refused = officer.post(URL, data=form(officer, title="x"))
        assert refused.status_code == 403
    finally:
        officer.close()
    office = staff(live_server, "itp_office2", Role.EVALUATOR)
    try:
        no_token = office.post(URL, data={"title": "x"}, headers={"X-CSRF-Token": ""})
        assert no_token.status_code == 403
        assert office.get("/indicators/report-templates/annual/fr").status_code == 422
        catalogue_page = office.get("/indicators/catalogue").text
        assert "data-templates" in catalogue_page
    finally:
        office.close()
