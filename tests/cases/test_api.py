"""The case API over HTTP on both backends: the loop, roles, scoping, personal data, files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.case_helpers import CasesServer
from fangkong.cases.models import CaseAttachment
from fangkong.core.models import AuditEvent, Role

GRID = "T-D1-S1-B1-G1"
USERS = {
    "officer": (Role.STATION_OFFICER, "T-D1-S1"),
    "grid": (Role.GRID_WORKER, GRID),
    "mediator": (Role.MEDIATOR, "T-D1-S1"),
    "commander": (Role.COMMANDER, "T"),
    "viewer": (Role.VIEWER, "T"),
    "stranger": (Role.STATION_OFFICER, "T-D2-S1"),
    "admin": (Role.ADMIN, "T"),
}


@pytest.fixture(scope="module")
def tokens(cases_server: CasesServer) -> Iterator[dict[str, str]]:
    yield {
        name: cases_server.user_token(f"api_{name}", role, code)
        for name, (role, code) in USERS.items()
    }


def _hazard(client: httpx.Client, title: str, **extra: object) -> dict[str, Any]:
    response = client.post(
        "/api/v1/cases",
        json={
            "type": "hazard",
            "title": title,
            "area_code": GRID,
            "fields": {"finding_route": "on_foot", "category": "fire"},
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_hazard_loop_over_http(cases_server: CasesServer, tokens: dict[str, str]) -> None:
    with (
        cases_server.client(tokens["grid"]) as grid,
        cases_server.client(tokens["officer"]) as officer,
    ):
        created = _hazard(grid, "API 消防通道", description="楼道堆物")
        case_id = created["id"]
        assert created["state"] == "found" and created["number"] == f"HZ-{case_id:06d}"
        assert [t["name"] for t in created["allowed_transitions"]] == ["assess"]
        assert created["timeline"][0]["kind"] == "create"
        moved = grid.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={
                "transition": "assess",
                "fields": {"assessment_level": "grid", "risk_grade": "general"},
            },
        )
        assert moved.status_code == 200 and moved.json()["state"] == "assessed"
        refused = grid.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"transition": "route_internal", "fields": {"department": "警务室"}},
        )
        assert refused.status_code == 403
        assert "may not take transition 'route_internal'" in refused.json()["message"]
        missing = officer.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"transition": "route_internal", "fields": {}},
        )
        assert missing.status_code == 422 and missing.json()["field"] == "fields.department"
        stale = officer.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"transition": "route_internal", "fields": {"department": "警务室"}, "version": 1},
        )
        assert stale.status_code == 409 and stale.json()["field"] == "version"
        for client, name, fields in [
            (officer, "route_internal", {"department": "警务室"}),
            (grid, "report_handled", {"measures": "已清理"}),
            (officer, "pass_reinspection", {"reinspection_result": "整改到位"}),
        ]:
            step = client.post(
                f"/api/v1/cases/{case_id}/transitions", json={"transition": name, "fields": fields}
            )
            assert step.status_code == 200, step.text
        done = step.json()
        assert done["state"] == "closed" and done["closed_at"] is not None
        assert [e["transition"] for e in done["timeline"]][1:] == [
            "assess",
            "route_internal",
            "report_handled",
            "pass_reinspection",
        ]
        wrong = officer.post(
            f"/api/v1/cases/{case_id}/transitions", json={"transition": "assess", "fields": {}}
        )
        assert wrong.status_code == 409 and wrong.json()["field"] == "transition"
        comment = grid.post(f"/api/v1/cases/{case_id}/comments", json={"text": "已回访居民"})
        assert comment.status_code == 201 and comment.json()["kind"] == "comment"
        link = grid.post(
            f"/api/v1/cases/{case_id}/links",
            json={"kind": "incident", "ref_id": "110-1", "label": "报警"},
        )
        assert link.status_code == 201
        listed = officer.get(
            "/api/v1/cases", params={"type": "hazard", "state": "closed", "area": "T-D1-S1-B1"}
        ).json()
        assert case_id in [c["id"] for c in listed["items"]]


def test_scoping_and_roles_over_http(cases_server: CasesServer, tokens: dict[str, str]) -> None:
    with cases_server.client(tokens["grid"]) as grid:
        case_id = _hazard(grid, "API 范围")["id"]
    with cases_server.client(tokens["stranger"]) as stranger:
        assert case_id not in [
            c["id"] for c in stranger.get("/api/v1/cases", params={"limit": 500}).json()["items"]
        ]
        assert stranger.get(f"/api/v1/cases/{case_id}").status_code == 404
        assert (
            stranger.post(f"/api/v1/cases/{case_id}/comments", json={"text": "x"}).status_code
            == 404
        )
        outside = stranger.post(
            "/api/v1/cases",
            json={
                "type": "hazard",
                "title": "x",
                "area_code": GRID,
                "fields": {"finding_route": "on_foot", "category": "fire"},
            },
        )
        assert outside.status_code == 404 and outside.json()["field"] == "code"
    with cases_server.client(tokens["viewer"]) as viewer:
        seen = viewer.get(f"/api/v1/cases/{case_id}")
        assert seen.status_code == 200 and seen.json()["allowed_transitions"] == []
        assert (
            viewer.post(
                f"/api/v1/cases/{case_id}/transitions", json={"transition": "assess"}
            ).status_code
            == 403
        )
        assert viewer.post("/api/v1/cases", json={}).status_code == 403
    with cases_server.client() as anonymous:
        assert anonymous.get("/api/v1/cases").status_code == 401
    with cases_server.client(tokens["officer"]) as officer:
        bad = officer.post(
            "/api/v1/cases", json={"type": "parking", "title": "x", "area_code": GRID}
        )
        assert bad.status_code == 422 and bad.json()["field"] == "type"
        no_field = officer.post(
            "/api/v1/cases", json={"type": "hazard", "title": "x", "area_code": GRID, "fields": {}}
        )
        assert no_field.json()["field"] == "fields.finding_route"
        denied = officer.post(
            f"/api/v1/cases/{case_id}/supervise",
            json={"due_at": "2030-01-01T09:00:00+08:00", "note": "x"},
        )
        assert denied.status_code == 403
    with cases_server.client(tokens["commander"]) as commander:
        due = datetime.now(UTC) + timedelta(days=2)
        supervised = commander.post(
            f"/api/v1/cases/{case_id}/supervise",
            json={"due_at": due.isoformat(), "note": "限期整改"},
        )
        assert supervised.status_code == 200, supervised.text
        assert datetime.fromisoformat(supervised.json()["due_at"]) == due.replace(
            microsecond=due.microsecond
        )
        naive = commander.post(
            f"/api/v1/cases/{case_id}/supervise",
            json={"due_at": "2030-01-01T09:00:00", "note": "x"},
        )
        assert naive.status_code == 422
        board = commander.get("/api/v1/cases/board", params={"area": "T-D1-S1"}).json()
        assert [r["area_code"] for r in board["rows"]] == ["T-D1-S1-B1", "T-D1-S1-B2"]
        assert board["rows"][0]["supervised"] >= 1
        figures = commander.get(
            "/api/v1/cases/indicators",
            params={
                "type": "hazard",
                "area": "T-D1-S1",
                "start": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "end": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            },
        )
        assert figures.status_code == 200 and figures.json()[0]["found"] >= 1
        assert (
            commander.get(
                "/api/v1/cases/indicators",
                params={
                    "type": "hazard",
                    "area": "T",
                    "start": "2026-01-01T00:00:00",
                    "end": "2026-02-01T00:00:00",
                },
            ).status_code
            == 422
        )
        assert commander.post("/api/v1/cases/tick").status_code == 403
    with cases_server.client(tokens["admin"]) as admin:
        tick = admin.post("/api/v1/cases/tick")
        assert tick.status_code == 200 and tick.json()["checked"] >= 1
        assert admin.post("/api/v1/cases/purge").status_code == 200
    with cases_server.client(tokens["grid"]) as grid:
        notices = grid.get("/api/v1/cases/notices", params={"unread": True}).json()
        mine = [n for n in notices if n["case_id"] == case_id and n["kind"] == "supervise"]
        assert mine and mine[0]["read_at"] is None
        marked = grid.post("/api/v1/cases/notices/read", json={"ids": [mine[0]["id"]]})
        assert marked.json() == {"marked": 1}
        assert mine[0]["id"] not in [
            n["id"] for n in grid.get("/api/v1/cases/notices", params={"unread": True}).json()
        ]
        assert grid.post("/api/v1/cases/notices/read", json={"ids": [mine[0]["id"]]}).json() == {
            "marked": 0
        }


def test_dispute_personal_data_over_http(cases_server: CasesServer, tokens: dict[str, str]) -> None:
    with cases_server.client(tokens["mediator"]) as mediator:
        created = mediator.post(
            "/api/v1/cases",
            json={
                "type": "dispute",
                "title": "API 邻里纠纷",
                "area_code": GRID,
                "fields": {"category": "neighbour", "channel": "people", "source": "walk_in"},
                "parties": [
                    {"role": "applicant", "name": "王小明", "contact": "13800001234"},
                    {"role": "respondent", "name": "赵大", "contact": "13900005678"},
                ],
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert [(p["name"], p["contact"]) for p in body["parties"]] == [
            ("王**", "138******34"),
            ("赵*", "139******78"),
        ]
        assert "王小明" not in created.text
        case_id = body["id"]
        me = mediator.get("/api/v1/users/me").json()["id"]
        assigned = mediator.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"transition": "assign_mediator", "fields": {"mediator": me}},
        )
        assert assigned.status_code == 200 and assigned.json()["assignee_user_id"] == me
        agreed = mediator.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"transition": "record_agreement", "fields": {"agreement_text": "赵大赔偿王小明"}},
        )
        assert agreed.json()["personal"] == {"agreement_text": "*** (7)"}
        assert "王小明" not in agreed.text
        clear = mediator.get(f"/api/v1/cases/{case_id}/personal")
        assert clear.status_code == 200
        assert [p["name"] for p in clear.json()["parties"]] == ["王小明", "赵大"]
        assert clear.json()["fields"] == {"agreement_text": "赵大赔偿王小明"}
    with cases_server.client(tokens["grid"]) as grid:
        assert grid.get(f"/api/v1/cases/{case_id}/personal").status_code == 403
    with Session(cases_server.engine) as session:
        reads = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "read_personal", AuditEvent.entity_id == str(case_id)
            )
        ).all()
        assert [r.username for r in reads] == ["api_mediator"]


def test_attachments_over_http(cases_server: CasesServer, tokens: dict[str, str]) -> None:
    with cases_server.client(tokens["grid"]) as grid:
        case_id = _hazard(grid, "API 附件")["id"]
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
        uploaded = grid.post(
            f"/api/v1/cases/{case_id}/attachments",
            files={"file": ("现场照片.png", png, "image/png")},
        )
        assert uploaded.status_code == 201, uploaded.text
        attachment = uploaded.json()
        assert attachment["size"] == len(png) and attachment["content_type"] == "image/png"
        download = grid.get(f"/api/v1/cases/{case_id}/attachments/{attachment['id']}")
        assert download.status_code == 200 and download.content == png
        assert download.headers["content-type"] == "image/png"
        assert "attachment" in download.headers["content-disposition"]
        refused = grid.post(
            f"/api/v1/cases/{case_id}/attachments",
            files={"file": ("run.sh", b"#!/bin/sh", "text/x-sh")},
        )
        assert refused.status_code == 422 and refused.json()["field"] == "file"
        files = list((cases_server.settings.data_dir / "attachments").iterdir())
        assert len([f for f in files if not f.name.startswith(".")]) >= 1
    with cases_server.client(tokens["stranger"]) as stranger:
        assert (
            stranger.get(f"/api/v1/cases/{case_id}/attachments/{attachment['id']}").status_code
            == 404
        )
    with Session(cases_server.engine) as session:
        row = session.get_one(CaseAttachment, attachment["id"])
        on_disk = (cases_server.settings.data_dir / "attachments" / row.storage_key).read_bytes()
        assert png not in on_disk and bytes(range(64)) not in on_disk  # sealed at rest
        assert row.key_encrypted is not None and row.key_encrypted not in on_disk.decode("latin-1")
        assert attachment["sha256"] != hashlib.sha256(png).hexdigest()  # a keyed digest
        assert _downloads(session, case_id) == [("api_grid", attachment["id"], False)]


def _downloads(session: Session, case_id: int) -> list[tuple[str | None, int, bool]]:
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "download", AuditEvent.entity_id == str(case_id))
        .order_by(AuditEvent.id)
    ).all()
    return [
        (e.username, e.detail["attachment_id"], e.detail["personal"])
        for e in events
        if e.detail is not None
    ]


def test_attachments_of_a_case_with_personal_data_need_the_unmask_permission(
    cases_server: CasesServer, tokens: dict[str, str]
) -> None:
    """A dispute holds parties: its files are read by roles that may unmask personal data
    only, as its parties are; every download is audited, a refused one reads nothing."""
    with cases_server.client(tokens["grid"]) as grid:
        created = grid.post(
            "/api/v1/cases",
            json={
                "type": "dispute",
                "title": "API 纠纷附件",
                "area_code": GRID,
                "fields": {"category": "neighbour", "channel": "people", "source": "walk_in"},
                "parties": [
                    {"role": "applicant", "name": "钱一", "contact": "13800002222"},
                    {"role": "respondent", "name": "孙二", "contact": "13900003333"},
                ],
            },
        )
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        text = "钱一与孙二的协议".encode()
        uploaded = grid.post(
            f"/api/v1/cases/{case_id}/attachments",
            files={"file": ("协议.txt", text, "text/plain")},
        )
        assert uploaded.status_code == 201, uploaded.text
        attachment_id = uploaded.json()["id"]
        url = f"/api/v1/cases/{case_id}/attachments/{attachment_id}"
        refused = grid.get(url)
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
        assert "cases.personal.unmask" in refused.json()["message"]
        assert text not in refused.content
    with cases_server.client(tokens["mediator"]) as mediator:
        download = mediator.get(url)
        assert download.status_code == 200 and download.content == text
        assert download.headers["cache-control"] == "no-store"
    with Session(cases_server.engine) as session:
        assert _downloads(session, case_id) == [("api_mediator", attachment_id, True)]


def test_types_in_both_languages(cases_server: CasesServer, tokens: dict[str, str]) -> None:
    with cases_server.client(tokens["viewer"]) as viewer:
        zh = {t["name"]: t["label"] for t in viewer.get("/api/v1/cases/types").json()}
        assert (zh["dispute"], zh["hazard"]) == ("矛盾纠纷", "风险隐患")
        viewer.cookies.set("fangkong_lang", "en")
        en = viewer.get("/api/v1/cases/types").json()
        assert [t["name"] for t in en] == sorted(zh)  # every type, in both languages
        assert {t["name"]: t["label"] for t in en}.keys() == zh.keys()
        hazard = next(t for t in en if t["name"] == "hazard")
        assert (hazard["label"], next(t for t in en if t["name"] == "dispute")["label"]) == (
            "Hazard",
            "Dispute",
        )
        assert [f["name"] for f in hazard["create_fields"]] == ["finding_route", "category"]
        assert hazard["create_fields"][0]["options"][0] == [
            "rolling_special",
            "Rolling special sweep",
        ]
