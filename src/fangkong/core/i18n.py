"""User-facing strings in zh-CN (the default) and en, from JSON catalogues beside this module."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fangkong.core.config import LANGUAGES

_LOCALES = Path(__file__).resolve().parent / "locales"


@cache
def catalogue(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((_LOCALES / f"{language}.json").read_text("utf-8"))
    return data


def negotiate(requested: str | None, default: str) -> str:
    """Pick a supported language from a cookie value or an Accept-Language header."""
    if requested:
        for part in requested.split(","):
            tag = part.split(";")[0].strip()
            for language in LANGUAGES:
                if tag.lower() == language.lower() or tag.lower().split("-")[0] == language[:2]:
                    return language
    return default


def translate(key: str, language: str, **values: object) -> str:
    """The string for ``key``; a missing key shows itself so that it is noticed, never blank."""
    text = catalogue(language).get(key) or catalogue("zh-CN").get(key) or key
    return text.format(**values) if values else text
