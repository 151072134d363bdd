"""Planning batches over many counties on Dask: one task per county and scenario.

A province's planning office asks the same questions of every county -- how much of the
demand is within 3 and 5 minutes of a post today, where five more posts would serve most --
and of several variants of them. A batch is the product of counties and scenarios; each
(county, scenario) pair is one task of a Dask (``dask.distributed``) job graph, run by
whichever worker is free:

- on one machine a :class:`~distributed.LocalCluster` of ``workers`` processes, one thread
  each, and each task held to ``task_threads`` threads (default 1) in every library -- the
  road engine's queries, HiGHS, numba, BLAS/OpenMP (:func:`fangkong.core.threads.pin`) --
  so that a worker uses the one core it stands for and no more;
- on many, an existing Dask cluster by its scheduler's address (``tcp://host:8786``): every
  worker needs fangkong installed, the database's URL reachable and the data folder (the
  counties' road networks, ``<data_dir>/counties/<code>``) at the same path, e.g. on a
  shared file system (see ``docs/deployment.md``).

A task opens its own connection, files a planning run under the county (kind ``coverage`` or
``placement``, the batch's id in its parameters and title), computes it with planning's own
functions over the county's road network and stores its result in the database as any run
(the console lists it under the county; a failure is stored as the run's error). What comes
back to the caller is a short :class:`Outcome` per task, in the order the tasks finish, so
that the console shows progress as they do.

Nothing here computes: :func:`run_task` calls :func:`fangkong.planning.tasks.run_coverage`
or :func:`~fangkong.planning.tasks.run_placement` through :func:`fangkong.planning.jobs.execute`
(the runs' claim, progress and finish), with the county's network
(:func:`fangkong.network.store.county_data_dir`).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from fangkong.areas import service as area_service
from fangkong.areas.models import AreaLevel
from fangkong.core import audit
from fangkong.core import threads as thread_limits
from fangkong.core.audit import Actor
from fangkong.core.db import make_engine, make_session_factory, session_scope
from fangkong.core.errors import FangkongError, InvalidInput
from fangkong.core.scoping import Scope
from fangkong.dispatch.models import UnitType
from fangkong.network.border import county_network_dir
from fangkong.network.store import county_data_dir
from fangkong.planning import coverage, jobs, runs, tasks
from fangkong.planning.models import Run, RunKind, RunStatus
from fangkong.province.service import BATCH_MARK

__all__ = [
    "KINDS",
    "BatchTask",
    "Outcome",
    "Scenario",
    "county_codes",
    "dispose",
    "parse_scenario",
    "plan",
    "run_batch",
    "run_task",
    "warm_up",
]

log = logging.getLogger(__name__)

#: The scenario kinds a batch runs (planning's run kinds of the same names).
KINDS: tuple[str, ...] = ("coverage", "placement", "deployment")
MAX_WORKERS = 256
#: The parameters a scenario may set, per kind, and how a value is read.
_LIST = "list"
_PARAMS: dict[str, dict[str, str]] = {
    "coverage": {"rings_s": _LIST, "unit_type": "str", "demand": "str", "weight_column": "str"},
    "placement": {
        "method": "str",
        "p": "int",
        "ring_s": "float",
        "posts": "str",
        "spacing_m": "float",
        "candidates": _LIST,
        "unit_type": "str",
        "max_time_s": "float",
        "time_limit_s": "float",
        "gap": "float",
        "exact": "bool",
        "demand": "str",
        "weight_column": "str",
    },
    # hour-of-week deployment (潮汐用警): the units each hour needs to keep the 3-minute
    # share at ``target``, per station of the county (planning.deployment)
    "deployment": {
        "weeks": "int",
        "end": "str",
        "target": "float",
        "prior_weeks": "float",
        "held_weeks": "int",
        "sim_hours": "int",
        "seed": "int",
        "max_units": "int",
    },
}
_BOOL = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class Scenario:
    """One question asked of every county: a planning run's kind and parameters."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class BatchTask:
    """One county and one scenario of a batch."""

    batch: str
    county: str
    scenario: Scenario
    index: int

    @property
    def key(self) -> str:
        """The task's name in the Dask graph (unique in the batch, readable on the dashboard)."""
        return f"{self.scenario.kind}-{self.county}-{self.index}-{self.batch}"


