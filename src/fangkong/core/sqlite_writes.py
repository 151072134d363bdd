"""One writer at a time per SQLite file, queued instead of polled in SQLite.

SQLite lets one connection write at a time. A second writer gets ``SQLITE_BUSY`` and its busy
handler sleeps 1, 2, 5, 10 … up to 100 ms between tries, however soon the lock frees: under
concurrent intake most of a request's time went to these sleeps (and its p99 to the longest of
them). Here a connection takes its database's :class:`WriteTurn` before its first write and
gives it back when its transaction ends, so that a waiting writer starts the moment the one
before it commits. The turn is a lock shared by the threads of a process, then an advisory
lock (``flock``) on a file beside the database, ``<database>-writer``, shared with the other
processes (server workers, the CLI). The file stays: removing it while a process holds it
would let two writers in.

SQLite still does its own locking, which alone keeps the data right: the turn only orders the
writers. A writer of another program (the ``sqlite3`` shell) still meets the busy handler. The
turn is taken for every statement that may write; a statement that only reads (``SELECT``,
``PRAGMA``, ``EXPLAIN``) or only opens or ends a deferred transaction or a savepoint does not
take it. A writer that waits longer than ``timeout_s`` fails with ``database is locked``, as
SQLite's own wait does.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: Statements that neither write nor take SQLite's write lock (``BEGIN`` only when deferred).
_NOT_WRITING = frozenset(
    {
        "SELECT",
        "PRAGMA",
        "EXPLAIN",
        "SAVEPOINT",
        "RELEASE",
        "ROLLBACK",
        "COMMIT",
        "END",
        "BEGIN",
        "VALUES",
    }
)


class WriteTurn:
    """The turn to write one database file: a lock shared by this process's threads, then an
    advisory lock on a file beside the database shared with the other processes that use
    this module (a second server worker, the CLI), so that their writers queue too.

    ``clock`` and ``sleep`` time the wait for another process's turn (tests give their own)."""

    def __init__(
        self,
        path: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._threads = threading.Lock()
        self._path = f"{path}-writer"
        self._fd: int | None = None
        self._clock = clock
        self._sleep = sleep

    def locked(self) -> bool:
        return self._threads.locked()

    def acquire(self, timeout_s: float) -> bool:
        deadline = self._clock() + timeout_s
        if not self._threads.acquire(timeout=timeout_s):
            return False
        try:
            fd = self._file()
        except OSError:  # no lock file (a read-only folder): the processes poll SQLite's lock
            return True
        pause = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if self._clock() >= deadline:
                    self._threads.release()
                    return False
                self._sleep(pause)
                pause = min(pause * 2, 0.001)

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd


_turns: dict[str, WriteTurn] = {}
_turns_guard = threading.Lock()


def _file_of(database: object) -> str | None:
    """The real path of an on-disk database; None for an in-memory one (private to its
    connection unless shared by URI, which fangkong does not use)."""
    name = os.fsdecode(database) if isinstance(database, str | bytes | os.PathLike) else ""
    if name.startswith("file:"):
        name, _, query = name[5:].partition("?")
        if "mode=memory" in query:
            return None
    if name in ("", ":memory:"):
        return None
    return os.path.realpath(name)


def write_turn(database: object) -> WriteTurn | None:
    """This process's write turn of ``database`` (None for an in-memory database)."""
    path = _file_of(database)
    if path is None:
        return None
    with _turns_guard:
        return _turns.setdefault(path, WriteTurn(path))


def may_write(sql: str) -> bool:
    """Whether ``sql`` may write (or take SQLite's write lock): conservative, since a writer
    that slipped past the lock could leave a queued writer waiting on SQLite's lock."""
    words = sql.lstrip(" \t\r\n(").split(None, 2)
    if not words:
        return False
    first = words[0].upper()
    if first == "BEGIN":
        return len(words) > 1 and words[1].upper() in ("IMMEDIATE", "EXCLUSIVE")
    return first not in _NOT_WRITING


class SerializedCursor(sqlite3.Cursor):
    """A cursor whose writes wait for the connection's turn (see the module)."""

    connection: SerializedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> SerializedCursor:
        with self.connection.turn_for(sql):
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> SerializedCursor:
        with self.connection.turn_for(sql):
            super().executemany(sql, seq_of_parameters)
        return self

    def executescript(self, sql_script: str, /) -> SerializedCursor:
        with self.connection.turn_for("script"):
            super().executescript(sql_script)
        return self


class SerializedConnection(sqlite3.Connection):
    """A connection that holds its database's process write lock from its first write to the
    end of that transaction. Pass as ``factory`` to :func:`sqlite3.connect`."""

    def __init__(self, database: Any, *args: Any, timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._turn = write_turn(database)
        self._holding = False
        self._timeout_s = timeout_s

    def claim(self, sql: str) -> None:
        """Take the write lock before ``sql`` when it may write and it is not held yet."""
        if self._holding or self._turn is None or not may_write(sql):
            return
        if not self._turn.acquire(self._timeout_s):
            raise sqlite3.OperationalError("database is locked")
        self._holding = True

    @contextmanager
    def turn_for(self, sql: str) -> Iterator[None]:
        """Run ``sql`` in the connection's turn when it may write."""
        self.claim(sql)
        try:
            yield
        finally:
            self.settle()

    def settle(self) -> None:
        """Give the lock back once no transaction is open (a statement that committed on its
        own, or one whose failure ended the transaction)."""
        if self._holding and not self.in_transaction:
            self._release()

    def _release(self) -> None:
        self._holding = False
        assert self._turn is not None
        self._turn.release()

    def cursor(self, factory: Any = SerializedCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Any:
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> Any:
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.settle()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.settle()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holding:
                self._release()

    def __del__(self) -> None:
        # A connection dropped without close() still closes its database (and so SQLite's
        # lock) when collected: its turn goes with it.
        if getattr(self, "_holding", False):
            self._release()
