"""Dates and times in the reader's language and the configured zone (issue 18): one formatter
for every page (the templates' ``when``), and no script that formats by the browser's locale."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import fangkong
from fangkong.http.dates import format_moment

SHANGHAI = ZoneInfo("Asia/Shanghai")
SRC = Path(fangkong.__file__).resolve().parent
# 23:30 UTC on 31 December: already 1 January 07:30 in Shanghai.
MOMENT = datetime(2026, 12, 31, 23, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "style", "expected"),
    [
        ("zh-CN", "datetime", "2027年1月1日 07:30"),
        ("en", "datetime", "1 Jan 2027, 07:30"),
        ("zh-CN", "seconds", "2027年1月1日 07:30:05"),
        ("en", "seconds", "1 Jan 2027, 07:30:05"),
        ("zh-CN", "short", "1月1日 07:30:05"),
        ("en", "short", "1 Jan 07:30:05"),
        ("zh-CN", "date", "2027年1月1日"),
        ("en", "date", "1 Jan 2027"),
        ("zh-CN", "time", "07:30:05"),
        ("en", "hm", "07:30"),
    ],
)
def test_styles_in_both_languages(language: str, style: str, expected: str) -> None:
    assert format_moment(MOMENT, language=language, zone=SHANGHAI, style=style) == expected  # type: ignore[arg-type]


def test_the_configured_zone_not_the_servers() -> None:
    london = ZoneInfo("Europe/London")
    assert format_moment(MOMENT, language="en", zone=london) == "31 Dec 2026, 23:30"
    # Naive values are UTC (as the database returns them); ISO text is read.
    assert format_moment(MOMENT.replace(tzinfo=None), language="en", zone=SHANGHAI) == (
        "1 Jan 2027, 07:30"
    )
    assert format_moment(MOMENT.isoformat(), language="zh-CN", zone=SHANGHAI) == (
        "2027年1月1日 07:30"
    )
    # A day is a day in every zone.
    assert format_moment(date(2026, 3, 9), language="en", zone=london) == "9 Mar 2026"
    assert format_moment("2026-03-09", language="zh-CN", zone=SHANGHAI) == "2026年3月9日"
    assert format_moment(None, language="en", zone=SHANGHAI) == ""


def test_templates_show_dates_through_when() -> None:
    """No template formats a time itself (strftime, astimezone; ISO text only where a machine
    reads it: an input's value, a data attribute, a link): every one goes through the shared
    ``when``, in the reader's language and the configured zone."""
    found = []
    for path in sorted((SRC / "web" / "templates").rglob("*.html")):
        text = path.read_text("utf-8")
        found += [f"{path.name}: {m}" for m in re.findall(r"\.(?:strftime|astimezone)\(", text)]
        for line in text.splitlines():
            shown = re.sub(r'(value|data-[\w-]+|href)="[^"]*"', "", line)
            found += [
                f"{path.name}: {line.strip()[:80]}" for _ in re.findall(r"isoformat\(", shown)
            ]
    assert found == []


def test_scripts_format_dates_by_the_page_not_the_browser() -> None:
    """The console's scripts never format by the browser's locale or zone: toLocale*String and
    Intl.DateTimeFormat name the page's language, and a time zone is the page's."""
    scripts = sorted(p for p in (SRC / "web" / "static").rglob("*.js") if "vendor" not in p.parts)
    assert scripts
    faults = []
    for path in scripts:
        text = path.read_text("utf-8")
        for call in re.findall(r"toLocale\w*String\(([^,)]*)", text):
            if "lang" not in call:
                faults.append(f"{path.name}: toLocaleString({call}")
        faults += [f"{path.name}: {m}" for m in re.findall(r"toLocale(?:Date|Time)String\(", text)]
        for call in re.findall(r"Intl\.DateTimeFormat\(([^)]*)\)", text):
            if "lang" not in call.split(",")[0]:
                faults.append(f"{path.name}: Intl.DateTimeFormat({call})")
        for zone in re.findall(r"timeZone\s*:\s*([\w.]+)", text):
            if zone != "zone":
                faults.append(f"{path.name}: timeZone {zone}")
    assert faults == []
    console = (SRC / "web" / "static" / "console.js").read_text("utf-8")
    assert "root.dataset.zone" in console and "root.lang" in console
