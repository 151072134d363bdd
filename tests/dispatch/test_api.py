"""The dispatch API over HTTP, on the live server with the street grid as its road network."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse

from asgi_calls import Answer, call, call_async, repeated
from conftest import TEST_PASSWORD, LiveServer, run_in_new_loop, running_server
from factories import grid_centre
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.config import Settings
from fangkong.core.db import make_session_factory
from fangkong.core.models import ApiToken, AuditEvent, Role
from fangkong.dispatch.fastpath import IntakeFastPath
from fangkong.dispatch.models import Incident
from fangkong.web.app import create_app

STATION = "T-D1-S1"


@pytest.fixture()
def admin(live_server: LiveServer, live_network: Path) -> Iterator[httpx.Client]:
    with live_server.client(live_server.admin_token()) as client:
        yield client


def _user_client(live_server: LiveServer, username: str, role: Role, area: str) -> httpx.Client:
    with Session(live_server.engine) as session:
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
    return live_server.client(live_server.token(username))


def _body(
    grid: str = "T-D1-S1-B1-G1", *, offset: int | None = None, **extra: Any
) -> dict[str, Any]:
    lon, lat = grid_centre(grid)
    description = "two men fighting" if offset is None else f"two men fighting {offset}"
    return {
        "category": "public_order",
        "subtype": "fight",
        "priority": "P2",
        "source": "call",
        "lon": lon + (offset or 0) * 1e-5,
        "lat": lat,
        "description": description,
        "caller_contact": "13912345678",
        **extra,
    }


def test_create_is_idempotent_and_contact_is_masked(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    first = admin.post("/api/v1/incidents", json=_body(), headers={"Idempotency-Key": "api-1"})
    assert first.status_code == 201, first.text
    incident = first.json()
    assert incident["status"] == "received" and incident["area_code"] == "T-D1-S1-B1-G1"
    assert incident["caller_contact_masked"] == "139******78"
    assert "13912345678" not in first.text
    assert incident["category_label"] == "治安" and incident["subtype_label"] == "打架斗殴"
    retry = admin.post("/api/v1/incidents", json=_body(), headers={"Idempotency-Key": "api-1"})
    assert retry.status_code == 200 and retry.json()["id"] == incident["id"]
    other = admin.post(
        "/api/v1/incidents", json=_body(priority="P1"), headers={"Idempotency-Key": "api-1"}
    )
    assert other.status_code == 409 and other.json()["field"] == "idempotency_key"
    in_body = admin.post("/api/v1/incidents", json=_body(idempotency_key="api-2"))
    assert in_body.status_code == 201
    assert admin.post("/api/v1/incidents", json=_body(idempotency_key="api-2")).status_code == 200
    missing = admin.post("/api/v1/incidents", json=_body())
    assert missing.status_code == 422 and missing.json()["field"] == "idempotency_key"
    mismatch = admin.post(
        "/api/v1/incidents", json=_body(idempotency_key="a"), headers={"Idempotency-Key": "b"}
    )
    assert mismatch.status_code == 422
    bad = admin.post(
        "/api/v1/incidents", json=_body(subtype="theft"), headers={"Idempotency-Key": "api-bad"}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "subtype"
    too_long = admin.post("/api/v1/incidents", json=_body(), headers={"Idempotency-Key": "k" * 65})
    assert too_long.status_code == 422 and too_long.json()["field"] == "idempotency_key"
    # The body is checked from its JSON text by hand: its faults are the API's 422 still.
    wrong = admin.post(
        "/api/v1/incidents", json=_body(priority="P9"), headers={"Idempotency-Key": "api-wrong"}
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "body.priority"
    no_lat = admin.post(
        "/api/v1/incidents", json=_body(lat=95.0), headers={"Idempotency-Key": "api-lat"}
    )
    assert no_lat.status_code == 422 and no_lat.json()["field"] == "body.lat"
    broken = admin.post(
        "/api/v1/incidents",
        content=b'{"category": ',
        headers={"Idempotency-Key": "api-broken", "Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and broken.json()["error"] == "invalid_input"
    assert broken.json()["field"].startswith("body")
    # The header and the body are read by hand: the API's description still names them.
    document = admin.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/incidents"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert operation["requestBody"]["required"] is True
    assert set(body_schema["required"]) == {"category", "subtype", "priority", "source"}
    assert {"lon", "lat", "address_code", "caller_contact"} <= body_schema["properties"].keys()
    refs = {v["$ref"] for v in body_schema["properties"].values() if "$ref" in v}
    assert refs == {"#/components/schemas/Priority", "#/components/schemas/Source"}
    assert all(ref.rsplit("/", 1)[1] in document["components"]["schemas"] for ref in refs)

    clear = admin.get(f"/api/v1/incidents/{incident['id']}/caller-contact")
    assert clear.status_code == 200 and clear.json()["caller_contact"] == "13912345678"
    with Session(live_server.engine) as session:
        reads = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "read_personal",
                AuditEvent.entity == "incident",
                AuditEvent.entity_id == str(incident["id"]),
            )
        ).all()
    assert len(reads) == 1 and reads[0].username == "api_admin"
    officer = _user_client(live_server, "disp_officer", Role.STATION_OFFICER, STATION)
    with officer:
        assert officer.get(f"/api/v1/incidents/{incident['id']}/caller-contact").status_code == 403


def test_intake_by_token_and_by_console_session_answer_alike(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    """A bearer-token intake is taken before the framework's layers (IntakeFastPath), the
    console's (session cookie) by the route: the same answers and the same errors."""
    url = "/api/v1/incidents"
    with closing(live_server.console_client("api_admin")) as console:
        by_token = admin.post(url, json=_body(offset=7), headers={"Idempotency-Key": "alike-t"})
        by_cookie = console.post(url, json=_body(offset=7), headers={"Idempotency-Key": "alike-c"})
        assert by_token.status_code == by_cookie.status_code == 201, by_cookie.text
        token_answer, cookie_answer = by_token.json(), by_cookie.json()
        assert token_answer.keys() == cookie_answer.keys()
        differ = {key for key in token_answer if token_answer[key] != cookie_answer[key]}
        assert differ <= {"id", "received_at", "events"}
        assert [{**e, "at": None} for e in token_answer["events"]] == [
            {**e, "at": None} for e in cookie_answer["events"]
        ]
        assert token_answer["road"] == cookie_answer["road"] and token_answer["road"]
        again = admin.post(url, json=_body(offset=7), headers={"Idempotency-Key": "alike-c"})
        assert again.status_code == 200 and again.json()["id"] == cookie_answer["id"]

        for body, key in (
            (_body(priority="P9"), "alike-p9"),
            (_body(subtype="theft"), "alike-s"),
            (_body(), ""),
        ):
            token_fault = admin.post(url, json=body, headers={"Idempotency-Key": key})
            cookie_fault = console.post(url, json=body, headers={"Idempotency-Key": key})
            assert token_fault.status_code == cookie_fault.status_code == 422
            # the same answer, and the console's has the message in its reader's language too
            console_answer = cookie_fault.json()
            assert console_answer.pop("text")
            assert token_fault.json() == console_answer

        # The route still does what only it does: CSRF for a cookie, the language cookie.
        refused = console.post(
            url,
            json=_body(offset=8),
            headers={"Idempotency-Key": "alike-csrf", "X-CSRF-Token": "not-the-token"},
        )
        assert refused.status_code == 403
        console.get("/lang/en", follow_redirects=False)
        english = console.post(url, json=_body(offset=9), headers={"Idempotency-Key": "alike-en"})
        assert english.status_code == 201 and english.json()["category_label"] == "Public order"

    # A token the server does not know, and a scheme it does not take: 401 naming Bearer,
    # before the body is looked at (no feedback on it for a stranger).
    with live_server.client("no-such-token") as stranger:
        unknown = stranger.post(url, json=_body(), headers={"Idempotency-Key": "alike-x"})
        broken = stranger.post(url, content=b"{", headers={"Idempotency-Key": "alike-y"})
        assert broken.status_code == 401 and broken.json()["error"] == "unauthorized"
    basic = admin.post(
        url, json=_body(), headers={"Idempotency-Key": "alike-b", "Authorization": "Basic YTpi"}
    )
    for answer in (unknown, basic):
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"] == "unauthorized"
    # A bearer token sent with cookies goes the route's way, to the same effect.
    with_cookie = admin.post(
        url,
        json=_body(offset=10),
        headers={"Idempotency-Key": "alike-k", "Cookie": "fangkong_lang=en"},
    )
    assert with_cookie.status_code == 201
    assert with_cookie.json()["category_label"] == "Public order"


