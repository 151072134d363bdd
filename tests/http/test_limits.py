"""The request kit's limits: a body past its route's limit is refused while it is read."""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_calls import Answer, call, call_async, repeated
from conftest import run_in_new_loop
from fangkong.http.limits import BodyLimit, InFlightLimit, RouteLimit

MIB = 1 << 20


class Reader:
    """An app that reads the whole body, then answers how much it read."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = str(size).encode("ascii")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode("ascii"))],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _limited(inner: Reader) -> BodyLimit:
    return BodyLimit(
        inner,
        default_bytes=1000,
        routes=[RouteLimit("POST", "/api/v1/cases/{case_id}/attachments", 5000)],
    )


def test_a_declared_length_past_the_limit_is_refused_before_a_byte_is_read() -> None:
    inner = Reader()
    answer = call(
        _limited(inner),
        "POST",
        "/api/v1/incidents",
        content_length=50 * MIB,
        chunks=repeated(b"x" * 65536, 50 * MIB),
    )
    assert answer.status == 413 and inner.calls == 0 and answer.chunks_read == 0
    assert answer.headers["connection"] == "close"
    error = answer.json()
    assert error["error"] == "payload_too_large" and error["field"] == "body"
    assert error["code"] == "body_too_large" and error["params"] == {"max_bytes": 1000}


def test_a_body_without_length_is_refused_while_it_is_read() -> None:
    inner = Reader()
    answer = call(
        _limited(inner), "POST", "/api/v1/incidents", chunks=repeated(b"x" * 65536, 100 * MIB)
    )
    assert answer.status == 413 and answer.json()["error"] == "payload_too_large"
    # Read up to the chunk that went past the limit, not one more; the app's own answer to a
    # body cut short is never sent.
    assert answer.chunks_read == 1 and answer.extra_messages == 0
    small = call(
        _limited(inner), "POST", "/api/v1/incidents", chunks=repeated(b"x" * 100, 100 * MIB)
    )
    assert small.status == 413 and small.bytes_read <= 1000 + 100


def test_a_route_may_take_a_larger_body() -> None:
    inner = Reader()
    limited = _limited(inner)
    path = "/api/v1/cases/17/attachments"
    for length, status in ((3000, 200), (5000, 200), (5001, 413)):
        declared = call(
            limited, "POST", path, content_length=length, chunks=repeated(b"y" * 512, length)
        )
        streamed = call(limited, "POST", path, chunks=repeated(b"y" * 512, length))
        assert declared.status == streamed.status == status, length
        if status == 200:
            assert declared.body == streamed.body == str(length).encode("ascii")
    # Only that method and path: the default elsewhere.
    for method, other in (("PUT", path), ("POST", "/api/v1/cases/17/attachments/x")):
        assert call(limited, method, other, content_length=3000).status == 413


def test_bodies_within_the_limit_pass_untouched() -> None:
    inner = Reader()
    for length in (0, 1, 999, 1000):
        declared = call(
            _limited(inner),
            "POST",
            "/api/v1/incidents",
            content_length=length,
            chunks=repeated(b"z" * 300, length),
        )
        assert declared.status == 200 and declared.body == str(length).encode("ascii")
    assert call(_limited(inner), "GET", "/api/v1/incidents").status == 200


class Held:
    """An app that answers only once released: requests stay in flight."""

    def __init__(self) -> None:
        self.entered = 0
        self.release: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.release is not None
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


def test_requests_past_the_in_flight_limit_are_refused_at_once() -> None:
    held = Held()
    limited = InFlightLimit(held, max_in_flight=3, retry_after_s=2, exempt=("/static/",))

    async def run() -> tuple[list[Answer], list[Answer], Answer]:
        held.release = asyncio.Event()
        first = [asyncio.create_task(call_async(limited, "GET", f"/api/v1/x{i}")) for i in range(3)]
        while held.entered < 3:
            await asyncio.sleep(0)
        # Past the limit: refused without waiting, the body unread; exempt paths still pass.
        refused = [
            await asyncio.wait_for(
                call_async(limited, "POST", "/api/v1/incidents", content_length=10, body=b"x" * 10),
                timeout=1,
            )
            for _ in range(2)
        ]
        exempt = asyncio.create_task(call_async(limited, "GET", "/static/app.css"))
        while held.entered < 4:
            await asyncio.sleep(0)
        held.release.set()
        answered = [await task for task in first]
        after = await call_async(limited, "GET", "/api/v1/x")
        await exempt
        return answered, refused, after

    answered, refused, after = run_in_new_loop(run)
    assert [a.status for a in answered] == [200] * 3
    for answer in refused:
        assert answer.status == 503 and answer.chunks_read == 0
        assert answer.headers["retry-after"] == "2"
        error = answer.json()
        assert error["error"] == "overloaded" and error["params"] == {"retry_after_s": 2}
    # The slots are given back once answered.
    assert after.status == 200
