"""The application factory: the server process runs the case deadline ticker while it lives."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from fangkong.core.config import Settings
from fangkong.core.db import make_engine
from fangkong.core.migrate import upgrade
from fangkong.web.app import create_app


def _tickers(name: str = "cases-tick") -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_lifespan_starts_and_stops_the_case_ticker_and_the_contact_purge(tmp_path: Path
                                                                        ) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    upgrade(engine)
    app = create_app(Settings(data_dir=tmp_path, secret_key="k" * 40, environment="test"),
                     engine=engine)
    before = len(_tickers()), len(_tickers("dispatch-purge"))

    async def live() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            return len(_tickers()), len(_tickers("dispatch-purge"))

    # A thread of its own: the browser tests may leave an event loop running in this one.
    during: list[tuple[int, int]] = []
    runner = threading.Thread(target=lambda: during.append(asyncio.run(live())))
    runner.start()
    runner.join(timeout=30)
    assert during == [(before[0] + 1, before[1] + 1)]
    assert (len(_tickers()), len(_tickers("dispatch-purge"))) == before
    engine.dispose()