def test_intake_fast_path_takes_bearer_posts_without_cookies_only(county_engine: Engine) -> None:
    passed: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(f"{scope['method']} {scope['path']}")
        await PlainTextResponse("the app")(scope, receive, send)

    fast = IntakeFastPath(app, path="/api/v1/incidents")
    # As the app's middleware stack has it: what the token is checked with.
    outer = Starlette()
    outer.state.session_factory = make_session_factory(county_engine)

    async def served(scope: Any, receive: Any, send: Any) -> None:
        scope["app"] = outer
        await fast(scope, receive, send)

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            bearer = {"Authorization": "Bearer t0ken", "Idempotency-Key": "fast-1"}
            return [
                await client.post("/api/v1/incidents", content=b"{", headers=bearer),
                await client.post(
                    "/api/v1/incidents",
                    content=b"{",
                    headers={**bearer, "Cookie": "fangkong_lang=en"},
                ),
                await client.post(
                    "/api/v1/incidents",
                    content=b"{",
                    headers={**bearer, "Authorization": "Basic YTpi"},
                ),
                await client.post("/api/v1/incidents", content=b"{"),
                await client.get("/api/v1/incidents", headers=bearer),
                await client.post("/api/v1/incidents/import", content=b"{", headers=bearer),
            ]

    first, *others = run_in_new_loop(send_all)
    # Taken by the fast path: a token it does not know is refused before the body is looked at.
    assert first.status_code == 401 and first.json()["error"] == "unauthorized"
    assert [answer.text for answer in others] == ["the app"] * 5
    assert passed == ["POST /api/v1/incidents"] * 3 + [
        "GET /api/v1/incidents",
        "POST /api/v1/incidents/import",
    ]


