"""The community domain over HTTP, on both backends, against a server of its own (its rate
limits are its own): the public's tip page and API with no login — its security headers, no
session cookie, no CSRF token needed and why none is, the guard, the size and rate limits,
answers that show nothing internal — and the console's API of teams, members, figures and
tips, scoped and audited."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer, running_server
from factories import grid_centre
from fangkong.community import tips
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import Role
from fangkong.core.security import FieldCipher

GRID = "T-D2-S1-B2-G1"
BEAT = "T-D2-S1-B2"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 256


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(
        backend, tmp_path_factory.mktemp("community"), "_community", public_tips_per_window=12
    ) as live:
        with Session(live.engine) as session:
            for name, role, code in (
                ("c_officer", Role.STATION_OFFICER, "T-D2-S1"),
                ("c_grid", Role.GRID_WORKER, GRID),
                ("c_far", Role.STATION_OFFICER, "T-D1-S1"),
            ):
                auth.create(
                    session,
                    username=name,
                    display_name=name,
                    password=TEST_PASSWORD,
                    role=role,
                    area_codes=[code],
                    actor=SYSTEM,
                )
            session.commit()
        yield live


def _form(server: LiveServer, **values: str) -> dict[str, str]:
    """A filled form with a token issued 10 s ago and its proof of work done."""
    cipher = FieldCipher(server.settings.ensure_secret_key())
    token = tips.issue_token(cipher, now_s=time.time() - 10)
    lon, lat = grid_centre(GRID)
    form = {
        "category": "fire",
        "text": "小区东门电动车集中充电，电线乱拉",
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
        "token": token,
        "nonce": tips.solve(token),
    }
    form.update(values)
    return form


def _headers_ok(answer: httpx.Response) -> None:
    policy = answer.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, answer.url
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "fangkong_session" not in answer.headers.get("set-cookie", ""), answer.url


def test_the_public_page_needs_no_login_and_sets_no_session(server: LiveServer) -> None:
    with server.client() as client:
        for path in ("/tip", "/tip/status", "/tip/status?receipt=AAAA-BBBB-CCCC"):
            page = client.get(path)
            assert page.status_code in (200, 404), (path, page.text[:200])
            assert "text/html" in page.headers["content-type"]
            _headers_ok(page)
            assert 'name="csrf_token"' not in page.text
        form = client.get("/tip").text
        assert re.search(r'name="token" value="\d+\.[0-9a-f]{16}\.[0-9a-f]{32}"', form)
        assert 'src="/static/tip.js"' in form
        token = client.get("/api/v1/public/tips/token")
        assert token.status_code == 200 and token.json()["difficulty"] == tips.DIFFICULTY_BITS
        _headers_ok(token)
        assert client.cookies.get("fangkong_session") is None


def test_a_tip_by_the_api_gives_a_receipt_and_a_stage_and_nothing_internal(
    server: LiveServer,
) -> None:
    with server.client() as client:
        sent = client.post(
            "/api/v1/public/tips",
            data=_form(server, place="东门", contact="13612345678"),
            files={"photo": ("p.png", PNG, "image/png")},
        )
        assert sent.status_code == 201, sent.text
        body = sent.json()
        assert set(body) == {"receipt", "status", "reason", "message"}
        assert body["status"] == "accepted" and body["reason"] is None
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", body["receipt"])
        _headers_ok(sent)
        followed = client.get(f"/api/v1/public/tips/{body['receipt']}")
        assert followed.status_code == 200, followed.text
        status = followed.json()
        assert set(status) == {"received_on", "status", "stage", "stage_label"}
        assert status["stage"] == "received"
        for text in (sent.text, followed.text):  # no case number, area or person
            assert "HZ-" not in text and "T-D2" not in text and "1361" not in text
        assert client.get("/api/v1/public/tips/ZZZZ-ZZZZ-ZZZZ").status_code == 404
        assert client.get("/api/v1/public/tips/nonsense").status_code == 422
        page = client.get("/tip/status", params={"receipt": body["receipt"]})
        assert page.status_code == 200 and 'data-stage="received"' in page.text
    # The console sees it as a hazard case, the contact masked until revealed (audited).
    with server.client(server.token("c_officer")) as officer:
        listed = officer.get("/api/v1/community/tips").json()
        (tip,) = [t for t in listed["items"] if t["status"] == "accepted" and t["has_photo"]]
        assert tip["case_number"].startswith("HZ-") and tip["has_contact"]
        case = officer.get(f"/api/v1/cases/{tip['case_id']}").json()
        assert case["type"] == "hazard" and case["data"]["finding_route"] == "public_tip"
        contact = officer.get(f"/api/v1/community/tips/{tip['id']}/contact")
        assert contact.json() == {"contact": "13612345678"}
    with server.client(server.token("c_grid")) as grid:
        assert grid.get(f"/api/v1/community/tips/{tip['id']}/contact").status_code == 403
    with server.client(server.token("c_far")) as far:
        assert tip["id"] not in {t["id"] for t in far.get("/api/v1/community/tips").json()["items"]}


def test_a_rejected_tip_says_why(server: LiveServer) -> None:
    with server.client() as client:
        sent = client.post("/api/v1/public/tips", data=_form(server, lon="100.0", lat="10.0"))
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "rejected" and sent.json()["receipt"] is None
        assert sent.json()["reason"] == "outside_area"
        refused = client.post(
            "/api/v1/public/tips",
            data=_form(server),
            files={"photo": ("p.gif", b"GIF89a" + b"0" * 64, "image/gif")},
        )
        assert refused.status_code == 422 and refused.json()["field"] == "photo"
        too_big = client.post(
            "/api/v1/public/tips",
            data=_form(server),
            files={"photo": ("p.png", PNG + b"0" * (tips.PHOTO_MAX_BYTES + 100_000), "image/png")},
        )
        assert too_big.status_code == 413
        # No token, a forged one, no work: refused before anything is kept.
        form = _form(server)
        # (the forged token's last two characters changed: a token ending in "00" already
        # would be the real one, 1 time in 256)
        forged = form["token"][:-2] + ("11" if form["token"].endswith("00") else "00")
        for broken in (
            {**form, "token": ""},
            {**form, "token": forged},
            {**form, "nonce": "zz"},
        ):
            answer = client.post("/api/v1/public/tips", data=broken)
            assert answer.status_code == 422, answer.text


def test_the_form_page_sends_without_a_session_or_csrf_token(server: LiveServer) -> None:
    # CSRF protects what a logged-in browser may be tricked into doing with its cookie; the
    # tip routes read no credential, so there is nothing to forge: the guard stands instead.
    with server.client() as client:
        sent = client.post("/tip", data=_form(server), headers={"Origin": "https://elsewhere"})
        assert sent.status_code == 201, sent.text
        assert re.search(r'id="tip-receipt">[A-Z2-9-]{14}<', sent.text)
        _headers_ok(sent)
        again = client.post("/tip", data={"category": "fire", "text": "x"})
        assert again.status_code == 422 and 'id="tip-error"' in again.text


def test_a_client_past_its_rate_is_told_when_to_come_back(server: LiveServer) -> None:
    codes = []
    with server.client() as client:
        for _ in range(server.settings.public_tips_per_window + 1):
            answer = client.post("/api/v1/public/tips", data=_form(server))
            codes.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) > 0
                assert answer.json()["code"] == "community.tip_rate"
                break
    assert codes[-1] == 429 and all(c in (200, 201) for c in codes[:-1])


# --- the console's API ----------------------------------------------------------------------------


def test_teams_members_shifts_and_figures(server: LiveServer, tmp_path: Path) -> None:
    with server.client(server.token("c_grid")) as grid:
        made = grid.post(
            "/api/v1/community/teams",
            json={
                "code": "CA-P1",
                "name": "东门巡逻队",
                "kind": "volunteer_patrol",
                "area": GRID,
                "member_count": 8,
            },
        )
        assert made.status_code == 201, made.text
        team = made.json()
        member = grid.post(
            f"/api/v1/community/teams/{team['id']}/members",
            json={"name": "赵六", "phone": "13700001111"},
        )
        assert member.status_code == 201 and member.json()["name"] == "赵*"
        assert member.json()["phone"] == "137******11"
        assert (
            grid.get(
                f"/api/v1/community/teams/{team['id']}/members/{member.json()['id']}/personal"
            ).status_code
            == 403
        )
        shift = grid.post(
            f"/api/v1/community/teams/{team['id']}/shifts",
            json={
                "starts_at": "2026-12-01T19:00:00+08:00",
                "ends_at": "2026-12-01T22:00:00+08:00",
                "member_ids": [member.json()["id"]],
            },
        )
        assert shift.status_code == 201, shift.text
        listed = grid.get("/api/v1/community/shifts", params={"team": "CA-P1"}).json()
        assert [s["id"] for s in listed["items"]] == [shift.json()["id"]]
        reported = grid.post(
            f"/api/v1/community/shifts/{shift.json()['id']}/report",
            json={"status": "done", "turned_out": 1},
        )
        assert reported.json()["turned_out"] == 1
        informants = grid.post(
            "/api/v1/community/teams",
            json={
                "code": "CA-I1",
                "name": "信息员",
                "kind": "informant_network",
                "area": GRID,
                "member_count": 4,
                "buildings": 4,
            },
        ).json()
        refused = grid.post(
            f"/api/v1/community/teams/{informants['id']}/members", json={"name": "某人"}
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "community.informants_counted"
        assert (
            grid.put("/api/v1/community/residents/" + GRID, json={"residents": 1200}).status_code
            == 204
        )
        assert (
            grid.put("/api/v1/community/residents/T-D1-S1", json={"residents": 1}).status_code
            == 404
        )
        figures = {f["area_code"]: f for f in grid.get("/api/v1/community/figures").json()}
        assert figures[GRID]["forces"] == 12
        assert figures[GRID]["forces_per_100k"] == pytest.approx(1000.0)
        assert figures[GRID]["forces_target_met"] is True
    with server.client(server.token("c_officer")) as officer:
        clear = officer.get(
            f"/api/v1/community/teams/{team['id']}/members/{member.json()['id']}/personal"
        )
        assert clear.json() == {"id": member.json()["id"], "name": "赵六", "phone": "13700001111"}
        with server.client(server.admin_token()) as admin:
            audit = admin.get("/api/v1/audit", params={"limit": 200})
        assert audit.status_code == 200, audit.text
        assert any(
            e["action"] == "read_personal" and e["entity"] == "safety_member" for e in audit.json()
        )
        export = officer.get("/api/v1/community/teams/export", params={"format": "csv"})
        assert export.status_code == 200 and "CA-P1" in export.content.decode("utf-8-sig")
        assert "赵六" not in export.content.decode("utf-8-sig")
        sheet = (
            "code,name,kind,area,member_count\n"
            "CA-P2,新队,safety_committee,T-D2-S1-B2,5\n"
            "CA-P3,坏,nonsense,T-D2-S1-B2,1\n"
        )
        imported = officer.post(
            "/api/v1/community/teams/import",
            files={"file": ("teams.csv", sheet.encode(), "text/csv")},
        ).json()
        assert imported["created"] == 1 and [e["row"] for e in imported["errors"]] == [3]
    with server.client(server.token("c_far")) as far:
        assert far.get(f"/api/v1/community/teams/{team['id']}").status_code == 404
        codes = {t["code"] for t in far.get("/api/v1/community/teams").json()["items"]}
        assert "CA-P1" not in codes


def test_the_console_pages_render_in_both_languages(server: LiveServer) -> None:
    console = server.console_client("c_officer")
    try:
        team = console.get("/api/v1/community/teams", params={"q": "CA-P1"}).json()["items"][0]
        for language, word in (("zh-CN", "群防群治"), ("en", "Community safety")):
            console.cookies.set("fangkong_lang", language)
            for path in (
                "/community",
                f"/community/teams/{team['id']}",
                "/community/figures",
                "/community/tips",
            ):
                page = console.get(path)
                assert page.status_code == 200, (path, page.text[:300])
                assert word in page.text, (language, path)
        listed = console.get("/community/tips", params={"export": "csv"})
        assert listed.status_code == 200 and "13612345678" not in listed.text
        refused = console.get("/community", params={"kind": "nonsense"})
        assert refused.status_code == 422
    finally:
        console.close()
