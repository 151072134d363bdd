"""User-facing strings in zh-CN (the default) and en, from JSON catalogues beside this module."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fangkong.core.config import LANGUAGES

_PACKAGE = Path(__file__).resolve().parent.parent


@cache
def catalogue(language: str) -> dict[str, str]:
    """The merged catalogue: ``core/locales`` first, then each domain's ``<domain>/locales``."""
    data: dict[str, str] = json.loads(
        (_PACKAGE / "core" / "locales" / f"{language}.json").read_text("utf-8")
    )
    for path in sorted(_PACKAGE.glob(f"*/locales/{language}.json")):
        if path.parent.parent.name != "core":
            data.update(json.loads(path.read_text("utf-8")))
    return data


def negotiate(requested: str | None, default: str) -> str:
    """Pick a supported language from a cookie value or an Accept-Language header (q-values)."""
    if not requested:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(requested.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for negative_quality, _, tag in sorted(ranked):
        if negative_quality >= 0:
            break
        for language in LANGUAGES:
            if tag == language.lower() or tag.split("-")[0] == language[:2]:
                return language
    return default


def translate(key: str, language: str, /, **values: object) -> str:
    """The string for ``key``; a missing key shows itself so that it is noticed, never blank.

    ``key`` and ``language`` are positional only: a value may be named ``key`` too."""
    text = catalogue(language).get(key) or catalogue("zh-CN").get(key) or key
    return text.format(**values) if values else text
