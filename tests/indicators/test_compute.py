"""The indicator figures at their service seam, on both backends: equal to what the owning
services compute for every area (response rings, cases, devices, facilities), scoped,
computed without reading any personal field, stored and read back; the catalogue's broken
declarations name themselves; targets with their history and manual inputs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from dispatch.dispatch_helpers import area, scope_of
from fangkong.areas.models import Area
from fangkong.cases import indicators as case_indicators
from fangkong.core import personal
from fangkong.core.audit import Actor
from fangkong.core.config import Settings
from fangkong.core.errors import InvalidInput
from fangkong.core.scoping import SYSTEM_SCOPE
from fangkong.devices import figures as device_figures
from fangkong.dispatch import kpis
from fangkong.facilities import register as facility_register
from fangkong.indicators import catalogue, compute, inputs, store, targets
from fangkong.indicators.catalogue import DeclarationError
from fangkong.indicators.declarations import BUILTIN
from fangkong.indicators.models import IndicatorValue
from fangkong.indicators.periods import Period, parse
from indicators.indicator_helpers import NOW, PERIOD, ZONE, a_month

OFFICE = Actor(user_id=None, username="office", client="test")


def _by(figures: list[compute.Figure]) -> dict[tuple[str, str], compute.Figure]:
    return {(f.indicator_id, f.area_code): f for f in figures}


def test_figures_equal_what_the_owning_services_compute(db: Session) -> None:
    a_month(db)
    start, end = PERIOD.start(ZONE), PERIOD.end(ZONE)
    found = _by(compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE))
    areas = list(db.scalars(select(Area).order_by(Area.path)))
    devices = {f.code: f for f in device_figures.figures(db, scope=SYSTEM_SCOPE)}
    rates = {
        (r.area_code, r.facility_type): r
        for r in facility_register.rates(db, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    }
    checked = 0
    for a in areas:
        level = a.level.value
        if level != "grid":
            ring = kpis.area_kpis(db, scope=SYSTEM_SCOPE, area=a, start=start, end=end)
            for name in ("1min", "3min", "5min"):
                assert found[(f"response.ring_{name}", a.code)].value == pytest.approx(
                    ring.ring_share[name]
                ), (a.code, name)
            responded = found[("response.ring_1min", a.code)].denominator
            assert responded == ring.dispatch_to_arrival.count
        assert (
            found[("incidents.received", a.code)].value
            == kpis.area_kpis(db, scope=SYSTEM_SCOPE, area=a, start=start, end=end).incidents
        )
        cases = case_indicators.compute(
            db, case_type="hazard", area=a, start=start, end=end, now=NOW
        )
        figure = found[("cases.hazard.resolution_rate", a.code)]
        assert figure.value == pytest.approx(cases.resolution_rate), a.code
        assert figure.denominator == cases.found
        assert found[("cases.overdue", a.code)].value == cases.overdue
        if level in ("city", "district", "station"):
            zone = devices[a.code].zone("all")
            assert found[("devices.online_rate", a.code)].value == pytest.approx(zone.online_rate)
            assert found[("devices.working_rate", a.code)].value == pytest.approx(zone.working_rate)
            assert found[("devices.density", a.code)].value == pytest.approx(zone.density)
            share = rates[(a.code, "all")].compliant_share
            assert found[("facilities.compliance", a.code)].value == pytest.approx(share)
            bank = rates[(a.code, "bank")].compliant_share
            assert found[("facilities.compliance.bank", a.code)].value == pytest.approx(bank)
            checked += 1
    assert checked >= 5
    # The month's records are there to be counted.
    assert found[("incidents.received", "T")].value == 24
    assert found[("cases.hazard.resolution_rate", "T")].denominator == 12


def test_a_readers_figures_are_their_areas_and_the_same_values(db: Session) -> None:
    a_month(db, seed=3)
    whole = _by(compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE))
    station = scope_of(db, "T-D1-S1")
    mine = compute.compute(db, period=PERIOD, scope=station, now=NOW, zone=ZONE)
    assert mine and {f.area_code for f in mine} == {
        code for (_, code) in whole if code == "T-D1-S1" or code.startswith("T-D1-S1-")
    }
    for f in mine:
        assert whole[(f.indicator_id, f.area_code)] == f


def test_levels_limit_where_an_indicator_is_computed(db: Session) -> None:
    figures = compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    for f in figures:
        decl = catalogue.get(f.indicator_id)
        assert decl is not None and f.level in {lv.value for lv in decl.levels}
    assert not [f for f in figures if f.indicator_id == "devices.density" and f.level == "grid"]


def _register_columns() -> set[tuple[str, str]]:
    """(table, column) of every field of the personal-data register."""
    import fangkong.cases.purge
    import fangkong.dispatch.retention
    import fangkong.materials.personal  # noqa: F401

    found: set[tuple[str, str]] = set()
    for entry in personal.fields(Settings()):
        for table, column in re.findall(r"\b([a-z_]+)\.([a-z_]+)\b", entry.stored_in):
            found.add((table, column))
    return found


@pytest.fixture()
def statements(db: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = db.get_bind().engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_no_personal_field_is_read_to_compute_an_indicator(
    db: Session, statements: list[str]
) -> None:
    a_month(db, seed=5)
    columns = _register_columns()
    assert ("incident", "caller_contact_encrypted") in columns
    assert ("case_record", "title") in columns
    statements.clear()
    figures = compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    assert figures and statements
    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert any("incident" in s for s in reads) and any("case_record" in s for s in reads)
    for statement in reads:
        for table, column in columns:
            assert not re.search(rf"\b{table}\.{column}\b", statement), (table, column, statement)
        assert not re.search(r"\*", statement.split("FROM")[0]), statement
    # The check itself sees a personal column when one is read.
    statements.clear()
    db.execute(select(Area.code)).all()
    from fangkong.dispatch.models import Incident

    db.execute(select(Incident.caller_contact_encrypted)).all()
    assert any(re.search(r"\bincident\.caller_contact_encrypted\b", s) for s in statements)


def test_the_built_in_catalogue_parses_and_cites_its_sources() -> None:
    decls = catalogue.all_indicators()
    assert len(decls) == len(BUILTIN) >= 30
    ids = [d.id for d in decls]
    assert len(ids) == len(set(ids))
    for decl in decls:
        if decl.target.value is not None:
            assert decl.target.cite
    assert catalogue.get("devices.density.central_urban").target.value == 160.0  # type: ignore[union-attr]
    assert catalogue.get("cases.hazard.resolution_rate").target.sources == ("S",)  # type: ignore[union-attr]
    assert any(d.manual for d in decls)


GOOD: dict[str, Any] = {
    "id": "test.rate",
    "name_zh": "测试",
    "name_en": "Test",
    "group": "sensing",
    "formula": {"kind": "ratio", "numerator": "devices.online", "denominator": "devices.count"},
    "unit": "percent",
    "direction": "higher",
    "target": {"value": 0.5, "sources": ["R"], "cite": "a test"},
}


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        (
            {
                "formula": {
                    "kind": "ratio",
                    "numerator": "devices.onlin",
                    "denominator": "devices.count",
                }
            },
            "unknown metric 'devices.onlin'",
        ),
        ({"target": {"value": 90, "sources": ["R"], "cite": "x"}}, "fraction"),
        ({"target": {"value": 0.9, "sources": ["Q"], "cite": "x"}}, "unknown source 'Q'"),
        ({"target": {"value": 0.9, "sources": ["R"]}}, "cite"),
        ({"direction": "up"}, "direction"),
        ({"group": "misc"}, "group 'misc'"),
        ({"levels": ["province"]}, "levels"),
        ({"formula": {"kind": "count", "metric": "devices.count"}}, "percent needs a ratio"),
        ({"id": "Bad Id"}, "id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_broken_declaration_names_itself(change: dict[str, Any], fault: str) -> None:
    data = GOOD | change
    with pytest.raises(DeclarationError) as raised:
        catalogue.parse(data, source="county.yaml")
    message = str(raised.value)
    assert f"indicator {data['id']!r} (county.yaml)" in message
    assert fault in message


def test_a_duplicate_or_redeclared_id_is_refused() -> None:
    with pytest.raises(DeclarationError, match=r"'test\.rate' .*declared twice"):
        catalogue.load([GOOD, GOOD], source="county.yaml")
    changed = GOOD | {"id": "devices.online_rate"}
    with pytest.raises(DeclarationError, match=r"'devices\.online_rate' is already declared"):
        catalogue.register(catalogue.parse(changed))


def test_the_package_refuses_to_start_with_a_broken_declaration() -> None:
    """Parsing the built-in list at import raises with the id: the start stops."""
    import subprocess
    import sys

    broken = [GOOD, GOOD | {"id": "broken.one", "unit": "litres"}]
    code = (
        "import sys, types\n"
        "m = types.ModuleType('fangkong.indicators.declarations')\n"
        f"m.BUILTIN = {broken!r}\n"
        "sys.modules[m.__name__] = m\n"
        "import fangkong.indicators\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert "DeclarationError: indicator 'broken.one'" in run.stderr
    assert "unit" in run.stderr


def test_periods() -> None:
    assert parse("2026-05") == Period(2026, 5) and parse("2026") == Period(2026)
    for bad in ("2026-13", "1999-01", "26-05", "2026-5", "x", "2026-05-01"):
        with pytest.raises(InvalidInput) as raised:
            parse(bad)
        assert raised.value.field == "period"
    may = Period(2026, 5)
    assert may.start(ZONE).isoformat() == "2026-04-30T16:00:00+00:00"
    assert Period(2026, 12).end(ZONE).isoformat() == "2026-12-31T16:00:00+00:00"
    assert Period(2026, 1).previous() == Period(2025, 12)


def test_targets_per_area_and_year_with_history(db: Session) -> None:
    decl = targets.get_or_raise("devices.online_rate")
    settings = targets.settings_of(db, year=2026)
    station = area(db, "T-D1-S1")
    codes = {station.id: station.code}
    default = targets.effective(decl, station.path, settings, codes)
    assert default.value == 0.9 and default.origin == "default" and "C" in default.note
    targets.set_target(
        db,
        indicator_id=decl.id,
        year=2026,
        value=0.8,
        area=None,
        note="县级",
        actor=OFFICE,
        scope=SYSTEM_SCOPE,
        now=NOW,
    )
    targets.set_target(
        db,
        indicator_id=decl.id,
        year=2026,
        value=0.95,
        area=area(db, "T-D1"),
        note="",
        actor=OFFICE,
        scope=SYSTEM_SCOPE,
        now=NOW,
    )
    targets.set_target(
        db,
        indicator_id=decl.id,
        year=2026,
        value=0.97,
        area=area(db, "T-D1"),
        note="raised",
        actor=OFFICE,
        scope=SYSTEM_SCOPE,
        now=NOW + timedelta(days=1),
    )
    settings = targets.settings_of(db, year=2026)
    codes = {a.id: a.code for a in db.scalars(select(Area))}
    assert targets.effective(decl, station.path, settings, codes).value == 0.97
    assert targets.effective(decl, station.path, settings, codes).origin == "T-D1"
    other = area(db, "T-D2")
    assert targets.effective(decl, other.path, settings, codes).value == 0.8
    # Another year keeps the default; the history keeps every setting, latest first.
    assert (
        targets.effective(decl, station.path, targets.settings_of(db, year=2027), codes).value
        == 0.9
    )
    history = targets.history(db, indicator_id=decl.id, scope=SYSTEM_SCOPE)
    assert [h.value for h in history] == [0.97, 0.95, 0.8]
    # A station's reader sees the settings of their areas and for every area only.
    mine = targets.history(db, indicator_id=decl.id, scope=scope_of(db, "T-D2-S1"))
    assert [h.value for h in mine] == [0.8]
    with pytest.raises(InvalidInput) as raised:
        targets.set_target(
            db,
            indicator_id=decl.id,
            year=2026,
            value=90.0,
            area=station,
            note="",
            actor=OFFICE,
            scope=SYSTEM_SCOPE,
            now=NOW,
        )
    assert raised.value.field == "value"
    with pytest.raises(InvalidInput) as raised:
        targets.set_target(
            db,
            indicator_id=decl.id,
            year=2026,
            value=0.5,
            area=None,
            note="",
            actor=OFFICE,
            scope=scope_of(db, "T-D1"),
            now=NOW,
        )
    assert raised.value.field == "area"


def test_traffic_light() -> None:
    higher = targets.get_or_raise("devices.online_rate")
    lower = targets.get_or_raise("response.mean_minutes")
    assert targets.status(higher, 0.9, 0.9) == "met"
    assert targets.status(higher, 0.85, 0.9) == "near"
    assert targets.status(higher, 0.7, 0.9) == "missed"
    assert targets.status(higher, None, 0.9) == "none"
    assert targets.status(higher, 0.5, None) == "none"
    assert targets.status(lower, 4.0, 5.0) == "met"
    assert targets.status(lower, 5.4, 5.0) == "near"
    assert targets.status(lower, 9.0, 5.0) == "missed"


def test_manual_inputs_latest_counts_and_every_entry_is_kept(db: Session) -> None:
    district = area(db, "T-D1")
    for value in (0.5, 0.62):
        inputs.enter(
            db,
            indicator_id="manual.ring_closure",
            area=district,
            period=PERIOD,
            value=value,
            actor=OFFICE,
            now=NOW,
        )
    found = _by(compute.compute(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE))
    assert found[("manual.ring_closure", "T-D1")].value == 0.62
    assert found[("manual.ring_closure", "T")].value is None  # entered, never rolled up
    history = inputs.get_all(db, scope=SYSTEM_SCOPE, indicator_id="manual.ring_closure")
    assert [(h.value, h.entered_by) for h in history] == [(0.62, "office"), (0.5, "office")]
    for kwargs, field in (
        ({"indicator_id": "devices.online_rate"}, "indicator"),
        ({"value": 1.5}, "value"),
        ({"period": Period(2026)}, "period"),
        ({"area": area(db, "T-D1-S1-B1-G1")}, "area"),
    ):
        given: dict[str, Any] = {
            "indicator_id": "manual.ring_closure",
            "area": district,
            "period": PERIOD,
            "value": 0.5,
            "actor": OFFICE,
            "now": NOW,
        } | kwargs
        with pytest.raises(InvalidInput) as raised:
            inputs.enter(db, **given)
        assert raised.value.field == field


def test_the_store_keeps_a_period_and_computes_a_running_one_again(db: Session) -> None:
    a_month(db, seed=11, incidents=6, hazards=3)
    first = store.figures(db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    rows = db.scalars(select(IndicatorValue).where(IndicatorValue.period == "2026-05")).all()
    assert len(rows) == len(first)
    again = store.figures(
        db, period=PERIOD, scope=SYSTEM_SCOPE, now=NOW + timedelta(days=30), zone=ZONE
    )
    assert sorted(again, key=lambda f: (f.area_path, f.indicator_id)) == sorted(
        first, key=lambda f: (f.area_path, f.indicator_id)
    )
    # A month still running when computed is computed again once the figures are old.
    june = Period(2026, 6)
    store.figures(db, period=june, scope=SYSTEM_SCOPE, now=NOW, zone=ZONE)
    computed_at = db.scalar(
        select(IndicatorValue.computed_at).where(IndicatorValue.period == "2026-06").limit(1)
    )
    later = NOW + timedelta(seconds=store.REFRESH_S + 1)
    store.figures(db, period=june, scope=SYSTEM_SCOPE, now=later, zone=ZONE)
    db.expire_all()
    assert (
        db.scalar(
            select(IndicatorValue.computed_at).where(IndicatorValue.period == "2026-06").limit(1)
        )
        > computed_at
    )
