"""Planning runs: every analysis stored with its inputs and result, read in scope.

A run is filed under an area path (the area it concerns, else the deepest area common to the
user's areas) and read by the users whose scope covers that path; out of scope reads as not
found. Long runs (placements) go through :mod:`.jobs`: queued, running with progress,
done, failed or cancelled.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.bounds import MAX_ID
from fangkong.core.db import utcnow
from fangkong.core.errors import API_LANGUAGE, Conflict, FangkongError, NotFound
from fangkong.core.scoping import Scope
from fangkong.planning.models import Run, RunKind, RunStatus

MAX_RUNS = 200
#: A running job that has not reported for this long is taken as lost (its server stopped).
STALE_AFTER = timedelta(minutes=2)
TERMINAL = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})
#: Ids are INTEGER columns: a larger id names no row (a caller past the API's and the CLI's
#: bound, :data:`~fangkong.core.bounds.MAX_ID`, reads it as not found).
MAX_ROW_ID = MAX_ID


def filing_path(scope: Scope, area: Area | None) -> str:
    """Where a run is filed: the area, else the deepest path common to the scope's paths."""
    if area is not None:
        return area.path
    paths = list(scope.paths)
    if len(paths) == 1:
        return paths[0]
    parts = [p.strip("/").split("/") for p in paths]
    common: list[str] = []
    for segment in zip(*parts, strict=False):
        if len(set(segment)) != 1:
            break
        common.append(segment[0])
    return "/" + "".join(f"{s}/" for s in common)


def create(
    session: Session,
    *,
    kind: RunKind,
    params: dict[str, Any],
    area_path: str,
    actor: Actor,
    title: str = "",
    scenario_id: int | None = None,
    status: RunStatus = RunStatus.QUEUED,
) -> Run:
    """Store a new run (queued, or running when computed in the caller's thread)."""
    now = utcnow()
    run = Run(
        kind=kind,
        status=status,
        title=title[:200],
        area_path=area_path,
        scenario_id=scenario_id,
        params=json.dumps(params, ensure_ascii=False, separators=(",", ":")),
        created_by_id=actor.user_id,
        created_at=now,
        updated_at=now,
        started_at=now if status == RunStatus.RUNNING else None,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="planning_run",
        entity_id=run.id,
        detail={"kind": kind.value, "title": run.title},
        area_path=area_path,
    )
    return run


def finish(
    session: Session, run: Run, *, result: dict[str, Any] | None, error: FangkongError | None
) -> None:
    """Store a run's result (done) or error (failed); a cancelled run keeps its best answer.

    The error is stored as its catalogue key and values (:func:`error_record`), so that each
    reader sees it in their language (:func:`error_text`)."""
    now = utcnow()
    run.result = json.dumps(result, ensure_ascii=False, separators=(",", ":")) if result else None
    run.error = None if error is None else error_record(error)
    if error is not None:
        run.status = RunStatus.FAILED
    elif run.cancel_requested or (result or {}).get("status") == "cancelled":
        run.status = RunStatus.CANCELLED
    else:
        run.status = RunStatus.DONE
    run.progress = 1.0 if run.status == RunStatus.DONE else run.progress
    run.finished_at = now
    run.updated_at = now
    session.flush()


def _stored_value(value: Any) -> Any:
    if isinstance(value, FangkongError):
        return {ERROR_VALUE: _error_dict(value)}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _error_dict(error: FangkongError) -> dict[str, Any]:
    if error.key is None:  # an error with a message and no key (none is raised on purpose)
        return {"message": error.message}
    return {"key": error.key, "params": {k: _stored_value(v) for k, v in error.params.items()}}


#: Marks a value of an error's params that is itself an error (a row's fault, a cause).
ERROR_VALUE = "$error"


def error_record(error: FangkongError) -> str:
    """What :attr:`Run.error` stores: ``{"key": ..., "params": {...}}`` as JSON (a value that
    is itself an error is stored the same way under ``"$error"``)."""
    return json.dumps(_error_dict(error), ensure_ascii=False, separators=(",", ":"))


def _error_from(data: dict[str, Any]) -> FangkongError | None:
    key = data.get("key")
    if not isinstance(key, str):
        return None
    params = {
        name: (_error_from(value[ERROR_VALUE]) or str(value[ERROR_VALUE]))
        if isinstance(value, dict) and isinstance(value.get(ERROR_VALUE), dict)
        else value
        for name, value in (data.get("params") or {}).items()
    }
    return FangkongError(key=key, params=params)


