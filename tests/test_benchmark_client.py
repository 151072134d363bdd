"""The benchmarks' load generator (benchmarks/_server.py): what it reports is what a client
saw. A stand-in server answers each request ``SERVICE_S`` after it came.

The load loops run on an event loop whose clock moves only when the loop has nothing left to
do but wait for its next timer, and then jumps to it; the stand-in answers through that
loop's timers. What the client reports is then exact, however slowly a loaded machine runs
the test. One test drives a real server on loopback and asserts only what no delay changes.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import run_in_new_loop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _server

SERVICE_S = 0.05
ANSWER = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that never blocks: where the loop would wait, its clock jumps instead."""

    def __init__(self, loop: _VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("the loop would wait forever: nothing is scheduled")
        self._loop.now += timeout
        return []


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual: it moves only from one timer to the next."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def _run_in_virtual_time(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``main()`` on a :class:`_VirtualTimeLoop` in a thread of its own (see run_in_new_loop)."""

    def run() -> T:
        with asyncio.Runner(loop_factory=_VirtualTimeLoop) as runner:
            return runner.run(main())

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result(timeout=120)


class _StandIn(asyncio.Transport):
    """The client's end of a connection to the stand-in server: each request written is
    answered ``SERVICE_S`` later, in two pieces (the client must join them)."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self._closed and bytes(data).startswith(b"POST /x HTTP/1.1\r\n")
        self._loop.call_later(SERVICE_S, self._answer)

    def _answer(self) -> None:
        if not self._closed:
            self._protocol.data_received(ANSWER[:20])
            self._protocol.data_received(ANSWER[20:])

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.call_soon(self._protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self._closed


async def _connect_to_stand_in(
    _port: int, on_answer: Callable[[_server._Connection, int | None], None]
) -> _server._Connection:
    connection = _server._Connection(on_answer)
    connection.connection_made(_StandIn(connection))
    return connection


def _load(run: str, **options: float) -> _server.Load:
    async def main() -> _server.Load:
        clock = asyncio.get_running_loop().time
        payloads = [_server._request("/x", "token", f"key-{i}", b"{}") for i in range(40)]
        load = _server.Load()
        if run == "open":
            await _server._open_loop(
                0,
                payloads,
                options["rate"],
                options["duration_s"],
                load,
                max_connections=int(options["connections"]),
                clock=clock,
            )
        else:
            await _server._closed_loop(
                0, payloads, int(options["connections"]), options["duration_s"], load, clock=clock
            )
        return load

    return _run_in_virtual_time(main)


@pytest.fixture()
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load generator connects to the stand-in instead of a socket."""
    monkeypatch.setattr(_server, "_connect", _connect_to_stand_in)


@pytest.mark.usefixtures("stand_in")
def test_open_loop_counts_a_late_request_from_when_it_was_due() -> None:
    # 20 requests due every 25 ms, one connection answering in 50 ms: request k is sent when
    # the one before it is answered, at 50k ms, and its latency counts from 25k ms, when it
    # was due: 50 ms of service and 25k ms of waiting for the connection.
    load = _load("open", rate=40, duration_s=0.5, connections=1)
    assert load.statuses == {201: 20} and load.unsent == load.errors == 0
    assert load.latencies == pytest.approx([SERVICE_S + 0.025 * k for k in range(20)], abs=1e-9)
    assert load.seconds == pytest.approx(20 * SERVICE_S, abs=1e-9)
    assert load.target_rate == 40
    # At the rate the connection keeps up with, no request waits: every latency is service.
    kept_up = _load("open", rate=10, duration_s=0.5, connections=1)
    assert kept_up.statuses == {201: 5} and kept_up.unsent == kept_up.errors == 0
    assert kept_up.latencies == pytest.approx([SERVICE_S] * 5, abs=1e-9)


@pytest.mark.usefixtures("stand_in")
def test_open_loop_gives_up_what_it_could_not_send_in_time() -> None:
    # 40 requests due in 0.4 s (one every 10 ms) on one connection answering in 50 ms, in a
    # phase of 0.42 s: the requests still waiting a second after it (at 1.42 s) are given up.
    # Sent at 0, 50, ... 1400 ms: 29 answered (the one sent at 1.4 s too), 11 unsent.
    load = _load("open", rate=100, duration_s=0.42, connections=1)
    assert load.errors == 0
    assert load.statuses == {201: 29} and load.unsent == 11
    assert load.latencies == pytest.approx([SERVICE_S + 0.04 * k for k in range(29)], abs=1e-9)


@pytest.mark.usefixtures("stand_in")
def test_closed_loop_sends_each_next_request_on_an_answer() -> None:
    # Two connections, each request answered in 50 ms, for 0.32 s: each connection sends at
    # 0, 50, ... 300 ms (7 requests) and closes on the answer at 350 ms.
    load = _load("closed", duration_s=0.32, connections=2)
    assert load.statuses == {201: 14} and load.errors == 0
    assert load.latencies == pytest.approx([SERVICE_S] * 14, abs=1e-9)
    assert load.seconds == pytest.approx(7 * SERVICE_S, abs=1e-9)


async def _answer_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One keep-alive connection on loopback: each request answered ``SERVICE_S`` after it
    came."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            await asyncio.sleep(SERVICE_S)
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed it
    finally:
        writer.close()


def test_answers_of_a_real_server_are_read_whole() -> None:
    # The real socket path: only what no delay of a loaded machine changes is asserted.

    async def main() -> _server.Load:
        server = await asyncio.start_server(_answer_slowly, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        requests = [b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"] * 3
        load = _server.Load()
        await _server._gets(port, requests, load)
        server.close()
        await server.wait_closed()
        return load

    load = run_in_new_loop(main)
    assert load.statuses == {201: 3} and load.errors == 0
    assert len(load.latencies) == 3 and min(load.latencies) >= SERVICE_S * 0.9
