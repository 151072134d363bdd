"""Periods of the indicators: a month (``YYYY-MM``) or a year (``YYYY``) in the county's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from fangkong.core.errors import InvalidInput

FIRST_YEAR, LAST_YEAR = 2000, 2100
_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


@dataclass(frozen=True, order=True)
class Period:
    """A month (``month`` 1-12) or a whole year (``month`` None)."""

    year: int
    month: int | None = None

    @property
    def key(self) -> str:
        return f"{self.year:04d}" if self.month is None else f"{self.year:04d}-{self.month:02d}"

    def __str__(self) -> str:
        return self.key

    def start(self, zone: tzinfo) -> datetime:
        return datetime(self.year, self.month or 1, 1, tzinfo=zone).astimezone(UTC)

    def end(self, zone: tzinfo) -> datetime:
        if self.month is None or self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=zone).astimezone(UTC)

    def previous(self) -> Period:
        if self.month is None:
            return Period(self.year - 1)
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def months(self) -> list[Period]:
        """The months of a year (a month: itself)."""
        if self.month is not None:
            return [self]
        return [Period(self.year, m) for m in range(1, 13)]


def parse(value: str, *, field: str = "period") -> Period:
    """``YYYY-MM`` or ``YYYY`` within 2000-2100; anything else is invalid input naming the
    field."""
    found = _PERIOD.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise InvalidInput(key="error.indicators.period", params={"value": value[:16]}, field=field)
    year, month = int(found.group(1)), found.group(2)
    if not FIRST_YEAR <= year <= LAST_YEAR or (month is not None and not 1 <= int(month) <= 12):
        raise InvalidInput(key="error.indicators.period", params={"value": value[:16]}, field=field)
    return Period(year, int(month) if month is not None else None)


def month_of(moment: datetime, zone: tzinfo) -> Period:
    local = moment.astimezone(zone)
    return Period(local.year, local.month)


def last_months(end: Period, count: int) -> list[Period]:
    """``count`` months up to ``end`` (a month), oldest first."""
    out = [end]
    while len(out) < count:
        out.append(out[-1].previous())
    return out[::-1]
