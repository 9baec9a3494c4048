"""Run tasks in a pool of worker processes on this machine.

Tasks always run in worker processes, also with ``jobs=1``: a task that crashes its process (a
segfault in a C extension, memory exhaustion, ``os._exit``) then costs one task, never the
coordinator, which reports the loss and retries the task on a fresh worker. Workers are forked
from a ``forkserver`` (``spawn`` where the platform has none): a clean server process, never the
coordinator, so no lock or thread of the coordinator is inherited. The server imports the
session code once (:data:`~w2t_bkin.runtime.executors.common.WORKER_PRELOAD`) and every worker
starts with it, instead of each importing it again; :func:`start_worker_server` starts it
early, so those imports run while the batch is planned, and for a batch of sessions with one
thread in each native library
(:func:`~w2t_bkin.runtime.executors.common.one_native_thread_environ`).
Workers ignore SIGINT, so Ctrl-C in a terminal (which signals the whole process group) reaches
only the coordinator, which then terminates them itself, by PID.

Events travel through a queue served by a ``multiprocessing`` manager process: a worker killed
in the middle of sending one cannot leave a lock held that would block the others.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.managers import SyncManager
from multiprocessing.process import BaseProcess
from typing import Any

from w2t_bkin.runtime.beside import available_cpus, mark_cpus_shared
from w2t_bkin.runtime.executors.common import (
    POLL_S,
    WORKER_PRELOAD,
    AttemptResult,
    Ledger,
    describe,
    one_native_thread_environ,
    run_attempt,
)
from w2t_bkin.runtime.tasks import TaskEvent, TaskOutcome, TaskSpec

_TERMINATE_GRACE_S = 5.0
"""How long a terminated worker may take to exit before it is killed."""


def fork_server_context(preload: Sequence[str]) -> Any:
    """``forkserver`` preloading ``preload`` (modules every process forked from it starts
    with), or ``spawn`` where the platform has no fork server. One server serves the whole
    interpreter: the list only applies while it is not yet running."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def worker_context() -> Any:
    """The start method of the workers: :func:`fork_server_context` of :data:`WORKER_PRELOAD`."""
    return fork_server_context(WORKER_PRELOAD)


_server_started = False
"""Whether :func:`start_fork_server` started the server (it sets ``environ`` only then)."""


def start_fork_server(preload: Sequence[str], environ: Mapping[str, str] | None = None) -> bool:
    """Start this interpreter's fork server now, preloading ``preload`` (returns at once; the
    imports run in the server's own process). Nothing where it runs already.

    ``environ``: variables the server, and so every process forked from it, starts with
    (read once at start-up, like ``OMP_NUM_THREADS`` or ``PYTHONHASHSEED``); this process's
    environment is left as it was.

    Returns whether a fork server serves this interpreter (``False`` where the platform has
    none: its workers are spawned).
    """
    global _server_started
    if fork_server_context(preload).get_start_method() != "forkserver":
        return False
    if _server_started:
        return True
    from multiprocessing import forkserver

    saved = {name: os.environ.get(name) for name in environ or {}}
    os.environ.update(environ or {})
    try:
        forkserver.ensure_running()  # the server inherits os.environ as it is now
        _server_started = True
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return True


def start_worker_server() -> None:
    """Start the fork server of the local pool's workers now (:func:`start_fork_server` of
    :data:`WORKER_PRELOAD`), its native libraries on one thread each
    (:func:`~w2t_bkin.runtime.executors.common.one_native_thread_environ`).

    A batch of sessions starts it before its pool (:func:`w2t_bkin.batch.run_batch`); a pool
    whose workers run jobs that thread on their own (a spike sorter's ``n_jobs``, a pose model
    in its own environment) starts the server as it starts, with this process's environment.
    """
    start_fork_server(WORKER_PRELOAD, one_native_thread_environ())


# --------------------------------------------------------------------------------------------
# worker side

_worker_events: Any = None  # the manager's queue proxy, bound by _init_worker


