"""Planning II over HTTP: a hotspot analysis of seeded incidents, stored, listed, read in scope
and exported (GeoJSON, XLSX); bounds answered 422, never 5xx."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from conftest import LiveServer
from factories import grid_centre
from planning.planning_two_helpers import add_incidents

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday, far from other tests' incidents


def _seed(server: LiveServer) -> None:
    rng = np.random.default_rng(21)
    lon0, lat0 = grid_centre("T-D1-S2-B1-G2")
    with Session(server.engine) as session:
        lon = np.concatenate([rng.uniform(120.003, 120.157, 300), lon0 + rng.normal(0, 0.004, 300)])
        lat = np.concatenate([rng.uniform(30.003, 30.077, 300), lat0 + rng.normal(0, 0.004, 300)])
        lon, lat = np.clip(lon, 120.001, 120.159), np.clip(lat, 30.001, 30.079)
        times = [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 28, lon.size)]
        add_incidents(session, lon, lat, times)
        session.commit()


def test_hotspots_over_http(live_server: LiveServer, live_network: Path) -> None:
    _seed(live_server)
    period = {"start": T0.isoformat(), "end": (T0 + timedelta(days=28)).isoformat()}
    with live_server.client(live_server.admin_token()) as client:
        # the machine may be shared: the first analysis loads the compiled kernels
        client.timeout = httpx.Timeout(300)
        made = client.post(
            "/api/v1/planning/hotspots",
            json={**period, "resolution": 8, "permutations": 999, "seed": 3},
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["kind"] == "hotspot"
        result = body["result"]
        assert result["incidents"] == 600
        assert result["hot"] >= 1
        hot = [c for c in result["cells"] if c["class"] == "hot"]
        assert all(c["z"] > 0 for c in hot)
        assert result["segments"] and result["segments"][0]["per_km"] > 0
        # Gi* over road segments: the busiest stretch of the cluster reads hot
        assert result["segment_gi"]["snapped"] == 600 and result["segment_gi"]["hot"] >= 1
        hot_segments = [s for s in result["segments"] if s["class"] == "hot"]
        assert hot_segments and all(s["z"] > 0 for s in hot_segments)
        assert result["surface"]["features"]
        listed = client.get("/api/v1/planning/analyses", params={"kind": "hotspot"})
        assert listed.status_code == 200
        assert body["id"] in [a["id"] for a in listed.json()]
        assert all(a["result"] is None for a in listed.json())
        again = client.get(f"/api/v1/planning/analyses/{body['id']}")
        assert again.json()["result"]["cells"] == result["cells"]
        geo = client.get(f"/api/v1/planning/analyses/{body['id']}/geojson")
        assert geo.status_code == 200
        kinds = {f["properties"]["kind"] for f in geo.json()["features"]}
        assert kinds == {"cell", "segment", "density"}
        lines = [f for f in geo.json()["features"] if f["properties"]["kind"] == "segment"]
        assert {f["properties"]["class"] for f in lines} >= {"hot"}
        assert all(f["geometry"]["type"] == "LineString" for f in lines)
        book = client.get(f"/api/v1/planning/analyses/{body['id']}/xlsx")
        assert book.status_code == 200
        workbook = load_workbook(io.BytesIO(book.content))
        assert workbook.sheetnames[:3] == ["概要", "网格单元", "路段"]  # the default language
        cells = list(workbook["网格单元"].iter_rows(values_only=True))
        assert len(cells) == len(result["cells"]) + 1
        segments = list(workbook["路段"].iter_rows(values_only=True))
        assert len(segments) == len(result["segments"]) + 1
        assert segments[0][4:8] == ("z", "p_norm", "p_sim", "类别")
        assert sum(1 for r in segments[1:] if r[7] == "hot") == len(hot_segments)
        for bad in (
            {"resolution": 7},
            {"hours": [168]},
            {"permutations": -1},
            {"permutations": 10_000},
            {"alpha": 0},
            {"start": "2024-01-01T00:00:00"},  # no zone
            {"categories": ["x" * 33]},
            {"bandwidth_m": True},
        ):
            answer = client.post("/api/v1/planning/hotspots", json=bad)
            assert answer.status_code == 422, (bad, answer.text)
        refused = client.post(
            "/api/v1/planning/hotspots",
            json={**period, "compare_start": period["start"]},
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "planning.hotspot_compare_period"
        assert client.get(f"/api/v1/planning/analyses/{2**31 - 1}").status_code == 404
        for past in (0, 2**31, 2**63 - 1):
            assert client.get(f"/api/v1/planning/analyses/{past}").status_code == 422


def test_deployment_over_http(live_server: LiveServer, live_network: Path) -> None:
    from fangkong.core.audit import SYSTEM
    from fangkong.dispatch import units as dispatch_units
    from fangkong.dispatch.models import PostKind, Unit, UnitStatus, UnitType
    from fangkong.planning.deployment import week_start

    zone = live_server.settings.zone
    end = datetime(2024, 6, 3, tzinfo=UTC)
    start = week_start(end, zone) - timedelta(weeks=4)
    rng = np.random.default_rng(9)
    lon0, lat0 = grid_centre("T-D2-S1-B1-G1")
    with Session(live_server.engine) as session:
        from sqlalchemy import select

        from fangkong.areas.models import Area

        beat = session.scalars(select(Area).where(Area.code == "T-D2-S1-B1")).one()
        post = dispatch_units.create_post(
            session, code="DEPL1", name="post", kind=PostKind.POLICE_POST, lon=lon0, lat=lat0,
            actor=SYSTEM,
        )  # fmt: skip
        dispatch_units.create_unit(
            session, call_sign="DEPL-U1", unit_type=UnitType.CAR, home_area=beat,
            actor=SYSTEM, home_post=post,
        )  # fmt: skip
        hours = rng.integers(0, 24 * 28, 300)
        times = [start + timedelta(hours=int(h), minutes=10) for h in hours]
        add_incidents(
            session,
            np.clip(lon0 + rng.normal(0, 0.004, 300), 120.081, 120.159),
            np.clip(lat0 + rng.normal(0, 0.004, 300), 30.001, 30.039),
            times,
        )
        session.commit()
        # today: the station's units in service every hour (other tests on this server add theirs)
        station = session.scalars(select(Area).where(Area.code == "T-D2-S1")).one()
        in_service = len(
            session.scalars(
                select(Unit.id).where(
                    Unit.home_area_path.startswith(station.path, autoescape=True),
                    Unit.status != UnitStatus.OUT_OF_SERVICE,
                )
            ).all()
        )
    with live_server.client(live_server.admin_token()) as client:
        client.timeout = httpx.Timeout(300)
        body = {"area_code": "T-D2-S1", "weeks": 4, "end": end.isoformat(), "sim_hours": 10}
        made = client.post("/api/v1/planning/deployment", json=body)
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        (row,) = result["stations"]
        assert row["code"] == "T-D2-S1" and row["incidents"] == 300
        assert in_service >= 1 and row["today"] == [in_service] * 168
        assert result["holdout"]["weeks_held"] == 2
        geo = client.get(f"/api/v1/planning/analyses/{made.json()['id']}/geojson")
        assert geo.status_code == 200
        (station,) = geo.json()["features"]
        assert station["properties"]["code"] == "T-D2-S1"
        assert station["properties"]["unit_hours_proposed"] == row["unit_hours_proposed"]
        assert station["geometry"]["type"] in ("Polygon", "MultiPolygon")
        adopted = client.post(f"/api/v1/planning/analyses/{made.json()['id']}/adopt")
        assert adopted.status_code == 200, adopted.text
        assert adopted.json()["adopted"] == 1
        again = client.post("/api/v1/planning/deployment", json=body).json()["result"]
        assert again["stations"][0]["today"] == row["proposed"]
        book = client.get(f"/api/v1/planning/analyses/{made.json()['id']}/xlsx")
        assert book.status_code == 200
        assert len(load_workbook(io.BytesIO(book.content)).sheetnames) == 2
        for bad in ({"weeks": 1}, {"target": 1}, {"sim_hours": 0}, {"max_units": 1000}):
            assert client.post("/api/v1/planning/deployment", json=bad).status_code == 422


def test_beats_over_http(live_server: LiveServer, live_network: Path) -> None:
    with live_server.client(live_server.admin_token()) as client:
        client.timeout = httpx.Timeout(300)
        made = client.post(
            "/api/v1/planning/beats", json={"area_code": "T-D2-S2", "k": 2, "time_limit_s": 2}
        )
        assert made.status_code == 201, made.text
        result = made.json()["result"]
        assert result["station"] == "T-D2-S2" and result["contiguous"]
        assert len(result["geojson"]["features"]) == 2
        geo = client.get(f"/api/v1/planning/analyses/{made.json()['id']}/geojson").json()
        assert {f["properties"]["level"] for f in geo["features"]} == {"beat"}
        assert {f["properties"]["parent_code"] for f in geo["features"]} == {"T-D2-S2"}
        # adopting rewrites the area tree: tests/planning/test_beats_adoption.py, on a server
        # of its own (this one is shared)
        book = client.get(f"/api/v1/planning/analyses/{made.json()['id']}/xlsx")
        assert "巡区" in load_workbook(io.BytesIO(book.content)).sheetnames
        # a district's beats: drawn and exported, their adoption refused (nothing changed)
        district = client.post(
            "/api/v1/planning/beats", json={"area_code": "T-D2", "k": 3, "time_limit_s": 2}
        )
        assert district.status_code == 201, district.text
        assert district.json()["result"]["level"] == "district"
        refused = client.post(f"/api/v1/planning/analyses/{district.json()['id']}/adopt")
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "planning.beats_district"
        again = client.get(f"/api/v1/planning/analyses/{district.json()['id']}")
        assert again.json()["accepted_at"] is None
        for bad in (
            {"area_code": "T-D2-S2", "k": 0},
            {"area_code": "T-D2-S2", "k": 5},  # 4 grids
            {"area_code": "T", "k": 2},  # neither a station nor a district
            {"area_code": "NOPE", "k": 2},
            {"k": 2},
        ):
            answer = client.post("/api/v1/planning/beats", json=bad)
            assert answer.status_code in (404, 422), (bad, answer.text)
