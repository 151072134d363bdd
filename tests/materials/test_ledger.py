"""The ledger's writes: units converted to thousandths of the base unit, transfer ends checked,
corrections that replace or void a row, rows the database refuses to change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from fangkong.core.errors import Conflict, InvalidInput, NotFound
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.materials import ledger, reconcile
from fangkong.materials.models import CorrectionReason, Movement, MovementKind, StockCount
from fangkong.materials.schemas import CorrectionIn, CountIn, MovementIn
from materials.materials_helpers import ACTOR, OTHER_GRID, T0, catalogue, holder, scope_of, site


@pytest.fixture()
def books(db: Session) -> Session:
    catalogue(db)
    holder(db, "HA")
    holder(db, "HB", grid=OTHER_GRID)
    site(db, "SA1", "HA")
    site(db, "SA2", "HA")
    site(db, "SB1", "HB", grid=OTHER_GRID)
    return db


def row(**values: object) -> MovementIn:
    base: dict[str, object] = {
        "site_code": "SA1",
        "material_code": "EMX",
        "kind": MovementKind.PRODUCE,
        "quantity": 100,
        "unit": "kg",
        "occurred_at": T0,
        "document_no": "D-1",
    }
    return MovementIn.model_validate(base | values)


def record(db: Session, **values: object) -> Movement:
    return ledger.record_movement(db, data=row(**values), actor=ACTOR, now=T0, scope=None)


def test_quantities_are_kept_in_thousandths_of_the_base_unit(books: Session) -> None:
    assert record(books, quantity=1.5, unit="t").quantity_milli == 1_500_000
    assert record(books, quantity=250, unit="g").quantity_milli == 250
    assert record(books, material_code="DET", quantity=3, unit="box").quantity_milli == 150_000
    assert record(books, material_code="CYN", quantity=2, unit="drum").quantity_milli == 400_000
    assert record(books, material_code="CYN", quantity=1, unit="m3").quantity_milli == 1_000_000
    with pytest.raises(InvalidInput) as unknown:
        record(books, unit="piece")
    assert unknown.value.field == "unit" and unknown.value.key == "error.materials.unit_unknown"
    with pytest.raises(InvalidInput):
        record(books, quantity=0.0001, unit="g")  # less than a thousandth of a kilogram
    with pytest.raises(InvalidInput):
        record(books, quantity=2e9, unit="t")


def test_transfer_ends_name_their_counterparty_as_their_kind_needs(books: Session) -> None:
    with pytest.raises(InvalidInput) as missing:
        record(books, kind=MovementKind.TRANSPORT)
    assert missing.value.field == "counterparty_code"
    with pytest.raises(InvalidInput):
        record(books, kind=MovementKind.USE, counterparty_code="HB")
    with pytest.raises(InvalidInput):  # a delivery from another holder is a receipt
        record(books, kind=MovementKind.STORE, counterparty_code="HB")
    with pytest.raises(InvalidInput):  # between one's own sites: store, naming the site
        record(books, kind=MovementKind.RECEIVE, counterparty_code="HA")
    with pytest.raises(InvalidInput):
        record(books, kind=MovementKind.TRANSPORT, counterparty_code="HA")
    moved = record(
        books,
        kind=MovementKind.TRANSPORT,
        counterparty_code="HA",
        counterparty_site_code="SA2",
    )
    assert moved.counterparty_id == moved.holder_id
    # The other end may lie outside the caller's areas; the row's own site may not.
    station = scope_of(books, "T-D1-S1")
    sold = ledger.record_movement(
        books,
        data=row(kind=MovementKind.SELL, counterparty_code="HB"),
        actor=ACTOR,
        now=T0,
        scope=station,
    )
    assert sold.area_path is not None and station.covers(sold.area_path)
    with pytest.raises(NotFound):
        ledger.record_movement(books, data=row(site_code="SB1"), actor=ACTOR, now=T0, scope=station)


def test_a_counterparty_site_looked_up_for_one_row_is_no_site_of_the_next(books: Session) -> None:
    # An import shares its lookups across rows: a site named as another holder's other end
    # (read from the whole register) must not then pass as a site of the caller's areas.
    station = scope_of(books, "T-D1-S1")
    lookups = ledger.Lookups.empty()
    with pytest.raises(InvalidInput) as foreign:
        ledger.build_movement(
            books,
            row(kind=MovementKind.TRANSPORT, counterparty_code="HA", counterparty_site_code="SB1"),
            scope=station,
            actor=ACTOR,
            now=T0,
            lookups=lookups,
        )
    assert foreign.value.key == "error.materials.counterparty_site"
    with pytest.raises(NotFound):
        ledger.build_movement(
            books, row(site_code="SB1"), scope=station, actor=ACTOR, now=T0, lookups=lookups
        )


def test_a_correction_replaces_its_row_and_a_void_cancels_it(books: Session) -> None:
    first = record(books, quantity=100)
    second = record(books, quantity=40, kind=MovementKind.USE, document_no="D-2")
    fixed = ledger.correct_movement(
        books,
        original=second,
        data=CorrectionIn(reason=CorrectionReason.QUANTITY, row=row(quantity=30, kind="use")),
        actor=ACTOR,
        now=T0,
        scope=None,
    )
    assert fixed.corrects_id == second.id
    with pytest.raises(Conflict):
        ledger.correct_movement(
            books,
            original=second,
            data=CorrectionIn(reason=CorrectionReason.OTHER, void=True),
            actor=ACTOR,
            now=T0,
            scope=None,
        )
    ledger.correct_movement(
        books,
        original=first,
        data=CorrectionIn(reason=CorrectionReason.DUPLICATE, void=True),
        actor=ACTOR,
        now=T0,
        scope=None,
    )
    record(books, quantity=200, document_no="D-3")
    result = reconcile.reconcile(
        books,
        scope=SYSTEM_SCOPE,
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=1),
        now=T0 + timedelta(days=1),
        zone=reconcile.ZoneInfo("Asia/Shanghai"),
    )
    (emx,) = [b for b in result.balances if b.inflow or b.outflow]
    # 100 voided, 40 corrected to 30: 200 in, 30 out.
    assert (emx.inflow, emx.outflow, emx.closing) == (200_000, 30_000, 170_000)
    total, rows = ledger.get_movements(
        books, scope=SYSTEM_SCOPE, filters=ledger.MovementFilter(corrections=False)
    )
    assert {r.document_no for r in rows} == {"D-1", "D-3"}
    assert total == 2


def test_the_database_refuses_to_change_or_delete_a_ledger_row(books: Session) -> None:
    written = record(books)
    count = ledger.record_count(
        books,
        data=CountIn(site_code="SA1", material_code="EMX", quantity=100, unit="kg", counted_at=T0),
        actor=ACTOR,
        now=T0,
        scope=None,
    )
    for statement in (
        update(Movement).where(Movement.id == written.id).values(quantity_milli=1),
        delete(Movement).where(Movement.id == written.id),
        update(StockCount).where(StockCount.id == count.id).values(quantity_milli=1),
        delete(StockCount).where(StockCount.id == count.id),
    ):
        nested = books.begin_nested()
        with pytest.raises((DBAPIError, IntegrityError)) as refused:
            books.execute(statement)
        assert "append-only" in str(refused.value)
        nested.rollback()
    if books.get_bind().dialect.name == "postgresql":
        nested = books.begin_nested()
        with pytest.raises(DBAPIError):
            books.execute(text("TRUNCATE material_movement CASCADE"))
        nested.rollback()


def test_counts_are_corrected_by_counts(books: Session) -> None:
    counted = ledger.record_count(
        books,
        data=CountIn(site_code="SA1", material_code="DET", quantity=2, unit="box", counted_at=T0),
        actor=ACTOR,
        now=T0,
        scope=None,
    )
    assert counted.quantity_milli == 100_000
    again = ledger.record_count(
        books,
        data=CountIn(
            site_code="SA1",
            material_code="DET",
            quantity=0,
            unit="piece",
            counted_at=T0,
            corrects_id=counted.id,
        ),
        actor=ACTOR,
        now=T0,
        scope=None,
    )
    assert again.quantity_milli == 0
    with pytest.raises(Conflict):
        ledger.record_count(
            books,
            data=CountIn(
                site_code="SA1",
                material_code="DET",
                quantity=1,
                unit="piece",
                counted_at=T0,
                corrects_id=counted.id,
            ),
            actor=ACTOR,
            now=T0,
            scope=None,
        )


def test_a_discrepancy_opens_one_case_however_often_it_is_reconciled(books: Session) -> None:
    from cases.case_helpers import CALENDAR
    from fangkong.materials import findings

    record(books, quantity=100)
    ledger.record_count(
        books,
        data=CountIn(site_code="SA1", material_code="EMX", quantity=98, unit="kg", counted_at=T0),
        actor=ACTOR,
        now=T0,
        scope=None,
    )

    def run() -> tuple[list[int], int]:
        result = reconcile.reconcile(
            books,
            scope=SYSTEM_SCOPE,
            start=T0 - timedelta(days=1),
            end=T0 + timedelta(days=1),
            now=T0 + timedelta(days=1),
            zone=reconcile.ZoneInfo("Asia/Shanghai"),
        )
        (found,) = result.discrepancies
        names = findings.Names.of(books, [found])
        assert findings.describe(found, names, "en") == (
            f"HA SA1 EMX: counted 98.000 kg, the book says 100.000 kg (count {found.count_id})"
        )
        return findings.open_cases(
            books,
            discrepancies=result.discrepancies,
            user=None,
            actor=ACTOR,
            now=T0,
            calendar=CALENDAR,
        )

    opened, existing = run()
    assert len(opened) == 1 and existing == 0
    assert run() == ([], 1)
    from fangkong.cases.models import Case

    case = books.get_one(Case, opened[0])
    assert case.case_type == "material_discrepancy" and case.data["holder"] == "HA"
    assert [(link.kind, link.label) for link in case.links] == [("material_holder", "HA")]
