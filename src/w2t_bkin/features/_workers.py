"""The worker processes of ``parallel_mode="process"``, kept alive between feature runs.

Starting workers is the fixed cost of a process-mode run: the fork server imports pandas,
pyarrow and the feature's module (about a CPU-second), then each worker is forked and set up.
A pipeline runs several features, and a user re-runs one in a notebook: one pool per
interpreter, reused by every run that asks for the same number of processes, pays that once.

- Workers know no feature when they start; a task carries its feature's identity
  (:class:`FeatureSpec`) and a worker rebuilds the feature and loads its saved state on the
  first task of each run, then keeps that one instance (never another run's stale state: the
  spec holds a token unique to each run).
- A pool idle for :data:`IDLE_SHUTDOWN_S` is shut down (a long-lived process, e.g. the
  dashboard or a notebook, does not keep idle workers holding memory); so is one whose worker
  died, and the next run starts a fresh one. :func:`shutdown_workers` stops it at once.
- Processes come from the ``forkserver`` start method (``spawn`` where there is none): never
  a fork of a coordinator that holds threads or SQLite connections.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from w2t_bkin.runtime.executors.common import NATIVE_THREAD_VARIABLES

IDLE_SHUTDOWN_S = 120.0
"""Seconds a pool waits unused after its last run before its processes exit."""


@dataclass(frozen=True)
class FeatureSpec:
    """What a worker needs to rebuild a run's feature: class, params, inputs, run folder, and
    ``run_token`` (unique per ``run_feature`` call, so a refit state is always reloaded)."""

    cls_path: str
    params_json: str
    inputs_json: str
    run_dir: str
    run_token: str


@dataclass
class WorkerPool:
    """A process pool and the future of its start (the pid of the first worker up)."""

    executor: ProcessPoolExecutor
    n_processes: int
    ready: Future[int]
    in_use: int = 0
    broken: bool = False
    idle_timer: threading.Timer | None = None


_LOCK = threading.Lock()
_POOL: WorkerPool | None = None


@contextlib.contextmanager
def worker_pool(n_processes: int, feature_module: str) -> Iterator[WorkerPool]:
    """The shared pool of exactly ``n_processes`` workers, for the duration of a run.

    Reuses the running pool when it has that many processes, else replaces it. On exit the
    pool stays up for the next run (its idle timer starts), unless it was marked broken.
    """
    pool = acquire(n_processes, feature_module)
    try:
        yield pool
    finally:
        release(pool)


def acquire(n_processes: int, feature_module: str) -> WorkerPool:
    """Take the shared pool for a run (starting it when needed); :func:`release` it after."""
    global _POOL
    with _LOCK:
        pool = _POOL
        if pool is not None and (pool.broken or pool.n_processes != n_processes):
            if pool.in_use == 0:
                _stop(pool)
            _POOL = pool = None
        if pool is None:
            pool = _POOL = _start(n_processes, feature_module)
        if pool.idle_timer is not None:
            pool.idle_timer.cancel()
            pool.idle_timer = None
        pool.in_use += 1
        return pool


def release(pool: WorkerPool) -> None:
    """End a run's use of ``pool``: stop it when broken or replaced, else arm its idle timer."""
    global _POOL
    with _LOCK:
        pool.in_use -= 1
        if pool.in_use:
            return
        if pool.broken or pool is not _POOL:
            _stop(pool)
            if pool is _POOL:
                _POOL = None
            return
        timer = threading.Timer(IDLE_SHUTDOWN_S, _stop_if_idle, args=(pool,))
        timer.daemon = True
        pool.idle_timer = timer
        timer.start()


def warm(n_processes: int, feature_module: str) -> None:
    """Start the shared pool now (its processes come up while the caller does other work)."""
    release(acquire(n_processes, feature_module))


def mark_broken(pool: WorkerPool) -> None:
    """A worker of ``pool`` died: it is stopped when the run releases it."""
    with _LOCK:
        pool.broken = True


def shutdown_workers() -> None:
    """Stop the shared pool's processes now (a run in progress keeps its pool until it ends)."""
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
        if pool is not None and pool.in_use == 0:
            _stop(pool)


def current_pids() -> list[int]:
    """Process ids of the shared pool's workers (empty when none runs); for tests and tools."""
    with _LOCK:
        if _POOL is None:
            return []
        processes = getattr(_POOL.executor, "_processes", None) or {}
        return sorted(processes)


def _stop_if_idle(pool: WorkerPool) -> None:
    global _POOL
    with _LOCK:
        if pool.in_use or pool.idle_timer is None:
            return  # taken again since the timer fired
        if pool is _POOL:
            _POOL = None
        _stop(pool)


def _stop(pool: WorkerPool) -> None:
    if pool.idle_timer is not None:
        pool.idle_timer.cancel()
        pool.idle_timer = None
    pool.executor.shutdown(wait=False, cancel_futures=True)


def _start(n_processes: int, feature_module: str) -> WorkerPool:
    executor = ProcessPoolExecutor(
        max_workers=n_processes,
        mp_context=process_context(feature_module),
        initializer=init_worker,
    )
    ready: Future[int] = Future()
    # Starting a worker blocks until the fork server has imported its modules; a helper thread
    # waits for that, so the caller (dispatcher, local worker, a fit) never does.
    threading.Thread(
        target=_start_processes,
        args=(executor, n_processes, ready),
        name="w2t-feature-workers-start",
        daemon=True,
    ).start()
    return WorkerPool(executor, n_processes, ready)


def _start_processes(executor: ProcessPoolExecutor, n_processes: int, ready: Future[int]) -> None:
    """Start every process (one ping each); ``ready`` gets the first one's pid or the error."""
    try:
        pings = [executor.submit(os.getpid) for _ in range(n_processes)]
        done, _ = wait(pings, return_when="FIRST_COMPLETED")
        ready.set_result(int(next(iter(done)).result()))
    except BaseException as exc:  # a worker could not start: the run that waits on it says so
        ready.set_exception(exc)


def init_worker() -> None:
    """Worker initializer: one BLAS/OpenMP thread (N workers on N cores must not oversubscribe
    them). The variables reach libraries loaded from here on; threadpoolctl resizes those
    already loaded."""
    for name in NATIVE_THREAD_VARIABLES:
        os.environ[name] = "1"
    limit_native_threads()


def process_context(feature_module: str) -> Any:
    """The fork server of this interpreter (:func:`~w2t_bkin.runtime.executors.local.
    fork_server_context`), preloading what a feature worker needs before its first entry:
    pandas, pyarrow and the feature's module, imported once instead of by every worker."""
    from w2t_bkin.runtime.executors.local import fork_server_context

    return fork_server_context(
        [
            "w2t_bkin.features._worker_boot",
            "w2t_bkin.features.run",
            "pandas",
            "pyarrow.parquet",
            "threadpoolctl",
            feature_module,
        ]
    )


def limit_native_threads() -> Any:
    """Resize the loaded BLAS/OpenMP thread pools to 1 (threadpoolctl, when installed).

    Returns the limiter (``restore_original_limits()`` undoes it), or ``None`` without
    threadpoolctl; it ships with scikit-learn, part of the ``features`` extra.
    """
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return None
    with warnings.catch_warnings():
        # it warns when two OpenMP runtimes are loaded; that is not this run's concern
        warnings.simplefilter("ignore")
        return threadpoolctl.threadpool_limits(limits=1)