def test_intake_checks_the_credential_before_reading_the_body(
    county_engine: Engine, tmp_path: Path
) -> None:
    """A stranger's intake is refused before a byte of its body is read, however it is sent;
    and no route reads more than its body limit, declared or not."""
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 40, environment="test", intake_writer="thread"
    )
    app = create_app(settings, engine=county_engine)
    stranger = [
        ("authorization", "Bearer no-such-token"),
        ("idempotency-key", "big-1"),
        ("content-type", "application/json"),
    ]
    megabytes = 1 << 20
    for declared in (None, 500):
        answer = call(
            app,
            "POST",
            "/api/v1/incidents",
            headers=stranger,
            content_length=declared,
            chunks=repeated(b"[" * 100, declared or 50 * megabytes),
        )
        assert answer.status == 401 and answer.json()["error"] == "unauthorized"
        assert answer.chunks_read == 0
    # 50 MB of JSON and 200 MB of multipart: past the limits, refused unread when declared,
    # after no more than the limit (and a chunk) when not.
    multipart = [("content-type", "multipart/form-data; boundary=b"), *stranger[:1]]
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    for path, headers, size, limit, start in (
        ("/api/v1/incidents", stranger, 50 * megabytes, settings.max_body_bytes, b"["),
        ("/api/v1/incidents/import", multipart, 200 * megabytes, 6 * megabytes, part),
        ("/api/v1/areas/import", stranger, 200 * megabytes, 32 * megabytes, b"["),
    ):
        declared = call(
            app, "POST", path, headers=headers, content_length=size, chunks=repeated(b"-", size)
        )
        assert declared.status == 413 and declared.chunks_read == 0, path
        chunks = itertools.chain([start], repeated(b"-" * 65536, size))
        streamed = call(app, "POST", path, headers=headers, chunks=chunks)
        assert streamed.status in (401, 413), path
        assert streamed.bytes_read <= limit + 65536, path


