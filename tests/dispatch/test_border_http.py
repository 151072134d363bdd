"""End to end (issue 23): in a province deployment the recommendation over HTTP ranks units on
the incident's county network, across the border once its cross-border graph is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import box
from sqlalchemy.orm import Session

from conftest import running_server
from dispatch.dispatch_helpers import ACTOR, CIPHER, T0, area, incident_in
from factories import grid_centre
from fangkong.dispatch import service
from fangkong.dispatch.models import UnitType
from fangkong.network.border import build_border_network
from network.border_helpers import INCIDENT, U1, U2, WEST_BOX, WEST_COUNTY, write_counties


def test_the_recommendation_over_http_takes_the_cross_border_graph(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp(f"border-http-{backend}")
    with running_server(backend, tmp, "_border") as server:
        data_dir = server.settings.data_dir
        write_counties(data_dir, Path(tmp) / "sources")
        centre = grid_centre("T-D1-S1-B1-G1")
        offset = (INCIDENT[0] - centre[0], INCIDENT[1] - centre[1])
        with Session(server.engine) as db:
            for call_sign, where in (("HB-U1", U1), ("HB-U2", U2)):
                unit = service.create_unit(
                    db, call_sign=call_sign, unit_type=UnitType.CAR,
                    home_area=area(db, WEST_COUNTY), actor=ACTOR,
                )  # fmt: skip
                service.report_position(db, unit=unit, lon=where[0], lat=where[1], now=T0)
            incident, _ = service.create(
                db, key="border-http", data=incident_in(offset=offset), actor=ACTOR, now=T0,
                cipher=CIPHER,
            )  # fmt: skip
            db.commit()
            incident_id = incident.id
        with server.client(server.admin_token()) as client:

            def ranked() -> list[str]:
                answer = client.get(f"/api/v1/incidents/{incident_id}/recommendation")
                assert answer.status_code == 200, answer.text
                names = {u["id"]: u["call_sign"] for u in client.get("/api/v1/units").json()}
                return [names[c["unit_id"]] for c in answer.json()["candidates"]]

            assert ranked() == ["HB-U2", "HB-U1"]  # the county's own graph
            build_border_network(data_dir, WEST_COUNTY, polygon=box(*WEST_BOX), buffer_m=2000.0)
            assert ranked() == ["HB-U1", "HB-U2"]  # across the border
