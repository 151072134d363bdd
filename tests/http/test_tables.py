"""The shared table at its seam, on SQLite and PostgreSQL: sort on declared columns only,
filters, pages, bounds refused with 422, and exports (CSV, XLSX) that hold exactly the view."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import run_in_new_loop
from factories import county_geojson
from fangkong.areas.models import LEVELS, Area
from fangkong.core.audit import Actor
from fangkong.core.errors import InvalidInput
from fangkong.core.models import AuditEvent
from fangkong.core.scoping import SYSTEM_SCOPE, Scope
from fangkong.http import tables
from fangkong.http.tables import Column, Filter, Table

ZONE = ZoneInfo("Asia/Shanghai")
CODES = sorted(f["properties"]["code"] for f in county_geojson()["features"])


def area_table() -> Table:
    return Table(
        name="area",
        columns=(
            Column("code", "Code", lambda a: a.code, sort=Area.code),
            Column("name", "Name", lambda a: a.name_zh, sort=Area.name_zh),
            Column("parent", "Parent", lambda a: a.parent_id, sort=Area.parent_id, numeric=True),
            Column("km2", "km²", lambda a: a.area_m2 / 1e6, sort=Area.area_m2, numeric=True),
            Column("made", "Made", lambda a: a.created_at, sort=Area.created_at),
            Column("level", "Level", lambda a: a.level.value),
        ),
        filters=(
            Filter("q", "Text", where=lambda v: Area.code.icontains(v, autoescape=True)),
            Filter(
                "level",
                "Level",
                "choice",
                where=lambda v: Area.level == v,
                choices=tuple((lv.value, lv.value) for lv in LEVELS),
            ),
            Filter("from", "From", "date_from", where=lambda v: Area.created_at >= v),
            Filter("to", "To", "date_to", where=lambda v: Area.created_at < v),
        ),
        default_sort="code",
        tiebreak=(Area.id,),
        per_page=5,
    )


def county(scope: Scope = SYSTEM_SCOPE) -> Any:
    """The test county's areas (other tests' areas left out)."""
    return select(Area).where(scope.clause(Area.path), Area.code.in_(CODES))


def view(db: Session, **params: str) -> tables.Page:
    return tables.fetch(db, county(), area_table().parse(params, zone=ZONE), zone=ZONE)


def every_page(db: Session, **params: str) -> list[Area]:
    first = view(db, **params)
    rows = list(first.rows)
    for number in range(2, first.pages + 1):
        rows += view(db, **params, page=str(number)).rows
    return rows


def test_sorts_by_a_declared_column_either_way(db: Session) -> None:
    assert [a.code for a in every_page(db)] == CODES
    assert [a.code for a in every_page(db, sort="-code")] == CODES[::-1]
    areas = every_page(db, sort="km2")
    assert [a.area_m2 for a in areas] == sorted(a.area_m2 for a in areas)
    # NULLs last whichever the direction, on both backends (the city has no parent).
    for sort in ("parent", "-parent"):
        parents = [a.parent_id for a in every_page(db, sort=sort)]
        assert parents[-1] is None and None not in parents[:-1]
        known = [p for p in parents if p is not None]
        assert known == sorted(known, reverse=sort.startswith("-"))


def test_filters_narrow_the_view(db: Session) -> None:
    grids = every_page(db, level="grid", q="-d1-")
    assert [a.code for a in grids] == [c for c in CODES if c.count("-") == 4 and "-D1-" in c]
    # % and _ are text, not wildcards.
    assert view(db, q="T_D1").total == 0 and view(db, q="%").total == 0
    today = datetime.now(ZONE).date()
    assert view(db, **{"from": today.isoformat()}).total == len(CODES)
    assert view(db, to=(today - timedelta(days=1)).isoformat()).total == 0
    both = view(db, **{"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()})
    assert both.total == len(CODES)


def test_pages_cover_the_view_once(db: Session) -> None:
    page = view(db)
    assert (page.total, page.pages, len(page.rows)) == (len(CODES), -(-len(CODES) // 5), 5)
    assert (page.first_row, page.last_row) == (1, 5)
    rows = every_page(db, sort="-name")
    assert len(rows) == len({a.id for a in rows}) == len(CODES)
    # A page past the last shows the last one.
    past = view(db, page="999")
    assert past.page == past.pages and past.rows == view(db, page=str(past.pages)).rows
    assert len(view(db, per_page="200").rows) == len(CODES)


def test_scope_is_the_callers(db: Session) -> None:
    station = db.scalars(select(Area).where(Area.code == "T-D1-S1")).one()
    scope = Scope(paths=(station.path,))
    query = area_table().parse({"per_page": "200"}, zone=ZONE)
    page = tables.fetch(db, county(scope), query, zone=ZONE)
    assert [a.code for a in page.rows] == [c for c in CODES if c.startswith("T-D1-S1")]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "description"}, "sort"),
        ({"sort": "-level"}, "sort"),  # a column, but not one to sort by
        ({"sort": "x" * 65}, "sort"),
        ({"level": "county"}, "level"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"from": "2021-02-30"}, "from"),
        ({"from": "1999-12-31"}, "from"),
        ({"to": "next week"}, "to"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "201"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "100001"}, "page"),
        ({"page": "9" * 40}, "page"),
    ],
)
def test_out_of_bounds_is_refused_naming_the_parameter(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        area_table().parse(params, zone=ZONE)
    assert refused.value.status_code == 422 and refused.value.field == field
    assert refused.value.key is not None and refused.value.key.startswith("error.")


def test_typed_queries_are_checked_alike() -> None:
    table = area_table()
    with pytest.raises(InvalidInput) as unknown:
        table.query(values={"colour": "red"})
    assert unknown.value.field == "colour"
    with pytest.raises(InvalidInput):
        table.query(values={"level": "county"})
    with pytest.raises(InvalidInput):
        table.query(per_page=500)
    query = table.query(sort="-km2", values={"level": "grid", "q": None})
    assert query.values == {"level": "grid"} and query.link() == "?level=grid&sort=-km2"
    assert query.sort_link(table.columns[3]) == "?level=grid&sort=km2"
    assert query.sort_link(table.columns[0]) == "?level=grid&sort=code"
    assert query.export_link("csv") == "?level=grid&sort=-km2&export=csv"


def _body(response: Any) -> bytes:
    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.body_iterator])

    return run_in_new_loop(read)


def test_exports_hold_exactly_the_view(db: Session) -> None:
    params = {"level": "grid", "sort": "-name"}
    shown = every_page(db, **params)
    query = area_table().parse(params, zone=ZONE)
    station = db.scalars(select(Area).where(Area.code == "T-D1")).one()
    actor = Actor(user_id=None, username="exporter", client="test")
    answer = tables.export(
        db,
        county(),
        query,
        fmt="csv",
        zone=ZONE,
        title="Areas",
        actor=actor,
        scope=Scope(paths=(station.path,)),
    )
    assert answer.media_type == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith('attachment; filename="area-')
    body = _body(answer)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["Code", "Name", "Parent", "km²", "Made", "Level"]
    assert [r[0] for r in rows[1:]] == [a.code for a in shown]
    assert [r[1] for r in rows[1:]] == [a.name_zh for a in shown]
    made = shown[0].created_at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[1][4] == made and float(rows[1][3]) == shown[0].area_m2 / 1e6
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.username == "exporter").order_by(AuditEvent.id.desc())
    ).first()
    assert event is not None and (event.action, event.entity) == ("export", "area")
    assert event.detail == {
        "format": "csv",
        "rows": len(shown),
        "filters": {"level": "grid"},
        "sort": "-name",
    }
    assert event.area_path == station.path

    book = load_workbook(
        io.BytesIO(_body(tables.export(db, county(), query, fmt="xlsx", zone=ZONE, title="Areas"))),
        read_only=True,
    )
    sheet = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    assert book.sheetnames == ["Areas"]
    assert sheet[0] == rows[0]
    assert [r[0] for r in sheet[1:]] == [a.code for a in shown]
    assert sheet[1][4] == shown[0].created_at.astimezone(ZONE).replace(tzinfo=None, microsecond=0)
    assert sheet[1][2] == shown[0].parent_id


def test_an_export_past_its_cap_or_in_another_format_is_refused(db: Session) -> None:
    query = area_table().parse({}, zone=ZONE)
    with pytest.raises(InvalidInput) as too_many:
        tables.export(db, county(), query, fmt="csv", zone=ZONE, title="x", max_rows=3)
    assert too_many.value.key == "error.table.export_too_many"
    assert too_many.value.params == {"rows": len(CODES), "max": 3}
    with pytest.raises(InvalidInput) as other:
        tables.export(db, county(), query, fmt="pdf", zone=ZONE, title="x")
    assert other.value.field == "export"


def test_cells_are_written_as_text_never_as_formulas() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows: list[list[tables.Cell]] = [
        ["=1+1", "+86 138", "-x", "@SUM(A1)", "plain", 3, 2.5, None, moment, "a\x01b"]
    ]
    out = io.BytesIO()
    assert tables.write_csv(out, ["h"] * 10, rows, zone=ZONE) == 1
    written = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))[1]
    assert written[:5] == ["'=1+1", "'+86 138", "'-x", "'@SUM(A1)", "plain"]
    assert written[5:9] == ["3", "2.5", "", "2026-01-02 11:04:05"]
    book_file = io.BytesIO()
    assert tables.write_xlsx(book_file, ["h"] * 10, rows, zone=ZONE, title="a/b:c") == 1
    book = load_workbook(io.BytesIO(book_file.getvalue()))
    sheet = book.worksheets[0]
    assert sheet.title == "a b c"
    cells = [c for c in sheet[2]]
    assert cells[0].value == "=1+1" and cells[0].data_type == "s"
    assert [c.value for c in cells[1:8]] == ["+86 138", "-x", "@SUM(A1)", "plain", 3, 2.5, None]
    assert cells[8].value == datetime(2026, 1, 2, 11, 4, 5)
    assert cells[9].value == "ab"