@dataclass(frozen=True)
class Outcome:
    """What a task reports back (its result is in the database, as the run ``run_id``).

    Attributes
    ----------
    status : str
        The run's status: ``done``, ``failed`` or ``cancelled``; ``failed`` with ``run_id``
        None when no run could be filed (an unknown county, the database unreachable).
    seconds : float
        Wall time of the task on its worker, filing and storing included.
    headline : dict
        The result's main figures: coverage, the share of the demand's weight within each
        ring (``share_<ring>``) and the weight; placement, the solver's status, objective and
        gap.
    """

    county: str
    label: str
    kind: str
    index: int
    run_id: int | None
    status: str
    seconds: float
    worker: str
    headline: dict[str, Any]
    error: str | None = None
    #: CPU time of the worker process during the task (all its threads): above ``seconds``
    #: when the task used more than one core.
    cpu_seconds: float = 0.0


def _scenario_fault(text: str, reason: str) -> InvalidInput:
    return InvalidInput(
        key="error.province.scenario",
        params={"text": text[:200], "reason": reason, "kinds": ", ".join(KINDS)},
        field="scenario",
    )


def _value(text: str, name: str, how: str, raw: str) -> Any:
    try:
        if how == _LIST:
            return [float(v) if re.fullmatch(r"[0-9.]+", v) else v for v in raw.split("/") if v]
        if how == "int":
            return int(raw)
        if how == "float":
            return float(raw)
        if how == "bool":
            return _BOOL[raw.lower()]
    except (ValueError, KeyError):
        raise _scenario_fault(text, f"{name}={raw!r} is not a {how}") from None
    return raw


def parse_scenario(text: str) -> Scenario:
    """A scenario from ``KIND`` or ``KIND:key=value,key=value`` (lists with ``/``).

    Examples: ``coverage``, ``coverage:rings_s=180/300,unit_type=foot``,
    ``placement:method=mclp,p=5,ring_s=300``. The parameters are checked as planning checks
    them (rings, unit type, the placement's specification), so that a fault is named before
    any task runs.

    Raises
    ------
    InvalidInput
        An unknown kind or parameter, or a value planning refuses.
    """
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise _scenario_fault(text, f"unknown kind {kind!r}")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in _PARAMS[kind]:
            allowed = ", ".join(sorted(_PARAMS[kind]))
            raise _scenario_fault(text, f"unknown parameter {name!r} (known: {allowed})")
        params[name] = _value(text, name, _PARAMS[kind][name], raw.strip())
    try:
        UnitType(params.get("unit_type", "car"))
    except ValueError:
        raise _scenario_fault(text, f"unknown unit type {params['unit_type']!r}") from None
    if kind == "coverage":
        if "rings_s" in params:
            params["rings_s"] = list(coverage.check_rings(params["rings_s"]))
    elif kind == "deployment":
        if "end" in params:
            try:
                end = datetime.fromisoformat(params["end"])
            except ValueError:
                raise _scenario_fault(text, f"end={params['end']!r} is not a date") from None
            if end.tzinfo is None:  # a day, or a moment without a zone: the batch's zone
                end = end.replace(tzinfo=ZoneInfo(tasks.DEFAULT_ZONE))
            params["end"] = end.isoformat()
        tasks.deployment_spec(params)  # raises planning's InvalidInput naming the field
    else:
        tasks.placement_spec(params)  # raises planning's InvalidInput naming the field
    return Scenario(kind=kind, params=params, label=text.strip())


