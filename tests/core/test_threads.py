"""Every library of a process held to one thread count (issue 23: a batch worker is one core)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numba
import pytest
from threadpoolctl import threadpool_info

from fangkong.core import threads
from fangkong.network.engine import Engine
from fangkong.network.graph import from_edges


@pytest.fixture()
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment and numba's count put back after the test."""
    for name in (threads.ENV, *threads.THREAD_ENV):
        # set, then deleted: the undo then deletes what pin() sets, as well as restoring
        monkeypatch.setenv(name, "1")
        monkeypatch.delenv(name)
    before = numba.get_num_threads()
    yield
    numba.set_num_threads(before)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=None)


def test_configured_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.configured() is None
    for raw, want in (("3", 3), (" 1 ", 1), ("0", None), ("-2", None), ("many", None)):
        monkeypatch.setenv(threads.ENV, raw)
        assert threads.configured() == want


@pytest.mark.usefixtures("restored")
def test_pin_holds_every_library() -> None:
    graph = from_edges([0.0, 0.001, 0.002], [0.0, 0.0, 0.0], [0, 1, 1, 2], [1, 0, 2, 1], [1.0] * 4)
    if (os.cpu_count() or 1) > 1:
        assert Engine(graph, hierarchy=None).threads == os.cpu_count()
    done = threads.pin(1)
    assert done["threads"] == 1 and done["numba"] == 1
    assert numba.get_num_threads() == 1
    assert os.environ[threads.ENV] == "1" and os.environ["OMP_NUM_THREADS"] == "1"
    assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert threads.configured() == 1
    assert Engine(graph, hierarchy=None).threads == 1  # the engine's query threads
    assert Engine(graph, hierarchy=None, threads=2).threads == 2  # unless asked


@pytest.mark.usefixtures("restored")
def test_highs_solves_whatever_the_allowance_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS keeps one scheduler per process, started with the first solve's threads: a
    process pinned after it had solved (a task run in the caller's process) still solves."""
    import highspy

    from fangkong.planning import _highs

    def solve() -> object:
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        _highs.set_threads(h)
        h.addVar(0.0, 10.5)
        h.changeColCost(0, -1.0)
        h.changeColIntegrality(0, highspy.HighsVarType.kInteger)
        h.run()
        assert h.getInfo().objective_function_value == pytest.approx(-10.0)
        return h.getModelStatus()

    optimal = highspy.HighsModelStatus.kOptimal
    assert solve() == optimal
    threads.pin(1)
    assert solve() == optimal
    monkeypatch.setenv(threads.ENV, "2")
    assert solve() == optimal
    monkeypatch.delenv(threads.ENV)
    assert solve() == optimal


@pytest.mark.usefixtures("restored")
def test_highs_solves_pinned_after_another_library_started_the_scheduler() -> None:
    """A count asked after someone else's solve (spopt's through PuLP, in a test process)
    started HiGHS's scheduler with its own: the scheduler is restarted, not refused (which
    left every later placement of the process at ``kNotset``)."""
    import highspy

    from fangkong.planning import _highs

    def model(h: object) -> object:
        h.setOptionValue("output_flag", False)  # type: ignore[attr-defined]
        h.addVar(0.0, 10.5)  # type: ignore[attr-defined]
        h.changeColCost(0, -1.0)  # type: ignore[attr-defined]
        h.changeColIntegrality(0, highspy.HighsVarType.kInteger)  # type: ignore[attr-defined]
        h.run()  # type: ignore[attr-defined]
        return h.getModelStatus()  # type: ignore[attr-defined]

    highspy.Highs.resetGlobalScheduler(True)
    optimal = highspy.HighsModelStatus.kOptimal
    theirs = highspy.Highs()  # type: ignore[no-untyped-call]
    theirs.setOptionValue("threads", 2)  # another library's own count
    assert model(theirs) == optimal
    threads.pin(1)
    ours = highspy.Highs()  # type: ignore[no-untyped-call]
    _highs.set_threads(ours)
    assert model(ours) == optimal
