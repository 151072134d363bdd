"""SQLite writers of one process queue for their turn instead of polling SQLite's lock."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from fangkong.core.db import make_engine
from fangkong.core.sqlite_writes import SerializedConnection, may_write, write_turn


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'writes.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT 1", False),
        ("  select * from t", False),
        ("(SELECT 1)", False),
        ("PRAGMA busy_timeout=0", False),
        ("EXPLAIN QUERY PLAN SELECT 1", False),
        ("BEGIN", False),
        ("BEGIN DEFERRED", False),
        ("SAVEPOINT sa_1", False),
        ("RELEASE SAVEPOINT sa_1", False),
        ("ROLLBACK TO SAVEPOINT sa_1", False),
        ("COMMIT", False),
        ("", False),
        ("BEGIN IMMEDIATE", True),
        ("begin exclusive", True),
        ("INSERT INTO t VALUES (1)", True),
        ("update t set v = 1", True),
        ("DELETE FROM t", True),
        ("REPLACE INTO t VALUES (1)", True),
        ("CREATE TABLE x (a)", True),
        ("WITH q AS (SELECT 1) DELETE FROM t", True),
        ("VACUUM", True),
    ],
)
def test_what_takes_the_lock(sql: str, writes: bool) -> None:
    assert may_write(sql) is writes


def test_a_second_writer_waits_for_the_first_to_commit(engine: Engine) -> None:
    held, go_on = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
            held.set()
            go_on.wait(10)
            time.sleep(0.2)  # the second writer is waiting now
            order.append("first committing")

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)
    with engine.begin() as conn:
        # Without the process lock this writer would meet SQLite's lock and, with no busy
        # wait, fail at once with "database is locked".
        conn.execute(text("PRAGMA busy_timeout=0"))
        go_on.set()
        conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
        order.append("second wrote")
        conn.execute(text("PRAGMA busy_timeout=10000"))
    thread.join(10)
    assert order == ["first committing", "second wrote"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t ORDER BY id")).scalars().all() == [
            "first",
            "second",
        ]


_OTHER_PROCESS = """
import os, sys, time
from sqlalchemy import text
from fangkong.core import sqlite_writes
from fangkong.core.db import make_engine

path = os.path.realpath(sys.argv[1])
waited = []

def sleep(seconds):
    # The first pause is the proof that this process found the turn taken.
    if not waited:
        print("waiting", flush=True)
    waited.append(seconds)
    time.sleep(seconds)

# This process's turn reports its first wait and never gives up: its clock stands still, so
# however slowly a loaded machine runs the test, the wait cannot time out.
sqlite_writes._turns[path] = sqlite_writes.WriteTurn(path, clock=lambda: 0.0, sleep=sleep)
engine = make_engine("sqlite:///" + path)
with engine.begin() as conn:
    conn.execute(text("PRAGMA busy_timeout=0"))
    print("ready", flush=True)
    conn.execute(text("INSERT INTO t (v) VALUES ('other process')"))
    print("wrote", flush=True)
    conn.execute(text("PRAGMA busy_timeout=10000"))
"""


def test_writers_of_another_process_queue_too(engine: Engine) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(engine.url.database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('this process')"))
        # The other process writes now, and must wait for this commit: with no busy wait of
        # its own, it would fail at once on SQLite's lock if it did not queue on the lock file.
        # No clock decides the order: it says when it has found the turn taken, and this
        # process commits only then.
        assert other.stdout.readline().strip() == "ready"
        assert other.stdout.readline().strip() == "waiting", other.communicate(timeout=30)[1]
    out, err = other.communicate(timeout=30)
    assert other.returncode == 0, err
    assert out.split() == ["wrote"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t ORDER BY id")).scalars().all() == [
            "this process",
            "other process",
        ]


def test_a_rollback_and_a_close_give_the_turn_back(engine: Engine) -> None:
    lock = write_turn(engine.url.database)
    assert lock is not None
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('undone')"))
        assert lock.locked()
        conn.rollback()
        assert not lock.locked()
        conn.execute(text("SELECT count(*) FROM t"))
        assert not lock.locked()  # a read does not take it
    raw = sqlite3.connect(str(engine.url.database), factory=SerializedConnection)
    raw.execute("INSERT INTO t (v) VALUES ('never committed')")
    assert lock.locked()
    raw.close()
    assert not lock.locked()
    dropped = sqlite3.connect(str(engine.url.database), factory=SerializedConnection)
    dropped.execute("INSERT INTO t (v) VALUES ('dropped')")
    assert lock.locked()
    del dropped
    gc.collect()
    assert not lock.locked()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0


def test_a_writer_waits_no_longer_than_its_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "timeout.db")
    holder = sqlite3.connect(path, factory=SerializedConnection, check_same_thread=False)
    holder.execute("CREATE TABLE t (v)")
    holder.execute("INSERT INTO t VALUES (1)")  # holds the turn: its transaction is open
    waiter = sqlite3.connect(path, factory=SerializedConnection, timeout_s=0.2)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        waiter.execute("INSERT INTO t VALUES (2)")
    holder.commit()
    waiter.execute("INSERT INTO t VALUES (2)")
    waiter.commit()
    assert waiter.execute("SELECT count(*) FROM t").fetchone() == (2,)
    holder.close()
    waiter.close()


def test_memory_databases_have_no_shared_lock(engine: Engine) -> None:
    assert write_turn(":memory:") is None
    assert write_turn("file:x?mode=memory&cache=shared") is None
    memory = make_engine("sqlite://")
    with memory.begin() as conn:
        conn.execute(text("CREATE TABLE m (a)"))
        conn.execute(text("INSERT INTO m VALUES (1)"))
    memory.dispose()
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT * FROM m"))  # another database, not this one