def county_codes(session: Session, *, scope: Scope, codes: Sequence[str] = ()) -> list[str]:
    """The counties of a batch: the codes given (each must exist in ``scope``), else every
    district-level area of ``scope`` (a county is a district of the jurisdiction tree).

    Raises
    ------
    NotFound
        A code names no area of the scope.
    InvalidInput
        No county at all.
    """
    if codes:
        return [
            area_service.get_by_code_or_raise(session, code=code, scope=scope).code
            for code in dict.fromkeys(codes)
        ]
    found = [a.code for a in area_service.get_all(session, scope=scope, level=AreaLevel.DISTRICT)]
    if not found:
        raise InvalidInput(
            key="error.province.no_counties",
            params={"reason": "no district-level area in your areas"},
            field="counties",
        )
    return found


def plan(
    counties: Sequence[str], scenarios: Sequence[Scenario], *, batch: str = ""
) -> list[BatchTask]:
    """The tasks of a batch: every county with every scenario, counties in the order given."""
    batch = batch or uuid.uuid4().hex[:10]
    return [
        BatchTask(batch=batch, county=county, scenario=scenario, index=i)
        for (county, (i, scenario)) in itertools.product(counties, enumerate(scenarios))
    ]


# -- on a worker -----------------------------------------------------------------------------

_factories: dict[tuple[str, str], sessionmaker[Session]] = {}
_factories_lock = threading.Lock()


def _factory(database_url: str, data_dir: Path) -> sessionmaker[Session]:
    """One engine per worker process and database (what it appends to the audit log moves
    the data folder's head file, as the server's do)."""
    with _factories_lock:
        key = (database_url, str(data_dir))
        factory = _factories.get(key)
        if factory is None:
            engine = make_engine(database_url)
            audit.keep_head(engine, audit.head_file_of(data_dir))
            factory = _factories[key] = make_session_factory(engine)
        return factory


def dispose() -> None:
    """Close the connections :func:`run_task` opened in this process (a worker's teardown)."""
    with _factories_lock:
        for factory in _factories.values():
            bind = factory.kw.get("bind")
            if bind is not None:
                bind.dispose()
        _factories.clear()


def _headline(kind: str, result: dict[str, Any] | None) -> dict[str, Any]:
    if not result:
        return {}
    if kind == "coverage":
        totals = result.get("totals", {})
        shares = {f"share_{ring}": share for ring, share in totals.get("share", {}).items()}
        return {"weight": totals.get("weight"), **shares}
    if kind == "deployment":
        rows = [r for r in result.get("stations", []) if "proposed" in r]
        return {
            "stations": len(rows),
            "unit_hours_today": sum(int(r["unit_hours_today"]) for r in rows),
            "unit_hours_proposed": sum(int(r["unit_hours_proposed"]) for r in rows),
        }
    return {k: result.get(k) for k in ("status", "objective", "gap")}


