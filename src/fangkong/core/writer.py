"""Group commit in a process of its own: the batch writer away from the event loop's GIL.

A :class:`~fangkong.core.batching.GroupCommitter` writes on a thread of the server's process.
Every call into the database lets go of the GIL, and getting it back behind a busy event loop
can take up to the interpreter's switch interval (5 ms), several times per batch; the event
loop waits likewise for the writer. A :class:`ProcessCommitter` runs the same batches
(:func:`~fangkong.core.batching.write_batch`) in a child process with one thread, so that the
two share no GIL and run on two cores:

- The event loop queues calls and sends what it queued in one pass of the loop as one message
  down a socket pair, without blocking (asyncio buffers it); answers come back the same way,
  a message per batch, read by the loop.
- The child waits for a message, gathers more as the group committer does (up to ``gather_s``
  for as many calls as its last batch held, under load), writes them in one transaction and
  sends the answers. Nothing is answered before its batch has committed.
- ``parts`` builds, in the child, what it writes with: the session factory, ``write`` and
  ``answer``. It and the calls and answers cross the process boundary by pickle.
- The child ends when the server's end of the socket closes, also when the server is killed;
  the batch it is writing is committed first. It ignores SIGINT (the server stops it after
  sending it the last calls) and ends on SIGTERM once the batch it is writing is answered.
- If the child dies, the calls waiting for it fail with
  :class:`~fangkong.core.errors.Unavailable` (they may or may not have been written: a client
  sends them again with the same idempotency key), and a call a second later starts a new one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from fangkong.core.batching import (
    GATHER_S,
    MAX_BATCH,
    AnswerFn,
    Failed,
    WriteFn,
    gather_deadline,
    write_batch,
)
from fangkong.core.errors import FangkongError, Unavailable

log = logging.getLogger(__name__)

Call = TypeVar("Call")
Written = TypeVar("Written")
Answer = TypeVar("Answer")

# A message is a pickle behind its length, as multiprocessing's Connection frames it: the
# child reads and writes with a blocking Connection, the server with a non-blocking socket
# watched by its event loop.
_LENGTH = struct.Struct("!i")
#: How long after a child died the next may start (s).
RESTART_AFTER_S = 1.0


@dataclass(frozen=True)
class WriterParts(Generic[Call, Written, Answer]):
    """What the child writes with, built in the child."""

    factory: sessionmaker[Session]
    write: WriteFn[Call, Written]
    answer: AnswerFn[Written, Answer]


def _sendable(outcome: Any) -> Any:
    """An outcome the server can unpickle: a failure other than a domain error goes as its
    text (a driver's exception may hold what does not pickle, or not import there)."""
    if isinstance(outcome, Failed) and not isinstance(outcome.error, FangkongError):
        return Failed(RuntimeError(f"{type(outcome.error).__name__}: {outcome.error}"))
    return outcome


def _child_main(
    conn: Connection,
    parts: Callable[[], WriterParts[Any, Any, Any]],
    max_batch: int,
    gather_s: float,
) -> None:
    # A Ctrl-C reaches the whole process group: the server stops the child in order, once it
    # has sent it the last calls. A SIGTERM (a service manager's, multiprocessing's at the
    # server's exit) ends it, but never in the middle of a batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    writing = False
    stop_after_batch = False

    def on_sigterm(_signum: int, _frame: object) -> None:
        nonlocal stop_after_batch
        if not writing:
            raise SystemExit(0)
        stop_after_batch = True

    signal.signal(signal.SIGTERM, on_sigterm)
    built = parts()
    _hold_for_life()
    warm = False
    last_size = 0
    stopping = False
    while not stopping:
        try:
            batch: list[tuple[int, Any]] = conn.recv()
        except (EOFError, OSError):
            return
        deadline = gather_deadline(last_size, gather_s)
        while len(batch) < max_batch:
            wait = deadline - time.monotonic()
            try:
                if not conn.poll(wait if wait > 0 and len(batch) < last_size else 0):
                    break
                batch.extend(conn.recv())
            except (EOFError, OSError):
                stopping = True  # the server is gone: write what came, then stop
                break
        last_size = len(batch)
        writing = True
        for start in range(0, len(batch), max_batch):
            part = batch[start : start + max_batch]
            outcomes = write_batch(
                built.factory, built.write, built.answer, [call for _, call in part]
            )
            try:
                conn.send([(seq, _sendable(o)) for (seq, _), o in zip(part, outcomes, strict=True)])
            except OSError:
                stopping = True
        writing = False
        if not warm:
            # What the first batch loaded (the areas' index, the road network, compiled
            # statements) stays for the child's life too: left to the collector, a full
            # collection scanned it all, 20-30 ms with the demo's network, now and then.
            _hold_for_life()
            warm = True
        stopping = stopping or stop_after_batch


def _hold_for_life() -> None:
    """Put what the process holds now out of the cyclic collector's way."""
    gc.collect()
    gc.freeze()


class ProcessCommitter(Generic[Call, Answer]):
    """Writes calls in batches in a child process (see the module). :meth:`submit` is called
    on the event loop and returns an asyncio future of the answer; :meth:`close` writes what
    is queued and stops the child."""

    def __init__(
        self,
        parts: Callable[[], WriterParts[Call, Any, Answer]],
        *,
        name: str = "group-commit",
        max_batch: int = MAX_BATCH,
        gather_s: float = GATHER_S,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        self._parts = parts
        self._name = name
        self._max_batch = max_batch
        self._gather_s = gather_s
        self._after_batch = after_batch
        self._process: BaseProcess | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending = False
        self._in = bytearray()
        self._out = bytearray()
        self._pending: dict[int, asyncio.Future[Answer]] = {}
        self._outbox: list[tuple[int, Call]] = []
        self._sequence = 0
        self._closed = False
        self._lost_at = -RESTART_AFTER_S
        #: Children started so far (one, unless one died).
        self.started = 0

    @property
    def pending(self) -> int:
        """Calls submitted and not answered yet (queued, sent, or in the batch being
        written)."""
        return len(self._pending)

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the child now (else the first call does; call it on the event loop)."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        if self._socket is None:
            # A child that cannot start (the database unreachable, say) is tried again at
            # most once a RESTART_AFTER_S, not once per call.
            if time.monotonic() - self._lost_at < RESTART_AFTER_S:
                raise Unavailable(key="error.writer.restarting")
            self._start(asyncio.get_running_loop())

    def submit(self, call: Call) -> asyncio.Future[Answer]:
        """Queue ``call``; the future holds its answer, or the error, once it is written."""
        self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._sequence += 1
        self._pending[self._sequence] = future
        self._outbox.append((self._sequence, call))
        if len(self._outbox) == 1:  # the calls of this pass of the loop go as one message
            loop.call_soon(self._flush)
        return future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        ours, theirs = socket.socketpair()
        child_end = Connection(os.dup(theirs.fileno()))
        theirs.close()
        # Spawned, not forked: a fork would copy the server's threads' locks mid-use.
        process = multiprocessing.get_context("spawn").Process(
            target=_child_main,
            name=self._name,
            daemon=True,
            args=(child_end, self._parts, self._max_batch, self._gather_s),
        )
        try:
            process.start()
        finally:
            child_end.close()
        ours.setblocking(False)
        self._process, self._socket, self._loop = process, ours, loop
        self._in.clear()
        self._out.clear()
        self._sending = False
        self.started += 1
        loop.add_reader(ours.fileno(), self._on_readable)

    def _flush(self) -> None:
        if not self._outbox or self._socket is None:
            return
        payload = pickle.dumps(self._outbox, pickle.HIGHEST_PROTOCOL)
        self._outbox = []
        self._out += _LENGTH.pack(len(payload)) + payload
        self._send()

    def _send(self) -> None:
        if self._socket is None or self._loop is None:
            return
        try:
            sent = self._socket.send(self._out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost()
            return
        del self._out[:sent]
        # A child busy with a long batch reads later: the rest waits in the buffer, and the
        # event loop goes on.
        if self._out and not self._sending:
            self._loop.add_writer(self._socket.fileno(), self._send)
            self._sending = True
        elif not self._out and self._sending:
            self._loop.remove_writer(self._socket.fileno())
            self._sending = False

    def _on_readable(self) -> None:
        if self._socket is None:
            return
        try:
            data = self._socket.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        self._in += data
        if self._answer_received() and self._after_batch is not None:
            self._after_batch()

    def _answer_received(self) -> bool:
        """Settle the futures of every whole message received; whether there was one."""
        answered = False
        while len(self._in) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._in)
            if len(self._in) < _LENGTH.size + size:
                break
            message = pickle.loads(self._in[_LENGTH.size : _LENGTH.size + size])
            del self._in[: _LENGTH.size + size]
            for sequence, outcome in message:
                future = self._pending.pop(sequence, None)
                if future is None or future.done():
                    continue
                if isinstance(outcome, Failed):
                    future.set_exception(outcome.error)
                else:
                    future.set_result(outcome)
            answered = True
        return answered

    def _detach(self) -> None:
        if self._socket is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._socket.fileno())
            if self._sending:
                self._loop.remove_writer(self._socket.fileno())
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._sending = False

    def _lost(self) -> None:
        """The child is gone: fail the calls it had, and start another on a later call."""
        self._lost_at = time.monotonic()
        self._detach()
        if self._process is not None:
            self._process.join(1)  # it closed its end: it is ending, if not gone
            if self._process.is_alive():
                self._process.kill()
                self._process.join(1)
            log.error(
                "%s: the writer process ended (exit code %s); %d calls failed",
                self._name,
                self._process.exitcode,
                len(self._pending),
            )
            self._process = None
        self._outbox = []
        self._fail_pending(Unavailable(key="error.writer.stopped"))

    def _fail_pending(self, error: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    def close(self, timeout_s: float = 30.0) -> None:
        """Send what is queued, let the child write it, and wait for it to end."""
        if self._closed:
            return
        self._closed = True
        sock, process = self._socket, self._process
        if sock is None or process is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
            if self._sending:
                self._loop.remove_writer(sock.fileno())
        payload = pickle.dumps(self._outbox, pickle.HIGHEST_PROTOCOL) if self._outbox else b""
        self._outbox = []
        if payload:
            self._out += _LENGTH.pack(len(payload)) + payload
        deadline = time.monotonic() + timeout_s
        try:
            sock.setblocking(True)
            sock.settimeout(timeout_s)
            sock.sendall(self._out)
            self._out.clear()
            sock.shutdown(socket.SHUT_WR)  # the child writes what came, then ends
            # Read its last answers until it closes its end: it never blocks on a full socket.
            while time.monotonic() < deadline:
                data = sock.recv(1 << 20)
                if not data:
                    break
                self._in += data
                self._answer_received()
        except OSError as exc:
            log.warning("%s: closing the writer process: %s", self._name, exc)
        sock.close()
        self._socket = None
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.error(
                "%s: the writer process did not end in %.0f s; stopped", self._name, timeout_s
            )
            process.kill()
            process.join(5)
        self._process = None
        self._fail_pending(RuntimeError("the group committer is closed"))
