"""Adopting a beats analysis over HTTP writes the beats into the area tree (issue 21): the
station's beat areas are replaced, its grids and every record in them move under the new
beats, the fusion check passes. Its own server (the tree changes), on PostgreSQL as the
application's role under row-level security, by a commander of the district."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from conftest import TEST_PASSWORD, LiveServer, activate_street_grid, running_server
from dispatch.dispatch_helpers import area, incident_in, new_incident
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.areas.models import AreaLevel
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.core.scoping import Scope
from fangkong.devices import register as device_register
from fangkong.devices.models import Device
from fangkong.devices.schemas import DeviceIn
from fangkong.dispatch.models import Incident

STATION = "T-D2-S2"
GRID = "T-D2-S2-B1-G1"
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(
        backend,
        tmp_path_factory.mktemp("beats-adopt"),
        "_beats_adopt",
        app_role=backend == "postgresql",
    ) as live:
        activate_street_grid(live)
        with Session(live.engine) as db:
            auth.create(
                db, username="b_commander", display_name="b_commander", password=TEST_PASSWORD,
                role=Role.COMMANDER, area_codes=["T-D2"], actor=SYSTEM,
            )  # fmt: skip
            new_incident(db, "adopt-1", incident_in(GRID), now=NOW)
            cases.create(
                db, case_type="hazard", title="隐患", area=area(db, GRID),
                fields={"finding_route": "data", "category": "traffic"}, user=None,
                actor=SYSTEM, now=NOW, calendar=CALENDAR,
            )  # fmt: skip
            lon, lat = grid_centre(GRID)
            device_register.create(
                db,
                data=DeviceIn.model_validate(
                    {"code": "ADOPT-CAM", "device_type": "camera", "owner_kind": "public",
                     "networked": True, "lon": lon, "lat": lat, "zone_type": "central_urban"}
                ),
                actor=SYSTEM, now=NOW, scope=None,
            )  # fmt: skip
            db.commit()
        yield live


def _count(db: Session, scope: Scope, model: type[Incident] | type[Case] | type[Device]) -> int:
    query = select(func.count()).select_from(model).where(scope.clause(model.area_path))
    return int(db.scalar(query) or 0)


def test_adopted_beats_are_written_into_the_tree(server: LiveServer) -> None:
    with Session(server.engine) as db:
        old_beat = area(db, "T-D2-S2-B1")
        old_scope = Scope(paths=(old_beat.path,))
        assert [_count(db, old_scope, m) for m in (Incident, Case, Device)] == [1, 1, 1]
    with server.client(server.token("b_commander")) as client:
        client.timeout = httpx.Timeout(300)
        made = client.post(
            "/api/v1/planning/beats", json={"area_code": STATION, "k": 2, "time_limit_s": 2}
        )
        assert made.status_code == 201, made.text
        features = made.json()["result"]["geojson"]["features"]
        adopted = client.post(f"/api/v1/planning/analyses/{made.json()['id']}/adopt")
        assert adopted.status_code == 200, adopted.text
        body = adopted.json()
        assert body["adopted"] == 2 and body["detail"]["fusion"] == "passed"
        moved = body["detail"]["regrouped"]
        assert moved["created"] == [f["properties"]["code"] for f in features]
        assert moved["removed"] == ["T-D2-S2-B1", "T-D2-S2-B2"]
        assert moved["moved_grids"] == 4
        assert moved["rewritten"]["incident.area_path"] == 1
        assert moved["rewritten"]["case_record.area_path"] == 1
        assert moved["rewritten"]["device.area_path"] == 1
        # the tree as the API reads it: the new beats under the station, the old ones gone
        beats = client.get("/api/v1/areas", params={"level": "beat", "parent_code": STATION})
        assert beats.status_code == 200, beats.text
        assert sorted(a["code"] for a in beats.json()) == sorted(moved["created"])
    with Session(server.engine) as db:
        grid = area(db, GRID)
        beat = next(f for f in features if GRID in f["properties"]["grids"])
        new_beat = area(db, beat["properties"]["code"])
        assert new_beat.level is AreaLevel.BEAT and grid.parent_id == new_beat.id
        new_scope = Scope(paths=(new_beat.path,))
        assert [_count(db, new_scope, m) for m in (Incident, Case, Device)] == [1, 1, 1]
        assert [_count(db, old_scope, m) for m in (Incident, Case, Device)] == [0, 0, 0]
        assert area_service.get_by_code(db, code="T-D2-S2-B1") is None
        report = area_service.fusion_check(db, scope=Scope(paths=("/",)))
        assert report.violations == []
