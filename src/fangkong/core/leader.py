"""One process of several: the server's background jobs run in one of the processes that share
a data folder (``fangkong serve --workers N``), not in each of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def leadership(lock_file: Path) -> Iterator[bool]:
    """True for the block in the one process holding ``lock_file``'s exclusive lock, False in
    the others. The lock goes with the process (an advisory ``flock``): a crashed leader
    leaves none behind. Where ``flock`` is missing every process leads."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux
        yield True
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
