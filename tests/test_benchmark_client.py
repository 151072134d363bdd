"""The benchmarks' load generator (benchmarks/_server.py): what it reports is what a client
saw. A slow stand-in server on loopback answers each request after a fixed delay."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from conftest import run_in_new_loop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _server

SERVICE_S = 0.05
ANSWER = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def _answer_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One keep-alive connection: each request answered ``SERVICE_S`` after it came."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
            await asyncio.sleep(SERVICE_S)
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed it
    finally:
        writer.close()


def _load(run: str, **options: float) -> _server.Load:
    async def main() -> _server.Load:
        server = await asyncio.start_server(_answer_slowly, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        payloads = [_server._request("/x", "token", f"key-{i}", b"{}") for i in range(40)]
        load = _server.Load()
        if run == "open":
            await _server._open_loop(
                port,
                payloads,
                options["rate"],
                options["duration_s"],
                load,
                max_connections=int(options["connections"]),
            )
        else:
            await _server._closed_loop(
                port, payloads, int(options["connections"]), options["duration_s"], load
            )
        server.close()
        await server.wait_closed()
        return load

    return run_in_new_loop(main)


def test_open_loop_counts_a_late_request_from_when_it_was_due() -> None:
    # 20 requests due in 0.5 s, one connection answering in 50 ms: 1 s of answers. The last
    # waits about half a second in the client for the connection, and that wait is latency.
    load = _load("open", rate=40, duration_s=0.5, connections=1)
    assert load.statuses == {201: 20} and load.unsent == load.errors == 0
    assert min(load.latencies) >= SERVICE_S * 0.9
    assert max(load.latencies) > 0.4
    # Answers waited on by none: at the rate the connection keeps up with, no wait.
    kept_up = _load("open", rate=10, duration_s=0.5, connections=1)
    assert kept_up.statuses == {201: 5} and max(kept_up.latencies) < 0.3


def test_closed_loop_sends_each_next_request_on_an_answer() -> None:
    load = _load("closed", duration_s=0.3, connections=2)
    assert set(load.statuses) == {201} and load.errors == 0
    # Two connections, 50 ms each answer, for 0.3 s: about six answers each.
    assert 8 <= load.ok <= 16 and load.seconds >= 0.3
    assert min(load.latencies) >= SERVICE_S * 0.9
