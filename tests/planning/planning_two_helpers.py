"""Helpers of the Planning II tests: incidents inserted in bulk (place, time, category and
priority only) on the test county."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import h3
import numpy as np
from sqlalchemy.orm import Session

from fangkong.areas import index as area_index
from fangkong.dispatch.models import Incident, IncidentStatus, Priority, Source


def add_incidents(
    db: Session,
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    received_at: Sequence[datetime],
    *,
    category: str | Sequence[str] = "criminal",
    priority: Priority | Sequence[Priority] = Priority.P2,
    status: IncidentStatus = IncidentStatus.CLOSED,
) -> int:
    """Insert closed incidents at these points and times (placed in their areas)."""
    index = area_index.get(db)
    leaf = index.locate(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    tag = uuid.uuid4().hex[:12]
    rows = []
    for i, (x, y, t) in enumerate(zip(lon, lat, received_at, strict=True)):
        area_id = int(leaf[i])
        rows.append(
            Incident(
                idempotency_key=f"p2-{tag}-{i}",
                category=category if isinstance(category, str) else category[i],
                subtype="test",
                priority=priority if isinstance(priority, Priority) else priority[i],
                source=Source.CALL,
                status=status,
                received_at=t,
                dispatched_at=t,
                lon=float(x),
                lat=float(y),
                h3_cell=h3.latlng_to_cell(float(y), float(x), 9),
                area_id=area_id if area_id >= 0 else None,
                area_path=index.path_of(area_id) if area_id >= 0 else None,
            )
        )
    db.add_all(rows)
    db.flush()
    return len(rows)
