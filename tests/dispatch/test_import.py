"""Bulk CSV import of incidents: per-row errors, retries that never duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import LiveServer
from dispatch.dispatch_helpers import ACTOR, CIPHER, T0, scope_of
from factories import grid_centre
from fangkong.core.errors import InvalidInput
from fangkong.dispatch import service
from fangkong.dispatch.models import Incident

LON, LAT = grid_centre("T-D1-S1-B1-G1")
HEADER = "idempotency_key,category,subtype,priority,source,lon,lat,description,caller_contact"


def _csv(prefix: str) -> str:
    return "\n".join([
        HEADER,
        f"{prefix}-1,criminal,theft,P3,call,{LON},{LAT},wallet,13800000001",
        f"{prefix}-2,fire,theft,P1,call,{LON},{LAT},,",
        f"{prefix}-3,traffic,collision,P9,patrol,{LON},{LAT},,",
        f"{prefix}-4,traffic,collision,P2,patrol,x,{LAT},,",
        f"{prefix}-5,rescue,water,P1,alarm,121.5,31.2,,",
        f"{prefix}-6,dispute,family,P4,public_tip,{LON},{LAT},noise next door,",
    ]) + "\n"


def test_import_reports_each_bad_row_and_keeps_the_good(db: Session) -> None:
    report = service.import_csv(db, text=_csv("imp"), actor=ACTOR, now=T0, cipher=CIPHER)
    assert len(report.created) == 2 and report.existing == []
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "subtype"), (4, "priority"), (5, "lon"), (6, "lon")]
    assert "outside your areas" in report.errors[3].message
    again = service.import_csv(db, text=_csv("imp"), actor=ACTOR, now=T0, cipher=CIPHER)
    assert again.created == [] and sorted(again.existing) == sorted(report.created)
    total = db.scalar(select(func.count()).select_from(Incident).where(
        Incident.idempotency_key.startswith("imp-")))
    assert total == 2
    scoped = service.import_csv(db, text=_csv("imp-scope"), actor=ACTOR, now=T0,
                                cipher=CIPHER, scope=scope_of(db, "T-D2"))
    assert scoped.created == [] and {e.row for e in scoped.errors} >= {2, 7}
    with pytest.raises(InvalidInput, match="lacks"):
        service.import_csv(db, text="category,subtype\nfire,building\n", actor=ACTOR, now=T0,
                           cipher=CIPHER)


def test_import_over_http(live_server: LiveServer, live_network: Path) -> None:
    with live_server.client(live_server.admin_token()) as admin:
        answer = admin.post("/api/v1/incidents/import",
                            files={"file": ("calls.csv", _csv("http").encode(), "text/csv")})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["created"]) == 2 and len(body["errors"]) == 4
        assert body["errors"][0] == {"row": 3, "field": "subtype",
                                     "message": body["errors"][0]["message"]}
        latin = admin.post("/api/v1/incidents/import",
                           files={"file": ("x.csv", "é".encode("latin-1"), "text/csv")})
        assert latin.status_code == 422 and latin.json()["field"] == "file"
