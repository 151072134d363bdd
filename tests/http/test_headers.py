"""The security headers every answer carries: what a browser may load and run, framing,
sniffing and the referrer."""

from __future__ import annotations

from typing import Any

from asgi_calls import call
from fangkong.http.headers import CONTENT_SECURITY_POLICY, SecurityHeaders


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"text/html")]
    if scope["path"] == "/framed":
        headers.append((b"x-frame-options", b"SAMEORIGIN"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"<p>hi</p>"})


def test_every_answer_carries_the_security_headers() -> None:
    answer = call(SecurityHeaders(_answer), "GET", "/")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.body == b"<p>hi</p>"
    # An answer that set one of them keeps its own.
    assert call(SecurityHeaders(_answer), "GET", "/framed").headers["x-frame-options"] == (
        "SAMEORIGIN"
    )


def test_the_policy_allows_the_consoles_own_origin_only() -> None:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in CONTENT_SECURITY_POLICY.split("; ")
    )
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval
    assert directives["style-src"] == ["'self'"]  # no inline style either
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"] and directives["form-action"] == ["'self'"]
    # The map's worker and tiles are made in the page (blob:, data:), never fetched elsewhere.
    assert directives["worker-src"] == ["'self'", "blob:"]
    assert set(directives["img-src"]) == {"'self'", "data:", "blob:"}
    assert not any("unsafe" in value or "*" in value for value in CONTENT_SECURITY_POLICY.split())