def test_intake_past_the_writer_queue_is_refused_at_once(
    county_engine: Engine, tmp_path: Path
) -> None:
    """With as many intakes waiting for the writer as it may queue, the next is answered 503
    with Retry-After at once, its body unread; the queued ones are answered as usual."""
    settings = Settings(
        data_dir=tmp_path,
        secret_key="k" * 40,
        environment="test",
        intake_writer="thread",
        intake_max_pending=2,
    )
    app = create_app(settings, engine=county_engine)

    class Trusting:
        async def check(self, credential: object) -> None:
            pass

    class Stalled:
        """A writer that answers only when told."""

        def __init__(self) -> None:
            self.futures: list[asyncio.Future[tuple[bytes, bool]]] = []

        @property
        def pending(self) -> int:
            return sum(not f.done() for f in self.futures)

        def submit(self, call: object) -> asyncio.Future[tuple[bytes, bool]]:
            self.futures.append(asyncio.get_running_loop().create_future())
            return self.futures[-1]

    writer = Stalled()
    app.state.intake_sender_check = Trusting()
    app.state.intake_committer = writer
    payload = json.dumps(_body()).encode("utf-8")

    def intake(key: str) -> Coroutine[Any, Any, Answer]:
        headers = [("authorization", "Bearer t"), ("idempotency-key", key)]
        return call_async(
            app,
            "POST",
            "/api/v1/incidents",
            headers=headers,
            body=payload,
            content_length=len(payload),
        )

    async def run() -> tuple[list[Answer], Answer]:
        queued = [asyncio.create_task(intake(f"q-{i}")) for i in range(2)]
        while writer.pending < 2:
            await asyncio.sleep(0)
        refused = await asyncio.wait_for(intake("q-2"), timeout=1)
        for future in writer.futures:
            future.set_result((b"{}", True))
        return [await task for task in queued], refused

    answered, refused = run_in_new_loop(run)
    assert [a.status for a in answered] == [201, 201]
    assert refused.status == 503 and refused.chunks_read == 0
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "overloaded"
    assert refused.json()["code"] == "dispatch.intake_queue_full"
    assert len(writer.futures) == 2


def test_scoped_lists_and_filters(live_server: LiveServer, admin: httpx.Client) -> None:
    here = admin.post(
        "/api/v1/incidents", json=_body("T-D1-S1-B2-G2"), headers={"Idempotency-Key": "scope-here"}
    ).json()
    there = admin.post(
        "/api/v1/incidents",
        json=_body("T-D2-S2-B1-G1", priority="P4"),
        headers={"Idempotency-Key": "scope-there"},
    ).json()
    officer = _user_client(live_server, "disp_officer", Role.STATION_OFFICER, STATION)
    with officer:
        seen = {i["id"] for i in officer.get("/api/v1/incidents").json()["items"]}
        assert here["id"] in seen and there["id"] not in seen
        assert officer.get(f"/api/v1/incidents/{there['id']}").status_code == 404
        p4 = admin.get("/api/v1/incidents", params={"priority": "P4", "area": "T-D2"}).json()
        assert [i["id"] for i in p4["items"]] == [there["id"]] and p4["total"] == 1
        naive = admin.get("/api/v1/incidents", params={"received_from": "2026-01-01T00:00:00"})
        assert naive.status_code == 422
        outside = officer.post(
            "/api/v1/incidents",
            json=_body("T-D2-S2-B1-G1"),
            headers={"Idempotency-Key": "scope-outside"},
        )
        assert outside.status_code == 422 and "outside your areas" in outside.json()["message"]
        cats = admin.get("/api/v1/incidents/categories", headers={"Accept-Language": "en"}).json()
        assert [c["category"] for c in cats][:2] == ["criminal", "public_order"]