def _stored_error(run: Run) -> dict[str, Any] | None:
    if not run.error:
        return None
    try:
        data = json.loads(run.error)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def error_of(run: Run) -> tuple[str | None, dict[str, Any]]:
    """The stored error's catalogue key and values; ``(None, {})`` without one (or for an
    error stored as plain text by an earlier version)."""
    data = _stored_error(run)
    if data is None or not isinstance(data.get("key"), str):
        return None, {}
    return str(data["key"]), dict(data.get("params") or {})


def error_text(run: Run, language: str = API_LANGUAGE) -> str | None:
    """The run's error in ``language`` (None when it has none); an error stored as plain text
    reads as it is."""
    if not run.error:
        return None
    data = _stored_error(run)
    if data is None:
        return run.error
    error = _error_from(data)
    if error is not None:
        return error.text(language)
    return str(data.get("message", run.error))


def claim(session: Session, run_id: int) -> bool:
    """Take a queued run for a job (atomically: a cancel or another worker may race it)."""
    now = utcnow()
    taken = session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            Run.status == RunStatus.QUEUED,
            Run.cancel_requested.is_(False),
        )
        .values(status=RunStatus.RUNNING, started_at=now, updated_at=now)
    )
    return bool(getattr(taken, "rowcount", 0) == 1)


def report_progress(session: Session, run_id: int, *, progress: float, stage: str) -> bool:
    """Record a job's progress; True when a cancel was asked."""
    session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(progress=max(0.0, min(1.0, progress)), stage=stage[:64], updated_at=utcnow())
    )
    return bool(session.scalar(select(Run.cancel_requested).where(Run.id == run_id)))


def params_of(run: Run) -> dict[str, Any]:
    data = json.loads(run.params)
    assert isinstance(data, dict)
    return data


def result_of(run: Run) -> dict[str, Any]:
    """The stored result; NotFound while there is none."""
    if run.result is None:
        raise NotFound(
            key="error.planning.run_no_result",
            params={"run_id": run.id, "status": run.status.value},
            field="run_id",
        )
    data = json.loads(run.result)
    assert isinstance(data, dict)
    return data


def heartbeat(session: Session, run_ids: list[int]) -> None:
    """Mark the queued or running runs of ``run_ids`` alive (their server still has them)."""
    session.execute(
        update(Run)
        .where(Run.id.in_(run_ids), Run.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
        .values(updated_at=utcnow())
    )


def shown_status(run: Run) -> RunStatus | str:
    """The status, or ``lost`` for a job that stopped reporting (its server went away)."""
    if run.status in (RunStatus.RUNNING, RunStatus.QUEUED) and (
        utcnow() - run.updated_at > STALE_AFTER
    ):
        return "lost"
    return run.status


def get_all(
    session: Session, *, scope: Scope, kind: RunKind | None = None, limit: int = 50
) -> list[Run]:
    """Runs filed in ``scope``, newest first."""
    query = select(Run).where(scope.clause(Run.area_path))
    if kind is not None:
        query = query.where(Run.kind == kind)
    limit = max(1, min(limit, MAX_RUNS))
    return list(session.scalars(query.order_by(Run.id.desc()).limit(limit)))


def get_or_raise(session: Session, *, run_id: int, scope: Scope) -> Run:
    """One run; out of scope reads as not found."""
    run = (
        session.scalars(
            select(Run).where(Run.id == run_id, scope.clause(Run.area_path))
        ).one_or_none()
        if run_id <= MAX_ROW_ID
        else None
    )
    if run is None:
        raise NotFound(
            key="error.planning.run_not_found", params={"run_id": run_id}, field="run_id"
        )
    return run


def request_cancel(session: Session, *, run: Run, actor: Actor) -> Run:
    """Ask a queued or running job to stop; it stops at its next progress report."""
    if run.status in TERMINAL:
        raise Conflict(
            key="error.planning.run_ended",
            params={"run_id": run.id, "status": run.status.value},
            field="run_id",
        )
    now = utcnow()
    # still queued: cancelled at once (atomically, as a job may be claiming it); running:
    # the job sees the flag at its next progress report and keeps its best answer
    session.execute(
        update(Run)
        .where(Run.id == run.id, Run.status == RunStatus.QUEUED)
        .values(status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, updated_at=now)
    )
    session.execute(update(Run).where(Run.id == run.id).values(cancel_requested=True))
    session.refresh(run)
    audit.record(
        session,
        actor=actor,
        action="cancel",
        entity="planning_run",
        entity_id=run.id,
        area_path=run.area_path,
    )
    return run
