"""Device status reports, one or many at once, idempotent; and each device's uptime.

A report says a device's status at a moment (and when it was last heard from). The device's
history keeps one line per change, stamped with its moment:

- a status other than the current one, at a moment after the current status's: ``changed``
  (a line in the history, the device's status and its moment updated);
- the current status again, or a report already applied (the same moment): ``unchanged``;
- a moment before the current status's (a report that arrived late, or sent again after a
  later one): ``stale``, not applied, so that the history never goes back in time;
- the same moment as a line of the history with another status: an error (two reports of
  one moment disagree).

A heartbeat moves ``last_heartbeat_at`` forward, never back. Sending a batch again changes
nothing: every report in it is ``unchanged`` or ``stale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, FangkongError, NotFound
from fangkong.core.scoping import Scope, common_path, in_partition
from fangkong.devices.models import Device, DeviceStatus, DeviceStatusEvent, StatusSource
from fangkong.devices.schemas import StatusIn

#: The most reports in one batch.
MAX_BATCH = 10_000


@dataclass(frozen=True)
class Outcome:
    index: int
    code: str
    outcome: str
    status: DeviceStatus | None = None
    field: str | None = None
    message: str | None = None
    error: FangkongError | None = None


def _apply(
    session: Session,
    device: Device,
    report: StatusIn,
    *,
    source: StatusSource,
    actor: Actor,
    now: datetime,
    known: dict[int, dict[datetime, DeviceStatus]],
) -> str:
    at = report.at
    if report.heartbeat_at is not None and (
        device.last_heartbeat_at is None or report.heartbeat_at > device.last_heartbeat_at
    ):
        device.last_heartbeat_at = report.heartbeat_at
    if report.status is None:
        return "heartbeat"
    moments = known.get(device.id)
    if moments is None:
        moments = known[device.id] = {
            e.at: e.status for e in session.scalars(select(DeviceStatusEvent).where(_of(device)))
        }
    recorded = moments.get(at)
    if recorded is not None:
        if recorded != report.status:
            raise Conflict(
                key="error.devices.status_conflict",
                params={"code": device.code, "at": at.isoformat(), "status": recorded.value},
                field="status",
            )
        return "unchanged"
    if at < device.status_at:
        return "stale"
    if report.status == device.status:
        return "unchanged"
    session.add(
        DeviceStatusEvent(
            device_id=device.id,
            at=at,
            status=report.status,
            previous=device.status,
            source=source,
            recorded_at=now,
            recorded_by=actor.username,
        )
    )
    moments[at] = report.status
    device.status = report.status
    device.status_at = at
    device.updated_at = now
    return "changed"


def report_many(
    session: Session,
    *,
    reports: list[StatusIn],
    actor: Actor,
    now: datetime,
    scope: Scope | None,
    source: StatusSource = StatusSource.API,
) -> list[Outcome]:
    """Apply ``reports`` in order (a device's reports by their moments), each to a device of
    ``scope``; one outcome per report. A report that fails (an unknown device, two statuses
    for one moment) is an error of its own; the others still apply."""
    codes = sorted({r.code for r in reports})
    devices: dict[str, Device] = {}
    for start in range(0, len(codes), 1000):
        for device in session.scalars(
            select(Device).where(Device.code.in_(codes[start : start + 1000]))
        ):
            if scope is None or scope.covers(device.area_path):
                devices[device.code] = device
    order = sorted(range(len(reports)), key=lambda i: (reports[i].code, reports[i].at, i))
    outcomes: dict[int, Outcome] = {}
    known: dict[int, dict[datetime, DeviceStatus]] = {}
    paths: set[str] = set()
    changed = 0
    for i in order:
        report = reports[i]
        found = devices.get(report.code)
        try:
            if found is None:
                raise NotFound(
                    key="error.devices.unknown", params={"code": report.code[:32]}, field="code"
                )
            device = found
            result = _apply(
                session, device, report, source=source, actor=actor, now=now, known=known
            )
        except (Conflict, NotFound) as exc:
            outcomes[i] = Outcome(
                i, report.code, "error", field=exc.field, message=exc.message, error=exc
            )
            continue
        if result == "changed":
            changed += 1
            if device.area_path:
                paths.add(device.area_path)
        outcomes[i] = Outcome(i, report.code, result, status=device.status)
    session.flush()
    if changed:
        audit.record(
            session,
            actor=actor,
            action="status",
            entity="device",
            entity_id=devices[reports[order[0]].code].id if len(devices) == 1 else None,
            detail={"reports": len(reports), "changed": changed, "source": source.value},
            area_path=common_path(paths),
        )
    return [outcomes[i] for i in range(len(reports))]


def _of(device: Device) -> ColumnElement[bool]:
    """The device's history rows; on PostgreSQL in its county's partition alone."""
    return and_(
        DeviceStatusEvent.device_id == device.id,
        in_partition(DeviceStatusEvent.partition_county, device.county_id),
    )


def history(session: Session, *, device: Device, limit: int = 500) -> list[DeviceStatusEvent]:
    """The device's status changes, latest first."""
    return list(
        session.scalars(
            select(DeviceStatusEvent)
            .where(_of(device))
            .order_by(DeviceStatusEvent.at.desc(), DeviceStatusEvent.id.desc())
            .limit(limit)
        )
    )


def uptime(session: Session, *, device: Device, start: datetime, end: datetime) -> dict[str, float]:
    """The shares of ``[start, end)`` the device spent in each status, from its history
    (``unknown``: before its first line). Formula: the time between consecutive changes,
    clipped to the period, summed by the status in effect, over the period's length."""
    # The status in effect at the start (the last change at or before it), then the changes
    # within: on PostgreSQL neither reads a month of the history after the period.
    before = session.scalars(
        select(DeviceStatusEvent)
        .where(_of(device), DeviceStatusEvent.at <= start)
        .order_by(DeviceStatusEvent.at.desc(), DeviceStatusEvent.id.desc())
        .limit(1)
    ).all()
    within = session.scalars(
        select(DeviceStatusEvent)
        .where(_of(device), DeviceStatusEvent.at > start, DeviceStatusEvent.at < end)
        .order_by(DeviceStatusEvent.at, DeviceStatusEvent.id)
    ).all()
    events = [*before, *within]
    total = (end - start).total_seconds()
    spent = {s.value: 0.0 for s in DeviceStatus} | {"unknown": 0.0}
    if total <= 0:
        return {k: 0.0 for k in spent}
    current = "unknown"
    since = start
    for event in events:
        if event.at <= start:
            current = event.status.value
            continue
        if event.at >= end:
            break
        spent[current] += (event.at - since).total_seconds()
        current, since = event.status.value, event.at
    spent[current] += (end - since).total_seconds()
    return {k: v / total for k, v in spent.items()}
