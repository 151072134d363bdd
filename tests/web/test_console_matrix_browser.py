"""Issue 18 done: every item of the issue in a real headless Chromium at desktop (1280 x 800)
and phone (390 x 844) width, in zh-CN and en, and the two journeys a new user takes in zh-CN.

One live server (SQLite, its own county and street grid) for the whole module; each test
walks several items per page load and is parametrised over (width, language).

==========================================  ==============================================
Item of the issue                           Test here (each at desktop/phone x zh-CN/en)
==========================================  ==============================================
1 intake by a click on the map              test_intake_from_the_map_and_by_address
1 intake by typing an address (pinyin,      test_intake_from_the_map_and_by_address
  accents) with suggestions
2 incident history: search, filter, pages   test_history_and_the_shared_table
3 the shared table: sort, filter, pages,    test_history_and_the_shared_table (incidents),
  CSV + XLSX export of the current view       test_admin_audit_areas_and_not_found (audit,
                                              areas)
3 print stylesheet (KPIs, replay, boards,   test_charts_and_print (KPIs, replay, board),
  case details)                               test_case_place_and_detail (case detail)
4 charts: ring shares over time, cases by   test_charts_and_print
  age, replay against the recorded day
5 a case's place: picked on a map, shown    test_case_place_and_detail
  on the command map
6 users and roles for admins                test_admin_audit_areas_and_not_found
7 session-expiry warning; /docs leads back  test_session_warning_and_docs
defect: area sizes (0.000 km²)              test_intake_from_the_map_and_by_address (map
                                              popup), test_admin_audit_areas_and_not_found
defect: phone navigation, layer panel,      every test (navigation by the menu at phone
  case details stacked                        width, the "more" menu at desktop width);
                                              test_intake_from_the_map_and_by_address (layer
                                              panel); test_case_place_and_detail (columns)
defect: server messages in the reader's     test_intake_from_the_map_and_by_address (a
  language                                    refused intake), test_case_place_and_detail
                                              (a refused case)
defect: recommendation above the fold,      test_intake_from_the_map_and_by_address
  actions named, cancel asks first
defect: unknown URL answers a page          test_admin_audit_areas_and_not_found
defect: audit log readable, filtered, pages test_admin_audit_areas_and_not_found
defect: area tree ordered (code; name in    test_admin_audit_areas_and_not_found
  pinyin order in zh-CN)
journey: incident from a map click to       test_journey_incident_from_a_map_click_to_closed
  closed, no code typed, no English (zh-CN)
journey: hazard from a phone report to      test_journey_hazard_from_a_phone_to_closed
  closed, re-inspected by another officer
==========================================  ==============================================

Every page in zh-CN is read for English: a run of three or more words of Latin letters in
its visible text (flashes and errors included) fails the test unless each word is a name on
:data:`ALLOWED_WORDS`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer, activate_street_grid, running_server
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.areas.models import Area, StandardAddress
from fangkong.cases._common import number
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.db import utcnow
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    PostKind,
    Priority,
    Source,
    UnitType,
)
from web.test_console_layout_browser import TOO_WIDE

pytestmark = pytest.mark.browser

WIDTHS: dict[str, Any] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
COMBOS = [
    pytest.param(width, lang, id=f"{width}-{lang}")
    for width, lang in itertools.product(WIDTHS, ("zh-CN", "en"))
]
GRID = "T-D1-S1-B1-G1"
STATION = "T-D1-S1"
SEED = Actor(user_id=None, username="seed", client="test")
#: The history's incidents lie in March 2019 (Asia/Shanghai): 30 of them, two pages of 25.
HISTORY_START = datetime(2019, 3, 1, 2, 0, tzinfo=UTC)
HISTORY_COUNT = 30
#: The replay's day: its incidents were answered in 90 s to 10 min.
REPLAY_DAY = "2019-03-05"
_SERIAL = itertools.count()

#: Words of Latin letters a Chinese page may show in a run: names of products and formats.
ALLOWED_WORDS = {"fangkong", "csv", "xlsx", "api", "openapi", "maplibre", "echarts", "h3", "km"}
#: Three or more words of Latin letters in a row (a word is letters alone, not part of a code
#: such as T-D1-S1 or HZ-2026-0001), separated by spaces or punctuation.
_WORD = r"(?<![A-Za-z0-9_])[A-Za-z]+(?:['’][A-Za-z]+)*(?![A-Za-z0-9_])"
ENGLISH_RUN = re.compile(rf"{_WORD}(?:[\s,.;:!?()\"“”'’/–-]+{_WORD}){{2,}}")


def english_runs(text: str) -> list[str]:
    """The runs of three or more English words in ``text`` whose words are not all allowed."""
    found = []
    for match in ENGLISH_RUN.finditer(text):
        words = re.findall(_WORD, match.group(0))
        if any(w.lower() not in ALLOWED_WORDS for w in words):
            found.append(match.group(0))
    return found


def test_the_english_check_finds_a_sentence_and_leaves_codes_and_names() -> None:
    assert english_runs("标准地址 MX-1 does not exist or is outside your areas") == [
        "does not exist or is outside your areas"
    ]
    assert english_runs("title must be 1-200 characters") == ["title must be"]
    assert english_runs("网格 T-D1-S1-B1-G1 · HZ-2026-0001 · P1 · 0.720 km²") == []
    assert english_runs("导出 CSV XLSX · fangkong API") == []
    assert english_runs("Car · Foot") == []


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if backend != "sqlite":
        pytest.skip("the console is the same on both backends; the HTTP suites cover PostgreSQL")
    with running_server(
        backend, tmp_path_factory.mktemp("matrix"), "_matrix", intake_writer="thread"
    ) as live:
        activate_street_grid(live)
        _seed(live)
        yield live


def _seed(live: LiveServer) -> None:
    """Users of each role the items need, standard addresses, a post and a unit, and the
    closed incidents of March 2019 (the history, the KPIs and the replay read them)."""
    cipher = FieldCipher(live.settings.ensure_secret_key())
    lon, lat = grid_centre(GRID)
    with Session(live.engine) as session:
        for name, role, code in (
            ("mx_commander", Role.COMMANDER, "T"),
            ("mx_admin", Role.ADMIN, "T"),
            ("mx_grid", Role.GRID_WORKER, GRID),
            ("mx_officer", Role.STATION_OFFICER, STATION),
            ("mx_officer2", Role.STATION_OFFICER, STATION),
            ("mx_managed", Role.VIEWER, STATION),
        ):
            add_user(session, username=name, role=role, area_code=code)
        area_service.create_address(
            session,
            code="MX-ZS-8",
            text_zh="中山路8号",
            text_en="8 Zhōngshān Road",
            lon=lon + 2e-4,
            lat=lat,
            actor=SYSTEM,
        )
        area_service.create_address(
            session,
            code="MX-BJ-2",
            text_zh="北京路2号",
            text_en="2 Běijīng Road",
            lon=lon - 1.5e-3,
            lat=lat + 1e-3,
            actor=SYSTEM,
        )
        beat = session.scalars(select(Area).where(Area.code == "T-D1-S1-B1")).one()
        dispatch_service.create_post(
            session,
            code="MXP1",
            name="中山路警务站",
            kind=PostKind.STREET_POST,
            lon=lon + 0.002,
            lat=lat,
            actor=SYSTEM,
        )
        unit = dispatch_service.create_unit(
            session, call_sign="巡001", unit_type=UnitType.CAR, home_area=beat, actor=SEED
        )
        dispatch_service.report_position(session, unit=unit, lon=lon + 0.003, lat=lat, now=utcnow())
        for n in range(HISTORY_COUNT):
            received = HISTORY_START + timedelta(days=n // 3, hours=n % 3)
            incident, _ = dispatch_service.create(
                session,
                key=f"mx-history-{n}",
                data=dispatch_service.IncidentIn(
                    category="traffic" if n % 2 else "criminal",
                    subtype="collision" if n % 2 else "theft",
                    priority=list(Priority)[n % 4],
                    source=Source.CALL,
                    lon=lon + n * 1e-5,
                    lat=lat,
                ),
                actor=SEED,
                now=received,
                cipher=cipher,
            )
            incident.status = IncidentStatus.CLOSED
            incident.dispatched_at = received + timedelta(seconds=30)
            incident.on_scene_at = received + timedelta(seconds=90 + 20 * n)
            incident.closed_at = received + timedelta(hours=1)
        session.commit()


def _new_page(browser: object, server: LiveServer, lang: str, width: str) -> Any:
    """A new page in ``lang`` at ``width``; its script errors in ``page.errors``, the
    messages of its dialogs in ``page.dialogs``."""
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(locale=lang, viewport=WIDTHS[width], accept_downloads=True)
    page: Any = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", answer)
    page.errors = errors
    page.dialogs = dialogs
    page.goto(f"{server.base_url}/lang/{lang}")
    return page


def _page(browser: object, server: LiveServer, username: str, lang: str, width: str) -> Any:
    page = _new_page(browser, server, lang, width)
    server.log_in(page, username)
    return page


def _no_english(page: Any, lang: str, where: str) -> None:
    """On a Chinese page: the page says it is Chinese and shows no English sentence."""
    if lang != "zh-CN":
        return
    assert page.evaluate("document.documentElement.lang") == "zh-CN", where
    text = page.evaluate("document.body.innerText") + "\n" + page.title()
    found = english_runs(text) + [m for d in page.dialogs for m in english_runs(d)]
    assert found == [], (where, page.url, found)


def _fits(page: Any, where: str) -> None:
    found = page.evaluate(TOO_WIDE)
    assert found["scrollWidth"] <= found["width"], (where, found)
    assert found["wide"] == [], (where, found)


def _go(page: Any, href: str) -> None:
    """Follow the navigation's entry to ``href`` as a user does: by the menu button at phone
    width, by the "more" menu where the bar has no room for it."""
    from playwright.sync_api import expect

    toggle = page.locator(".nav-toggle")
    if toggle.is_visible():
        toggle.click()
        expect(page.locator("#main-nav")).to_be_visible()
    link = page.locator(f"#main-nav a[href='{href}']")
    if not link.is_visible():
        page.locator(".nav-more summary").click()
    link.click()
    page.wait_for_url(re.compile(re.escape(href) + r"(\?.*)?$"))


def _hide_point_layers(page: Any) -> None:
    """Hide what other markers could catch a click on the map, and fold the panel again."""
    fold = page.locator("#layers-fold")
    folded = not page.evaluate("document.getElementById('layers-fold').open")
    if folded:
        fold.locator("summary").click()
    for box in page.locator("#layers input[data-live-layer], #layers input[data-layer]").all():
        name = box.get_attribute("data-live-layer") or box.get_attribute("data-layer") or ""
        if name in {"roads", "district", "station", "beat", "grid", "scope"}:
            continue
        if box.is_checked():
            box.uncheck()
    if folded:
        fold.locator("summary").click()


def _click_map_at(page: Any, lon: float, lat: float) -> None:
    at = page.evaluate(
        "([lon, lat]) => { const p = window.fangkongMap.project([lon, lat]);"
        " return { x: p.x, y: p.y }; }",
        [lon, lat],
    )
    page.locator("#map canvas").click(position=at)


def _km2(server: LiveServer, code: str) -> float:
    with Session(server.engine) as session:
        area = session.scalars(select(Area).where(Area.code == code)).one()
        return float(area.area_m2) / 1e6


def _export(page: Any, table: Any, kind: str, tmp_path: Path) -> Path:
    with page.expect_download() as download:
        table.locator(f"a[data-export={kind}]").click()
    path = tmp_path / f"view-{next(_SERIAL)}.{kind}"
    download.value.save_as(path)
    assert download.value.suggested_filename.endswith(f".{kind}")
    return path


# ---------------------------------------------------------------------------------------
# The journeys (zh-CN)
# ---------------------------------------------------------------------------------------


class Keyboard:
    """What the user types, kept to show that none of it is a code: every ``fill`` of a
    journey goes through :meth:`type`."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.typed: list[str] = []

    def type(self, selector: str, text: str) -> None:
        self.typed.append(text)
        self.page.fill(selector, text)

    def assert_no_code(self, server: LiveServer) -> None:
        """Nothing typed is a code of the county (area, standard address, incident, case,
        user), a number or a coordinate."""
        with Session(server.engine) as session:
            codes = set(session.scalars(select(Area.code)))
            codes |= set(session.scalars(select(StandardAddress.code)))
            codes |= {str(i) for i in session.scalars(select(Incident.id))}
            codes |= {number(c) for c in session.scalars(select(Case))}
        for text in self.typed:
            tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9.-]*", text))
            assert not tokens & codes, (text, tokens & codes)
            assert not re.search(r"\d", text), text


