"""The province load test's generator (benchmarks/_province_data.py, issue 23) on PostgreSQL:
what it says it wrote is what the database holds, county by county, every row under its own
county, and a county is the same whether it is alone or one of several."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from conftest import fresh_database

# On the path for this import only: benchmarks/indicators.py would hide the tests' indicators
# package (a directory without __init__.py) from every test collected after this one.
_BENCHMARKS = str(Path(__file__).resolve().parents[1] / "benchmarks")
sys.path.insert(0, _BENCHMARKS)
import _province_data as data  # noqa: E402 - after its folder is on the path
import province_load  # noqa: E402 - after its folder is on the path

sys.path.remove(_BENCHMARKS)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TINY = replace(data.SMOKE, per_day=4.0, days=6, devices=5, movements=7, open_hours=12.0)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, data.Generated]:
    engine = fresh_database("postgresql", tmp_path_factory.mktemp("gen2"), suffix="_gen2")
    url = _url(engine)
    engine.dispose()
    return url, data.generate(url, 2, TINY, now=NOW)


def test_census_is_what_was_written(two: tuple[str, data.Generated]) -> None:
    url, generated = two
    found = data.census(url)
    assert sorted(found) == ["-", "C000", "C001"]
    # Outside every county: only the audit event of the province root's import.
    assert found["-"] == {"audit_event": 1}
    areas = 1 + TINY.stations * (1 + TINY.beats * (1 + TINY.grids))
    for code in ("C000", "C001"):
        written = generated.by_county[code]
        assert written["incident"] == TINY.incidents() == 24
        assert written["case_record"] == TINY.cases()
        assert written["device"] == TINY.devices
        assert written["facility"] == TINY.facilities
        assert written["device_status_event"] == TINY.devices * TINY.status_changes
        assert written["material_movement"] == TINY.movements
        assert written["unit"] == TINY.stations * TINY.units_per_station
        # each incident has two to five events; one audit event per incident and case
        assert 2 * written["incident"] <= written["incident_event"] <= 5 * written["incident"]
        assert written["audit_event"] == written["incident"] + written["case_record"]
        # + the audit event of the county's own areas' import
        assert found[code] == {**written, "area": areas, "audit_event": written["audit_event"] + 1}
    assert sum(generated.rows.values()) == sum(
        n for code in ("C000", "C001") for n in generated.by_county[code].values()
    )


def test_rows_lie_in_their_county(two: tuple[str, data.Generated]) -> None:
    url, _ = two
    from fangkong.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        counties: dict[str, str] = {
            str(r[0]): str(r[1])
            for r in conn.execute(text("SELECT code, path FROM area WHERE level = 'district'"))
        }
        assert set(counties) == {"C000", "C001"}
        # The incidents, devices and movements of a county carry its code's prefix and its path;
        # their points lie in the area they are filed under.
        for table, key in (
            ("incident", "idempotency_key"),
            ("device", "code"),
            ("material_movement", "document_no"),
        ):
            for code, path in counties.items():
                query = f"SELECT count(*) FROM {table} WHERE {key} LIKE :k"
                wrong = conn.execute(
                    text(query + " AND area_path NOT LIKE :p"),
                    {"k": f"%{code}-%", "p": f"{path}%"},
                ).scalar_one()
                assert wrong == 0, (table, code)
        outside = conn.execute(
            text(
                "SELECT count(*) FROM incident i JOIN area a ON a.id = i.area_id "
                "WHERE i.area_path != a.path OR i.lon < a.min_lon OR i.lon > a.max_lon "
                "OR i.lat < a.min_lat OR i.lat > a.max_lat OR a.level != 'grid'"
            )
        ).scalar_one()
        assert outside == 0
        # Open: exactly those received in the last ``open_hours`` hours and not cancelled.
        open_rows = conn.execute(
            text(
                "SELECT status, received_at FROM incident "
                "WHERE status IN ('received', 'dispatched', 'en_route', 'on_scene')"
            )
        ).all()
        assert open_rows
        assert all((NOW - r[1]).total_seconds() < TINY.open_hours * 3600 for r in open_rows)
        # Where the tables have a county key (issue 23's partitions), it is the county's id.
        has_key = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'incident_event' AND column_name = 'county_id'"
            )
        ).scalar_one()
        if has_key:
            for table in ("incident", "incident_event", "device_status_event", "material_movement"):
                mismatched = conn.execute(
                    text(
                        f"SELECT count(*) FROM {table} t WHERE t.county_id IS NULL OR NOT EXISTS "
                        "(SELECT 1 FROM area a WHERE a.id = t.county_id AND a.level = 'district')"
                    )
                ).scalar_one()
                assert mismatched == 0, table
    engine.dispose()


def test_cases_are_in_their_types_states(two: tuple[str, data.Generated]) -> None:
    """Every case's state is one its type declares (the deadline job reads it), closed ones
    in a closing state and open ones not."""
    url, _ = two
    from fangkong.cases import registry
    from fangkong.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT case_type, state, closed_at IS NULL FROM case_record")
        ).all()
    engine.dispose()
    assert {r[0] for r in rows} == set(data.CASE_TYPES)
    for case_type, state, is_open in rows:
        declared = registry.get(case_type).state(state)
        assert declared.closing is not is_open, (case_type, state)


def test_the_audit_chain_holds(two: tuple[str, data.Generated]) -> None:
    url, generated = two
    from sqlalchemy.orm import Session

    from fangkong.core import audit
    from fangkong.core.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        report = audit.verify(session)
    engine.dispose()
    assert report.ok, report.faults
    # every generated event, the areas' imports (the root and one per county) too
    assert report.checked == generated.rows["audit_event"] + 3


def test_a_county_alone_is_the_same_county(two: tuple[str, data.Generated], tmp_path: Path) -> None:
    url_two, generated_two = two
    engine = fresh_database("postgresql", tmp_path, suffix="_gen1")
    url_one = _url(engine)
    engine.dispose()
    generated_one = data.generate(url_one, 1, TINY, now=NOW)
    assert generated_one.by_county["C000"] == generated_two.by_county["C000"]

    def picture(url: str) -> list[tuple[object, ...]]:
        from fangkong.core.db import make_engine

        engine = make_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT i.idempotency_key, i.status, i.received_at, i.lon, i.lat, a.code "
                    "FROM incident i JOIN area a ON a.id = i.area_id ORDER BY 1"
                )
            ).all()
        engine.dispose()
        return [tuple(r) for r in rows if str(r[0]).startswith("LC000-")]

    assert picture(url_one) == picture(url_two)


@pytest.mark.parametrize(
    ("counties", "size", "fault"),
    [
        (0, TINY, "counties"),
        (data.MAX_COUNTIES + 1, TINY, "counties"),
        (1, replace(TINY, days=400), "days"),
        (1, replace(TINY, grids=0), "at least 1"),
        (1, replace(TINY, devices=-1), "negative"),
        (100, replace(data.FULL, per_day=5_000.0), "cap"),
    ],
)
def test_absurd_runs_are_refused(counties: int, size: data.Size, fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        data.check_bounds(counties, size)
    data.check_bounds(100, data.FULL)  # the full run is within them


def test_a_run_again_takes_the_databases_as_they_were_left(
    two: tuple[str, data.Generated],
) -> None:
    """``--again`` measures the rows a run left: what they hold is read back, and a database
    of another number of counties is refused, not compared."""
    url, generated = two
    left = province_load._left(url, 2, TINY)
    for table in ("incident", "incident_event"):
        assert left.rows[table] == generated.rows[table], table
    # and the audit events of the areas' import beside the generated ones
    assert left.rows["audit_event"] > generated.rows["audit_event"]
    with pytest.raises(SystemExit, match="holds 2 counties, not 3"):
        province_load._left(url, 3, TINY)
    assert province_load.main(["--again", "--smoke", "--postgres-url", url]) == 2
