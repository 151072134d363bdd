"""The server's background jobs: each run logged with its seconds, a failed run retried."""

from __future__ import annotations

import gc
import logging
import threading

import pytest
from uvicorn.config import LOGGING_CONFIG

from fangkong.cli import server_log_config
from fangkong.core.jobs import CollectorSetAside, Ticker


def _run_twice(job: object, caplog: pytest.LogCaptureFixture) -> Ticker:
    twice = threading.Event()
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1
        if calls >= 2:
            twice.set()
        if callable(job):
            job()

    with caplog.at_level(logging.INFO, logger="fangkong.core.jobs"):
        ticker = Ticker(counted, 0.001, name="test-job").start()
        assert twice.wait(5)
        ticker.stop()
    return ticker


def test_each_run_is_logged_with_its_seconds(caplog: pytest.LogCaptureFixture) -> None:
    ticker = _run_twice(None, caplog)
    ran = [r.getMessage() for r in caplog.records if "ran in" in r.getMessage()]
    assert ticker.runs >= 2 and len(ran) >= 2
    assert all(m.startswith("background job test-job ran in ") and m.endswith(" s") for m in ran)


def test_a_failed_run_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise RuntimeError("the database went away")

    ticker = _run_twice(fail, caplog)
    assert ticker.runs == 0
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) >= 2 and "test-job failed" in failed[0].getMessage()
    assert not [r for r in caplog.records if "ran in" in r.getMessage()]


def test_the_server_logs_the_app_at_info_beside_uvicorn() -> None:
    config = server_log_config()
    assert config["loggers"]["fangkong"]["level"] == "INFO"
    assert config["loggers"]["fangkong"]["handlers"] == config["loggers"]["uvicorn"]["handlers"]
    # a copy: uvicorn's own default is left as it was
    assert "fangkong" not in LOGGING_CONFIG["loggers"]


class _Kept:
    """A container the collector tracks."""


def test_what_the_server_keeps_is_set_aside_at_the_times_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = [_Kept() for _ in range(1000)]  # built after the start, and kept
    with caplog.at_level(logging.INFO, logger="fangkong.core.jobs"):
        before = gc.get_freeze_count()
        aside = CollectorSetAside((0.0, 0.05)).start()
        for _ in range(500):
            if aside.done == 2:
                break
            threading.Event().wait(0.01)
        aside.stop()
    assert aside.done == 2
    assert gc.get_freeze_count() >= before + len(kept)
    assert not any(gc.is_tracked(k) and k in gc.get_objects(generation=2) for k in kept[:3])
    assert any("set aside from the collector" in r.getMessage() for r in caplog.records)


def test_setting_aside_stops_with_the_server() -> None:
    aside = CollectorSetAside((3600.0,)).start()
    stopped = threading.Event()
    threading.Thread(target=lambda: (aside.stop(), stopped.set())).start()
    assert stopped.wait(5) and aside.done == 0
