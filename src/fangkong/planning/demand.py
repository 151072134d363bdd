"""Demand for coverage and placement: incidents of a period (by place and priority only) or the
standard addresses (optionally weighted by a column of the address import, e.g. households).

Nothing about a person is read: an incident contributes its point, its area and its priority;
an address its point, its area and its code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from fangkong.areas.models import Area, StandardAddress
from fangkong.core import audit
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import Incident, IncidentStatus, Priority
from fangkong.planning.models import AddressWeight

FloatArray = NDArray[np.float64]

DemandKind = Literal["incidents", "addresses"]
#: Weight of an incident by priority (P1 most urgent), editable per request.
DEFAULT_PRIORITY_WEIGHTS: dict[str, float] = {"P1": 4.0, "P2": 3.0, "P3": 2.0, "P4": 1.0}
#: The most demand points one analysis takes.
MAX_DEMAND = 200_000
#: Names of weight columns: letters, digits and underscores.
MAX_COLUMN = 32


@dataclass(frozen=True)
class Demand:
    """Demand points: WGS-84 lon/lat, weight, the area path each lies in and a label naming it
    (``incident 42``, an address code) for reports of unreachable demand."""

    kind: DemandKind
    lon: FloatArray
    lat: FloatArray
    weight: FloatArray
    area_path: list[str | None]
    label: list[str]
    #: addresses with no value in the weight column (weighted 0), when a column was chosen
    missing_weight: int = 0

    def __len__(self) -> int:
        return int(self.lon.shape[0])

    def names(self, index: Sequence[int] | NDArray[np.int64]) -> list[str]:
        return [self.label[int(i)] for i in index]


def _check_count(count: int) -> None:
    if count > MAX_DEMAND:
        raise InvalidInput(
            key="error.planning.demand_many",
            params={"count": count, "max": MAX_DEMAND},
            field="demand",
        )


def incident_demand(
    session: Session,
    *,
    scope: Scope,
    start: datetime,
    end: datetime,
    area: Area | None = None,
    priority_weights: Mapping[str, float] | None = None,
) -> Demand:
    """Incidents received in [start, end) in scope (and in ``area``'s subtree), weighted by
    priority; merged incidents and those cancelled before dispatch are left out."""
    if end <= start:
        raise InvalidInput(key="error.planning.period_order", field="end")
    weights = {**DEFAULT_PRIORITY_WEIGHTS, **(priority_weights or {})}
    for key, value in weights.items():
        if key not in DEFAULT_PRIORITY_WEIGHTS or not 0 <= value <= 1000:
            raise InvalidInput(
                key="error.planning.priority_weight",
                params={"priority": key, "value": value},
                field="priority_weights",
            )
    query = select(Incident.id, Incident.lon, Incident.lat, Incident.priority, Incident.area_path)
    query = query.where(
        scope.clause(Incident.area_path),
        Incident.received_at >= start,
        Incident.received_at < end,
        Incident.status != IncidentStatus.MERGED,
        or_(
            Incident.status != IncidentStatus.CANCELLED,
            and_(Incident.status == IncidentStatus.CANCELLED, Incident.dispatched_at.is_not(None)),
        ),
    )
    if area is not None:
        query = query.where(Incident.area_path.startswith(area.path, autoescape=True))
    rows = session.execute(query.order_by(Incident.id).limit(MAX_DEMAND + 1)).all()
    _check_count(len(rows))
    by_priority = {Priority(k): v for k, v in weights.items()}
    return Demand(
        kind="incidents",
        lon=np.array([r[1] for r in rows], dtype=np.float64),
        lat=np.array([r[2] for r in rows], dtype=np.float64),
        weight=np.array([by_priority[r[3]] for r in rows], dtype=np.float64),
        area_path=[r[4] for r in rows],
        label=[f"incident {r[0]}" for r in rows],
    )


def address_demand(
    session: Session,
    *,
    scope: Scope,
    area: Area | None = None,
    weight_column: str | None = None,
) -> Demand:
    """Standard addresses in scope (and in ``area``'s subtree), each weighing 1, or the value of
    ``weight_column`` (0 where an address has none: counted in ``missing_weight``)."""
    query = select(
        StandardAddress.id,
        StandardAddress.code,
        StandardAddress.lon,
        StandardAddress.lat,
        StandardAddress.area_path,
    ).where(scope.clause(StandardAddress.area_path))
    if area is not None:
        query = query.where(StandardAddress.area_path.startswith(area.path, autoescape=True))
    rows = session.execute(query.order_by(StandardAddress.id).limit(MAX_DEMAND + 1)).all()
    _check_count(len(rows))
    weight = np.ones(len(rows))
    missing = 0
    if weight_column:
        column = check_column(weight_column)
        values = dict(
            session.execute(
                select(AddressWeight.address_id, AddressWeight.value).where(
                    AddressWeight.name == column
                )
            ).all()
        )
        if not values:
            raise InvalidInput(
                key="error.planning.column_empty", params={"column": column}, field="weight_column"
            )
        weight = np.array([values.get(r[0], 0.0) for r in rows], dtype=np.float64)
        missing = sum(1 for r in rows if r[0] not in values)
    return Demand(
        kind="addresses",
        lon=np.array([r[2] for r in rows], dtype=np.float64),
        lat=np.array([r[3] for r in rows], dtype=np.float64),
        weight=weight,
        area_path=[r[4] for r in rows],
        label=[str(r[1]) for r in rows],
        missing_weight=missing,
    )


def check_column(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_COLUMN or not all(c.isalnum() or c == "_" for c in name):
        raise InvalidInput(
            key="error.planning.column_name",
            params={"column": name, "max": MAX_COLUMN},
            field="weight_column",
        )
    return name


def weight_columns(session: Session) -> list[str]:
    """The weight columns imported so far."""
    return list(session.scalars(select(AddressWeight.name).distinct().order_by(AddressWeight.name)))


def import_weights(
    session: Session, *, text: str, columns: Sequence[str], actor: Actor
) -> dict[str, int]:
    """Import numeric ``columns`` of an address CSV (the same file as the address import:
    a ``code`` column and any others) as demand weights, replacing earlier values of those
    columns; all or nothing. Returns the rows stored per column.

    Raises
    ------
    InvalidInput
        Naming the line and the fault: an unknown address code, a value that is not a finite
        number >= 0, a column the file lacks.
    """
    names = [check_column(c) for c in columns]
    if not names:
        raise InvalidInput(key="error.planning.no_columns", field="columns")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = reader.fieldnames or []
    if "code" not in fields:
        raise InvalidInput(key="error.planning.no_code_column", field="file")
    for name in names:
        if name not in fields:
            raise InvalidInput(
                key="error.planning.no_column", params={"column": name}, field="columns"
            )
    records: list[tuple[str, list[float]]] = []
    for line, record in enumerate(reader, start=2):
        code = (record.get("code") or "").strip()
        values: list[float] = []
        for name in names:
            raw = (record.get(name) or "").strip()
            try:
                value = float(raw) if raw else 0.0
            except ValueError:
                raise InvalidInput(
                    key="error.planning.value_not_number",
                    params={"line": line, "column": name, "value": raw},
                    field=name,
                ) from None
            if not np.isfinite(value) or value < 0:
                raise InvalidInput(
                    key="error.planning.value_negative",
                    params={"line": line, "column": name, "value": raw},
                    field=name,
                )
            values.append(value)
        records.append((code, values))
        if len(records) > MAX_DEMAND:
            raise InvalidInput(
                key="error.planning.rows_many", params={"max": MAX_DEMAND}, field="file"
            )
    codes = {code for code, _ in records}
    ids: dict[str, int] = {}
    code_list = sorted(codes)
    for i in range(0, len(code_list), 1000):
        chunk = code_list[i : i + 1000]
        ids.update(
            (str(c), int(a))
            for c, a in session.execute(
                select(StandardAddress.code, StandardAddress.id).where(
                    StandardAddress.code.in_(chunk)
                )
            )
        )
    for line, (code, _) in enumerate(records, start=2):
        if code not in ids:
            raise InvalidInput(
                key="error.planning.address_unknown",
                params={"line": line, "code": code},
                field="code",
            )
    session.execute(delete(AddressWeight).where(AddressWeight.name.in_(names)))
    session.add_all(
        AddressWeight(address_id=ids[code], name=name, value=value)
        for code, values in records
        for name, value in zip(names, values, strict=True)
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import",
        entity="planning_address_weight",
        detail={"columns": names, "rows": len(records)},
    )
    return {name: len(records) for name in names}