def _init_worker(events: Any, jobs: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    global _worker_events
    _worker_events = events
    if available_cpus() < 2 * jobs:
        mark_cpus_shared()  # the other workers keep every CPU busy: no child process beside


def _run_in_worker(spec: TaskSpec, attempt: int) -> AttemptResult:
    pid = os.getpid()
    events = _worker_events

    def send(event: TaskEvent) -> None:
        events.put((pid, event))

    return run_attempt(spec, attempt, send, f"pid {pid}")


# --------------------------------------------------------------------------------------------
# coordinator side


class LocalExecutor:
    """A pool of exactly ``jobs`` worker processes on this machine.

    Parameters
    ----------
    jobs
        Number of worker processes, at least 1 (see :func:`~w2t_bkin.runtime.executors.
        make_executor`, which checks it).

    Notes
    -----
    The pool and the event queue start with the first :meth:`run` and serve later runs; a pool
    broken by a lost worker is replaced. Use the executor as a context manager, or call
    :meth:`close`, to stop the worker processes.
    """

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._context = worker_context()
        self._manager: SyncManager | None = None
        self._events: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self._processes: dict[int, BaseProcess] = {}  # every worker that started a task
        self._started_pid: dict[str, int] = {}  # task key -> PID running its current attempt

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def worker_pids(self) -> list[int]:
        """PIDs of the pool's worker processes now (empty before the first run)."""
        return sorted(self._pool_processes(self._pool))

    def run(
        self,
        tasks: Sequence[TaskSpec],
        *,
        on_event: Callable[[TaskEvent], None],
        on_outcome: Callable[[TaskOutcome], None],
        retries: int = 0,
    ) -> None:
        """Run every task in the pool; see :class:`~w2t_bkin.runtime.tasks.Executor`.

        ``on_event`` and ``on_outcome`` are called in this thread. A task's events all arrive
        before its outcome.
        """
        ledger = Ledger(tasks, retries, on_outcome)
        running: dict[Future[AttemptResult], str] = {}
        try:
            self._submit(ledger.specs, ledger, running)
            while running:
                done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
                if not done:
                    self._break_if_a_worker_died()
                self._deliver(ledger, on_event)
                again, lost = self._settle(done, running, ledger)
                if lost:
                    again += self._recover(lost, running, ledger, on_event)
                self._submit(again, ledger, running)
        except KeyboardInterrupt:
            # The events sent before Ctrl-C say which tasks had started (attempted, cancelled
            # while running) and which never did; the manager and workers ignore SIGINT.
            with contextlib.suppress(Exception):
                self._deliver(ledger, on_event)
            self._terminate()
            ledger.cancel_rest()
            raise
        except BaseException:
            self._terminate()  # e.g. a callback raised: leave no worker running
            raise

    def close(self) -> None:
        """Stop the worker processes (after their current tasks) and the event queue."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._stop_manager()

    # ----------------------------------------------------------------------------------------

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._manager is None:
            self._manager = self._context.Manager()
            self._events = self._manager.Queue()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=self._context,
                initializer=_init_worker,
                initargs=(self._events, self.jobs),
            )
        return self._pool

    def _submit(
        self, keys: Iterable[str], ledger: Ledger, running: dict[Future[AttemptResult], str]
    ) -> None:
        pool = self._ensure_pool()
        for key in keys:
            attempt = ledger.attempt(key)
            self._started_pid.pop(key, None)
            try:
                future = pool.submit(_run_in_worker, ledger.specs[key], attempt)
            except BrokenProcessPool as exc:  # a worker died since the last check
                future = Future()
                future.set_exception(exc)
            running[future] = key

    def _deliver(self, ledger: Ledger, on_event: Callable[[TaskEvent], None]) -> None:
        """Hand every event waiting in the queue to ``on_event``, in arrival order."""
        while True:
            try:
                pid, event = self._events.get_nowait()
            except queue.Empty:
                return
            if event.kind == "started":
                self._started_pid[event.key] = pid
                process = self._pool_processes(self._pool).get(pid)
                if process is not None:
                    self._processes[pid] = process
            ledger.note_event(event)
            on_event(event)

    def _settle(
        self,
        done: Iterable[Future[AttemptResult]],
        running: dict[Future[AttemptResult], str],
        ledger: Ledger,
    ) -> tuple[list[str], list[str]]:
        """Record finished futures; returns (keys to submit again, keys whose worker was lost)."""
        again: list[str] = []
        lost: list[str] = []
        for future in done:
            key = running.pop(future)
            try:
                result = future.result()
            except BrokenProcessPool:
                lost.append(key)
                continue
            except Exception as exc:  # raised outside the task, e.g. its value cannot pickle
                ledger.failed(key, describe(exc))
                continue
            if ledger.finished(key, result):
                again.append(key)
        return again, lost

    def _break_if_a_worker_died(self) -> None:
        """Make sure the pool notices a dead worker.

        The pool's manager thread watches the workers it knew when it last woke up; a worker
        spawned after that (the pool starts them as tasks arrive) can die unseen, and then no
        future ever completes. Workers exit only when the pool shuts down, so a dead one in a
        running pool has crashed: terminating the others, which the thread does watch, makes it
        break the pool as it would have. Their exit code (SIGTERM) marks them as bystanders.
        """
        workers = self._pool_processes(self._pool).values()
        if any(process.exitcode is not None for process in workers):
            for process in workers:
                if process.exitcode is None:
                    process.terminate()

    def _recover(
        self,
        lost: list[str],
        running: dict[Future[AttemptResult], str],
        ledger: Ledger,
        on_event: Callable[[TaskEvent], None],
    ) -> list[str]:
        """Replace a broken pool; returns the keys to submit to the new one.

        The broken pool's manager thread terminates its remaining workers (SIGTERM) and fails
        every unfinished future; once it has joined them, the exit codes tell the process that
        crashed from the bystanders it took down with it.
        """
        pool, self._pool = self._pool, None
        processes = {**self._processes, **self._pool_processes(pool)}
        if pool is not None:
            pool.shutdown(wait=True)
        self._deliver(ledger, on_event)
        again, more_lost = self._settle([f for f in running if f.done()], running, ledger)
        more_lost += running.values()  # none expected: the broken pool failed every future
        running.clear()
        exit_codes = {pid: process.exitcode for pid, process in processes.items()}
        crashed = {
            pid for pid, code in exit_codes.items() if code not in (None, 0, -signal.SIGTERM)
        }
        for key in lost + more_lost:
            pid = self._started_pid.get(key)
            if pid is None:
                reason, charge = "the process pool broke before the task started", False
            else:
                reason = _exit_reason(pid, exit_codes.get(pid))
                charge = not crashed or pid in crashed
            if ledger.lost(key, reason, charge=charge):
                again.append(key)
        self._processes.clear()
        return again

    def _terminate(self) -> None:
        """Stop now: cancel queued tasks, terminate the workers by PID, drop the queue."""
        pool, self._pool = self._pool, None
        if pool is not None:
            workers = list(self._pool_processes(pool).values())
            for process in workers:
                process.terminate()
            for process in workers:
                process.join(_TERMINATE_GRACE_S)
                if process.is_alive():
                    process.kill()
                    process.join()
            pool.shutdown(wait=True, cancel_futures=True)
        self._processes.clear()
        self._stop_manager()

    def _stop_manager(self) -> None:
        manager, self._manager, self._events = self._manager, None, None
        if manager is not None:
            manager.shutdown()

    @staticmethod
    def _pool_processes(pool: ProcessPoolExecutor | None) -> dict[int, BaseProcess]:
        # ProcessPoolExecutor keeps its workers in the private ``_processes`` (PID -> Process)
        # since Python 3.2; nothing public names them, and terminating by PID is the point.
        if pool is None:
            return {}
        return dict(getattr(pool, "_processes", None) or {})


def _exit_reason(pid: int, code: int | None) -> str:
    if code is None:
        return f"process {pid} ended abruptly and its pool broke"
    if code < 0:
        return f"process {pid} was killed by {signal.Signals(-code).name}"
    return f"process {pid} exited with code {code}"
