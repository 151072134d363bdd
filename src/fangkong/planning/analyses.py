"""Stored analyses of Planning II (hotspots, deployment, beats): each with its parameters and
result, filed under the area it concerns and read in scope (out of scope reads as not found);
every write is audited."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.db import utcnow
from fangkong.core.errors import NotFound
from fangkong.core.scoping import Scope
from fangkong.planning.analysis_models import Analysis, AnalysisKind
from fangkong.planning.runs import MAX_ROW_ID, filing_path

MAX_LISTED = 200


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create(
    session: Session,
    *,
    kind: AnalysisKind,
    params: dict[str, Any],
    result: dict[str, Any],
    scope: Scope,
    area: Area | None,
    actor: Actor,
    title: str = "",
) -> Analysis:
    """Store an analysis, filed under ``area`` (else the scope's common area)."""
    analysis = Analysis(
        kind=kind,
        title=title[:200],
        area_path=filing_path(scope, area),
        params=_dumps(params),
        result=_dumps(result),
        created_by_id=actor.user_id,
        created_at=utcnow(),
    )
    session.add(analysis)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="planning_analysis",
        entity_id=analysis.id,
        detail={"kind": kind.value, "title": analysis.title},
        area_path=analysis.area_path,
    )
    return analysis


def get_all(
    session: Session, *, scope: Scope, kind: AnalysisKind | None = None, limit: int = 50
) -> list[Analysis]:
    """Analyses filed in ``scope``, newest first."""
    query = select(Analysis).where(scope.clause(Analysis.area_path))
    if kind is not None:
        query = query.where(Analysis.kind == kind)
    limit = max(1, min(limit, MAX_LISTED))
    return list(session.scalars(query.order_by(Analysis.id.desc()).limit(limit)))


def get_or_raise(
    session: Session, *, analysis_id: int, scope: Scope, kind: AnalysisKind | None = None
) -> Analysis:
    """One analysis (of ``kind``); out of scope reads as not found."""
    found = (
        session.scalars(
            select(Analysis).where(Analysis.id == analysis_id, scope.clause(Analysis.area_path))
        ).one_or_none()
        if analysis_id <= MAX_ROW_ID
        else None
    )
    if found is None or (kind is not None and found.kind != kind):
        raise NotFound(
            key="error.planning.analysis_not_found",
            params={"analysis_id": analysis_id},
            field="analysis_id",
        )
    return found


def params_of(analysis: Analysis) -> dict[str, Any]:
    data = json.loads(analysis.params)
    assert isinstance(data, dict)
    return data


def result_of(analysis: Analysis) -> dict[str, Any]:
    data = json.loads(analysis.result)
    assert isinstance(data, dict)
    return data
