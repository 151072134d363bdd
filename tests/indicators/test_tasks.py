"""The task ledger (重点任务清单) at its service seam on both backends and over HTTP: overdue
tasks are supervised on the case engine (one open case each, on the supervision board), and a
task done closes its case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR
from conftest import LiveServer
from dispatch.dispatch_helpers import area, scope_of
from fangkong.cases import board
from fangkong.cases.models import Case
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.indicators import tasks
from fangkong.indicators.models import TaskStatus

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)
OFFICE = Actor(user_id=None, username="office", client="test")


def _task(db: Session, code: str, deadline: date, grid: str = "T-D1-S1") -> tasks.IndicatorTask:
    return tasks.create(
        db,
        code=code,
        title="视频监控补点",
        responsible_unit="县公安局科信大队",
        area=area(db, grid),
        deadline=deadline,
        progress=20,
        indicator_ids=["devices.density", "devices.online_rate", "devices.density"],
        actor=OFFICE,
    )


def test_overdue_tasks_are_supervised_once_and_closed_when_done(db: Session) -> None:
    late = _task(db, "TK-1", date(2026, 6, 1))
    due_today = _task(db, "TK-2", date(2026, 6, 10))
    other = _task(db, "TK-3", date(2026, 5, 1), grid="T-D2-S1")
    assert late.indicator_ids == ["devices.density", "devices.online_rate"]
    on = tasks.today(NOW, ZONE)
    assert tasks.is_overdue(late, on=on) and not tasks.is_overdue(due_today, on=on)
    station = scope_of(db, "T-D1")
    opened = tasks.supervise_overdue(
        db, scope=station, actor=OFFICE, now=NOW, zone=ZONE, calendar=CALENDAR
    )
    assert [t.code for t in opened] == ["TK-1"] and other.case_id is None
    case = db.get(Case, late.case_id)
    assert case is not None and case.case_type == "task_supervision" and case.closed_at is None
    assert case.data["task_code"] == "TK-1"
    # Supervised again: nothing new while the case is open.
    again = tasks.supervise_overdue(
        db, scope=SYSTEM_SCOPE, actor=OFFICE, now=NOW, zone=ZONE, calendar=CALENDAR
    )
    assert [t.code for t in again] == ["TK-3"]
    # The supervision board counts it in its area.
    _, rows = board.board(
        db, scope=SYSTEM_SCOPE, now=NOW, area=area(db, "T"), case_type="task_supervision"
    )
    assert {r.area.code: r.open for r in rows} == {"T-D1": 1, "T-D2": 1}
    tasks.update_progress(
        db,
        task=late,
        progress=100,
        status=None,
        user=None,
        actor=OFFICE,
        now=NOW,
        calendar=CALENDAR,
    )
    assert late.status is TaskStatus.DONE and late.done_at == NOW
    db.refresh(case)
    assert case.state == "completed" and case.closed_at is not None
    tasks.update_progress(
        db,
        task=other,
        progress=30,
        status=TaskStatus.CANCELLED,
        user=None,
        actor=OFFICE,
        now=NOW,
        calendar=CALENDAR,
    )
    assert db.get(Case, other.case_id).state == "cancelled"  # type: ignore[union-attr]
    assert [t.code for t in tasks.get_all(db, scope=SYSTEM_SCOPE, overdue_on=on)] == []


def test_tasks_are_checked_and_scoped(db: Session) -> None:
    task = _task(db, "TK-9", date(2026, 7, 1))
    with pytest.raises(Conflict):
        _task(db, "TK-9", date(2026, 7, 1))
    with pytest.raises(NotFound):
        tasks.create(
            db,
            code="TK-10",
            title="x",
            responsible_unit="y",
            area=area(db, "T"),
            deadline=date(2026, 7, 1),
            progress=0,
            indicator_ids=["nope"],
            actor=OFFICE,
        )
    with pytest.raises(InvalidInput):
        tasks.update_progress(
            db,
            task=task,
            progress=101,
            status=None,
            user=None,
            actor=OFFICE,
            now=NOW,
            calendar=CALENDAR,
        )
    with pytest.raises(NotFound):
        tasks.get_or_raise(db, task_id=task.id, scope=scope_of(db, "T-D2"))
    assert tasks.get_or_raise(db, task_id=task.id, scope=scope_of(db, "T-D1")) is task


@pytest.fixture(scope="module")
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = live_server.client(live_server.admin_token())
    yield client
    client.close()


def test_the_ledger_over_http(live_server: LiveServer, admin: httpx.Client) -> None:
    made = admin.post(
        "/api/v1/indicators/tasks",
        json={
            "code": "TKH-1",
            "title": "社区警务室建设",
            "responsible_unit": "治安大队",
            "area_code": "T-D1-S2",
            "deadline": "2020-01-31",
            "indicator_ids": ["manual.community_police_share"],
        },
    )
    assert made.status_code == 201, made.text
    task = made.json()
    assert task["overdue"] and task["progress"] == 0
    overdue = admin.get("/api/v1/indicators/tasks", params={"overdue": True}).json()
    assert "TKH-1" in {t["code"] for t in overdue}
    supervised = admin.post("/api/v1/indicators/tasks/supervise").json()
    mine = next(t for t in supervised if t["code"] == "TKH-1")
    assert mine["case_id"] is not None
    case = admin.get(f"/api/v1/cases/{mine['case_id']}").json()
    assert case["type"] == "task_supervision"
    board_rows = admin.get(
        "/api/v1/cases/board", params={"type": "task_supervision", "area": "T-D1"}
    ).json()["rows"]
    assert next(r for r in board_rows if r["area_code"] == "T-D1-S2")["open"] >= 1
    done = admin.put(f"/api/v1/indicators/tasks/{task['id']}/progress", json={"progress": 100})
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert admin.get(f"/api/v1/cases/{mine['case_id']}").json()["state"] == "completed"
    for body in ({"progress": 101}, {"progress": True}, {"progress": 5, "status": "x"}):
        assert (
            admin.put(f"/api/v1/indicators/tasks/{task['id']}/progress", json=body).status_code
            == 422
        )
    page = live_server.console_client("api_admin")
    try:
        listed = page.get("/indicators/tasks")
        assert listed.status_code == 200 and 'data-task="TKH-1"' in listed.text
    finally:
        page.close()


def test_the_servers_tick_supervises_overdue_tasks(db: Session) -> None:
    from sqlalchemy.orm import sessionmaker

    from fangkong.indicators import jobs

    _task(db, "TK-JOB", date(2020, 1, 31))
    db.flush()
    factory = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
    assert "TK-JOB" in jobs.run_once(factory, zone=ZONE, calendar=CALENDAR)
    assert "TK-JOB" not in jobs.run_once(factory, zone=ZONE, calendar=CALENDAR)
