"""What the indicator system's API and console pages share over a request: a report's file."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from fangkong.core import audit
from fangkong.core.db import utcnow
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.http.deps import actor_of
from fangkong.indicators import reports
from fangkong.indicators.periods import month_of, parse
from fangkong.indicators.service import area_or_top


def report_file(
    request: Request,
    db: Any,
    user: Any,
    scope: Scope,
    *,
    kind: str,
    period: str | None,
    area: str | None,
    fmt: str,
    language: str,
) -> Response:
    """The report's file, audited as an export (shared by the API and the console)."""
    if kind not in reports.KINDS:
        raise InvalidInput(
            key="error.indicators.report_kind", params={"value": kind[:16]}, field="kind"
        )
    found = area_or_top(db, code=area, scope=scope)
    when = parse(period) if period else month_of(utcnow(), request.app.state.settings.zone)
    report = reports.build(
        db,
        kind=kind,
        period=when,
        area=found,
        scope=scope,
        language=language,
        now=utcnow(),
        zone=request.app.state.settings.zone,
    )
    data, media, name = reports.render(report, fmt)
    audit.record(
        db,
        actor=actor_of(request, user),
        action="export",
        entity="indicator_report",
        detail={"kind": kind, "period": report.period, "format": fmt},
        area_path=found.path,
    )
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
