"""Background jobs of the server: a thread that runs a job on an interval until stopped.

The server's leader (see ``fangkong.web.app``) runs the case deadline tick, the personal-data
purge and the audit log's retention purge on these.
"""

from __future__ import annotations

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