def run_task(
    task: BatchTask,
    *,
    database_url: str,
    data_dir: str,
    filed_by: str,
    timezone: str = "Asia/Shanghai",
    task_threads: int = 1,
) -> Outcome:
    """Run one task where it is called (a Dask worker): file the run, compute, store.

    Parameters
    ----------
    task : BatchTask
    database_url : str
        The database every worker writes to (the deployment's URL).
    data_dir : str
        The data folder, where the counties' road networks are (same path on every worker).
    filed_by : str
        The name the runs and their audit events are filed under (who started the batch).
    timezone : str
        The deployment's zone (its settings'): the hours of week of a deployment scenario.
    task_threads : int
        Threads the task may use in every library (:func:`fangkong.core.threads.pin`);
        0 leaves the libraries' defaults (every core).

    Returns
    -------
    Outcome
        Never raises for a fault of the task: an error is stored with the run (when one was
        filed) and reported in the outcome.
    """
    if task_threads > 0:
        thread_limits.pin(task_threads)
    started = time.perf_counter()
    cpu_started = time.process_time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    kind = task.scenario.kind
    run_id: int | None = None

    def outcome(status: str, headline: dict[str, Any], error: str | None) -> Outcome:
        return Outcome(
            county=task.county,
            label=task.scenario.label or kind,
            kind=kind,
            index=task.index,
            run_id=run_id,
            status=status,
            seconds=round(time.perf_counter() - started, 3),
            worker=worker,
            headline=headline,
            error=error,
            cpu_seconds=round(time.process_time() - cpu_started, 3),
        )

    try:
        root = Path(data_dir)
        if not root.is_dir():
            raise InvalidInput(
                key="error.province.data_dir",
                params={"path": data_dir, "worker": worker},
                field="data_dir",
            )
        factory = _factory(database_url, root)
        with session_scope(factory) as session:
            county = area_service.get_by_code_or_raise(session, code=task.county)
            params: dict[str, Any] = {
                **task.scenario.params,
                "scope_paths": [county.path],
                "area_code": county.code,
                "batch": task.batch,
            }
            if kind == "deployment":
                params["timezone"] = timezone
            run = runs.create(
                session,
                kind=RunKind(kind),
                params=params,
                area_path=county.path,
                actor=Actor(user_id=None, username=filed_by, client=worker),
                title=f"{tasks.title_of(kind, params)}{BATCH_MARK}{task.batch}",
            )
            run_id = run.id
        # the county's cross-border graph where one was built, else its own
        network_dir = county_network_dir(root, task.county) or county_data_dir(root, task.county)

        def work(
            session: Session, progress: jobs.Progress, cancel: threading.Event
        ) -> dict[str, Any]:
            if kind == "coverage":
                return tasks.run_coverage(session, params, network_dir)
            if kind == "deployment":
                return tasks.run_deployment(session, params, network_dir, progress)
            return tasks.run_placement(session, params, network_dir, progress, cancel)

        jobs.execute(factory, run_id, work, threading.Event())
        with session_scope(factory) as session:
            stored = session.get(Run, run_id)
            if stored is None:  # removed meanwhile
                return outcome(RunStatus.FAILED.value, {}, "the run was removed")
            result = runs.result_of(stored) if stored.result is not None else None
            return outcome(
                stored.status.value, _headline(kind, result), runs.error_text(stored, "en")
            )
    except FangkongError as exc:
        return outcome(RunStatus.FAILED.value, {}, exc.message)
    except Exception as exc:  # the database unreachable, a data folder not writable
        log.exception("province batch task %s failed", task.key)
        if run_id is not None:
            _fail_run(database_url, Path(data_dir), run_id, exc)
        return outcome(RunStatus.FAILED.value, {}, f"{type(exc).__name__}: {exc}")


def _fail_run(database_url: str, data_dir: Path, run_id: int, exc: Exception) -> None:
    """Store a filed run as failed after a fault outside planning's job (best effort)."""
    try:
        with session_scope(_factory(database_url, data_dir)) as session:
            run = session.get(Run, run_id)
            if run is not None and run.status not in runs.TERMINAL:
                error = FangkongError(
                    key="error.planning.job_failed", params={"kind": type(exc).__name__}
                )
                runs.finish(session, run, result=None, error=error)
    except Exception:
        log.exception("province batch: run %s could not be marked failed", run_id)


# -- the client ------------------------------------------------------------------------------


def worker_env(task_threads: int) -> dict[str, str]:
    """The environment of a local cluster's worker processes: every library held to
    ``task_threads`` from the start (0: none set)."""
    if task_threads <= 0:
        return {}
    value = str(task_threads)
    return {thread_limits.ENV: value, **dict.fromkeys(thread_limits.THREAD_ENV, value)}


