"""Deadline clocks: wall-clock hours, or business hours (Mon–Fri 09:00–17:30 local, holidays off).

A business calendar is configured per installation in ``<data_dir>/cases.toml``::

    [calendar]
    start = "09:00"
    end = "17:30"
    holidays = ["2026-10-01", "2026-10-02"]   # weekdays that are days off
    workdays = ["2026-10-10"]                  # weekend days worked instead (调休)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fangkong.core.errors import InvalidInput

DEFAULT_ZONE = "Asia/Shanghai"
CONFIG_FILE = "cases.toml"
_MAX_DAYS = 3660  # ten years of days: a deadline never runs further


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours of one installation, in its time zone.

    Parameters
    ----------
    zone : str
        IANA time zone in which the working day is defined.
    start, end : datetime.time
        Local start and end of the working day.
    weekdays : frozenset of int
        Working weekdays, Monday = 0.
    holidays : frozenset of datetime.date
        Days off although they fall on a working weekday.
    workdays : frozenset of datetime.date
        Days worked although they fall on a weekend (make-up days).
    """

    zone: str = DEFAULT_ZONE
    start: time = time(9, 0)
    end: time = time(17, 30)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        ZoneInfo(self.zone)
        if not self.start < self.end:
            raise ValueError("calendar: the working day must start before it ends")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def hours_per_day(self) -> float:
        return (
            datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)
        ).total_seconds() / 3600

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        tz = self.tz
        return (
            datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC),
            datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC),
        )

    def add(self, moment: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``moment`` (before it when negative).

        Parameters
        ----------
        moment : datetime.datetime
            Aware start time.
        hours : float
            Working hours to add; negative counts backwards.

        Returns
        -------
        datetime.datetime
            Aware UTC time. Adding zero returns ``moment`` unchanged. Counting forward from
            outside working hours starts at the next opening; counting backwards, at the last
            closing. Runs in O(days spanned).
        """
        if moment.tzinfo is None:
            raise ValueError("naive datetime given to the business calendar")
        moment = moment.astimezone(UTC)
        if hours == 0:
            return moment
        remaining = timedelta(hours=abs(hours))
        day = moment.astimezone(self.tz).date()
        step = timedelta(days=1 if hours > 0 else -1)
        for _ in range(_MAX_DAYS):
            if self.is_workday(day):
                opens, closes = self._window(day)
                if hours > 0 and moment < closes:
                    begin = max(moment, opens)
                    if begin + remaining <= closes:
                        return begin + remaining
                    remaining -= closes - begin
                elif hours < 0 and moment > opens:
                    finish = min(moment, closes)
                    if finish - remaining >= opens:
                        return finish - remaining
                    remaining -= finish - opens
            day += step
        raise ValueError(f"calendar: no working time within {_MAX_DAYS} days of {moment}")

    def working_hours_between(self, begin: datetime, finish: datetime) -> float:
        """Working hours from ``begin`` to ``finish`` (negative when ``finish`` is earlier)."""
        if finish < begin:
            return -self.working_hours_between(finish, begin)
        total = timedelta()
        day = begin.astimezone(self.tz).date()
        last = finish.astimezone(self.tz).date()
        while day <= last:
            if self.is_workday(day):
                opens, closes = self._window(day)
                lo, hi = max(opens, begin), min(closes, finish)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600


def shift(moment: datetime, hours: float, *, clock: str, calendar: BusinessCalendar) -> datetime:
    """``moment`` moved by ``hours`` on ``clock``: ``"business"`` hours or ``"calendar"`` hours."""
    if clock == "business":
        return calendar.add(moment, hours)
    return moment.astimezone(UTC) + timedelta(hours=hours)


def _parse_time(value: Any, name: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(
            key="error.cases.calendar_time",
            params={"file": CONFIG_FILE, "name": name, "value": value},
            field=f"calendar.{name}",
        ) from None


def _parse_days(values: Any, name: str) -> frozenset[date]:
    if not isinstance(values, list):
        raise InvalidInput(
            key="error.cases.calendar_days",
            params={"file": CONFIG_FILE, "name": name},
            field=f"calendar.{name}",
        )
    days: set[date] = set()
    for value in values:
        try:
            days.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise InvalidInput(
                key="error.cases.calendar_day",
                params={"file": CONFIG_FILE, "name": name, "value": value},
                field=f"calendar.{name}",
            ) from None
    return frozenset(days)


def calendar_from_mapping(data: dict[str, Any], *, zone: str = DEFAULT_ZONE) -> BusinessCalendar:
    """A calendar from the ``[calendar]`` table of ``cases.toml`` (all keys optional)."""
    unknown = set(data) - {"start", "end", "holidays", "workdays", "weekdays"}
    if unknown:
        raise InvalidInput(
            key="error.cases.calendar_keys",
            params={"file": CONFIG_FILE, "keys": str(sorted(unknown))},
            field="calendar",
        )
    weekdays = data.get("weekdays", [0, 1, 2, 3, 4])
    if not isinstance(weekdays, list) or not all(
        isinstance(d, int) and 0 <= d <= 6 for d in weekdays
    ):
        raise InvalidInput(
            key="error.cases.calendar_weekdays",
            params={"file": CONFIG_FILE},
            field="calendar.weekdays",
        )
    try:
        return BusinessCalendar(
            zone=zone,
            start=_parse_time(data.get("start", "09:00"), "start"),
            end=_parse_time(data.get("end", "17:30"), "end"),
            weekdays=frozenset(weekdays),
            holidays=_parse_days(data.get("holidays", []), "holidays"),
            workdays=_parse_days(data.get("workdays", []), "workdays"),
        )
    except ValueError as exc:
        raise InvalidInput(
            key="error.cases.calendar_fault",
            params={"file": CONFIG_FILE, "reason": str(exc)},
            field="calendar",
        ) from None


def load_calendar(data_dir: Path, *, zone: str = DEFAULT_ZONE) -> BusinessCalendar:
    """The installation's calendar: ``<data_dir>/cases.toml`` if present, else the default."""
    path = data_dir / CONFIG_FILE
    if not path.exists():
        return BusinessCalendar(zone=zone)
    try:
        config = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            key="error.cases.calendar_fault",
            params={"file": str(path), "reason": str(exc)},
            field="calendar",
        ) from None
    section = config.get("calendar", {})
    if not isinstance(section, dict):
        raise InvalidInput(
            key="error.cases.calendar_table", params={"file": str(path)}, field="calendar"
        )
    return calendar_from_mapping(section, zone=zone)
