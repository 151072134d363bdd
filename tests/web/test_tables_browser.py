"""The shared table and the charts in a real headless Chromium at desktop width, in zh-CN and
en: filter the incident history, sort it, export the view as CSV, see the KPI chart drawn."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service
from fangkong.dispatch.models import Incident, IncidentStatus, Priority, Source

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}
#: The incidents of this test lie in June 2020 (Asia/Shanghai), a month no other test uses.
START = datetime(2020, 6, 1, 2, 0, tzinfo=UTC)
USERNAME = "tables_commander"


def _seed(server: LiveServer) -> list[int]:
    """Twelve incidents over June 2020 of every priority, each dispatched and on scene."""
    with Session(server.engine) as db:
        found = list(
            db.scalars(
                select(Incident.id)
                .where(Incident.idempotency_key.startswith("tbl-"))
                .order_by(Incident.id)
            )
        )
        if found:
            return found
        if auth.get_by_username(db, username=USERNAME) is None:
            auth.create(
                db,
                username=USERNAME,
                display_name="指挥长",
                password=TEST_PASSWORD,
                role=Role.COMMANDER,
                area_codes=["T"],
                actor=SYSTEM,
            )
        cipher = FieldCipher(server.settings.ensure_secret_key())
        lon, lat = grid_centre("T-D1-S2-B1-G1")
        ids = []
        for n in range(12):
            received = START + timedelta(days=2 * n, hours=n)
            incident, _ = service.create(
                db,
                key=f"tbl-{n}",
                data=service.IncidentIn(
                    category="traffic" if n % 2 else "criminal",
                    subtype="collision" if n % 2 else "theft",
                    priority=list(Priority)[n % 4],
                    source=Source.CALL,
                    lon=lon + n * 1e-5,
                    lat=lat,
                ),
                actor=Actor(user_id=None, username="tables", client="test"),
                now=received,
                cipher=cipher,
            )
            incident.status = IncidentStatus.CLOSED
            incident.dispatched_at = received + timedelta(seconds=30)
            incident.on_scene_at = received + timedelta(seconds=90 + 30 * n)
            incident.closed_at = received + timedelta(hours=1)
            ids.append(incident.id)
        db.commit()
        return ids


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_filter_sort_export_and_chart(
    live_server: LiveServer, browser: object, lang: str, tmp_path: Path
) -> None:
    if live_server.backend != "sqlite":
        pytest.skip("the console is the same on both backends; the HTTP tests cover PostgreSQL")
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    ids = _seed(live_server)
    zh = lang == "zh-CN"
    context = browser.new_context(locale=lang, viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.base_url}/lang/{lang}")
    live_server.log_in(page, USERNAME)

    page.goto(f"{live_server.base_url}/incidents/history")
    expect(page.locator("h1")).to_have_text("警情查询" if zh else "Incident history")
    table = page.locator("#incident-history")
    # Filter: June 2020 and P1, through the form (htmx swaps the table in, the address follows).
    page.fill("#incident-history input[name=received_from]", "2020-06-01")
    page.fill("#incident-history input[name=received_to]", "2020-06-30")
    page.select_option("#incident-history select[name=priority]", "P1")
    page.click("#incident-history .table-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"priority=P1"))
    rows = table.locator("tbody tr[data-incident]")
    expect(rows).to_have_count(3)
    newest_first = rows.evaluate_all("rs => rs.map(r => Number(r.dataset.incident))")
    p1 = [i for n, i in enumerate(ids) if n % 4 == 0]
    assert newest_first == sorted(p1, reverse=True)

    # Sort by the number, ascending, by its heading.
    table.locator("th a[data-sort=id]").click()
    expect(page).to_have_url(re.compile(r"sort=id"))
    expect(table.locator("th[aria-sort=ascending] a[data-sort=id]")).to_be_visible()
    expect(rows.first).to_have_attribute("data-incident", str(min(p1)))
    assert rows.evaluate_all("rs => rs.map(r => Number(r.dataset.incident))") == sorted(p1)

    # Export the view as CSV: the same rows, in the same order.
    with page.expect_download() as download:
        table.locator("a[data-export=csv]").click()
    path = tmp_path / "view.csv"
    download.value.save_as(path)
    exported = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    assert exported[0][0] == ("警情编号" if zh else "No.")
    assert [int(r[0]) for r in exported[1:]] == sorted(p1)
    assert download.value.suggested_filename.endswith(".csv")

    # The KPI page of June 2020: ring shares per day, drawn on a canvas beside the table.
    page.goto(f"{live_server.base_url}/dispatch/kpis?start=2020-06-01&end=2020-06-30&area=T-D1")
    chart = page.locator(".chart[data-chart-table=kpi-trend]")
    expect(chart).to_have_attribute("data-chart-ready", "true", timeout=15_000)
    expect(chart.locator("canvas")).to_have_count(1)
    assert page.locator("#kpi-trend tbody tr").count() == 30
    expect(page.locator("#kpi-trend thead")).to_contain_text("日期" if zh else "Day")
    # Printed: the report alone (no navigation, form or button), its tables whole.
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("#kpi-form")).to_be_hidden()
    expect(page.locator("button[data-print]")).to_be_hidden()
    expect(page.locator("#kpi-trend")).to_be_visible()
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#kpi-trend thead')).display")
        == "table-header-group"
    )
    page.emulate_media(media="screen")
    assert errors == []
    context.close()
