"""The import loop every register shares (:func:`fangkong.http.sheets.import_register`),
through the facilities' import on both databases: a bad row is reported with its number and
column while the rows around it load; a code that exists is updated, and refused when it lies
outside the importer's areas; one audit event a file, at the common area of the rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import scope_of
from factories import grid_centre
from fangkong.core.audit import Actor
from fangkong.core.models import AuditEvent
from fangkong.facilities import importing
from fangkong.facilities.models import Facility

ACTOR = Actor(user_id=None, username="importer", client="test")


def _file(*rows: tuple[str, str, str]) -> bytes:
    lines = ["code,name,facility_type,lon,lat"]
    for code, name, grid in rows:
        lon, lat = grid_centre(grid)
        lines.append(f"{code},{name},bank,{lon},{lat}")
    return ("\n".join(lines) + "\n").encode()


def _imports(db: Session) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "import", AuditEvent.entity == "facility")
            .order_by(AuditEvent.id)
        )
    )


def test_rows_load_around_a_bad_one_and_one_audit_event(db: Session) -> None:
    data = _file(
        ("IR-1", "甲银行", "T-D1-S1-B1-G1"),
        ("IR-2", "", "T-D1-S1-B1-G2"),  # no name: refused, its neighbours still load
        ("IR-3", "丙银行", "T-D1-S1-B2-G1"),
    )
    before = len(_imports(db))
    report = importing.import_facilities(
        db, name="f.csv", data=data, actor=ACTOR, scope=scope_of(db, "T-D1")
    )
    assert (report.created, report.updated) == (2, 0)
    assert [(e.row, e.field) for e in report.errors] == [(3, "name")]
    codes = set(db.scalars(select(Facility.code).where(Facility.code.like("IR-%"))))
    assert codes == {"IR-1", "IR-3"}
    events = _imports(db)[before:]
    assert len(events) == 1
    assert events[0].detail == {"created": 2, "updated": 0, "file": "f.csv"}
    station = scope_of(db, "T-D1-S1").paths[0]
    assert events[0].area_path == station  # the common area of the two rows


def test_an_existing_code_updates_and_outside_the_scope_is_refused(db: Session) -> None:
    importing.import_facilities(
        db,
        name="a.csv",
        data=_file(("IR-A", "甲", "T-D1-S1-B1-G1"), ("IR-B", "乙", "T-D2-S1-B1-G1")),
        actor=ACTOR,
        scope=None,
    )
    report = importing.import_facilities(
        db,
        name="b.csv",
        data=_file(("IR-A", "甲改", "T-D1-S1-B1-G1"), ("IR-B", "乙改", "T-D2-S1-B1-G1")),
        actor=ACTOR,
        scope=scope_of(db, "T-D1"),
    )
    assert (report.created, report.updated) == (0, 1)
    assert [(e.row, e.field) for e in report.errors] == [(3, "code")]
    names = dict(
        db.execute(select(Facility.code, Facility.name).where(Facility.code.like("IR-%"))).all()
    )
    assert names == {"IR-A": "甲改", "IR-B": "乙"}


def test_a_file_with_nothing_taken_leaves_no_audit_event(db: Session) -> None:
    before = len(_imports(db))
    report = importing.import_facilities(
        db, name="c.csv", data=_file(("IR-X", "", "T-D1-S1-B1-G1")), actor=ACTOR, scope=None
    )
    assert (report.created, report.updated, len(report.errors)) == (0, 0, 1)
    assert len(_imports(db)) == before
