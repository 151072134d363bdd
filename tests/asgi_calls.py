"""Drive an ASGI app with one request whose body comes in chunks, counting what it read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from conftest import run_in_new_loop


@dataclass
class Answer:
    """What the app sent back, and how much of the body it read."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0
    bytes_read: int = 0
    #: Messages the app sent after its answer was complete (a well-behaved app sends none).
    extra_messages: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Any,
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    chunks: Iterable[bytes] = (),
    content_length: int | None = None,
    query: str = "",
) -> Answer:
    """One request to ``app`` on an event loop of its own (see :func:`call_async`)."""

    async def main() -> Answer:
        return await call_async(
            app,
            method,
            path,
            headers=headers,
            chunks=chunks,
            content_length=content_length,
            query=query,
        )

    return run_in_new_loop(main)


async def call_async(
    app: Any,
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    chunks: Iterable[bytes] = (),
    content_length: int | None = None,
    query: str = "",
    body: bytes | None = None,
) -> Answer:
    """One request to ``app``: ``chunks`` (or ``body``) handed out one per ``receive`` (as a
    server does), ``content_length`` sent as the header when given (else the body is
    chunked)."""
    if body is not None:
        chunks = [body]
    answer = Answer()
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    if content_length is not None:
        raw_headers.append((b"content-length", str(content_length).encode("ascii")))
    elif method not in ("GET", "HEAD"):
        raw_headers.append((b"transfer-encoding", b"chunked"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "root_path": "",
        "headers": [(b"host", b"test"), *raw_headers],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    source: Iterator[bytes] = iter(chunks)
    pending: list[bytes] = []
    finished = False
    complete = False

    async def receive() -> dict[str, Any]:
        nonlocal finished
        if finished:
            return {"type": "http.disconnect"}
        chunk = pending.pop() if pending else next(source, None)
        if chunk is None:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        following = next(source, None)
        if following is None:
            finished = True
        else:
            pending.append(following)
        answer.chunks_read += 1
        answer.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": following is not None}

    async def send(message: dict[str, Any]) -> None:
        nonlocal complete
        if complete:
            answer.extra_messages += 1
            return
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])
            }
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            complete = not message.get("more_body", False)

    await app(scope, receive, send)
    return answer


def repeated(chunk: bytes, total_bytes: int) -> Iterator[bytes]:
    """``chunk`` again and again, ``total_bytes`` in all (made lazily: nothing is held)."""
    sent = 0
    while sent < total_bytes:
        part = chunk[: total_bytes - sent]
        sent += len(part)
        yield part
