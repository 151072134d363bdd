"""The console's pages under the Content-Security-Policy: every answer carries the security
headers, and no template holds what the policy refuses (inline script, event handlers, inline
style)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import fangkong
from conftest import LiveServer

PACKAGE = Path(fangkong.__file__).resolve().parent
TEMPLATES = sorted(PACKAGE.rglob("templates/**/*.html"))
# A <script> element without src that a browser would run (a JSON data block it does not).
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
_STYLE = re.compile(r"\sstyle\s*=|<style\b", re.IGNORECASE)
_JS_URL = re.compile(r"=\s*[\"']\s*javascript:", re.IGNORECASE)


def test_the_template_scan_finds_templates() -> None:
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_template_holds_what_the_policy_refuses(path: Path) -> None:
    text = path.read_text("utf-8")
    for name, pattern in (
        ("inline script", _INLINE_SCRIPT),
        ("event handler attribute", _HANDLER),
        ("inline style", _STYLE),
        ("javascript: URL", _JS_URL),
    ):
        found = pattern.search(text)
        assert found is None, f"{name}: {text[max(0, found.start() - 40) : found.end() + 40]!r}"


def test_pages_api_answers_and_static_files_carry_the_headers(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url) as client:
        answers = [
            client.get("/login"),
            client.get("/api/v1/openapi.json"),
            client.get("/static/app.css"),
            client.get("/no-such-page"),
            client.get("/docs"),
            # The public's tip form and its API (no login): the same headers (issue 22).
            client.get("/tip"),
            client.get("/api/v1/public/tips/token"),
        ]
    for answer in answers:
        policy = answer.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, answer.url
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
