"""The application factory: the server process runs the case deadline ticker while it lives."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from conftest import LiveServer
from fangkong.core.config import Settings
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from fangkong.web.app import create_app


def _tickers(name: str = "cases-tick") -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_lifespan_starts_and_stops_the_case_ticker_and_the_purges(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade(engine)
    app = create_app(
        Settings(data_dir=tmp_path, secret_key="k" * 40, environment="test"), engine=engine
    )
    jobs = ("cases-tick", "personal-data-purge", "audit-purge")
    before = tuple(len(_tickers(job)) for job in jobs)

    async def live() -> tuple[int, ...]:
        async with app.router.lifespan_context(app):
            return tuple(len(_tickers(job)) for job in jobs)

    # A thread of its own: the browser tests may leave an event loop running in this one.
    during: list[tuple[int, ...]] = []
    runner = threading.Thread(target=lambda: during.append(asyncio.run(live())))
    runner.start()
    runner.join(timeout=30)
    assert during == [tuple(n + 1 for n in before)]
    assert tuple(len(_tickers(job)) for job in jobs) == before
    engine.dispose()


def test_only_one_app_of_a_data_folder_runs_the_jobs(tmp_path: Path) -> None:
    """Workers sharing a data folder: the first to start runs the tickers, the second not."""
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade(engine)
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40, environment="test")
    first, second = (create_app(settings, engine=engine) for _ in range(2))
    before = len(_tickers())

    async def both() -> tuple[int, int]:
        async with first.router.lifespan_context(first):
            one = len(_tickers())
            async with second.router.lifespan_context(second):
                two = len(_tickers())
        return one, two

    counts: list[tuple[int, int]] = []
    runner = threading.Thread(target=lambda: counts.append(asyncio.run(both())))
    runner.start()
    runner.join(timeout=30)
    assert counts == [(before + 1, before + 1)]
    assert len(_tickers()) == before
    engine.dispose()


def test_many_requests_in_flight_do_not_stall_the_server(live_server: LiveServer) -> None:
    """More requests in flight than the connection pool holds all get their answer: the
    database is never read on the event loop (which would block it while waiting for a
    connection held by a request that needs the loop to finish)."""
    from concurrent.futures import ThreadPoolExecutor

    token = live_server.admin_token()

    def one(_: int) -> int:
        with live_server.client(token) as client:
            return client.get("/api/v1/incidents", params={"limit": 5}).status_code

    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(one, range(96)))
    assert answers == [200] * 96


def test_the_lifespan_starts_and_stops_the_intake_writer_process(tmp_path: Path) -> None:
    from fangkong.core.batching import GroupCommitter
    from fangkong.core.writer import ProcessCommitter
    from fangkong.dispatch.fastpath import intake_committer

    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade(engine)
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40, environment="test")
    app = create_app(settings, engine=engine)

    async def live() -> tuple[int | None, bool]:
        async with app.router.lifespan_context(app):
            committer = intake_committer(app)
            assert isinstance(committer, ProcessCommitter)
            pid = committer.pid
        return pid, committer.pid is None

    outcome: list[tuple[int | None, bool]] = []
    runner = threading.Thread(target=lambda: outcome.append(asyncio.run(live())))
    runner.start()
    runner.join(timeout=60)
    [(pid, stopped)] = outcome
    assert pid is not None and stopped
    # Its process is gone: signal 0 only asks whether it exists.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError(f"the writer process {pid} outlived the server")
    # A thread of the server's process when the settings say so, or when the database lives
    # in the server's memory (a process of its own could not see it).
    threaded = create_app(settings.model_copy(update={"intake_writer": "thread"}), engine=engine)
    in_memory = create_app(settings, engine=make_engine("sqlite://"))
    for other in (threaded, in_memory):
        committer = intake_committer(other)
        assert isinstance(committer, GroupCommitter)
        committer.close()
    engine.dispose()