def test_units_recommend_dispatch_and_lifecycle(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    incident = admin.post(
        "/api/v1/incidents",
        json=_body("T-D1-S2-B1-G1", priority="P1"),
        headers={"Idempotency-Key": "flow-1"},
    ).json()
    lon, lat = incident["lon"], incident["lat"]
    offsets = [0.002, 0.01, 0.02, 0.035]
    ids = []
    for i, dx in enumerate(offsets):
        made = admin.post(
            "/api/v1/units",
            json={"call_sign": f"FLOW-{i}", "type": "car", "home_area_code": "T-D1"},
        )
        assert made.status_code == 201, made.text
        unit = made.json()
        assert unit["status"] == "available" and unit["lon"] is None
        moved = admin.post(
            f"/api/v1/units/{unit['id']}/position", json={"lon": lon + dx, "lat": lat}
        )
        assert moved.status_code == 200 and moved.json()["lon"] == pytest.approx(lon + dx)
        ids.append(unit["id"])
    dup = admin.post(
        "/api/v1/units", json={"call_sign": "FLOW-0", "type": "foot", "home_area_code": "T-D1"}
    )
    assert dup.status_code == 409

    rec = admin.get(f"/api/v1/incidents/{incident['id']}/recommendation", params={"limit": 4})
    assert rec.status_code == 200, rec.text
    candidates = [c for c in rec.json()["candidates"] if c["unit_id"] in ids]
    assert [c["unit_id"] for c in candidates] == ids
    times = [c["time_s"] for c in candidates]
    assert times == sorted(times)
    # Road times from the network API agree.
    check = admin.post(
        "/api/v1/network/travel-times",
        json={
            "source": {"lon": lon + offsets[0], "lat": lat},
            "targets": [{"lon": lon, "lat": lat}],
        },
    ).json()["time_s"][0]
    assert candidates[0]["time_s"] == pytest.approx(check, abs=1e-3)
    top = rec.json()["candidates"]
    assert [c["role"] for c in top[:3]] == ["primary", "reinforcement", "reinforcement"]

    sent = admin.post(f"/api/v1/incidents/{incident['id']}/dispatch", json={"unit_ids": ids[:2]})
    assert sent.status_code == 200, sent.text
    detail = sent.json()
    assert detail["status"] == "dispatched" and detail["dispatched_at"] is not None
    assert [a["call_sign"] for a in detail["assignments"]] == ["FLOW-0", "FLOW-1"]
    assert detail["assignments"][0]["predicted_s"] == pytest.approx(times[0], abs=1e-3)
    busy = {u["id"]: u["status"] for u in admin.get("/api/v1/units").json()}
    assert busy[ids[0]] == busy[ids[1]] == "en_route" and busy[ids[2]] == "available"
    again = admin.post(f"/api/v1/incidents/{incident['id']}/dispatch", json={"unit_ids": [ids[0]]})
    assert again.status_code == 409 and "FLOW-0" in again.json()["message"]

    wrong = admin.post(f"/api/v1/incidents/{incident['id']}/transitions", json={"to": "closed"})
    assert wrong.status_code == 409
    assert wrong.json()["detail"] == {"from_status": "dispatched", "to_status": "closed"}
    for status in ("en_route", "on_scene", "cleared", "closed"):
        moved = admin.post(
            f"/api/v1/incidents/{incident['id']}/transitions",
            json={"to": status, "note": f"now {status}"},
        )
        assert moved.status_code == 200, moved.text
    final = moved.json()
    assert final["status"] == "closed"
    assert [e["to_status"] for e in final["events"]] == [
        "received",
        "dispatched",
        "en_route",
        "on_scene",
        "cleared",
        "closed",
    ]
    assert final["times"]["call_to_arrival_s"] >= 0
    assert all(
        u["status"] == "available" for u in admin.get("/api/v1/units").json() if u["id"] in ids
    )

    now = datetime.now(UTC)
    kpis = admin.get(
        "/api/v1/dispatch/kpis",
        params={
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
            "area": "T-D1-S2",
        },
    )
    assert kpis.status_code == 200, kpis.text
    body = kpis.json()
    assert body["incidents"] >= 1 and body["dispatch_to_arrival"]["count"] >= 1
    assert body["ring_share"]["5min"] == 1.0
    assert set(body["by_category"]) >= {"public_order"}
    assert (
        admin.get(
            "/api/v1/dispatch/kpis",
            params={"start": "2026-01-01T00:00:00", "end": "2026-02-01T00:00:00"},
        ).status_code
        == 422
    )


def test_concurrent_intakes_each_get_their_own_answer(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    """Calls that arrive together are written in shared batches: each is still answered on
    its own, a key sent several times at once makes one incident, a revoked token and a bad
    point fail alone."""
    token = live_server.admin_token()
    bodies = [(f"conc-{i}", _body(offset=i)) for i in range(24)]
    bodies += [("conc-same", _body())] * 6
    bodies += [("conc-out", {**_body(), "lon": 0.0, "lat": 0.0})]
    bodies += [("conc-revoked", _body())]
    with Session(live_server.engine) as session:
        user = auth.get_by_username(session, username="api_admin")
        assert user is not None
        _, revoked = auth.issue_token(session, user=user, name="gone", ttl=None, actor=SYSTEM)
        session.execute(update(ApiToken).where(ApiToken.name == "gone").values(revoked=True))
        session.commit()
    start = threading.Barrier(len(bodies))

    def post(key: str, body: dict[str, Any]) -> httpx.Response:
        with live_server.client(revoked if key == "conc-revoked" else token) as client:
            start.wait(10)
            return client.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda kb: post(*kb), bodies))
    by_key: dict[str, list[httpx.Response]] = {}
    for (key, _), answer in zip(bodies, answers, strict=True):
        by_key.setdefault(key, []).append(answer)
    for i in range(24):
        [one] = by_key[f"conc-{i}"]
        assert one.status_code == 201, one.text
        assert one.json()["description"] == f"two men fighting {i}"
    same = by_key["conc-same"]
    assert sorted(a.status_code for a in same) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in same}) == 1
    assert by_key["conc-out"][0].status_code == 422
    assert by_key["conc-revoked"][0].status_code == 401
    with Session(live_server.engine) as session:
        stored = session.scalars(
            select(Incident.idempotency_key).where(Incident.idempotency_key.like("conc-%"))
        ).all()
    assert sorted(stored) == sorted([f"conc-{i}" for i in range(24)] + ["conc-same"])


