"""Run tasks on a Dask cluster: a ``LocalCluster`` started here, or a scheduler already running.

``distributed`` is imported only when a :class:`DaskExecutor` is made (the ``dask`` extra).
Events from tasks travel through a ``distributed.Queue`` named for the run (the scheduler
relays them; they are small tuples of strings and numbers) and are delivered in the calling
thread by :meth:`DaskExecutor.run`, which polls the queue and the finished futures.

The nannies of a ``LocalCluster`` started here fork their worker processes from this
interpreter's fork server (``distributed.worker.multiprocessing-method = "forkserver"``), which
imports ``distributed`` and the session code once, instead of spawning a fresh interpreter per
worker that imports them again (:func:`start_worker_server`).

Lost workers: the scheduler of a cluster this executor starts gives up on a task the first
time a worker dies under it (``distributed.scheduler.allowed-failures = 0``), so the task's
``retries`` alone decide how often it runs again. A scheduler started elsewhere keeps its own
setting (3 by default) and silently starts the task again on another worker; so that
``retries`` decide there too, each attempt sets a ``distributed.Event`` when it starts, and an
attempt that finds it set (its first run died with its worker) does not run again: it reports
the lost worker, and the ledger counts the attempt and retries it or reports it failed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from w2t_bkin.errors import ConfigError
from w2t_bkin.extras import require
from w2t_bkin.runtime.executors.common import (
    DASK_WORKER_PRELOAD,
    NANNY_PRELOAD,
    POLL_S,
    WORKER_PRELOAD,
    AttemptResult,
    Ledger,
    describe,
    run_attempt,
)
from w2t_bkin.runtime.executors.dask_nanny import DROPPED
from w2t_bkin.runtime.executors.local import start_fork_server
from w2t_bkin.runtime.tasks import TaskEvent, TaskOutcome, TaskSpec

PURPOSE = "running tasks on a Dask cluster (--executor dask)"

QUIET_CLUSTER = {
    # the statistical profiler feeds the dashboard, which a cluster started here does not
    # serve: it samples every thread's stack each 10 ms, taking the GIL from the session
    "distributed.worker.profile.enabled": False,
    # the event-loop blockage check runs 50 times a second in every process by default
    "distributed.admin.tick.interval": "1s",
    # host CPU/memory/network samples, for the dashboard too
    "distributed.admin.system-monitor.interval": "2s",
}
"""Configuration of a ``LocalCluster`` started here: diagnostics a batch does not read, made
rare. On a 2-CPU machine whose workers keep both CPUs busy they cost every session time (8
sessions, 2 workers: 14.5 -> 12.9 s, median of 3 alternating rounds). A scheduler started
elsewhere keeps its own configuration."""


def import_distributed(purpose: str = PURPOSE) -> ModuleType:
    """Import ``distributed``, or raise :class:`MissingExtraError` naming the ``dask`` extra."""
    return require("distributed", "dask", purpose)


# --------------------------------------------------------------------------------------------
# worker side


def _run_on_dask_worker(spec: TaskSpec, attempt: int, queue_name: str) -> AttemptResult:
    from distributed import Event, Queue, get_worker

    here = get_worker()
    worker = here.address
    # The scheduler runs a task again when its worker died under it (allowed-failures): that
    # second run is a retry the ledger must count and may refuse, so it only reports the loss.
    started = Event(_started_name(here.get_current_task()))
    if started.is_set():
        return AttemptResult(None, _RERUN, True, worker)
    started.set()
    events = Queue(queue_name)

    def send(event: TaskEvent) -> None:
        # a distributed.Queue carries msgpack-able values only: send the fields, not the object
        events.put([event.key, event.kind, event.detail, event.time_s, event.worker])

    return run_attempt(spec, attempt, send, worker)


_RERUN = "rerun by the scheduler after its worker died"
"""The error of an attempt the scheduler started a second time (it does not run again)."""


def _started_name(dask_key: object) -> str:
    """The ``distributed.Event`` an attempt sets when it starts (see the module notes)."""
    return f"{dask_key}-started"


# --------------------------------------------------------------------------------------------
# coordinator side


class DaskExecutor:
    """Tasks as Dask futures, one worker thread per task.

    Parameters
    ----------
    jobs
        Worker processes of the ``LocalCluster`` started when ``scheduler`` is ``None``. With a
        scheduler, its workers decide how many tasks run at once and ``jobs`` is not used.
    scheduler
        ``"tcp://HOST:PORT"`` of a running scheduler, or the path of the JSON file that
        ``dask scheduler --scheduler-file`` wrote; ``None`` starts a ``LocalCluster`` on
        127.0.0.1 with no dashboard.

    Raises
    ------
    MissingExtraError
        ``distributed`` is not installed (``pip install 'w2t-bkin[dask]'``).
    ConfigError
        ``scheduler`` is neither an address nor an existing scheduler file, or no scheduler
        answers there.
    """

    def __init__(self, jobs: int, scheduler: str | None = None) -> None:
        distributed = import_distributed()
        self.jobs = jobs
        self.scheduler = scheduler
        self._cluster: Any = None
        self._start_method: Any = None
        if scheduler is None:
            import dask

            self._start_method = _fork_workers(dask)
            try:
                with dask.config.set(
                    {"distributed.scheduler.allowed-failures": 0, **QUIET_CLUSTER}
                ):
                    self._cluster = distributed.LocalCluster(
                        n_workers=jobs,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        # dashboard_address=None alone still serves HTTP on :8787 (a warning, an
                        # error under -W error, when another cluster holds the port)
                        scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
                        host="127.0.0.1",
                        # each worker imports the session code as it starts, not in its first task
                        preload=list(WORKER_PRELOAD),
                        # ... and keeps glibc's adaptive malloc thresholds
                        preload_nanny=[NANNY_PRELOAD],
                    )
            except BaseException:
                self._start_method.__exit__(None, None, None)
                raise
            self._client: Any = distributed.Client(self._cluster)
        else:
            self._client = _connect(distributed, scheduler)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` the tasks are submitted through."""
        return self._client

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        """Run every task on the cluster; see :class:`~w2t_bkin.runtime.tasks.Executor`.

        ``on_event`` and ``on_outcome`` are called in this thread. A task's events all arrive
        before its outcome (a worker's ``Queue.put`` returns once the scheduler holds the event,
        which is before the task's result exists).
        """
        distributed = import_distributed()
        ledger = Ledger(tasks, retries, on_outcome)
        events = distributed.Queue(f"w2t-events-{uuid.uuid4().hex}", client=self._client)
        completed = distributed.as_completed()
        running: dict[Any, str] = {}
        try:
            self._submit(ledger.specs, ledger, running, completed, events.name)
            while running:
                # results first: fetching one may recompute it (its holder died), and that
                # attempt's events must still arrive before the outcome
                settled = [(future, _result(future)) for future in completed.next_batch(False)]
                self._deliver(events, ledger, on_event)
                if not settled:
                    time.sleep(POLL_S)
                    continue
                again = self._settle(distributed, settled, running, ledger)
                self._submit(again, ledger, running, completed, events.name)
        except KeyboardInterrupt:
            self._cancel(distributed, running)
            ledger.cancel_rest()
            raise
        except BaseException:
            self._cancel(distributed, running)  # e.g. a callback raised: stop the rest
            raise

    def close(self) -> None:
        """Close the client, and the ``LocalCluster`` if this executor started it."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()
        start_method, self._start_method = self._start_method, None
        if start_method is not None:
            start_method.__exit__(None, None, None)

    # ----------------------------------------------------------------------------------------

    def _submit(
        self,
        keys: Iterable[str],
        ledger: Ledger,
        running: dict[Any, str],
        completed: Any,
        queue_name: str,
    ) -> None:
        for key in keys:
            attempt = ledger.attempt(key)
            future = self._client.submit(
                _run_on_dask_worker,
                ledger.specs[key],
                attempt,
                queue_name,
                key=f"w2t-{key}-{attempt}-{uuid.uuid4().hex[:12]}",
                pure=False,
            )
            running[future] = key
            completed.add(future)

    def _cancel(self, distributed: ModuleType, running: dict[Any, str]) -> None:
        self._client.cancel(list(running))
        for future in running:
            distributed.Event(_started_name(future.key), client=self._client).clear()

    @staticmethod
    def _deliver(events: Any, ledger: Ledger, on_event: Callable[[TaskEvent], None]) -> None:
        for key, kind, detail, time_s, worker in events.get(batch=True):
            event = TaskEvent(key, kind, detail, time_s, worker)
            ledger.note_event(event)
            on_event(event)

    @staticmethod
    def _settle(
        distributed: ModuleType,
        settled: Iterable[tuple[Any, AttemptResult | BaseException]],
        running: dict[Any, str],
        ledger: Ledger,
    ) -> list[str]:
        """Record finished futures; returns the keys to submit again."""
        again: list[str] = []
        for future, result in settled:
            key = running.pop(future)
            distributed.Event(_started_name(future.key), client=future.client).clear()
            if isinstance(result, AttemptResult) and result.error == _RERUN:
                died = f"Dask worker {ledger.started.get(key) or '(unknown)'} died while running it"
                retry = ledger.lost(key, died, charge=True)
            elif isinstance(result, AttemptResult):
                retry = ledger.finished(key, result)
            elif (reason := _lost_reason(distributed, result)) is not None:
                retry = ledger.lost(key, reason, charge=key in ledger.started)
            else:  # raised outside the task, e.g. the task could not be unpickled there
                ledger.failed(key, describe(result))
                retry = False
            if retry:
                again.append(key)
        return again


def _result(future: Any) -> AttemptResult | BaseException:
    """The attempt's result, or what the future raised instead (lost worker, cancelled)."""
    try:
        return future.result()  # type: ignore[no-any-return]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a cancelled future raises asyncio.CancelledError
        return exc


