"""Dates and times as people read them: in their language's format and the county's zone.

Times are stored in UTC; every page shows them through :func:`format_moment` (the templates'
``when``), in the reader's language (``date.format.*`` of the catalogues) and the configured
zone (``settings.zone``, Asia/Shanghai by default), never the server's or the browser's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Literal

from fangkong.core.i18n import translate

#: ``datetime``: to the minute; ``seconds``: to the second; ``short``: the month, day and
#: time to the second (dense tables); ``date``: the day; ``time``: the time to the second;
#: ``hm``: the time to the minute.
Style = Literal["datetime", "seconds", "short", "date", "time", "hm"]


def format_moment(
    moment: datetime | date | str | None,
    *,
    language: str,
    zone: tzinfo,
    style: Style = "datetime",
) -> str:
    """``moment`` in ``language``'s format of ``style``, in ``zone``; "" for None.

    A naive datetime is taken as UTC (how the database returns it); a ``date`` is a day and
    is not moved between zones; ISO text is read first.
    """
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment) if len(moment) > 10 else date.fromisoformat(moment)
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        local = aware.astimezone(zone)
        clock = {"hour": local.hour, "minute": local.minute, "second": local.second}
        day: date = local.date()
    else:
        clock, day, style = {}, moment, "date"
    month_name = translate("date.months", language).split()[day.month - 1]
    return translate(
        f"date.format.{style}",
        language,
        year=day.year,
        month=day.month,
        day=day.day,
        month_name=month_name,
        **clock,
    )
