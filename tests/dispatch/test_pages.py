"""The incident board in the console: rows with timers, recommendation and dispatch (htmx)."""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role


def _login(server: LiveServer, username: str, role: Role, area: str) -> httpx.Client:
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
    return server.console_client(username)


def test_board_recommend_and_dispatch(live_server: LiveServer, live_network: Path) -> None:
    lon, lat = grid_centre("T-D2-S1-B2-G2")
    with live_server.client(live_server.admin_token()) as admin:
        incident = admin.post(
            "/api/v1/incidents",
            headers={"Idempotency-Key": "page-1"},
            json={
                "category": "traffic",
                "subtype": "collision",
                "priority": "P3",
                "source": "call",
                "lon": lon,
                "lat": lat,
                "caller_contact": "13700001111",
            },
        ).json()
        unit = admin.post(
            "/api/v1/units",
            json={"call_sign": "PAGE-1", "type": "motorcycle", "home_area_code": "T-D2"},
        ).json()
        admin.post(f"/api/v1/units/{unit['id']}/position", json={"lon": lon + 0.003, "lat": lat})
    with closing(_login(live_server, "page_commander", Role.COMMANDER, "T")) as client:
        page = client.get("/incidents")
        assert page.status_code == 200
        assert f'data-incident="{incident["id"]}"' in page.text
        assert "137******11" in page.text and "13700001111" not in page.text
        assert "交通事故" in page.text and "data-since=" in page.text
        panel = client.get(f"/incidents/{incident['id']}/recommend")
        assert panel.status_code == 200 and f'data-unit="{unit["id"]}"' in panel.text
        assert "首选" in panel.text
        sent = client.post(
            f"/incidents/{incident['id']}/dispatch", data={"unit_id": str(unit["id"])}
        )
        assert sent.status_code == 200 and 'id="dispatched"' in sent.text
        assert sent.headers["HX-Trigger"] == "incidents-changed"
        again = client.post(
            f"/incidents/{incident['id']}/dispatch", data={"unit_id": str(unit["id"])}
        )
        assert "PAGE-1" in again.text and 'role="alert"' in again.text
        rows = client.get("/incidents/rows")
        assert "已派警" in rows.text
        del client.headers["X-CSRF-Token"]
        refused = client.post(
            f"/incidents/{incident['id']}/dispatch", data={"unit_id": str(unit["id"])}
        )
        assert refused.status_code == 403
    with closing(_login(live_server, "page_grid", Role.GRID_WORKER, "T")) as grid:
        assert grid.get("/incidents").status_code == 403


def test_kpi_page_shows_ring_shares_of_an_area_and_its_sub_areas(live_server: LiveServer) -> None:
    from datetime import UTC, datetime, timedelta

    from fangkong.core.security import FieldCipher
    from fangkong.dispatch import service
    from fangkong.dispatch.models import IncidentStatus, Priority, Source

    received = datetime(2025, 1, 10, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
    with Session(live_server.engine) as session:
        for n, (grid, travel) in enumerate((("T-D2-S2-B1-G1", 150), ("T-D2-S2-B2-G1", 400))):
            lon, lat = grid_centre(grid)
            data = service.IncidentIn(
                category="dispute",
                subtype="neighbour",
                priority=Priority.P3,
                source=Source.CALL,
                lon=lon,
                lat=lat,
            )
            incident, _ = service.create(
                session,
                key=f"kpi-page-{n}",
                data=data,
                actor=SYSTEM,
                now=received,
                cipher=FieldCipher("k" * 40),
            )
            incident.dispatched_at = received + timedelta(seconds=60)
            incident.on_scene_at = incident.dispatched_at + timedelta(seconds=travel)
            incident.status = IncidentStatus.ON_SCENE
        session.commit()
    with closing(_login(live_server, "kpi_officer", Role.STATION_OFFICER, "T-D2-S2")) as client:
        page = client.get(
            "/dispatch/kpis", params={"area": "T-D2-S2", "start": "2025-01-10", "end": "2025-01-10"}
        )
        assert page.status_code == 200, page.text
        summary = page.text[page.text.index('id="kpi-summary"') :]
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", summary[: summary.index("</table>")])
        # 2 incidents; dispatch-to-arrival 150 s and 400 s: 0% in 1 min, 50% in 3 and in 5.
        assert cells[:4] == ["2", "0.0%", "50.0%", "50.0%"]
        areas = page.text[page.text.index('id="kpi-areas"') :]
        assert 'data-area="T-D2-S2-B1"' in areas and 'data-area="T-D2-S2-B2"' in areas
        other_day = client.get(
            "/dispatch/kpis", params={"area": "T-D2-S2", "start": "2025-01-11", "end": "2025-01-11"}
        )
        assert "<td>0</td>" in other_day.text
        whole = client.get("/dispatch/kpis", params={"start": "2025-01-10", "end": "2025-01-10"})
        # No area chosen: the officer's station, broken down by its beat areas.
        assert 'data-area="T-D2-S2-B1"' in whole.text and 'data-area="T-D2-S2"' not in whole.text
        backwards = client.get(
            "/dispatch/kpis", params={"start": "2025-01-11", "end": "2025-01-10"}
        )
        assert backwards.status_code == 422 and "时段的结束日期不能早于开始日期" in backwards.text
        outside = client.get("/dispatch/kpis", params={"area": "T-D1-S1"})
        assert outside.status_code == 422 and "T-D1-S1" in outside.text