def _lost_reason(distributed: ModuleType, exc: BaseException) -> str | None:
    """Why the task's worker was lost, or ``None`` when it failed for another reason."""
    from distributed.comm.core import CommClosedError

    if isinstance(exc, (asyncio.CancelledError, concurrent.futures.CancelledError)):
        return "the task was cancelled on the cluster"
    if isinstance(exc, (distributed.KilledWorker, CommClosedError)):
        return describe(exc)
    return None


def _fork_workers(dask: ModuleType) -> Any:
    """Have the nannies of a ``LocalCluster`` fork their worker processes from this
    interpreter's fork server, which imports ``distributed`` and the session code once
    (:data:`~w2t_bkin.runtime.executors.common.DASK_WORKER_PRELOAD`), instead of spawning each
    from a fresh interpreter that imports them again: the workers start sooner and share those
    pages. The server starts now, with the environment the nanny gives a worker it spawns.

    Returns the ``dask.config.set`` to undo when the cluster is closed: until then a worker the
    nanny starts again (after its process died) comes from the same server.
    """
    if not start_worker_server():
        return dask.config.set({})  # spawn (the nanny's default) where there is no fork server
    return dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})


def start_worker_server() -> bool:
    """Start the fork server that the workers of a ``LocalCluster`` made by
    :class:`DaskExecutor` come from (returns at once; its imports run in its own process).
    The batch calls it before it starts the cluster in a thread, while it reads the inputs.
    Returns whether there is one (``False`` where the platform has no fork server)."""
    import dask

    return start_fork_server(DASK_WORKER_PRELOAD, _worker_environ(dask))


