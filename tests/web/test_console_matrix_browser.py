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
6 users and roles for admins (a new user,   test_admin_audit_areas_and_not_found
  deactivate, activate, another role)
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

import csv
import io
import itertools
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer, activate_street_grid, running_server
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.areas.models import Area, StandardAddress
from fangkong.cases import service as case_service
from fangkong.cases._common import number
from fangkong.cases.calendar import BusinessCalendar
from fangkong.cases.models import Case
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.db import utcnow
from fangkong.core.models import Role, User
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
from fangkong.http import deps
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


#: The text a reader sees, data shown as code aside (the audit log's JSON, code blocks).
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest("pre, code, script, style, template")) continue;
    if (!p.getClientRects().length || getComputedStyle(p).visibility === "hidden") continue;
    out.push(n.textContent);
  }
  return out.join("\\n");
}"""


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
        # Open hazards of several ages for the cases board's chart.
        grid = session.scalars(select(Area).where(Area.code == GRID)).one()
        for days in (1, 10, 40):
            case_service.create(
                session,
                case_type="hazard",
                title=f"积压隐患{days}",
                area=grid,
                fields={"finding_route": "on_foot", "category": "fire"},
                user=None,
                actor=SEED,
                now=utcnow() - timedelta(days=days),
                calendar=BusinessCalendar(),
                cipher=cipher,
                lon=lon,
                lat=lat,
            )
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
    text = page.evaluate(VISIBLE_TEXT) + "\n" + page.title()
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


# ---------------------------------------------------------------------------------------
# The items, each at desktop and phone width in zh-CN and en
# ---------------------------------------------------------------------------------------


def _in_view(page: Any, selector: str) -> bool:
    """The top of ``selector`` (up to 120 px of it) lies in the window."""
    height = page.viewport_size["height"]
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= -1 and box["y"] + min(box["height"], 120) <= height


@pytest.mark.parametrize(("width", "lang"), COMBOS)
def test_intake_from_the_map_and_by_address(
    server: LiveServer, browser: object, width: str, lang: str
) -> None:
    """The command map (layer panel folded at phone width), its popup with the area's true
    size, the intake form opened at the click, an address found by its pinyin (zh-CN) or
    without its accents (en), a refused intake told in the reader's language, the incident
    recorded; its page: the recommendation in view, the actions named by what they do, the
    cancel asked first."""
    from playwright.sync_api import expect

    zh = lang == "zh-CN"
    page = _page(browser, server, "mx_commander", lang, width)
    lon, lat = grid_centre(GRID)
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    folded = not page.evaluate("document.getElementById('layers-fold').open")
    assert folded == (width == "phone")
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    _fits(page, "command map")
    _no_english(page, lang, "command map")
    _hide_point_layers(page)
    _click_map_at(page, lon, lat)
    popup = page.locator(".maplibregl-popup")
    expect(popup.locator("a.intake-here")).to_be_visible(timeout=10_000)
    # The finest area shown (the beat; grids are off by default) with its size, not 0.000.
    beat = GRID.rsplit("-", 1)[0]
    expect(popup).to_contain_text(beat)
    size = re.search(r":\s*([\d.]+)\s*$", popup.inner_text(), re.MULTILINE)
    assert size is not None, popup.inner_text()
    assert float(size.group(1)) == pytest.approx(_km2(server, beat), rel=0.01)
    assert float(size.group(1)) > 0.1
    _no_english(page, lang, "map popup")
    popup.locator("a.intake-here").click()
    page.wait_for_url("**/incidents?lon=*")
    expect(page.locator("#intake")).to_have_attribute("open", "")
    assert abs(float(page.input_value("#intake-form input[name=lon]")) - lon) < 1e-3
    _no_english(page, lang, "intake form")
    if width == "phone":
        _fits(page, "intake form")

    # A standard address that is not there: refused, in the reader's language.
    page.fill("#intake-form input[name=address_code]", "MX-NONE")
    page.fill("#intake-form input[name=lon]", "")
    page.fill("#intake-form input[name=lat]", "")
    page.select_option("#intake-form select[name=kind]", "public_order/fight")
    page.click("#intake-form button[type=submit]")
    error = page.locator("#intake-form .error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("MX-NONE")
    expect(error).to_contain_text("标准地址" if zh else "standard address")
    _no_english(page, lang, "refused intake")

    # Typed as people say it: pinyin in Chinese, no accents in English.
    page.fill("#address-search", "zhongs" if zh else "Zhongshan")
    choice = page.locator("#address-suggestions button[data-code='MX-ZS-8']")
    expect(choice).to_be_visible(timeout=10_000)
    _no_english(page, lang, "suggestions")
    choice.click()
    expect(page.locator("#intake-form input[name=address_code]")).to_have_value("MX-ZS-8")
    expect(page.locator("#address-search")).to_have_value("中山路8号" if zh else "8 Zhōngshān Road")
    page.click("#intake-form button[type=submit]")
    page.wait_for_url("**/incidents?created=*")
    incident_id = int(page.url.rsplit("=", 1)[1])

    # Its page: dispatch first, the recommendation where the dispatcher looks.
    page.goto(f"{server.base_url}/incidents/{incident_id}")
    labels = [t.strip() for t in page.locator("#move-form button").all_inner_texts()]
    assert labels == (["派警", "撤销"] if zh else ["Dispatch", "Cancel"]), labels
    page.click("#recommend-button")
    expect(page.locator("#recommendation #candidates")).to_be_visible(timeout=30_000)
    assert _in_view(page, "#recommendation #candidates")
    _no_english(page, lang, "recommendation")
    if width == "phone":
        _fits(page, "incident page")
    # Cancel asks first; going back leaves it received; yes cancels.
    cancel = page.locator("#move-form button[value=cancelled]")
    cancel.click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(str(incident_id))
    _no_english(page, lang, "cancel question")
    page.click("#confirm-no")
    expect(dialog).to_be_hidden()
    status = page.locator("#incident-status")
    expect(status).to_have_text("已接警" if zh else "Received")
    cancel.click()
    page.click("#confirm-yes")
    expect(status).to_have_text("已撤销" if zh else "Cancelled")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("width", "lang"), COMBOS)
def test_history_and_the_shared_table(
    server: LiveServer, browser: object, width: str, lang: str, tmp_path: Path
) -> None:
    """The incident history by the navigation: March 2019 filtered by day, 25 a page and the
    next page, sorted by number, exported as CSV and XLSX (the whole view in its order, not
    the page), narrowed by priority and searched by number."""
    from playwright.sync_api import expect

    zh = lang == "zh-CN"
    with Session(server.engine) as session:
        ids = list(
            session.scalars(
                select(Incident.id)
                .where(Incident.idempotency_key.startswith("mx-history-"))
                .order_by(Incident.id)
            )
        )
    assert len(ids) == HISTORY_COUNT
    page = _page(browser, server, "mx_commander", lang, width)
    _go(page, "/incidents/history")
    expect(page.locator("h1")).to_have_text("警情查询" if zh else "Incident history")
    table = page.locator("#incident-history")
    rows = table.locator("tbody tr[data-incident]")

    def shown() -> list[int]:
        return [int(i) for i in rows.evaluate_all("rs => rs.map(r => r.dataset.incident)")]

    page.fill("#incident-history input[name=received_from]", "2019-03-01")
    page.fill("#incident-history input[name=received_to]", "2019-03-31")
    page.select_option("#incident-history select[name=per_page]", "25")
    page.click("#incident-history .table-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"per_page=25"))
    expect(rows).to_have_count(25)
    assert shown() == sorted(ids, reverse=True)[:25]
    expect(table.locator(".table-bar [role=status]")).to_contain_text("30")
    _no_english(page, lang, "history, page 1")
    if width == "phone":
        _fits(page, "history")
    table.locator(".pager a[rel=next]").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(rows).to_have_count(5)
    assert shown() == sorted(ids, reverse=True)[25:]

    # Sorted by number, ascending, by its heading (back to the first page).
    table.locator("th a[data-sort=id]").click()
    expect(page).to_have_url(re.compile(r"sort=id"))
    expect(table.locator("th[aria-sort=ascending] a[data-sort=id]")).to_be_visible()
    expect(rows.first).to_have_attribute("data-incident", str(ids[0]))

    # The exports hold the whole view (both pages), in its order.
    exported = list(
        csv.reader(io.StringIO(_export(page, table, "csv", tmp_path).read_text("utf-8-sig")))
    )
    assert exported[0][0] == ("警情编号" if zh else "No.")
    assert [int(r[0]) for r in exported[1:]] == ids
    book = load_workbook(_export(page, table, "xlsx", tmp_path), read_only=True)
    sheet = book.worksheets[0]
    values = [row[0] for row in sheet.iter_rows(values_only=True)]
    book.close()
    assert values[0] == exported[0][0]
    assert [int(str(v)) for v in values[1:]] == ids

    # Narrowed by priority, then searched by number.
    page.select_option("#incident-history select[name=priority]", "P1")
    page.click("#incident-history .table-filters button[type=submit]")
    p1 = [i for n, i in enumerate(ids) if n % 4 == 0]
    expect(rows).to_have_count(len(p1))
    assert shown() == p1
    page.fill("#incident-history input[name=q]", str(p1[1]))
    page.click("#incident-history .table-filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-incident", str(p1[1]))
    _no_english(page, lang, "history, searched")
    assert page.errors == []
    page.context.close()


def _chart_drawn(page: Any, table: str) -> None:
    from playwright.sync_api import expect

    chart = page.locator(f".chart[data-chart-table={table}]")
    expect(chart).to_have_attribute("data-chart-ready", "true", timeout=15_000)
    expect(chart.locator("canvas")).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100, (table, box)
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"] + 1


def _printed(page: Any, report: str) -> None:
    """Printed, the page is its report alone: no bar, form or button; the report shows."""
    from playwright.sync_api import expect

    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    for button in page.locator("main button").all():
        expect(button).to_be_hidden()
    expect(page.locator(report)).to_be_visible()
    page.emulate_media(media="screen")


@pytest.mark.parametrize(("width", "lang"), COMBOS)
def test_charts_and_print(server: LiveServer, browser: object, width: str, lang: str) -> None:
    """Ring shares over time on the KPI page, the replay of a recorded day against it, the
    open cases by age on the board: each a chart drawn beside its table, and each page
    printed as its report alone."""
    from playwright.sync_api import expect

    zh = lang == "zh-CN"
    page = _page(browser, server, "mx_commander", lang, width)
    _go(page, "/dispatch/kpis")
    page.goto(f"{server.base_url}/dispatch/kpis?start=2019-03-01&end=2019-03-31&area=T-D1")
    _chart_drawn(page, "kpi-trend")
    assert page.locator("#kpi-trend tbody tr").count() == 31
    expect(page.locator("#kpi-trend thead")).to_contain_text("日期" if zh else "Day")
    _no_english(page, lang, "KPIs")
    if width == "phone":
        _fits(page, "KPIs")
    _printed(page, "#kpi-trend")

    # The replay of a recorded day: today's units against what happened.
    _go(page, "/dispatch/replay")
    page.fill("#replay-form input[name=day]", REPLAY_DAY)
    page.click("#replay-form button[type=submit]")
    figures = page.locator("#replay-figures")
    expect(figures).to_be_visible(timeout=60_000)
    _chart_drawn(page, "replay-figures")
    assert figures.locator("tbody tr").count() >= 3
    expect(figures.locator("thead")).to_contain_text("记录" if zh else "Recorded")
    _no_english(page, lang, "replay")
    if width == "phone":
        _fits(page, "replay")
    _printed(page, "#replay-figures")

    # Open cases by age, per area.
    _go(page, "/cases/board")
    _chart_drawn(page, "board")
    assert page.locator("#board tbody tr").count() >= 1
    _no_english(page, lang, "cases board")
    if width == "phone":
        _fits(page, "cases board")
    _printed(page, "#board")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("width", "lang"), COMBOS)
def test_case_place_and_detail(server: LiveServer, browser: object, width: str, lang: str) -> None:
    """A station officer reports a hazard with its place picked on the form's map; a place
    outside the chosen area is refused in the reader's language; the case's page stacks
    its columns at phone width (side by side on a desktop) and prints as the case alone; the
    command map shows the case."""
    from playwright.sync_api import expect

    zh = lang == "zh-CN"
    lon, lat = grid_centre(GRID)
    title = f"地图选点隐患{next(_SERIAL)}号"
    page = _page(browser, server, "mx_officer", lang, width)
    _go(page, "/cases")
    page.click("a[href='/cases/new?type=hazard']")
    expect(page.locator("#case-map")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.fill("#new-case input[name=title]", title)
    page.select_option("#new-case select[name=f_finding_route]", "on_foot")
    page.select_option("#new-case select[name=f_category]", "crowd")
    page.locator("#case-map").scroll_into_view_if_needed()
    at = page.evaluate(
        "([lon, lat]) => { const p = window.fangkongCaseMap.project([lon, lat]);"
        " return { x: p.x, y: p.y }; }",
        [lon, lat],
    )
    page.locator("#case-map canvas").click(position=at)
    expect(page.locator("#new-case select[name=area_code]")).to_have_value(GRID)
    if width == "phone":
        _fits(page, "new case")
    # Another grid than the point's: refused, told in the reader's language.
    page.select_option("#new-case select[name=area_code]", "T-D1-S1-B2-G1")
    page.click("#new-case button[type=submit]")
    error = page.locator("#form-error")
    expect(error).to_be_visible()
    _no_english(page, lang, "refused case")
    if not zh:
        expect(error).to_contain_text("outside")
    page.select_option("#new-case select[name=area_code]", GRID)
    page.click("#new-case button[type=submit]")
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    case_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#case-state")).to_have_text("排查发现" if zh else "Found")
    columns = page.evaluate(
        """() => Array.from(document.querySelectorAll('.case-grid > div')).map((el) => {
              const r = el.getBoundingClientRect();
              return [r.left, r.top, r.width];
            })"""
    )
    assert len(columns) == 2, columns
    (left1, top1, _), (left2, top2, _) = columns
    if width == "phone":
        assert abs(left1 - left2) < 1 and top2 > top1, columns
        _fits(page, "case detail")
    else:
        assert left2 > left1 + 100 and abs(top1 - top2) < 1, columns
    _no_english(page, lang, "case detail")
    _printed(page, "#case-state")

    # The command map's cases layer holds it.
    _go(page, "/")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.wait_for_function(
        "(id) => window.fangkongMap.getSource('cases') && window.fangkongMap"
        ".querySourceFeatures('cases').some((f) => f.properties.id === id)",
        arg=case_id,
        timeout=15_000,
    )
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("width", "lang"), COMBOS)
def test_admin_audit_areas_and_not_found(
    server: LiveServer, browser: object, width: str, lang: str
) -> None:
    """An administrator deactivates and reactivates a user in the console, finds both in the
    audit log (filtered, labelled in the reader's language, in pages), reads the area tree
    in code order with true sizes and sorted by name (pinyin order in zh-CN), and an
    unknown address answers a page in the reader's language."""
    from playwright.sync_api import expect

    from fangkong.core.collation import pinyin_key

    zh = lang == "zh-CN"
    managed = f"mx_managed_{width}_{lang}".replace("-", "_").lower()
    with Session(server.engine) as session:
        add_user(session, username=managed, role=Role.VIEWER, area_code=STATION)
        session.commit()
    page = _page(browser, server, "mx_admin", lang, width)
    _go(page, "/users")
    expect(page.locator("h1")).to_have_text("用户管理" if zh else "Users")
    _no_english(page, lang, "users")
    if width == "phone":
        _fits(page, "users")
    # A new user, from the list's link: an empty form refused beside its fields in the
    # reader's language, then the user made with a role and an area of the admin's own.
    created = f"mx_new_{width}_{lang}".replace("-", "_").lower()
    page.click("#new-user")
    expect(page.locator("h1")).to_have_text("新建用户" if zh else "New user")
    page.click("#user-form button[type=submit]")
    expect(page.locator("[data-error-for=username]")).to_have_text(
        "必填项：请填写" if zh else "required: fill it in"
    )
    expect(page.locator("[data-error-for=area_codes]")).to_be_visible()
    _no_english(page, lang, "new user refused")
    if width == "phone":
        _fits(page, "new user form")
    page.fill("#user-form input[name=username]", created)
    page.fill("#user-form input[name=display_name]", f"网格员 {created}")
    page.select_option("#user-form select[name=role]", "grid_worker")
    page.fill("#user-form input[name=password]", "Plum-Orchard-1987")
    page.check(f"#user-form input[name=area_codes][value='{STATION}']")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#user-role")).to_have_text("网格员" if zh else "Grid worker")
    _no_english(page, lang, "user created")
    with Session(server.engine) as session:
        made = session.scalars(select(User).where(User.username == created)).one()
        assert made.role == Role.GRID_WORKER
    _go(page, "/users")
    page.click(f"tr[data-user={managed}] a")
    state = page.locator("#user-state")
    expect(state).to_have_text("正常" if zh else "Active")
    # Deactivating asks first, and says what it does.
    page.click("form[action$='/deactivate'] button")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("令牌" if zh else "tokens")
    _no_english(page, lang, "deactivation question")
    page.click("#confirm-yes")
    expect(state).to_have_text("已停用" if zh else "Deactivated")
    _no_english(page, lang, "user deactivated")
    page.click("form[action$='/activate'] button")
    expect(state).to_have_text("正常" if zh else "Active")
    # Another role, chosen from the list: the user's page and the list say so.
    role = page.locator("#user-role")
    expect(role).to_have_text("只读用户" if zh else "Viewer")
    page.select_option("#role-form select[name=role]", "station_officer")
    page.click("#role-form button[type=submit]")
    expect(role).to_have_text("派出所民警" if zh else "Station officer")
    _no_english(page, lang, "role changed")
    if width == "phone":
        _fits(page, "user page")
    with Session(server.engine) as session:
        changed = session.scalars(select(User).where(User.username == managed)).one()
        assert changed.role == Role.STATION_OFFICER

    # The audit log: both actions, filtered, in the reader's words; in pages of 25.
    _go(page, "/audit")
    log = page.locator("#audit-log")
    rows = log.locator("tbody tr[data-event]")
    expect(rows.first).to_be_visible()
    _no_english(page, lang, "audit log")
    page.select_option("#audit-log select[name=per_page]", "25")
    page.click("#audit-log .table-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"per_page=25"))
    next_page = log.locator(".pager a[rel=next]")
    expect(next_page).to_have_count(1)  # the seeding left more than a page
    next_page.click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(log.locator(".pager a[rel=prev]")).to_be_visible()  # page 2 swapped in
    expect(rows.first).to_be_visible()
    page.select_option("#audit-log select[name=action]", "deactivate")
    page.fill("#audit-log input[name=user]", "mx_admin")
    page.click("#audit-log .table-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"action=deactivate"))
    expect(rows.first).to_contain_text("停用账号" if zh else "Deactivate")
    expect(rows.first).to_contain_text("mx_admin")
    assert "\\u" not in log.inner_text()
    if width == "phone":
        _fits(page, "audit log")

    # The area tree: by code, each size true; by name in the reader's order.
    _go(page, "/areas")
    areas = page.locator("#area-list tbody tr[data-area]")
    expect(areas.first).to_be_visible()
    codes = areas.evaluate_all("rs => rs.map(r => r.dataset.area)")
    assert codes == sorted(codes) and "T" in codes and GRID in codes
    grid_row = page.locator(f"#area-list tr[data-area='{GRID}'] td.num")
    assert float(grid_row.last.inner_text()) == pytest.approx(_km2(server, GRID), abs=1e-3)
    sizes = [float(x) for x in page.locator("#area-list td.num").all_inner_texts()]
    assert sizes and min(sizes) > 0.1, sizes
    _no_english(page, lang, "areas")
    page.locator("#area-list th a[data-sort=name]").click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    expect(page.locator("#area-list th[aria-sort=ascending] a[data-sort=name]")).to_be_visible()
    names = [n.strip() for n in areas.evaluate_all("rs => rs.map(r => r.cells[0].innerText)")]
    assert names == sorted(names, key=pinyin_key if zh else str.lower), names
    if width == "phone":
        _fits(page, "areas")

    # An unknown address: a page in the reader's language that leads back.
    answer = page.goto(f"{server.base_url}/no-such-page")
    assert answer is not None and answer.status == 404
    assert "text/html" in (answer.headers.get("content-type") or "")
    expect(page.locator("h1")).to_contain_text("404")
    _no_english(page, lang, "404")
    if width == "phone":
        _fits(page, "404")
    page.locator("main a[href='/']").click()
    expect(page).to_have_url(f"{server.base_url}/")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("width", "lang"), COMBOS)
def test_session_warning_and_docs(
    server: LiveServer, browser: object, width: str, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five minutes before the idle end the console warns, in the reader's language, and
    staying signed in starts the idle time over; the API docs (by the navigation) lead
    back to the console."""
    from playwright.sync_api import expect

    zh = lang == "zh-CN"
    offset = [0.0]
    monkeypatch.setattr(deps, "clock", lambda: time.time() + offset[0])
    page = _new_page(browser, server, lang, width)
    page.clock.install()
    server.log_in(page, "mx_officer")
    _go(page, "/cases")
    warning = page.locator("#session-warning")
    expect(warning).to_be_hidden()
    idle = server.settings.session_idle_timeout_s
    lead = server.settings.session_warning_s
    offset[0] = idle - lead + 5.0
    page.clock.run_for(int((idle - lead + 5) * 1000))
    expect(warning).to_be_visible()
    expect(page.locator("#session-warning-text")).to_contain_text("没有操作" if zh else "inactive")
    _no_english(page, lang, "session warning")
    if width == "phone":
        _fits(page, "session warning")
        box = page.locator("#session-stay").bounding_box()
        assert box is not None and box["height"] >= 43.5
    page.click("#session-stay")
    expect(warning).to_be_hidden()
    offset[0] = 0.0

    _go(page, "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("fangkong", timeout=30_000)
    back = page.locator("#docs-back")
    expect(back).to_be_visible()
    expect(back).to_contain_text("返回控制台" if zh else "Back to the console")
    back.click()
    expect(page).to_have_url(f"{server.base_url}/")
    assert page.errors == []
    page.context.close()