@contextmanager
def _client(scheduler: str | None, workers: int, task_threads: int = 1) -> Iterator[Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InvalidInput(key="error.province.dask_missing", field="scheduler") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as exc:
            raise InvalidInput(
                key="error.province.scheduler",
                params={"address": scheduler, "reason": str(exc) or type(exc).__name__},
                field="scheduler",
            ) from None
        with client:
            yield client
        return
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInput(
            key="error.province.workers",
            params={"value": workers, "maximum": MAX_WORKERS},
            field="workers",
        )
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # no dashboard; the scheduler's own HTTP server (metrics, health) on a free port,
            # not 8787, which another cluster on the host may hold
            scheduler_kwargs={"dashboard_address": ":0"},
            silence_logs=logging.WARNING,
            env=worker_env(task_threads),
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def run_batch(
    batch: Sequence[BatchTask],
    *,
    database_url: str,
    data_dir: Path,
    actor: str = "province-batch",
    scheduler: str | None = None,
    workers: int = 2,
    progress: Callable[[int, int, Outcome], None] | None = None,
    client: Any | None = None,
    timezone: str = "Asia/Shanghai",
    task_threads: int = 1,
) -> list[Outcome]:
    """Run a batch's tasks on Dask and return their outcomes (in the tasks' order).

    Parameters
    ----------
    batch : sequence of BatchTask
        From :func:`plan`.
    database_url, data_dir :
        The deployment's database and data folder, as every worker reaches them.
    actor : str
        Who the runs are filed under.
    scheduler : str, optional
        An existing Dask scheduler's address (``tcp://host:8786``); without it a
        ``LocalCluster`` of ``workers`` processes on this machine.
    workers : int
        The local cluster's worker processes (one thread each).
    progress : callable, optional
        ``progress(done, total, outcome)`` as each task finishes.
    client : distributed.Client, optional
        A client the caller holds (its cluster kept warm between batches); then
        ``scheduler`` and ``workers`` are not used.
    timezone : str
        The deployment's zone (the hours of week of a deployment scenario).
    task_threads : int
        Threads each task may use in every library (default 1: a worker process is one
        core); 0 leaves the libraries' defaults.

    Raises
    ------
    InvalidInput
        Dask is not installed, the scheduler cannot be reached, or ``workers`` is out of
        range.
    """
    if not batch:
        return []
    if client is not None:
        return _submit(
            client, batch, database_url, data_dir, actor, progress, timezone, task_threads
        )
    with _client(scheduler, workers, task_threads) as own:
        return _submit(own, batch, database_url, data_dir, actor, progress, timezone, task_threads)


def warm_up(
    data_dir: str | None = None, counties: Sequence[str] = (), task_threads: int = 1
) -> str:
    """Import what a task needs and, with ``data_dir``, load the ``counties``' networks (their
    graphs, engines and hierarchies, kept by the process), threads pinned as a task pins
    them (run on every worker with ``client.run`` before timing a batch)."""
    from fangkong.network import engine, service  # noqa: F401
    from fangkong.planning import placement  # noqa: F401

    if task_threads > 0:
        thread_limits.pin(task_threads)
    for code in counties if data_dir else ():
        network = service.for_county(Path(data_dir or "."), code)
        if network is None:
            continue
        # the kernels a task calls, loaded from numba's cache (or compiled) once per process
        graph = network.graph
        points = service.snap(network, graph.lon[:2], graph.lat[:2]).points
        network.engine.many_to_many(points, points, cutoff_s=60.0)
        network.engine.multi_source_nearest(points, cutoff_s=60.0)
    return f"{socket.gethostname()}:{os.getpid()}"


def _submit(
    client: Any,
    batch: Sequence[BatchTask],
    database_url: str,
    data_dir: Path,
    actor: str,
    progress: Callable[[int, int, Outcome], None] | None,
    timezone: str,
    task_threads: int = 1,
) -> list[Outcome]:
    from dask.distributed import as_completed

    futures = [
        client.submit(
            run_task,
            task,
            database_url=database_url,
            data_dir=str(data_dir),
            filed_by=actor,
            timezone=timezone,
            task_threads=task_threads,
            key=task.key,
            pure=False,
        )
        for task in batch
    ]
    done: dict[str, Outcome] = {}
    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        result: Outcome = future.result()
        done[future.key] = result
        if progress is not None:
            progress(len(done), len(futures), result)
    return [done[task.key] for task in batch]
