"""The REST API over HTTP: login and tokens, errors, import, addresses, audit, CSRF."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from factories import feature, grid_centre, rectangle
from fangkong.areas.models import StandardAddress
from fangkong.core import auth
from fangkong.core.audit import SYSTEM
from fangkong.core.models import AuditEvent, Role


def test_token_login_and_errors(live_server: LiveServer) -> None:
    live_server.admin_token()
    with live_server.client() as client:
        wrong = client.post(
            "/api/v1/auth/token", json={"username": "api_admin", "password": "nope-nope"}
        )
        assert wrong.status_code == 401
        assert wrong.json() == {
            "error": "unauthorized",
            "code": "login.failed",
            "params": {},
            "message": "wrong username or password",
        }
        assert client.get("/api/v1/areas").status_code == 401
        bad = client.get("/api/v1/areas", headers={"Authorization": "Bearer fk_forged"})
        assert bad.status_code == 401
        invalid = client.post("/api/v1/auth/token", json={"username": "x"})
        assert invalid.status_code == 422
        assert invalid.json()["field"] == "body.password"
    with Session(live_server.engine) as session:
        failed = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "login_failed", AuditEvent.username == "api_admin"
            )
        ).all()
        assert failed and failed[-1].client == "127.0.0.1"


def test_import_over_http_is_all_or_nothing(live_server: LiveServer) -> None:
    token = live_server.admin_token()
    w, s = grid_centre("T-D2-S1-B1-G1")
    good = feature("H-B", "beat", "T-D2-S1", rectangle(w, s, w + 0.001, s + 0.001))
    broken = feature("H-G", "grid", "H-B", {"type": "Polygon", "coordinates": [[[w, s]]]})
    with live_server.client(token) as client:
        response = client.post(
            "/api/v1/areas/import", json={"type": "FeatureCollection", "features": [good, broken]}
        )
        assert response.status_code == 422
        body = response.json()
        assert body["field"] == "geometry" and body["message"].startswith("feature 1 (H-G)")
        assert client.get("/api/v1/areas/H-B").status_code == 404
        ok = client.post(
            "/api/v1/areas/import", json={"type": "FeatureCollection", "features": [good]}
        )
        assert ok.status_code == 201 and ok.json() == {"created": 1, "by_level": {"beat": 1}}
        assert client.get("/api/v1/areas/H-B").json()["level"] == "beat"


def test_addresses_and_personal_reads_are_audited(live_server: LiveServer) -> None:
    token = live_server.admin_token()
    lon, lat = grid_centre("T-D2-S2-B1-G2")
    with live_server.client(token) as client:
        created = client.post(
            "/api/v1/addresses",
            json={
                "code": "API-1",
                "text_zh": "接口路1号",
                "text_en": "1 API Rd",
                "lon": lon,
                "lat": lat,
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["h3_cell"]
        page = client.get("/api/v1/addresses", params={"q": "接口路"}).json()
        assert page["total"] == 1 and page["items"][0]["code"] == "API-1"
        again = client.post(
            "/api/v1/addresses", json={"code": "API-1", "text_zh": "x", "lon": lon, "lat": lat}
        )
        assert again.status_code == 409 and again.json()["field"] == "code"
        out_of_range = client.post(
            "/api/v1/addresses", json={"code": "API-2", "text_zh": "x", "lon": 200, "lat": lat}
        )
        assert out_of_range.status_code == 422 and out_of_range.json()["field"] == "body.lon"

        me = client.get("/api/v1/users/me").json()
        assert me["phone_masked"] == "139******78"
        assert client.get(f"/api/v1/users/{me['id']}/phone").json()["phone"] == "13912345678"
        reads = client.get("/api/v1/audit", params={"action": "read_personal"}).json()
        assert reads[0]["entity_id"] == str(me["id"]) and reads[0]["username"] == "api_admin"
        writes = client.get("/api/v1/audit", params={"entity": "standard_address"}).json()
        assert writes[0]["action"] == "create" and writes[0]["detail"] == {"code": "API-1"}


def test_console_login_needs_csrf_and_keeps_scope(live_server: LiveServer) -> None:
    live_server.admin_token()
    with httpx.Client(base_url=live_server.base_url, follow_redirects=False) as browser:
        assert browser.get("/").status_code == 303
        form = browser.get("/login").text
        match = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert match
        csrf = match.group(1)
        no_csrf = browser.post("/login", data={"username": "api_admin", "password": TEST_PASSWORD})
        assert no_csrf.status_code == 403
        wrong = browser.post(
            "/login", data={"username": "api_admin", "password": "wrong-one", "csrf_token": csrf}
        )
        assert wrong.status_code == 401
        ok = browser.post(
            "/login",
            data={
                "username": "api_admin",
                "password": TEST_PASSWORD,
                "csrf_token": csrf,
                "next": "https://evil.example/",
            },
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        assert browser.get("/").status_code == 200
        assert browser.get("/api/v1/users/me").json()["username"] == "api_admin"
        # A cookie-authenticated write without the token is refused, with it accepted.
        lon, lat = grid_centre("T-D1-S2-B2-G1")
        body = {"code": "CSRF-1", "text_zh": "令牌路1号", "lon": lon, "lat": lat}
        assert browser.post("/api/v1/addresses", json=body).status_code == 403
        accepted = browser.post("/api/v1/addresses", json=body, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 201
        for page in ("/areas", "/areas/fusion", "/addresses", "/audit", "/docs"):
            html = browser.get(page)
            assert html.status_code == 200, page
            # No page loads code or styles from another host: the console runs offline.
            assert not re.search(r'(src|href)="(https?:)?//', html.text), page
        english = browser.get("/lang/en", headers={"referer": f"{live_server.base_url}/areas"})
        assert english.headers["location"] == "/areas"
        assert "Areas and grids" in browser.get("/areas").text
        assert "辖区与网格" not in browser.get("/areas").text


def test_a_2xx_write_is_committed_before_the_answer(live_server: LiveServer) -> None:
    token = live_server.admin_token()
    lon, lat = grid_centre("T-D2-S1-B2-G1")
    with live_server.client(token) as client:
        for n in range(20):
            code = f"DUR-{n}"
            answer = client.post(
                "/api/v1/addresses",
                json={"code": code, "text_zh": "持久路", "lon": lon, "lat": lat},
            )
            assert answer.status_code == 201
            # Read at once on another connection: the row must already be committed.
            with Session(live_server.engine) as session:
                found = session.scalars(
                    select(StandardAddress.id).where(StandardAddress.code == code)
                ).first()
            assert found == answer.json()["id"], code


def test_console_error_pages_render_for_a_logged_in_user(live_server: LiveServer) -> None:
    with Session(live_server.engine) as session:
        if auth.get_by_username(session, username="console_viewer") is None:
            auth.create(
                session,
                username="console_viewer",
                display_name="Viewer",
                password=TEST_PASSWORD,
                role=Role.VIEWER,
                area_codes=["T-D1"],
                actor=SYSTEM,
            )
            session.commit()
    with httpx.Client(base_url=live_server.base_url, follow_redirects=False) as browser:
        match = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
        assert match
        browser.post(
            "/login",
            data={
                "username": "console_viewer",
                "password": TEST_PASSWORD,
                "csrf_token": match.group(1),
            },
        )
        forbidden = browser.get("/audit")
        assert forbidden.status_code == 403
        assert "audit.read" in forbidden.text and "Viewer" in forbidden.text