NANNY_ENVIRON = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""``distributed.nanny.pre-spawn-environ`` by default, less ``MALLOC_TRIM_THRESHOLD_`` (see
:mod:`~w2t_bkin.runtime.executors.dask_nanny`): one BLAS/OpenMP thread per worker. Until
``distributed`` is imported, Dask's configuration holds only what the user configured."""


def _worker_environ(dask: ModuleType) -> dict[str, str]:
    """The variables a nanny sets before it spawns a worker: :data:`NANNY_ENVIRON`, what the
    user configured under ``distributed.nanny.pre-spawn-environ``, and a fixed hash seed; less
    what :mod:`~w2t_bkin.runtime.executors.dask_nanny` drops. A variable already set here wins,
    as it does for the nanny."""
    configured = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    wanted = {**NANNY_ENVIRON, **{name: v for name, v in configured.items() if v is not None}}
    environ = {name: os.environ.get(name, str(v)) for name, v in wanted.items()}
    if environ.get("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED")) in (None, "0"):
        environ["PYTHONHASHSEED"] = "6640"  # the nanny's choice: every worker hashes alike
    for name in DROPPED:
        environ.pop(name, None)
    return environ


def _connect(distributed: ModuleType, scheduler: str) -> Any:
    """A client of the scheduler at ``scheduler`` (an address or a scheduler file)."""
    if "://" in scheduler:
        where: dict[str, str] = {"address": scheduler}
    elif Path(scheduler).is_file():
        where = {"scheduler_file": scheduler}
    else:
        raise ConfigError(
            f"Dask scheduler {scheduler!r} is neither an address nor an existing scheduler file",
            hint="pass tcp://HOST:PORT as printed by 'dask scheduler', or the path given to "
            "'dask scheduler --scheduler-file'",
        )
    try:
        return distributed.Client(**where)
    except OSError as exc:  # includes TimeoutError: nothing answered there
        raise ConfigError(
            f"cannot connect to the Dask scheduler at {scheduler}: {exc}",
            hint="check that 'dask scheduler' is running there and reachable from this machine",
        ) from exc
