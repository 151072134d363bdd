"""Limits on what a request may make the server do, enforced before the framework's layers.

:class:`InFlightLimit` bounds the requests a process works on at once: one more is answered
503 (``overloaded``, with ``Retry-After``) at once, before any of its work, so that under
overload the requests taken are answered in their usual time and the others are told to come
back, rather than all of them waiting in a queue that grows for as long as the overload lasts
(and being written after their clients gave up).

:class:`BodyLimit` refuses a request body past its route's limit (413) while it is read: a
declared ``Content-Length`` past it is refused before a byte is read, a body sent without
one (chunked) as soon as the bytes received pass it. The default limit is the settings'
``max_body_bytes``; the routes that take files declare larger ones (:class:`RouteLimit`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fangkong.core.errors import Overloaded, PayloadTooLarge
from fangkong.http.errors import domain_error

#: What a multipart form adds to the file it carries (boundaries, part headers, the CSRF
#: field): a route's limit is its file's limit plus this.
FORM_OVERHEAD_BYTES = 64 << 10

_PARAMETER = re.compile(r"\{[^}/]+\}")


@dataclass(frozen=True)
class RouteLimit:
    """A larger body limit for one method and path; ``{name}`` in the path stands for one
    path segment (as in a route's path)."""

    method: str
    path: str
    max_bytes: int
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PARAMETER.split(self.path)
        pattern = "[^/]+".join(re.escape(part) for part in parts)
        object.__setattr__(self, "_pattern", re.compile(pattern + r"\Z"))

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self._pattern.match(path) is not None


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        key="error.body_too_large", params={"max_bytes": max_bytes}, field="body"
    )


async def _refuse(scope: Scope, send: Send, max_bytes: int) -> None:
    response = domain_error(too_large(max_bytes))
    # The rest of the body is not wanted: the server closes the connection after the answer
    # instead of reading it.
    response.headers["connection"] = "close"
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class BodyLimit:
    """ASGI middleware: a body past its route's limit is answered 413 (the API's error
    shape, ``payload_too_large``) and the connection closed, without reading past the limit.

    A body whose length is declared and within the limit passes untouched (the server reads
    no more than declared). One sent without a length is counted as it is received: past the
    limit, the answer is sent at once, the app is told the client left, and whatever it sends
    after is dropped.
    """

    def __init__(
        self, app: ASGIApp, *, default_bytes: int, routes: Sequence[RouteLimit] = ()
    ) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.routes = tuple(routes)

    def limit_for(self, method: str, path: str) -> int:
        """The most bytes a body of ``method`` at ``path`` may have."""
        for route in self.routes:
            if route.matches(method, path):
                return max(route.max_bytes, self.default_bytes)
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is None and not chunked:  # no body
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        if declared is not None and not chunked:
            try:
                length = int(declared)
            except ValueError:
                length = -1  # the server refuses a malformed length before we are called
            if length > limit:
                await _refuse(scope, send, limit)
                return
            await self.app(scope, receive, send)
            return
        await _Counted(self.app, limit, send)(scope, receive)


class _Counted:
    """One request whose body is counted as it is received."""

    def __init__(self, app: ASGIApp, limit: int, send: Send) -> None:
        self.app = app
        self.limit = limit
        self.received = 0
        self.refused = False
        self.started = False
        self._send = send

    async def __call__(self, scope: Scope, receive: Receive) -> None:
        async def counted() -> Message:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.refused = True
                    if not self.started:
                        self.started = True
                        await _refuse(scope, self._send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, self.send)

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # answered already
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def overloaded(retry_after_s: int) -> Overloaded:
    """The error of a request refused for load."""
    return Overloaded(
        key="error.overloaded", params={"retry_after_s": retry_after_s}, retry_after_s=retry_after_s
    )


class InFlightLimit:
    """ASGI middleware: at most ``max_in_flight`` HTTP requests of this process in the app at
    once; one more is answered 503 at once (its body unread, the connection kept). Requests
    whose path starts with one of ``exempt`` (the live streams, which stay open, and static
    files) pass uncounted.

    The count lives on the event loop (one per process): no lock is needed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        retry_after_s: int,
        exempt: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.exempt = tuple(exempt)
        # Made once: under overload, refusing is most of what the server does.
        self._refusal = domain_error(overloaded(retry_after_s))
        #: Requests in the app now.
        self.in_flight = 0
        #: Requests refused so far.
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.refused += 1
            await self._refusal(scope, _no_body, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
