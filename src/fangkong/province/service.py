"""What the console shows of the province batches: the planning runs a batch filed, grouped by
batch, with their progress (read in the reader's scope, as planning's runs are)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.core.scoping import Scope
from fangkong.planning import runs
from fangkong.planning.models import Run, RunStatus

__all__ = ["BATCH_MARK", "Batch", "BatchRun", "get_all"]

#: What a batch's run title ends with (``plan`` names a batch with 10 hex digits or a given id).
BATCH_MARK = " · batch "
_BATCH_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: The most runs read for the view (the newest first).
MAX_RUNS = 2000


@dataclass(frozen=True)
class BatchRun:
    """One task's run: its county, kind, status (``lost`` when it stopped reporting) and
    progress (0-1)."""

    id: int
    county: str
    kind: str
    status: str
    progress: float
    stage: str
    title: str
    error: str | None


@dataclass(frozen=True)
class Batch:
    """A batch's runs in the reader's scope, with its counts and overall progress."""

    batch: str
    started_at: datetime
    finished_at: datetime | None
    runs: list[BatchRun]

    @property
    def total(self) -> int:
        return len(self.runs)

    @property
    def finished(self) -> int:
        return sum(1 for r in self.runs if r.status in _ENDED)

    @property
    def progress(self) -> float:
        """Mean progress of the runs (a finished run counts as 1)."""
        if not self.runs:
            return 1.0
        done = [1.0 if r.status in _ENDED else r.progress for r in self.runs]
        return sum(done) / len(done)

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r.status == status)


_ENDED = {s.value for s in runs.TERMINAL} | {"lost"}


def get_all(
    session: Session,
    *,
    scope: Scope,
    batch: str | None = None,
    limit: int = 20,
    language: str = "en",
) -> list[Batch]:
    """The newest ``limit`` batches with runs in ``scope`` (or the one named ``batch``),
    newest first; each batch's runs in the order they were filed, a failed run's error in
    ``language``."""
    query = select(Run).where(scope.clause(Run.area_path))
    if batch is not None:
        if not _BATCH_ID.fullmatch(batch):
            return []
        query = query.where(Run.title.endswith(f"{BATCH_MARK}{batch}", autoescape=True))
    else:
        query = query.where(Run.title.contains(BATCH_MARK, autoescape=True))
    found: dict[str, list[Run]] = {}
    for run in session.scalars(query.order_by(Run.id.desc()).limit(MAX_RUNS)):
        name = runs.params_of(run).get("batch")
        if not isinstance(name, str) or (batch is not None and name != batch):
            continue
        if name not in found and len(found) >= max(1, limit):
            continue
        found.setdefault(name, []).append(run)
    out: list[Batch] = []
    for name, members in found.items():
        members.sort(key=lambda r: r.id)
        statuses = [runs.shown_status(r) for r in members]
        ended = all(getattr(s, "value", s) in _ENDED for s in statuses)
        finishes = [r.finished_at for r in members if r.finished_at is not None]
        out.append(
            Batch(
                batch=name,
                started_at=min(r.created_at for r in members),
                finished_at=max(finishes) if ended and finishes else None,
                runs=[
                    BatchRun(
                        id=r.id,
                        county=str(runs.params_of(r).get("area_code", "")),
                        kind=r.kind.value,
                        status=str(getattr(s, "value", s)),
                        progress=1.0 if s == RunStatus.DONE else float(r.progress or 0.0),
                        stage=r.stage,
                        title=r.title,
                        error=runs.error_text(r, language),
                    )
                    for r, s in zip(members, statuses, strict=True)
                ],
            )
        )
    return out
