"""Planning over HTTP: coverage, a placement job followed to its end over SSE, exports,
checkpoints, the control ring and scenarios; bounds answered 422, never 5xx."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from conftest import LiveServer
from factories import grid_centre
from fangkong.areas import service as area_service
from fangkong.core.audit import SYSTEM
from fangkong.core.i18n import translate
from fangkong.dispatch import service as dispatch_service
from fangkong.dispatch.models import PostKind
from fangkong.planning import api as planning_api
from fangkong.planning import runs
from fangkong.planning.models import RunKind


def _seed(server: LiveServer) -> None:
    with Session(server.engine) as session:
        # other tests share the live server: look for this test's own rows, not for any post
        known = {post.code for post in dispatch_service.get_posts(session, scope=_whole())}
        if "PLA" in known:
            return
        for code, grid in {"PLA": "T-D1-S1-B1-G1", "PLB": "T-D2-S2-B2-G2"}.items():
            lon, lat = grid_centre(grid)
            dispatch_service.create_post(
                session, code=code, name=code, kind=PostKind.STREET_POST, lon=lon, lat=lat,
                actor=SYSTEM,
            )  # fmt: skip
        rng = np.random.default_rng(1)
        area_service.import_addresses(
            session,
            rows=[
                area_service.AddressRow(f"API{i:03d}", f"规划测试路{i}号", "", float(x), float(y))
                for i, (x, y) in enumerate(
                    zip(rng.uniform(120.01, 120.15, 80), rng.uniform(30.01, 30.07, 80), strict=True)
                )
            ],
            actor=SYSTEM,
        )
        session.commit()


def _whole() -> object:
    from fangkong.core.scoping import Scope

    return Scope(paths=("/",))


def test_planning_over_http(live_server: LiveServer, live_network: Path) -> None:
    _seed(live_server)
    with live_server.client(live_server.admin_token()) as client:
        made = client.post("/api/v1/planning/coverage", json={"demand": "addresses"})
        assert made.status_code == 201, made.text
        run = made.json()
        assert run["kind"] == "coverage" and run["status"] == "done"
        totals = run["result"]["totals"]
        assert totals["weight"] >= 80 and set(totals["share"]) == {"60", "180", "300"}
        assert "scope_paths" not in run["params"]
        listed = client.get("/api/v1/planning/runs").json()
        assert run["id"] in [r["id"] for r in listed]
        geo = client.get(f"/api/v1/planning/runs/{run['id']}/geojson")
        assert geo.status_code == 200
        layers = {f["properties"]["layer"] for f in geo.json()["features"]}
        assert {"site", "demand", "service_area"} <= layers
        book = client.get(f"/api/v1/planning/runs/{run['id']}/xlsx")
        assert book.status_code == 200
        sheets = load_workbook(io.BytesIO(book.content)).sheetnames
        assert sheets[:3] == ["summary", "areas", "sites"]

        # a placement runs in the background; its progress streams until it ends. The posts
        # stay (other tests on this server add theirs): one site more than there are posts
        posts = len(client.get("/api/v1/posts").json())
        queued = client.post(
            "/api/v1/planning/placements",
            json={"method": "mclp", "p": posts + 1, "ring_s": 120, "candidates": ["posts", "road"],
                  "spacing_m": 2000, "time_limit_s": 20},
        )  # fmt: skip
        assert queued.status_code == 202, queued.text
        run_id = queued.json()["id"]
        events = _follow(client, run_id)
        assert events[0] == "progress" and events[-1] == "done"
        done = client.get(f"/api/v1/planning/runs/{run_id}").json()
        assert done["status"] == "done", (done.get("error_code"), done.get("error_text"))
        assert done["result"]["status"] == "optimal"
        assert len(done["result"]["sites"]) == posts + 1
        assert {"PLA", "PLB"} <= {s["code"] for s in done["result"]["sites"]}
        assert client.post(f"/api/v1/planning/runs/{run_id}/cancel").status_code == 409
        plan = client.post(
            f"/api/v1/planning/runs/{run_id}/scenario", json={"name": "from placement"}
        )
        assert plan.status_code == 201, plan.text
        compared = client.post(f"/api/v1/planning/scenarios/{plan.json()['id']}/compare", json={})
        assert compared.status_code == 201, compared.text
        assert compared.json()["result"]["gain"]["300"] >= -1e-9

        # checkpoints and the control ring of the county
        lon, lat = 120.0, 30.04
        made_cp = client.post(
            "/api/v1/planning/checkpoints",
            json={"code": "API-K1", "name": "west gate", "lon": lon, "lat": lat, "area_code": "T"},
        )
        assert made_cp.status_code == 201, made_cp.text
        ring = client.post("/api/v1/planning/ring", json={"area_code": "T", "k": 2})
        assert ring.status_code == 201, ring.text
        assert ring.json()["result"]["count"] >= 0
        weights = client.get("/api/v1/planning/ring/settings").json()
        assert weights["target"] == 0.8 and weights["weights"]["motorway"] == 10.0

        # bounds: refused with 422 naming the field, never a 5xx
        for bad in (
            {"p": 10**30},
            {"p": 3, "ring_s": 0},
            {"p": 3, "ring_s": 1e9},
            {"p": 3, "candidates": []},
            {"p": 3, "spacing_m": 1e12},
            {"p": True},
            {"p": 3, "points": [[500, 0]]},
        ):
            answer = client.post("/api/v1/planning/placements", json=bad)
            assert answer.status_code == 422, (bad, answer.text)
        # Ids are bounded to what the column holds on both databases (PostgreSQL's integer).
        for past in (2**31, 2**63 - 1, 2**63):
            assert client.get(f"/api/v1/planning/runs/{past}").status_code == 422
            assert client.get(f"/api/v1/planning/checkpoints/{past}").status_code == 422
            assert client.get(f"/api/v1/planning/scenarios/{past}").status_code == 422
        assert client.get(f"/api/v1/planning/runs/{2**31 - 1}").status_code == 404
        assert client.get(f"/api/v1/planning/checkpoints/{2**31 - 1}").status_code == 404
        assert client.get(f"/api/v1/planning/scenarios/{2**31 - 1}").status_code == 404
        assert (
            client.post(
                "/api/v1/planning/coverage", json={"rings_s": [60, 120, 180, 240, 300, 360]}
            ).status_code
            == 422
        )


def _follow(client: httpx.Client, run_id: int) -> list[str]:
    """The run's Server-Sent Events up to its ``done`` (keep-alive comments left out): the
    stream, not a deadline of the test's, says when the job has ended, however loaded the
    machine (a silent stage sends keep-alives, so the client's read timeout never fires)."""
    events: list[str] = []
    with client.stream("GET", f"/api/v1/planning/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
            if events and events[-1] == "done":
                break
    return events


def test_a_placement_job_can_be_cancelled(live_server: LiveServer, live_network: Path) -> None:
    _seed(live_server)
    with live_server.client(live_server.admin_token()) as client:
        queued = client.post(
            "/api/v1/planning/placements",
            json={"method": "p_median", "p": 5, "candidates": ["road"], "spacing_m": 300,
                  "max_time_s": 900, "time_limit_s": 120},
        ).json()  # fmt: skip
        cancelled = client.post(f"/api/v1/planning/runs/{queued['id']}/cancel")
        assert cancelled.status_code in (200, 409)
        assert _follow(client, queued["id"])[-1] == "done"
        state = client.get(f"/api/v1/planning/runs/{queued['id']}").json()
        # a cancel accepted (200) always ends cancelled, keeping the best answer it had; 409
        # only when the job had already ended
        assert state["status"] == ("cancelled" if cancelled.status_code == 200 else "done")
        assert state["error"] is None


def test_a_silent_run_streams_keep_alives_until_it_ends(
    live_server: LiveServer, live_network: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that reports nothing (here: queued, no worker takes it) keeps its stream alive
    with comment lines, and the stream ends with ``done`` when the run is cancelled."""
    monkeypatch.setattr(planning_api, "KEEPALIVE_S", 0.2)
    with Session(live_server.engine) as session:
        run = runs.create(
            session,
            kind=RunKind.PLACEMENT,
            params={"method": "mclp", "p": 1, "scope_paths": ["/"]},
            area_path=area_service.get_by_code_or_raise(session, code="T").path,
            actor=SYSTEM,
            title="silent",
        )
        session.commit()
        run_id = run.id
    with live_server.client(live_server.admin_token()) as client:
        lines: list[str] = []
        with client.stream("GET", f"/api/v1/planning/runs/{run_id}/events") as stream:
            for line in stream.iter_lines():
                lines.append(line)
                if lines.count(": keep-alive") == 2:
                    break
        assert lines[0] == "event: progress" and '"status": "queued"' in lines[1]
        assert client.post(f"/api/v1/planning/runs/{run_id}/cancel").status_code == 200
        assert _follow(client, run_id) == ["progress", "done"]
        assert client.get(f"/api/v1/planning/runs/{run_id}").json()["status"] == "cancelled"


def test_a_failed_job_reads_in_the_readers_language(
    live_server: LiveServer, live_network: Path
) -> None:
    """A placement that fails in its job (more sites asked than there are candidates) stores
    its error by key: the console's reader sees it in their language, the API keeps the code,
    its values and the English text."""
    _seed(live_server)
    with live_server.client(live_server.admin_token()) as client:
        queued = client.post(
            "/api/v1/planning/placements",
            json={"method": "mclp", "p": 500, "ring_s": 120, "candidates": ["posts"],
                  "posts": "free"},
        )  # fmt: skip
        assert queued.status_code == 202, queued.text
        run_id = queued.json()["id"]
        assert _follow(client, run_id)[-1] == "done"
        texts = {}
        for language in ("zh-CN", "en"):
            client.cookies.set("fangkong_lang", language)
            run = client.get(f"/api/v1/planning/runs/{run_id}").json()
            assert run["status"] == "failed", run
            assert run["error_code"] == "planning.p_candidates"
            params = run["error_params"]
            assert params["p"] == 500 and 0 < params["candidates"] < 500
            texts[language] = run["error_text"]
            assert texts[language] == translate("error.planning.p_candidates", language, **params)
            assert run["error"] == translate("error.planning.p_candidates", "en", **params)
            listed = client.get("/api/v1/planning/runs", params={"kind": "placement"}).json()
            assert texts[language] in [r["error_text"] for r in listed if r["id"] == run_id]
        assert texts["zh-CN"] != texts["en"]


def test_the_pages_render(live_server: LiveServer, live_network: Path) -> None:
    _seed(live_server)
    with live_server.client(live_server.admin_token()) as api:
        api.post("/api/v1/planning/scenarios", json={"name": "page scenario"})
    client = live_server.console_client("api_admin")
    try:
        for path, marker in (
            ("/planning/coverage", 'id="coverage-form"'),
            ("/planning/placement", "data-compare="),
            ("/planning/ring", 'id="ring-form"'),
        ):
            page = client.get(path)
            assert page.status_code == 200, path
            assert marker in page.text, path
            assert "<script>" not in page.text  # no inline script (CSP)
    finally:
        client.close()