def test_viewer_reads_but_cannot_act(live_server: LiveServer, live_network: Path) -> None:
    viewer = _user_client(live_server, "disp_viewer", Role.VIEWER, "T")
    with viewer:
        assert viewer.get("/api/v1/incidents").status_code == 200
        assert (
            viewer.post(
                "/api/v1/incidents", json=_body(), headers={"Idempotency-Key": "viewer-1"}
            ).status_code
            == 403
        )
        assert (
            viewer.post(
                "/api/v1/units", json={"call_sign": "V-1", "type": "car", "home_area_code": "T"}
            ).status_code
            == 403
        )
    grid = _user_client(live_server, "disp_grid", Role.GRID_WORKER, "T")
    with grid:
        assert grid.get("/api/v1/incidents").status_code == 403


def test_posts_units_at_posts_and_per_unit_arrival(
    live_server: LiveServer, admin: httpx.Client
) -> None:
    lon, lat = grid_centre("T-D2-S1-B1-G1")
    post = admin.post(
        "/api/v1/posts",
        json={
            "code": "API-PP1",
            "name": "西门警务站",
            "kind": "street_post",
            "lon": lon,
            "lat": lat,
        },
    )
    assert post.status_code == 201, post.text
    assert (
        admin.post(
            "/api/v1/posts",
            json={
                "code": "API-PP1",
                "name": "again",
                "kind": "street_post",
                "lon": lon,
                "lat": lat,
            },
        ).status_code
        == 409
    )
    assert any(p["code"] == "API-PP1" for p in admin.get("/api/v1/posts").json())
    units = []
    for n in range(2):
        made = admin.post(
            "/api/v1/units",
            json={
                "call_sign": f"ARRIVE-{n}",
                "type": "car",
                "home_area_code": "T-D2",
                "home_post_code": "API-PP1",
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["home_post_id"] == post.json()["id"]
        assert (made.json()["lon"], made.json()["lat"]) == (lon, lat)  # starts at its post
        units.append(made.json()["id"])
    missing = admin.post(
        "/api/v1/units",
        json={
            "call_sign": "ARRIVE-X",
            "type": "car",
            "home_area_code": "T-D2",
            "home_post_code": "NO-SUCH",
        },
    )
    assert missing.status_code == 404 and missing.json()["field"] == "home_post_code"
    incident = admin.post(
        "/api/v1/incidents",
        json=_body("T-D2-S1-B1-G1", priority="P1"),
        headers={"Idempotency-Key": "arrive-1"},
    ).json()
    sent = admin.post(f"/api/v1/incidents/{incident['id']}/dispatch", json={"unit_ids": units})
    assert sent.status_code == 200, sent.text
    first = admin.post(f"/api/v1/incidents/{incident['id']}/units/{units[0]}/arrival")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "on_scene"
    arrived = {a["unit_id"]: a["arrived_at"] for a in body["assignments"]}
    assert arrived[units[0]] is not None and arrived[units[1]] is None
    again = admin.post(f"/api/v1/incidents/{incident['id']}/units/{units[0]}/arrival")
    assert again.status_code == 409


def test_create_at_a_standard_address(live_server: LiveServer, admin: httpx.Client) -> None:
    lon, lat = grid_centre("T-D2-S2-B1-G2")
    made = admin.post(
        "/api/v1/addresses",
        json={
            "code": "API-ADDR-1",
            "text_zh": "二号路2号",
            "text_en": "2 Second Rd",
            "lon": lon,
            "lat": lat,
        },
    )
    assert made.status_code == 201, made.text
    body = {
        "category": "dispute",
        "subtype": "neighbour",
        "priority": "P3",
        "source": "call",
        "address_code": "API-ADDR-1",
    }
    created = admin.post("/api/v1/incidents", json=body, headers={"Idempotency-Key": "addr-1"})
    assert created.status_code == 201, created.text
    assert (created.json()["lon"], created.json()["lat"]) == pytest.approx((lon, lat))
    assert created.json()["area_code"] == "T-D2-S2-B1-G2"
    nowhere = admin.post(
        "/api/v1/incidents",
        json={**body, "address_code": None},
        headers={"Idempotency-Key": "addr-2"},
    )
    assert nowhere.status_code == 422 and nowhere.json()["field"] == "lon"
    unknown = admin.post(
        "/api/v1/incidents",
        json={**body, "address_code": "NOPE"},
        headers={"Idempotency-Key": "addr-3"},
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "address_code"


def test_intake_on_the_thread_writer_answers_as_the_process_does(
    backend: str, tmp_path: Path
) -> None:
    # FANGKONG_INTAKE_WRITER=thread: the same batches and answers, on a thread of the server.
    lon, lat = grid_centre("T-D1-S1-B1-G1")
    with running_server(backend, tmp_path, "_thread_intake", intake_writer="thread") as server:
        token = server.admin_token()

        def post(i: int) -> httpx.Response:
            with server.client(token) as client:
                return client.post(
                    "/api/v1/incidents",
                    headers={"Idempotency-Key": f"t-{i % 4}"},
                    json={
                        "category": "fire",
                        "subtype": "building",
                        "priority": "P1",
                        "source": "call",
                        "lon": lon,
                        "lat": lat,
                        "description": f"thread {i % 4}",
                    },
                )

        with ThreadPoolExecutor(8) as pool:  # sent at once: written in shared batches
            answers = list(pool.map(post, range(8)))
        assert sorted(a.status_code for a in answers) == [200] * 4 + [201] * 4
        ids = {a.json()["description"]: a.json()["id"] for a in answers if a.status_code == 201}
        assert all(ids[a.json()["description"]] == a.json()["id"] for a in answers)
        assert all(a.json()["area_code"] == "T-D1-S1-B1-G1" for a in answers)
        with Session(server.engine) as session:
            stored = session.scalars(
                select(Incident.idempotency_key).where(Incident.idempotency_key.like("t-%"))
            ).all()
        assert sorted(stored) == ["t-0", "t-1", "t-2", "t-3"]
