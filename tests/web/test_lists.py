"""The console's lists on the shared table: the audit log (labels in the reader's language,
readable details, filters, pages, still scoped), the areas (by code, by name on request),
the standard addresses and the cases; each exports the filtered, sorted view."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import county_geojson, grid_centre
from fangkong.areas.models import Area
from fangkong.core import audit, auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.models import Role

IN_GRID, OUT_GRID = "T-D1-S1-B1-G1", "T-D2-S2-B2-G2"


def _user(server: LiveServer, username: str, role: Role, area: str) -> str:
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
    return username


def _csv(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _xlsx(answer: httpx.Response) -> list[list[Any]]:
    assert answer.status_code == 200, answer.text
    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


@pytest.fixture(scope="module")
def events(live_server: LiveServer) -> dict[str, str]:
    """Audit events of a patrol note in a grid of the station and one in another district,
    each by a user of its own."""
    with Session(live_server.engine) as db:
        paths = {
            code: db.scalars(select(Area.path).where(Area.code == code)).one()
            for code in (IN_GRID, OUT_GRID)
        }
        for code, who in ((IN_GRID, "lists_near"), (OUT_GRID, "lists_far")):
            audit.record(
                db,
                actor=Actor(user_id=None, username=who, client="10.0.0.9"),
                action="update",
                entity="police_post",
                entity_id=7,
                detail={"note": "巡逻路口", "code": code},
                area_path=paths[code],
            )
        db.commit()
    return {"near": "lists_near", "far": "lists_far"}


@pytest.fixture(scope="module")
def evaluator(live_server: LiveServer) -> Iterator[httpx.Client]:
    username = _user(live_server, "lists_evaluator", Role.EVALUATOR, "T-D1-S1")
    with closing(live_server.console_client(username)) as client:
        yield client


def test_the_audit_log_reads_as_people_write(
    events: dict[str, str], evaluator: httpx.Client
) -> None:
    page = evaluator.get("/audit", params={"user": "lists_"})
    assert page.status_code == 200
    # The reader's areas only: the other district's event is not there.
    assert events["near"] in page.text and events["far"] not in page.text
    # Labels in the reader's language, the detail as written (not \\u escapes).
    assert "修改" in page.text and "警务站" in page.text
    assert "巡逻路口" in page.text and "\\u5de1" not in page.text
    evaluator.cookies.set("fangkong_lang", "en")
    english = evaluator.get("/audit", params={"user": "lists_"})
    assert "Update" in english.text and "Police post" in english.text
    evaluator.cookies.delete("fangkong_lang")


def test_the_audit_log_filters_pages_and_exports(
    live_server: LiveServer, events: dict[str, str], evaluator: httpx.Client
) -> None:
    by_action = evaluator.get("/audit", params={"action": "update", "entity": "police_post"})
    rows = re.findall(r'<tr data-event="(\d+)"', by_action.text)
    assert rows and events["near"] in by_action.text
    assert evaluator.get("/audit", params={"action": "no_such"}).status_code == 422
    assert evaluator.get("/audit", params={"from": "2100-13-01"}).status_code == 422
    # Far in the future: nothing.
    later = evaluator.get("/audit", params={"from": "2099-01-01"})
    assert later.status_code == 200 and 'data-event="' not in later.text
    exported = _csv(
        evaluator.get("/audit", params={"user": "lists_", "export": "csv", "sort": "user"})
    )
    header, body = exported[0], exported[1:]
    assert header[:3] == ["时间", "用户", "操作"]
    assert [r[1] for r in body] == sorted(r[1] for r in body)
    assert events["far"] not in {r[1] for r in body}
    near = next(r for r in body if r[1] == events["near"])
    assert near[2] == "修改" and near[3] == "警务站" and "巡逻路口" in near[-1]
    # Pages of one row each hold the export's rows, in its order.
    paged = []
    for number in range(1, len(body) + 1):
        one = evaluator.get(
            "/audit", params={"user": "lists_", "sort": "user", "per_page": 1, "page": number}
        )
        paged += re.findall(r'<tr data-event="(\d+)"', one.text)
    assert len(paged) == len(body) == len(set(paged))
    refused = evaluator.get("/audit", params={"user": "x" * 65, "export": "csv"})
    assert refused.status_code == 422 and 'role="alert"' in refused.text


def test_the_areas_sort_by_code_and_by_name(live_server: LiveServer) -> None:
    username = _user(live_server, "lists_station", Role.STATION_OFFICER, "T-D1-S1")
    codes = sorted(
        f["properties"]["code"]
        for f in county_geojson()["features"]
        if f["properties"]["code"].startswith("T-D1-S1")
    )
    with closing(live_server.console_client(username)) as client:
        page = client.get("/areas")
        assert page.status_code == 200
        shown = [c for c in re.findall(r'data-area="([^"]+)"', page.text) if c in codes]
        assert shown == codes
        assert 'class="depth-1"' in page.text  # the tree's indent when sorted by code
        by_name = client.get("/areas", params={"sort": "-name", "per_page": 200})
        names = re.findall(
            r'<tr class="level-\w+" data-area="[^"]+">\s*<td[^>]*>([^<]+)</td>', by_name.text
        )
        assert names == sorted(names, reverse=True) and len(names) == len(codes)
        grids = client.get("/areas", params={"level": "grid", "export": "xlsx"})
        sheet = _xlsx(grids)
        assert [r[1] for r in sheet[1:]] == [c for c in codes if c.count("-") == 4]
        outside = client.get("/areas", params={"within": "T-D2"})
        assert outside.status_code == 404


def test_the_addresses_search_sort_and_export(live_server: LiveServer) -> None:
    username = _user(live_server, "lists_station_a", Role.STATION_OFFICER, "T-D1-S1")
    lon, lat = grid_centre(IN_GRID)
    with live_server.client(live_server.admin_token()) as admin:
        for n in range(3):
            made = admin.post(
                "/api/v1/addresses",
                json={
                    "code": f"LST-{n}",
                    "text_zh": f"列表路{3 - n}号",
                    "text_en": f"{3 - n} List Road",
                    "lon": lon + n * 1e-4,
                    "lat": lat,
                },
            )
            assert made.status_code in (201, 409), made.text
    with closing(live_server.console_client(username)) as client:
        page = client.get("/addresses", params={"q": "列表路", "sort": "-code"})
        assert re.findall(r'data-address="(LST-\d)"', page.text) == ["LST-2", "LST-1", "LST-0"]
        rows = _csv(
            client.get("/addresses", params={"q": "列表路", "sort": "text", "export": "csv"})
        )
        assert [r[0] for r in rows[1:]] == ["LST-2", "LST-1", "LST-0"]
        assert float(rows[1][2]) == pytest.approx(lon + 2e-4)


def test_every_audited_action_and_record_has_a_label() -> None:
    """The audit log names each action and kind of record in the reader's language: every
    ``action="..."`` and ``entity="..."`` the code records has a catalogue label
    (``audit.action.*``, ``audit.entity.*``: in web/locales, or the domain's locales)."""
    from pathlib import Path

    import fangkong
    from fangkong.core.config import LANGUAGES
    from fangkong.core.i18n import catalogue

    source = "".join(p.read_text("utf-8") for p in Path(fangkong.__file__).parent.rglob("*.py"))
    actions = set(re.findall(r'\baction="([a-z_]+)"', source))
    actions |= set(re.findall(r'\baction="[a-z_]+" if \w+ else "([a-z_]+)"', source))
    entities = set(re.findall(r'\bentity="([a-z_]+)"', source))
    assert {"login", "create", "export", "deactivate"} <= actions and "incident" in entities
    for language in LANGUAGES:
        keys = catalogue(language)
        missing = sorted(
            [f"audit.action.{a}" for a in actions if f"audit.action.{a}" not in keys]
            + [f"audit.entity.{e}" for e in entities if f"audit.entity.{e}" not in keys]
        )
        assert missing == [], (
            f"{language}: add these labels to src/fangkong/web/locales/ (or the domain's "
            f"locales), in zh-CN and en: {missing}"
        )


def test_the_supervision_board_charts_its_age_columns(live_server: LiveServer) -> None:
    username = _user(live_server, "lists_board", Role.STATION_OFFICER, "T-D1-S1")
    with closing(live_server.console_client(username)) as client:
        page = client.get("/cases/board")
    assert page.status_code == 200
    assert 'data-chart="stack" data-chart-table="board"' in page.text
    assert page.text.count("data-series") == 4
    assert "/static/vendor/echarts/echarts.min.js" in page.text
    assert re.search(r'data-value="\d+"', page.text)


def test_the_case_list_filters_sorts_and_exports_without_titles(live_server: LiveServer) -> None:
    with live_server.client(live_server.admin_token()) as admin:
        made = [
            admin.post(
                "/api/v1/cases",
                json={
                    "type": "hazard",
                    "title": f"王某家门口隐患{n}",
                    "area_code": IN_GRID,
                    "fields": {"finding_route": "on_foot", "category": "fire"},
                },
            )
            for n in range(3)
        ]
    ids = [m.json()["id"] for m in made if m.status_code == 201]
    assert len(ids) == 3, [m.text for m in made]
    username = _user(live_server, "lists_grid", Role.GRID_WORKER, IN_GRID)
    with closing(live_server.console_client(username)) as client:
        page = client.get("/cases", params={"type": "hazard", "sort": "number", "per_page": 200})
        shown = [int(i) for i in re.findall(r'<tr data-case="(\d+)"', page.text)]
        assert shown == sorted(shown) and set(ids) <= set(shown)
        assert "王某家门口隐患0" in page.text  # shown to readers in scope
        by_number = client.get("/cases", params={"q": f"HZ-{ids[1]:06d}"})
        assert re.findall(r'<tr data-case="(\d+)"', by_number.text) == [str(ids[1])]
        assert client.get("/cases", params={"q": f"MD-{ids[1]:06d}"}).text.count("data-case=") == 0
        rows = _csv(
            client.get("/cases", params={"type": "hazard", "sort": "-number", "export": "csv"})
        )
        numbers = [r[0] for r in rows[1:]]
        assert numbers == [f"HZ-{i:06d}" for i in sorted(shown, reverse=True)]
        # The title is free text in which people write names: never exported.
        assert "王某" not in "".join(",".join(r) for r in rows)
        assert client.get("/cases", params={"state": "nope"}).status_code == 422
