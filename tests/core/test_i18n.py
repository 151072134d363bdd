"""The zh-CN and en catalogues: same keys, every key the code uses, language negotiation."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

import fangkong
from fangkong.areas.models import AreaLevel
from fangkong.core.config import LANGUAGES
from fangkong.core.i18n import catalogue, negotiate, translate
from fangkong.core.models import Role
from fangkong.dispatch.models import IncidentStatus, Source
from fangkong.dispatch.recommend import RINGS_S
from fangkong.dispatch.taxonomy import TAXONOMY
from fangkong.planning.models import RunStatus
from fangkong.web.app import NAVIGATION

SRC = Path(fangkong.__file__).resolve().parent
TEMPLATES = SRC / "web" / "templates"

# t('key'), t("key"), t('key', n=1) and t('prefix.' ~ expr) in Jinja templates.
_TEMPLATE_CALL = re.compile(r"""\bt\(\s*(['"])([^'"]+)\1\s*(~|,|\))([^)]*)""")
# translate("key", ...) with a literal key in Python.
_PYTHON_CALL = re.compile(r"""\btranslate\(\s*(['"])([^'"]+)\1""")
_FUSION_KIND = re.compile(r"""FusionViolation\(\s*["'](\w+)["']""")


def _dynamic_values() -> dict[str, set[str]]:
    """What each dynamic key prefix may be followed by."""
    service = (SRC / "areas" / "service.py").read_text("utf-8")
    return {
        "level.": {level.value for level in AreaLevel},
        "role.": {role.value for role in Role},
        "fusion.kind.": set(_FUSION_KIND.findall(service)),
        "dispatch.source.": {source.value for source in Source},
        "dispatch.state.": {status.value for status in IncidentStatus},
        "dispatch.breach.": {name for _, name in RINGS_S},
        "dispatch.category.": set(TAXONOMY),
        "planning.status.": {status.value for status in RunStatus},
    }


def _template_calls() -> list[tuple[str, str, bool, set[str]]]:
    """(file, key or prefix, is_prefix, keyword names) for each t(...) call in the templates."""
    calls = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for match in _TEMPLATE_CALL.finditer(path.read_text("utf-8")):
            _quote, key, after, rest = match.groups()
            names = set(re.findall(r"(\w+)\s*=(?!=)", rest)) if after == "," else set()
            calls.append((path.name, key, after == "~", names))
    return calls


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogues_have_the_same_keys() -> None:
    zh, en = catalogue("zh-CN"), catalogue("en")
    assert sorted(set(zh) - set(en)) == []
    assert sorted(set(en) - set(zh)) == []
    assert set(LANGUAGES) == {"zh-CN", "en"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_blank_strings(language: str) -> None:
    assert [k for k, v in catalogue(language).items() if not v.strip()] == []


def test_placeholders_agree_across_languages() -> None:
    zh, en = catalogue("zh-CN"), catalogue("en")
    mismatched = {
        k: (_placeholders(zh[k]), _placeholders(en[k]))
        for k in zh.keys() & en.keys()
        if _placeholders(zh[k]) != _placeholders(en[k])
    }
    assert mismatched == {}


def test_the_template_scan_finds_calls() -> None:
    calls = _template_calls()
    assert len(calls) > 30  # the regex still matches the templates' style
    assert any(is_prefix for _, _, is_prefix, _ in calls)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_key_exists(language: str) -> None:
    keys = catalogue(language)
    dynamic = _dynamic_values()
    missing: list[str] = []
    for name, key, is_prefix, _ in _template_calls():
        if not is_prefix:
            if key not in keys:
                missing.append(f"{name}: {key}")
            continue
        if key not in dynamic:
            # A prefix whose values the table above does not list: the catalogue must hold some
            # (the two catalogues holding the same keys is checked on its own).
            assert any(k.startswith(key) for k in keys), f"{name}: no key starts with {key!r}"
            continue
        missing.extend(
            f"{name}: {key}{value}" for value in sorted(dynamic[key]) if f"{key}{value}" not in keys
        )
    assert missing == []


def test_template_arguments_fill_the_placeholders() -> None:
    en = catalogue("en")
    wrong = [
        f"{name}: {key} gets {sorted(names)}, wants {sorted(_placeholders(en[key]))}"
        for name, key, is_prefix, names in _template_calls()
        if not is_prefix and key in en and names != _placeholders(en[key])
    ]
    assert wrong == []


def test_dynamic_prefixes_cover_their_values() -> None:
    dynamic = _dynamic_values()
    assert dynamic["fusion.kind."]  # the scan of the service still finds the kinds
    for language in LANGUAGES:
        keys = catalogue(language)
        missing = [
            f"{prefix}{v}"
            for prefix, values in dynamic.items()
            for v in sorted(values)
            if f"{prefix}{v}" not in keys
        ]
        assert missing == [], language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_python_key_exists(language: str) -> None:
    keys = catalogue(language)
    used = {
        (path.relative_to(SRC).as_posix(), key)
        for path in SRC.rglob("*.py")
        for _, key in _PYTHON_CALL.findall(path.read_text("utf-8"))
    }
    used |= {("web/templating.py", key) for _, key, _ in NAVIGATION}
    assert sorted(f"{where}: {key}" for where, key in used if key not in keys) == []


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("en", "en"),
        ("EN", "en"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
        ("fr-FR, de-DE", "zh-CN"),
        ("*", "zh-CN"),
    ],
)
def test_negotiate(requested: str | None, expected: str) -> None:
    assert negotiate(requested, "zh-CN") == expected


def test_negotiate_falls_back_to_the_given_default() -> None:
    assert negotiate("fr", "en") == "en"
    assert negotiate(None, "en") == "en"


def test_translate() -> None:
    assert translate("nav.map", "en") == catalogue("en")["nav.map"]
    assert translate("nav.map", "zh-CN") == catalogue("zh-CN")["nav.map"]
    assert translate("addresses.total", "en", total=3) == "3 in all"
    # A missing key shows itself rather than a blank.
    assert translate("no.such.key", "en") == "no.such.key"


def test_negotiate_honours_quality_values() -> None:
    from fangkong.core.i18n import negotiate

    assert negotiate("en;q=0.1, zh-CN;q=0.9", "en") == "zh-CN"
    assert negotiate("fr, en;q=0.5", "zh-CN") == "en"
    assert negotiate("fr;q=1, de;q=0.5", "zh-CN") == "zh-CN"
    assert negotiate("en;q=0", "zh-CN") == "zh-CN"
