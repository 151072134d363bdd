"""The incident history over HTTP: the API's list and export and the console's page share one
table (filters, sort, pages); an export holds exactly the filtered, sorted view."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.areas.models import Area, StandardAddress
from fangkong.core import auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.models import AuditEvent, Role
from fangkong.core.security import FieldCipher
from fangkong.dispatch import service
from fangkong.dispatch.models import Incident, IncidentStatus, Priority, Source

#: The seeded incidents lie in March 2021 (Asia/Shanghai), a month no other test uses.
WINDOW = {"received_from": "2021-03-01T00:00:00+08:00", "received_to": "2021-04-01T00:00:00+08:00"}
DAYS = {"received_from": "2021-03-01", "received_to": "2021-03-31"}
START = datetime(2021, 3, 1, 1, 0, tzinfo=UTC)
GRIDS = ("T-D1-S1-B1-G1", "T-D1-S1-B1-G2", "T-D2-S2-B2-G2")
KINDS = (("criminal", "theft"), ("traffic", "collision"), ("public_order", "fight"))
ADDRESS = "HIS-ADDR-1"


@dataclass(frozen=True)
class Seeded:
    ids: list[int]
    at_address: int
    grid_of: dict[int, str]


@pytest.fixture(scope="module")
def seeded(live_server: LiveServer) -> Seeded:
    """Thirty incidents over March 2021 in three grids, of every priority and three kinds,
    some dispatched, on scene, closed or cancelled; one recorded at a standard address."""
    cipher = FieldCipher(live_server.settings.ensure_secret_key())
    actor = Actor(user_id=None, username="history", client="test")
    ids: list[int] = []
    grid_of: dict[int, str] = {}
    with Session(live_server.engine) as db:
        address = db.scalars(select(StandardAddress).where(StandardAddress.code == ADDRESS)).first()
        if address is None:
            lon, lat = grid_centre(GRIDS[0])
            area_service.import_addresses(
                db,
                rows=[
                    area_service.AddressRow(
                        code=ADDRESS,
                        text_zh="历史路9号",
                        text_en="9 History Road",
                        lon=lon + 2e-4,
                        lat=lat,
                    )
                ],
                actor=SYSTEM,
            )
            address = db.scalars(
                select(StandardAddress).where(StandardAddress.code == ADDRESS)
            ).one()
        existing = db.scalars(
            select(Incident.id).where(Incident.idempotency_key.startswith("history-"))
        ).all()
        if existing:
            pytest.fail("the history's incidents were seeded twice")
        priorities = itertools.cycle(Priority)
        kinds = itertools.cycle(KINDS)
        for n in range(30):
            grid = GRIDS[n % 3]
            lon, lat = grid_centre(grid)
            category, subtype = next(kinds)
            received = START + timedelta(hours=23 * n)
            lon += (n % 5) * 1e-5
            if n == 7:
                lon, lat = address.lon, address.lat
            incident, _ = service.create(
                db,
                key=f"history-{n}",
                data=service.IncidentIn(
                    category=category,
                    subtype=subtype,
                    priority=next(priorities),
                    source=Source.PATROL if n % 4 == 0 else Source.CALL,
                    lon=lon,
                    lat=lat,
                    description="history",
                    caller_contact="13800001234",
                ),
                actor=actor,
                now=received,
                cipher=cipher,
            )
            if n % 3 != 2:
                incident.status = IncidentStatus.DISPATCHED
                incident.dispatched_at = received + timedelta(seconds=40 + n)
            if n % 3 == 0:
                incident.status = IncidentStatus.CLOSED
                incident.on_scene_at = received + timedelta(seconds=200 + 10 * n)
                incident.closed_at = received + timedelta(hours=1)
            if n % 5 == 4:
                incident.status = IncidentStatus.CANCELLED
                incident.cancelled_at = received + timedelta(minutes=5)
            db.flush()
            ids.append(incident.id)
            grid_of[incident.id] = grid if n != 7 else GRIDS[0]
        db.commit()
    return Seeded(ids=ids, at_address=ids[7], grid_of=grid_of)


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


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client(live_server.admin_token()) as client:
        yield client


def _listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/incidents", params={**WINDOW, "limit": 500, **params})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == len(body["items"])
    return list(body["items"])


def _records(server: LiveServer, ids: list[int]) -> dict[int, Incident]:
    with Session(server.engine, expire_on_commit=False) as db:
        return {i.id: i for i in db.scalars(select(Incident).where(Incident.id.in_(ids)))}


def test_the_list_filters_every_incident_open_or_ended(
    live_server: LiveServer, seeded: Seeded, admin: httpx.Client
) -> None:
    records = _records(live_server, seeded.ids)
    everything = _listed(admin)
    assert [i["id"] for i in everything] == sorted(
        seeded.ids, key=lambda i: records[i].received_at, reverse=True
    )
    assert {i["status"] for i in everything} >= {"received", "dispatched", "closed", "cancelled"}

    def expect(**params: Any) -> set[int]:
        return {i["id"] for i in _listed(admin, **params)}

    assert expect(status="closed") == {i for i, r in records.items() if r.status == "closed"}
    ended = {i for i, r in records.items() if r.status in ("closed", "cancelled")}
    assert expect(open="false") == ended
    assert expect(open="true") == set(seeded.ids) - ended
    assert expect(priority="P1") == {i for i, r in records.items() if r.priority == Priority.P1}
    assert expect(category="traffic") == {i for i, r in records.items() if r.category == "traffic"}
    assert expect(source="patrol") == {i for i, r in records.items() if r.source == Source.PATROL}
    assert expect(area="T-D1-S1") == {
        i for i, g in seeded.grid_of.items() if g.startswith("T-D1-S1")
    }
    middle = {
        i
        for i, r in records.items()
        if datetime(2021, 3, 10, tzinfo=UTC) <= r.received_at < datetime(2021, 3, 20, tzinfo=UTC)
    }
    assert (
        expect(received_from="2021-03-10T00:00:00Z", received_to="2021-03-20T00:00:00Z") == middle
    )
    both = expect(priority="P2", status="dispatched", area="T-D1")
    assert both == {
        i
        for i, r in records.items()
        if r.priority == Priority.P2
        and r.status == "dispatched"
        and seeded.grid_of[i].startswith("T-D1")
    }


def test_the_search_finds_a_number_an_address_and_an_area(
    live_server: LiveServer, seeded: Seeded, admin: httpx.Client
) -> None:
    first = seeded.ids[0]
    assert [i["id"] for i in _listed(admin, q=f"#{first}")] == [first]
    assert [i["id"] for i in _listed(admin, q=str(first))] == [first]
    assert [i["id"] for i in _listed(admin, q="历史路")] == [seeded.at_address]
    assert [i["id"] for i in _listed(admin, q="history road")] == [seeded.at_address]
    assert [i["id"] for i in _listed(admin, q=ADDRESS.lower())] == [seeded.at_address]
    in_grid = {i for i, g in seeded.grid_of.items() if g == GRIDS[1]}
    assert {i["id"] for i in _listed(admin, q=GRIDS[1])} == in_grid
    # % and _ are matched as written, not as wildcards.
    assert _listed(admin, q="%") == []
    assert _listed(admin, q="T_D1") == []


def test_the_list_sorts_by_a_declared_column(
    live_server: LiveServer, seeded: Seeded, admin: httpx.Client
) -> None:
    records = _records(live_server, seeded.ids)
    by_priority = [i["id"] for i in _listed(admin, sort="priority")]
    assert by_priority == sorted(seeded.ids, key=lambda i: (records[i].priority.value, -i))
    oldest = [i["id"] for i in _listed(admin, sort="received_at")]
    assert oldest == sorted(seeded.ids, key=lambda i: records[i].received_at)
    # Arrival times: those without one last, ascending or descending.
    arrived = [i["id"] for i in _listed(admin, sort="-on_scene_at")]
    with_time = sorted(
        (i for i in seeded.ids if records[i].on_scene_at), key=lambda i: records[i].on_scene_at
    )
    assert arrived[: len(with_time)] == with_time[::-1]
    assert all(records[i].on_scene_at is None for i in arrived[len(with_time) :])
    by_area = [i["area_code"] for i in _listed(admin, sort="area")]
    assert by_area == sorted(by_area)
    page = admin.get(
        "/api/v1/incidents", params={**WINDOW, "sort": "received_at", "limit": 7, "offset": 7}
    ).json()
    assert page["total"] == 30 and [i["id"] for i in page["items"]] == oldest[7:14]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "description"}, "sort"),
        ({"sort": "-caller_contact"}, "sort"),
        ({"category": "no-such-category"}, "category"),
        ({"q": "x" * 65}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"limit": 501}, "limit"),
        ({"received_from": "2021-03-01T00:00:00"}, "received_from"),
        ({"status": "gone"}, "status"),
    ],
)
def test_the_list_refuses_what_it_does_not_declare(
    admin: httpx.Client, params: dict[str, Any], field: str
) -> None:
    answer = admin.get("/api/v1/incidents", params=params)
    assert answer.status_code == 422, answer.text
    assert field in answer.text


def _csv_rows(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))


def _xlsx_rows(answer: httpx.Response) -> list[list[Any]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_exports_hold_exactly_the_filtered_sorted_view(
    live_server: LiveServer, seeded: Seeded, admin: httpx.Client
) -> None:
    params = {"open": "false", "area": "T-D1", "sort": "priority"}
    listed = _listed(admin, **params)
    assert len(listed) >= 3
    answer = admin.get("/api/v1/incidents/export", params={**WINDOW, **params, "format": "csv"})
    rows = _csv_rows(answer)
    header, body = rows[0], rows[1:]
    assert header[:3] == ["No.", "Received", "Priority"] or header[0] == "警情编号"
    assert [int(r[0]) for r in body] == [i["id"] for i in listed]
    assert [r[2] for r in body] == [i["priority"] for i in listed]
    assert [r[header.index(header[6])] for r in body] == [i["area_code"] for i in listed]
    # Nothing personal: no caller's contact, no description.
    assert "13800001234" not in answer.text and "138" not in "".join(header)
    assert "history" not in answer.text.replace("history-", "")

    workbook = _xlsx_rows(
        admin.get("/api/v1/incidents/export", params={**WINDOW, **params, "format": "xlsx"})
    )
    assert workbook[0] == header
    assert [r[0] for r in workbook[1:]] == [i["id"] for i in listed]
    assert [r[2] for r in workbook[1:]] == [i["priority"] for i in listed]
    received = workbook[1][1]
    assert isinstance(received, datetime)
    first = next(i for i in listed if i["id"] == workbook[1][0])
    local = datetime.fromisoformat(first["received_at"]).astimezone(live_server.settings.zone)
    assert received == local.replace(tzinfo=None, microsecond=0)


def test_an_export_is_scoped_and_audited(live_server: LiveServer, seeded: Seeded) -> None:
    station = _user(live_server, "history_station", Role.STATION_OFFICER, "T-D1-S1")
    with live_server.client(live_server.token(station)) as client:
        rows = _csv_rows(client.get("/api/v1/incidents/export", params=WINDOW))
        assert {int(r[0]) for r in rows[1:]} == {
            i for i, g in seeded.grid_of.items() if g.startswith("T-D1-S1")
        }
        outside = client.get("/api/v1/incidents/export", params={**WINDOW, "area": "T-D2"})
        assert outside.status_code == 404
        assert client.get("/api/v1/incidents", params={"area": "T-D2"}).status_code == 404
        bad = client.get("/api/v1/incidents/export", params={"format": "pdf"})
        assert bad.status_code == 422
    with Session(live_server.engine) as db:
        event = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "export", AuditEvent.username == station)
            .order_by(AuditEvent.id.desc())
        ).first()
        area = db.scalars(select(Area).where(Area.code == "T-D1-S1")).one()
    assert event is not None and event.entity == "incidents"
    assert event.detail is not None and event.detail["format"] == "csv"
    assert event.area_path == area.path


def test_the_console_page_filters_sorts_pages_and_exports(
    live_server: LiveServer, seeded: Seeded
) -> None:
    username = _user(live_server, "history_commander", Role.COMMANDER, "T")
    records = _records(live_server, seeded.ids)
    with closing(live_server.console_client(username)) as client:
        page = client.get(
            "/incidents/history", params={**DAYS, "sort": "received_at", "per_page": 25}
        )
        assert page.status_code == 200
        shown = [int(i) for i in _ids(page.text)]
        assert shown == sorted(seeded.ids, key=lambda i: records[i].received_at)[:25]
        assert "第 1 / 2 页" in page.text and "共 30 条" in page.text
        second = client.get(
            "/incidents/history", params={**DAYS, "sort": "received_at", "per_page": 25, "page": 2}
        )
        assert [int(i) for i in _ids(second.text)] == sorted(
            seeded.ids, key=lambda i: records[i].received_at
        )[25:]
        # The description and the caller's contact are not shown in the list.
        assert "13800001234" not in page.text and "138******34" not in page.text
        filtered = client.get("/incidents/history", params={**DAYS, "priority": "P1"})
        assert {int(i) for i in _ids(filtered.text)} == {
            i for i, r in records.items() if r.priority == Priority.P1
        }
        exported = client.get(
            "/incidents/history", params={**DAYS, "priority": "P1", "export": "csv"}
        )
        assert [int(r[0]) for r in _csv_rows(exported)[1:]] == [int(i) for i in _ids(filtered.text)]
        refused = client.get("/incidents/history", params={"sort": "caller_contact"})
        assert refused.status_code == 422 and 'role="alert"' in refused.text
        assert "caller_contact" in refused.text
        for params in ({"per_page": "0"}, {"page": "-1"}, {"received_from": "2021-02-30"}):
            assert client.get("/incidents/history", params=params).status_code == 422, params
        outside = client.get("/incidents/history", params={"area": "NOPE"})
        assert outside.status_code == 404 and 'role="alert"' in outside.text
        client.cookies.set("fangkong_lang", "en")
        english = client.get("/incidents/history", params=DAYS)
        assert "Incident history" in english.text and "Received from" in english.text


def _ids(html: str) -> list[str]:
    import re

    return re.findall(r'<tr data-incident="(\d+)"', html)
