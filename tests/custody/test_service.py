"""The custody of seized property at its service seam, on SQLite and PostgreSQL: an item
registered with its ``received`` step, steps appended in the order the chain allows, each
with who and when, corrections as new steps (the database refuses to change or delete a
step), the deadline of each stage and the overdue alerts opened as cases on the supervision
board, once per stage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from cases.case_helpers import CALENDAR, T0, area
from fangkong.cases import service as cases
from fangkong.cases.models import Case
from fangkong.core.audit import Actor
from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import scope_of
from fangkong.custody import service
from fangkong.custody.models import CustodyItem, CustodyStep, ItemCategory, RefKind, Stage
from fangkong.custody.schemas import CorrectionIn, ItemIn, StepIn

STATION = "T-D1-S2"
OFFICER = Actor(user_id=None, username="officer_li", client="test")


def _item(db: Session, code: str = "CU-1", **values: object) -> CustodyItem:
    data: dict[str, object] = {
        "code": code,
        "category": ItemCategory.ELECTRONICS,
        "ref_kind": RefKind.INCIDENT,
        "ref_number": "JQ20261123001",
        "area": STATION,
        "received_at": T0,
        "handled_by": "李警官",
        "location": "现场",
    }
    data.update(values)
    return service.create_item(
        db, data=ItemIn.model_validate(data), actor=OFFICER, scope=None, now=T0
    )


def _step(db: Session, item: CustodyItem, stage: Stage, hours: float, **values: str) -> CustodyStep:
    return service.record_step(
        db,
        item=item,
        data=StepIn(
            stage=stage, occurred_at=T0 + timedelta(hours=hours), handled_by="王保管", **values
        ),
        actor=OFFICER,
        now=T0 + timedelta(hours=hours),
    )


def test_a_chain_from_receipt_to_disposal(db: Session) -> None:
    item = _item(db)
    assert (item.stage, item.due_at) == (Stage.RECEIVED, T0 + timedelta(hours=24))
    stored = _step(db, item, Stage.STORED, 2, location="涉案财物库 A-3")
    assert (item.stage, item.location) == (Stage.STORED, "涉案财物库 A-3")
    assert item.due_at == T0 + timedelta(hours=2 + 180 * 24)
    assert (stored.recorded_by, stored.handled_by, stored.seq) == ("officer_li", "王保管", 2)
    _step(db, item, Stage.EXAMINED, 30, location="鉴定中心")
    assert item.due_at == T0 + timedelta(hours=30 + 30 * 24)
    _step(db, item, Stage.STORED, 100, location="涉案财物库 A-3")
    _step(db, item, Stage.DISPOSED, 200, document="处置决定书 2026-17")
    assert item.stage is Stage.DISPOSED and item.closed_at == T0 + timedelta(hours=200)
    assert item.due_at is None and not service.is_overdue(item, T0 + timedelta(days=999))
    with pytest.raises(Conflict):
        _step(db, item, Stage.STORED, 201, location="A")
    assert [s.stage for s in service.steps_of(db, item=item)] == [
        Stage.RECEIVED,
        Stage.STORED,
        Stage.EXAMINED,
        Stage.STORED,
        Stage.DISPOSED,
    ]


def test_a_step_follows_the_one_before_and_says_what_it_must(db: Session) -> None:
    item = _item(db, "CU-2")
    for stage, values, hours, key in (
        (Stage.MOVED, {"location": "B"}, 1, "error.custody.step_order"),
        (Stage.DISPOSED, {"document": "D-1"}, 1, "error.custody.step_order"),
        (Stage.STORED, {}, 1, "error.custody.location_missing"),
        (Stage.STORED, {"location": "A"}, -1, "error.custody.step_earlier"),
        (Stage.RETURNED, {}, 1, "error.custody.document_missing"),
    ):
        with pytest.raises(InvalidInput) as refused:
            _step(db, item, stage, hours, **values)
        assert refused.value.key == key, (stage, values)
    with pytest.raises(InvalidInput) as future:
        service.record_step(
            db,
            item=item,
            data=StepIn(
                stage=Stage.STORED,
                occurred_at=T0 + timedelta(hours=2),
                handled_by="x",
                location="A",
            ),
            actor=OFFICER,
            now=T0,
        )
    assert future.value.key == "error.custody.step_future"
    assert len(service.steps_of(db, item=item)) == 1  # nothing written by a refusal
    with pytest.raises(Conflict):
        _item(db, "CU-2")
    with pytest.raises(NotFound):
        service.get_or_raise(db, item_id=item.id, scope=scope_of([area(db, "T-D2").path]))


def test_corrections_are_new_steps_and_the_chain_is_read_as_corrected(db: Session) -> None:
    item = _item(db, "CU-3")
    wrong = _step(db, item, Stage.STORED, 2, location="A-1")
    fixed = service.correct_step(
        db,
        item=item,
        step_id=wrong.id,
        data=CorrectionIn(location="A-7"),
        actor=OFFICER,
        now=T0 + timedelta(hours=3),
    )
    assert fixed.corrects_id == wrong.id and fixed.stage is Stage.STORED
    assert item.location == "A-7"
    db.refresh(wrong)
    assert wrong.location == "A-1"  # the step itself is never changed
    with pytest.raises(Conflict):  # a step is corrected once: correct its correction
        service.correct_step(
            db,
            item=item,
            step_id=wrong.id,
            data=CorrectionIn(location="A-8"),
            actor=OFFICER,
            now=T0,
        )
    moved = _step(db, item, Stage.MOVED, 5, location="分局库")
    # Voiding the move that never happened: the item is stored at A-7 again, its deadline that
    # of the stored stage since hour 2.
    service.correct_step(
        db,
        item=item,
        step_id=moved.id,
        data=CorrectionIn(void=True),
        actor=OFFICER,
        now=T0 + timedelta(hours=6),
    )
    assert (item.stage, item.location) == (Stage.STORED, "A-7")
    assert item.due_at == T0 + timedelta(hours=2 + 180 * 24)
    chain = service.effective(service.steps_of(db, item=item))
    assert [(link.step.stage, link.step.location) for link in chain] == [
        (Stage.RECEIVED, "现场"),
        (Stage.STORED, "A-7"),
    ]
    # A correction that would break the chain is refused: the receipt cannot be voided.
    first = service.steps_of(db, item=item)[0]
    with pytest.raises(InvalidInput) as broken:
        service.correct_step(
            db, item=item, step_id=first.id, data=CorrectionIn(void=True), actor=OFFICER, now=T0
        )
    assert broken.value.key == "error.custody.first_received"


def test_the_database_refuses_to_change_or_delete_a_step(db: Session) -> None:
    item = _item(db, "CU-4")
    step = service.steps_of(db, item=item)[0]
    db.flush()
    for statement in (
        update(CustodyStep).where(CustodyStep.id == step.id).values(location="改"),
        delete(CustodyStep).where(CustodyStep.id == step.id),
    ):
        nested = db.begin_nested()
        with pytest.raises((DBAPIError, IntegrityError)) as refused:
            db.execute(statement)
        nested.rollback()
        assert "append-only" in str(refused.value)


def test_overdue_items_raise_one_case_each_on_the_supervision_board(db: Session) -> None:
    late = _item(db, "CU-5")
    on_time = _item(db, "CU-6")
    _step(db, on_time, Stage.STORED, 3, location="A-1")
    now = T0 + timedelta(hours=25)
    assert service.is_overdue(late, now) and not service.is_overdue(on_time, now)
    opened = service.raise_alerts(db, now=now, calendar=CALENDAR, actor=OFFICER)
    mine = [i for i in opened if db.get(Case, i).data.get("item") in ("CU-5", "CU-6")]  # type: ignore[union-attr]
    assert len(mine) == 1
    case = db.get_one(Case, late.alert_case_id)
    assert case.case_type == "custody_overdue" and case.data == {
        "item": "CU-5",
        "stage": "received",
    }
    assert case.area_path == area(db, STATION).path
    again = service.raise_alerts(db, now=now + timedelta(hours=1), calendar=CALENDAR, actor=OFFICER)
    assert late.alert_case_id not in again  # once per stage
    # The district's board counts it in the station's row (a board counts per child area).
    _, rows = cases.board(
        db, scope=scope_of([area(db, "T-D1").path]), now=now, case_type="custody_overdue"
    )
    assert {r.area.code: r.open for r in rows}[STATION] >= 1
    # Stored late: a new stage and a new clock; the old alert stays its case.
    _step(db, late, Stage.STORED, 26, location="A-2")
    assert late.alert_case_id is None and not service.is_overdue(late, T0 + timedelta(hours=27))
