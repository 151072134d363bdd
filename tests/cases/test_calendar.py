"""Business hours (Mon–Fri 09:00–17:30 Asia/Shanghai), holidays, make-up days, configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fangkong.cases.calendar import BusinessCalendar, calendar_from_mapping, load_calendar, shift
from fangkong.core.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")


def sh(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


CAL = BusinessCalendar()


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (sh(23, 9), 8.5, sh(23, 17, 30)),  # Monday: one whole working day
        (sh(23, 9), 17, sh(24, 17, 30)),  # two working days
        (sh(23, 16), 2, sh(24, 9, 30)),  # 1.5 h today, 0.5 h tomorrow
        (sh(27, 16), 17, sh(1, 16, month=12)),  # Friday 16:00 over the weekend to Tuesday
        (sh(28, 11), 1, sh(30, 10)),  # Saturday: starts at Monday's opening
        (sh(23, 7), 1, sh(23, 10)),  # before opening
        (sh(23, 20), 1, sh(24, 10)),  # after closing
        (sh(24, 10), -2, sh(23, 16, 30)),  # backwards over the night
        (sh(30, 10), -4, sh(27, 14, 30)),  # backwards over the weekend
        (sh(23, 12), 0, sh(23, 12)),
    ],
)
def test_business_hours(start: datetime, hours: float, expected: datetime) -> None:
    result = CAL.add(start, hours)
    assert result == expected
    assert result.tzinfo is UTC


def test_holidays_and_make_up_days() -> None:
    calendar = BusinessCalendar(
        holidays=frozenset({date(2026, 11, 24)}), workdays=frozenset({date(2026, 11, 28)})
    )
    assert calendar.add(sh(23, 9), 17) == sh(25, 17, 30)  # Tuesday is off
    assert calendar.add(sh(27, 16), 2) == sh(28, 9, 30)  # Saturday is worked
    assert calendar.working_hours_between(sh(23, 9), sh(25, 17, 30)) == 17
    assert calendar.working_hours_between(sh(25, 17, 30), sh(23, 9)) == -17


def test_calendar_clock_and_naive_times() -> None:
    assert shift(sh(27, 16), 48, clock="calendar", calendar=CAL) == sh(29, 16)
    with pytest.raises(ValueError, match="naive"):
        CAL.add(datetime(2026, 11, 23, 9), 1)
    with pytest.raises(ValueError, match="start before it ends"):
        BusinessCalendar(start=time(18), end=time(9))


def test_configuration_file(tmp_path: Path) -> None:
    assert load_calendar(tmp_path) == BusinessCalendar()
    (tmp_path / "cases.toml").write_text(
        '[calendar]\nstart = "08:30"\nend = "17:00"\nholidays = ["2026-10-01"]\n'
        'workdays = ["2026-10-10"]\n',
        "utf-8",
    )
    calendar = load_calendar(tmp_path, zone="Asia/Shanghai")
    assert calendar.start == time(8, 30) and calendar.hours_per_day == 8.5
    assert not calendar.is_workday(date(2026, 10, 1)) and calendar.is_workday(date(2026, 10, 10))
    (tmp_path / "cases.toml").write_text('[calendar]\nholidays = ["1 October"]\n', "utf-8")
    with pytest.raises(InvalidInput, match=r"calendar.holidays has '1 October'") as info:
        load_calendar(tmp_path)
    assert info.value.field == "calendar.holidays"
    with pytest.raises(InvalidInput, match="unknown calendar keys"):
        calendar_from_mapping({"lunch": "12:00"})
    with pytest.raises(InvalidInput, match="weekdays"):
        calendar_from_mapping({"weekdays": [7]})
    with pytest.raises(InvalidInput, match="start"):
        calendar_from_mapping({"start": "nine"})
    (tmp_path / "cases.toml").write_text("[calendar\n", "utf-8")
    with pytest.raises(InvalidInput):
        load_calendar(tmp_path)


def test_long_spans_stay_exact() -> None:
    start = sh(23, 9)
    end = CAL.add(start, 8.5 * 20)  # 20 working days = 4 weeks
    assert end == sh(18, 17, 30, month=12)
    assert CAL.working_hours_between(start, end) == pytest.approx(170)
    assert end - start > timedelta(days=25)
