"""The replay of a recorded day: the simulation by hand, the service on the street grid (SQLite
and PostgreSQL), the command line end to end and the API and console page over HTTP."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import TEST_PASSWORD, LiveServer
from dispatch.dispatch_helpers import ACTOR, CIPHER, area, incident_in, scope_of
from factories import county_geojson, grid_centre, street_grid_geojson
from fangkong.areas import service as area_service
from fangkong.cli import app
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.db import make_engine
from fangkong.core.errors import InvalidInput, NotFound
from fangkong.core.migrate import upgrade
from fangkong.core.models import AuditEvent, Role
from fangkong.core.scoping import Scope
from fangkong.dispatch import kpis, replay, service
from fangkong.dispatch.models import (
    Incident,
    IncidentStatus,
    Post,
    PostKind,
    Priority,
    ReplayRun,
    Unit,
    UnitStatus,
    UnitType,
)
from fangkong.http.deps import LANGUAGE_COOKIE
from fangkong.network import service as network_service
from fangkong.network.profile import DEFAULT_PROFILE
from fangkong.network.service import Network
from fangkong.network.store import import_and_activate

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2025, 3, 10)
NINE = datetime(2025, 3, 10, 9, 0, tzinfo=ZONE).astimezone(UTC)

# --- the simulation by hand ------------------------------------------------------------------


def test_one_unit_two_calls_the_second_waits() -> None:
    # The unit needs 100 s to either scene and 100 s back; each call is dispatched 30 s after
    # it comes in and takes 600 s on scene.
    out = np.array([[100.0, 100.0]])
    sim = replay.simulate(
        received_s=[0.0, 60.0],
        delay_s=[30.0, 30.0],
        on_scene_s=[600.0, 600.0],
        wanted=[1, 1],
        out_s=out,
        unit_origin=[0],
    )
    # First: dispatched at 30, on scene at 130, cleared at 730, back home at 830.
    assert sim.dispatch_s.tolist() == [30.0, 830.0]
    assert sim.travel_s.tolist() == [100.0, 100.0]
    assert sim.units == [[0], [0]]


def test_the_second_call_goes_to_the_farther_free_unit() -> None:
    out = np.array([[50.0, 50.0], [200.0, 200.0]])  # origin 0 near, origin 1 far
    sim = replay.simulate(
        received_s=[0.0, 60.0],
        delay_s=[30.0, 30.0],
        on_scene_s=[600.0, 600.0],
        wanted=[1, 1],
        out_s=out,
        unit_origin=[0, 1],
    )
    assert sim.units == [[0], [1]]
    assert sim.dispatch_s.tolist() == [30.0, 90.0]
    assert sim.travel_s.tolist() == [50.0, 200.0]


def test_p1_takes_reinforcements_and_they_stay_until_cleared() -> None:
    out = np.array([[30.0, 30.0], [90.0, 40.0], [400.0, 400.0]])
    back = np.array([[30.0, 90.0, 400.0], [30.0, 40.0, 400.0]])
    sim = replay.simulate(
        received_s=[0.0, 100.0],
        delay_s=[0.0, 0.0],
        on_scene_s=[20.0, 10.0],
        wanted=[3, 1],
        out_s=out,
        back_s=back,
        unit_origin=[0, 1, 2],
    )
    assert sim.units[0] == [0, 1, 2] and sim.unit_travel_s[0] == [30.0, 90.0, 400.0]
    assert sim.travel_s[0] == 30.0
    # Cleared at 50: unit 0 home at 80; unit 1 arrives at 90 (after clearance), home at 180;
    # unit 2 arrives at 400, home at 800. At 100 only unit 0 is free.
    assert sim.units[1] == [0] and sim.dispatch_s[1] == 100.0


def test_unreachable_and_too_long_waits_get_no_unit() -> None:
    out = np.array([[math.inf, 10.0, 10.0]])
    sim = replay.simulate(
        received_s=[0.0, 0.0, 1.0],
        delay_s=[0.0, 0.0, 0.0],
        on_scene_s=[0.0, 5000.0, 0.0],
        wanted=[1, 1, 1],
        out_s=out,
        unit_origin=[0],
        max_wait_s=3600.0,
    )
    assert sim.no_unit.tolist() == [True, False, True]
    no_units = replay.simulate(
        received_s=[0.0],
        delay_s=[0.0],
        on_scene_s=[0.0],
        wanted=[1],
        out_s=np.zeros((0, 1)),
        unit_origin=[],
    )
    assert no_units.no_unit.tolist() == [True]


# --- the service on the street grid -----------------------------------------------------------


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    data_dir = tmp_path_factory.mktemp("replay-network")
    layer = data_dir / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(data_dir, layer, DEFAULT_PROFILE, class_field="class")
    return network_service.current(Path(data_dir))


def _post(db: Session, code: str, grid: str) -> Post:
    lon, lat = grid_centre(grid)
    return service.create_post(
        db, code=code, name=f"post {code}", kind=PostKind.STREET_POST, lon=lon, lat=lat, actor=ACTOR
    )


def _recorded(
    db: Session,
    key: str,
    grid: str,
    received: datetime,
    *,
    delay_s: float = 60,
    travel_s: float = 240,
    on_scene_s: float = 1200,
    offset: tuple[float, float] = (0.0, 0.0),
    priority: Priority = Priority.P2,
) -> Incident:
    """An incident with a recorded lifecycle (history: the stamps are set directly)."""
    incident, _ = service.create(
        db,
        key=key,
        data=incident_in(grid, offset=offset, priority=priority, contact=None),
        actor=ACTOR,
        now=received,
        cipher=CIPHER,
    )
    incident.dispatched_at = received + timedelta(seconds=delay_s)
    incident.en_route_at = incident.dispatched_at
    incident.on_scene_at = incident.dispatched_at + timedelta(seconds=travel_s)
    incident.cleared_at = incident.on_scene_at + timedelta(seconds=on_scene_s)
    incident.closed_at = incident.cleared_at
    incident.status = IncidentStatus.CLOSED
    db.flush()
    return incident


def _time(network: Network, a: tuple[float, float], b: tuple[float, float]) -> float:
    return network_service.travel_times(network, source=a, targets=[b])[0] or math.inf


def test_replay_one_unit_the_second_incident_waits(db: Session, network: Network) -> None:
    post = _post(db, "RP-1", "T-D1-S1-B1-G1")
    service.create_unit(
        db,
        call_sign="RP-U1",
        unit_type=UnitType.CAR,
        home_area=area(db, "T-D1-S1"),
        actor=ACTOR,
        home_post=post,
    )
    first = _recorded(db, "rp-a", "T-D1-S1-B1-G1", NINE, offset=(0.004, 0.0))
    second = _recorded(db, "rp-b", "T-D1-S1-B2-G1", NINE + timedelta(minutes=2), travel_s=600)
    scope = scope_of(db, "T")
    run = replay.replay_day(db, network=network, day=DAY, zone=ZONE, scope=scope, actor=ACTOR)
    report = replay.report_of(run)
    home = (post.lon, post.lat)
    out_a, back_a = (
        _time(network, home, (first.lon, first.lat)),
        _time(network, (first.lon, first.lat), home),
    )
    out_b = _time(network, home, (second.lon, second.lat))
    rows = {r["incident_id"]: r for r in report["rows"]}
    assert rows[first.id]["units"] == ["RP-U1"] and rows[first.id]["waited_s"] == 0
    assert rows[first.id]["replay_dispatch_to_arrival_s"] == pytest.approx(out_a, abs=0.1)
    # The unit is back at its post 60 + out_a + 1200 + back_a s after nine; the second call
    # was ready for dispatch at 2 min + 60 s.
    free_at = 60 + out_a + 1200 + back_a
    assert rows[second.id]["waited_s"] == pytest.approx(free_at - 180, abs=0.1)
    assert rows[second.id]["replay_call_to_arrival_s"] == pytest.approx(
        free_at - 120 + out_b, abs=0.1
    )
    assert report["waited"] == 1 and report["no_unit"] == [] and report["units"] == 1
    # The recorded side is kpis.area_kpis of the day: 240 s and 600 s of travel.
    assert report["recorded"]["dispatch_to_arrival"] == {"count": 2, "p50_s": 240.0, "p90_s": 600.0}
    assert report["recorded"]["ring_share"] == {"1min": 0.0, "3min": 0.0, "5min": 0.5}
    replayed = sorted([out_a, out_b])
    assert report["replay"]["ring_share"] == kpis.ring_shares(replayed)
    assert report["replay"]["by_category"] == {"criminal": 2}
    # Filed under the deepest area holding both incidents.
    assert run.day == "2025-03-10" and run.area_path == area(db, "T-D1-S1").path
    stored = db.get(ReplayRun, run.id)
    assert stored is not None and json.loads(stored.result)["replayed"] == 2
    assert db.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == "dispatch_replay", AuditEvent.entity_id == str(run.id)
        )
    ).one()


def test_replay_sends_the_farther_unit_when_the_near_one_is_busy(
    db: Session, network: Network
) -> None:
    post = _post(db, "RP-2", "T-D1-S1-B1-G1")
    service.create_unit(
        db,
        call_sign="RP-NEAR",
        unit_type=UnitType.CAR,
        home_area=area(db, "T-D1-S1"),
        actor=ACTOR,
        home_post=post,
    )
    far = service.create_unit(
        db, call_sign="RP-FAR", unit_type=UnitType.CAR, home_area=area(db, "T-D2"), actor=ACTOR
    )
    far_at = grid_centre("T-D2-S2-B2-G2")
    service.report_position(db, unit=far, lon=far_at[0], lat=far_at[1], now=NINE)
    service.create_unit(
        db, call_sign="RP-OFF", unit_type=UnitType.CAR, home_area=area(db, "T"), actor=ACTOR
    )  # no post, no position
    broken = service.create_unit(
        db,
        call_sign="RP-OOS",
        unit_type=UnitType.CAR,
        home_area=area(db, "T"),
        actor=ACTOR,
        home_post=post,
    )
    broken.status = UnitStatus.OUT_OF_SERVICE
    first = _recorded(db, "rp-c", "T-D1-S1-B1-G1", NINE)
    second = _recorded(db, "rp-d", "T-D1-S1-B1-G2", NINE + timedelta(minutes=1))
    run = replay.replay_day(
        db,
        network=network,
        day=DAY,
        zone=ZONE,
        scope=scope_of(db, "T"),
        area=area(db, "T-D1-S1"),
        actor=ACTOR,
    )
    report = replay.report_of(run)
    rows = {r["incident_id"]: r for r in report["rows"]}
    assert rows[first.id]["units"] == ["RP-NEAR"]
    assert rows[second.id]["units"] == ["RP-FAR"] and rows[second.id]["waited_s"] == 0
    expected = _time(network, far_at, (second.lon, second.lat))
    assert rows[second.id]["replay_dispatch_to_arrival_s"] == pytest.approx(expected, abs=0.1)
    assert report["units"] == 2 and report["units_without_position"] == 1
    assert report["area_code"] == "T-D1-S1" and run.area_path == area(db, "T-D1-S1").path


def test_p1_reinforcements_merged_and_cancelled(db: Session, network: Network) -> None:
    post = _post(db, "RP-3", "T-D2-S1-B1-G1")
    for n in range(3):
        service.create_unit(
            db,
            call_sign=f"RP-P{n}",
            unit_type=UnitType.CAR,
            home_area=area(db, "T-D2"),
            actor=ACTOR,
            home_post=post,
        )
    urgent = _recorded(db, "rp-p1", "T-D2-S1-B1-G2", NINE, priority=Priority.P1)
    waiting, _ = service.create(
        db,
        key="rp-open",
        data=incident_in("T-D2-S1-B2-G1"),
        actor=ACTOR,
        now=NINE + timedelta(hours=3),
        cipher=CIPHER,
    )
    merged, _ = service.create(
        db, key="rp-merged", data=incident_in("T-D2-S1-B1-G2"), actor=ACTOR, now=NINE, cipher=CIPHER
    )
    service.transition(
        db,
        incident=merged,
        to=IncidentStatus.MERGED,
        merged_into=waiting,
        actor=ACTOR,
        now=NINE + timedelta(seconds=5),
    )
    dropped, _ = service.create(
        db,
        key="rp-dropped",
        data=incident_in("T-D2-S1-B1-G2"),
        actor=ACTOR,
        now=NINE,
        cipher=CIPHER,
    )
    service.transition(
        db,
        incident=dropped,
        to=IncidentStatus.CANCELLED,
        actor=ACTOR,
        now=NINE + timedelta(seconds=5),
    )
    run = replay.replay_day(
        db, network=network, day=DAY, zone=ZONE, scope=scope_of(db, "T-D2"), actor=ACTOR
    )
    report = replay.report_of(run)
    rows = {r["incident_id"]: r for r in report["rows"]}
    assert len(rows[urgent.id]["units"]) == 3
    # Never dispatched and still open: replayed with the default call-to-dispatch delay.
    assert rows[waiting.id]["replay_call_to_arrival_s"] == pytest.approx(
        replay.DEFAULT_CALL_TO_DISPATCH_S + rows[waiting.id]["replay_dispatch_to_arrival_s"]
    )
    assert report["replayed"] == 2 and report["left_out_merged"] == 1
    assert report["left_out_cancelled"] == 1 and report["recorded"]["incidents"] == 4


def test_errors_and_scoping(db: Session, network: Network) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DD") as bad:
        replay.parse_day("2025-02-30")
    assert bad.value.field == "day"
    with pytest.raises(NotFound, match="no incidents were received on 2025-03-11"):
        replay.replay_day(
            db,
            network=network,
            day=date(2025, 3, 11),
            zone=ZONE,
            scope=scope_of(db, "T"),
            actor=ACTOR,
        )
    _recorded(db, "rp-e", "T-D1-S2-B1-G1", NINE)
    with pytest.raises(NotFound, match="outside your areas"):
        replay.replay_day(
            db,
            network=network,
            day=DAY,
            zone=ZONE,
            scope=scope_of(db, "T-D2"),
            area=area(db, "T-D1"),
            actor=ACTOR,
        )
    # A day is local: 00:30 in Shanghai on the 10th is still the 9th in UTC.
    _recorded(db, "rp-f", "T-D1-S2-B1-G1", datetime(2025, 3, 10, 0, 30, tzinfo=ZONE))
    run = replay.replay_day(
        db, network=network, day=DAY, zone=ZONE, scope=scope_of(db, "T-D1-S2"), actor=ACTOR
    )
    assert replay.report_of(run)["replayed"] == 2 and replay.report_of(run)["no_unit"]
    assert [r.id for r in replay.get_runs(db, scope=scope_of(db, "T-D1"))] == [run.id]
    assert replay.get_runs(db, scope=scope_of(db, "T-D2")) == []
    with pytest.raises(NotFound):
        replay.get_run_or_raise(db, run_id=run.id, scope=scope_of(db, "T-D2"))
    two = Scope(paths=(area(db, "T-D1-S1").path, area(db, "T-D1-S2").path))
    assert replay._run_path(two, None) == area(db, "T-D1").path


def test_format_helpers() -> None:
    assert replay.format_value("share", 0.625) == "62.5 %"
    assert replay.format_value("seconds", 185.4) == "3:05"
    assert replay.format_value("count", None) == "–"


# --- the command line --------------------------------------------------------------------------


def test_cli_replay_and_import(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")
    upgrade(engine)
    layer = tmp_path / "streets.geojson"
    layer.write_text(json.dumps(street_grid_geojson()), encoding="utf-8")
    import_and_activate(tmp_path, layer, DEFAULT_PROFILE, class_field="class")
    with Session(engine) as session:
        area_service.import_geojson(session, data=county_geojson(), actor=SYSTEM)
        post = _post(session, "CLI-P", "T-D1-S1-B1-G1")
        service.create_unit(
            session,
            call_sign="CLI-U",
            unit_type=UnitType.CAR,
            home_area=area(session, "T-D1-S1"),
            actor=SYSTEM,
            home_post=post,
        )
        _recorded(session, "cli-a", "T-D1-S1-B1-G2", NINE)
        session.commit()
    engine.dispose()
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "dispatch",
            "replay",
            "--day",
            "2025-03-10",
            "--area",
            "T-D1",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "replay 1: 2025-03-10 · T-D1 (Asia/Shanghai)" in result.output
    assert "Within 5 min (dispatch to arrival)" in result.output and "Criminal" in result.output
    assert "1 incidents replayed with 1 units" in result.output
    bad = runner.invoke(
        app, ["dispatch", "replay", "--day", "10/03/2025", "--data-dir", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "is not a date like 2026-05-01" in bad.output
    empty = runner.invoke(
        app, ["dispatch", "replay", "--day", "2025-03-11", "--data-dir", str(tmp_path)]
    )
    assert empty.exit_code == 2 and "no incidents were received on 2025-03-11" in empty.output
    unknown = runner.invoke(
        app,
        ["dispatch", "replay", "--day", "2025-03-10", "--area", "NO", "--data-dir", str(tmp_path)],
    )
    assert unknown.exit_code == 2 and "'NO'" in unknown.output

    lon, lat = grid_centre("T-D2-S1-B1-G1")
    csv_file = tmp_path / "incidents.csv"
    csv_file.write_text(
        "idempotency_key,category,subtype,priority,source,lon,lat\n"
        f"imp-1,traffic,collision,P3,call,{lon},{lat}\n"
        f"imp-2,traffic,nosuch,P3,call,{lon},{lat}\n"
        f"imp-3,fire,vehicle,P9,call,{lon},{lat}\n",
        encoding="utf-8",
    )
    imported = runner.invoke(
        app, ["dispatch", "import", str(csv_file), "--data-dir", str(tmp_path)]
    )
    assert imported.exit_code == 1, imported.output
    assert "1 created, 0 already imported, 2 rows with errors" in imported.output
    assert re.search(r"│ 3\s+│ subtype", imported.output)
    assert re.search(r"│ 4\s+│ priority", imported.output)
    good = tmp_path / "good.csv"
    good.write_text(
        csv_file.read_text("utf-8").splitlines()[0]
        + "\n"
        + csv_file.read_text("utf-8").splitlines()[1]
        + "\n",
        encoding="utf-8",
    )
    again = runner.invoke(app, ["dispatch", "import", str(good), "--data-dir", str(tmp_path)])
    assert again.exit_code == 0 and "0 created, 1 already imported" in again.output
    with Session(make_engine(f"sqlite:///{tmp_path / 'fangkong.db'}")) as session:
        assert (
            session.scalars(select(Incident).where(Incident.idempotency_key == "imp-1"))
            .one()
            .category
            == "traffic"
        )
        assert session.scalars(select(ReplayRun)).one().day == "2025-03-10"


# --- the API and the console page ------------------------------------------------------------

API_DAY = date(2025, 4, 2)
API_NINE = datetime(2025, 4, 2, 9, 0, tzinfo=ZONE).astimezone(UTC)


def _user(server: LiveServer, username: str, role: Role, area_code: str) -> None:
    with Session(server.engine) as session:
        if auth.get_by_username(session, username=username) is None:
            auth.create(
                session,
                username=username,
                display_name=username,
                password=TEST_PASSWORD,
                role=role,
                area_codes=[area_code],
                actor=SYSTEM,
            )
            session.commit()


@pytest.fixture()
def api_unit(live_server: LiveServer) -> Iterator[None]:
    """A unit at a post and two recorded incidents in the shared live server; the unit is
    put out of service afterwards so that no later recommendation meets it."""
    with Session(live_server.engine) as session:
        unit = session.scalars(select(Unit).where(Unit.call_sign == "API-RP")).first()
        if unit is None:
            post = _post(session, "API-RP", "T-D1-S1-B1-G1")
            unit = service.create_unit(
                session,
                call_sign="API-RP",
                unit_type=UnitType.CAR,
                home_area=area(session, "T-D1-S1"),
                actor=SYSTEM,
                home_post=post,
            )
            _recorded(session, "api-rp-a", "T-D1-S1-B1-G2", API_NINE)
            _recorded(session, "api-rp-b", "T-D1-S1-B2-G1", API_NINE + timedelta(minutes=3))
        unit.status = UnitStatus.AVAILABLE
        session.commit()
    yield
    with Session(live_server.engine) as session:
        unit = session.scalars(select(Unit).where(Unit.call_sign == "API-RP")).one()
        unit.status = UnitStatus.OUT_OF_SERVICE
        session.commit()


@pytest.mark.usefixtures("api_unit")
def test_api_and_page(live_server: LiveServer, live_network: Path) -> None:
    _user(live_server, "rp_viewer", Role.VIEWER, "T")
    _user(live_server, "rp_other", Role.STATION_OFFICER, "T-D2-S1")
    with live_server.client(live_server.admin_token()) as admin:
        made = admin.post(
            "/api/v1/dispatch/replays", json={"day": API_DAY.isoformat(), "area_code": "T-D1-S1"}
        )
        assert made.status_code == 201, made.text
        run = made.json()
        assert run["day"] == "2025-04-02" and run["area_code"] == "T-D1-S1"
        assert run["replayed"] == 2 and run["report"]["replay"]["incidents"] == 2
        assert set(run["report"]["recorded"]["ring_share"]) == {"1min", "3min", "5min"}
        assert run["report"]["recorded"]["call_to_arrival"]["count"] == 2
        listed = admin.get("/api/v1/dispatch/replays").json()
        assert run["id"] in [r["id"] for r in listed] and "report" not in listed[0]
        one = admin.get(f"/api/v1/dispatch/replays/{run['id']}")
        assert one.status_code == 200 and one.json()["report"] == run["report"]
        bad = admin.post("/api/v1/dispatch/replays", json={"day": "2025-13-01"})
        assert bad.status_code == 422 and bad.json()["field"] == "body.day"
        empty = admin.post("/api/v1/dispatch/replays", json={"day": "2001-01-01"})
        assert empty.status_code == 404 and empty.json()["field"] == "day"
    with live_server.client(live_server.token("rp_viewer")) as viewer:
        assert viewer.get("/api/v1/dispatch/replays").status_code == 200
        refused = viewer.post("/api/v1/dispatch/replays", json={"day": API_DAY.isoformat()})
        assert refused.status_code == 403
    with live_server.client(live_server.token("rp_other")) as other:
        assert run["id"] not in [r["id"] for r in other.get("/api/v1/dispatch/replays").json()]
        assert other.get(f"/api/v1/dispatch/replays/{run['id']}").status_code == 404

    _user(live_server, "rp_commander", Role.COMMANDER, "T")
    with closing(live_server.console_client("rp_commander")) as client:
        page = client.get("/dispatch/replay")
        assert page.status_code == 200 and 'id="replay-form"' in page.text
        assert "回放某日警情" in page.text and 'value="T-D1-S1"' in page.text
        done = client.post(
            "/dispatch/replay",
            data={"day": API_DAY.isoformat(), "area_code": "T-D1-S1"},
            headers={"HX-Request": "true"},
        )
        assert done.status_code == 200 and 'id="replay-figures"' in done.text
        assert "派警至到场，中位数" in done.text and done.headers["HX-Trigger"] == "replays-changed"
        wrong = client.post(
            "/dispatch/replay", data={"day": "nope"}, headers={"HX-Request": "true"}
        )
        assert 'role="alert"' in wrong.text and "YYYY-MM-DD" in wrong.text
        runs = client.get("/dispatch/replay/runs")
        assert "2025年4月2日" in runs.text  # the day in the reader's language
        shown = client.get(f"/dispatch/replay/{run['id']}", headers={"HX-Request": "true"})
        assert shown.status_code == 200 and 'id="replay-rows"' in shown.text
        client.cookies.set(LANGUAGE_COOKIE, "en")
        english = client.get("/dispatch/replay")
        assert "Replay a recorded day" in english.text and "Earlier replays" in english.text
    with closing(live_server.console_client("rp_viewer")) as viewer_page:
        seen = viewer_page.get("/dispatch/replay")
        assert seen.status_code == 200 and 'id="replay-form"' not in seen.text
        assert (
            viewer_page.post("/dispatch/replay", data={"day": API_DAY.isoformat()}).status_code
            == 403
        )


def test_turnout_adds_to_every_drive(db: Session, network: Network) -> None:
    post = _post(db, "RP-T", "T-D2-S2-B1-G1")
    service.create_unit(
        db,
        call_sign="RP-T1",
        unit_type=UnitType.CAR,
        home_area=area(db, "T-D2"),
        actor=ACTOR,
        home_post=post,
    )
    incident = _recorded(db, "rp-t", "T-D2-S2-B1-G2", NINE)
    scope = scope_of(db, "T-D2")
    plain = replay.report_of(
        replay.replay_day(db, network=network, day=DAY, zone=ZONE, scope=scope, actor=ACTOR)
    )
    slow = replay.report_of(
        replay.replay_day(
            db, network=network, day=DAY, zone=ZONE, scope=scope, actor=ACTOR, turnout_s=60
        )
    )
    first, second = plain["rows"][0], slow["rows"][0]
    assert first["incident_id"] == second["incident_id"] == incident.id
    assert second["replay_dispatch_to_arrival_s"] == pytest.approx(
        first["replay_dispatch_to_arrival_s"] + 60, abs=0.1
    )
    assert slow["defaults"]["turnout_s"] == 60
    with pytest.raises(InvalidInput, match="turnout_s"):
        replay.replay_day(
            db, network=network, day=DAY, zone=ZONE, scope=scope, actor=ACTOR, turnout_s=-1
        )
