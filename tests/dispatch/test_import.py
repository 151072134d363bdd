"""Bulk CSV import of incidents: per-row errors, retries that never duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import LiveServer
from dispatch.dispatch_helpers import ACTOR, CIPHER, T0, scope_of
from factories import grid_centre
from fangkong.core.errors import InvalidInput
from fangkong.dispatch import importing, service
from fangkong.dispatch.models import Incident

LON, LAT = grid_centre("T-D1-S1-B1-G1")
HEADER = "idempotency_key,category,subtype,priority,source,lon,lat,description,caller_contact"


def _csv(prefix: str) -> str:
    return (
        "\n".join(
            [
                HEADER,
                f"{prefix}-1,criminal,theft,P3,call,{LON},{LAT},wallet,13800000001",
                f"{prefix}-2,fire,theft,P1,call,{LON},{LAT},,",
                f"{prefix}-3,traffic,collision,P9,patrol,{LON},{LAT},,",
                f"{prefix}-4,traffic,collision,P2,patrol,x,{LAT},,",
                f"{prefix}-5,rescue,water,P1,alarm,121.5,31.2,,",
                f"{prefix}-6,dispute,family,P4,public_tip,{LON},{LAT},noise next door,",
            ]
        )
        + "\n"
    )


def test_import_reports_each_bad_row_and_keeps_the_good(db: Session) -> None:
    report = service.import_csv(db, text=_csv("imp"), actor=ACTOR, now=T0, cipher=CIPHER)
    assert len(report.created) == 2 and report.existing == []
    assert [(e.row, e.field) for e in report.errors] == [
        (3, "subtype"),
        (4, "priority"),
        (5, "lon"),
        (6, "lon"),
    ]
    assert "outside your areas" in report.errors[3].message
    # A row's fault in the reader's language (issue 18).
    assert "不在您的辖区内" in report.errors[3].text("zh-CN")
    assert report.errors[3].text("en") == report.errors[3].message
    assert "P9" in report.errors[1].text("zh-CN") and "警情等级" in report.errors[1].text("zh-CN")
    again = service.import_csv(db, text=_csv("imp"), actor=ACTOR, now=T0, cipher=CIPHER)
    assert again.created == [] and sorted(again.existing) == sorted(report.created)
    total = db.scalar(
        select(func.count())
        .select_from(Incident)
        .where(Incident.idempotency_key.startswith("imp-"))
    )
    assert total == 2
    scoped = service.import_csv(
        db, text=_csv("imp-scope"), actor=ACTOR, now=T0, cipher=CIPHER, scope=scope_of(db, "T-D2")
    )
    assert scoped.created == [] and {e.row for e in scoped.errors} >= {2, 7}
    with pytest.raises(InvalidInput, match="lacks"):
        service.import_csv(
            db, text="category,subtype\nfire,building\n", actor=ACTOR, now=T0, cipher=CIPHER
        )


def test_an_import_in_several_writes_answers_each_row_in_order(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "IMPORT_CHUNK", 2)
    rows = [HEADER] + [f"chunk-{n},criminal,theft,P3,call,{LON},{LAT},row {n}," for n in range(5)]
    rows[3] = f"chunk-1,criminal,theft,P3,call,{LON},{LAT},row 1,"  # row 1 again, next write
    rows[5] = f"chunk-1,criminal,theft,P1,call,{LON},{LAT},row 1,"  # its key, other fields
    rows.append(f"chunk-9,criminal,nope,P3,call,{LON},{LAT},,")
    report = service.import_csv(db, text="\n".join(rows) + "\n", actor=ACTOR, now=T0, cipher=CIPHER)
    assert [(e.row, e.field) for e in report.errors] == [(6, "idempotency_key"), (7, "subtype")]
    keys = [db.get_one(Incident, i).idempotency_key for i in report.created]
    assert keys == ["chunk-0", "chunk-1", "chunk-3"]
    assert report.existing == [report.created[1]]
    descriptions = [db.get_one(Incident, i).description for i in report.created]
    assert descriptions == ["row 0", "row 1", "row 3"]


def test_import_over_http(live_server: LiveServer, live_network: Path) -> None:
    with live_server.client(live_server.admin_token()) as admin:
        answer = admin.post(
            "/api/v1/incidents/import",
            files={"file": ("calls.csv", _csv("http").encode(), "text/csv")},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["created"]) == 2 and len(body["errors"]) == 4
        assert body["errors"][0] == {
            "row": 3,
            "field": "subtype",
            "message": body["errors"][0]["message"],
            # The rule's stable code and values (issue 18).
            "code": "dispatch.subtype_unknown",
            "params": body["errors"][0]["params"],
        }
        latin = admin.post(
            "/api/v1/incidents/import", files={"file": ("x.csv", "é".encode("latin-1"), "text/csv")}
        )
        assert latin.status_code == 422 and latin.json()["field"] == "file"


def test_json_import_and_places_by_standard_address(db: Session) -> None:
    import json

    from fangkong.areas import service as area_service

    lon, lat = grid_centre("T-D1-S1-B1-G2")
    area_service.create_address(
        db,
        code="ADDR-IMP-1",
        text_zh="一号路1号",
        text_en="1 First Rd",
        lon=lon,
        lat=lat,
        actor=ACTOR,
    )
    items = [
        {
            "idempotency_key": "json-1",
            "category": "traffic",
            "subtype": "collision",
            "priority": "P2",
            "source": "call",
            "address_code": "ADDR-IMP-1",
        },
        {
            "idempotency_key": "json-2",
            "category": "fire",
            "subtype": "building",
            "priority": "P1",
            "source": "alarm",
            "lon": LON,
            "lat": LAT,
            "description": "smoke",
        },
        "not an object",
        {
            "idempotency_key": "json-4",
            "category": "fire",
            "subtype": "building",
            "priority": "P1",
            "source": "alarm",
            "address_code": "NO-SUCH-ADDRESS",
        },
        {
            "idempotency_key": "json-5",
            "category": "fire",
            "subtype": "building",
            "priority": "P1",
            "source": "alarm",
        },
    ]
    report = service.import_file(
        db, name="calls.json", text=json.dumps(items), actor=ACTOR, now=T0, cipher=CIPHER
    )
    assert len(report.created) == 2
    assert [(e.row, e.field) for e in report.errors] == [(3, None), (4, "address_code"), (5, "lon")]
    by_address = db.get(Incident, report.created[0])
    assert by_address is not None and (by_address.lon, by_address.lat) == pytest.approx((lon, lat))
    # The same file again: nothing new; a CSV with an address column works the same way.
    again = service.import_file(
        db, name="calls.json", text=json.dumps(items), actor=ACTOR, now=T0, cipher=CIPHER
    )
    assert again.created == [] and sorted(again.existing) == sorted(report.created)
    csv_text = (
        "idempotency_key,category,subtype,priority,source,address_code\n"
        "csv-addr-1,dispute,family,P4,call,ADDR-IMP-1\n"
    )
    by_csv = service.import_file(
        db, name="calls.csv", text=csv_text, actor=ACTOR, now=T0, cipher=CIPHER
    )
    assert len(by_csv.created) == 1 and by_csv.errors == []
    with pytest.raises(InvalidInput, match="not JSON"):
        service.import_file(db, name="calls.json", text="[{", actor=ACTOR, now=T0, cipher=CIPHER)
    with pytest.raises(InvalidInput, match="array"):
        service.import_file(
            db, name="calls.json", text='{"a": 1}', actor=ACTOR, now=T0, cipher=CIPHER
        )


def test_import_refuses_nul_characters_and_coordinates_past_their_range(db: Session) -> None:
    """A NUL in a description, NaN or infinite degrees, a latitude past 90 or a longitude of
    true: each row refused with its field (issue 16, item 11); the good row imports."""
    rows = [
        HEADER,
        f"bad-1,criminal,theft,P3,call,{LON},{LAT},wallet\x00stolen,",
        f"bad-2,criminal,theft,P3,call,nan,{LAT},,",
        f"bad-3,criminal,theft,P3,call,{LON},inf,,",
        f"bad-4,criminal,theft,P3,call,{LON},91,,",
        f"bad-5,criminal,theft,P3,call,1e400,{LAT},,",
        f"bad-6,criminal,theft,P3,call,{LON},{LAT},,139\x00",
        f"bad-7,criminal,theft,P3,call,{LON},{LAT},fine,",
    ]
    report = service.import_csv(db, text="\n".join(rows) + "\n", actor=ACTOR, now=T0, cipher=CIPHER)
    assert len(report.created) == 1
    assert [(e.row, e.field) for e in report.errors] == [
        (2, "description"),
        (3, "lon"),
        (4, "lat"),
        (5, "lat"),
        (6, "lon"),
        (7, "caller_contact"),
    ]
    assert "NUL" in report.errors[0].message
    as_json = service.import_json(
        db,
        text=json.dumps([{**_row("json-bool"), "lon": True}, {**_row("json-nan"), "lat": "NaN"}]),
        actor=ACTOR,
        now=T0,
        cipher=CIPHER,
    )
    assert as_json.created == [] and [e.field for e in as_json.errors] == ["lon", "lat"]


def test_a_json_file_nested_past_an_array_of_objects_is_refused(db: Session) -> None:
    """100,000 levels of nesting once made the parser's recursion fail (a 500): now the file,
    or the row, is refused as invalid input."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InvalidInput) as refused:
        service.import_json(db, text=deep, actor=ACTOR, now=T0, cipher=CIPHER)
    assert refused.value.field == "file" and "nests deeper" in refused.value.message
    nested = service.import_json(
        db,
        text=json.dumps([{**_row("nest-1"), "description": {"a": [1]}}, _row("nest-2")]),
        actor=ACTOR,
        now=T0,
        cipher=CIPHER,
    )
    assert len(nested.created) == 1
    assert [(e.row, e.field) for e in nested.errors] == [(1, "description")]


def _row(key: str) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "category": "criminal",
        "subtype": "theft",
        "priority": "P3",
        "source": "call",
        "lon": LON,
        "lat": LAT,
    }
