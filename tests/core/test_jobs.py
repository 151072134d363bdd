"""The server's background jobs: each run logged with its seconds, a failed run retried."""

from __future__ import annotations

import logging
import threading

import pytest
from uvicorn.config import LOGGING_CONFIG

from fangkong.cli import server_log_config
from fangkong.core.jobs import Ticker


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
