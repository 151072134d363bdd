"""The console's view of the province batches (issue 23): each batch's runs per county and
scenario with status and progress, in the reader's scope (SQLite and PostgreSQL), and the
page over HTTP in zh-CN and en."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from conftest import TEST_PASSWORD, LiveServer
from dispatch.dispatch_helpers import area, scope_of
from fangkong.core import auth
from fangkong.core.audit import SYSTEM, Actor
from fangkong.core.errors import FangkongError
from fangkong.core.models import Role
from fangkong.core.scoping import Scope
from fangkong.core.security import FieldCipher
from fangkong.planning import runs, tasks
from fangkong.planning.models import Run, RunKind, RunStatus
from fangkong.province import service
from fangkong.province.service import BATCH_MARK

ACTOR = Actor(user_id=None, username="province-batch:test", client="worker")


def _file(db: Session, batch: str, county: str, kind: str) -> Run:
    """A run as :func:`fangkong.province.batch.run_task` files it."""
    where = area(db, county)
    params = {"scope_paths": [where.path], "area_code": county, "batch": batch}
    return runs.create(
        db,
        kind=RunKind(kind),
        params=params,
        area_path=where.path,
        actor=ACTOR,
        title=f"{tasks.title_of(kind, params)}{BATCH_MARK}{batch}",
    )


def _batch(db: Session, batch: str) -> list[Run]:
    made = [
        _file(db, batch, county, kind)
        for county in ("T-D1", "T-D2")
        for kind in ("coverage", "deployment")
    ]
    runs.claim(db, made[0].id)
    runs.finish(db, made[0], result={"totals": {}}, error=None)
    runs.claim(db, made[1].id)
    runs.report_progress(db, made[1].id, progress=0.25, stage="stations")
    runs.claim(db, made[2].id)
    runs.finish(db, made[2], result=None, error=FangkongError(key="error.network.none_imported"))
    db.flush()
    return made


def test_batches_in_scope_with_their_progress(db: Session) -> None:
    name = uuid.uuid4().hex[:10]
    made = _batch(db, name)
    _file(db, "other", "T-D1", "coverage")  # another batch
    runs.create(  # not a batch's run
        db, kind=RunKind.COVERAGE, params={}, area_path=area(db, "T-D1").path, actor=ACTOR
    )
    whole = Scope(paths=("/",))
    (found,) = service.get_all(db, scope=whole, batch=name)
    assert found.batch == name and found.total == 4 and found.finished == 2
    assert [r.id for r in found.runs] == [r.id for r in made]
    assert [(r.county, r.kind, r.status) for r in found.runs] == [
        ("T-D1", "coverage", "done"),
        ("T-D1", "deployment", "running"),
        ("T-D2", "coverage", "failed"),
        ("T-D2", "deployment", "queued"),
    ]
    assert found.runs[1].progress == 0.25 and found.runs[1].stage == "stations"
    assert found.runs[2].error is not None
    assert found.progress == (1 + 0.25 + 1 + 0) / 4 and found.finished_at is None
    listed = service.get_all(db, scope=whole)
    assert [b.batch for b in listed][:2] == ["other", name]
    assert all(BATCH_MARK.strip() not in b.batch for b in listed)
    # a reader of T-D2 sees only T-D2's runs of the batch
    (mine,) = service.get_all(db, scope=scope_of(db, "T-D2"), batch=name)
    assert {r.county for r in mine.runs} == {"T-D2"} and mine.total == 2
    assert service.get_all(db, scope=scope_of(db, "T-D2"), batch="other") == []
    assert service.get_all(db, scope=whole, batch="no such%batch") == []
    # every run ended: the batch is finished
    for run in made[1:]:
        if run.status not in runs.TERMINAL:
            if run.status == RunStatus.QUEUED:
                runs.claim(db, run.id)
            runs.finish(db, run, result={}, error=None)
    (ended,) = service.get_all(db, scope=whole, batch=name)
    assert ended.finished == 4 and ended.progress == 1.0 and ended.finished_at is not None


def test_the_batches_page(live_server: LiveServer) -> None:
    name = uuid.uuid4().hex[:10]
    with Session(live_server.engine) as session:
        _batch(session, name)
        for username, codes in (("batch_admin", ["T"]), ("batch_viewer_d2", ["T-D2"])):
            if auth.get_by_username(session, username=username) is None:
                auth.create(
                    session, username=username, display_name=username, password=TEST_PASSWORD,
                    role=Role.ADMIN if codes == ["T"] else Role.VIEWER, area_codes=codes,
                    actor=SYSTEM, cipher=FieldCipher(live_server.settings.ensure_secret_key()),
                )  # fmt: skip
        session.commit()
    client = live_server.console_client("batch_admin")
    try:
        page = client.get(f"/province/batches?batch={name}")
        assert page.status_code == 200, page.text
        assert "省级批量规划" in page.text and "潮汐用警" in page.text  # zh-CN by default
        client.cookies.set("fangkong_lang", "en")
        page = client.get(f"/province/batches?batch={name}")
        text = page.text
        assert "Province planning batches" in text and "Hour-of-week deployment" in text
        assert "2 of 4 tasks finished" in text
        assert f'data-batch="{name}"' in text and text.count("data-run=") == 4
        assert 'hx-trigger="every 3s"' in text  # still running: the list polls
        assert "/province/batches" in text  # in the navigation
        rows = client.get(f"/province/batches/rows?batch={name}").text
        assert rows.startswith('<div id="province-batches"') and rows.count("data-run=") == 4
        assert client.get("/province/batches?batch=../x").status_code == 422
        listed = client.get("/province/batches").text
        assert f'data-batch="{name}"' in listed
    finally:
        client.close()
    client = live_server.console_client("batch_viewer_d2")
    try:
        text = client.get(f"/province/batches?batch={name}").text
        assert text.count("data-run=") == 2
        assert "T-D1" not in text.split('id="province-batches"')[1]
    finally:
        client.close()