def test_journey_incident_from_a_map_click_to_closed(server: LiveServer, browser: object) -> None:
    """A dispatcher clicks the command map where the caller is, takes the nearest standard
    address offered, records the incident, sends the recommended unit and follows it to
    closed: no code typed, no English on the way."""
    from playwright.sync_api import expect

    lang = "zh-CN"
    page = _page(browser, server, "mx_commander", lang, "desktop")
    keys = Keyboard(page)
    lon, lat = grid_centre(GRID)
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    _no_english(page, lang, "command map")
    _hide_point_layers(page)
    _click_map_at(page, lon, lat)
    link = page.locator(".maplibregl-popup a.intake-here")
    expect(link).to_be_visible(timeout=10_000)
    _no_english(page, lang, "map popup")
    link.click()
    page.wait_for_url("**/incidents?lon=*")
    expect(page.locator("#intake")).to_have_attribute("open", "")
    expect(page.locator("#map-point")).to_be_visible()
    _no_english(page, lang, "intake form")
    # The nearest standard address is offered: take it (its code and point fill themselves).
    page.click("#nearest-address button[data-use-address]")
    expect(page.locator("#intake-form input[name=address_code]")).to_have_value("MX-ZS-8")
    page.select_option("#intake-form select[name=kind]", "public_order/fight")
    page.select_option("#intake-form select[name=priority]", "P2")
    keys.type("#intake-form textarea[name=description]", "两人在路口争吵推搡")
    page.click("#intake-form button[type=submit]")
    page.wait_for_url("**/incidents?created=*")
    incident_id = int(page.url.rsplit("=", 1)[1])
    expect(page.locator(".notice")).to_be_visible()
    _no_english(page, lang, "board after intake")

    # The board: the incident's dispatch button brings the recommendation into view.
    row = page.locator(f"#incident-rows tr[data-incident='{incident_id}']")
    row.locator("button").click()
    candidates = page.locator("#recommendation #candidates")
    expect(candidates).to_be_visible(timeout=30_000)
    _no_english(page, lang, "recommendation")
    page.click("#recommendation button[type=submit]")
    expect(page.locator("#recommendation #dispatched")).to_be_visible(timeout=30_000)
    _no_english(page, lang, "dispatched")

    # Its page: arrive, clear, close, each by its button.
    row.locator("a").first.click()
    page.wait_for_url(f"**/incidents/{incident_id}")
    status = page.locator("#incident-status")
    expect(status).to_have_text("已派警")
    for move, state in (("on_scene", "到场"), ("cleared", "处置完毕"), ("closed", "已结案")):
        page.click(f"#move-form button[data-move={move}]")
        expect(status).to_have_text(state)
        _no_english(page, lang, f"incident {state}")
    expect(page.locator("#move-form")).to_have_count(0)
    with Session(server.engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.status == IncidentStatus.CLOSED
        assert incident.description == "两人在路口争吵推搡"
        # where the dispatcher clicked (the address offered was taken beside it)
        assert incident.lon == pytest.approx(lon, abs=1e-3)
        assert incident.lat == pytest.approx(lat, abs=1e-3)
    keys.assert_no_code(server)
    assert page.errors == [] and page.dialogs == []
    page.context.close()


def test_journey_hazard_from_a_phone_to_closed(server: LiveServer, browser: object) -> None:
    """A grid worker at phone width reports a hazard where it is (picked on the map), assesses
    it; an officer routes it to a department and reports it handled; that officer may not
    pass their own work: another officer re-inspects and closes it. No code typed, no
    English on the way."""
    from playwright.sync_api import expect

    lang = "zh-CN"
    lon, lat = grid_centre(GRID)
    page = _page(browser, server, "mx_grid", lang, "phone")
    keys = Keyboard(page)
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    _no_english(page, lang, "grid worker's map")
    _go(page, "/cases")
    _no_english(page, lang, "case list")
    page.click("a[href='/cases/new?type=hazard']")
    expect(page.locator("#case-map")).to_have_attribute("data-ready", "true", timeout=30_000)
    _fits(page, "new hazard form")
    _no_english(page, lang, "new hazard form")
    keys.type("#new-case input[name=title]", "楼道堆放杂物堵塞通道")
    page.select_option("#new-case select[name=f_finding_route]", "on_foot")
    page.select_option("#new-case select[name=f_category]", "fire")
    keys.type("#new-case input[name=f_place]", "幸福小区东门楼道")
    # The place: a tap on the form's map at the hazard; the grid follows the point.
    page.locator("#case-map").scroll_into_view_if_needed()
    at = page.evaluate(
        "([lon, lat]) => { const p = window.fangkongCaseMap.project([lon, lat]);"
        " return { x: p.x, y: p.y }; }",
        [lon, lat],
    )
    page.locator("#case-map canvas").click(position=at)
    expect(page.locator("#case-map")).to_have_attribute("data-picked", re.compile(r"\d"))
    expect(page.locator("#new-case select[name=area_code]")).to_have_value(GRID)
    page.click("#new-case button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    case_url = page.url
    state = page.locator("#case-state")
    expect(state).to_have_text("排查发现")
    _fits(page, "hazard detail")
    _no_english(page, lang, "hazard found")

    def act(transition: str, selects: dict[str, str], fills: dict[str, str], after: str) -> None:
        page.click(f"button[data-transition={transition}]")
        expect(page.locator("#action-form")).to_be_visible()
        for name, value in selects.items():
            page.select_option(f"#action-form select[name={name}]", value)
        for name, value in fills.items():
            keys.type(f"#action-form [name={name}]", value)
        _no_english(page, lang, f"form of {transition}")
        page.click("#action-submit")
        expect(state).to_have_text(after)
        _no_english(page, lang, f"after {transition}")

    act("assess", {"f_assessment_level": "grid", "f_risk_grade": "general"}, {}, "已评估")
    # Routing is an officer's: the grid worker is not offered it.
    expect(page.locator("button[data-transition=route_internal]")).to_have_count(0)
    page.context.close()

    # The first officer routes it and reports it handled (at desktop width).
    page = _page(browser, server, "mx_officer", lang, "desktop")
    keys.page = page
    page.goto(case_url)
    state = page.locator("#case-state")
    expect(state).to_have_text("已评估")
    act("route_internal", {}, {"f_department": "社区消防站"}, "处置中")
    act("report_handled", {}, {"f_measures": "已清理楼道杂物并张贴告知"}, "待复查")
    # Separation of duties: they may fail it back, not pass it.
    expect(page.locator("button[data-transition=fail_reinspection]")).to_be_visible()
    expect(page.locator("button[data-transition=pass_reinspection]")).to_have_count(0)
    page.context.close()

    # Another officer re-inspects it at phone width and closes it.
    page = _page(browser, server, "mx_officer2", lang, "phone")
    keys.page = page
    page.goto(case_url)
    state = page.locator("#case-state")
    expect(state).to_have_text("待复查")
    act("pass_reinspection", {}, {"f_reinspection_result": "复查整改到位"}, "已办结")
    _fits(page, "closed hazard")
    expect(page.locator(".badge.closed")).to_be_visible()
    with Session(server.engine) as session:
        case = session.scalars(select(Case).where(Case.title == "楼道堆放杂物堵塞通道")).one()
        assert case.state == "closed" and case.closed_at is not None
        assert case.lon == pytest.approx(lon, abs=1e-3)
    keys.assert_no_code(server)
    assert page.errors == []
    page.context.close()
