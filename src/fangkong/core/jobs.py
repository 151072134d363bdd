"""Background jobs of the server: a thread that runs a job on an interval until stopped, and
one that sets the server's long-lived objects aside from the garbage collector early in its
life.

The server's leader (see ``fangkong.web.app``) runs the case deadline tick, the personal-data
purge and the audit log's retention purge on these.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """A daemon thread that runs the tick every ``interval_s`` seconds until stopped."""

    def __init__(self, job: Callable[[], object], interval_s: float, name: str) -> None:
        self._job = job
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.runs = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self._job()
                self.runs += 1
            except Exception:  # a failed run is logged and retried at the next interval
                log.exception("background job %s failed", self._thread.name)
            else:
                # What a job costs the server it runs in, for the operator (INFO).
                log.info(
                    "background job %s ran in %.2f s",
                    self._thread.name,
                    time.perf_counter() - started,
                )
            self._stop.wait(self._interval)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


#: When, after the server's start (s), the objects it has built and kept since are set aside
#: from the garbage collector as those of its start are (``gc.freeze``).
SET_ASIDE_AFTER_S = (30.0, 600.0, 3600.0)


def set_aside_from_collector() -> int:
    """Collect once and move what survives out of the garbage collector's way
    (``gc.freeze``): how many objects were set aside."""
    before = gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count() - before


class CollectorSetAside:
    """A daemon thread that, at each of ``after_s`` from its start, collects once and moves
    what survives out of the collector's way (``gc.freeze``).

    What the first requests build and keep (validators, compiled statements, caches: about
    110,000 objects on a warmed server) was scanned by every full collection, 50 ms each,
    every half minute under intake, a pause of every request in flight. Set aside, a full
    collection takes a few milliseconds. Frozen objects are still freed when no longer
    referenced; a cycle among them that dies later is not, so this is done a few times
    early in the server's life, not on and on.
    """

    def __init__(self, after_s: tuple[float, ...] = SET_ASIDE_AFTER_S) -> None:
        self._after = sorted(after_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="collector-set-aside", daemon=True)
        self.done = 0

    def _run(self) -> None:
        started = time.monotonic()
        for at in self._after:
            if self._stop.wait(max(0.0, at - (time.monotonic() - started))):
                return
            set_aside = set_aside_from_collector()
            self.done += 1
            log.info("%d objects set aside from the collector", set_aside)

    def start(self) -> CollectorSetAside:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
