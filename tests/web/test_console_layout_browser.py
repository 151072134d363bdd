"""The console as county staff use it (issue 18), in a real headless Chromium, in zh-CN and en:

- at phone width (390 x 844) a grid worker opens the navigation with its menu button, reports a
  hazard, reads it in one column with nothing wider than the window, moves it along, and opens
  the map with its layer panel folded; a mediator does the same with a dispute;
- at desktop width (1280) the navigation stays on one line (what does not fit goes into a
  "more" menu) and the map fills the window without a page scroll;
- the incident page: the recommendation shows where the dispatcher looks, its buttons say what
  they do, and cancelling asks first and says what it will do;
- the session's expiry warning and its button to stay signed in; the API docs lead back.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import add_user
from conftest import LiveServer, activate_street_grid, running_server
from factories import grid_centre
from fangkong.areas.models import Area
from fangkong.core.audit import Actor
from fangkong.core.db import utcnow
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import Incident, Priority, Source, UnitType
from fangkong.http import deps

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
GRID = "T-D1-S1-B1-G1"
STATION = "T-D1-S1"
SEED = Actor(user_id=None, username="seed", client="test")
_SERIAL = itertools.count()
LANGUAGES = ("zh-CN", "en")

# Every box on the page that reaches past the window's edges, unless a box it lies in scrolls
# or clips it (a wide table scrolls in its own box): what a phone user would have to pan to.
TOO_WIDE = """() => {
  const width = window.innerWidth;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === "auto" || o === "scroll" || o === "hidden") return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > width + 1 || r.left < -1) && !clipped(el)) {
      const at = `${Math.round(r.left)}..${Math.round(r.right)}`;
      wide.push(`${el.tagName}#${el.id}.${el.className} ${at}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8)};
}"""

# Visible controls a finger must hit that are less than 44 px tall.
SMALL_CONTROLS = """(selector) => Array.from(document.querySelectorAll(selector))
  .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height < 43.5)
  .map((el) => [el.tagName, el.textContent.trim().slice(0, 20), el.offsetHeight])"""


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if backend != "sqlite":
        pytest.skip("the console is the same on both backends; the API suite covers PostgreSQL")
    with running_server(
        backend, tmp_path_factory.mktemp("layout"), "_layout", intake_writer="thread"
    ) as live:
        activate_street_grid(live)
        with Session(live.engine) as session:
            for name, role, code in (
                ("phone_grid", Role.GRID_WORKER, GRID),
                ("phone_mediator", Role.MEDIATOR, STATION),
                ("desk_admin", Role.ADMIN, "T"),
                ("desk_commander", Role.COMMANDER, "T"),
            ):
                add_user(session, username=name, role=role, area_code=code)
            session.commit()
        yield live


def _page(browser: object, server: LiveServer, username: str, lang: str, viewport: Any) -> Any:
    """A new page of ``username`` logged in, in ``lang``; its script errors are collected in
    ``page.errors``."""
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(locale=lang, viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(f"{server.base_url}/lang/{lang}")
    server.log_in(page, username)
    return page


def _fits(page: Any, what: str) -> None:
    found = page.evaluate(TOO_WIDE)
    assert found["scrollWidth"] <= found["width"], (what, found)
    assert found["wide"] == [], (what, found)


def _open_nav(page: Any) -> None:
    from playwright.sync_api import expect

    toggle = page.locator(".nav-toggle")
    expect(toggle).to_be_visible()
    expect(page.locator("#main-nav")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#main-nav")).to_be_visible()


def _single_column(page: Any) -> None:
    columns = page.evaluate(
        """() => Array.from(document.querySelectorAll('.case-grid > div')).map((el) => {
              const r = el.getBoundingClientRect();
              return [r.left, r.top, r.width];
            })"""
    )
    assert len(columns) == 2
    (left1, top1, width1), (left2, top2, width2) = columns
    assert abs(left1 - left2) < 1 and top2 > top1, columns
    assert width1 <= PHONE["width"] and width2 <= PHONE["width"], columns


@pytest.mark.parametrize("lang", LANGUAGES)
def test_grid_worker_on_a_phone(server: LiveServer, browser: object, lang: str) -> None:
    from playwright.sync_api import expect

    page = _page(browser, server, "phone_grid", lang, PHONE)
    zh = lang == "zh-CN"
    base = server.base_url
    # The map first: the layer panel is folded, the map fills the window.
    fold = page.locator("#layers-fold")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    assert page.evaluate("document.getElementById('layers-fold').open") is False
    expect(page.locator("input[data-layer=beat]")).to_be_hidden()
    panel = page.locator("#layers").bounding_box()
    assert panel is not None and panel["height"] < 120, panel
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    fold.locator("summary").click()
    expect(page.locator("input[data-layer=beat]")).to_be_visible()
    _fits(page, "map")

    # The navigation folds behind a menu button; its entries are finger-sized.
    _open_nav(page)
    assert page.evaluate(SMALL_CONTROLS, "#main-nav a, .nav-toggle, .tools a, .tools button") == []
    _fits(page, "navigation")
    page.click("#main-nav a[href='/cases']")
    expect(page.locator("h1")).to_have_text("案事件闭环" if zh else "Cases")
    expect(page.locator("#main-nav")).to_be_hidden()
    _fits(page, "case list")

    # Report a hazard from the phone.
    page.click("a[href='/cases/new?type=hazard']")
    _fits(page, "new case form")
    controls = "#new-case input, #new-case select, #new-case button"
    assert page.evaluate(SMALL_CONTROLS, controls) == []
    page.fill("input[name=title]", "手机上报：楼道堆物" if zh else "Reported by phone: stairwell")
    page.select_option("select[name=area_code]", GRID)
    page.select_option("select[name=f_finding_route]", "on_foot")
    page.select_option("select[name=f_category]", "fire")
    page.fill("input[name=f_place]", "幸福小区5栋" if zh else "Block 5, Xingfu estate")
    page.click("#new-case button[type=submit]")
    state = page.locator("#case-state")
    expect(state).to_have_text("排查发现" if zh else "Found")

    # Its detail in one column, nothing clipped or wider than the phone.
    _single_column(page)
    _fits(page, "case detail")
    assert page.evaluate(SMALL_CONTROLS, "#case-actions button") == []

    # Move it along: the grid worker assesses it.
    page.click("button[data-transition=assess]")
    expect(page.locator("#action-form")).to_be_visible()
    _fits(page, "action form")
    page.select_option("#action-form select[name=f_assessment_level]", "grid")
    page.select_option("#action-form select[name=f_risk_grade]", "general")
    page.click("#action-submit")
    expect(state).to_have_text("已评估" if zh else "Assessed")
    _single_column(page)
    _fits(page, "case detail after a move")

    # Back to the map by the menu: the layer panel is folded again.
    _open_nav(page)
    page.click("#main-nav a[href='/']")
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    assert page.evaluate("document.getElementById('layers-fold').open") is False
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_mediator_dispute_on_a_phone(server: LiveServer, browser: object, lang: str) -> None:
    from playwright.sync_api import expect

    page = _page(browser, server, "phone_mediator", lang, PHONE)
    zh = lang == "zh-CN"
    page.goto(f"{server.base_url}/cases/new?type=dispute")
    _fits(page, "new dispute form")
    page.fill("input[name=title]", "邻里噪音纠纷" if zh else "Neighbours' noise")
    page.select_option("select[name=area_code]", GRID)
    page.select_option("select[name=f_category]", "neighbour")
    page.select_option("select[name=f_channel]", "people")
    page.select_option("select[name=f_source]", "walk_in")
    page.fill("input[name=party_name_0]", "张三丰")
    page.fill("input[name=party_contact_0]", "13912345678")
    page.fill("input[name=party_name_1]", "李四")
    page.click("#new-case button[type=submit]")
    state = page.locator("#case-state")
    expect(state).to_have_text("受理" if zh else "Intake")
    _single_column(page)
    _fits(page, "dispute detail")
    page.click("button[data-transition=assign_mediator]")
    page.select_option("#action-form select[name=f_mediator]", index=1)
    page.click("#action-submit")
    expect(state).not_to_have_text("受理" if zh else "Intake")
    _single_column(page)
    _fits(page, "dispute after a move")
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_navigation_on_one_line_and_the_map_without_scroll(
    server: LiveServer, browser: object, lang: str
) -> None:
    """The administrator has the most entries: at 1280 px they stay on one line, the rest in
    the "more" menu, and the map fills the window without a page scroll."""
    from playwright.sync_api import expect

    page = _page(browser, server, "desk_admin", lang, DESKTOP)
    expect(page.locator("#map")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator(".nav-toggle")).to_be_hidden()
    tops = page.evaluate(
        """() => Array.from(document.querySelectorAll('#main-nav .nav-links a'))
            .map((a) => Math.round(a.getBoundingClientRect().top))"""
    )
    assert len(tops) >= 3 and len(set(tops)) == 1, tops
    header = page.locator(".topbar").bounding_box()
    assert header is not None and header["height"] <= 60, header
    # Whatever did not fit is in the "more" menu; every entry is there once.
    hrefs = page.evaluate(
        "Array.from(document.querySelectorAll('#main-nav a')).map((a) => a.getAttribute('href'))"
    )
    assert len(hrefs) == len(set(hrefs)) and {"/", "/cases", "/incidents", "/docs"} <= set(hrefs)
    more = page.locator(".nav-more")
    if more.is_visible():
        more.locator("summary").click()
        first = page.locator(".nav-more-menu a").first
        expect(first).to_be_visible()
        box = first.bounding_box()
        assert box is not None and box["x"] + box["width"] <= DESKTOP["width"]
    # The map page: no page scroll.
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight"), page.evaluate(
        "[document.scrollingElement.scrollHeight, innerHeight]"
    )
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    map_box = page.locator("#map").bounding_box()
    assert map_box is not None and map_box["y"] + map_box["height"] <= DESKTOP["height"] + 1
    assert map_box["height"] >= DESKTOP["height"] - 70
    assert page.errors == []
    page.context.close()


def _incident(server: LiveServer) -> int:
    """An incident received now near a grid's centre, with one car nearby; its id."""
    lon, lat = grid_centre(GRID)
    n = next(_SERIAL)
    with Session(server.engine) as session:
        beat = session.scalars(select(Area).where(Area.code == "T-D1-S1-B1")).one()
        unit = dispatch_service.create_unit(
            session,
            call_sign=f"巡{n:03d}",
            unit_type=UnitType.CAR,
            home_area=beat,
            actor=SEED,
        )
        dispatch_service.report_position(session, unit=unit, lon=lon + 0.003, lat=lat, now=utcnow())
        incident, _ = dispatch_service.create(
            session,
            key=f"layout-{n}-{time.time_ns()}",
            data=dispatch_service.IncidentIn(
                category="public_order",
                subtype="fight",
                priority=Priority.P2,
                source=Source.CALL,
                lon=lon,
                lat=lat,
            ),
            actor=SEED,
            now=utcnow(),
            cipher=FieldCipher(server.settings.ensure_secret_key()),
        )
        session.commit()
        return incident.id


def _in_view(page: Any, selector: str, height: int) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= -1 and box["y"] + min(box["height"], 120) <= height


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dispatch_where_the_dispatcher_looks(
    server: LiveServer, browser: object, lang: str
) -> None:
    from playwright.sync_api import expect

    zh = lang == "zh-CN"
    ids = [_incident(server) for _ in range(3 if lang == "en" else 25)]
    viewport = {"width": 1280, "height": 900}
    page = _page(browser, server, "desk_commander", lang, viewport)

    # The board: the recommendation of the last row shows in the window, not below the rows.
    page.goto(f"{server.base_url}/incidents")
    row = page.locator(f"#incident-rows tr[data-incident='{ids[0]}']")
    row.scroll_into_view_if_needed()
    button = row.locator("button")
    expect(button).to_have_text("派警" if zh else "Dispatch")
    button.click()
    expect(page.locator("#recommendation #candidates")).to_be_visible(timeout=30_000)
    assert _in_view(page, "#recommendation h2", viewport["height"])
    assert _in_view(page, "#recommendation #candidates", viewport["height"])
    # Its own form stays in place while it is sent (the loading line is for asking the panel).
    page.click("#recommendation button[type=submit]")
    expect(page.locator("#recommendation #dispatched")).to_be_visible(timeout=30_000)

    # The incident page: its actions at the top, named by what they do.
    incident_id = ids[-1]
    page.goto(f"{server.base_url}/incidents/{incident_id}")
    actions = page.locator("#move-form button")
    labels = [text.strip() for text in actions.all_inner_texts()]
    assert labels == (["派警", "撤销"] if zh else ["Dispatch", "Cancel"]), labels
    assert "已撤销" not in labels and "Cancelled" not in labels
    page.click("#recommend-button")
    expect(page.locator("#recommendation #candidates")).to_be_visible(timeout=30_000)
    assert _in_view(page, "#recommendation #candidates", viewport["height"])
    assert page.evaluate("document.activeElement.closest('#recommendation') !== null")

    # Cancel asks first, and says what it does; going back leaves the incident as it was.
    cancel = page.locator("#move-form button[value=cancelled]")
    cancel.click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(
        f"警情 {incident_id} 将以“已撤销”结束"
        if zh
        else f"Incident {incident_id} will end as cancelled"
    )
    expect(page.locator("#confirm-yes")).to_have_text("撤销" if zh else "Cancel")
    page.click("#confirm-no")
    expect(dialog).to_be_hidden()
    status = page.locator("#incident-status")
    expect(status).to_have_text("已接警" if zh else "Received")
    cancel.click()
    page.click("#confirm-yes")
    expect(status).to_have_text("已撤销" if zh else "Cancelled")
    expect(page.locator("#move-form")).to_have_count(0)
    with Session(server.engine) as session:
        assert session.get(Incident, incident_id).status.value == "cancelled"  # type: ignore[union-attr]
    assert page.errors == []
    page.context.close()


def test_a_dispatched_incident_says_how_many_units_cancelling_releases(
    server: LiveServer, browser: object
) -> None:
    from playwright.sync_api import expect

    incident_id = _incident(server)
    page = _page(browser, server, "desk_commander", "en", {"width": 1280, "height": 900})
    page.goto(f"{server.base_url}/incidents/{incident_id}")
    page.click("#recommend-button")
    panel = page.locator("#recommendation")
    panel.locator("button[type=submit]").click()
    # Dispatched: the page reads itself again, with the new status and moves.
    expect(page.locator("#incident-status")).to_have_text("Dispatched", timeout=30_000)
    expect(page.locator("#assignments")).to_contain_text("Car")
    labels = [t.strip() for t in page.locator("#move-form button").all_inner_texts()]
    assert labels == ["Dispatch", "Set out", "Arrive on scene", "Cancel"], labels
    page.click("#move-form button[value=cancelled]")
    expect(page.locator("#confirm-text")).to_contain_text("the 1 unit(s) sent to it are released")
    page.keyboard.press("Escape")
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    expect(page.locator("#incident-status")).to_have_text("Dispatched")
    page.context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_session_warns_before_it_ends(
    server: LiveServer, browser: object, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The browser's clock and the server's are moved: 25 minutes without activity bring the
    warning (the idle timeout is 30); staying signed in starts it over. A session near its
    absolute end says so, and staying is no longer offered."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    zh = lang == "zh-CN"
    offset = [0.0]
    monkeypatch.setattr(deps, "clock", lambda: time.time() + offset[0])
    context = browser.new_context(locale=lang, viewport=DESKTOP)
    page = context.new_page()
    page.clock.install()
    page.goto(f"{server.base_url}/lang/{lang}")
    server.log_in(page, "desk_commander")
    page.goto(f"{server.base_url}/cases")
    warning = page.locator("#session-warning")
    expect(warning).to_be_hidden()
    idle = server.settings.session_idle_timeout_s
    lead = server.settings.session_warning_s
    assert (idle, lead) == (1800, 300)

    offset[0] = idle - lead + 5.0
    page.clock.run_for(int((idle - lead + 5) * 1000))
    expect(warning).to_be_visible()
    expect(warning).to_have_attribute("data-reason", "idle")
    text = page.locator("#session-warning-text")
    expect(text).to_contain_text("没有操作" if zh else "inactive")
    expect(text).to_contain_text("4:")  # minutes and seconds left
    stay = page.locator("#session-stay")
    expect(stay).to_have_text("保持登录" if zh else "Stay signed in")
    stay.click()
    expect(warning).to_be_hidden()
    # The server started the idle time over.
    state = page.evaluate(
        """async () => (await fetch('/session',
            {headers: {'X-Fangkong-Background': '1'}})).json()"""
    )
    assert state["idle_left_s"] >= idle - 5, state

    # Near the absolute end (8 h after the login), activity cannot keep the session.
    max_age = server.settings.session_max_age_s
    offset[0] = max_age - lead + 5.0
    monkeypatch.setattr(server.settings, "session_idle_timeout_s", max_age + 3600)
    page.reload()
    page.clock.run_for(1000)
    expect(warning).to_be_visible()
    expect(warning).to_have_attribute("data-reason", "absolute")
    expect(text).to_contain_text("8")
    expect(stay).to_be_hidden()
    expect(page.locator("#session-login")).to_be_visible()
    context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_api_docs_lead_back_to_the_console(
    server: LiveServer, browser: object, lang: str
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, server, "desk_admin", lang, DESKTOP)
    page.goto(f"{server.base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("fangkong", timeout=30_000)
    back = page.locator("#docs-back")
    expect(back).to_be_visible()
    expect(back).to_contain_text("返回控制台" if lang == "zh-CN" else "Back to the console")
    back.click()
    expect(page).to_have_url(f"{server.base_url}/")
    assert page.errors == []
    page.context.close()
